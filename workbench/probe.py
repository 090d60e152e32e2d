"""Memory probe: EVEREST's Cache & Memory benchmark, open and repeatable (DESIGN.md §8).

Measures read, write and copy bandwidth and load-to-use latency at working-set
sizes that fall in L1, L2, L3 and DRAM, in repeated trials, and returns the
measurement table in the shape the EVEREST Cache & Memory reader produces
(metrics ``mem_read_bw``, ``mem_write_bw``, ``mem_copy_bw``, ``mem_latency``;
components ``L1``, ``L2``, ``L3``, ``memory``), so a guest on any hypervisor
and EVEREST's numbers land in one table.

What a row is
-------------
* ``source = workbench-probe``; ``run`` is the trial. **Run 0 is the warm-up**
  (it also calibrates the repetition counts); its rows carry the stage suffix
  ``warm-up`` (e.g. ``all-cores warm-up``) so that a comparison grouping by
  stage never mixes it with measured trials. Measured trials are runs 1..N-1.
* ``stage`` says how many threads ran: ``single-thread`` or ``all-cores``
  (one thread per CPU the process may use; private levels give each thread its
  own working set, shared ones split it). Latency is single-thread only, as in
  AIDA64, whose latency page names one core where the bandwidth pages name all.
  A user stage label ("idle", "both guests running") is prefixed:
  ``idle: all-cores``.
* ``aggregate = single``, ``time`` and ``interval`` null: each value is a
  one-shot benchmark result (bytes moved, or loads done, over the measurement's
  wall time), exactly as the EVEREST Cache & Memory reader emits its values, so
  a comparison grouping by aggregate and interval puts both in one cell. When
  each trial ran is in the metadata (``settings["trial_times"]``).
* Bandwidth counts bytes read plus bytes written, as STREAM does (copy moves
  2 x 8 bytes per element). EVEREST's copy values sit next to its read and
  write values (thesis figure 69: 7284, 7426, 7216 MB/s), which fits the same
  convention; its documentation does not say.

Working sets
------------
Cache sizes come from the OS (:func:`workbench.machine.detect_caches`: Linux
sysfs, Windows ``GetLogicalProcessorInformation`` through ctypes) and can be
overridden; the machine's description (:mod:`workbench.machine`) is stored with
the table. Each
level's array size is chosen deep inside the level (:func:`plan`); the DRAM
arrays follow STREAM's rule: each at least 4x the last-level caches in use and
at least one million elements. Read, write and latency walk one array of the
level's size. In the caches, copy moves the first half of that array into the
first half of a second one, so its footprint is the level's size too; for DRAM
it copies two whole arrays (STREAM's rule is per array).

Kernels are compiled with numba (``nogil`` so that Python threads run them in
parallel for the all-cores figures; ``cache=True`` so later runs skip the
compile). Latency is a dependent pointer chase over a random cyclic
permutation of the working set's cache lines, which defeats the prefetchers.
Arrays of a few MiB and more come from numpy, which asks Linux for transparent
huge pages (``madvise``), so DRAM latency includes fewer page walks than with
4 KiB pages; ``bench/probe.py``'s C reference does the same.

The library never prints: progress goes to a callback, and the CLI
(``workbench probe``) draws the progress line.
"""
from __future__ import annotations

import math
import os
import re
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import polars as pl
from numba import njit

from . import guards, schema
from .errors import ParseError, WorkbenchError, WorkbenchWarning
from .machine import DEFAULT_LINE as _DEFAULT_LINE
from .machine import (
    Cache,
    Machine,
    MachineError,
    default_labels,
    describe_virtualization,
    detect_caches,
    detect_machine,
    format_size,
    usable_cpus,
)

SOURCE = "workbench-probe"
# The Cache & Memory layout (schema.CACHE_MEMORY): read, write, copy, latency; levels
# here from the smallest working set to the largest.
METRICS = schema.CACHE_MEMORY.metrics
BANDWIDTH_METRICS = tuple(m for m in METRICS if schema.METRICS[m].unit == "bytes/s")
LEVELS = schema.CACHE_MEMORY.levels_by_size
SINGLE = "single-thread"
ALL_CORES = "all-cores"
WARM_UP = "warm-up"

#: Trials (including the warm-up) and seconds per measurement, by mode.
DEFAULT_TRIALS = 10
QUICK_TRIALS = 3
TARGET_SECONDS = 0.1
QUICK_TARGET_SECONDS = 0.01
#: Most trials (warm-up included) when repeating until a precision is reached.
PRECISION_MAX_TRIALS = 100

_ELEMENT = 8  # bytes per array element (uint64)
_STREAM_MIN_ELEMENTS = 1_000_000  # STREAM: arrays of at least 1e6 elements


class ProbeError(WorkbenchError):
    """An option of the probe is unusable (size, trial count, memory), or the OS
    does not say what the probe needs and no override was given."""


class ProbeWarning(WorkbenchWarning):
    """The probe ran, but a choice weakens what it measures (e.g. a DRAM array
    smaller than STREAM's rule)."""


# --------------------------------------------------------------------------- kernels
# All arrays are uint64: an unsigned index spares numba's negative-index
# wrap-around test inside the dependent chain of the pointer chase.

@njit(nogil=True, cache=True)
def _read(a, reps):
    s = np.uint64(0)
    for r in range(reps):
        for i in range(a.size):
            s += a[i]
        # Depends on r so that no pass can be treated as a repeat of the last.
        s ^= np.uint64(r)
    return s


