"""Reader for dstat's CSV output (``dstat --output FILE``, dstat 0.7.x).

Format (the Felter et al. 2014 MySQL runs, tests/fixtures/dstat/)::

    "Dstat 0.7.2 CSV output"
    "Author:","Dag Wieers <dag@wieers.com>",,,,"URL:","http://dag.wieers.com/home-made/dstat/"
    "Host:","arldcn24",,,,"User:","apferrei"
    "Cmdline:","dstat --output /tmp/dstat-run-2000000-vm.csv -cndy --net-packets",,,,"Date:","16 Jul 2014 11:20:56 CDT"

    "total cpu usage",,,,,,"net/total",,"dsk/total",,"system",,"pkt/total",
    "usr","sys","idl","wai","hiq","siq","recv","send","read","writ","int","csw","#recv","#send"
    0.045,0.154,99.781,0.020,0.0,0.000,0.0,0.0,610394.416,88574.567,368.777,927.580,0.0,0.0
    0.0,0.0,100.0,0.0,0.0,0.0,581.0,836.0,0.0,0.0,71.0,150.0,6.0,2.0

* The column header is two rows: the group (named on its first column only) and the
  name. ``dstat --output`` appends: a file may hold several sessions, each starting
  with its ``"Host:"`` / ``"Cmdline:"`` block and its own header (the Felter KVM file
  holds two).
* dstat's first row of a session is the average since boot, not a sample: it is left
  out (an :class:`~workbench.errors.ExcludedDataWarning` says so).
* Times: a ``--epoch`` column (UTC seconds) or a ``-t`` column (``dd-mm HH:MM:SS``,
  the year from the session's date) when present; otherwise the session's ``Date:``
  plus the row's index times the delay (the command line's first number, default 1 s;
  dstat keeps to its delay, so this drifts by its scheduling only). The date is local
  time with a zone abbreviation: give ``timezone=`` (an IANA name), or the reader
  reads a known abbreviation (``CDT`` = UTC-05:00, ...) with an AssumptionWarning.
* Vocabulary: ``total cpu usage`` / ``cpuN usage`` -> ``cpu_util`` (100 - idl - wai -
  stl), ``cpu_iowait`` (wai), ``cpu_steal`` (stl, dstat >= 0.7.3); ``memory usage``
  used/free -> ``mem_used``/``mem_free``; ``swap`` used/free -> ``swap_used``,
  ``swap_total`` (used + free); ``paging`` in/out -> ``swap_in``/``swap_out`` (dstat
  multiplies pswpin/pswpout by the page size: bytes/s); ``net/<if>`` recv/send ->
  ``net_rx``/``net_tx``; ``dsk/<dev>`` read/writ -> ``disk_read``/``disk_write``
  (``total`` -> component ``total``); ``load avg`` 1m -> ``load_avg``. dstat writes
  bytes, not KiB, in its CSV. Everything else is kept as ``dstat:<group>:<name>``.
"""
from __future__ import annotations

import csv
import io
import re
import shlex
import warnings
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from .. import schema
from ..errors import AssumptionWarning, ExcludedDataWarning, NativeMetricWarning, ParseError, WorkbenchError
from . import Parsed, _numbers

NAME = "dstat"
PREFIX = f"{NAME}:"

#: (group kind, name) -> metric. The group kind is the group without its instance
#: ("net/eth0" -> "net", "cpu0 usage" -> "cpu").
VOCABULARY: dict[tuple[str, str], str] = {
    ("cpu", "wai"): "cpu_iowait",
    ("cpu", "stl"): "cpu_steal",
    ("memory", "used"): "mem_used",
    ("memory", "free"): "mem_free",
    ("swap", "used"): "swap_used",
    ("paging", "in"): "swap_in",
    ("paging", "out"): "swap_out",
    ("net", "recv"): "net_rx",
    ("net", "send"): "net_tx",
    ("dsk", "read"): "disk_read",
    ("dsk", "writ"): "disk_write",
    ("load", "1m"): "load_avg",
}
#: Zone abbreviations dstat writes (strftime %Z) read without `timezone=`, with a warning.
ZONES = {"UTC": 0, "GMT": 0, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420, "MDT": -360,
         "PST": -480, "PDT": -420, "CET": 60, "CEST": 120, "BST": 60, "EET": 120, "EEST": 180, "JST": 540}
# Native groups whose values are per second (the others are levels or counts).
_RATE_GROUPS = ("system", "pkt", "io", "int", "net", "dsk", "paging", "page")
_OPTIONS_WITH_VALUE = {"--output", "-C", "-D", "-I", "-N", "-S", "-T"}
_DATE = "%d %b %Y %H:%M:%S"
_TIME_COLUMNS = ("time", "epoch")
#: Epoch seconds a datetime holds (years 1 to 9999); the longest delay read (a year).
_EPOCH = (-62135596800, 253402300799)
_MAX_DELAY = 366 * 86400


