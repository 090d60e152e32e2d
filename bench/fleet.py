"""Benchmark of fleet scale (issue 15): a store of the Azure VM noise dataset, scaled up,
queried lazily with polars, by hand, and on Dask; time and peak memory per size.

Steps, each in a fresh subprocess (so that its peak RSS, ``resource.getrusage(RUSAGE_SELF)
.ru_maxrss`` printed by the child at its end, is its own and nothing else's):

1. **ingest**: ``store.add`` of the dataset's 144 CSVs (``--dataset``, default the shared
   copy ``../shared/datasets/azure-vm-noise-2024``, which a fresh clone lacks: give the
   path) into a store partitioned by ``experiment,condition,metric``.
2. **scale-up** (in this process): stores of 10x and 100x the rows, made by hard-linking
   every part file of the 1x store into ``experiment=<e>-copyNNN`` partitions and writing
   their catalogues (no extra disk space; each copy is the same VMs again, so a per-VM
   result keeps its size while the data grows: the case "memory follows the result").
3. per size, the queries:

   * ``vm-summary lazy``: :func:`workbench.fleet.vm_summary` of every metric (lazy
     ``group_by`` per partition and batch of part files, streaming engine, states merged);
   * ``vm-summary by hand``: the same aggregation written directly as
     ``pl.scan_parquet(files, hive_partitioning=True).filter(...).group_by(...).agg(...)
     .sort(...).collect(engine="streaming")``: the reference of the ratio (what the
     workbench adds: the catalogue, the column order, its formulas). The in-memory
     engine is not used: at 100x it would hold the rows (tens of GB);
   * ``two-SKU compare``: D8s_v5 against B8ms on idle latency with the VM as the
     replicate (:func:`workbench.fleet.per_guest` with ``--where``, then
     :func:`workbench.stats.compare_all` locally);
   * ``vm-summary dask``: the same summary on a 2-worker ``distributed.LocalCluster``
     (peak RSS: the client's, and the largest worker's), checked equal to the lazy result.

Prints one table: size, rows, step, seconds, peak RSS (MiB), ratio to the hand-written
scan.

Measured here (2 cores shared with other jobs, load 3-9; 2026-11-30; seconds, peak RSS MiB):

====  ===========  ===============  ===============  ===============  ==================
size  rows         vm-summary hand  vm-summary lazy  two-SKU compare  vm-summary dask
====  ===========  ===============  ===============  ===============  ==================
1x    1,676,404    3.28 s, 658      2.84 s, 700      1.70 s, 409      30.0 s, 1071 (+736
                                                                      per worker), equal
10x   16,764,040   8.33 s, 1112     6.90 s, 712      3.26 s, 446      -
100x  167,640,400  57.3 s, 7315     79.8 s, 743      14.1 s, 412      -
====  ===========  ===============  ===============  ===============  ==================

Ingest of the 144 CSVs: 7.1 s, 259 MiB. Memory follows the result, not the rows: the
per-VM summary of every metric (784,941 VM x metric rows: the result is about half the
1x data) stays at 700 -> 743 MiB from 1x to 100x, the comparison (one value per VM of
one metric) at 409 -> 412 MiB; time grows less than the rows (28x and 8x for 100x the
rows). A hand-written one-shot streaming scan grows to 7.3 GiB: polars' streaming
group-by keeps partial states that grow with the rows when the groups number hundreds
of thousands. :func:`workbench.fleet.vm_summary` therefore reduces a store partition by
partition, in batches of ``BATCH_ROWS`` rows with Categorical keys, merging each batch's
per-VM states (before that: 669 -> 889 -> 1484 MiB in a quiet run, 654 -> 821 -> 4047
under load: the one-shot peak varies from run to run).
Lazy vs hand-written: 0.83-1.39x (the batches cost time at 100x; the one-shot scan
pays in memory). Dask on 2 local workers: the same result, 9-32x slower than the hand-written scan at
1x (pandas group-by on 7 string keys, and process overhead): it is for data that does
not fit one machine.

Run: ``.venv/bin/python bench/fleet.py [--dataset DIR] [--sizes 1,10,100]
[--dask-sizes 1] [--keep DIR]``. Asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT.parent / "shared" / "datasets" / "azure-vm-noise-2024"
PARTITIONS = "experiment,condition,metric"

# Code run in the children; each prints one JSON line: seconds, peak RSS and a result digest.
CHILD = r'''
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
import polars as pl
from workbench import fleet, stats, store
step, root = sys.argv[1], sys.argv[2]
extra = {}
t0 = time.perf_counter()
if step == "ingest":
    res = store.add(root, [sys.argv[3]], labels={"experiment": "azure-vm-noise-2024"},
                    partition_by=sys.argv[4].split(","))
    digest = sum(e.rows for e in res.added)
elif step == "vm-summary lazy":
    s = fleet.vm_summary(root)
    digest = [s.height, float(s["mean"].sum()), int(s["runs"].sum())]
elif step == "vm-summary by hand":
    cat = store.catalogue(root)
    files = [str(p) for p in cat.files(__import__("pathlib").Path(root))]
    keys = list(fleet.VM_KEYS)
    v = pl.col("value")
    s = (pl.scan_parquet(files, hive_partitioning=True, hive_schema=store.hive_schema(cat.partitioning))
         .filter(pl.col("guest").is_not_null() & v.is_not_nan() & pl.col("bound").is_null())
         .group_by(keys).agg(runs=pl.len(), mean=v.mean(), std=v.std(), low=v.min(), high=v.max(),
                             first=pl.col("time").min(), last=pl.col("time").max())
         .sort(keys, nulls_last=True)  # the same result, in the same order
         .collect(engine="streaming"))
    digest = [s.height, float(s["mean"].sum()), int(s["runs"].sum())]
elif step == "two-SKU compare":
    t = fleet.per_guest(root, where="metric = 'mem_latency'")
    r = stats.compare_all(t, baseline="D8s_v5")
    digest = r.verdicts()
elif step == "vm-summary dask":
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as c:
        t1 = time.perf_counter()  # the cluster's start is not the query's
        s = fleet.vm_summary(root, engine="dask", scheduler=c)
        extra["query_seconds"] = time.perf_counter() - t1
        workers = c.run(lambda: __import__("resource").getrusage(__import__("resource").RUSAGE_SELF).ru_maxrss)
        extra["worker_rss_mib"] = max(workers.values()) / 1024
        lazy = fleet.vm_summary(root)
        extra["same_as_lazy"] = fleet.differences(s, lazy) or True
    digest = [s.height, float(s["mean"].sum()), int(s["runs"].sum())]
seconds = extra.pop("query_seconds", None) or time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "digest": digest, **extra}))
'''


def child(step: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")}
    done = subprocess.run([sys.executable, "-c", CHILD, step, *args], capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def scaled(one: Path, factor: int, out: Path) -> int:
    """A store of `factor` copies of `one`'s part files (hard links), with its catalogue."""
    cat = json.loads((one / "catalogue.json").read_text())
    inputs = {}
    for i in range(factor):
        for key, entry in cat["inputs"].items():
            parts = []
            for rel in entry["parts"]:
                first, _, rest = rel.partition("/")
                new = f"{first}-copy{i:03d}/{rest}" if i else rel
                (out / new).parent.mkdir(parents=True, exist_ok=True)
                if not (out / new).exists():
                    os.link(one / rel, out / new)
                parts.append(new)
            new_key = f"{i:04x}{key[4:]}" if i else key
            inputs[new_key] = {**entry, "parts": parts, "input": f"{entry['input']} (copy {i})"}
    (out / "catalogue.json").write_text(json.dumps({**cat, "inputs": inputs}))
    return sum(e["rows"] for e in inputs.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--sizes", default="1,10,100")
    ap.add_argument("--dask-sizes", default="1")
    ap.add_argument("--keep", type=Path, help="build the stores here (default: a temporary folder, removed)")
    args = ap.parse_args()
    if not args.dataset.is_dir():
        raise SystemExit(f"{args.dataset}: no such folder; give --dataset DIR (the Azure VM noise dataset's CSVs)")
    sizes = [int(s) for s in args.sizes.split(",")]
    dask_sizes = {int(s) for s in args.dask_sizes.split(",") if s}
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        one = base / "x1"
        rows = []
        r = child("ingest", str(one), str(args.dataset), PARTITIONS)
        total = r["digest"]
        rows.append((1, total, "ingest (144 CSVs -> store)", r["seconds"], r["rss_mib"], None))
        for size in sizes:
            root = one if size == 1 else base / f"x{size}"
            t0 = time.perf_counter()
            n = total if size == 1 else scaled(one, size, root)
            if size != 1:
                rows.append((size, n, "scale-up (hard links)", time.perf_counter() - t0, None, None))
            hand = child("vm-summary by hand", str(root))
            lazy = child("vm-summary lazy", str(root))
            assert hand["digest"][0] == lazy["digest"][0] and hand["digest"][2] == lazy["digest"][2]
            rows.append((size, n, "vm-summary by hand (reference)", hand["seconds"], hand["rss_mib"], 1.0))
            rows.append((size, n, "vm-summary lazy (workbench)", lazy["seconds"], lazy["rss_mib"],
                         lazy["seconds"] / hand["seconds"]))
            comp = child("two-SKU compare", str(root))
            rows.append((size, n, "two-SKU compare (VM = replicate)", comp["seconds"], comp["rss_mib"],
                         comp["seconds"] / hand["seconds"]))
            if size in dask_sizes:
                d = child("vm-summary dask", str(root))
                rows.append((size, n, f"vm-summary dask 2 workers (worker peak {d['worker_rss_mib']:.0f} MiB; "
                                      f"same as lazy: {d['same_as_lazy']})", d["seconds"], d["rss_mib"],
                             d["seconds"] / hand["seconds"]))
            print(f"size {size}x done: {n} rows; two-SKU verdict: {comp['digest'][0] if comp['digest'] else '-'}",
                  file=sys.stderr, flush=True)
    print(f"\n{'size':>5} {'rows':>12}  {'step':<72} {'seconds':>8} {'peak RSS MiB':>13} {'x hand':>7}")
    for size, n, step, sec, rss, ratio in rows:
        print(f"{size:>4}x {n:>12,}  {step:<72} {sec:8.2f} {'' if rss is None else f'{rss:13.0f}':>13} "
              f"{'' if ratio is None else f'{ratio:7.2f}':>7}")


if __name__ == "__main__":
    main()
