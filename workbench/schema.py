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
from enum import Enum
from typing import Any, Iterable, Mapping

import polars as pl

from .errors import SchemaError

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

#: Columns an experiment manifest (or ``--label``) may set on every row of a file.
LABELS = ("experiment", "condition", "hypervisor", "host", "guest", "scope", "stage", "run")

SCOPES = ("host", "guest", "control-domain")
#: A condition named ``<baseline>-aa`` is the baseline repeated in the same rounds (an A/A
#: comparison, ``workbench run``): its interval is the setup's noise floor for the statistics.
AA_SUFFIX = "-aa"
AGGREGATES = ("mean", "min", "max", "last", "best", "single")


#: Unit conversions used by readers, written down once with their reason.
#: EVEREST/AIDA64 print memory *sizes* in MB meaning MiB (Windows convention: the
#: thesis host shows 3070 MB for 3 GiB minus shared video memory), but bandwidth in
#: "MB/s" which we take as 10^6 bytes/s (SI). No vendor document fixes the latter;
#: ratios between conditions do not depend on the choice.
MIB = 1024 * 1024
KIB = 1024
MB_PER_S = 1e6
NS = 1e-9


class Direction(str, Enum):
    """Which way a change of a metric reads (DESIGN.md §4): the verdict's words follow it.

    ``HIGHER``/``LOWER``: a performance metric, better when higher (bandwidth, scores)
    or lower (latency): "is 12.0 % faster/slower". ``USAGE``: a resource in use (CPU,
    memory, I/O): "uses 2.5 % more". ``NEUTRAL``: neither (a size, a name outside the
    vocabulary): "is 3.0 % higher".
    """

    HIGHER = "higher-is-better"
    LOWER = "lower-is-better"
    USAGE = "usage"
    NEUTRAL = "neutral"


#: Display helpers: canonical unit -> (display unit, factor to multiply by). The
#: default display of a metric in that unit (a :class:`Metric` may set its own).
DISPLAY: dict[str, tuple[str, float]] = {
    "bytes/s": ("MB/s", 1 / MB_PER_S),
    "bytes": ("MiB", 1 / MIB),
    "seconds": ("ns", 1 / NS),
    "percent": ("%", 1.0),
    "1": ("", 1.0),
    "score": ("score", 1.0),
    "1/s": ("/s", 1.0),
}


@dataclass(frozen=True)
class Metric:
    """One entry of the metric vocabulary (DESIGN.md §4): everything a metric means.

    Statistics, figures, the capture and the readers ask this entry (through
    :func:`metric`); nothing guesses a metric's meaning from its name.

    Attributes
    ----------
    name, unit, components, description
        The name, its canonical unit, a regular expression the component must match
        in full, and what it measures.
    bounds
        Legal value range (NaN always allowed).
    direction
        :class:`Direction`: which way a change reads in a verdict.
    aggregate
        What one sample of it summarizes by default: ``mean`` over the sample's
        interval (rates and shares from counter deltas: what the capture records),
        ``last`` (a level read at the interval's end), ``best`` (best of N, STREAM)
        or ``single`` (a one-shot result). ``None`` for names outside the vocabulary.
    label
        A human label ("read bandwidth"); defaults to the name.
    display_unit, display_factor
        Unit shown to people and the factor from the canonical unit; default from
        :data:`DISPLAY` by unit.
    capacity
        True for what a machine or guest *has* (memory installed, swap configured), not
        what a condition *does*: statistics list it as not compared instead of judging
        one machine's RAM against itself.
    """

    name: str
    unit: str
    components: str
    description: str
    bounds: tuple[float, float] = (-math.inf, math.inf)
    direction: Direction = Direction.NEUTRAL
    aggregate: str | None = "single"
    label: str = ""
    display_unit: str | None = None
    display_factor: float | None = None
    capacity: bool = False

    def __post_init__(self) -> None:
        shown, factor = DISPLAY.get(self.unit, (self.unit, 1.0))
        if self.display_unit is None:
            object.__setattr__(self, "display_unit", shown)
        if self.display_factor is None:
            object.__setattr__(self, "display_factor", factor)
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if self.aggregate is not None and self.aggregate not in AGGREGATES:
            raise ValueError(f"Metric {self.name}: `aggregate` must be one of {', '.join(AGGREGATES)}, "
                             f"found {self.aggregate!r}")


