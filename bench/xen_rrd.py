"""Benchmark: the xen_rrd reader against a plain lxml iterparse parser, same run, same input.

Generates a large ``rrd_updates`` XML in the exact XenServer 6.2 layout (declaration,
then one line; rows newest first; ``%0.4f``/``0.0``/``NaN`` as xapi's ``f_to_s``
prints them): one host with the 6.2 host data sources plus VMs with the 6.2 VM data
sources, 17280 rows (one day of 5 s rows) x 200 columns, about 50 MB. Then, in
this one process and interleaved:

* reference: ``lxml.etree.iterparse`` over the document, ``float()`` of every
  ``<v>``, rows cleared as they go (what a careful plain implementation does);
* reader (decode): ``xen_rrd.decode`` -> the same times x columns matrix;
* reader (table): ``xen_rrd.parse_updates`` -> the long measurement table (one
  row per value, DESIGN.md §3), i.e. decode plus the tidy table.

Both decoders must give identical legends, times and values (bit for bit, NaN
included) or the script exits 1. Peak memory is measured in fresh child processes
(Linux VmHWM, reset after imports; it includes the file's own bytes). The targets of
issue 4 are for the decoder against the reference: >= 10x the throughput, peak
memory <= 3x the file. The table line shows what the long table (one row per value,
~140 bytes each at the peak) adds on top. Absolute numbers depend on the machine and
its load; the ratios are what to compare.

Usage: ``.venv/bin/python bench/xen_rrd.py [--rows 17280] [--columns 200] [--repeat 3]``
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from _peak import peak  # bench/_peak.py
from lxml import etree

HOST = "6ae8c3e4-5f3a-4b0e-9d62-1c2b3a4d5e6f"
HOST_DS = (["cpu_avg"] + [f"cpu{i}" for i in range(8)]
           + ["memory_total_kib", "memory_free_kib", "loadavg", "pif_eth0_rx", "pif_eth0_tx",
              "pif_aggr_rx", "pif_aggr_tx", "xapi_memory_usage_kib", "xapi_free_memory_kib",
              "xapi_live_memory_kib", "xapi_allocation_kib"])
VM_DS = ["cpu0", "cpu1", "memory", "memory_target", "vif_0_tx", "vif_0_rx", "vbd_xvda_write",
         "vbd_xvda_read", "memory_internal_free", "vbd_xvdb_write", "vbd_xvdb_read", "vif_1_rx"]


def f_to_s(values: np.ndarray) -> list[str]:
    """xapi 6.2's ``Utils.f_to_s``: ``%0.4f``, ``0.0`` for zero, ``NaN``."""
    out = []
    for v in values.tolist():
        if v != v:
            out.append("NaN")
        elif v == 0.0:
            out.append("0.0")
        else:
            out.append("%0.4f" % v)
    return out


def generate(rows: int, columns: int, seed: int = 62) -> bytes:
    """A 6.2-layout rrd_updates document with `rows` x `columns` values."""
    rng = np.random.default_rng(seed)
    legend = [("host", HOST, name) for name in HOST_DS][:columns]
    vm = 0
    while len(legend) < columns:
        uuid = f"0f1e2d3c-4b5a-6978-8a9b-{vm:012x}"
        legend.extend(("vm", uuid, name) for name in VM_DS[:columns - len(legend)])
        vm += 1
    cols = []
    for _, _, name in legend:
        if name.startswith("cpu"):
            v = rng.beta(2, 8, rows)
        elif name == "memory_total_kib":
            v = np.full(rows, 8387224.0)
        elif name.endswith("free_kib") or name == "memory_internal_free":
            v = rng.uniform(1e6, 3e6, rows).round(0)
        elif name in ("memory", "memory_target"):
            v = np.full(rows, 4294967296.0)
        elif name == "loadavg":
            v = rng.gamma(2, 0.1, rows)
        else:
            v = rng.lognormal(8, 2, rows) * (rng.random(rows) > 0.3)
        v[rng.random(rows) < 0.01] = np.nan
        cols.append(f_to_s(v))
    end = 1700000000
    parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n<xport><meta><start>%d</start><step>5</step>'
             b"<end>%d</end><rows>%d</rows><columns>%d</columns><legend>"
             % (end - 5 * rows + 5, end, rows, columns)]
    parts.extend(f"<entry>AVERAGE:{o}:{u}:{n}</entry>".encode() for o, u, n in legend)
    parts.append(b"</legend></meta><data>")
    for i in range(rows):
        parts.append(f"<row><t>{end - 5 * i}</t>".encode()
                     + "".join(f"<v>{c[i]}</v>" for c in cols).encode() + b"</row>")
    parts.append(b"</data></xport>")
    return b"".join(parts)


