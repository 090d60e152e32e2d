"""AIDA64 / EVEREST hardware-monitoring CSV logs (``HWMonLogToCSV``; §4.2).

Layout (AIDA64 v7.65, ``aida64_v7.65_sensor_log_CSV__sample_quoted_in_TS_source.csv``)::

    Version,AIDA64 v7.65.7400                          <- preamble: Key,Value (value
    CPU Type,2C+8c Intel Core i5-1335U, 4300 MHz ...      may hold unquoted commas)
    Log Started,6/5/2025 4:35:19 PM
    Date,Time,UpTime,CPU,CPU Package,...               <- header: sensor labels
    ,,,°C,°C,...                                       <- units row
    * Processes stopped: dllhost.exe                   <- event lines, anywhere
    6/5/2025,4:36:36 PM,05:04:42,48,46,...             <- data rows

Columns are mapped by their English sensor label (AIDA64's list, §4.4):
``CPU Utilization`` -> ``cpu_util``/total, ``CPUn Utilization`` -> ``cpu_util``/cpu(n-1),
``Memory Utilization`` -> ``mem_util``, ``Used Memory``/``Free Memory`` (MB = MiB)
-> ``mem_used``/``mem_free``. Other numeric columns are kept as native metrics
``everest-csvlog:<kind>`` (kind from the unit: temperature, voltage, ...; component =
the label). A row is a reading at its time: ``aggregate = last``, ``interval`` null
(the log does not state its polling interval).

Times are the logging machine's local clock in its locale's short date and long
time. The timezone is the caller's to give (``timezone=``); without it the times are
read as UTC and an :class:`AssumptionWarning` says so. The date order is taken from
the data when a day exceeds 12, else from the locale convention the time format
implies (AM/PM -> month first) with a warning; ``date_order=`` overrides.
"""
from __future__ import annotations

import csv
import math
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl

from ... import schema
from ...errors import ParseError, WorkbenchError
from .. import Parsed, _numbers, joined
from ._common import SENSOR_KINDS, AssumptionWarning, snake, warn_native

NAME = "everest-csvlog"
#: Header labels of the date and time columns: English (sample), and localized forms
#: [INFERRED, §4.5: "Fecha,Hora"]. Without a match the header is the line before the
#: units row (which starts with ",,").
DATE_TIME_LABELS = {("Date", "Time"), ("Fecha", "Hora"), ("Datum", "Zeit"), ("Дата", "Время"),
                    ("Data", "Hora"), ("Date", "Heure"), ("Data", "Ora")}
_LABELS = {"CPU Utilization": ("cpu_util", "total", 1.0), "Memory Utilization": ("mem_util", "total", 1.0),
           "Used Memory": ("mem_used", "total", schema.MIB), "Free Memory": ("mem_free", "total", schema.MIB)}
_CPU_N = re.compile(r"CPU([0-9]{1,6}) Utilization")  # ASCII, bounded: a label, not a reading
# ASCII digits only: \d would take '١٢' or '１２' for numbers (issue 18).
_DATE = re.compile(r"([0-9]{1,4})([./-])([0-9]{1,2})\2([0-9]{1,4})")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\s*([AaPp][Mm])?")
#: A cell that is a number by the grammar of readers._numbers (ASCII digits; finite or not
#: is decided when it is read: '1e999' is a number that overflows, not text).
_NUMBER = re.compile(_numbers.FLOAT)
_SPACE = " \t\r\n"  # what readers._numbers trims around a number
#: Line breaks str.splitlines() honours besides \n and \r\n: a document holding one is
#: read by the line-by-line path, so both paths always cut the same lines.
_OTHER_BREAKS = (b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", "\x85".encode(), "\u2028".encode(),
                 "\u2029".encode())
DATE_ORDERS = ("MDY", "DMY", "YMD")


def sniff(head: bytes) -> bool:
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    return first.startswith((b"Version,AIDA64", b"Version,EVEREST", b"Date,Time,"))


