"""Reader for PDH-CSV: Windows Performance Monitor logs and VMware esxtop batch output.

Format (what ``typeperf -f CSV``, ``relog -f CSV``, Performance Monitor's CSV
export and ``esxtop -b`` write)::

    "(PDH-CSV 4.0) (Sri Lanka Standard Time)(-330)","\\\\HOST\\Processor(_Total)\\% Processor Time",...
    "04/28/2023 05:55:48.490"," ",...
    "04/28/2023 05:56:03.500","13.959073156484624434",...

* The first header cell names the dialect, the writer's time zone and its *bias*
  in minutes (Windows' convention: UTC = local time + bias; Sri Lanka, UTC+5:30,
  is -330). Timestamps are local ``MM/DD/YYYY HH:MM:SS.fff`` and become UTC with
  that bias, recorded in the metadata.
* Every other header cell is a counter path ``\\\\computer\\object(instance)\\counter``
  (the instance is optional; esxtop's look like ``\\\\esx1\\Group Cpu(1234:vm1)\\% Ready``).
  The computer becomes ``host``; the instance the ``component`` (``_Total`` ->
  ``total``, a processor number ``N`` -> ``cpuN``).
* A blank cell (``" "``: the first sample of a rate counter, or a counter that
  could not be read) is a missing value, NaN, never a zero.
* A rate or percentage counter is the mean over the interval that ends at its
  timestamp (``aggregate = mean``, ``interval`` = the time since the previous
  row); a level (available memory) is read at the timestamp (``last``).

Counters the vocabulary knows (``COUNTERS``; the match is on object and counter,
case-insensitive) get its metrics and canonical units; every other counter is kept
as ``pdh-csv:<object>\\<counter>`` with its unit (``percent`` for ``%`` counters,
``1/s`` for ``/sec`` counters, else ``1``) and a warning naming them. esxtop's
per-VM ``Group Cpu(<id>:<name>)`` counters describe a guest: ``guest`` = the
name, ``scope = guest``, component ``total``.
"""
from __future__ import annotations

import csv
import io
import re
import warnings
from datetime import timedelta

import polars as pl

from .. import schema
from ..errors import NativeMetricWarning, ParseError
from . import Parsed

NAME = "pdh-csv"
_HEAD = re.compile(r'^\ufeff?"\(PDH-CSV ([0-9]+\.[0-9]+)\) \(([^)]*)\)\((-?[0-9]{1,6})\)"')
_PATH = re.compile(r"^\\\\([^\\]+)\\([^\\(]+?)(?:\((.*)\))?\\(.+)$")
_TIME = "%m/%d/%Y %H:%M:%S%.f"
_MIB = schema.MIB

#: (object, counter) lower-cased -> (metric, factor to the canonical unit). Objects from
#: Windows' Performance Monitor and esxtop's batch mode (VMware's "Interpreting esxtop
#: statistics": Physical Cpu, Group Cpu, Memory).
COUNTERS: dict[tuple[str, str], tuple[str, float]] = {
    ("processor", "% processor time"): ("cpu_util", 1.0),
    ("processor information", "% processor time"): ("cpu_util", 1.0),
    ("physical cpu", "% util time"): ("cpu_util", 1.0),
    ("memory", "available bytes"): ("mem_free", 1.0),
    ("memory", "available kbytes"): ("mem_free", 1024.0),
    ("memory", "available mbytes"): ("mem_free", float(_MIB)),
    ("memory", "free mbytes"): ("mem_free", float(_MIB)),
    ("physicaldisk", "disk read bytes/sec"): ("disk_read", 1.0),
    ("physicaldisk", "disk write bytes/sec"): ("disk_write", 1.0),
    ("logicaldisk", "disk read bytes/sec"): ("disk_read", 1.0),
    ("logicaldisk", "disk write bytes/sec"): ("disk_write", 1.0),
    ("network interface", "bytes received/sec"): ("net_rx", 1.0),
    ("network interface", "bytes sent/sec"): ("net_tx", 1.0),
    ("group cpu", "% ready"): ("cpu_ready", 1.0),
    ("group cpu", "% used"): ("proc_cpu_util", 1.0),
}
# esxtop's %USED of a VM can exceed 100 (several vCPUs): it is kept native, see below.
_GUEST_OBJECTS = ("group cpu",)


