"""Benchmark (issue 17): ``workbench compare`` on stored tables at three sizes.

Tables like an ingest of xapi RRDs gives: 200 series (metric x component x guest) of 5 s
samples, conditions ``native`` and ``xen``, in two shapes: ``single-run`` (one run per
condition: every summary is a time series with its effective sample size) and
``runs`` (10 runs per condition: summaries over run means). Sizes 1x/4x/16x scale the
samples per run (`--samples` at 1x). Per size, in this process, interleaved,
`--rounds` rounds, medians:

* reference: ``pl.read_parquet`` + one ``group_by(cell, condition, run).agg(mean)``
  (the least any comparison must do);
* ``workbench compare TABLE --baseline native`` in-process (``cli.main``: read,
  validate, compare_all, the text table).

Then the peak RSS above the process's RSS before reading (fresh process, VmHWM reset
after imports) over the table's in-memory size (``estimated_size``). Targets (issue
17): <= 2x the reference, RSS <= 3x the table. Asserts nothing.

Usage: ``.venv/bin/python bench/compare.py [--samples 100] [--rounds 3] [--shape both]``
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl
from _peak import peak  # bench/_peak.py

from workbench import schema, storage

METRICS = [("cpu_util", "percent", 50.0, 10.0), ("net_rx", "bytes/s", 1e6, 2e5), ("disk_write", "bytes/s", 5e6, 1e6),
           ("mem_used", "bytes", 2e9, 1e8)]


def table(samples: int, runs: int, series: int = 200, seed: int = 17) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    per_metric = series // len(METRICS)
    frames = []
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for condition, shift in (("native", 1.0), ("xen", 1.03)):
        for run in range(1, runs + 1):
            for name, unit, centre, sd in METRICS:
                n = per_metric * samples
                phi = 0.8  # autocorrelated samples, as real 5 s series are
                noise = rng.normal(0, sd * np.sqrt(1 - phi * phi), n)
                for i in range(1, n):
                    noise[i] += phi * noise[i - 1] if i % samples else 0.0
                comp = np.repeat([f"cpu{k}" if name == "cpu_util" else "total" for k in range(per_metric)], samples)
                guest = np.repeat([f"vm{k}" for k in range(per_metric)], samples)
                frames.append(pl.DataFrame({
                    "experiment": "bench", "condition": condition, "hypervisor": None, "host": "h1",
                    "guest": guest, "scope": "guest", "stage": None, "run": run,
                    "time": np.tile(np.arange(samples) * 5_000_000, per_metric) + int(t0.timestamp() * 1e6),
                    "interval": 5.0, "aggregate": "mean", "metric": name, "component": comp,
                    "value": np.clip(centre * shift + noise, 0, 100 if name == "cpu_util" else None),
                    "unit": unit, "source": "bench", "source_file": f"{condition}-{run}.xml"}))
    frame = pl.concat(frames).with_columns(
        pl.col("hypervisor", "stage").cast(pl.String), pl.col("run").cast(pl.Int32),
        pl.col("time").cast(pl.Datetime("us")).dt.replace_time_zone("UTC"))
    return schema.validate(frame.select(list(schema.COLUMNS)))


def reference(path: Path) -> None:
    t = pl.read_parquet(path)
    t.group_by("metric", "component", "guest", "aggregate", "interval", "condition", "run").agg(pl.col("value").mean())


def compare(path: Path) -> str:
    from workbench import cli
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = cli.main(["compare", str(path), "--baseline", "native", "--format", "text", "-q"])
    if code != 0:
        raise SystemExit(f"compare exited {code}")
    return out.getvalue()


def child(which: str, path: str) -> None:
    """Peak RSS of one case in this fresh process; imports (polars, scipy, statsmodels) and a
    first compare of a small table happen before VmHWM is reset."""
    small = Path(path).with_name("warm-up.parquet")
    storage.write_table(table(10, 1, series=8), small)
    compare(small)
    reference(small)
    with peak() as measured:
        (reference if which == "reference" else compare)(Path(path))
    print(json.dumps(measured))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100, help="samples per run and series at 1x")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shape", choices=("single-run", "runs", "both"), default="both")
    ap.add_argument("--child", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    shapes = {"single-run": 1, "runs": 10}
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        for shape, runs in shapes.items():
            if args.shape not in ("both", shape):
                continue
            print(f"\n{shape}: 200 series x 2 conditions x {runs} run(s), {args.rounds} rounds, medians")
            print(f"{'size':>5} {'rows':>10} {'file MB':>8} {'mem MB':>7} {'ref s':>7} {'compare s':>10} "
                  f"{'x ref':>6} {'RSS/table':>10}")
            for scale in (1, 4, 16):
                samples = args.samples * scale // runs if runs > 1 else args.samples * scale
                frame = table(samples, runs)
                path = Path(tmp) / f"{shape}-{scale}.parquet"
                storage.write_table(frame, path)
                cases = {"ref": lambda p=path: reference(p), "compare": lambda p=path: compare(p)}
                took: dict[str, list[float]] = {k: [] for k in cases}
                compare(path)  # warm-up: imports
                for _ in range(args.rounds):
                    for name, fn in cases.items():
                        t0 = time.perf_counter()
                        fn()
                        took[name].append(time.perf_counter() - t0)
                med = {k: statistics.median(v) for k, v in took.items()}
                res = subprocess.run([sys.executable, __file__, "--child", "compare", str(path)], check=True,
                                     capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                peak = json.loads(res.stdout.strip().splitlines()[-1])["peak_bytes"]
                size = frame.estimated_size()
                print(f"{scale:>4}x {frame.height:>10,} {path.stat().st_size / 1e6:8.1f} {size / 1e6:7.1f} "
                      f"{med['ref']:7.2f} {med['compare']:10.2f} {med['compare'] / med['ref']:6.1f} "
                      f"{peak / size:10.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
