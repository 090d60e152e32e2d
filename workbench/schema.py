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

# The vocabulary and the labels live in workbench.vocabulary (plain Python, no polars:
# the capture's sampling process needs them); everyone still reads them from here.
from .vocabulary import (  # noqa: F401 - re-exported
    AA_SUFFIX,
    AGGREGATES,
    DISPLAY,
    KIB,
    LABELS,
    MB_PER_S,
    METRICS,
    MIB,
    NS,
    REQUIRED_LABELS,
    RUN_MAX,
    SCOPES,
    Direction,
    Metric,
    check_labels,
)
from .vocabulary import metric as _metric

metric = _metric  # re-exported (an assignment: validate() names a loop variable `metric`)

UTC_TIME = pl.Datetime("us", "UTC")
#: Label columns are dictionary-encoded: a long table repeats a few dozen strings millions of
#: times, and a category code costs 4 bytes a row where a string costs 16 or more (Parquet
#: stores them as dictionary pages). Readers may build them as ``pl.String``: :func:`validate`
#: encodes them once. Compare them with string literals, ``is_in`` or joins on other label
#: columns; cast to ``pl.String`` before ``.str`` operations or a join with plain strings.
LABEL = pl.Categorical()

#: Column name -> (dtype, nullable, meaning). Order is the canonical column order.
COLUMNS: dict[str, tuple[pl.DataType, bool, str]] = {
    "experiment": (LABEL, False, "manifest id, e.g. thesis-2015"),
    "condition": (LABEL, False, "the compared group, e.g. virtualized"),
    "hypervisor": (LABEL, True, "e.g. VMware Workstation 10.0.3"),
    "host": (LABEL, False, "physical machine"),
    "guest": (LABEL, True, "VM name; null for host-level measurements"),
    "scope": (LABEL, False, "host, guest or control-domain"),
    "stage": (LABEL, True, "workload phase"),
    "run": (pl.Int32, False, "repetition index: the independent unit for statistics"),
    "time": (UTC_TIME, True, "end of the sample's interval; null for one-shot results"),
    "interval": (pl.Float64, True, "seconds a value summarizes; null for one-shot results"),
    "aggregate": (LABEL, False, "mean, min, max, last, best or single"),
    "metric": (LABEL, False, "from the vocabulary, or '<source>:<native name>'"),
    "component": (LABEL, False, "total, cpuN, memory, L1..L3, interface, device, ..."),
    "value": (pl.Float64, False, "in the metric's canonical unit; NaN = no value"),
    "unit": (LABEL, False, "canonical unit of the metric"),
    "source": (LABEL, False, "reader name"),
    "source_file": (LABEL, False, "path relative to the data root, or URI"),
}
SCHEMA = pl.Schema({name: spec[0] for name, spec in COLUMNS.items()})

#: Optional columns. ``flag``: why a value is suspect (the interference guards or sanity
#: checks that fired while the workbench measured it, :mod:`workbench.guards`); null when
#: nothing was seen. ``bound``: null for a measured value; ``lower`` or ``upper`` when the
#: source only says the true value is above or below it (the thesis's "exceeded 50 %",
#: "had not reached 40 %"): statistics never average a bound with measurements
#: (:mod:`workbench.stats` compares bounds by what they allow). Readers need not produce
#: them: :func:`validate` adds them (null) where a frame lacks them, so every validated
#: table has :data:`TABLE_COLUMNS`.
FLAG = "flag"
FLAG_SPEC: tuple[pl.DataType, bool, str] = (LABEL, True, "why the value is suspect; null = nothing seen")
BOUND = "bound"
BOUND_SPEC: tuple[pl.DataType, bool, str] = (LABEL, True, "lower or upper: the value is only a bound; "
                                                              "null = measured")
BOUNDS = ("lower", "upper")
OPTIONAL: dict[str, tuple[pl.DataType, bool, str]] = {FLAG: FLAG_SPEC, BOUND: BOUND_SPEC}
TABLE_COLUMNS: tuple[str, ...] = (*COLUMNS, *OPTIONAL)
TABLE_SCHEMA = pl.Schema({**SCHEMA, **{name: spec[0] for name, spec in OPTIONAL.items()}})