@njit(nogil=True, cache=True)
def _write(a, reps):
    for r in range(reps):
        v = np.uint64(r + 1)  # a value known only at run time: no memset idiom, no dead stores
        for i in range(a.size):
            a[i] = v
    return a[0]


@njit(nogil=True, cache=True)
def _copy(src, dst, reps):
    for _ in range(reps):
        for i in range(src.size):
            dst[i] = src[i]
    return dst[0]


@njit(nogil=True, cache=True)
def _chase(chain, steps):
    i = np.uint64(0)
    for _ in range(steps):
        i = chain[i]
    return i


@njit(nogil=True, cache=True)
def _link(chain, order, stride):
    # chain[line k * stride] = index of the line after k in `order`: one cycle.
    n = order.size
    for k in range(n - 1):
        chain[order[k] * stride] = order[k + 1] * stride
    chain[order[n - 1] * stride] = order[0] * stride
    return n


@njit(nogil=True, cache=True)
def _shuffle(order, seed):
    # Fisher-Yates driven by splitmix64. numpy's Generator.permutation does the
    # same job but took 0.65-0.85 s for the 19.7 M lines of a 1.2 GiB array
    # here, this 0.21 s: it decides whether --quick stays a few seconds.
    x = np.uint64(seed)
    for i in range(order.size - 1, 0, -1):
        x += np.uint64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        # Lemire's multiply-shift maps 32 random bits onto 0..i (i < 2**32).
        j = ((z >> np.uint64(32)) * np.uint64(i + 1)) >> np.uint64(32)
        t = order[i]
        order[i] = order[j]
        order[j] = t
    return order.size


