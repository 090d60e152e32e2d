"""Interference guards: was a measurement the workbench took itself disturbed?

A benchmark that shares its machine measures its neighbours too. On a loaded
2-core guest the probe once reported L1 latency 9.4 ns above L2's 5.3 ns and
DRAM latency of 999 ns, formatted like any good result. A :class:`Monitor`
wraps each trial (a probe trial, a capture stage, a runner trial) and records,
between its start and its end:

``steal``
    Share of the machine's CPU time the hypervisor took away (``steal`` in
    ``/proc/stat``, through psutil), in percent.
``others``
    CPU time that processes other than this one used, in percent of one CPU
    (system-wide busy time minus this process's own user + system time, over
    the wall time). Guest time (a KVM host running vCPUs) is counted once.
``run_queue``
    Mean number of runnable tasks beyond the trial's own threads
    (``procs_running`` of ``/proc/stat``, sampled every 10 ms by a helper
    thread, which counts itself out).
``clock``
    The lowest current/maximum clock ratio over the CPUs where the OS says
    (``psutil.cpu_freq(percpu=True)``; absent in most guests), in percent.

A guard *fires* when its value passes its threshold (:class:`Thresholds`, stated
with every flag). Flagged trials stay in the table; their ``flag`` column names the
guards that fired, and verdicts leave them out by default, with a note.

What this cannot see: a noisy neighbour on the *host* of a guest shows only as
steal (if the hypervisor reports it) and as slower numbers; memory-bandwidth
contention from another guest leaves no trace here at all. The probe's physical
sanity checks (:func:`sanity`) catch the grossest of those cases.

Linux gives every guard; elsewhere psutil gives ``others`` and the clock, and
``steal`` and ``run_queue`` are None (not measured, never "fine").
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

#: Seconds of disturbed CPU time below which a CPU-time guard does not fire (2 ticks).
MIN_EVIDENCE = 0.02
# Fields of psutil.cpu_times() that are not busy time of some process.
_IDLE = ("idle", "iowait", "steal")
# On Linux, guest time is already counted in user/nice (psutil's own cpu_percent
# subtracts it the same way): see workbench.capture.
_COUNTED_TWICE = ("guest", "guest_nice")


@dataclass(frozen=True)
class Thresholds:
    """When a guard fires. Defaults are conservative for a 2-core guest: a trial
    passes only when the machine was nearly all its own.

    Attributes
    ----------
    steal : float
        Percent of CPU time stolen by the hypervisor.
    others : float
        Percent of one CPU used by other processes (25 = a quarter core).
    run_queue : float
        Mean runnable tasks beyond the trial's own threads.
    clock : float
        Lowest clock, percent of the maximum (fires below it).
    """

    steal: float = 2.0
    others: float = 25.0
    run_queue: float = 0.5
    clock: float = 90.0

    def describe(self) -> str:
        return (f"steal > {self.steal:g} %, other processes > {self.others:g} % of a CPU, "
                f"run queue > {self.run_queue:g} beyond the trial's threads, clock < {self.clock:g} % of max")


@dataclass(frozen=True)
class Interference:
    """What the guards measured over one trial, and which fired.

    Values are None where the OS does not say (never read as "no interference").
    """

    seconds: float
    steal: float | None
    others: float | None
    run_queue: float | None
    clock: float | None
    reasons: tuple[str, ...] = field(default=())

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)

    @property
    def flag(self) -> str | None:
        """The ``flag`` column's text: the guards that fired, or None."""
        return "; ".join(self.reasons) if self.reasons else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Snapshot:
    """Counters at one instant: system CPU times (seconds, summed over CPUs) and
    this process's CPU seconds."""

    wall: float
    cpu: Mapping[str, float]
    own: float


def snapshot(*, own_tree: bool = False) -> Snapshot:
    """Counters now. With `own_tree`, "own" CPU time is this process's and every
    process it started (running descendants, and the children it has waited for):
    what a runner trial's workload and its condition's background load use is then
    not counted as other processes' work."""
    import psutil

    times = psutil.cpu_times()._asdict()
    me = psutil.Process()
    t = me.cpu_times()
    own = t.user + t.system
    if own_tree:
        own += t.children_user + t.children_system
        for child in me.children(recursive=True):
            try:
                c = child.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            own += c.user + c.system
    return Snapshot(time.perf_counter(), times, own)


