"""Interference guards: the arithmetic on recorded counters, the run queue from a
recorded /proc/stat, the physical sanity checks, and one real disturbance (busy
child processes) that the monitor must see. Nothing asserts that this machine is
quiet: CI may share it."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from workbench import guards

from .conftest import FIXTURES

GUARDS = FIXTURES / "guards"


def snap(wall, own, **cpu):
    base = {"user": 0.0, "nice": 0.0, "system": 0.0, "idle": 0.0, "iowait": 0.0, "irq": 0.0, "softirq": 0.0,
            "steal": 0.0, "guest": 0.0, "guest_nice": 0.0}
    return guards.Snapshot(wall, {**base, **cpu}, own)


def test_a_quiet_trial_fires_nothing():
    # 2 CPUs over 1 s: this process used 1 CPU-second, nobody else did
    before = snap(10.0, 5.0, user=100.0, idle=100.0)
    after = snap(11.0, 6.0, user=101.0, idle=101.0)
    r = guards.assess(before, after, run_queue=0.0)
    assert (r.steal, r.others, r.run_queue, r.flagged, r.flag) == (0.0, 0.0, 0.0, False, None)


def test_other_processes_steal_and_the_run_queue_fire_with_their_numbers():
    # 2 CPUs over 2 s (4 CPU-seconds): own 2 s, others 1.5 s, stolen 0.4 s, idle 0.1 s
    before = snap(0.0, 0.0)
    after = snap(2.0, 2.0, user=3.0, system=0.5, steal=0.4, idle=0.1)
    r = guards.assess(before, after, run_queue=1.5, clock=80.0)
    assert r.steal == pytest.approx(10.0) and r.others == pytest.approx(75.0)
    assert r.reasons == ("steal 10.0 % > 2 %", "other processes 75 % of a CPU > 25 %",
                         "run queue 1.5 > 0.5 beyond the trial's threads", "clock at 80 % of max < 90 %")
    assert r.flag == "; ".join(r.reasons)


def test_guest_time_is_counted_once():
    # a KVM host: 1 s of vCPU time shows in user AND guest; it is other processes' time once
    before = snap(0.0, 0.0)
    after = snap(1.0, 0.0, user=1.0, guest=1.0, idle=1.0)
    assert guards.assess(before, after).others == pytest.approx(100.0)


def test_thresholds_are_the_callers():
    before, after = snap(0.0, 0.0), snap(1.0, 0.0, user=0.1, idle=1.9)
    assert not guards.assess(before, after).flagged  # 10 % of a CPU
    strict = guards.Thresholds(others=5.0)
    assert guards.assess(before, after, thresholds=strict).reasons == ("other processes 10 % of a CPU > 5 %",)
    assert "other processes > 5 % of a CPU" in strict.describe()


def test_unmeasured_guards_are_none_not_quiet():
    r = guards.assess(snap(0.0, 0.0), snap(1.0, 1.0, user=1.0, idle=1.0))
    assert r.run_queue is None and r.clock is None
    no_steal = guards.Snapshot(1.0, {"user": 1.0, "system": 0.0, "idle": 1.0}, 1.0)  # Windows: no steal field
    assert guards.assess(guards.Snapshot(0.0, {"user": 0.0, "system": 0.0, "idle": 0.0}, 0.0), no_steal).steal is None


def test_procs_running_from_a_recorded_proc_stat():
    assert guards.procs_running(GUARDS / "proc-loaded") == 5
    assert guards.procs_running(GUARDS / "proc-broken") is None  # "five": not measured, not zero
    assert guards.procs_running(GUARDS / "missing") is None


def test_sanity_names_each_broken_ordering():
    ns, mb = 1e-9, 1e6
    assert guards.sanity({"L1": 1 * ns, "L2": 4 * ns, "L3": 20 * ns, "memory": 90 * ns},
                         {"mem_read_bw single-thread": {"L1": 90000 * mb, "memory": 12000 * mb}}) == ()
    # the interference the issue reports: L1 9.4 ns above L2 5.3 ns, all-cores L1 read at 952 MB/s
    broken = guards.sanity({"L1": 9.4 * ns, "L2": 5.3 * ns, "L3": 20 * ns, "memory": 999 * ns},
                           {"mem_read_bw all-cores": {"L1": 952 * mb, "L2": 3000 * mb, "memory": 12000 * mb}})
    assert broken == ("latency L1 9.4 ns >= L2 5.3 ns", "mem_read_bw all-cores: memory 12000 MB/s >= L1 952 MB/s")
    # a machine without L3 compares the levels it has
    assert guards.sanity({"L1": 1 * ns, "L2": 4 * ns, "memory": 90 * ns}, {}) == ()
    assert guards.combine(("a",), (), ("b", "c")) == "a; b; c" and guards.combine((), ()) is None


def test_a_busy_neighbour_is_seen():
    # Two busy child processes for the whole trial: at least a whole CPU of other work
    # on any machine (the threshold is a quarter CPU), whatever else runs.
    children = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        time.sleep(0.3)  # let them start
        with guards.Monitor(threads=1) as m:
            time.sleep(1.0)
    finally:
        for child in children:
            child.kill()
            child.wait()
    r = m.result
    assert r.flagged and r.others > guards.Thresholds().others
    assert any(reason.startswith("other processes") for reason in r.reasons)
    if guards.procs_running() is not None:
        assert r.run_queue is not None
