"""Benchmark (issue 17): `workbench report` serial against parallel, same run.

Renders the reports of a config (default: the default reports, what ``make report``
renders) twice into temporary folders: one at a time (``jobs=1``, the reference) and
``--jobs`` at a time (default: the CPUs this process may use). Prints each report's
seconds in both runs, the wall-clock totals, the parallel/serial ratio, the CPU time of
the whole (this process and its kernels) and the load average before and after each
run: other work on the machine slows both, so read the ratio, not the seconds. With
``--imports``, also the CPU seconds of each template's import lines in a fresh
interpreter (what every kernel pays before its first result). Asserts nothing.

Run: ``.venv/bin/python bench/report.py [--config FILE] [--only NAME]... [--jobs N] [--imports]``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from workbench import report


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def render(config: Path, only: list[str] | None, jobs: int) -> tuple[float, float, dict[str, report.ReportResult]]:
    with tempfile.TemporaryDirectory(prefix="workbench-bench-report-") as out:
        cpu, wall = cpu_seconds(), time.perf_counter()
        results = report.render_reports(config, out, only=only, progress=False, jobs=jobs)
        return time.perf_counter() - wall, cpu_seconds() - cpu, {r.entry.name: r for r in results}


def import_seconds(notebook: Path) -> float:
    """CPU seconds of a template's ``import`` lines in a fresh interpreter."""
    cells = json.loads(notebook.read_text("utf-8"))["cells"]
    lines = [line for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).splitlines()
             if line.startswith(("import ", "from ")) and not line.startswith("from __future__")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", "\n".join(lines)], check=True, cwd=notebook.parent,
                   env={**os.environ, "MPLBACKEND": "agg"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=report.DEFAULT_CONFIG)
    ap.add_argument("--only", action="append", metavar="NAME")
    ap.add_argument("--jobs", type=int, default=report.default_jobs())
    ap.add_argument("--imports", action="store_true", help="also time each template's imports")
    args = ap.parse_args()

    load = os.getloadavg()
    serial_wall, serial_cpu, serial = render(args.config, args.only, 1)
    between = os.getloadavg()
    parallel_wall, parallel_cpu, parallel = render(args.config, args.only, args.jobs)
    after = os.getloadavg()

    print(f"{'report':<16} {'serial':>8} {'parallel':>9}  status")
    for name, r in serial.items():
        p = parallel.get(name)
        print(f"{name:<16} {r.seconds:7.1f}s {p.seconds if p else float('nan'):8.1f}s  "
              f"{r.status}/{p.status if p else '-'}")
    print(f"serial   (1 job):  {serial_wall:6.1f} s wall, {serial_cpu:6.1f} s CPU; "
          f"load average before {load[0]:.2f}")
    print(f"parallel ({args.jobs} jobs): {parallel_wall:6.1f} s wall, {parallel_cpu:6.1f} s CPU; "
          f"load average before {between[0]:.2f}, after {after[0]:.2f}")
    print(f"parallel / serial wall time: {parallel_wall / serial_wall:.2f} (target for make report: < 25 s)")
    if args.imports:
        print("CPU seconds of each template's imports in a fresh interpreter:")
        for entry in report.load_config(args.config):
            if args.only is None or entry.name in args.only:
                print(f"  {entry.name:<16} {import_seconds(entry.notebook):5.2f} s  ({entry.notebook.name})")


if __name__ == "__main__":
    main()
