"""Running the probe: buffers, timing, calibration, trials with their guards."""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import polars as pl

from .. import guards, quiet, schema
from ..machine import DEFAULT_LINE as _DEFAULT_LINE
from ..machine import Cache, Machine, MachineError, default_labels, detect_caches, detect_machine, format_size, usable_cpus
from ._common import (
    _ELEMENT,
    ALL_CORES,
    BANDWIDTH_METRICS,
    DEFAULT_TRIALS,
    METRICS,
    PRECISION_MAX_TRIALS,
    QUICK_TARGET_SECONDS,
    QUICK_TRIALS,
    SINGLE,
    SOURCE,
    TARGET_SECONDS,
    WARM_UP,
    ProbeError,
)
from ._kernels import _chase, _copy, _read, _write, build_chain, compile_kernels
from ._plan import Level, parse_size, plan, required_bytes
from ._summary import worst_precision


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
        precision: float | None = None, budget: float | None = None, own_tree: bool = False,
        metrics: Sequence[str] | None = None) -> ProbeResult:
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
    own_tree : bool
        Count the processes this one started as the probe's own in the guards (a
        runner's condition may start load on purpose).
    budget : float, optional
        Seconds: start no new trial after this much time (at least one measured
        trial runs). ``settings["stopped"]`` says why the probe stopped.
    metrics : sequence of str, optional
        Measure only these of :data:`METRICS` (default all). ``("mem_latency",)``
        is the latency alone: one array per level and no bandwidth pass, the same
        chase over the same working sets as in a full run (the standing report
        needs no more). Recorded in ``settings["metrics"]``.

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
    if metrics is None:
        metrics = METRICS
    elif (not isinstance(metrics, (list, tuple)) or not metrics
          or not all(isinstance(m, str) for m in metrics)):
        raise ProbeError(f"`metrics` must be a non-empty list of metric names ({', '.join(METRICS)}), "
                         f"found {metrics!r}")
    else:
        unknown_metrics = [m for m in metrics if m not in METRICS]
        if unknown_metrics:
            raise ProbeError(f"`metrics`: the probe does not measure {unknown_metrics[0]!r}; "
                             f"it measures {', '.join(METRICS)}")
        metrics = tuple(m for m in METRICS if m in metrics)  # the probe's order, once each
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ProbeError(f"`seed` must be a non-negative integer, found {seed!r}")
    if target_seconds is not None and (isinstance(target_seconds, bool)
                                       or not isinstance(target_seconds, (int, float))):
        raise ProbeError(f"`target_seconds` must be a number of seconds, found {target_seconds!r}")
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
    schema.check_labels(labels)  # before any trial
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
    bandwidth = any(m in BANDWIDTH_METRICS for m in metrics)
    need = required_bytes(levels, threads, bandwidth=bandwidth)
    available = psutil.virtual_memory().available
    if need > available:
        mem = levels[-1]
        arrays = "two arrays" if bandwidth else "an array"
        raise ProbeError(f"the probe needs {format_size(need)} ({arrays} of {format_size(mem.size)} for the memory "
                         f"level) but only {format_size(available)} is available; give a smaller `memory` "
                         f"(--memory-size) or free memory")
    machine = detect_machine(caches)
    return _Runner(levels, machine, trials=int(trials), threads=int(threads), target=target,
                   all_cores=all_cores, seed=seed, labels=labels, progress=progress, quick=quick,
                   thresholds=thresholds or guards.Thresholds(), precision=precision, budget=budget,
                   own_tree=own_tree, metrics=metrics).run()


class _Buffers:
    """The arrays of one level, the thread slices, and timed kernel calls.

    Without `bandwidth` only the chase's array is made (no second array for write
    and copy); without `latency` no chase is linked."""

    def __init__(self, level: Level, threads: int, line: int, seed: int, *, bandwidth: bool = True,
                 latency: bool = True):
        self.level = level
        self.threads = threads
        n = level.size // _ELEMENT
        total = n if level.shared else n * threads
        self.a = _aligned_empty(total)
        self.b = _aligned_empty(total) if bandwidth else None
        # First touch now, outside any timing: np.empty maps pages lazily, and an
        # untouched page reads as the kernel's shared zero page (a cache hit).
        for array in (self.a, self.b):
            if array is not None:
                _first_touch(array, threads)
        self.lines = build_chain(self.a[:n], line, seed) if latency else 0
        self.single = (self.a[:n], None if self.b is None else self.b[:n])
        per = total // threads if level.shared else n
        per -= per % 2
        self.parts = ([(self.a[k * per:(k + 1) * per], self.b[k * per:(k + 1) * per]) for k in range(threads)]
                      if self.b is not None else [])

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


