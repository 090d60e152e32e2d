"""Benchmark of workbench.stats (issue 7).

1. ``compare_all`` on a synthetic table of 20 metrics x 3 conditions x 30 runs x 1000
   samples (1.8 million rows of time series): seconds per metric, and the ratio to a
   reference measured in the same run: one polars group-by computing every run's mean
   (the bare within-run summarization, the least any comparison must do).
2. 10 000 block-bootstrap resamples of the mean of each of 2 x 1 000 000 values (two
   single-run series), against the reference of one numpy mean over the same 2 M values.

Run: ``.venv/bin/python bench/stats.py``. Prints seconds and ratios; asserts nothing.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
import polars as pl

from workbench import schema, stats


def synthetic(metrics=20, conditions=3, runs=30, samples=1000, seed=7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = metrics * conditions * runs * samples
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    metric = np.repeat([f"bench:m{i:02d}" for i in range(metrics)], conditions * runs * samples)
    condition = np.tile(np.repeat(["native", "kvm", "xen"], runs * samples), metrics)
    run = np.tile(np.repeat(np.arange(1, runs + 1, dtype=np.int32), samples), metrics * conditions)
    shift = np.tile(np.repeat([0.0, 2.0, 0.2], runs * samples), metrics)
    value = 100 + shift + rng.normal(0, 5, n)
    frame = pl.DataFrame({
        "experiment": "bench", "condition": condition, "hypervisor": None, "host": "h", "guest": None,
        "scope": "host", "stage": None, "run": run,
        "time": t0,
        "interval": 1.0, "aggregate": "mean", "metric": metric, "component": "total", "value": value,
        "unit": "1", "source": "bench", "source_file": "synthetic"})
    frame = frame.with_columns(
        time=pl.lit(t0) + pl.duration(seconds=pl.int_range(pl.len()).over("metric", "condition", "run")),
        hypervisor=pl.lit(None, pl.String), guest=pl.lit(None, pl.String), stage=pl.lit(None, pl.String))
    frame = frame.with_columns(pl.col("time").cast(schema.UTC_TIME))
    return schema.validate(frame.select(list(schema.COLUMNS)))


def main() -> None:
    table = synthetic()
    print(f"synthetic table: {table.height:,} rows (20 metrics x 3 conditions x 30 runs x 1000 samples)")

    t = time.perf_counter()
    table.group_by("metric", "condition", "run").agg(pl.col("value").mean())
    ref = time.perf_counter() - t

    t = time.perf_counter()
    result = stats.compare_all(table, baseline="native")
    took = time.perf_counter() - t
    print(f"compare_all: {took:.2f} s for {len(result)} comparisons = {took / 20 * 1000:.0f} ms per metric; "
          f"reference group-by {ref * 1000:.0f} ms; ratio {took / ref:.1f}x")
    tested = sum(c.status == "tested" for c in result)
    print(f"  {tested} tested, {sum(c.significant for c in result)} significant after Holm")

    rng = np.random.default_rng(1)
    a, b = rng.normal(100, 5, 1_000_000), rng.normal(101, 5, 1_000_000)
    t = time.perf_counter()
    np.mean(a), np.mean(b)
    ref = time.perf_counter() - t
    t = time.perf_counter()
    ba = stats.block_bootstrap_means(a, n_resamples=10_000)
    bb = stats.block_bootstrap_means(b, n_resamples=10_000)
    took = time.perf_counter() - t
    lo, hi = np.quantile(bb / ba, [0.025, 0.975])
    print(f"block bootstrap, 10 000 resamples of 2 x 1 000 000 values: {took:.2f} s "
          f"(target < 2 s); one mean pass {ref * 1000:.1f} ms; ratio {took / ref:.0f}x; "
          f"ratio interval [{lo:.5f}, {hi:.5f}]")


if __name__ == "__main__":
    main()
