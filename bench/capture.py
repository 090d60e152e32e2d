"""Benchmark of workbench.capture (issue 5): its own CPU cost and sampling jitter,
against Debian sysstat's ``sadc`` (the collector behind ``sar``) in the same run.

1. Four samplers run concurrently over the same window, so they share the
   machine's state and noise:

   * ``workbench capture --interval 1`` and ``--interval 0.1``,
   * ``workbench capture --interval 0.1 --process python`` (cost of per-process rows),
   * ``/usr/lib/sysstat/sadc -S DISK 1`` (1 s is sadc's shortest interval; ``-S DISK``
     adds the per-device disk counters the capture also records).

   Each process's CPU time is read when the window opens, after a warm-up that
   covers imports and the first samples, and when it closes, so start-up and the
   Parquet conversion are not counted. On Linux it is the sum of
   ``/proc/PID/task/*/schedstat`` (nanoseconds on CPU, user + system), because
   ``cpu_times`` ticks at 10 ms, too coarse for a 1 Hz sampler. Cost = CPU
   seconds / window seconds, in percent of one core (the issue's target: at most
   0.2 % at 10 Hz).
2. Sampling jitter: each reading's lag after its grid tick (p50/p99), from the
   captures' own files.
3. A cross-check of the values: mean CPU busy % and available memory over the
   window from ``sadf -j`` against the 1 Hz capture.
4. Where a sample's CPU goes, measured at the capture's real cadence (10 Hz,
   caches cold between ticks, unlike a tight loop): waking up alone, reading the
   same /proc files raw without parsing (the floor for any /proc-based sampler
   written in Python), psutil's reads, and a whole sample.

Run: ``.venv/bin/python bench/capture.py [--seconds 30]``. Prints; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl
import psutil

from workbench import capture, read
from workbench.readers.capture import LAG_METRIC

SADC = "/usr/lib/sysstat/sadc"
WARMUP = 6.0


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process, all its live threads (ns precision on Linux)."""
    tasks = Path(f"/proc/{pid}/task")
    if tasks.is_dir():
        return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks.iterdir()) / 1e9
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window (default 30)")
    args = parser.parse_args()
    if not Path(SADC).exists() or shutil.which("sadf") is None:
        sys.exit("bench/capture.py needs Debian's sysstat (sadc, sadf): apt-get install sysstat")
    total = WARMUP + args.seconds + 2.0
    out = Path(tempfile.mkdtemp(prefix="workbench-bench-capture-"))
    python = [sys.executable, "-m", "workbench", "capture", "--quiet", "--stage", f"bench={total}"]
    runs = {  # name -> (argv, samples per second)
        "workbench capture 1 Hz": (python + ["--interval", "1", "-o", str(out / "1hz.parquet")], 1),
        "workbench capture 10 Hz": (python + ["--interval", "0.1", "-o", str(out / "10hz.parquet")], 10),
        "workbench capture 10 Hz --process python": (
            python + ["--interval", "0.1", "--process", "python", "-o", str(out / "10hz-proc.parquet")], 10),
        "sadc -S DISK 1 s (sysstat)": ([SADC, "-S", "DISK", "1", str(round(total)), str(out / "sa.data")], 1),
    }
    procs = {name: subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
             for name, (argv, _) in runs.items()}
    time.sleep(WARMUP)
    before = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    t0, wall0 = time.perf_counter(), time.time()
    time.sleep(args.seconds)
    after = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    window, wall1 = time.perf_counter() - t0, time.time()
    for p in procs.values():
        p.wait()

    load = psutil.getloadavg()
    print(f"1. CPU cost: window {window:.1f} s after a {WARMUP:g} s warm-up, all four sampling concurrently; "
          f"{psutil.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"   {'sampler':<44}{'CPU, % of one core':>20}{'CPU per sample':>18}")
    cost = {}
    for name, (_, rate) in runs.items():
        used = after[name] - before[name]
        cost[name] = 100 * used / window
        print(f"   {name:<44}{cost[name]:>19.3f}%{used / (window * rate) * 1e3:>15.3f} ms")
    sadc = cost["sadc -S DISK 1 s (sysstat)"]
    print(f"   ratio capture 1 Hz / sadc 1 Hz: {cost['workbench capture 1 Hz'] / sadc:.2f}x;  "
          f"capture 10 Hz / sadc 1 Hz: {cost['workbench capture 10 Hz'] / sadc:.2f}x")
    at10 = cost["workbench capture 10 Hz"]
    print(f"   target at 10 Hz, <= 0.2 % of one core: {'met' if at10 <= 0.2 else 'NOT met'} ({at10:.3f} %)")

    print("\n2. sampling jitter: lag of each reading after its grid tick")
    for name, file, step in (("1 Hz", "1hz.parquet", 1.0), ("10 Hz", "10hz.parquet", 0.1),
                             ("10 Hz --process", "10hz-proc.parquet", 0.1)):
        lags = read(out / file).filter(pl.col("metric") == LAG_METRIC)
        lag = lags["value"]
        missed = round(lags["interval"].sum() / step) - lags.height  # a sample after missed ticks spans several
        print(f"   {name:<16} {lags.height:5d} samples  p50 {lag.quantile(0.5) * 1e3:7.3f} ms  "
              f"p99 {lag.quantile(0.99) * 1e3:7.3f} ms  max {lag.max() * 1e3:7.3f} ms  ticks missed {missed}")

    cross_check(out, wall0, wall1)
    cadence()
    shutil.rmtree(out, ignore_errors=True)


def cross_check(out: Path, wall0: float, wall1: float) -> None:
    """Mean CPU busy % and available memory over the window: sar (sadf -j) vs the 1 Hz capture."""
    raw = subprocess.run(["sadf", "-j", str(out / "sa.data"), "--", "-u", "-r"], capture_output=True,
                         text=True, check=True).stdout
    busy, avail = [], []
    for entry in json.loads(raw)["sysstat"]["hosts"][0]["statistics"]:
        stamp = entry["timestamp"]  # sadf -j prints UTC unless -t is given ("utc": 1)
        end = datetime.fromisoformat(f"{stamp['date']}T{stamp['time']}+00:00").timestamp()
        if not (wall0 <= end - stamp["interval"] and end <= wall1):
            continue
        cpu = next(c for c in entry["cpu-load"] if c["cpu"] == "all")
        busy.append(100 - cpu["idle"] - cpu["iowait"] - cpu["steal"])
        avail.append(entry["memory"]["avail"] * 1024)  # sadf prints kB meaning KiB
    lo = datetime.fromtimestamp(wall0, timezone.utc)
    hi = datetime.fromtimestamp(wall1, timezone.utc)
    table = read(out / "1hz.parquet").filter(
        (pl.col("time") - pl.duration(seconds=pl.col("interval")) >= lo) & (pl.col("time") <= hi))
    ours = table.filter((pl.col("metric") == "cpu_util") & (pl.col("component") == "total"))["value"]
    free = table.filter(pl.col("metric") == "mem_free")["value"]
    print("\n3. cross-check against sar over the window (means; 1 s samples, not phase-aligned)")
    print(f"   CPU busy % (100 - idle - iowait - steal): sar {sum(busy) / len(busy):6.2f}  "
          f"capture {ours.mean():6.2f}   ({len(busy)} and {ours.len()} samples)")
    print(f"   memory available, MiB:                   sar {sum(avail) / len(avail) / 2**20:8.1f}  "
          f"capture {free.mean() / 2**20:8.1f}")


def cadence(seconds: float = 5.0, step: float = 0.1) -> None:
    """CPU per sample of a thread waking every `step` seconds and doing one thing."""
    sampler = capture._Sampler([])
    files = ["/proc/stat", "/proc/meminfo", "/proc/meminfo", "/proc/vmstat", "/proc/diskstats",
             "/proc/net/dev", "/proc/loadavg"]  # what the psutil calls below read, in order

    def raw() -> None:
        for name in files:
            with open(name, "rb") as fh:
                fh.read()

    state = {"prev": sampler.snapshot()}

    def whole() -> None:
        cur = sampler.snapshot()
        values = sampler.values(state["prev"], cur)
        state["prev"] = cur
        json.dumps({"type": "sample", "k": 1, "t": 1.0, "stage": "bench", "values": values}, separators=(",", ":"))

    steps = {
        "wake up only": lambda: None,
        "raw read of the same 7 /proc files": raw,
        "psutil reads (snapshot)": sampler.snapshot,
        "whole sample (reads, rates, JSON)": whole,
    }
    print(f"\n4. CPU per sample at the capture's cadence ({1 / step:g} Hz, {seconds:g} s each, this process)")
    stop = threading.Event()
    for name, fn in steps.items():
        t0, k, n = time.perf_counter(), 0, 0
        c0 = time.thread_time()
        while time.perf_counter() - t0 < seconds:
            k += 1
            while (now := time.perf_counter()) < t0 + k * step:
                stop.wait(t0 + k * step - now)
            fn()
            n += 1
        used = time.thread_time() - c0
        print(f"   {name:<40}{used / n * 1e6:8.1f} us  = {100 * used / seconds:6.3f} % of one core")


if __name__ == "__main__":
    main()
