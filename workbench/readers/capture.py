"""Reader for the workbench's own capture files (written by :mod:`workbench.capture`).

A capture exists in two forms:

* **while it runs** (and after a crash): ``<name>.capture.jsonl``, UTF-8 JSON
  lines, appended and flushed (``fsync``) every flush interval, so a killed
  capture loses at most the lines written since the last flush. A kill can tear
  the last line; it is dropped with a :class:`TruncatedCaptureWarning`, nothing
  else is (a bad line anywhere else is a :class:`~workbench.errors.ParseError`).
* **when it finished**: Parquet, the measurement table itself, written by
  :func:`workbench.storage.write_table` with the JSONL header and events in its
  metadata document (:func:`document`: producer, machine = the header's
  ``meta``, settings = the rest of the header, events).

JSON lines (format version 1). Line 1 is the header; ``"format"`` is its first
key so the format is recognised from the first bytes::

    {"format": "workbench-capture", "version": 1, "source": "psutil-capture",
     "start": 1715340000.25, "started": "2024-05-10T11:20:00.250000+00:00",
     "interval": 1.0, "flush_interval": 1.0,
     "metrics": {"cpu_util": ["percent", "mean"], "mem_used": ["bytes", "last"], ...},
     "labels": {"condition": "native", ...},
     "meta": {"hostname": ..., "scope": "guest", "hypervisor": "KVM", "psutil": ..., ...}}

Every further line is an object whose ``"type"`` is one of:

``sample``
    ``{"type": "sample", "k": 12, "t": 12.0004, "stage": "idle", "values":
    {"cpu_util": {"total": 3.5, "cpu0": 2.0, ...}, ...}}``. ``k`` is the
    sample's index on the capture's grid (tick ``k`` is due at ``k * interval``
    seconds after ``start``), ``t`` the seconds after ``start`` at which the
    counters were read, so ``t - k * interval`` is the sampling lag. The sample
    summarizes the span since the previous sample's tick (``k = 0`` is the
    baseline reading, which yields no values): normally one interval, more when
    ticks were missed. ``null`` is "no value" (a counter went backwards).
``stage``
    a stage began at ``t``: ``{"type": "stage", "t": 5.0, "stage": "load",
    "how": "plan" | "mark" | "command"}``.
``command`` / ``exit``
    a wrapped command started (``argv``) / ended (``status``: its exit status,
    negative = killed by that signal, as :mod:`subprocess` reports it).
``note``
    something the capture wants on record (``message``), e.g. a process it
    could not read.
``end``
    the capture stopped normally (``reason``, ``samples``, ``missed_ticks``,
    ``cpu_seconds`` of the capturing process). Absent after a crash.

Emits (DESIGN.md §3): one row per value, ``source = psutil-capture``,
``time`` = ``start + t`` (UTC), ``interval`` = the capture's interval (its
resolution: a sample after missed ticks covers a longer span, which ``k`` tells,
but keeps the nominal interval so that comparisons do not split a capture into
cells by resolution),
``aggregate`` from the header (``mean`` for rates and percentages over the
interval, ``last`` for levels read at its end); plus, per sample,
``psutil-capture:lag`` (seconds the reading came after its tick) and, per
wrapped command, one ``psutil-capture:exit_status`` row (``aggregate =
single``). Labels recorded at capture time (``--label``) fill the label
columns; ``host``, ``scope`` and ``hypervisor`` default to the capturing
machine's (``meta``: ``hostname``, ``scope``, ``hypervisor``).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from .. import schema, storage
from ..errors import NativeMetricWarning, ParseError, WorkbenchError, WorkbenchWarning
from . import Parsed, _jsonload

NAME = "capture"
SOURCE = "psutil-capture"
FORMAT = "workbench-capture"
VERSION = 1
RECORD_TYPES = ("sample", "stage", "command", "exit", "note", "end")
LAG_METRIC = f"{SOURCE}:lag"
EXIT_METRIC = f"{SOURCE}:exit_status"


class TruncatedCaptureWarning(WorkbenchWarning):
    """The last line of a capture was cut off (the capture was killed while writing it)."""


@dataclass(frozen=True)
class CaptureFile:
    """A capture read back: its table plus what the table has no column for.

    Attributes
    ----------
    table : polars.DataFrame
        The measurement rows (labels as recorded; not yet validated).
    header : dict
        The JSONL header: ``start``, ``interval``, ``metrics``, ``labels``, ``meta``.
    events : list of dict
        Stage, command, exit, note and end records, in file order.
    dropped_line : int or None
        The line number of a torn last line that was dropped.
    """

    table: pl.DataFrame
    header: dict
    events: list[dict] = field(default_factory=list)
    dropped_line: int | None = None

    @property
    def complete(self) -> bool:
        """True when the capture stopped normally (an ``end`` record exists)."""
        return any(e["type"] == "end" for e in self.events)

    @property
    def exit_statuses(self) -> list[int]:
        """Exit statuses of the wrapped commands, in order."""
        return [e["status"] for e in self.events if e["type"] == "exit"]

    @property
    def meta(self) -> dict:
        """Machine metadata: host name, OS, CPU model, core counts, psutil version, ..."""
        return self.header.get("meta", {})


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse a capture (JSON lines or finished Parquet) into measurement rows and
    the machine and settings its header records (:func:`header_metadata`)."""
    captured = parse_capture(data, source=source)
    return Parsed(captured.table, header_metadata(captured.header))