def reference(data: bytes) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Plain lxml iterparse: legend, times, values (rows in file order)."""
    legend, times, rows = [], [], []
    row: list[float] = []
    for _, el in etree.iterparse(io.BytesIO(data), events=("end",), resolve_entities=False,
                                 no_network=True, load_dtd=False):
        tag = el.tag
        if tag == "v":
            row.append(float(el.text))
        elif tag == "t":
            times.append(int(el.text))
        elif tag == "row":
            rows.append(row)
            row = []
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
        elif tag == "entry":
            legend.append(el.text)
    return legend, np.asarray(times, dtype=np.int64), np.asarray(rows, dtype=np.float64)


def reader_decode(data: bytes):
    from workbench.readers import xen_rrd
    _, (block,) = xen_rrd.decode(data, source="bench.xml", kind="updates")
    return [c.legend for c in block.columns], block.times, block.values, block.decoder


def reader_table(data: bytes):
    from workbench.readers import xen_rrd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xen_rrd.parse_updates(data, source="bench.xml").table


def _warm_up() -> None:
    # numba compiles (or loads from its cache) the scanner on first use: not part of the run.
    from workbench.readers import xen_rrd
    small = generate(40, 20)
    xen_rrd.decode(small, source="warm-up", kind="updates", fast=True)


def child(which: str, path: str) -> None:
    """Run one parser in this fresh process and print its peak memory as JSON (reading
    the file and parsing it, after the imports and the warm-up: ``_peak``)."""
    if which != "reference":
        _warm_up()
    with peak() as measured:
        data = Path(path).read_bytes()
        result = {"reference": reference, "decode": reader_decode, "table": reader_table}[which](data)
    del result
    print(json.dumps({"which": which, **measured, "file_bytes": len(data)}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=17280)
    parser.add_argument("--columns", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    t0 = time.perf_counter()
    data = generate(args.rows, args.columns)
    mb = len(data) / 1e6
    print(f"document: {args.rows} rows x {args.columns} columns, 6.2 layout, {mb:.1f} MB "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    _warm_up()
    print(f"warm-up (numba scanner compile or cache load): {time.perf_counter() - t0:.2f} s")

    best = {"reference": float("inf"), "decode": float("inf"), "table": float("inf")}
    ref = dec = table = None
    for _ in range(args.repeat):  # interleaved, best of N: the machine is shared and noisy
        for name, fn in (("reference", reference), ("decode", reader_decode), ("table", reader_table)):
            t0 = time.perf_counter()
            out = fn(data)
            best[name] = min(best[name], time.perf_counter() - t0)
            if name == "reference":
                ref = out
            elif name == "decode":
                dec = out
            else:
                table = out
            del out

    legend, times, values = ref
    same = (legend == dec[0] and np.array_equal(times, dec[1])
            and np.array_equal(values, dec[2], equal_nan=True)
            and np.array_equal(values.view(np.int64), np.ascontiguousarray(dec[2]).view(np.int64)))
    print(f"identical values (legend, times, every value bit for bit): {same}; reader path: {dec[3]}")
    print(f"table: {table.height} rows ({table['metric'].n_unique()} metrics)")

    speed = {k: mb / v for k, v in best.items()}
    print(f"{'parser':<34}{'best s':>8}{'MB/s':>9}{'x reference':>13}")
    for name, label in (("reference", "lxml iterparse (reference)"), ("decode", "xen_rrd.decode"),
                        ("table", "xen_rrd.parse_updates (table)")):
        print(f"{label:<34}{best[name]:8.3f}{speed[name]:9.1f}{speed[name] / speed['reference']:13.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.xml"
        path.write_bytes(data)
        print("peak memory above the RSS before reading (fresh process each; includes the file's bytes):")
        for which in ("reference", "decode", "table"):
            out = subprocess.run([sys.executable, __file__, "--child", which, str(path)], check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            rec = json.loads(out.stdout.strip().splitlines()[-1])
            ratio = rec["peak_bytes"] / rec["file_bytes"]
            print(f"  {which:<10} {rec['peak_bytes'] / 1e6:8.1f} MB = {ratio:.2f} x file")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