_CPU = r"total|cpu\d+"
_LEVELS = r"memory|L1|L2|L3"
_PCT = (0.0, 100.0)
_NONNEG = (0.0, math.inf)
_UP, _DOWN, _USE = Direction.HIGHER, Direction.LOWER, Direction.USAGE

#: The metric vocabulary: name -> Metric. One table, no if-chains (cf. pyperf's METADATA).
#: Aggregates: ``mean`` for rates and shares (counter deltas over the interval), ``last``
#: for levels read at the interval's end (what the capture records); one-shot results
#: ``single``, STREAM's best-of-N ``best``.
METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("cpu_util", "percent", _CPU, "busy share per component", _PCT, _USE, "mean", "CPU utilization"),
    Metric("cpu_steal", "percent", _CPU, "time stolen by the hypervisor", _PCT, _USE, "mean", "CPU steal"),
    Metric("cpu_iowait", "percent", _CPU, "time waiting for I/O", _PCT, _USE, "mean", "CPU I/O wait"),
    # VMware's %RDY (esxtop): time a guest's vCPUs were ready to run but not scheduled, the
    # counterpart of steal; per VM it sums over its vCPUs, so it may exceed 100.
    Metric("cpu_ready", "percent", r".+", "time ready to run but not scheduled (VMware %RDY)", _NONNEG, _USE, "mean",
           "CPU ready"),
    Metric("mem_used", "bytes", "total", "memory in use", _NONNEG, _USE, "last", "memory used"),
    Metric("mem_free", "bytes", "total", "memory free", _NONNEG, aggregate="last", label="memory free"),
    Metric("mem_total", "bytes", "total", "memory installed/assigned", _NONNEG, aggregate="last",
           label="memory total", capacity=True),
    Metric("mem_util", "percent", "total", "memory in use as share of total", _PCT, _USE, "last",
           "memory utilization"),
    Metric("mem_read_bw", "bytes/s", _LEVELS, "read bandwidth", _NONNEG, _UP, label="read bandwidth"),
    Metric("mem_write_bw", "bytes/s", _LEVELS, "write bandwidth", _NONNEG, _UP, label="write bandwidth"),
    Metric("mem_copy_bw", "bytes/s", _LEVELS, "copy bandwidth", _NONNEG, _UP, label="copy bandwidth"),
    Metric("mem_latency", "seconds", _LEVELS, "load-to-use latency", _NONNEG, _DOWN, label="latency"),
    Metric("stream_copy_bw", "bytes/s", "memory", "STREAM Copy best rate", _NONNEG, _UP, "best", "STREAM Copy"),
    Metric("stream_scale_bw", "bytes/s", "memory", "STREAM Scale best rate", _NONNEG, _UP, "best",
           "STREAM Scale"),
    Metric("stream_add_bw", "bytes/s", "memory", "STREAM Add best rate", _NONNEG, _UP, "best", "STREAM Add"),
    Metric("stream_triad_bw", "bytes/s", "memory", "STREAM Triad best rate", _NONNEG, _UP, "best",
           "STREAM Triad"),
    Metric("net_rx", "bytes/s", r".+", "received per interface", _NONNEG, _USE, "mean", "network received"),
    Metric("net_tx", "bytes/s", r".+", "sent per interface", _NONNEG, _USE, "mean", "network sent"),
    Metric("disk_read", "bytes/s", r".+", "read per device", _NONNEG, _USE, "mean", "disk read"),
    Metric("disk_write", "bytes/s", r".+", "written per device", _NONNEG, _USE, "mean", "disk written"),
    Metric("load_avg", "1", "total", "run-queue load average", _NONNEG, _USE, "last", "load average"),
    Metric("swap_used", "bytes", "total", "swap space in use", _NONNEG, _USE, "last", "swap used"),
    Metric("swap_total", "bytes", "total", "swap space configured", _NONNEG, aggregate="last",
           label="swap total", capacity=True),
    # Swapping traffic (dstat's "paging" in/out: /proc/vmstat pswpin/pswpout x page size).
    Metric("swap_in", "bytes/s", "total", "read back from swap", _NONNEG, _USE, "mean", "swap in"),
    Metric("swap_out", "bytes/s", "total", "written out to swap", _NONNEG, _USE, "mean", "swap out"),
    Metric("proc_cpu_util", "percent", r".+", "CPU of one process, share of all cores (component name[pid])",
           _PCT, _USE, "mean", "process CPU"),
    Metric("proc_rss", "bytes", r".+", "resident memory of one process (component name[pid])", _NONNEG, _USE,
           "last", "process resident memory"),
    Metric("bench_score", "score", r".+", "other EVEREST/AIDA64 benchmark pages", direction=_UP,
           label="benchmark score"),
    # One timed execution of a benchmark (hyperfine's run of a command, a pyperf value, a
    # Phoronix Test Suite pass of a result in seconds): component = the benchmark's name.
    Metric("bench_time", "seconds", r".+", "wall-clock time of one benchmark execution", _NONNEG, _DOWN,
           label="benchmark time", display_unit="ms", display_factor=1e3),
    # Benchmark results (sysbench, HPCC, LINPACK, fio, netperf/nuttcp): one-shot values of a run.
    # The component names what was counted or which job ran (``cpu``, ``oltp-transactions``,
    # ``random-read-16``, ``TCP_RR``): a comparison never mixes two of them.
    Metric("ops_rate", "1/s", r".+", "operations (events, transactions, queries) per second of a benchmark; "
           "the component says which", _NONNEG, _UP, label="operations per second"),
    Metric("op_latency", "seconds", r".+", "mean time per operation (event, request) of a benchmark", _NONNEG, _DOWN,
           "mean", "operation latency", display_unit="ms", display_factor=1e3),
    Metric("mem_transfer_bw", "bytes/s", r".+", "memory benchmark transfer rate at its own block size and operation "
           "(sysbench memory); the component says which", _NONNEG, _UP, label="memory transfer rate"),
    Metric("random_access_rate", "1/s", r".+", "random memory updates per second (HPCC RandomAccess GUPS)", _NONNEG,
           _UP, label="RandomAccess", display_unit="GUP/s", display_factor=1e-9),
    Metric("flops", "flop/s", r".+", "floating-point operations per second (LINPACK)", _NONNEG, _UP,
           label="floating-point rate", display_unit="GFLOP/s", display_factor=1e-9),
    Metric("io_read_bw", "bytes/s", r".+", "storage benchmark read bandwidth per job", _NONNEG, _UP,
           label="I/O read bandwidth"),
    Metric("io_write_bw", "bytes/s", r".+", "storage benchmark write bandwidth per job", _NONNEG, _UP,
           label="I/O write bandwidth"),
    Metric("io_read_iops", "1/s", r".+", "storage benchmark read operations per second per job", _NONNEG, _UP,
           label="read IOPS", display_unit="IOPS"),
    Metric("io_write_iops", "1/s", r".+", "storage benchmark write operations per second per job", _NONNEG, _UP,
           label="write IOPS", display_unit="IOPS"),
    Metric("io_read_latency", "seconds", r".+", "mean read latency per job (submission to completion)", _NONNEG,
           _DOWN, "mean", "I/O read latency", display_unit="µs", display_factor=1e6),
    Metric("io_write_latency", "seconds", r".+", "mean write latency per job (submission to completion)", _NONNEG,
           _DOWN, "mean", "I/O write latency", display_unit="µs", display_factor=1e6),
    Metric("net_throughput", "bytes/s", r".+", "network benchmark throughput per test and direction", _NONNEG, _UP,
           label="network throughput", display_unit="Mbit/s", display_factor=8e-6),
    Metric("net_latency", "seconds", r".+", "network round-trip time per test (request/response)", _NONNEG, _DOWN,
           "mean", "network round-trip latency", display_unit="µs", display_factor=1e6),
    # lmbench-style operation latencies (McVoy & Staelin 1996; the operations of Barham et al.
    # 2003, Table 3), as vbench measures them: best of N batches; component = what was timed.
    Metric("syscall_latency", "seconds", r".+", "one null system call (getppid)", _NONNEG, _DOWN, "best",
           "null syscall", "us", 1e6),
    Metric("fork_latency", "seconds", r".+", "fork, child exits, parent waits", _NONNEG, _DOWN, "best",
           "fork", "us", 1e6),
    Metric("exec_latency", "seconds", r".+", "fork, child execs a static program that exits, parent waits",
           _NONNEG, _DOWN, "best", "fork+exec", "us", 1e6),
    Metric("ctxsw_latency", "seconds", r".+", "one context switch (a byte ping-ponged over pipes, one CPU)",
           _NONNEG, _DOWN, "best", "context switch", "us", 1e6),
    Metric("pagefault_latency", "seconds", r".+", "one page fault (first write to an anonymous page)", _NONNEG,
           _DOWN, "best", "page fault", "us", 1e6),
    Metric("mmap_latency", "seconds", r".+", "map 1 MiB, touch every 16 KiB, unmap (lmbench lat_mmap)",
           _NONNEG, _DOWN, "best", "mmap", "us", 1e6),
    Metric("cpu_op_time", "seconds", r".+", "one step of a CPU-bound kernel (component: the kernel)", _NONNEG,
           _DOWN, "best", "CPU kernel", "ns", 1e9),
    Metric("boot_time", "seconds", r".+", "from starting a guest to its /init running", _NONNEG, _DOWN,
           "single", "boot time", "s", 1.0),
]}


