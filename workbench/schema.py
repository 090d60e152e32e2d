"""The measurement table: columns, dtypes, metric vocabulary, units, ``validate()``.

Every reader, the capture and the probe produce this one long ("tidy") table:
one row per observed value (DESIGN.md §3-4). Polars is the in-memory engine,
Parquet the stored form. This module declares the contract once, as tables
(:data:`COLUMNS`, :data:`METRICS`), and :func:`validate` is the single gate
every frame passes.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import polars as pl

from .errors import SchemaError

UTC_TIME = pl.Datetime("us", "UTC")

#: Column name -> (dtype, nullable, meaning). Order is the canonical column order.
COLUMNS: dict[str, tuple[pl.DataType, bool, str]] = {
    "experiment": (pl.String, False, "manifest id, e.g. thesis-2015"),
    "condition": (pl.String, False, "the compared group, e.g. virtualized"),
    "hypervisor": (pl.String, True, "e.g. VMware Workstation 10.0.3"),
    "host": (pl.String, False, "physical machine"),
    "guest": (pl.String, True, "VM name; null for host-level measurements"),
    "scope": (pl.String, False, "host, guest or control-domain"),
    "stage": (pl.String, True, "workload phase"),
    "run": (pl.Int32, False, "repetition index: the independent unit for statistics"),
    "time": (UTC_TIME, True, "end of the sample's interval; null for one-shot results"),
    "interval": (pl.Float64, True, "seconds a value summarizes; null for one-shot results"),
    "aggregate": (pl.String, False, "mean, min, max, last, best or single"),
    "metric": (pl.String, False, "from the vocabulary, or '<source>:<native name>'"),
    "component": (pl.String, False, "total, cpuN, memory, L1..L3, interface, device, ..."),
    "value": (pl.Float64, False, "in the metric's canonical unit; NaN = no value"),
    "unit": (pl.String, False, "canonical unit of the metric"),
    "source": (pl.String, False, "reader name"),
    "source_file": (pl.String, False, "path relative to the data root, or URI"),
}
SCHEMA = pl.Schema({name: spec[0] for name, spec in COLUMNS.items()})

#: The one optional column: why a value is suspect (the interference guards or sanity
#: checks that fired while the workbench measured it, :mod:`workbench.guards`); null when
#: nothing was seen. Readers need not produce it: :func:`validate` adds it (null) where a
#: frame lacks it, so every validated table has :data:`TABLE_COLUMNS`.
FLAG = "flag"
FLAG_SPEC: tuple[pl.DataType, bool, str] = (pl.String, True, "why the value is suspect; null = nothing seen")
TABLE_COLUMNS: tuple[str, ...] = (*COLUMNS, FLAG)
TABLE_SCHEMA = pl.Schema({**SCHEMA, FLAG: FLAG_SPEC[0]})

#: Columns an experiment manifest (or ``--label``) may set on every row of a file.
LABELS = ("experiment", "condition", "hypervisor", "host", "guest", "scope", "stage", "run")

SCOPES = ("host", "guest", "control-domain")
AGGREGATES = ("mean", "min", "max", "last", "best", "single")


@dataclass(frozen=True)
class Metric:
    """One entry of the metric vocabulary (DESIGN.md §4)."""

    name: str
    unit: str
    components: str  #: regular expression the component must match in full
    description: str
    bounds: tuple[float, float] = (-math.inf, math.inf)  #: legal value range (NaN allowed)


_CPU = r"total|cpu\d+"
_LEVELS = r"memory|L1|L2|L3"
_PCT = (0.0, 100.0)
_NONNEG = (0.0, math.inf)

#: The metric vocabulary: name -> Metric. One table, no if-chains (cf. pyperf's METADATA).
METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("cpu_util", "percent", _CPU, "busy share per component", _PCT),
    Metric("cpu_steal", "percent", _CPU, "time stolen by the hypervisor", _PCT),
    Metric("cpu_iowait", "percent", _CPU, "time waiting for I/O", _PCT),
    Metric("mem_used", "bytes", "total", "memory in use", _NONNEG),
    Metric("mem_free", "bytes", "total", "memory free", _NONNEG),
    Metric("mem_total", "bytes", "total", "memory installed/assigned", _NONNEG),
    Metric("mem_util", "percent", "total", "memory in use as share of total", _PCT),
    Metric("mem_read_bw", "bytes/s", _LEVELS, "read bandwidth", _NONNEG),
    Metric("mem_write_bw", "bytes/s", _LEVELS, "write bandwidth", _NONNEG),
    Metric("mem_copy_bw", "bytes/s", _LEVELS, "copy bandwidth", _NONNEG),
    Metric("mem_latency", "seconds", _LEVELS, "load-to-use latency", _NONNEG),
    Metric("stream_copy_bw", "bytes/s", "memory", "STREAM Copy best rate", _NONNEG),
    Metric("stream_scale_bw", "bytes/s", "memory", "STREAM Scale best rate", _NONNEG),
    Metric("stream_add_bw", "bytes/s", "memory", "STREAM Add best rate", _NONNEG),
    Metric("stream_triad_bw", "bytes/s", "memory", "STREAM Triad best rate", _NONNEG),
    Metric("net_rx", "bytes/s", r".+", "received per interface", _NONNEG),
    Metric("net_tx", "bytes/s", r".+", "sent per interface", _NONNEG),
    Metric("disk_read", "bytes/s", r".+", "read per device", _NONNEG),
    Metric("disk_write", "bytes/s", r".+", "written per device", _NONNEG),
    Metric("load_avg", "1", "total", "run-queue load average", _NONNEG),
    Metric("swap_used", "bytes", "total", "swap space in use", _NONNEG),
    Metric("swap_total", "bytes", "total", "swap space configured", _NONNEG),
    Metric("proc_cpu_util", "percent", r".+", "CPU of one process, share of all cores (component name[pid])", _PCT),
    Metric("proc_rss", "bytes", r".+", "resident memory of one process (component name[pid])", _NONNEG),
    Metric("bench_score", "score", r".+", "other EVEREST/AIDA64 benchmark pages"),
]}

# A metric outside the vocabulary is kept as "<source>:<native name>" (DESIGN.md §3).
_NATIVE_METRIC = re.compile(r"[A-Za-z0-9_.-]+:.+")

#: Unit conversions used by readers, written down once with their reason.
#: EVEREST/AIDA64 print memory *sizes* in MB meaning MiB (Windows convention: the
#: thesis host shows 3070 MB for 3 GiB minus shared video memory), but bandwidth in
#: "MB/s" which we take as 10^6 bytes/s (SI). No vendor document fixes the latter;
#: ratios between conditions do not depend on the choice.
MIB = 1024 * 1024
KIB = 1024
MB_PER_S = 1e6
NS = 1e-9

#: Display helpers: canonical unit -> (display unit, factor to multiply by).
DISPLAY: dict[str, tuple[str, float]] = {
    "bytes/s": ("MB/s", 1 / MB_PER_S),
    "bytes": ("MiB", 1 / MIB),
    "seconds": ("ns", 1 / NS),
    "percent": ("%", 1.0),
    "1": ("", 1.0),
    "score": ("score", 1.0),
}


def display_unit(metric: str) -> tuple[str, float]:
    """Return ``(unit label, factor)`` to show values of `metric` in human units."""
    m = METRICS.get(metric)
    if m is None:
        return ("", 1.0)
    return DISPLAY.get(m.unit, (m.unit, 1.0))


def to_display(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``display_value`` and ``display_unit`` columns (MB/s, MiB, ns, %)."""
    units = {name: display_unit(name) for name in frame["metric"].unique().to_list()}
    return frame.with_columns(
        display_value=pl.col("value") * pl.col("metric").replace_strict(
            {k: v[1] for k, v in units.items()}, default=1.0, return_dtype=pl.Float64),
        display_unit=pl.col("metric").replace_strict(
            {k: v[0] for k, v in units.items()}, default="", return_dtype=pl.String),
    )


