"""Benchmark (issue 17): ``workbench ingest`` of xapi RRD XML end to end, at three sizes.

Two forms, each generated at 1x, 4x and 16x (`--rows` rows of 200 columns at 1x):

* ``updates``: ``rrd_updates`` in the XenServer 6.2 byte layout (bench/xen_rrd.py's generator);
* ``dump``: a full dump (``/host_rrd``, ``/vm_rrd``) in xapi's one-line layout, the same
  values in one AVERAGE archive, oldest row first.

Per size, in this process, interleaved, `--rounds` rounds, medians:

* reference: ``lxml.etree.iterparse`` with ``tag=`` extracting the same numbers (``float()`` of
  every ``<v>``, rows cleared as they go);
* ``rrdtool restore`` (C) of the dump into an .rrd file (dump form only, when rrdtool is
  installed: the DS names fit its 19 characters);
* decode: ``xen_rrd.decode`` (the numbers, bit-identical to the reference or exit 1);
* ingest: ``cli.main(["ingest", FILE, "--label", "condition=x", "-o", OUT])``: read, label,
  validate, write Parquet;
* write: polars' ``write_parquet`` of the table the ingest writes, already in memory (the
  least any ingest to Parquet costs: ``ref/write`` is the most ``x ref`` can be).

Then peak RSS above the process's RSS before reading (Linux VmHWM reset after imports, fresh
process each, includes the file's bytes) for the reference and the ingest. Targets
(issue 17): ingest >= 5x the reference (dump: >= 3x rrdtool restore), RSS <= 3x the
file. Timings are ratios: the machine is shared. Asserts nothing.

Usage: ``.venv/bin/python bench/xen_ingest.py [--form updates|dump|both] [--rows 1080] [--rounds 3] [--scales 1,4,16]``
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
import xen_rrd as gen  # noqa: E402  (bench/xen_rrd.py: the 6.2-layout generator)
from _peak import peak  # noqa: E402  (bench/_peak.py)


def generate_dump(rows: int, columns: int) -> bytes:
    """A one-line xapi dump holding the values of ``gen.generate(rows, columns)``."""
    updates = gen.generate(rows, columns)
    legend, times, values = reference_updates(updates)
    names = [entry.rsplit(":", 1)[1] for entry in legend]
    seen: dict[str, int] = {}
    unique = []
    for j, n in enumerate(names):  # one object per dump: repeated names get a suffix, and
        seen[n] = seen.get(n, 0) + 1  # every name fits rrdtool's 19 characters
        unique.append(n if seen[n] == 1 and len(n) <= 19 else f"{n[:12]}_{j}")
    last = int(times.max())
    parts = [b'<?xml version="1.0" encoding="UTF-8"?>\n<rrd><version>0003</version><step>5</step>'
             b"<lastupdate>%d</lastupdate>" % last]
    parts.extend(f"<ds><name>{n}</name><type>GAUGE</type><minimal_heartbeat>300.0000</minimal_heartbeat>"
                 f"<min>-Infinity</min><max>Infinity</max><last_ds>0.0</last_ds><value>0.0</value>"
                 f"<unknown_sec>0</unknown_sec></ds>".encode() for n in unique)
    parts.append(b"<rra><cf>AVERAGE</cf><pdp_per_row>1</pdp_per_row><params><xff>0.5000</xff></params>"
                 b"<cdp_prep>" + b"<ds><primary_value>0.0</primary_value><secondary_value>0.0</secondary_value>"
                 b"<value>0.0</value><unknown_datapoints>0</unknown_datapoints></ds>" * len(unique)
                 + b"</cdp_prep><database>")
    order = np.argsort(times)
    text = [gen.f_to_s(values[:, j][order]) for j in range(values.shape[1])]
    for i in range(len(order)):
        parts.append(b"<row>" + "".join(f"<v>{c[i]}</v>" for c in text).encode() + b"</row>")
    parts.append(b"</database></rra></rrd>")
    return b"".join(parts)


def reference_updates(data: bytes):
    """lxml iterparse: legend, times, values (file order)."""
    return gen.reference(data)


def reference_dump(data: bytes):
    rows, row = [], []
    for _, el in etree.iterparse(io.BytesIO(data), events=("end",), tag=("v", "row"), resolve_entities=False,
                                 no_network=True, load_dtd=False):
        if el.tag == "v":
            if el.getparent().tag == "row":
                row.append(float(el.text))
        else:
            rows.append(row)
            row = []
            el.clear()
            while el.getprevious() is not None:
                del el.getparent()[0]
    return np.asarray(rows, dtype=np.float64)


def decode(data: bytes, form: str):
    from workbench.readers import xen_rrd
    _, blocks = xen_rrd.decode(data, source="bench.xml", kind=form)
    return blocks


def ingest(path: Path, out: Path) -> None:
    from workbench import cli
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = cli.main(["ingest", str(path), "--label", "condition=x", "-o", str(out)])
    if code != 0:
        raise SystemExit(f"ingest exited {code}")
    out.unlink()


def restore(path: Path, tmp: Path) -> None:
    target = tmp / "restored.rrd"
    target.unlink(missing_ok=True)
    subprocess.run(["rrdtool", "restore", str(path), str(target)], check=True, capture_output=True)


def child(which: str, form: str, path: str) -> None:
    """Peak RSS of one case in this fresh process (VmHWM reset after imports and warm-up)."""
    if which == "ingest":
        import polars  # noqa: F401

        from workbench import cli, readers  # noqa: F401
        gen._warm_up()
        _warm_dump()
    with peak() as measured:
        if which == "ingest":
            ingest(Path(path), Path(path).with_suffix(".parquet"))
        else:
            data = Path(path).read_bytes()
            (reference_updates if form == "updates" else reference_dump)(data)
    print(json.dumps(measured))


def _warm_dump() -> None:
    from workbench.readers import xen_rrd
    xen_rrd.decode(generate_dump(20, 20), source="warm-up", kind="dump", fast=True)


def same_numbers(form: str, ref, blocks) -> bool:
    (block,) = blocks
    if form == "updates":
        legend, times, values = ref
        ok = [c.legend for c in block.columns] == legend and np.array_equal(times, block.times)
    else:
        values, ok = ref, True
    return ok and np.array_equal(np.ascontiguousarray(block.values).view(np.int64), values.view(np.int64))


def run_form(form: str, rows: int, columns: int, rounds: int, tmp: Path, scales: tuple[int, ...] = (1, 4, 16)) -> bool:
    has_rrdtool = form == "dump" and shutil.which("rrdtool") is not None
    print(f"\n{form}: {columns} columns, sizes {'/'.join(f'{k}x' for k in scales)} of {rows} rows, {rounds} rounds, medians")
    head = f"{'size':>5} {'MB':>7} {'ref s':>7} {'decode':>7} {'ingest':>7} {'x ref':>6} {'write':>6} {'ref/write':>9}"
    head += f" {'restore':>8} {'x rest':>7}" if has_rrdtool else ""
    print(head + f" {'RSS ref/file':>13} {'RSS ingest/file':>16}  identical")
    all_same = True
    for scale in scales:
        data = (gen.generate if form == "updates" else generate_dump)(rows * scale, columns)
        path = tmp / f"{form}-{scale}.xml"
        path.write_bytes(data)
        out = tmp / f"{form}-{scale}.parquet"
        ref_fn = reference_updates if form == "updates" else reference_dump
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from workbench import readers
            table = readers.read(path, condition="x")  # what the ingest writes
        floor = tmp / "floor.parquet"
        cases = {"ref": lambda d=data, f=ref_fn: f(d), "decode": lambda d=data: decode(d, form),
                 "ingest": lambda p=path, o=out: ingest(p, o),
                 "write": lambda t=table, o=floor: t.write_parquet(o)}
        if has_rrdtool:
            cases["restore"] = lambda p=path: restore(p, tmp)
        times: dict[str, list[float]] = {k: [] for k in cases}
        ref = dec = None
        for _ in range(rounds):
            for name, fn in cases.items():
                t0 = time.perf_counter()
                result = fn()
                times[name].append(time.perf_counter() - t0)
                if name == "ref":
                    ref = result
                elif name == "decode":
                    dec = result
                del result
        same = same_numbers(form, ref, dec)
        all_same &= same
        med = {k: statistics.median(v) for k, v in times.items()}
        rss = {}
        for which in ("reference", "ingest"):
            res = subprocess.run([sys.executable, __file__, "--child", which, form, str(path)], check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            rss[which] = json.loads(res.stdout.strip().splitlines()[-1])["peak_bytes"] / len(data)
        line = (f"{scale:>4}x {len(data) / 1e6:7.1f} {med['ref']:7.2f} {med['decode']:7.2f} {med['ingest']:7.2f}"
                f" {med['ref'] / med['ingest']:6.1f} {med['write']:6.2f} {med['ref'] / med['write']:9.1f}")
        if has_rrdtool:
            line += f" {med['restore']:8.2f} {med['restore'] / med['ingest']:7.2f}"
        print(line + f" {rss['reference']:13.2f} {rss['ingest']:16.2f}  {same}", flush=True)
    return all_same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--form", choices=("updates", "dump", "both"), default="both")
    ap.add_argument("--rows", type=int, default=1080, help="rows at 1x (200 columns: ~3 MB per 1000 rows)")
    ap.add_argument("--columns", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scales", default="1,4,16", help="sizes as multiples of --rows (issue 18's 4/40/200 MB: "
                    "--rows 1270 --scales 1,10,50)")
    ap.add_argument("--child", nargs=3, metavar=("WHICH", "FORM", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    gen._warm_up()
    _warm_dump()
    ok = True
    with tempfile.TemporaryDirectory(prefix="workbench-bench-") as tmp:
        for form in (("updates", "dump") if args.form == "both" else (args.form,)):
            ok &= run_form(form, args.rows, args.columns, args.rounds, Path(tmp),
                           tuple(int(x) for x in args.scales.split(",")))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