def metric(name: str, unit: str | None = None) -> Metric:
    """The :class:`Metric` for `name`: its vocabulary entry, or for a name outside the
    vocabulary (``<source>:<native name>``) a neutral entry that keeps `unit`, the
    native unit from the table's ``unit`` column, as is (no display conversion)."""
    spec = METRICS.get(name)
    if spec is not None:
        return spec
    native = unit or ""
    return Metric(name, native, r".+", "outside the vocabulary: kept as the source named it",
                  aggregate=None, display_unit=native, display_factor=1.0)


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
    for name, (dtype, _, _) in OPTIONAL.items():
        if frame.schema[name] != dtype:
            raise SchemaError(name, f"dtype {dtype}", f"dtype {frame.schema[name]}", source)
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

    combos = frame.select("metric", "unit", "component").unique(maintain_order=True)
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
    if bounded:
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


#: Largest ``run`` (the column is int32).
RUN_MAX = 2 ** 31 - 1


def check_labels(labels: Mapping[str, Any], *, source: str | None = "labels") -> dict[str, Any]:
    """The one label validator, run before any work (capture, probe, ingest, read): the
    label values `validate` would refuse at the end, refused at the start.

    Keys must be among :data:`LABELS`; ``run`` an integer 0..:data:`RUN_MAX` (int32);
    ``scope`` one of :data:`SCOPES`; the other labels strings, not empty where the
    table requires them (None = not given).

    Raises
    ------
    SchemaError
        Naming the label, what it must be and what was given.
    """
    out = {}
    for name, value in labels.items():
        if name not in LABELS:
            raise SchemaError(name, f"a label among {', '.join(LABELS)}", "an unknown label", source)
        if value is None:
            out[name] = None
        elif name == "run":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= RUN_MAX:
                raise SchemaError("run", f"an integer from 0 to {RUN_MAX} (int32)", repr(value)[:40], source)
            out[name] = value
        elif not isinstance(value, str):
            raise SchemaError(name, "a string", f"{type(value).__name__} {value!r}", source)
        elif name == "scope" and value not in SCOPES:
            raise SchemaError("scope", f"one of {', '.join(SCOPES)}", repr(value), source)
        elif not value.strip() and not COLUMNS[name][1]:
            raise SchemaError(name, "a non-empty string", repr(value), source)
        else:
            out[name] = value
    return out


def _check_in(frame: pl.DataFrame, column: str, legal: tuple[str, ...], source: str | None) -> None:
    bad = frame.filter(~pl.col(column).is_in(legal))
    if bad.height:
        raise SchemaError(column, f"one of {', '.join(legal)}", repr(bad[column][0]), source)
