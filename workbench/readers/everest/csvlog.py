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
import warnings
from datetime import datetime
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from ... import schema
from ...errors import ParseError, WorkbenchError
from .. import Parsed
from ._common import SENSOR_KINDS, AssumptionWarning, snake, warn_native

NAME = "everest-csvlog"
#: Header labels of the date and time columns: English (sample), and localized forms
#: [INFERRED, §4.5: "Fecha,Hora"]. Without a match the header is the line before the
#: units row (which starts with ",,").
DATE_TIME_LABELS = {("Date", "Time"), ("Fecha", "Hora"), ("Datum", "Zeit"), ("Дата", "Время"),
                    ("Data", "Hora"), ("Date", "Heure"), ("Data", "Ora")}
_LABELS = {"CPU Utilization": ("cpu_util", "total", 1.0), "Memory Utilization": ("mem_util", "total", 1.0),
           "Used Memory": ("mem_used", "total", schema.MIB), "Free Memory": ("mem_free", "total", schema.MIB)}
_CPU_N = re.compile(r"CPU(\d+) Utilization")
_DATE = re.compile(r"(\d{1,4})([./-])(\d{1,2})\2(\d{1,4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?")
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
        values = [f[j].strip() for _, f in records]
        numeric = [_number(v) for v in values]
        if not unit and all(v is None and values[k] for k, v in enumerate(numeric)):
            dropped.append(label)  # a text column (e.g. memory timings): not a measurement
            continue
        for k, v in enumerate(numeric):
            if v is None and values[k]:
                raise ParseError(source, records[k][0], f"a number in column '{label}'"
                                 + (f" ({unit})" if unit else ""), repr(values[k]))
        key = f"c{j}"
        columns[key] = [math.nan if v is None else v * mapped[3] for v in numeric]
        spec[key] = mapped
    wide = pl.DataFrame({"time": pl.Series(times, dtype=schema.UTC_TIME), **{
        k: pl.Series(v, dtype=pl.Float64) for k, v in columns.items()}})
    long = wide.unpivot(index="time", variable_name="key", value_name="value")
    mapping = pl.DataFrame({"key": list(spec), "metric": [s[0] for s in spec.values()],
                            "component": [s[1] for s in spec.values()], "unit": [s[2] for s in spec.values()]})
    long = long.join(mapping, on="key", how="left", maintain_order="left")
    table = long.select(
        *[pl.lit(None, dtype=schema.SCHEMA[c]).alias(c) for c in ("experiment", "condition", "hypervisor",
                                                                  "host", "guest", "scope", "stage", "run")],
        pl.col("time"), pl.lit(None, dtype=pl.Float64).alias("interval"), pl.lit("last").alias("aggregate"),
        "metric", "component", "value", "unit", pl.lit(NAME).alias("source"), pl.lit(source).alias("source_file"),
    ).cast(dict(schema.SCHEMA))
    if timezone is None:
        assumptions.insert(0, "the log's times are the local clock of the machine that wrote it and no "
                              "timezone was given: read as UTC (pass timezone='Area/City' to state it)")
    for text in assumptions:
        warnings.warn(f"{source}: {text}", AssumptionWarning, stacklevel=2)
    warn_native(table, source=source, dropped=dropped)
    return Parsed(table, _metadata(preamble))


def _map(label: str, unit: str) -> tuple[str, str, str, float]:
    """(metric, component, unit, factor) of a column."""
    if label in _LABELS:
        metric, component, factor = _LABELS[label]
        return metric, component, schema.METRICS[metric].unit, factor
    if m := _CPU_N.fullmatch(label):
        return "cpu_util", f"cpu{int(m.group(1)) - 1}", "percent", 1.0
    return f"{NAME}:{SENSOR_KINDS.get(unit, 'sensor')}", label, unit, 1.0


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


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
    if "version" in meta:
        meta["product"] = meta["version"].split()[0]
    return meta