def assess(before: Snapshot, after: Snapshot, *, run_queue: float | None = None, clock: float | None = None,
           thresholds: Thresholds = Thresholds()) -> Interference:
    """Guards over the span between two snapshots (pure: tests call it on recorded counters).

    Parameters
    ----------
    before, after : Snapshot
    run_queue : float, optional
        Mean runnable tasks beyond the trial's threads (the monitor's sampling).
    clock : float, optional
        Lowest clock in percent of the maximum.
    """
    wall = max(after.wall - before.wall, 1e-9)
    delta = {k: after.cpu[k] - before.cpu.get(k, 0.0) for k in after.cpu}
    total = sum(v for k, v in delta.items() if k not in _COUNTED_TWICE)
    busy = total - sum(delta.get(k, 0.0) for k in _IDLE)
    steal = 100.0 * delta["steal"] / total if "steal" in delta and total > 0 else None
    others = max(0.0, 100.0 * (busy - (after.own - before.own)) / wall)
    reasons = []
    # /proc/stat counts in scheduler ticks (10 ms at USER_HZ = 100): over a short trial one
    # tick is several percent. A guard on CPU time fires only on at least MIN_EVIDENCE
    # seconds of disturbed time, so a single tick never flags a trial.
    if steal is not None and steal > thresholds.steal and delta["steal"] < MIN_EVIDENCE:
        steal_fires = False
    else:
        steal_fires = steal is not None and steal > thresholds.steal
    others_fire = others > thresholds.others and others / 100 * wall >= MIN_EVIDENCE
    if steal_fires:
        reasons.append(f"steal {steal:.1f} % > {thresholds.steal:g} %")
    if others_fire:
        reasons.append(f"other processes {others:.0f} % of a CPU > {thresholds.others:g} %")
    if run_queue is not None and run_queue > thresholds.run_queue:
        reasons.append(f"run queue {run_queue:.1f} > {thresholds.run_queue:g} beyond the trial's threads")
    if clock is not None and clock < thresholds.clock:
        reasons.append(f"clock at {clock:.0f} % of max < {thresholds.clock:g} %")
    return Interference(round(wall, 6), steal, others, run_queue, clock, tuple(reasons))


def procs_running(root: str | os.PathLike = "/proc") -> int | None:
    """Runnable tasks now (``procs_running`` of ``/proc/stat``), None where unreadable."""
    try:
        with open(Path(root) / "stat", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("procs_running "):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def lowest_clock() -> float | None:
    """The lowest current clock over the CPUs, percent of its maximum; None where unknown."""
    import psutil

    try:
        freqs = psutil.cpu_freq(percpu=True)
    except (OSError, NotImplementedError, AttributeError):
        return None
    ratios = [100.0 * f.current / f.max for f in freqs or () if f.max and f.current]
    return min(ratios) if ratios else None


class Monitor:
    """Watch one trial: ``with Monitor(threads=2) as m: work()``, then ``m.result``.

    Parameters
    ----------
    threads : int
        Threads the trial itself keeps runnable (1 for a single-thread
        measurement, N for all-cores), subtracted from the run queue.
    thresholds : Thresholds
    interval : float
        Seconds between run-queue samples.
    own_tree : bool
        Count the processes this one started as its own (see :func:`snapshot`).
    """

    def __init__(self, threads: int = 1, *, thresholds: Thresholds = Thresholds(), interval: float = 0.01,
                 own_tree: bool = False):
        self.threads = threads
        self.own_tree = own_tree
        self.thresholds = thresholds
        self.interval = interval
        self.result: Interference | None = None
        self._samples: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._before: Snapshot | None = None

    def __enter__(self) -> "Monitor":
        self._samples.clear()
        self._stop.clear()
        self._before = snapshot(own_tree=self.own_tree)
        if procs_running() is not None:
            self._thread = threading.Thread(target=self._sample, name="workbench-guard", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            after = snapshot(own_tree=self.own_tree)
        finally:  # the sampler never outlives the trial, whatever happens here
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
        queue = None
        if self._samples:
            # the sampler is running when it reads: count it out with the trial's threads
            queue = max(0.0, sum(self._samples) / len(self._samples) - self.threads - 1)
        assert self._before is not None
        self.result = assess(self._before, after, run_queue=queue, clock=lowest_clock(),
                             thresholds=self.thresholds)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            n = procs_running()
            if n is not None:
                self._samples.append(n)


# --------------------------------------------------------------------------- physical sanity

#: Cache levels from nearest to farthest.
LEVEL_ORDER = ("L1", "L2", "L3", "memory")


def sanity(latency: Mapping[str, float], bandwidth: Mapping[str, Mapping[str, float]]) -> tuple[str, ...]:
    """Physical orderings one trial must show; the broken ones, as text.

    Parameters
    ----------
    latency : mapping
        Level -> seconds (single-thread). Must rise from L1 to memory.
    bandwidth : mapping
        ``"<metric> <mode>"`` -> level -> bytes/s. Memory must be below L1.
    """
    reasons = []
    levels = [lv for lv in LEVEL_ORDER if lv in latency]
    for near, far in zip(levels, levels[1:]):
        if not latency[near] < latency[far]:
            reasons.append(f"latency {near} {latency[near] * 1e9:.1f} ns >= {far} {latency[far] * 1e9:.1f} ns")
    for name, by_level in bandwidth.items():
        if "L1" in by_level and "memory" in by_level and not by_level["memory"] < by_level["L1"]:
            reasons.append(f"{name}: memory {by_level['memory'] / 1e6:.0f} MB/s >= L1 {by_level['L1'] / 1e6:.0f} MB/s")
    return tuple(reasons)


def combine(*reasons: Sequence[str]) -> str | None:
    """One ``flag`` text from several lists of reasons (None when all are empty)."""
    flat = [r for part in reasons for r in part]
    return "; ".join(flat) if flat else None