def parse(data: bytes, *, source: str) -> Parsed:
    """The counters of a PDH-CSV file as measurement rows (labels but host left to the caller)."""
    # Column-wise throughout (no Python per row): polars reads the file, each counter's
    # column is checked and scaled once, and the long table is the counters' columns
    # stacked, each with its labels as constants.
    utf8, text = _utf8(data, source)
    first = text.split("\n", 1)[0] if text is not None else _first_line(utf8)
    head = _HEAD.match(first)
    if head is None:
        raise ParseError(source, 1, '"(PDH-CSV 4.0) (<time zone>)(<bias minutes>)" as the first header cell',
                         first[:60])
    version, zone, bias = head.group(1), head.group(2), int(head.group(3))
    try:
        header = next(csv.reader(io.StringIO(first, newline="")))
    except csv.Error as exc:  # a lone CR inside the header line
        raise ParseError(source, 1, "one header line of quoted fields", str(exc)) from None
    try:  # the counters typed: polars parses the numbers while reading (a blank " " is missing)
        raw = pl.read_csv(io.BytesIO(utf8), infer_schema=False, has_header=True, quote_char='"',
                          null_values=[" "], schema_overrides=[pl.String] + [pl.Float64] * (len(header) - 1))
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):  # then as text, which names the bad cell
        try:
            raw = pl.read_csv(io.BytesIO(utf8), infer_schema=False, has_header=True, quote_char='"')
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:  # a panic: found by bench/fuzz.py
            raise _locate(text if text is not None else utf8.decode("utf-8"), source, exc) from None
    stamp = raw.columns[0]
    counters = raw.columns[1:]
    seen = set()
    for name in header[1:]:
        if name in seen:  # polars would rename the second one silently
            raise ParseError(source, 1, "each counter once in the header", f"{name} twice")
        seen.add(name)
    if not counters:
        raise ParseError(source, 1, "at least one counter column after the time column", "none")
    specs = [_counter(path, source) for path in counters]
    if raw.is_empty():
        return Parsed(schema.empty(), _metadata(version, zone, bias, counters))

    local = raw[stamp].str.to_datetime(_TIME, strict=False, time_unit="us")
    if local.is_null().any():  # padded with blanks? strip, then try again
        local = raw[stamp].str.strip_chars().str.to_datetime(_TIME, strict=False, time_unit="us")
    bad = local.is_null()
    if bad.any():
        row = int(bad.arg_max())
        raise ParseError(source, row + 2, "a time stamp MM/DD/YYYY HH:MM:SS.fff", raw[stamp][row])
    # Windows' bias: UTC = local + bias minutes.
    utc = (local + timedelta(minutes=bias)).dt.replace_time_zone("UTC")
    seconds = utc.diff().dt.total_microseconds() / 1e6
    if (seconds <= 0).any():
        row = int((seconds <= 0).arg_max())
        raise ParseError(source, row + 2, "time stamps in increasing order", raw[stamp][row])

    native: dict[str, str] = {}
    frames = []
    base = pl.DataFrame({"time": utc, "_span": seconds})
    span = pl.when(pl.col("_span") > 0).then(pl.col("_span"))
    for path, spec in zip(counters, specs):
        cells = raw[path]
        numbers = cells if cells.dtype == pl.Float64 else cells.cast(pl.Float64, strict=False)
        # blanks (" "), or numbers padded with blanks, when the columns were read as text
        if cells.dtype == pl.String and (numbers.is_null() & cells.is_not_null()).any():
            stripped = cells.str.strip_chars()
            numbers = stripped.cast(pl.Float64, strict=False)
            junk = (numbers.is_null() & (stripped != "")).fill_null(False)  # a blank is a missing value
            if junk.any():
                row = int(junk.arg_max())
                raise ParseError(source, row + 2, f"a number or a blank in column '{path}'", raw[path][row])
        scaled = numbers * spec[2] if spec[2] != 1.0 else numbers
        infinite = scaled.is_infinite().fill_null(False)
        if infinite.any():  # "1e999", "inf": no measurement is infinite
            row = int(infinite.arg_max())
            found = raw[path][row] if cells.dtype == pl.String else _text(utf8, counters.index(path) + 1, row)
            raise ParseError(source, row + 2, f"a finite number in column '{path}'", found)
        if spec[1].startswith(f"{NAME}:"):
            native.setdefault(spec[1], spec[5])
        host, metric, _, component, guest, unit, aggregate = spec
        frames.append(base.select(
            "time", value=scaled.fill_null(float("nan")) if scaled.null_count() else scaled,
            interval=span if aggregate == "mean" else pl.lit(None, dtype=pl.Float64),
            host=pl.lit(host, schema.LABEL), metric=pl.lit(metric, schema.LABEL), component=pl.lit(component, schema.LABEL),
            unit=pl.lit(unit, schema.LABEL),
            aggregate=pl.lit(aggregate, schema.LABEL), guest=pl.lit(guest, schema.LABEL),
            scope=pl.lit("guest" if guest else None, schema.LABEL)))
    if native:
        shown = ", ".join(f"{m} ({u})" for m, u in list(native.items())[:6])
        warnings.warn(f"{source}: {len(native)} counter(s) outside the metric vocabulary kept as native metrics: "
                      f"{shown}{', ...' if len(native) > 6 else ''}", NativeMetricWarning, stacklevel=3)
    nulls = {c: pl.lit(None, dtype=schema.SCHEMA[c]) for c in ("experiment", "condition", "hypervisor", "stage", "run")}
    table = pl.concat(frames, how="vertical", rechunk=False).with_columns(
        **nulls, source=pl.lit(NAME, schema.LABEL), source_file=pl.lit(source, schema.LABEL))
    return Parsed(table.select(list(schema.COLUMNS)).cast(schema.SCHEMA),
                  _metadata(version, zone, bias, counters, hosts=sorted({s[0] for s in specs})))


