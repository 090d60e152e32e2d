"""Benchmark: reading a 1 M-row PDH-CSV (perfmon) log against a bare polars read_csv.

Writes a log of ``--rows`` samples (default 10^6) with the real sample's four
counters (tests/fixtures/pdh-csv/perfmon_win_desktop_head40.csv's header, values
cycled from its rows) into a temporary folder, then times, 3 rounds, medians:
the reference ``polars.read_csv`` of the same file (strings, as the reader reads
it) and ``workbench.readers.read`` (parse, time zone, long table, validation).
Prints the ratio; target (issue 14) <= 2x; and where the time goes: the reader's
``parse`` alone and the gate (``validate_labelled``: labels and ``schema.validate``).

    .venv/bin/python bench/pdh_csv.py [--rows N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import readers  # noqa: E402
from workbench.readers import pdh_csv  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "pdh-csv" / "perfmon_win_desktop_head40.csv"


def make(path: Path, rows: int) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    header, body = lines[0], [line.split('","', 1)[1] for line in lines[2:]]
    start = 1_682_641_548.490  # 2023-04-28 00:25:48.490 UTC, as the sample
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header + "\n")
        for i in range(rows):
            t = time.gmtime(start + 15 * i)
            fh.write(f'"{time.strftime("%m/%d/%Y %H:%M:%S", t)}.490","{body[i % len(body)]}\n')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pdh-bench-") as tmp:
        path = Path(tmp) / "perfmon.csv"
        make(path, args.rows)
        size = path.stat().st_size
        ref, ours, parse, gate = [], [], [], []
        for _ in range(3):
            t0 = time.perf_counter()
            pl.read_csv(path, infer_schema=False)
            ref.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = readers.read(path, format="pdh-csv")
            ours.append(time.perf_counter() - t0)
            data = path.read_bytes()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                parsed = pdh_csv.parse(data, source=str(path))
                parse.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                readers.validate_labelled(parsed.table, {}, {}, source=str(path))
                gate.append(time.perf_counter() - t0)
            del data, parsed
    r, o = statistics.median(ref), statistics.median(ours)
    print(f"{args.rows} rows x 4 counters, {size / 1e6:.1f} MB -> {table.height} table rows")
    print(f"polars read_csv (reference) {r:.2f} s; workbench pdh-csv reader {o:.2f} s; ratio {o / r:.2f}x "
          "(target <= 2x)")
    for label, times in (("  of which pdh_csv.parse", parse), ("  of which labels + schema.validate", gate)):
        m = statistics.median(times)
        print(f"{label:<42} {m:.2f} s; {m / r:.2f}x the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