@dataclass(frozen=True)
class CacheMemoryLayout:
    """The EVEREST/AIDA64 Cache & Memory window: levels (rows) x metrics (columns),
    each with the window's English label. Declared once (:data:`CACHE_MEMORY`) for the
    reader, the thesis transcription, the probe and the figures.

    Attributes
    ----------
    rows : tuple of (component, label)
        In the window's order: ``("memory", "Memory"), ("L1", "L1 Cache"), ...``.
    columns : tuple of (metric, label)
        In the window's order: ``("mem_read_bw", "Read"), ...``.
    """

    rows: tuple[tuple[str, str], ...]
    columns: tuple[tuple[str, str], ...]

    @property
    def levels(self) -> tuple[str, ...]:
        """Components in the window's row order (memory, L1, L2, L3)."""
        return tuple(c for c, _ in self.rows)

    @property
    def levels_by_size(self) -> tuple[str, ...]:
        """Components from the smallest working set to the largest (L1, L2, L3, memory)."""
        return (*self.levels[1:], self.levels[0])

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metrics in the window's column order (read, write, copy, latency)."""
        return tuple(m for m, _ in self.columns)

    def row_label(self, component: str) -> str:
        """``"L1 Cache"`` for ``"L1"``."""
        return dict(self.rows)[component]

    def column_label(self, metric_name: str, *, unit: bool = False) -> str:
        """``"Read"``, or with ``unit=True`` ``"Read (MB/s)"`` (the metric's display unit)."""
        label = dict(self.columns)[metric_name]
        return f"{label} ({metric(metric_name).display_unit})" if unit else label

    def component(self, label: str) -> str:
        """The component of a row label (``"L1 Cache"`` -> ``"L1"``)."""
        return {lab: c for c, lab in self.rows}[label]

    def metric(self, label: str) -> str:
        """The metric of a column label (``"Read"`` -> ``"mem_read_bw"``)."""
        return {lab: m for m, lab in self.columns}[label]


#: The Cache & Memory layout (EVEREST v5.50 window, AIDA64 alike; the thesis's figures 69-71).
CACHE_MEMORY = CacheMemoryLayout(
    rows=(("memory", "Memory"), ("L1", "L1 Cache"), ("L2", "L2 Cache"), ("L3", "L3 Cache")),
    columns=(("mem_read_bw", "Read"), ("mem_write_bw", "Write"), ("mem_copy_bw", "Copy"),
             ("mem_latency", "Latency")),
)

# A metric outside the vocabulary is kept as "<source>:<native name>" (DESIGN.md §3).
_NATIVE_METRIC = re.compile(r"[A-Za-z0-9_.-]+:.+")

def display_unit(metric_name: str, unit: str | None = None) -> tuple[str, float]:
    """Return ``(unit label, factor)`` to show values of `metric_name` in human units.

    A name outside the vocabulary shows its native `unit` (the table's ``unit``
    column) unchanged, factor 1.
    """
    spec = metric(metric_name, unit)
    return (spec.display_unit, spec.display_factor)