def _utf8(data: bytes, source: str) -> tuple[bytes, str | None]:
    """The file as UTF-8 bytes for polars, and its text when it had to be decoded (UTF-16,
    cp1252); polars reads UTF-8 bytes about 4x faster than a Python string (200 k rows)."""
    utf8 = data.removeprefix(b"\xef\xbb\xbf")
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            utf8.decode("utf-8")
            return utf8, None
        except UnicodeDecodeError:
            pass
    text = _decode(data, source)
    return text.encode("utf-8"), text


def _text(utf8: bytes, column: int, row: int) -> str:
    """A cell as written (for a message about a value read typed)."""
    return pl.read_csv(io.BytesIO(utf8), infer_schema=False, quote_char='"', columns=[column])[row, 0]


def _first_line(utf8: bytes) -> str:
    end = utf8.find(b"\n")
    return utf8[:end if end >= 0 else len(utf8)].decode("utf-8").rstrip("\r")


def _locate(text: str, source: str, exc: Exception) -> ParseError:
    """The first row whose field count differs from the header's (what polars refused)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        width = len(next(rows))
        for number, row in enumerate(rows, start=2):
            if row and len(row) != width:
                return ParseError(source, number, f"{width} fields, as in the header", f"{len(row)} fields")
    except csv.Error as exc:
        return ParseError(source, rows.line_num, "rows of quoted fields", str(exc))
    return ParseError(source, None, "rows with one quoted field per header column",
                      f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def _counter(path: str, source: str):
    """Host, metric, factor, component, guest, unit and aggregate of a counter path."""
    m = _PATH.match(path)
    if m is None:
        raise ParseError(source, 1, "counter paths \\\\computer\\object(instance)\\counter", path)
    host, obj, instance, counter = m.group(1), m.group(2).strip(), m.group(3), m.group(4).strip()
    key = (obj.lower(), counter.lower())
    guest = None
    component = "total"
    if obj.lower() in _GUEST_OBJECTS and instance:
        guest = instance.split(":", 1)[1] if ":" in instance else instance
    elif instance is not None and instance.lower() != "_total":
        component = f"cpu{instance}" if instance.isdigit() and obj.lower() in (
            "processor", "physical cpu", "processor information") else instance
    metric, factor = COUNTERS.get(key, (None, 1.0))
    if metric == "proc_cpu_util":  # esxtop %USED: may exceed 100 with several vCPUs
        metric = None
    if metric is not None and not re.fullmatch(schema.METRICS[metric].components, component):
        metric = None
    if metric is None:
        metric = f"{NAME}:{obj}\\{counter}"
        unit = "percent" if counter.startswith("%") else "1/s" if counter.lower().endswith("/sec") else "1"
        aggregate = "mean" if unit in ("percent", "1/s") else "last"
    else:
        unit = schema.METRICS[metric].unit
        aggregate = schema.METRICS[metric].aggregate
        if aggregate not in ("mean", "last"):
            aggregate = "mean"
    return host, metric, factor, component, guest, unit, aggregate


def _metadata(version: str, zone: str, bias: int, counters: list[str], hosts: list[str] | None = None) -> dict:
    return {"format": f"PDH-CSV {version}", "time_zone": zone, "bias_minutes": str(bias),
            "utc_offset": _offset(-bias), "counters": str(len(counters)), "computers": ", ".join(hosts or [])}


def _offset(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _decode(data: bytes, source: str) -> str:
    # typeperf and relog write the ANSI code page; Performance Monitor may write UTF-16.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ParseError(source, None, "UTF-16 text (it starts with a byte-order mark)",
                             f"byte {exc.start}: {data[exc.start:exc.start + 2]!r}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _sniff(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", errors="ignore").encode("utf-8")
    return head.lstrip(b"\xef\xbb\xbf").startswith(b'"(PDH-CSV ')


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".csv", ".blg.csv"),
                description="Windows Performance Monitor / typeperf / relog CSV and VMware esxtop -b batch output")