def parse_capture(data: bytes, *, source: str) -> CaptureFile:
    """Parse a capture into a :class:`CaptureFile` (table, header, events).

    Raises
    ------
    ParseError
        Naming the line (JSONL) or the metadata key (Parquet) at fault.
    """
    if data[:4] == b"PAR1":
        return _parse_parquet(data, source=source)
    return _parse_jsonl(data, source=source)


def load(path: str | Path) -> CaptureFile:
    """Read a capture file (either form) with its header and events."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise WorkbenchError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_capture(data, source=str(path))


def _parse_jsonl(data: bytes, *, source: str) -> CaptureFile:
    lines = data.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline, as a clean one does
    dropped = None
    if torn.strip():
        # Written by a capture killed mid-write (SIGKILL, power loss): the unflushed
        # rest of the line is gone. One JSON object per line means a torn line can
        # never parse, so trying it is safe.
        try:
            record = _jsonload.loads(torn, source=source, line_offset=len(lines))
        except ParseError:
            record = None
        if isinstance(record, dict):
            lines.append(torn)
        else:
            dropped = len(lines) + 1
            warnings.warn(f"{source}:{dropped}: the last line is incomplete (the capture was "
                          f"interrupted while writing it); dropped", TruncatedCaptureWarning, stacklevel=3)
    if not lines or not lines[0].strip():
        raise ParseError(source, 1, f'a capture header {{"format": "{FORMAT}", ...}}', "an empty line")
    header = _header(_json_line(lines[0], 1, source), source)
    samples: list[tuple[int, dict]] = []
    events: list[dict] = []
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        record = _json_line(raw, number, source)
        kind = record.get("type")
        if kind not in RECORD_TYPES:
            raise ParseError(source, number, f"a record type among {', '.join(RECORD_TYPES)}", repr(kind))
        if kind == "sample":
            samples.append((number, record))
        else:
            _check_event(record, number, source)
            events.append(record)
    table = build_table(header, [s for _, s in samples], events, source=source, lines=[n for n, _ in samples])
    return CaptureFile(table, header, events, dropped)


def _json_line(raw: bytes, number: int, source: str) -> dict:
    try:
        record = _jsonload.loads(raw, source=source, what="a JSON object", line_offset=number - 1)
    except _jsonload.JSONSyntaxError:  # the line as found (too deep, a number out of range: as raised)
        raise ParseError(source, number, "a JSON object", raw.decode("utf-8", "replace")) from None
    if not isinstance(record, dict):
        raise ParseError(source, number, "a JSON object", raw.decode("utf-8", "replace"))
    return record


def _header(record: dict, source: str) -> dict:
    if record.get("format") != FORMAT:
        raise ParseError(source, 1, f'a capture header {{"format": "{FORMAT}", ...}}',
                         json.dumps(record)[:80])
    if record.get("version") != VERSION:
        raise ParseError(source, 1, f"format version {VERSION}", f"version {record.get('version')!r}")
    for key in ("start", "interval"):
        if not _is_number(record.get(key)) or not 0 < record[key] < _LAST_SECOND:
            raise ParseError(source, f"line 1 '{key}'", "a positive number of seconds before the year 10000",
                             repr(record.get(key)))
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        raise ParseError(source, "line 1 'metrics'", "an object metric -> [unit, aggregate]", repr(metrics))
    for name, spec in metrics.items():
        if (not isinstance(spec, list) or len(spec) != 2 or not all(isinstance(s, str) for s in spec)
                or spec[1] not in schema.AGGREGATES):
            raise ParseError(source, f"line 1 'metrics' '{name}'",
                             f"[unit, aggregate] with aggregate one of {', '.join(schema.AGGREGATES)}", repr(spec))
        known = schema.METRICS.get(name)
        if known is not None and known.unit != spec[0]:
            raise ParseError(source, f"line 1 'metrics' '{name}'", f"unit '{known.unit}'", repr(spec[0]))
    labels = record.get("labels", {})
    if not isinstance(labels, dict) or not set(labels) <= set(schema.LABELS):
        raise ParseError(source, "line 1 'labels'", f"an object with keys among {', '.join(schema.LABELS)}",
                         repr(labels))
    return record


def _check_event(record: dict, number: int, source: str) -> None:
    if not _is_number(record.get("t")):
        raise ParseError(source, number, "'t': seconds since the start", repr(record.get("t")))
    if record["type"] == "exit" and not isinstance(record.get("status"), int):
        raise ParseError(source, number, "'status': an integer exit status", repr(record.get("status")))


def _is_number(value: Any) -> bool:
    """A finite JSON number (not a bool) within a timestamp's range (the loader refuses
    infinities; a finite 1e300 would still overflow a microsecond time)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < _LAST_SECOND


