"""The metric vocabulary and the labels, without polars (DESIGN.md §4).

What a metric means (:class:`Metric`, :data:`METRICS`), the canonical units, the label
names and the label validator :func:`check_labels`: plain Python, so that the capture's
sampling process, which needs the units of its metrics and checks its labels before the
first sample, does not import polars. :mod:`workbench.schema` re-exports every name here;
import them from there (``schema.METRICS``), as before.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping

from .errors import SchemaError

#: Columns an experiment manifest (or ``--label``) may set on every row of a file.
LABELS = ("experiment", "condition", "hypervisor", "host", "guest", "scope", "stage", "run")
#: The labels every row has (the non-null label columns of :data:`workbench.schema.COLUMNS`;
#: tests/test_schema.py checks that the two agree).
REQUIRED_LABELS = ("experiment", "condition", "host", "scope", "run")

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


#: Largest ``run`` (the column is int32).
RUN_MAX = 2 ** 31 - 1


def check_labels(labels: Mapping[str, Any], *, source: str | None = "labels") -> dict[str, Any]:
    """The one label validator, run before any work (capture, probe, ingest, read): the
    label values `validate` would refuse at the end, refused at the start.

    Keys must be among :data:`LABELS`; ``run`` an integer 0..:data:`RUN_MAX` (int32);
    ``scope`` one of :data:`SCOPES`; the other labels strings, not empty where the
    table requires them (:data:`REQUIRED_LABELS`; None = not given).

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
        elif not value.strip() and name in REQUIRED_LABELS:
            raise SchemaError(name, "a non-empty string", repr(value), source)
        else:
            out[name] = value
    return out
