"""Benchmark (issue 17): CPU per capture sample, the /proc reader against psutil, same run.

In this process, alternately, `--rounds` rounds of `--samples` samples at 10 Hz (caches
cold between ticks as in a real capture), CPU time (``time.process_time``) per sample:

* floor: reading the same four /proc files raw (``pread``, no parsing);
* ``capture._Sampler`` with its /proc reader (the default on Linux): snapshot + values;
* the same sampler on psutil (what every sample cost before issue 17).

Also the start-up: a fresh ``python -c "import workbench.capture"`` in CPU seconds against
``python -c pass``. Reference from issue 17: sysstat ``sadc`` 1.18 ms/sample (bench/capture.py
measures it). Medians; asserts nothing.

Usage: ``.venv/bin/python bench/capture_sample.py [--samples 50] [--rounds 3]``
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

from workbench import capture


def per_sample(fn, samples: int) -> float:
    c0 = time.process_time()
    for _ in range(samples):
        fn()
        time.sleep(0.1)
    return (time.process_time() - c0) / samples


def child_cpu(code: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    fds = [os.open(p, os.O_RDONLY) for p in ("/proc/stat", "/proc/meminfo", "/proc/diskstats", "/proc/net/dev")]
    proc = capture._Sampler([])
    lib = capture._Sampler([])
    lib.close()  # no /proc reader: psutil
    state = {"proc": proc.snapshot(), "lib": lib.snapshot()}

    def floor():
        for fd in fds:
            os.pread(fd, 65536, 0)

    def sample(sampler, key):
        def run():
            cur = sampler.snapshot()
            sampler.values(state[key], cur)
            state[key] = cur
        return run

    cases = {"raw /proc reads (floor)": floor, "sampler, /proc reader": sample(proc, "proc"),
             "sampler, psutil (before)": sample(lib, "lib")}
    took: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            took[name].append(per_sample(fn, args.samples))
    floor_ms = statistics.median(took["raw /proc reads (floor)"]) * 1e3
    print(f"CPU per sample at 10 Hz, {args.rounds} x {args.samples} samples, medians (sadc: 1.18 ms)")
    for name, values in took.items():
        ms = statistics.median(values) * 1e3
        print(f"  {name:<28} {ms:6.3f} ms  {ms / floor_ms:5.1f}x floor")
    bare = statistics.median(child_cpu("pass") for _ in range(args.rounds))
    imp = statistics.median(child_cpu("import workbench.capture") for _ in range(args.rounds))
    print(f"start-up CPU: python -c pass {bare:.2f} s, import workbench.capture {imp:.2f} s "
          f"(+{imp - bare:.2f} s; target < 0.3 s)")
    proc.close()
    for fd in fds:
        os.close(fd)


if __name__ == "__main__":
    main()
