"""Benchmark of ``workbench ingest`` (issue 10): one parse per file, table and metadata.

Before issue 10 a reader registered a separate metadata function and ingest called
both; the AIDA64 HTML reader's metadata re-ran the whole read, so ingesting a
3.3 MB report cost 1.6-1.9x a plain read. Now ``parse`` returns the table and the
metadata from one pass. On the real 3.3 MB v5.95 English report
(``tests/fixtures/everest/aida64_v5.95_en_html_report_allpages_FULL.htm``), in this
process, alternately, `--rounds` times:

* reference: ``readers.read(path)``, the validated table alone;
* ``readers.read_file(path)``: the table and the metadata (what ingest reads);
* ``workbench ingest PATH -o OUT.parquet``: the whole command, in-process
  (``cli.main``: read, metadata, Parquet write with its document, atomic rename);
* two passes, as before issue 10: ``readers.read`` plus a separate metadata read of
  the same file (``report_html.read_header``, the old metadata function's body).

Prints medians and ratios against the reference (target: ingest <= 1.1x a plain
read). Run: ``.venv/bin/python bench/ingest.py [--rounds 3]``. Asserts nothing.
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

from workbench import cli, readers
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

    def ingest():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            assert cli.main(["ingest", path, "--label", "condition=native", "-o", str(out)]) == 0

    def two_passes():
        readers.read(path)
        report_html.read_header(Path(path).read_bytes(), source=path)

    cases = {"readers.read (reference)": plain, "readers.read_file (table + metadata)": read_file,
             "workbench ingest (in-process, writes Parquet)": ingest,
             "two passes, as before issue 10": two_passes}
    times: dict[str, list[float]] = {name: [] for name in cases}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for fn in cases.values():  # warm-up: imports, regex compilation, first Parquet write
            fn()
        for _ in range(args.rounds):
            for name, fn in cases.items():  # alternate, so drift on a shared machine hits all alike
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    medians = {name: statistics.median(ts) for name, ts in times.items()}
    reference = medians["readers.read (reference)"]
    print(f"file: {args.file.name} ({args.file.stat().st_size / 1e6:.1f} MB), {args.rounds} rounds, medians")
    for name, m in medians.items():
        print(f"  {name:<48} {m * 1e3:8.1f} ms  {m / reference:5.2f}x")
    print(f"ratio ingest / plain read: {medians['workbench ingest (in-process, writes Parquet)'] / reference:.2f}x "
          "(target <= 1.1x)")


if __name__ == "__main__":
    main()
