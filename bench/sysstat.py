"""Benchmark: reading a 1 M-row ``sadf -d`` export against a bare polars read_csv.

Writes a ``sadf -d -- -u ALL -P ALL`` export of ``--rows`` lines (default 10^6: one
line per CPU and sample, 4 CPUs + all, 10 s samples; the header and value layout of
sysstat 12's, as tests/fixtures/sysstat/expected.sadf-d) into a temporary folder, then
times, 3 rounds, medians: the reference ``polars.read_csv`` of the same file
(separator ``;``, strings, as the reader reads it) and ``workbench.readers.read``
(parse, UTC times, derived busy CPU, long table, validation). Prints the ratio;
target (issue 14) <= 2x. Also printed, to show where the time goes: the reader's
``parse`` alone (no labels, no validation), the gate (``validate_labelled``: labels and
``schema.validate`` on the long table) and a floor for any tidy reader, polars
``read_csv`` + ``unpivot`` of the same file into one row per value (11 per line: 10
fields and the derived busy CPU make the table 11x the file's lines).

    .venv/bin/python bench/sysstat.py [--rows N]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workbench import readers  # noqa: E402
from workbench.readers import sysstat  # noqa: E402

HEADER = "# hostname;interval;timestamp;CPU;%usr;%nice;%sys;%iowait;%steal;%irq;%soft;%guest;%gnice;%idle"
CPUS = ["-1", "0", "1", "2", "3"]


def make(path: Path, rows: int) -> None:
    samples = -(-rows // len(CPUS))
    start = datetime(2019, 4, 18, 13, 20, 19)
    stamps = pl.datetime_range(start, start + timedelta(seconds=10 * (samples - 1)), timedelta(seconds=10),
                               eager=True).dt.strftime("%Y-%m-%d %H:%M:%S UTC")
    i = pl.int_range(0, samples * len(CPUS), eager=True)
    usr = (i % 97).cast(pl.Float64) / 4
    frame = pl.DataFrame({
        "host": pl.repeat("SYSSTAT.TEST", samples * len(CPUS), eager=True),
        "interval": pl.repeat("10", samples * len(CPUS), eager=True),
        "stamp": stamps.to_frame("stamp").select(pl.col("stamp").repeat_by(len(CPUS)).explode())["stamp"],
        "cpu": pl.Series(CPUS * samples),
        "usr": usr, "nice": 0.0, "sys": usr / 2, "iowait": (i % 7).cast(pl.Float64) / 10,
        "steal": (i % 5).cast(pl.Float64) / 10, "irq": 0.1, "soft": 0.2, "guest": 0.0, "gnice": 0.0,
    }).head(rows)
    frame = frame.with_columns(idle=100.0 - pl.col("usr") - pl.col("sys") - pl.col("iowait") - pl.col("steal")
                               - pl.col("irq") - pl.col("soft"))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(HEADER + "\n")
        frame.write_csv(fh, separator=";", include_header=False, float_precision=2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sysstat-bench-") as tmp:
        path = Path(tmp) / "sa.csv"
        make(path, args.rows)
        size = path.stat().st_size
        ref, ours, floor, parse, gate = [], [], [], [], []
        for _ in range(3):
            t0 = time.perf_counter()
            pl.read_csv(path, separator=";", infer_schema=False)
            ref.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = readers.read(path, format="sysstat")
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            wide = pl.read_csv(path, separator=";", infer_schema=False)
            wide.unpivot(index=wide.columns[:4]).with_columns(pl.col("value").cast(pl.Float64))
            floor.append(time.perf_counter() - t0)
            del wide
            data = path.read_bytes()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                parsed = sysstat.parse(data, source=str(path))
                parse.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                readers.validate_labelled(parsed.table, {}, {}, source=str(path))
                gate.append(time.perf_counter() - t0)
            del data, parsed
    r, o = statistics.median(ref), statistics.median(ours)
    print(f"{args.rows} lines x 10 fields (sadf -d, CPU activity), {size / 1e6:.1f} MB -> {table.height} table rows")
    print(f"polars read_csv (reference) {r:.2f} s; workbench sysstat reader {o:.2f} s; ratio {o / r:.2f}x "
          "(target <= 2x)")
    for label, times in (("  of which sysstat.parse", parse), ("  of which labels + schema.validate", gate),
                         ("floor: polars read_csv + unpivot to long", floor)):
        m = statistics.median(times)
        print(f"{label:<42} {m:.2f} s; {m / r:.2f}x the reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