def empty() -> pl.DataFrame:
    """An empty measurement table (the required columns; :func:`validate` adds ``flag``)."""
    return pl.DataFrame(schema=SCHEMA)


def select_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The table's columns in canonical order, keeping ``flag`` where the frame has it
    (for readers of stored tables, which must not drop it)."""
    return frame.select([*COLUMNS, *([FLAG] if FLAG in frame.columns else [])])


def with_flag(frame: pl.DataFrame, flag: str | None) -> pl.DataFrame:
    """Set the ``flag`` of every row (None clears it)."""
    return frame.with_columns(pl.lit(flag, dtype=pl.String).alias(FLAG))


def from_rows(rows: Iterable[Mapping[str, Any]], **defaults: Any) -> pl.DataFrame:
    """Build a table from row dicts; missing columns come from `defaults` or are null.

    ``unit`` is filled from the vocabulary when a row leaves it out. The result is
    cast to the canonical dtypes but not validated: readers call :func:`validate`
    once labels are attached.
    """
    records = []
    for row in rows:
        rec = {name: row.get(name, defaults.get(name)) for name in TABLE_COLUMNS}
        if rec["unit"] is None and rec["metric"] in METRICS:
            rec["unit"] = METRICS[rec["metric"]].unit
        records.append(rec)
    if not records:
        return empty()
    return pl.DataFrame(records, schema=TABLE_SCHEMA, orient="row")


def validate(frame: pl.DataFrame, *, source: str | None = None) -> pl.DataFrame:
    """Check `frame` against the measurement-table contract and return it.

    Parameters
    ----------
    frame : polars.DataFrame
        Candidate table. Columns may come in any order; the returned frame has
        the canonical order. Dtypes must already be the canonical ones: a wrong
        dtype is an error, not something fixed silently.
    source : str, optional
        Named in error messages (the file or reader the frame came from).

    Raises
    ------
    SchemaError
        Naming the first offending column, what it should hold and what it holds.
    """
    if FLAG not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(FLAG))
    elif frame.schema[FLAG] != FLAG_SPEC[0]:
        raise SchemaError(FLAG, f"dtype {FLAG_SPEC[0]}", f"dtype {frame.schema[FLAG]}", source)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(missing[0], "a column of the measurement table",
                          f"no such column (missing: {', '.join(missing)})", source)
    extra = [c for c in frame.columns if c not in TABLE_COLUMNS]
    if extra:
        raise SchemaError(extra[0], f"only the columns {', '.join(COLUMNS)}",
                          "an extra column", source)
    for name, (dtype, nullable, _) in COLUMNS.items():
        if frame.schema[name] != dtype:
            raise SchemaError(name, f"dtype {dtype}", f"dtype {frame.schema[name]}", source)
        if not nullable and frame[name].null_count():
            raise SchemaError(name, "no nulls", f"{frame[name].null_count()} null value(s)", source)
    frame = frame.select(list(TABLE_COLUMNS))
    if frame.is_empty():
        return frame

    for name in ("experiment", "condition", "host", "metric", "component", "source", "source_file"):
        if (frame[name].str.strip_chars() == "").any():
            raise SchemaError(name, "non-empty strings", "an empty string", source)
    _check_in(frame, "scope", SCOPES, source)
    _check_in(frame, "aggregate", AGGREGATES, source)
    if (frame["run"] < 0).any():
        raise SchemaError("run", "run >= 0", str(frame["run"].min()), source)
    bad_interval = frame.filter(pl.col("interval") <= 0)
    if bad_interval.height:
        raise SchemaError("interval", "a positive number of seconds",
                          str(bad_interval["interval"][0]), source)

    combos = frame.select("metric", "unit", "component").unique()
    for metric, unit, component in combos.iter_rows():
        spec = METRICS.get(metric)
        if spec is None:
            if not _NATIVE_METRIC.fullmatch(metric):
                raise SchemaError("metric", f"one of {', '.join(METRICS)} or '<source>:<native name>'",
                                  repr(metric), source)
            continue
        if unit != spec.unit:
            raise SchemaError("unit", f"'{spec.unit}' for metric {metric}", repr(unit), source)
        if not re.fullmatch(spec.components, component):
            raise SchemaError("component", f"a component matching '{spec.components}' for {metric}",
                              repr(component), source)
    for metric, spec in METRICS.items():
        low, high = spec.bounds
        if math.isinf(low) and math.isinf(high):
            continue
        out = frame.filter((pl.col("metric") == metric) & pl.col("value").is_not_nan()
                           & ((pl.col("value") < low) | (pl.col("value") > high)))
        if out.height:
            raise SchemaError("value", f"{metric} within [{low:g}, {high:g}] {spec.unit}",
                              f"{out['value'][0]!r} (component {out['component'][0]})", source)
    return frame


def _check_in(frame: pl.DataFrame, column: str, legal: tuple[str, ...], source: str | None) -> None:
    bad = frame.filter(~pl.col(column).is_in(legal))
    if bad.height:
        raise SchemaError(column, f"one of {', '.join(legal)}", repr(bad[column][0]), source)