def to_display(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``display_value`` and ``display_unit`` columns (MB/s, MiB, ns, %; the native
    unit for metrics outside the vocabulary)."""
    names = [n for n in frame["metric"].unique().to_list() if n in METRICS]
    known = pl.col("metric").is_in(names)
    return frame.with_columns(
        display_value=pl.col("value") * pl.col("metric").replace_strict(
            {n: METRICS[n].display_factor for n in names}, default=1.0, return_dtype=pl.Float64),
        display_unit=pl.when(known).then(pl.col("metric").replace_strict(
            {n: METRICS[n].display_unit for n in names}, default="", return_dtype=pl.String))
        .otherwise(pl.col("unit")),
    )


def empty() -> pl.DataFrame:
    """An empty measurement table (the required columns; :func:`validate` adds the optional ones)."""
    return pl.DataFrame(schema=SCHEMA)


def select_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """The table's columns in canonical order, keeping the optional ones (``flag``,
    ``bound``) where the frame has them (for readers of stored tables, which must not drop them)."""
    return frame.select([*COLUMNS, *(c for c in OPTIONAL if c in frame.columns)])


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
        the canonical order. Dtypes must already be the canonical ones (a wrong
        dtype is an error, not something fixed silently), except that label columns
        may be plain strings: they are dictionary-encoded (:data:`LABEL`) here.
    source : str, optional
        Named in error messages (the file or reader the frame came from).

    Raises
    ------
    SchemaError
        Naming the first offending column, what it should hold and what it holds.
    """
    for name, (dtype, _, _) in OPTIONAL.items():
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=dtype).alias(name))
    encode = [n for n, t in frame.schema.items() if t == pl.String and n in TABLE_SCHEMA and TABLE_SCHEMA[n] == LABEL]
    if encode:  # labels built as plain strings are dictionary-encoded here, once
        frame = frame.with_columns(pl.col(encode).cast(LABEL))
    schema = frame.schema  # once: each frame.schema builds a new Schema (a third of validating a small piece)
    for name, (dtype, _, _) in OPTIONAL.items():
        if schema[name] != dtype:
            raise SchemaError(name, f"dtype {dtype}", f"dtype {schema[name]}", source)
    missing = [c for c in COLUMNS if c not in schema]
    if missing:
        raise SchemaError(missing[0], "a column of the measurement table",
                          f"no such column (missing: {', '.join(missing)})", source)
    extra = [c for c in schema if c not in TABLE_COLUMNS]
    if extra:
        raise SchemaError(extra[0], f"only the columns {', '.join(COLUMNS)}",
                          "an extra column", source)
    for name, (dtype, _, _) in COLUMNS.items():
        if schema[name] != dtype:
            raise SchemaError(name, f"dtype {dtype}", f"dtype {schema[name]}", source)
    nulls = frame.select(pl.col(n).null_count() for n, (_, nullable, _) in COLUMNS.items() if not nullable).row(0, named=True)
    for name, count in nulls.items():
        if count:
            raise SchemaError(name, "no nulls", f"{count} null value(s)", source)
    frame = frame.select(list(TABLE_COLUMNS))
    if frame.is_empty():
        return frame

    # One query for the cheap checks (the gate runs on every read and write): each
    # expression says whether a rule is broken; the first broken rule is then located.
    # Label rules look at each column's distinct values, not at every row: a long table
    # repeats a few dozen labels millions of times.
    texts = ("experiment", "condition", "host", "metric", "component", "source", "source_file")
    # Eager, not lazy: frame.lazy() expands the constant (scalar) columns readers build
    # (5x slower on 11 M rows, polars 2.1).
    broken = frame.select(
        # On the distinct values: a long table repeats a few strings millions of times, and
        # hashing them is several times cheaper than stripping each (checked on 11 M rows).
        *[(pl.col(n).unique().cast(pl.String).str.strip_chars() == "").any().alias(f"empty:{n}") for n in texts],
        (~pl.col("scope").unique().is_in(SCOPES)).any().alias("scope"),
        (~pl.col("aggregate").unique().is_in(AGGREGATES)).any().alias("aggregate"),
        (pl.col("run") < 0).any().alias("run"),
        (pl.col("interval") <= 0).any().alias("interval"),
        (~pl.col(BOUND).unique().is_in(BOUNDS)).any().alias("bound"),
        (pl.col(BOUND).is_not_null() & pl.col("value").is_nan()).any().alias("bound_nan"),
    ).row(0, named=True)
    for name in texts:
        if broken[f"empty:{name}"]:
            raise SchemaError(name, "non-empty strings", "an empty string", source)
    if broken["scope"]:
        _check_in(frame, "scope", SCOPES, source)
    if broken["aggregate"]:
        _check_in(frame, "aggregate", AGGREGATES, source)
    if broken["run"]:
        raise SchemaError("run", "run >= 0", str(frame["run"].min()), source)
    if broken["bound"]:
        _check_in(frame.filter(pl.col(BOUND).is_not_null()), BOUND, BOUNDS, source)
    if broken["bound_nan"]:
        raise SchemaError(BOUND, "a bound only on a value (a missing value bounds nothing)",
                          "a bound on NaN", source)
    if broken["interval"]:
        bad_interval = frame.filter(pl.col("interval") <= 0)
        raise SchemaError("interval", "a positive number of seconds",
                          str(bad_interval["interval"][0]), source)

    # The distinct combinations in first-seen order as a lazy grouping: the eager unique of
    # 640 000 rows held 0.8x the table's memory and took 42 ms, this 0.04x and 4-7 ms, the
    # same rows in the same order (with scalar columns too: 5 M rows 197 -> 27 ms, 226 -> 9 MB).
    combos = frame.lazy().group_by("metric", "unit", "component", maintain_order=True).agg().collect()
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
    # Bounds: one join against the bounded metrics present, instead of a filter per metric.
    bounded = [m for m in combos["metric"].unique().to_list()
               if m in METRICS and not all(math.isinf(b) for b in METRICS[m].bounds)]
    value = pl.col("value")
    # First whether any value is out of its metric's range, by one boolean pass per bounded
    # metric; only then the join that names the first offender (on every read it held 0.45x
    # the table's memory: 640 000 rows x 5 columns).
    if bounded and frame.select(pl.any_horizontal(
            ((pl.col("metric") == m) & value.is_not_nan() & ((value < METRICS[m].bounds[0])
                                                             | (value > METRICS[m].bounds[1]))).any()
            for m in bounded)).item():
        limits = pl.DataFrame({"metric": bounded, "_low": [METRICS[m].bounds[0] for m in bounded],
                               "_high": [METRICS[m].bounds[1] for m in bounded]}, schema_overrides={"metric": LABEL})
        out = (frame.select("metric", "component", "value").join(limits, on="metric", how="inner")
               .filter(pl.col("value").is_not_nan() & ((pl.col("value") < pl.col("_low"))
                                                        | (pl.col("value") > pl.col("_high")))))
        if out.height:
            metric = out["metric"][0]
            low, high = METRICS[metric].bounds
            raise SchemaError("value", f"{metric} within [{low:g}, {high:g}] {METRICS[metric].unit}",
                              f"{out['value'][0]!r} (component {out['component'][0]})", source)
    return frame


def _check_in(frame: pl.DataFrame, column: str, legal: tuple[str, ...], source: str | None) -> None:
    bad = frame.filter(~pl.col(column).is_in(legal))
    if bad.height:
        raise SchemaError(column, f"one of {', '.join(legal)}", repr(bad[column][0]), source)