def _decode(data: bytes) -> tuple[str, str]:
    # Probably the ANSI code page (§4.2, unverified); the sample is a UTF-8 transcription.
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


def _layout(data: bytes, source: str) -> tuple[list[str], dict[str, str], int, list[str] | None]:
    """``(lines, preamble, header index, units or None)``."""
    text, encoding = _decode(data)
    lines = text.splitlines()
    preamble: dict[str, str] = {"encoding": encoding}
    header = None
    for i, line in enumerate(lines):
        fields = line.split(",")
        if tuple(f.strip() for f in fields[:2]) in DATE_TIME_LABELS or (
                i + 1 < len(lines) and lines[i + 1].startswith(",,") and len(fields) > 2):
            header = i
            break
        key, _, value = line.partition(",")  # value not quoted even with commas (§4.2)
        if key.strip():
            preamble[key.strip()] = value.strip()
    if header is None:
        first = next((l for l in lines if l.strip()), "")
        raise ParseError(source, len(lines) or 1, "a header row of sensor labels starting 'Date,Time,' (a CSV "
                         "report, aida64 /R /CSV, is a different file: not supported yet, no sample is known; "
                         "a sensor log cut before its header is truncated)",
                         f"{len(lines)} line(s) starting {first[:40]!r}" if first else "an empty file")
    labels = lines[header].split(",")
    units = None
    if header + 1 < len(lines) and lines[header + 1].startswith(","):
        units = lines[header + 1].split(",")
        if len(units) != len(labels):
            raise ParseError(source, header + 2, f"a units row of {len(labels)} fields (as the header)",
                             f"{len(units)} fields")
    return lines, preamble, header, units


def parse(data: bytes, *, source: str, timezone: str | None = None, date_order: str | None = None) -> Parsed:
    """Parse a sensor log into measurement rows (labels left to the caller) and its
    preamble as metadata (:func:`_metadata`).

    Parameters
    ----------
    data : bytes
        The file's content.
    source : str
        Named in errors and recorded in ``source_file``.
    timezone : str, optional
        IANA name of the logging machine's timezone (``"Europe/Madrid"``). Default:
        the times are read as UTC, with an :class:`AssumptionWarning`.
    date_order : {"MDY", "DMY", "YMD"}, optional
        Order of the locale's short date. Default: from the data, else from the
        convention (AM/PM times -> MDY), with a warning when the data cannot tell.

    Raises
    ------
    ParseError
        A row with the wrong number of fields, an unparseable number or date, a
        missing header, an ambiguous or skipped local time (DST change).
    """
    return joined(pieces(data, source=source, rows=None, timezone=timezone, date_order=date_order))