def parse(data: bytes, *, source: str, timezone: str | None = None) -> Parsed:
    """The columns of a dstat CSV file as measurement rows.

    Parameters
    ----------
    timezone : str, optional
        IANA name of the zone dstat ran in (its ``Date:`` is local time).
    """
    text = data.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].startswith('"Dstat '):
        raise ParseError(source, 1, '"Dstat <version> CSV output" as the first line', lines[0][:60] if lines else "")
    words = lines[0].strip('"').split()
    if len(words) < 2:  # '"Dstat "' (a file cut there: found by bench/fuzz.py)
        raise ParseError(source, 1, '"Dstat <version> CSV output" as the first line', lines[0][:60])
    version = words[1]
    zone = _zone(timezone, source)
    sessions = [i for i, line in enumerate(lines) if line.startswith('"Host:"')]
    if not sessions:
        raise ParseError(source, 2, 'a "Host:" line', "none")
    frames, meta = [], {"format": f"dstat {version} CSV"}
    native: dict[str, str] = {}
    assumed: list[str] = []
    for n, start in enumerate(sessions):
        end = sessions[n + 1] if n + 1 < len(sessions) else len(lines)
        frame, info = _session(lines, start, end, source, zone, timezone, native, assumed)
        if frame is not None:
            frames.append(frame)
        for key, value in info.items():
            meta[f"{key}" if len(sessions) == 1 else f"session{n + 1}.{key}"] = value
    meta["sessions"] = str(len(sessions))
    if frames:
        warnings.warn(f"{source}: the first row of each of {len(frames)} session(s) left out: dstat's averages since "
                      "boot, not a sample", ExcludedDataWarning, stacklevel=3)
    for message in dict.fromkeys(assumed):
        warnings.warn(f"{source}: {message}", AssumptionWarning, stacklevel=3)
    if native:
        shown = ", ".join(f"{m} ({u})" for m, u in list(native.items())[:6])
        warnings.warn(f"{source}: {len(native)} column(s) outside the metric vocabulary kept as native metrics: "
                      f"{shown}{', ...' if len(native) > 6 else ''}", NativeMetricWarning, stacklevel=3)
    table = pl.concat(frames, how="vertical") if frames else schema.empty()
    return Parsed(table, meta)