#: 10000-01-01 in seconds since the epoch: no time, offset or duration of a capture reaches it.
_LAST_SECOND = 253402300800


def build_table(header: dict, samples: list[dict], events: list[dict] = (), *, source: str,
                lines: list[int] | None = None, first_k: int = 0) -> pl.DataFrame:
    """Turn a header and sample records into measurement rows.

    Used for files and for the in-memory view of a running capture, so both give
    the same table. Columns are built as lists rather than row dicts: a
    one-hour 10 Hz capture has about two million values.

    Parameters
    ----------
    header : dict
        The capture header (see the module docstring).
    samples : list of dict
        Sample records in file order.
    events : list of dict
        Other records; ``exit`` records become ``psutil-capture:exit_status`` rows.
    source : str
        Named in errors and recorded in ``source_file``.
    lines : list of int, optional
        The file line of each sample, for error messages.
    first_k : int
        The grid index the first sample's span starts at (0: the baseline reading;
        later when older samples were dropped from memory).
    """
    interval = float(header["interval"])
    start_us = round(float(header["start"]) * 1e6)
    declared = header["metrics"]
    native: dict[str, str] = {}
    for name in declared:
        if name not in schema.METRICS:
            native[name] = f"{SOURCE}:{name}"
            warnings.warn(f"{source}: metric '{name}' is not in the vocabulary; kept as '{native[name]}'",
                          NativeMetricWarning, stacklevel=3)
    time_us: list[int] = []
    span: list[float] = []
    stage: list[str | None] = []
    metric: list[str] = []
    component: list[str] = []
    value: list[float] = []
    previous_k = first_k
    for index, sample in enumerate(samples):
        where = lines[index] if lines is not None else f"sample {index + 1}"
        k, t, values = sample.get("k"), sample.get("t"), sample.get("values")
        if not isinstance(k, int) or isinstance(k, bool) or k <= previous_k:
            raise ParseError(source, where, f"'k': a grid index greater than {previous_k}", repr(k))
        if not _is_number(t):
            raise ParseError(source, where, "'t': seconds since the start", repr(t))
        if not isinstance(values, dict):
            raise ParseError(source, where, "'values': an object metric -> {component: value}", repr(values))
        label = sample.get("stage")
        if label is not None and not isinstance(label, str):
            raise ParseError(source, where, "'stage': a string or null", repr(label))
        when = start_us + round(t * 1e6)
        previous_k = k
        count = 0
        for name, by_component in values.items():
            if name not in declared:
                raise ParseError(source, where, "a metric declared in the header", repr(name))
            if not isinstance(by_component, dict):
                raise ParseError(source, where, f"'{name}': an object component -> value", repr(by_component))
            for comp, v in by_component.items():
                if v is None:
                    v = math.nan
                elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise ParseError(source, where, f"'{name}' '{comp}': a number or null", repr(v))
                metric.append(native.get(name, name))
                component.append(comp)
                value.append(float(v))
                count += 1
        metric.append(LAG_METRIC)
        component.append("total")
        value.append(t - k * interval)
        count += 1
        time_us.extend([when] * count)
        span.extend([interval] * count)
        stage.extend([label] * count)
    units = {native.get(n, n): spec[0] for n, spec in declared.items()}
    units[LAG_METRIC] = "seconds"
    aggregates = {native.get(n, n): spec[1] for n, spec in declared.items()}
    aggregates[LAG_METRIC] = "last"
    for event in events:
        if event["type"] != "exit":
            continue
        time_us.append(start_us + round(event["t"] * 1e6))
        span.append(None)
        stage.append(event.get("stage"))
        metric.append(EXIT_METRIC)
        component.append("command")
        value.append(float(event["status"]))
    units[EXIT_METRIC] = "1"
    aggregates[EXIT_METRIC] = "single"

    labels = header.get("labels", {})
    meta = header.get("meta", {})
    constants = {name: labels.get(name) for name in schema.LABELS if name != "stage"}
    # Labels the user did not give: the capturing machine's defaults, recorded in the
    # header's meta by workbench.machine.default_labels (captures before it recorded
    # only the host name; their scope falls back to readers.DEFAULT_LABELS).
    for name, key in (("host", "hostname"), ("scope", "scope"), ("hypervisor", "hypervisor")):
        if constants.get(name) is None:
            constants[name] = meta.get(key)
    n = len(value)
    frame = pl.DataFrame({
        "time": pl.Series(time_us, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        "interval": pl.Series(span, dtype=pl.Float64),
        "stage": pl.Series(stage, dtype=pl.String),
        "metric": pl.Series(metric, dtype=pl.String),
        "component": pl.Series(component, dtype=pl.String),
        "value": pl.Series(value, dtype=pl.Float64),
    })
    frame = frame.with_columns(
        pl.col("metric").replace_strict(units, return_dtype=pl.String).alias("unit"),
        pl.col("metric").replace_strict(aggregates, return_dtype=pl.String).alias("aggregate"),
        **{name: pl.lit(v, dtype=schema.SCHEMA[name]) for name, v in constants.items() if name != "stage"},
        source=pl.lit(SOURCE, dtype=schema.LABEL),
        source_file=pl.lit(source, dtype=schema.LABEL),
    )
    if labels.get("stage") is not None:  # a --label stage=... overrides the capture's own stages
        frame = frame.with_columns(stage=pl.lit(labels["stage"], dtype=schema.LABEL))
    return frame.select(list(schema.COLUMNS)).cast(schema.SCHEMA) if n else schema.empty()


def _parse_parquet(data: bytes, *, source: str) -> CaptureFile:
    frame, doc = storage.parse_table(data, source=source)
    producer = doc.get("producer", {}).get("name")
    if producer != FORMAT:
        raise ParseError(source, f"Parquet metadata '{storage.KEY}' producer",
                         "a finished capture written by `workbench capture` (read other measurement "
                         "tables with workbench.read_table)", repr(producer) if producer else "no producer")
    try:
        header = header_from_document(doc)
        events = list(doc.get("events", []))
    except (KeyError, TypeError, AttributeError):
        raise ParseError(source, f"Parquet metadata '{storage.KEY}'", "a capture's producer, machine and settings",
                         json.dumps(doc)[:80]) from None
    return CaptureFile(frame, header, events)


def document(header: dict, events: list[dict]) -> dict[str, Any]:
    """The metadata document (:mod:`workbench.storage`) of a finished capture."""
    settings = {k: v for k, v in header.items() if k not in ("format", "version", "meta")}
    return {"producer": {"name": header["format"], "version": header["version"]},
            "machine": header.get("meta", {}), "settings": settings, "events": list(events)}


def header_from_document(doc: dict[str, Any]) -> dict:
    """The JSONL header back from a finished capture's :func:`document`."""
    producer = doc["producer"]
    return {"format": producer["name"], "version": producer["version"], **doc.get("settings", {}),
            "meta": doc.get("machine", {})}


def header_metadata(header: dict) -> dict[str, str]:
    """The capturing machine (``machine.*``) and the capture's settings (``capture.*``)
    as string pairs: the reader's metadata, alike for both forms of a capture."""
    meta = {f"machine.{k}": v for k, v in header.get("meta", {}).items()}
    for key in ("started", "interval", "flush_interval", "plan", "command", "processes"):
        if header.get(key) not in (None, [], ""):
            meta[f"capture.{key}"] = header[key]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}


def _sniff(head: bytes) -> bool:
    # The header's first key is "format" (the writer puts it first for this). A
    # finished capture is Parquet: the `workbench-table` reader reads it, as every
    # table the workbench writes; parse_capture() still reads both forms.
    return head.lstrip().startswith(b'{"format": "' + FORMAT.encode() + b'"')


# Registration last, as every reader module does.
from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".capture.jsonl",),
                description="workbench capture in progress or crashed (JSON lines; finished: workbench-table)")
