"""Benchmark (issues 17, 18): the AIDA64 CSV sensor-log reader at three sizes.

A log in the layout of the real sample (tests/fixtures/everest/, AIDA64 v7.65: preamble,
``Date,Time,UpTime,...`` header, units row, event lines) with `--columns` sensor columns
(utilization, memory, temperatures, voltages, fans, clocks) and one row per second, at
1x, 4x and 16x `--rows`. Per size, in this process, interleaved, `--rounds` rounds,
medians:

* reference: ``pl.read_csv`` (explicit schema) + ``str.strptime`` of date and time +
  ``unpivot``: the bare long table from the same bytes;
* ``csvlog.parse``: the reader (mapping, units, validation-ready table);
* ``workbench ingest`` in-process (``cli.main``: the reader's pieces validated and written
  to Parquet as they come);
* the line-by-line reader (``csvlog._slow``, what every log took before issue 17) at 1x.

Then the peak RSS above the RSS before reading (fresh process, Linux VmHWM reset after
imports) over the file size, for the reference, the reader (the whole table in memory,
``readers.read``) and the ingest (pieces). Targets (issues 17, 18): <= 2x the
reference, ingest RSS <= 3x the file (issue 18: at 4, 40 and 200 MB: ``--rows 20000
--scales 1,10,50``). Asserts nothing.

Usage: ``.venv/bin/python bench/everest_csvlog.py [--rows 6000] [--columns 60] [--rounds 3] [--scales 1,4,16]``
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
from _peak import peak  # bench/_peak.py

KINDS = [("CPU Utilization", "%"), ("Memory Utilization", "%"), ("Used Memory", "MB"), ("Free Memory", "MB"),
         ("CPU", "°C"), ("CPU Package", "°C"), ("HDD1", "°C"), ("CPU Core", "V"), ("+12 V", "V"),
         ("CPU Fan", "RPM"), ("CPU Clock", "MHz")]


def generate(rows: int, columns: int, seed: int = 18) -> bytes:
    rng = np.random.default_rng(seed)
    labels, units = [], []
    for j in range(columns):
        label, unit = KINDS[j % len(KINDS)]
        labels.append(label if j < len(KINDS) else f"{label} #{j}")
        units.append(unit)
    head = ("Version,AIDA64 v7.65.7400\nCPU Type,2C+8c Intel Core i5-1335U, 4300 MHz (43 x 100)\n"
            "Motherboard Name,Acer Aspire A514-56P\nLog Started,6/5/2025 4:35:19 PM\n"
            f"Date,Time,UpTime,{','.join(labels)}\n,,,{','.join(units)}\n* Processes stopped: dllhost.exe\n")
    values = rng.integers(0, 100, size=(rows, columns)).astype(str)
    t0 = datetime(2025, 6, 5, 16, 35, 20)
    out = [head]
    for i in range(rows):
        t = t0 + timedelta(seconds=i)
        hour = t.hour % 12 or 12
        stamp = f"{t.month}/{t.day}/{t.year},{hour}:{t.minute:02d}:{t.second:02d} {'PM' if t.hour >= 12 else 'AM'}"
        out.append(f"{stamp},{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d},{','.join(values[i])}\n")
        if i % 5000 == 4999:
            out.append("* Processes started: aida64.exe\n")
    return "".join(out).encode("utf-8")


def reference(data: bytes, columns: int) -> pl.DataFrame:
    names = ["Date", "Time", "UpTime", *[f"c{j}" for j in range(columns)]]
    frame = pl.read_csv(data, has_header=False, skip_lines=6, comment_prefix="* ", new_columns=names,
                        schema={n: (pl.String if n in ("Date", "Time", "UpTime") else pl.Float64) for n in names})
    frame = frame.with_columns(time=(pl.col("Date") + " " + pl.col("Time")).str.strptime(
        pl.Datetime("us"), "%m/%d/%Y %I:%M:%S %p").dt.replace_time_zone("UTC")).drop("Date", "Time", "UpTime")
    return frame.unpivot(index="time", variable_name="key", value_name="value")


def reader(data: bytes) -> pl.DataFrame:
    from workbench.readers.everest import csvlog
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return csvlog.parse(data, source="log.csv", timezone="UTC", date_order="MDY").table


def slow(data: bytes) -> None:
    from workbench.readers.everest import csvlog
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        csvlog._slow(data, source="log.csv", timezone="UTC", date_order="MDY")


def ingest(path: Path) -> None:
    import contextlib
    import io

    from workbench import cli
    out = path.with_suffix(".parquet")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = cli.main(["ingest", str(path), "--label", "condition=x", "--option", "timezone=UTC",
                         "--option", "date_order=MDY", "-o", str(out), "--force"])
    if code != 0:
        raise SystemExit(f"ingest exited {code}")


def child(which: str, path: str, columns: int) -> None:
    from workbench import cli  # noqa: F401
    from workbench.readers.everest import csvlog  # noqa: F401
    reader(generate(20, columns))  # warm-up
    warm = Path(path).with_name("warm-up.csv")
    warm.write_bytes(generate(20, columns))
    ingest(warm)
    with peak() as measured:
        if which == "ingest":
            ingest(Path(path))
        else:
            data = Path(path).read_bytes()
            out = reference(data, columns) if which == "reference" else reader(data)
            del out
    print(json.dumps(measured))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=6000)
    ap.add_argument("--columns", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scales", default="1,4,16", help="sizes as multiples of --rows")
    ap.add_argument("--child", nargs=3, metavar=("WHICH", "PATH", "COLUMNS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    reader(generate(20, args.columns))
    print(f"AIDA64 CSV log, {args.columns} sensor columns, {args.rounds} rounds, medians")
    print(f"{'size':>5} {'MB':>6} {'rows':>7} {'ref s':>7} {'reader s':>9} {'x ref':>6} {'ingest s':>9} {'old s':>7} "
          f"{'RSS ref/file':>13} {'RSS reader/file':>16} {'RSS ingest/file':>16}  same values")
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        for scale in (int(x) for x in args.scales.split(",")):
            data = generate(args.rows * scale, args.columns)
            path = Path(tmp) / f"log-{scale}.csv"
            path.write_bytes(data)
            cases = {"ref": lambda d=data: reference(d, args.columns), "reader": lambda d=data: reader(d),
                     "ingest": lambda p=path: ingest(p)}
            if scale == 1:
                cases["old"] = lambda d=data: slow(d)
            took: dict[str, list[float]] = {k: [] for k in cases}
            for _ in range(args.rounds):
                for name, fn in cases.items():
                    t0 = time.perf_counter()
                    fn()
                    took[name].append(time.perf_counter() - t0)
            med = {k: statistics.median(v) for k, v in took.items()}
            ref, got = reference(data, args.columns), reader(data)
            # same rows, times and values (the reader's memory columns are in bytes: MB x 2^20)
            factor = pl.when(pl.col("metric").is_in(["mem_used", "mem_free"])).then(2.0 ** 20).otherwise(1.0)
            same = (ref.height == got.height and ref["time"].equals(got["time"])
                    and np.array_equal(ref["value"].to_numpy(), got.select(pl.col("value") / factor)["value"].to_numpy()))
            rss = {}
            for which in ("reference", "reader", "ingest"):
                res = subprocess.run([sys.executable, __file__, "--child", which, str(path), str(args.columns)],
                                     check=True, capture_output=True, text=True,
                                     env={**os.environ, "PYTHONWARNINGS": "ignore"})
                rss[which] = json.loads(res.stdout.strip().splitlines()[-1])["peak_bytes"] / len(data)
            old = f"{med['old']:7.2f}" if "old" in med else f"{'':>7}"
            print(f"{scale:>4}x {len(data) / 1e6:6.1f} {args.rows * scale:>7} {med['ref']:7.2f} {med['reader']:9.2f} "
                  f"{med['reader'] / med['ref']:6.1f} {med['ingest']:9.2f} {old} {rss['reference']:13.2f} "
                  f"{rss['reader']:16.2f} {rss['ingest']:16.2f}  {same}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