def _session(lines: list[str], start: int, end: int, source: str, zone, zone_name, native: dict,
             assumed: list) -> tuple[pl.DataFrame | None, dict]:
    info: dict[str, str] = {}
    i = start
    while i < end and re.match(r'^"[A-Za-z]+:"', lines[i]):  # "Host:","h",,,,"User:","u" and "Cmdline:" ... "Date:"
        cells = next(csv.reader([lines[i]]))
        for k in range(0, len(cells) - 1):
            if cells[k].endswith(":") and cells[k + 1]:
                info[cells[k][:-1].lower()] = cells[k + 1]
        i += 1
    while i < end and not lines[i].strip():
        i += 1
    if i + 1 >= end:
        raise ParseError(source, i + 1, "the two header rows (groups, then names)", "the end of the session")
    if not lines[i + 1].startswith('"'):
        raise ParseError(source, i + 2, 'the row of column names ("usr","sys",...) after the row of groups',
                         lines[i + 1][:60])
    groups_row = next(csv.reader([lines[i]]))
    names_row = next(csv.reader([lines[i + 1]]))
    if len(groups_row) < len(names_row) or not groups_row or not groups_row[0]:
        raise ParseError(source, i + 1, "a row of column groups (\"total cpu usage\",,,...)", lines[i][:60])
    group, groups = "", []
    for g in groups_row[:len(names_row)]:
        group = g or group
        groups.append(group)
    if any(not name for name in names_row):
        raise ParseError(source, i + 2, "a name for every column", lines[i + 1][:60])
    host = info.get("host")
    if not host:
        raise ParseError(source, start + 1, 'a host name after "Host:"', lines[start][:60])
    first = i + 2
    body = lines[first:end]
    while body and not body[-1].strip():
        body.pop()
    if not body:
        return None, info
    # Data rows are unquoted numbers: a row's commas count its fields (polars would pad a short row).
    commas = pl.Series(body).str.count_matches(",")
    ragged = commas != len(names_row) - 1
    if ragged.any():
        row = int(ragged.arg_max())
        raise ParseError(source, first + row + 1, f"{len(names_row)} fields, as in the header",
                         f"{commas[row] + 1} fields")
    raw = pl.read_csv(io.StringIO("\n".join(body)), has_header=False, infer_schema=False, quote_char=None,
                      new_columns=[f"c{k}" for k in range(len(names_row))])
    numbers = {}
    for k in range(len(names_row)):
        if names_row[k] in _TIME_COLUMNS:
            continue
        # The one number rule (readers._numbers), vectorized; an empty cell is no value (NaN).
        cells = raw[f"c{k}"].str.strip_chars(" \t\r\n")
        cells = pl.select(pl.when(cells != "").then(cells)).to_series()
        values = _numbers.to_floats(cells, source=source, column=f"{groups[k]}:{names_row[k]}", first_line=first + 1)
        numbers[k] = values.fill_null(float("nan"))
    times = _times(raw, groups, names_row, info, zone, zone_name, source, first, start, assumed)
    delay = _delay(info.get("cmdline", ""), source, start + 2)
    # Row 0: averages since boot. Every later row is the mean over the delay before it.
    keep = slice(1, None)
    columns = {"time": times[keep]}
    labels = []
    for k, (g, name) in enumerate(zip(groups, names_row)):
        if name in _TIME_COLUMNS:
            continue
        metric, component, unit, aggregate = _column(g, name)
        if metric.startswith(PREFIX):
            native.setdefault(metric, unit)
        columns[str(k)] = numbers[k][keep]
        labels.append((str(k), metric, component, unit, aggregate))
    derived = _derived(groups, names_row, numbers, keep)
    for d, (metric, component, values) in enumerate(derived):
        columns[f"d{d}"] = values
        labels.append((f"d{d}", metric, component, schema.METRICS[metric].unit, schema.METRICS[metric].aggregate))
    wide = pl.DataFrame(columns)
    label_frame = pl.DataFrame(labels, schema=["_column", "metric", "component", "unit", "aggregate"], orient="row")
    long = (wide.unpivot(index="time", variable_name="_column", value_name="value")
            .join(label_frame, on="_column", how="left", maintain_order="left"))
    nulls = {c: pl.lit(None, dtype=schema.SCHEMA[c]) for c in ("experiment", "condition", "hypervisor", "guest",
                                                                "scope", "stage", "run")}
    table = long.with_columns(**nulls, host=pl.lit(host, schema.LABEL), source=pl.lit(NAME, schema.LABEL),
                              source_file=pl.lit(source, schema.LABEL),
                              interval=pl.when(pl.col("aggregate") == "mean").then(pl.lit(float(delay))))
    info["delay_seconds"] = str(delay)
    return table.select(list(schema.COLUMNS)).cast(schema.SCHEMA), info


def _kind(group: str) -> tuple[str, str]:
    """(kind, component) of a dstat group: ``total cpu usage`` -> (cpu, total), ``cpu3 usage``
    -> (cpu, cpu3), ``net/eth0`` -> (net, eth0), ``load avg`` -> (load, total)."""
    if group == "total cpu usage":
        return "cpu", "total"
    m = re.fullmatch(r"cpu(\d+) usage", group)
    if m:
        return "cpu", f"cpu{m.group(1)}"
    if "/" in group:
        kind, instance = group.split("/", 1)
        return kind, instance
    return group.split(" ", 1)[0], "total"


def _column(group: str, name: str) -> tuple[str, str, str, str]:
    kind, component = _kind(group)
    metric = VOCABULARY.get((kind, name))
    if metric is not None and re.fullmatch(schema.METRICS[metric].components, component):
        spec = schema.METRICS[metric]
        return metric, component, spec.unit, spec.aggregate
    unit = "percent" if kind == "cpu" else "1/s" if kind in _RATE_GROUPS else "1"
    if kind in ("memory", "swap"):
        unit = "bytes"
    aggregate = "mean" if unit in ("percent", "1/s") else "last"
    return f"{PREFIX}{group}:{name}", component, unit, aggregate


def _derived(groups: list[str], names: list[str], numbers: dict, keep: slice) -> list[tuple[str, str, pl.Series]]:
    """cpu_util per CPU group (100 - idl - wai - stl) and swap_total (used + free)."""
    by_group: dict[str, dict[str, pl.Series]] = {}
    for k, (g, name) in enumerate(zip(groups, names)):
        if name in _TIME_COLUMNS:
            continue
        by_group.setdefault(g, {})[name] = numbers[k][keep]
    out = []
    for g, cols in by_group.items():
        kind, component = _kind(g)
        if kind == "cpu" and "idl" in cols:
            spent = cols["idl"] + cols.get("wai", 0.0) + cols.get("stl", 0.0)
            out.append(("cpu_util", component, (100.0 - spent).clip(0.0, 100.0)))
        if kind == "swap" and "used" in cols and "free" in cols and component == "total":
            out.append(("swap_total", "total", cols["used"] + cols["free"]))
    return out


