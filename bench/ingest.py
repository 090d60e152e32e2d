"""Benchmark of ``workbench ingest`` (issue 10): one parse per file, table and metadata.

Before issue 10 a reader registered a separate metadata function and ingest called
both; the AIDA64 HTML reader's metadata re-ran the whole read, so ingesting a
3.3 MB report cost 1.6-1.9x a plain read. Now ``parse`` returns the table and the
metadata from one pass. On the real 3.3 MB v5.95 English report
(``tests/fixtures/everest/aida64_v5.95_en_html_report_allpages_FULL.htm``), in this
process, alternately, `--rounds` times:

* reference: ``readers.read(path)``, the validated table alone;
* ``readers.read_file(path)``: the table and the metadata (what ingest reads);
* ingest, library: ``readers.read_file`` then ``storage.write_table`` with the
  metadata document (validation again, Parquet, atomic rename);
* ``workbench ingest PATH -o OUT.parquet``: the whole command, in-process
  (``cli.main``: the above plus argument parsing and warning handling);
* two passes, as before issue 10: ``readers.read`` plus a separate metadata read of
  the same file (``report_html.read_header``, the old metadata function's body).

Prints medians and ratios against the reference (target: ingest <= 1.1x a plain
read), in CPU time of this process (``time.process_time``: all its threads) and in
wall time. The machines here are shared (two cores, other jobs): wall times move by
tens of percent between rounds, CPU time much less. Run: ``.venv/bin/python bench/ingest.py [--rounds 3]``. Asserts nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from workbench import cli, readers, storage
from workbench.readers.everest import report_html

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "tests" / "fixtures" / "everest" / "aida64_v5.95_en_html_report_allpages_FULL.htm"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--file", type=Path, default=REPORT, help="an AIDA64 HTML report (default: the 3.3 MB sample)")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="workbench-bench-")) / "ingest.parquet"
    path = str(args.file)

    def plain():
        readers.read(path)

    def read_file():
        readers.read_file(path)

    def ingest_library():
        parsed = readers.read_file(path, condition="native")
        storage.write_table(parsed.table, out, metadata={"sources": parsed.by_source()})

    def ingest():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli.main(["ingest", path, "--label", "condition=native", "-o", str(out)]) == 0

    def two_passes():
        readers.read(path)
        report_html.read_header(Path(path).read_bytes(), source=path)

    cases = {"readers.read (reference)": plain, "readers.read_file (table + metadata)": read_file,
             "ingest, library (read_file + write_table)": ingest_library,
             "workbench ingest (cli.main, in-process)": ingest,
             "two passes, as before issue 10": two_passes}
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn in cases.values():  # warm-up: imports, regex compilation, first Parquet write
            fn()
        for _ in range(args.rounds):
            for name, fn in cases.items():  # alternate, so drift on a shared machine hits all alike
                w0, c0 = time.perf_counter(), time.process_time()
                fn()
                cpu[name].append(time.process_time() - c0)
                wall[name].append(time.perf_counter() - w0)
    print(f"file: {args.file.name} ({args.file.stat().st_size / 1e6:.1f} MB), {args.rounds} rounds, medians")
    print(f"  {'':<44} {'CPU ms':>8} {'ratio':>6} {'wall ms':>8} {'ratio':>6}")
    ref = "readers.read (reference)"
    c_ref, w_ref = statistics.median(cpu[ref]), statistics.median(wall[ref])
    for name in cases:
        c, w = statistics.median(cpu[name]), statistics.median(wall[name])
        print(f"  {name:<44} {c * 1e3:8.1f} {c / c_ref:5.2f}x {w * 1e3:8.1f} {w / w_ref:5.2f}x")
    for name in ("ingest, library (read_file + write_table)", "workbench ingest (cli.main, in-process)"):
        print(f"ratio {name} / plain read: CPU {statistics.median(cpu[name]) / c_ref:.2f}x, "
              f"wall {statistics.median(wall[name]) / w_ref:.2f}x (target <= 1.1x)")

if __name__ == "__main__":
    main()
