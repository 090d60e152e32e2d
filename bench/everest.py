"""Benchmark: full read of a multi-MB AIDA64 HTML report against lxml.html parsing the same bytes.

The report is built from the real v5.95 English report (tests/fixtures/everest/) by
repeating its pages the reader does not read (processes, DLL files, devices, ...)
so the result still has one Memory, one Sensor and one page per benchmark. Both
sides run in this process on the same bytes, alternately, several times; the
ratio of medians is printed (target: full read <= 2x the bare parse). Run:

    .venv/bin/python bench/everest.py [--repeat 3] [--runs 7]
"""
from __future__ import annotations

import argparse
import re
import statistics
import time
import warnings
from pathlib import Path

import lxml.html

from workbench.readers.everest import NativeMetricWarning, report_html

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "fixtures" / "everest" / "aida64_v5.95_en_html_report_allpages_FULL.htm"
READ = {"summary", "memory", "sensor"}


def build(repeat: int) -> bytes:
    """The sample with every page it does not read repeated `repeat` times in all."""
    text = SAMPLE.read_bytes().decode("cp1252")
    starts = [m.start() for m in re.finditer(r"<TABLE WIDTH=100%><TD CLASS=pt>", text)]
    footer = text.rfind("\r\n", 0, text.rfind("<HR>")) + 2
    pages = [text[s:e] for s, e in zip(starts, starts[1:] + [footer])]
    kept, extra = [], []
    for page in pages:
        anchor = re.search(r'<A NAME="([^"]*)"', page[:300])
        read = anchor is not None and (anchor.group(1) in READ or 'CLASS="bar ' in page)
        kept.append(page)
        if not read and anchor is not None:
            extra.append(page)
    body = "".join(kept) + "".join(extra) * (repeat - 1)
    return (text[: starts[0]] + body + text[footer:]).encode("cp1252")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="copies of the unread pages (default 3)")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    data = build(args.repeat)
    parser = lxml.html.HTMLParser(huge_tree=True)  # the reference parses the whole file too
    bare, full = [], []
    warnings.simplefilter("ignore", NativeMetricWarning)
    table = report_html.parse(data, source="bench.htm").table  # warm-up (imports, regex compilation)
    for _ in range(args.runs):
        t0 = time.perf_counter()
        lxml.html.document_fromstring(data, parser=parser)
        t1 = time.perf_counter()
        report_html.parse(data, source="bench.htm")
        t2 = time.perf_counter()
        bare.append(t1 - t0)
        full.append(t2 - t1)
    b, f = statistics.median(bare), statistics.median(full)
    print(f"report: {len(data) / 1e6:.1f} MB ({args.repeat}x the unread pages of the v5.95 EN sample), "
          f"{table.height} rows read, {args.runs} runs")
    print(f"lxml.html.document_fromstring (reference): median {b * 1e3:8.1f} ms")
    print(f"everest-report-html full read:              median {f * 1e3:8.1f} ms")
    print(f"ratio full read / bare parse: {f / b:.2f}x (target <= 2x)")


if __name__ == "__main__":
    main()