def _first_touch(array: np.ndarray, threads: int) -> None:
    """Write every page of `array`, `threads` slices at once.

    A first touch is a page fault per page (per 2 MiB with huge pages), and in a
    guest often a fault in the hypervisor too; the CPUs serve them in parallel.
    Two 1.2 GiB arrays (the quick probe's DRAM level on a 300 MiB L3) took 0.23 s
    on two threads against 0.5 s on one here, and 1.3-1.8 s against 1.6-2.8 s
    when the host had first to back the memory (a Firecracker guest).
    """
    per = -(-array.size // threads)
    slices = [array[k * per:(k + 1) * per] for k in range(threads) if k * per < array.size]
    _timed([(lambda r, s=s: _write(s, r)) for s in slices], 1)


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


def _calibrate(measure: Callable[[int], float], target: float, start: int = 1) -> tuple[int, float | None]:
    """Repetitions that make `measure(reps)` last about `target` seconds, and the
    seconds of the last call when it ran exactly that many (a DRAM pass that alone
    lasts longer than the target): that call is then a measurement at the
    calibrated count, and the warm-up trial takes it as its value instead of
    running the same pass again (None otherwise)."""
    reps = start
    while True:
        dt = measure(reps)
        if dt >= target / 4 or reps >= 1 << 40:
            chosen = max(1, math.ceil(reps * target / max(dt, 1e-9)))
            return chosen, (dt if chosen == reps else None)
        reps *= 8 if dt < target / 64 else 2


class _Runner:
    def __init__(self, levels, machine, *, trials, threads, target, all_cores, seed, labels, progress, quick,
                 thresholds, precision=None, budget=None, own_tree=False, metrics=METRICS):
        self.levels, self.machine = levels, machine
        self.trials, self.threads, self.target = trials, threads, target
        self.metrics = tuple(metrics)
        self.bandwidth = tuple(m for m in BANDWIDTH_METRICS if m in self.metrics)
        # all-cores measures bandwidth only (latency is single-thread, as in AIDA64)
        self.modes = (SINGLE, ALL_CORES) if all_cores and self.bandwidth else (SINGLE,)
        self.seed, self.labels, self.progress, self.quick = seed, labels, progress, quick
        self.thresholds = thresholds
        self.precision, self.budget, self.own_tree = precision, budget, own_tree
        self.reps: dict[tuple[str, str, str], int] = {}

    def run(self) -> ProbeResult:
        started = datetime.now(timezone.utc)
        t0 = time.perf_counter()
        compile_kernels()
        line = min((c.line for c in self.machine.caches), default=_DEFAULT_LINE)
        seeds = np.random.SeedSequence(self.seed).generate_state(len(self.levels), dtype=np.uint64)
        buffers = {lv.name: _Buffers(lv, self.threads, line, int(seed), bandwidth=bool(self.bandwidth),
                                     latency="mem_latency" in self.metrics)
                   for lv, seed in zip(self.levels, seeds)}
        source_file = f"probe://{self.machine.hostname}/{started:%Y-%m-%dT%H:%M:%SZ}"
        huge = {name: huge_page_share(buf.single[0]) for name, buf in buffers.items()}
        rows = []
        trial_times = []
        interference = []
        stopped, reached = f"{self.trials} trials done", math.nan
        # The trials alone need the machine to themselves (workbench report: quiet.py);
        # compiling, allocating and linking above run beside the other reports.
        with quiet.measuring():
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
                                        thresholds=self.thresholds, own_tree=self.own_tree) as monitor:
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
                    "metrics": list(self.metrics),
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
        for metric in self.bandwidth:
            funcs, nbytes = buf.calls(metric, parts)
            key = (buf.level.name, mode, metric)
            dt = None
            if warm:
                self.reps[key], dt = _calibrate(lambda r, funcs=funcs: _timed(funcs, r), self.target)
            reps = self.reps[key]
            if dt is None:
                dt = _timed(funcs, reps)
            rows.append(self._row(trial, mode, metric, buf.level.name, nbytes * reps / dt))
        if mode != SINGLE or "mem_latency" not in self.metrics:
            return rows
        key = (buf.level.name, SINGLE, "mem_latency")
        dt = None
        if warm:
            self.reps[key], dt = _calibrate(buf.chase, self.target, start=1024)
        steps = self.reps[key]
        if dt is None:
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