def _delay(cmdline: str, source: str = "", line: int | None = None) -> int:
    """dstat's delay: the first number among its positional arguments (default 1 s), by the
    number rule (ASCII digits: '１' is no delay) and at most a year (the row times are
    counted from it)."""
    try:
        tokens = shlex.split(cmdline)[1:]
    except ValueError:
        tokens = cmdline.split()[1:]
    skip = False
    for token in tokens:
        if skip:
            skip = False
        elif token in _OPTIONS_WITH_VALUE:
            skip = True
        elif not token.startswith("-") and token.isdigit() and token.strip("0"):  # '１' too: refused below
            return _numbers.to_int(token, source=source, line=line, what="a delay in seconds on the Cmdline",
                                   maximum=_MAX_DELAY)
    return 1


def _times(raw: pl.DataFrame, groups, names, info, zone, zone_name, source, first, start, assumed) -> pl.Series:
    for k, name in enumerate(names):
        if name == "epoch":
            seconds = _numbers.to_floats(raw[f"c{k}"].fill_null(""), source=source, column="epoch",
                                         first_line=first + 1, what="epoch seconds")
            outside = (seconds < _EPOCH[0]) | (seconds > _EPOCH[1])
            if outside.any():
                row = int(outside.arg_max())
                raise ParseError(source, first + row + 1, f"epoch seconds within the years 1 to 9999 ({_EPOCH[0]} to "
                                 f"{_EPOCH[1]})", repr(raw[f"c{k}"][row]))
            return (seconds * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).alias("time")
    date = info.get("date")
    if not date:
        raise ParseError(source, start + 1, 'a "Date:" on the "Cmdline:" line (or an epoch column)', "none")
    m = re.fullmatch(r"(\d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2})(?: (\S+))?", date.strip())
    if not m:
        raise ParseError(source, start + 2, "a date such as '16 Jul 2014 11:20:56 CDT'", repr(date))
    try:
        local = datetime.strptime(m.group(1), _DATE)
    except ValueError:
        raise ParseError(source, start + 2, "a date such as '16 Jul 2014 11:20:56 CDT'", repr(date)) from None
    abbreviation = m.group(2)
    if zone is not None:
        begin = local.replace(tzinfo=zone).astimezone(dt_timezone.utc)
    elif abbreviation in ZONES:
        offset = ZONES[abbreviation]
        begin = (local - timedelta(minutes=offset)).replace(tzinfo=dt_timezone.utc)
        if offset:
            assumed.append(f"dstat's dates in {abbreviation} read as UTC{offset // 60:+03d}:{abs(offset) % 60:02d}; "
                           "pass timezone='Area/City' to state the zone")
    else:
        raise ParseError(source, start + 2, "a date whose zone the reader knows (" + ", ".join(ZONES)
                         + "), or the option timezone='Area/City'", repr(date))
    for k, name in enumerate(names):
        if name == "time":  # dstat -t: "16-07 11:20:57", local, no year
            stamps = (raw[f"c{k}"].str.strip_chars() + f" {local.year}").str.to_datetime(
                "%d-%m %H:%M:%S %Y", strict=False, time_unit="us")
            if stamps.is_null().any():
                row = int(stamps.is_null().arg_max())
                raise ParseError(source, first + row + 1, "a time dd-mm HH:MM:SS", repr(raw[f"c{k}"][row]))
            # The session's offset from UTC, as at its date (a daylight-saving change
            # within one dstat session is not followed).
            shift = begin.replace(tzinfo=None) - local
            return (stamps + shift).dt.replace_time_zone("UTC").alias("time")
    delay = _delay(info.get("cmdline", ""), source, start + 2)
    if begin.timestamp() + delay * (raw.height - 1) > _EPOCH[1]:
        raise ParseError(source, start + 2, "rows counted from the Date every delay within the year 9999",
                         f"{raw.height} rows every {delay} s from {date.strip()!r}")
    return pl.datetime_range(begin, begin + timedelta(seconds=delay * (raw.height - 1)), timedelta(seconds=delay),
                             time_unit="us", eager=True).dt.convert_time_zone("UTC").alias("time")


def _zone(name: str | None, source: str):
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WorkbenchError(f"{source}: unknown timezone {name!r}; expected an IANA name such as 'America/Chicago'") \
            from None


def _sniff(head: bytes) -> bool:
    return head.removeprefix(b"\xef\xbb\xbf").startswith(b'"Dstat ') and b"CSV output" in head[:60]


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".csv",),
                description="dstat --output CSV (0.7.x): CPU, memory, swap, paging, disk, network, load")