def pieces(data: bytes, *, source: str, rows: int | None, timezone: str | None = None,
           date_order: str | None = None) -> Iterator[Parsed]:
    """:func:`parse` in pieces of consecutive rows, about `rows` table rows each (None: the
    whole log, one piece): what ``workbench ingest`` writes as it reads, so that a log's
    long table is never whole in memory (issues 17, 18)."""
    plan = _plan(data, source=source, timezone=timezone, date_order=date_order, whole=rows is None)
    done = 0  # data rows given so far
    if plan is not None:
        metadata = _metadata(plan.preamble)
        step = max(1, (rows or 1 << 62) // max(1, len(plan.spec)))
        for begin, end in plan.ranges:
            wide = _fast_wide(data[begin:end], plan, source=source, timezone=timezone)
            if wide is None:
                break
            # Parsed in ranges of a few MB (each costs a dozen polars calls), given in
            # table pieces of readers.piece_rows rows (a piece's table is ~30x its log bytes).
            for first in range(0, wide.height, step):
                yield Parsed(_long(wide.slice(first, step), plan.spec, source), metadata)
            done += wide.height
        else:
            _warn(plan.spec, plan.dropped, plan.assumptions, done, source, timezone)
            return
    # The line-by-line reader: a layout the fast one declines, or a piece it declined
    # (a cell that is not a number, a DST-repeated time: the reader names the line).
    # Rows already given are the same rows of this reader's table (tests check that both
    # readers agree): what follows them is given.
    wide, spec, dropped, assumptions, preamble = _slow(data, source=source, timezone=timezone,
                                                       date_order=date_order)
    metadata = _metadata(preamble)
    step = max(1, (rows or 1 << 62) // max(1, len(spec)))
    for first in range(done, wide.height, step):
        yield Parsed(_long(wide.slice(first, step), spec, source), metadata)
    _warn(spec, dropped, assumptions, wide.height, source, timezone)


def _long(wide: pl.DataFrame, spec: dict[str, tuple[str, str, str, float]], source: str) -> pl.DataFrame:
    """The table rows of `wide` (``time`` and one column per kept sensor), column by column
    (what unpivot + a join on the column name gave, without a string key per value):
    labels gathered from one row per column, values and times stacked."""
    n, keys = wide.height, list(spec)
    mapping = pl.DataFrame({"metric": [spec[k][0] for k in keys], "component": [spec[k][1] for k in keys],
                            "unit": [spec[k][2] for k in keys]}, schema={c: schema.LABEL for c in ("metric", "component",
                                                                                                 "unit")})
    index = pl.Series(np.repeat(np.arange(len(keys), dtype=np.uint32), n))
    long = mapping.select(pl.all().gather(index)).with_columns(
        time=pl.concat([wide["time"]] * len(keys)) if keys else pl.Series([], dtype=schema.UTC_TIME),
        value=pl.concat([wide[k] for k in keys]) if keys else pl.Series([], dtype=pl.Float64))
    return long.select(
        *[pl.lit(None, dtype=schema.SCHEMA[c]).alias(c) for c in ("experiment", "condition", "hypervisor",
                                                                  "host", "guest", "scope", "stage", "run")],
        pl.col("time").cast(schema.UTC_TIME), pl.lit(None, dtype=pl.Float64).alias("interval"),
        pl.lit("last", dtype=schema.LABEL).alias("aggregate"), "metric", "component", "value", "unit",
        pl.lit(NAME, dtype=schema.LABEL).alias("source"), pl.lit(source, dtype=schema.LABEL).alias("source_file"),
    )  # every column typed already: no cast, which would write each constant out row by row


def _warn(spec: dict[str, tuple[str, str, str, float]], dropped: list[str], assumptions: list[str], rows: int,
          source: str, timezone: str | None) -> None:
    """The warnings about the whole log, once its last piece is out."""
    if timezone is None:
        assumptions = ["the log's times are the local clock of the machine that wrote it and no "
                       "timezone was given: read as UTC (pass timezone='Area/City' to state it)", *assumptions]
    for text in assumptions:
        warnings.warn(f"{source}: {text}", AssumptionWarning, stacklevel=2)
    counts: dict[tuple[str, str], int] = {}
    for metric, _, unit, _ in spec.values():
        counts[metric, unit] = counts.get((metric, unit), 0) + rows
    warn_native(None, source=source, dropped=dropped, counts=counts)


#: Bytes of the document's start in which the fast reader looks for the header.
HEAD_BYTES = 1 << 16
#: Data rows the fast reader looks at to tell text columns (memory timings) from numbers.
SAMPLE_ROWS = 200
#: Bytes of a line's start in which its date (first field) must end for the fast reader.
DATE_BYTES = 16
#: A log is parsed in ranges of whole lines of about 1/RANGES of it, within RANGE_BYTES
#: (each range costs a dozen polars calls, ~13 ms; its wide frame is ~2x its bytes).
RANGES, RANGE_BYTES = 32, (1 << 18, 4 << 20)


@dataclass
class _Plan:
    """What the fast reader learnt from the head and one pass over the bytes: the byte
    ranges of its pieces (whole lines), the CSV schema, the kept columns and the date order."""

    preamble: dict[str, str]
    ranges: list[tuple[int, int]]
    names: list[str]
    wanted: list[int]
    schema: dict[str, pl.DataType]
    spec: dict[str, tuple[str, str, str, float]]
    text_cols: set[int]
    dropped: list[str]
    order: str
    zone: object
    assumptions: list[str]


def _plan(data: bytes, *, source: str, timezone: str | None, date_order: str | None,
          whole: bool = False) -> _Plan | None:
    """The fast reader's plan, or None when anything is not plainly well formed (quotes,
    a ragged row, a line break other than \n and \r\n, not UTF-8, a date that does not
    parse, ...): the line-by-line reader then reads the file and names the line of any
    error. One pass over the bytes in piece-sized ranges: peak memory is a piece, not
    the file (issue 18: a 4 MB log used to peak at 350 MB)."""
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        head = data[start:start + HEAD_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < HEAD_BYTES - 4:  # not a character cut by the head's end
            return None
        head = data[start:start + exc.start].decode("utf-8")
    if len(data) - start > len(head.encode("utf-8")):
        head = head[:head.rfind("\n") + 1]
    try:
        lines, preamble, header, units = _layout(head.encode("utf-8"), source)
    except ParseError:
        return None
    labels = [l.strip() for l in lines[header].split(",")]
    ncols = len(labels)
    first_data = header + (2 if units is not None else 1)
    if first_data + 1 >= len(lines) or ncols < 3:  # a data row inside the head: the layout is whole
        return None
    offset = start
    for _ in range(first_data):  # only \n and \r\n break lines here (checked below)
        offset = data.index(b"\n", offset) + 1
    zone = _zone(timezone, source)

    names = [f"c{j}" for j in range(ncols)]
    wanted = [j for j, label in enumerate(labels) if j < 2 or label != "UpTime"]
    sample = data[offset:offset + HEAD_BYTES]
    if offset + HEAD_BYTES < len(data):
        sample = sample[:sample.rfind(b"\n") + 1]  # whole lines only
    try:
        sample = pl.read_csv(sample, has_header=False, schema={n: pl.String for n in names}, comment_prefix="* ",
                             quote_char=None, n_rows=SAMPLE_ROWS, columns=wanted, infer_schema=False)
    except Exception:  # polars: ComputeError & co.
        return None
    sample = sample.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines
    if sample.is_empty() or sample["c1"][0] is None:
        return None
    number = _NUMBER.pattern
    texty = sample.select((pl.col(names[j]).str.strip_chars(_SPACE).str.contains(f"^(?:{number})$").not_()
                           & (pl.col(names[j]) != "")).any().alias(names[j]) for j in wanted[2:]).row(0)
    text_cols = {j for j, bad in zip(wanted[2:], texty) if bad}
    spec: dict[str, tuple[str, str, str, float]] = {}
    dropped = []
    for j in wanted[2:]:
        unit = units[j].strip() if units is not None else ""
        if j in text_cols:
            if unit:
                return None  # a number column with text in it: the line-by-line reader names the cell
            dropped.append(labels[j])  # a text column (e.g. memory timings): checked piece by piece
            continue
        spec[names[j]] = _map(labels[j], unit)

    # Piece ranges of whole lines, each checked as the whole body was: UTF-8, only \n
    # and \r\n line breaks, no quote, every line a row of ncols fields, an event line
    # or empty; and the distinct dates, for the date order of the whole log.
    step = len(data) if whole else min(RANGE_BYTES[1], max(RANGE_BYTES[0], len(data) // RANGES))
    ranges, dates = [], {}
    begin = offset
    while begin < len(data):
        end = data.find(b"\n", min(begin + step, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        piece = data[begin:end]
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            return None  # cp1252 logs (never seen) take the line-by-line reader
        if b'"' in piece or any(b in piece for b in _OTHER_BREAKS) or piece.count(b"\r") != piece.count(b"\r\n"):
            return None
        found = _rows_and_dates(piece, ncols)
        if found is None:
            return None
        for text in found:
            dates.setdefault(text, None)
        ranges.append((begin, end))
        begin = end
    if not dates:
        return None
    last = _last_date(data[ranges[-1][0]:ranges[-1][1]])
    distinct = list(dates)
    assumptions: list[str] = []
    records = [(k, [d, sample["c1"][0]]) for k, d in enumerate([*distinct, last], 1)]
    try:
        order = _date_order(records, date_order, source, assumptions)
    except ParseError:
        return None
    schema_full = {n: (pl.String if j < 2 or j in text_cols else pl.Float64) for j, n in enumerate(names)}
    return _Plan(preamble, ranges, names, wanted, schema_full, spec, text_cols, dropped, order, zone, assumptions)


def _fast(data: bytes, *, source: str, timezone: str | None, date_order: str | None):
    """The whole log by the fast reader: ``(wide, spec, dropped, assumptions, preamble)``
    as :func:`_slow` gives them, or None where it declines (tests compare the two)."""
    plan = _plan(data, source=source, timezone=timezone, date_order=date_order, whole=True)
    if plan is None:
        return None
    wides = []
    for begin, end in plan.ranges:
        wide = _fast_wide(data[begin:end], plan, source=source, timezone=timezone)
        if wide is None:
            return None
        wides.append(wide)
    return pl.concat(wides), plan.spec, plan.dropped, plan.assumptions, plan.preamble


def _fast_wide(body: bytes, plan: _Plan, *, source: str, timezone: str | None) -> pl.DataFrame | None:
    """One piece's rows through polars' CSV parser (explicit schema, numbers as Float64),
    dates parsed once per distinct day, times as one vectorized expression: ``time`` and
    one Float64 column per kept sensor (canonical units, NaN = no value), possibly no
    rows (only event lines); None when a cell or time is not plainly valid."""
    try:
        frame = pl.read_csv(body, has_header=False, schema=plan.schema, comment_prefix="* ", quote_char=None,
                            columns=plan.wanted, infer_schema=False)
    except Exception:  # polars: ComputeError & co.
        return None
    frame = frame.filter(~pl.all_horizontal(pl.all().is_null()))  # blank lines
    if frame.is_empty():
        return pl.DataFrame(schema={"time": schema.UTC_TIME, **{k: pl.Float64 for k in plan.spec}})
    if frame["c0"].null_count() or frame["c1"].null_count():
        return None
    times = _fast_times(frame["c0"], frame["c1"], plan.order, plan.zone, timezone, source, [])
    if times is None:
        return None
    for j in plan.text_cols:
        distinct = frame[plan.names[j]].unique().to_list()
        if not all(v is not None and v.strip(_SPACE) and not _is_number(v) for v in distinct):
            return None  # a number or an empty cell in a text column: the line-by-line reader decides
    spec = plan.spec
    # One number rule (readers._numbers), vectorized: polars' Float64 CSV parser refuses
    # what is not ASCII decimal ('１２', '1_0', '0x10', '5 ': ComputeError above, so None)
    # but reads 'inf', 'Infinity', 'nan' and an overflow ('1e999') as non-finite floats;
    # the line-by-line reader then names the cell with _numbers' message.
    # tests/readers/test_malformed.py pins this for each spelling.
    if spec and not frame.select(pl.all_horizontal(pl.col(list(spec)).is_finite().fill_null(True).all())).item():
        return None
    columns = frame.select((pl.col(k) * spec[k][3]).fill_null(math.nan) for k in spec).get_columns()
    if any(spec[k][3] != 1.0 and c.is_infinite().any() for k, c in zip(spec, columns)):  # finite before scaling
        return None  # 1.7e308 MB is finite, its bytes are not: the line-by-line reader names the line
    return pl.DataFrame([times.alias("time"), *columns])


def _rows_and_dates(body: bytes, ncols: int) -> list[str] | None:
    """The distinct first fields (dates) of the rows of `body`, in order of appearance, or
    None unless every line is a row of `ncols` fields, an event line (``* ...``) or empty
    and every date ends within :data:`DATE_BYTES` bytes."""
    buf = np.frombuffer(body, dtype=np.uint8)
    if not buf.size:
        return []
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], ends + 1))
    if starts[-1] >= buf.size:
        starts = starts[:-1]
    stops = np.append(ends, buf.size)[:starts.size]
    commas = np.add.reduceat((buf == 44).view(np.uint8), starts) if starts.size else np.zeros(0)
    # reduceat counts up to the next start: the line itself (its \n is no comma)
    length = stops - starts - (buf[np.maximum(stops - 1, 0)] == 13)
    empty = length <= 0
    first = buf[starts]
    second = buf[np.minimum(starts + 1, buf.size - 1)]
    event = (first == 42) & (second == 32) & (length >= 2)
    rows = starts[~empty & ~event]
    if not bool((commas[~empty & ~event] == ncols - 1).all()):
        return None
    if not rows.size:
        return []
    window = np.pad(buf, (0, DATE_BYTES))[rows[:, None] + np.arange(DATE_BYTES)]
    comma = window == 44
    if not comma.any(axis=1).all():
        return None
    window[np.arange(DATE_BYTES) >= comma.argmax(axis=1)[:, None]] = 0
    keys = np.ascontiguousarray(window).view(f"S{DATE_BYTES}").ravel()
    distinct, index = np.unique(keys, return_index=True)
    return [d.decode("utf-8", "replace") for d in distinct[np.argsort(index)]]


def _last_date(body: bytes) -> str:
    """The first field of the last row of `body` (what :func:`_date_order` reads its separator from)."""
    for line in reversed(body.decode("utf-8").splitlines()):
        if line.strip() and not line.startswith("* "):
            return line.split(",", 1)[0]
    return ""


def _fast_times(dates: pl.Series, times: pl.Series, given: str | None, zone, timezone: str | None, source: str,
                assumptions: list[str]) -> pl.Series | None:
    """UTC times of the rows, or None when a date or time is not plainly valid."""
    distinct = dates.unique(maintain_order=True).to_list()
    # _date_order reads the first row's time and the last row's date separator
    records = [(k, [d, times[0]]) for k, d in enumerate([*distinct, dates[-1]], 1)]
    try:
        order = _date_order(records, given, source, assumptions)
    except ParseError:
        return None
    days = []
    for text in distinct:
        m = _DATE.fullmatch(text.strip())
        if not m:
            return None
        a, _, b, c = m.groups()
        year, month, day = {"MDY": (c, a, b), "DMY": (c, b, a), "YMD": (a, b, c)}[order]
        try:
            days.append(date(int(year), int(month), int(day)))
        except ValueError:
            return None
    parts = times.str.strip_chars().str.extract_groups(
        r"^([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?\s*([AaPp][Mm])?$").struct.unnest()
    if parts["1"].null_count():
        return None
    hour, minute = parts["1"].cast(pl.Int64), parts["2"].cast(pl.Int64)
    second = parts["3"].cast(pl.Int64).fill_null(0)
    ampm = parts["4"].str.to_uppercase()
    has_ampm = ampm.is_not_null()
    if ((has_ampm & ((hour < 1) | (hour > 12))).any() or (hour > 23).any() or (minute > 59).any()
            or (second > 59).any()):
        return None
    hour = pl.select(pl.when(has_ampm).then(hour % 12 + pl.when(ampm == "PM").then(12).otherwise(0))
                     .otherwise(hour)).to_series()
    day = dates.replace_strict(distinct, days, return_dtype=pl.Date)
    naive = pl.select(day.cast(pl.Datetime("us")) + pl.duration(hours=hour, minutes=minute, seconds=second)
                      ).to_series()
    if timezone is None:
        return naive.dt.replace_time_zone("UTC")
    try:
        local = naive.dt.replace_time_zone(str(zone), ambiguous="raise", non_existent="raise")
    except Exception:  # polars: ComputeError on a repeated or skipped local time
        return None
    return local.dt.convert_time_zone("UTC").cast(schema.UTC_TIME)


def _slow(data: bytes, *, source: str, timezone: str | None, date_order: str | None):
    """The line-by-line reader: every layout the fast one declines, and the one that
    names the line of an error. Returns what :func:`_fast` does."""
    lines, preamble, header, units = _layout(data, source)
    labels = [l.strip() for l in lines[header].split(",")]
    zone = _zone(timezone, source)
    assumptions: list[str] = []  # warned once the file has been read without error
    first_data = header + (2 if units is not None else 1)
    records: list[tuple[int, list[str]]] = []
    for i in range(first_data, len(lines)):
        line = lines[i]
        if not line.strip() or line.startswith("* "):  # event lines: "* Processes stopped: ..."
            continue
        fields = next(csv.reader([line]))
        if len(fields) != len(labels):
            raise ParseError(source, i + 1, f"{len(labels)} fields (as the header on line {header + 1})",
                             f"{len(fields)} fields in {line!r}")
        records.append((i + 1, fields))
    if not records:
        raise ParseError(source, len(lines), "data rows after the header", "none (truncated?)")
    order = _date_order(records, date_order, source, assumptions)
    times = [_timestamp(fields[0], fields[1], order, zone, source=source, line=n) for n, fields in records]

    columns: dict[str, list[float]] = {}
    spec: dict[str, tuple[str, str, str, float]] = {}
    dropped = []
    for j, label in enumerate(labels):
        if j < 2 or label in ("UpTime",):
            continue
        unit = units[j].strip() if units is not None else ""
        mapped = _map(label, unit)
        values = [f[j].strip(_SPACE) for _, f in records]
        if not unit and all(v and not _is_number(v) for v in values):
            dropped.append(label)  # a text column (e.g. memory timings): not a measurement
            continue
        what = f"a number in column '{label}'" + (f" ({unit})" if unit else "")
        key = f"c{j}"
        columns[key] = _column(values, mapped[3], records, source=source, what=what)
        spec[key] = mapped
    wide = pl.DataFrame({"time": pl.Series(times, dtype=schema.UTC_TIME), **{
        k: pl.Series(v, dtype=pl.Float64) for k, v in columns.items()}})
    return wide, spec, dropped, assumptions, preamble


def _map(label: str, unit: str) -> tuple[str, str, str, float]:
    """(metric, component, unit, factor) of a column."""
    if label in _LABELS:
        metric, component, factor = _LABELS[label]
        return metric, component, schema.METRICS[metric].unit, factor
    if m := _CPU_N.fullmatch(label):
        return "cpu_util", f"cpu{int(m.group(1)) - 1}", "percent", 1.0
    return f"{NAME}:{SENSOR_KINDS.get(unit, 'sensor')}", label, unit, 1.0


def _column(values: list[str], factor: float, records: list[tuple[int, list[str]]], *, source: str,
            what: str) -> list[float]:
    """A column's cells (stripped) as floats times `factor`, NaN for an empty cell. A cell in
    the grammar of readers._numbers is converted here (the per-cell call costs the
    line-by-line reader 60 %); any other goes to :func:`_scaled`, which names it."""
    out = []
    for k, text in enumerate(values):
        if not text:
            out.append(math.nan)
            continue
        if len(text) <= _numbers.MAX_LENGTH and _NUMBER.fullmatch(text):
            value = float(text) * factor
            if not math.isinf(value):
                out.append(value)
                continue
        out.append(_scaled(text, factor, source=source, line=records[k][0], what=what))
    return out


def _scaled(text: str, factor: float, *, source: str, line: int, what: str) -> float:
    """A cell by readers._numbers, times its column's factor (MB -> bytes), still finite."""
    value = _numbers.to_float(text, source=source, line=line, what=what) * factor
    if math.isinf(value):
        raise ParseError(source, line, f"{what} within a double's range once in bytes (up to "
                         f"{sys.float_info.max / factor:.2g})", repr(text))
    return value


def _is_number(text: str) -> bool:
    """A decimal number in ASCII digits (``48``, ``-0.5``, ``1e3``, ``1e999``), by the grammar
    of readers._numbers: not ``nan``/``inf``, ``1_0`` or other scripts' digits (a column of
    those alone, without a unit, is text)."""
    return bool(_NUMBER.fullmatch(text.strip(_SPACE)))


def _zone(name: str | None, source: str):
    if name is None:
        return dt_timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise WorkbenchError(f"{source}: unknown timezone {name!r}; expected an IANA name such as 'Europe/Madrid'") from None


def _date_order(records: list[tuple[int, list[str]]], given: str | None, source: str,
                assumptions: list[str]) -> str:
    if given is not None:
        if given not in DATE_ORDERS:
            raise WorkbenchError(f"`date_order` must be one of {', '.join(DATE_ORDERS)}, found {given!r}")
        return given
    first_big = second_big = None
    sep = None
    for n, fields in records:
        m = _DATE.fullmatch(fields[0].strip())
        if not m:
            raise ParseError(source, n, "a date such as 6/5/2025, 05.06.2025 or 2025-06-05 in column 1",
                             repr(fields[0]))
        if len(m.group(1)) == 4:
            return "YMD"
        sep = m.group(2)
        first_big = first_big or (n if int(m.group(1)) > 12 else None)
        second_big = second_big or (n if int(m.group(3)) > 12 else None)
    if first_big and second_big:
        raise ParseError(source, second_big, "one date order in the whole log (line "
                         f"{first_big} has a day first)", "a day in second place")
    if first_big:
        return "DMY"
    if second_big:
        return "MDY"
    ampm = bool(re.search(r"[AaPp][Mm]\s*$", records[0][1][1]))
    order = "MDY" if sep == "/" and ampm else "DMY"
    assumptions.append(f"dates such as {records[0][1][0]!r} do not show their order; read as "
                       f"{'month/day/year (the en-US order that goes with AM/PM times)' if order == 'MDY' else 'day first'}"
                       f" (pass date_order='{'DMY' if order == 'MDY' else 'MDY'}' if the machine used the other)")
    return order


def _timestamp(date: str, time: str, order: str, zone, *, source: str, line: int) -> datetime:
    d = _DATE.fullmatch(date.strip())
    t = _TIME.fullmatch(time.strip())
    if not d or not t:
        raise ParseError(source, line, "a date and a time such as 6/5/2025,4:36:36 PM", repr(f"{date},{time}"))
    a, _, b, c = d.groups()
    year, month, day = {"MDY": (c, a, b), "DMY": (c, b, a), "YMD": (a, b, c)}[order]
    hour, minute, second, ampm = t.groups()
    hour = int(hour)
    if ampm:
        if not 1 <= hour <= 12:
            raise ParseError(source, line, "an hour 1-12 with AM/PM", repr(time))
        hour = hour % 12 + (12 if ampm.upper() == "PM" else 0)
    try:
        naive = datetime(int(year), int(month), int(day), hour, int(minute), int(second or 0))
    except ValueError as exc:
        raise ParseError(source, line, f"a valid date and time ({order})", f"{date},{time} ({exc})") from None
    if zone is dt_timezone.utc:
        return naive.replace(tzinfo=dt_timezone.utc)
    early, late = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if early.utcoffset() != late.utcoffset():
        raise ParseError(source, line, f"a local time that exists once in {zone}",
                         f"{date},{time}: repeated or skipped at a daylight-saving change")
    return early.astimezone(dt_timezone.utc)


def _metadata(preamble: dict[str, str]) -> dict[str, str]:
    """The preamble (``version``, ``cpu_type``, ``motherboard_name``, ``video_adapter``,
    ``log_started``, ...) under snake_case keys, plus ``encoding`` and ``product``."""
    meta = {snake(k): v for k, v in preamble.items()}
    if "motherboard_name" in meta:
        meta["motherboard"] = meta["motherboard_name"]
    if meta.get("version", "").split():  # an empty 'Version,' line names no product
        meta["product"] = meta["version"].split()[0]
    return meta