def build_chain(chain: np.ndarray, line_bytes: int, seed: int) -> int:
    """Write a random cyclic permutation of the cache lines of `chain` into it.

    Every line's first element holds the index of the next line's first
    element; following it from index 0 visits every line once before
    returning (a uniformly random cyclic permutation: a random order, closed).

    Parameters
    ----------
    chain : numpy.ndarray of uint64
        The array to link; its length must be a multiple of the line.
    line_bytes : int
        Cache line size (the chase touches one element per line).
    seed : int
        Seed of the random order.

    Returns
    -------
    int
        The number of lines in the cycle.
    """
    stride = max(1, line_bytes // _ELEMENT)
    lines = chain.size // stride
    if lines < 2:
        raise ProbeError(f"a pointer chase needs at least 2 cache lines, got {chain.nbytes} bytes")
    if lines >= 1 << 32:
        raise ProbeError(f"a pointer chase over {lines} cache lines is beyond the probe's 2**32")
    order = np.arange(lines, dtype=np.uint32)
    _shuffle(order, np.uint64(seed % (1 << 64)))
    return int(_link(chain, order, np.uint64(stride)))


def compile_kernels() -> None:
    """Compile (or load from numba's cache) every kernel, so no timing includes it."""
    a = np.zeros(16, dtype=np.uint64)
    b = np.zeros(16, dtype=np.uint64)
    _read(a, 1)
    _write(b, 1)
    _copy(a, b, 1)
    order = np.arange(2, dtype=np.uint32)
    _shuffle(order, np.uint64(1))
    _link(a, order, np.uint64(8))
    _chase(a, 1)


def cycle_length(chain: np.ndarray, limit: int) -> int:
    """Steps the chase takes from index 0 back to 0 (at most `limit`); for tests."""
    return int(_cycle_length(chain, limit))


@njit(cache=True)
def _cycle_length(chain, limit):
    i = chain[0]
    n = 1
    while i != 0 and n < limit:
        i = chain[i]
        n += 1
    return n


# --------------------------------------------------------------------------- options

_SIZE = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_size(text: str | int, *, name: str = "size") -> int:
    """Bytes from ``49152``, ``48K``, ``48KiB``, ``2M``, ``1.5G`` (binary units, as sysfs).

    Raises
    ------
    ProbeError
        Naming the option (`name`) and what was found.
    """
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        value = int(text)
    else:
        m = _SIZE.fullmatch(str(text))
        if not m:
            raise ProbeError(f"`{name}`: expected a size such as 48K, 2M or 1G (binary units), found {text!r}")
        value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise ProbeError(f"`{name}` must be a positive number of bytes, found {text!r}")
    return value


# --------------------------------------------------------------------------- the plan

@dataclass(frozen=True)
class Level:
    """One working-set size of the probe.

    Attributes
    ----------
    name : str
        The ``component``: ``L1``, ``L2``, ``L3`` or ``memory``.
    size : int
        Bytes of the array that read, write and the chase walk (one thread).
    shared : bool
        Whether the level is shared by the all-cores threads (then they split
        `size`); private levels give each thread its own array of `size`.
    copy_halves : bool
        Copy moves the first half of the array into the second array's first
        half (caches), or whole arrays (DRAM, STREAM's rule is per array).
    rule : str
        How `size` was chosen, in words.
    """

    name: str
    size: int
    shared: bool
    copy_halves: bool
    rule: str


def plan(caches: Sequence[Cache], *, memory: int | None = None) -> tuple[Level, ...]:
    """Choose the working set of each level from the cache sizes.

    * L1: half of the L1 data cache.
    * L2, L3: half of the level, but no more than 4x the level above, so the
      set is well past the upper level yet far from the edge of this one (a
      shared L3 in a guest also holds the neighbours' data).
    * memory: STREAM's rule: 4x the summed last-level caches in use, at
      least 10^6 elements; `memory` overrides it (with a :class:`ProbeWarning`
      when smaller).

    Absent levels (no L3 on the thesis's Athlon 64 X2) are left out, as
    EVEREST leaves their rows empty.
    """
    by_level = {c.level: c for c in caches}
    levels: list[Level] = []
    above: Cache | None = None
    for name in ("L1", "L2", "L3"):
        cache = by_level.get(name)
        if cache is None:
            continue
        if above is None:
            size, rule = cache.size // 2, f"half of the {name} data cache"
        else:
            size = min(cache.size // 2, 4 * above.size)
            rule = (f"half of {name}" if size == cache.size // 2
                    else f"4x {above.level}, below half of {name}")
            if size <= above.size:
                raise ProbeError(f"`{name.lower()}` ({format_size(cache.size)}) must be larger than twice "
                                 f"`{above.level.lower()}` ({format_size(above.size)})")
        levels.append(Level(name, _lines(size, cache.line), cache.shared, True, rule))
        above = cache
    if above is None:
        raise ProbeError("no cache level known; give the sizes (--l1, --l2, --l3)")
    llc_total = above.size * above.instances
    stream = max(4 * llc_total, _STREAM_MIN_ELEMENTS * _ELEMENT)
    if memory is None:
        size, rule = stream, f"STREAM's rule: 4x the last-level caches ({above.instances} x {format_size(above.size)})"
    else:
        size, rule = memory, "given"
        if memory < stream:
            warnings.warn(f"DRAM array of {format_size(memory)} is below STREAM's rule ({format_size(stream)}: 4x the "
                          "last-level caches); part of it may be served from cache", ProbeWarning, stacklevel=2)
    levels.append(Level("memory", _lines(size, above.line), True, False, rule))
    return tuple(levels)


def _lines(size: int, line: int) -> int:
    return max(2 * line, size // line * line)


def required_bytes(levels: Sequence[Level], threads: int) -> int:
    """Memory the probe allocates for `levels` (two arrays per level, plus the
    chase's temporary order), for the memory check before anything is allocated."""
    total = 0
    for lv in levels:
        per_array = lv.size if lv.shared else lv.size * threads
        total += 2 * per_array + lv.size // 8
    return total


# --------------------------------------------------------------------------- running

@dataclass(frozen=True)
class ProbeResult:
    """What :func:`run` returns.

    Attributes
    ----------
    table : polars.DataFrame
        The validated measurement table (see the module docstring).
    machine : Machine
    levels : tuple of Level
    settings : dict
        Trials, threads, quick, target seconds, seed, repetition counts, start
        and end (UTC, ISO 8601).
    """

    table: pl.DataFrame
    machine: Machine
    levels: tuple[Level, ...]
    settings: dict = field(default_factory=dict, hash=False)

    def metadata(self) -> dict[str, Any]:
        """A JSON-ready description of the run (stored beside the table by :func:`write`)."""
        return {"format": SOURCE, "version": 1, "machine": self.machine.to_dict(),
                "levels": [asdict(lv) for lv in self.levels], "settings": self.settings}

    @property
    def sizes(self) -> dict[str, int]:
        """Working-set bytes per component (the x axis of :func:`figures.probe_bandwidth_latency`)."""
        return {lv.name: lv.size for lv in self.levels}


Progress = Callable[[int, int, str, float], None]


def run(*, trials: int | None = None, quick: bool = False, threads: int | None = None,
        l1: int | str | None = None, l2: int | str | None = None, l3: int | str | None = None,
        memory: int | str | None = None, all_cores: bool = True, seed: int = 0,
        labels: Mapping[str, Any] | None = None, progress: Progress | None = None,
        target_seconds: float | None = None, thresholds: guards.Thresholds | None = None,
        precision: float | None = None, budget: float | None = None) -> ProbeResult:
    """Measure bandwidth and latency at each level, `trials` times.

    Parameters
    ----------
    trials : int, optional
        Trials including the warm-up (run 0); default 10, or 3 with `quick`.
        At least 2. Six measured trials (7 in all) are the fewest for which a
        95 % interval of the median exists.
    quick : bool
        A few seconds: 3 trials of about 10 ms per measurement (tests and the
        default report). The DRAM arrays still follow STREAM's rule.
    threads : int, optional
        Threads of the all-cores figures (default: CPUs the process may use).
    l1, l2, l3 : int or str, optional
        Cache sizes overriding the OS's (``48K``, ``2M``); all three given means
        no detection at all.
    memory : int or str, optional
        DRAM array size (default STREAM's rule, see :func:`plan`).
    all_cores : bool
        Also measure all-cores bandwidth (stage ``all-cores``).
    seed : int
        Seed of the chase's random permutation.
    labels : mapping, optional
        Label columns (``experiment``, ``condition``, ``hypervisor``, ``host``,
        ``guest``, ``scope``, ``stage``). Defaults: host name, hypervisor and
        scope from :func:`workbench.machine.default_labels`, as a capture on the
        same machine gets them. ``stage`` is prefixed to the thread mode; ``run`` is the
        trial and cannot be given.
    progress : callable, optional
        Called as ``progress(trial, trials, level, elapsed_seconds)`` before each
        level of each trial.
    target_seconds : float, optional
        Length of each measurement (default 0.1 s, 0.01 s with `quick`).
    thresholds : workbench.guards.Thresholds, optional
        When the interference guards flag a trial (default :class:`~workbench.guards.Thresholds`).
        Every trial is also checked for physical sanity (latency rising from L1 to
        DRAM, DRAM bandwidth below L1's). A flagged trial keeps its rows, with the
        reasons in their ``flag`` column; :func:`summary` leaves it out by default.
    precision : float, optional
        Repeat trials until the 95 % interval of every median (undisturbed
        trials only) is within this fraction of the median (0.02 = +-2 %), at
        most `trials` (then default :data:`PRECISION_MAX_TRIALS`).
    budget : float, optional
        Seconds: start no new trial after this much time (at least one measured
        trial runs). ``settings["stopped"]`` says why the probe stopped.

    Raises
    ------
    ProbeError
        For a bad option (before anything is allocated), including sizes that
        do not fit the available memory.
    """
    import psutil

    if precision is not None and (isinstance(precision, bool) or not isinstance(precision, (int, float))
                                  or not 0 < precision < 1):
        raise ProbeError(f"`precision` must be a fraction between 0 and 1 (0.02 = 2 %), found {precision!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0):
        raise ProbeError(f"`budget` must be a positive number of seconds, found {budget!r}")
    if trials is None and precision is not None:
        trials = PRECISION_MAX_TRIALS
    trials = (QUICK_TRIALS if quick else DEFAULT_TRIALS) if trials is None else trials
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)) or trials < 2:
        raise ProbeError(f"`trials` must be an integer of at least 2 (one warm-up and one measured "
                         f"trial), found {trials!r}")
    target = target_seconds if target_seconds is not None else (QUICK_TARGET_SECONDS if quick else TARGET_SECONDS)
    if not target > 0:
        raise ProbeError(f"`target_seconds` must be positive, found {target!r}")
    cpus = usable_cpus()
    threads = len(cpus) if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise ProbeError(f"`threads` must be a positive integer, found {threads!r}")
    labels = dict(labels or {})
    unknown = sorted(set(labels) - set(schema.LABELS))
    if unknown:
        raise ProbeError(f"unknown label '{unknown[0]}'; labels are: {', '.join(schema.LABELS)}")
    if "run" in labels:
        raise ProbeError("`run` is the trial number and is set by the probe (run 0 is the warm-up)")
    overrides = {name: parse_size(v, name=name) for name, v in (("l1", l1), ("l2", l2), ("l3", l3))
                 if v is not None}
    mem_size = parse_size(memory, name="memory") if memory is not None else None

    if len(overrides) == 3:
        caches = (Cache("L1", overrides["l1"], False, threads), Cache("L2", overrides["l2"], False, threads),
                  Cache("L3", overrides["l3"], True, 1))
        caches = tuple(Cache(c.level, c.size, c.shared, c.instances, c.line, "override") for c in caches)
    else:
        try:
            detected = {c.level: c for c in detect_caches(cpus)}
        except MachineError as exc:  # the probe's own error: the sizes are the probe's options
            raise ProbeError(str(exc)) from None
        for name, size in overrides.items():
            old = detected.get(name.upper())
            detected[name.upper()] = Cache(name.upper(), size, old.shared if old else name == "l3",
                                           old.instances if old else 1,
                                           old.line if old else _DEFAULT_LINE, "override")
        caches = tuple(detected[k] for k in sorted(detected))
    levels = plan(caches, memory=mem_size)
    need = required_bytes(levels, threads)
    available = psutil.virtual_memory().available
    if need > available:
        mem = levels[-1]
        raise ProbeError(f"the probe needs {format_size(need)} (two arrays of {format_size(mem.size)} for the memory "
                         f"level) but only {format_size(available)} is available; give a smaller `memory` "
                         f"(--memory-size) or free memory")
    machine = detect_machine(caches)
    return _Runner(levels, machine, trials=int(trials), threads=int(threads), target=target,
                   all_cores=all_cores, seed=seed, labels=labels, progress=progress, quick=quick,
                   thresholds=thresholds or guards.Thresholds(), precision=precision, budget=budget).run()


class _Buffers:
    """The arrays of one level, the thread slices, and timed kernel calls."""

    def __init__(self, level: Level, threads: int, line: int, seed: int):
        self.level = level
        self.threads = threads
        n = level.size // _ELEMENT
        total = n if level.shared else n * threads
        self.a = _aligned_empty(total)
        self.b = _aligned_empty(total)
        # First touch now, outside any timing: np.empty maps pages lazily, and an
        # untouched page reads as the kernel's shared zero page (a cache hit).
        _write(self.a, 1)
        _write(self.b, 1)
        self.lines = build_chain(self.a[:n], line, seed)
        self.single = (self.a[:n], self.b[:n])
        per = total // threads if level.shared else n
        per -= per % 2
        self.parts = [(self.a[k * per:(k + 1) * per], self.b[k * per:(k + 1) * per]) for k in range(threads)]

    def calls(self, metric: str, parts: list[tuple[np.ndarray, np.ndarray]]):
        """(function(reps), bytes per rep) for `metric` on the given slices."""
        if metric == "mem_read_bw":
            return [(lambda r, a=a: _read(a, r)) for a, _ in parts], sum(a.nbytes for a, _ in parts)
        if metric == "mem_write_bw":
            return [(lambda r, b=b: _write(b, r)) for _, b in parts], sum(b.nbytes for _, b in parts)
        if self.level.copy_halves:
            pairs = [(a[: a.size // 2], b[: b.size // 2]) for a, b in parts]
        else:
            pairs = parts
        return ([(lambda r, s=s, d=d: _copy(s, d, r)) for s, d in pairs],
                sum(2 * s.nbytes for s, _ in pairs))

    def chase(self, steps: int) -> float:
        chain = self.single[0]
        t0 = time.perf_counter()
        _chase(chain, steps)
        return time.perf_counter() - t0


_HUGE = 2 << 20  # x86-64 transparent huge page


def _aligned_empty(n: int) -> np.ndarray:
    """An uninitialized uint64 array; from 4 MiB on, starting on a 2 MiB boundary.

    numpy asks Linux for transparent huge pages (``madvise``) on allocations of
    4 MiB and more, but only whole, aligned 2 MiB pages can be huge: an 8 MiB
    array at an arbitrary address got about a quarter of its memory on huge
    pages here, where the C reference (``posix_memalign`` to 2 MiB) got all.
    """
    if n * _ELEMENT < 2 * _HUGE:
        return np.empty(n, dtype=np.uint64)
    raw = np.empty(n + _HUGE // _ELEMENT, dtype=np.uint64)
    offset = (-raw.__array_interface__["data"][0] % _HUGE) // _ELEMENT
    return raw[offset:offset + n]


def huge_page_share(array: np.ndarray, smaps: str | os.PathLike = "/proc/self/smaps") -> float | None:
    """Share of `array`'s resident memory backed by transparent huge pages (2 MiB on
    x86-64), from the kernel's ``smaps`` of the mapping that holds it; None where the
    OS does not say (not Linux, or the mapping is not found).

    The pointer chase over a DRAM-sized set pays a page walk per TLB miss: with 4 KiB
    pages that dominates the latency, so the page size is part of what a latency means
    (and a C reference must use the same pages to be comparable).
    """
    start = array.__array_interface__["data"][0]
    end = start + array.nbytes
    try:
        text = Path(smaps).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    rss = huge = 0
    inside = False
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if "-" in head and ":" not in head:
            lo, _, hi = head.partition("-")
            try:
                a, b = int(lo, 16), int(hi, 16)
            except ValueError:
                inside = False
                continue
            inside = a < end and b > start
        elif inside and line.startswith("Rss:"):
            rss += int(line.split()[1])
        elif inside and line.startswith("AnonHugePages:"):
            huge += int(line.split()[1])
    return huge / rss if rss else None


def _timed(funcs: list[Callable[[int], Any]], reps: int) -> float:
    """Wall time of running every function with `reps` at once, one thread each."""
    if len(funcs) == 1:
        t0 = time.perf_counter()
        funcs[0](reps)
        return time.perf_counter() - t0
    barrier = threading.Barrier(len(funcs))
    starts = [0.0] * len(funcs)
    ends = [0.0] * len(funcs)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            barrier.wait()
            starts[k] = time.perf_counter()
            funcs[k](reps)
            ends[k] = time.perf_counter()
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(len(funcs))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return max(ends) - min(starts)


def _calibrate(measure: Callable[[int], float], target: float, start: int = 1) -> int:
    """Repetitions that make `measure(reps)` last about `target` seconds."""
    reps = start
    while True:
        dt = measure(reps)
        if dt >= target / 4 or reps >= 1 << 40:
            return max(1, math.ceil(reps * target / max(dt, 1e-9)))
        reps *= 8 if dt < target / 64 else 2


class _Runner:
    def __init__(self, levels, machine, *, trials, threads, target, all_cores, seed, labels, progress, quick,
                 thresholds, precision=None, budget=None):
        self.levels, self.machine = levels, machine
        self.trials, self.threads, self.target = trials, threads, target
        self.modes = (SINGLE, ALL_CORES) if all_cores else (SINGLE,)
        self.seed, self.labels, self.progress, self.quick = seed, labels, progress, quick
        self.thresholds = thresholds
        self.precision, self.budget = precision, budget
        self.reps: dict[tuple[str, str, str], int] = {}

    def run(self) -> ProbeResult:
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        compile_kernels()
        line = min((c.line for c in self.machine.caches), default=_DEFAULT_LINE)
        seeds = np.random.SeedSequence(self.seed).generate_state(len(self.levels), dtype=np.uint64)
        buffers = {lv.name: _Buffers(lv, self.threads, line, int(seed))
                   for lv, seed in zip(self.levels, seeds)}
        source_file = f"probe://{self.machine.hostname}/{started:%Y-%m-%dT%H:%M:%SZ}"
        huge = {name: huge_page_share(buf.single[0]) for name, buf in buffers.items()}
        rows = []
        trial_times = []
        interference = []
        stopped, reached = f"{self.trials} trials done", math.nan
        for trial in range(self.trials):
            if trial >= 2 and self.budget is not None and time.perf_counter() - t0 >= self.budget:
                stopped = f"budget of {self.budget:g} s ran out after {trial} trials"
                break
            begun = datetime.now(timezone.utc)
            trial_rows: list[dict[str, Any]] = []
            reasons: list[str] = []
            for mode in self.modes:
                # one guard per thread mode: the run queue the trial itself fills differs
                with guards.Monitor(threads=1 if mode == SINGLE else self.threads,
                                    thresholds=self.thresholds) as monitor:
                    for lv in self.levels:
                        if self.progress is not None and mode == self.modes[0]:
                            self.progress(trial, self.trials, lv.name, time.perf_counter() - t0)
                        trial_rows += self._measure(trial, buffers[lv.name], mode)
                interference.append({"trial": trial, "mode": mode, **monitor.result.to_dict()})
                reasons += [f"{mode}: {r}" for r in monitor.result.reasons]
            reasons += list(sanity(trial_rows))
            flag = guards.combine(reasons)
            for row in trial_rows:
                row["flag"] = flag
            rows += trial_rows
            trial_times.append([begun.isoformat(), datetime.now(timezone.utc).isoformat()])
            if self.precision is not None and trial >= 1:
                reached = worst_precision(schema.from_rows(rows, source=SOURCE))
                if reached <= self.precision:
                    stopped = f"precision of {self.precision:.1%} reached after {trial + 1} trials"
                    break
        finished = datetime.now(timezone.utc)
        user_stage = self.labels.pop("stage", None)
        for row in rows:
            row["stage"] = f"{user_stage}: {row['stage']}" if user_stage else row["stage"]
        defaults = {"experiment": "adhoc", "condition": "unlabelled", **default_labels(self.machine),
                    "source": SOURCE, "source_file": source_file, "aggregate": "single"}
        table = schema.from_rows(rows, **{**defaults, **self.labels})
        table = schema.validate(table, source=SOURCE)
        settings = {"trials": len(trial_times), "warm_up_run": 0, "threads": self.threads, "quick": self.quick,
                    "target_seconds": self.target, "seed": self.seed, "modes": list(self.modes),
                    "repetitions": {"/".join(k): v for k, v in self.reps.items()},
                    "started": started.isoformat(), "finished": finished.isoformat(),
                    "trial_times": trial_times,
                    "thresholds": asdict(self.thresholds), "interference": interference,
                    "precision": self.precision, "budget": self.budget, "stopped": stopped,
                    "huge_page_share": huge,
                    "worst_precision": None if math.isnan(reached) else reached,
                    "seconds": round(time.perf_counter() - t0, 3)}
        return ProbeResult(table, self.machine, self.levels, settings)

    def _measure(self, trial: int, buf: _Buffers, mode: str) -> list[dict[str, Any]]:
        """One level's bandwidths in `mode`, and in single-thread mode its latency."""
        rows = []
        warm = trial == 0
        parts = [buf.single] if mode == SINGLE else buf.parts
        for metric in BANDWIDTH_METRICS:
            funcs, nbytes = buf.calls(metric, parts)
            key = (buf.level.name, mode, metric)
            if warm:
                self.reps[key] = _calibrate(lambda r, funcs=funcs: _timed(funcs, r), self.target)
            reps = self.reps[key]
            dt = _timed(funcs, reps)
            rows.append(self._row(trial, mode, metric, buf.level.name, nbytes * reps / dt))
        if mode != SINGLE:
            return rows
        key = (buf.level.name, SINGLE, "mem_latency")
        if warm:
            self.reps[key] = _calibrate(buf.chase, self.target, start=1024)
        steps = self.reps[key]
        dt = buf.chase(steps)
        rows.append(self._row(trial, SINGLE, "mem_latency", buf.level.name, dt / steps))
        return rows

    @staticmethod
    def _row(trial: int, mode: str, metric: str, component: str, value: float) -> dict:
        return {"run": trial, "stage": f"{mode} {WARM_UP}" if trial == 0 else mode, "metric": metric,
                "component": component, "value": float(value)}


def sanity(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The physical orderings one trial's rows break (:func:`workbench.guards.sanity`):
    latency rising from L1 to DRAM, DRAM bandwidth below L1's, per thread mode."""
    latency: dict[str, float] = {}
    bandwidth: dict[str, dict[str, float]] = {}
    for row in rows:
        mode = row["stage"].removesuffix(f" {WARM_UP}")
        if row["metric"] == "mem_latency":
            latency[row["component"]] = row["value"]
        else:
            bandwidth.setdefault(f"{row['metric']} {mode}", {})[row["component"]] = row["value"]
    return guards.sanity(latency, bandwidth)


def stage_name(user_stage: str | None, mode: str) -> str:
    """The ``stage`` of the probe's rows for a thread mode (``"idle: all-cores"``)."""
    return f"{user_stage}: {mode}" if user_stage else mode


def summary_of_one(table: pl.DataFrame, *, confidence_level: float = 0.95,
                   include_flagged: bool = False) -> pl.DataFrame:
    """:func:`summary` of the probe rows of one condition and host (refused otherwise)."""
    data = table.filter(pl.col("source") == SOURCE)
    groups = data.select("condition", "host").unique()
    if groups.height > 1:
        raise WorkbenchError(f"the table holds probe rows of {groups.height} condition/host pairs; "
                             "filter it to one first")
    return summary(data, confidence_level=confidence_level, include_flagged=include_flagged)


def cache_memory_table(table: pl.DataFrame, *, bandwidth_stage: str = "all-cores",
                             stage: str | None = None, confidence_level: float = 0.95,
                             include_flagged: bool = False) -> pl.DataFrame:
    """The memory probe in EVEREST's Cache & Memory layout: rows Memory/L1/L2/L3,
    columns Read/Write/Copy (MB/s) and Latency (ns).

    Each cell is the median of the measured trials (the warm-up excluded) and
    its distribution-free confidence interval, ``"11632 [11553, 11712]"``;
    ``[-]`` where there are too few trials for an interval at
    `confidence_level` (6 at 95 %). Bandwidth comes from `bandwidth_stage`
    (``all-cores``, as AIDA64 measures it, or ``single-thread``), latency is
    always single-thread.

    Parameters
    ----------
    table : polars.DataFrame
        Probe rows of one condition and host (other sources are ignored).
    bandwidth_stage : str
        ``all-cores`` or ``single-thread``.
    stage : str, optional
        The user's stage label given to the probe, if any (rows are ``"<stage>: all-cores"``).
    confidence_level : float
        Of the interval of the median.
    """
    medians = summary_of_one(table, confidence_level=confidence_level, include_flagged=include_flagged)
    bandwidth = (pl.col("stage") == stage_name(stage, bandwidth_stage)) & (pl.col("metric") != "mem_latency")
    latency = (pl.col("stage") == stage_name(stage, SINGLE)) & (pl.col("metric") == "mem_latency")
    rows = medians.filter(bandwidth | latency)
    if rows.is_empty():
        raise WorkbenchError(f"no measured probe rows for stage {stage_name(stage, bandwidth_stage)!r}")
    out = []
    for component, label in schema.CACHE_MEMORY.rows:
        cells = {"": label}
        for metric in schema.CACHE_MEMORY.metrics:
            column = schema.CACHE_MEMORY.column_label(metric, unit=True)
            hit = rows.filter((pl.col("component") == component) & (pl.col("metric") == metric))
            if hit.is_empty():
                cells[column] = ""  # an absent level: EVEREST leaves the row empty
                continue
            r = hit.row(0, named=True)
            scale = schema.display_unit(metric)[1]
            digits = 0 if schema.display_unit(metric)[0] == "MB/s" else 1  # EVEREST: whole MB/s, ns to 0.1
            interval = ("[-]" if r["low"] != r["low"] else  # NaN: too few trials
                        f"[{r['low'] * scale:.{digits}f}, {r['high'] * scale:.{digits}f}]")
            cells[column] = f"{r['median'] * scale:.{digits}f} {interval}"
        cells["trials"] = str(int(rows.filter(pl.col("component") == component)["n"].min() or 0))
        out.append(cells)
    return pl.DataFrame(out)


def worst_precision(table: pl.DataFrame, *, confidence_level: float = 0.95) -> float:
    """The widest interval of the median among the probe's cells, as a fraction of its
    median (half-width; 0.02 = +-2 %), over undisturbed measured trials; NaN while
    some cell has too few trials for an interval (6 at 95 %)."""
    try:
        s = summary(table, confidence_level=confidence_level)
    except WorkbenchError:
        return math.nan
    half = ((s["high"] - s["low"]) / 2 / s["median"]).to_numpy()
    return math.nan if np.isnan(half).any() else float(half.max())


def flagged_trials(table: pl.DataFrame) -> dict[int, str]:
    """Measured trials (warm-up left out) that a guard or sanity check flagged: run -> why."""
    rows = measured(table).filter(pl.col(schema.FLAG).is_not_null())
    return dict(rows.group_by("run").agg(pl.col(schema.FLAG).first()).sort("run").iter_rows())


@dataclass(frozen=True)
class Disturbance:
    """Which measured trials were flagged, and what to tell a reader about it.

    Attributes
    ----------
    measured : int
        Measured trials (the warm-up left out).
    flagged : dict
        run -> why (:func:`flagged_trials`).
    message : str or None
        A warning for the reader; None when no trial was flagged.
    """

    measured: int
    flagged: dict[int, str]
    message: str | None

    @property
    def all_flagged(self) -> bool:
        """No undisturbed trial: a summary must include the flagged ones, said so."""
        return bool(self.flagged) and len(self.flagged) >= self.measured


def disturbance(table: pl.DataFrame) -> Disturbance:
    """What the interference guards and sanity checks said about the measured trials."""
    flagged = flagged_trials(table)
    measured_runs = measured(table)["run"].n_unique()
    if not flagged:
        return Disturbance(measured_runs, flagged, None)
    lines = [f"WARNING: {len(flagged)} of {measured_runs} measured trials were disturbed (flag column):"]
    lines += [f"  trial {run}: {why}" for run, why in flagged.items()]
    if len(flagged) >= measured_runs:
        lines.append("No undisturbed trial: the numbers below include the disturbed trials and are NOT a result "
                     "of this machine. Run the probe again on a quiet machine.")
    else:
        lines.append("The disturbed trials are left out of the summaries below.")
    return Disturbance(measured_runs, flagged, "\n".join(lines))


# --------------------------------------------------------------------------- files

def write(result: ProbeResult, path: str | os.PathLike) -> Path:
    """Write the table to Parquet with the run's metadata, atomically
    (:func:`workbench.storage.write_table`; the document's producer is
    ``workbench-probe``, its machine and settings those of :meth:`ProbeResult.metadata`).

    :func:`workbench.read_table` reads the file like any table;
    :func:`read_metadata` returns the metadata.
    """
    from .storage import write_table

    meta = result.metadata()
    return write_table(result.table, path, metadata={
        "producer": {"name": meta["format"], "version": meta["version"]}, "machine": meta["machine"],
        "settings": {**meta["settings"], "levels": meta["levels"]}})


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata :func:`write` stored with a probe table, as :meth:`ProbeResult.metadata`
    gives it (``format``, ``version``, ``machine``, ``levels``, ``settings``).

    Raises
    ------
    WorkbenchError
        If the file is missing, not Parquet, or not written by the probe.
    """
    from . import storage

    doc = storage.read_metadata(path)
    producer = doc.get("producer", {})
    if producer.get("name") != SOURCE:
        raise WorkbenchError(f"{path}: not written by `workbench probe` (its metadata names no producer '{SOURCE}')")
    settings = dict(doc.get("settings", {}))
    levels = settings.pop("levels", None)
    if not isinstance(levels, list) or "machine" not in doc:
        raise ParseError(path, f"Parquet metadata '{storage.KEY}'", "a probe's machine and settings with levels",
                         repr(doc)[:80])
    return {"format": producer["name"], "version": producer.get("version"), "machine": doc["machine"],
            "levels": levels, "settings": settings}


# --------------------------------------------------------------------------- summaries

def measured(table: pl.DataFrame) -> pl.DataFrame:
    """The probe's rows without the warm-up (run 0, stage ``... warm-up``)."""
    return table.filter((pl.col("source") == SOURCE) & (pl.col("run") > 0)
                        & ~pl.col("stage").str.ends_with(WARM_UP))


def summary(table: pl.DataFrame, *, confidence_level: float = 0.95,
            include_flagged: bool = False) -> pl.DataFrame:
    """Median of the measured trials per stage, level and metric, with an interval.

    Trials the interference guards or sanity checks flagged are left out unless
    `include_flagged` (see :func:`flagged_trials`).

    The interval is the distribution-free confidence interval of the median
    from order statistics (binomial; ``scipy.stats.quantile_test``). It needs
    at least 6 measured trials at 95 %; with fewer, its bounds are NaN rather
    than an interval that does not hold its level.

    Returns
    -------
    polars.DataFrame
        Columns ``stage, component, metric, n, median, low, high, min, max``
        (canonical units).
    """
    from scipy.stats import quantile_test

    rows = []
    data = measured(table).filter(pl.col("metric").is_in(METRICS))
    if data.is_empty():
        raise WorkbenchError("no measured probe trials in the table (only the warm-up, or no probe rows)")
    if not include_flagged:
        data = data.filter(pl.col(schema.FLAG).is_null())
        if data.is_empty():
            raise WorkbenchError("every measured probe trial was flagged as disturbed (see the flag column); "
                                 "nothing to summarize as a result")
    for (stage, component, metric), group in data.group_by("stage", "component", "metric",
                                                           maintain_order=True):
        values = group["value"].to_numpy()
        med = float(np.median(values))
        ci = quantile_test(values, q=med, p=0.5).confidence_interval(confidence_level)
        rows.append({"stage": stage, "component": component, "metric": metric, "n": len(values),
                     "median": med, "low": float(ci.low), "high": float(ci.high),
                     "min": float(values.min()), "max": float(values.max())})
    order = {name: i for i, name in enumerate(LEVELS)}
    return (pl.DataFrame(rows)
            .with_columns(_l=pl.col("component").replace_strict(order, default=9),
                          _m=pl.col("metric").replace_strict({m: i for i, m in enumerate(METRICS)}, default=9))
            .sort("stage", "_l", "_m").drop("_l", "_m"))


def per_trial(table: pl.DataFrame) -> pl.DataFrame:
    """Every trial's value in display units (MB/s, ns), one column per run;
    ``run 0 (warm-up)`` first, so the warm-up can be seen against the others."""
    data = table.filter((pl.col("source") == SOURCE) & pl.col("metric").is_in(METRICS))
    if data.is_empty():
        raise WorkbenchError("no probe rows in the table")
    data = schema.to_display(data).with_columns(
        mode=pl.col("stage").str.strip_suffix(f" {WARM_UP}"),
        column=pl.when(pl.col("run") == 0).then(pl.lit(f"run 0 ({WARM_UP})"))
        .otherwise(pl.format("run {}", pl.col("run"))),
        shown=pl.col("display_value").round(1))
    order = {name: i for i, name in enumerate(LEVELS)}
    wide = data.pivot(on="column", index=["mode", "component", "metric", "display_unit"], values="shown",
                      aggregate_function="first", maintain_order=True)
    return (wide.with_columns(_l=pl.col("component").replace_strict(order, default=9))
            .sort("mode", "_l", maintain_order=True).drop("_l")
            .rename({"mode": "stage", "component": "level", "display_unit": "unit"}))


def describe(metadata: Mapping[str, Any]) -> pl.DataFrame:
    """The machine and the run, as ``item, value`` rows (from :meth:`ProbeResult.metadata`
    or :func:`read_metadata`)."""
    m, s = Machine.from_dict(metadata["machine"]), metadata["settings"]
    clock = f"{m.clock_hz / 1e6:.0f} MHz ({m.clock_kind})" if m.clock_hz else "not reported"
    caches = "; ".join(f"{c.level} {format_size(c.size)} x {c.instances} "
                       f"({'shared' if c.shared else 'private'}, {c.source})" for c in m.caches)
    levels = "; ".join(f"{lv['name']} {format_size(lv['size'])} ({lv['rule']})" for lv in metadata["levels"])
    rows = [("CPU", m.cpu_model or "not reported"), ("clock", clock),
            ("CPUs available", str(m.logical_cpus)), ("OS", m.os), ("host", m.hostname),
            ("hypervisor", describe_virtualization(m.virtualization)), ("caches", caches),
            *(("note", note) for note in m.notes), ("working sets", levels),
            ("trials", f"{s['trials']} (run 0 is the warm-up; {s['trials'] - 1} measured)"),
            ("threads (all-cores)", str(s["threads"])), ("modes", ", ".join(s["modes"])),
            ("seconds per measurement", f"{s['target_seconds']:g}"),
            ("started", s["started"]), ("duration", f"{s['seconds']:.1f} s")]
    return pl.DataFrame(rows, schema=["item", "value"], orient="row")


def level_sizes(metadata: Mapping[str, Any]) -> dict[str, int]:
    """Working-set bytes per component, from the metadata (for the figure's x axis)."""
    return {lv["name"]: int(lv["size"]) for lv in metadata["levels"]}


def cache_sizes(metadata: Mapping[str, Any]) -> dict[str, int]:
    """Cache bytes per level, from the metadata (marked on the figure)."""
    return {c["level"]: int(c["size"]) for c in metadata["machine"]["caches"]}
