"""EVEREST / AIDA64 HTML and MHTML reports (``/HTML``, ``/MHTML``; §2.3, §2.4, §2.6).

Decoding: the ``<META ... CHARSET=...>`` declaration, never a guess (§6), read through
the WHATWG Encoding Standard's label table as browsers read it (``readers._charset``):
``iso-8859-1`` means windows-1252 (AIDA64 labels cp1252 so, the EN v5.95 sample),
``gb2312`` means GBK, ``x-cp1251`` windows-1251.
A missing or unknown charset, bytes the charset does not define, or a file that
declares a code page but is valid UTF-8 (re-encoded after AIDA64 wrote it) are errors.

Pages are keyed by their English ``<A NAME="...">`` anchor inside the ``CLASS=pt``
title cell (translated titles beside it). The document is split at those title cells
and only the pages read are parsed, with lxml. Rows are taken in document order
(``tr`` starts a row, ``td`` a cell) because libxml2 nests the unclosed ``<DIV>`` of
benchmark rows into the following cells; the order is the same either way.

Read:
* ``memory``: the first group (physical memory Total, Used, Free, Utilization) by
  position -> ``mem_total``/``mem_used``/``mem_free`` (MB = MiB) and ``mem_util``;
  ``[ TRIAL VERSION ]`` -> NaN (withheld).
* ``sensor``: readings -> native metrics ``<source>:<kind>`` (component = the label in
  English: a localized report's ``ЦП`` or ``Processador`` is ``CPU``, ``_common.SENSOR_LABELS``),
  utilization labels -> ``cpu_util``/``mem_util``; a reading the trial version masked is
  NaN, of its group's kind (as on the Memory page).
* ``host`` = the report's computer name (header ``Computer``/localized) unless the caller
  or the manifest's input labels give one.
* benchmark pages (any page whose rows carry ``CLASS="bar ..."``, plus the known
  anchors): the this-system row (``CLASS="bar a"``) -> ``memory read/write/copy`` ->
  ``mem_*_bw`` (MB/s = 10^6 B/s), ``memory latency`` -> ``mem_latency`` (component
  ``memory``), any other page -> ``bench_score`` with component = the anchor in
  snake_case (``cpu_queen``), value as printed; its unit and the row's CPU, clock,
  board, chipset, memory and timings go to the metadata (``bench.<component>.<field>``).
* the banner's header block and the Summary -> metadata.
Refused with a message: an AIDA64/EVEREST HTML without report pages (e.g. the
hardware-monitoring HTML log, layout unknown), benchmark pages without the
``bar a``/``bar r`` markup (EVEREST-era, no sample), an MHTML without an HTML part.
"""
from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field

import lxml.html
import polars as pl

from ...errors import ParseError
from .. import Parsed, _charset, _numbers
from . import report_text
from ._common import (
    MEMORY_BENCHMARK_PAGES,
    TRIAL,
    frame,
    line_of,
    printed_units,
    snake,
    value_with_unit,
    warn_native,
    withheld,
)

NAME = "everest-report-html"
MHTML_NAME = "everest-report-mhtml"
_GENERATOR = re.compile(rb'<META\s+NAME="?GENERATOR"?\s+CONTENT="([^"]*)"', re.I)
_CHARSET = re.compile(rb'<META\b[^>]*\bCHARSET=["\']?([A-Za-z0-9_.:-]+)', re.I)
_TITLE = re.compile(r'<TD\b[^>]*\bCLASS=["\']?pt\b[^>]*>', re.I)
_ANCHOR = re.compile(r'<A\s+NAME="([^"]*)"', re.I)
_TAGS = re.compile(r"<[^>]*>")
_SCORE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(.*)")
#: Benchmark page anchor ("memory read") -> (metric, printed units) for the vocabulary metrics.
MEMORY_BENCHMARKS = {title.lower(): (metric, printed_units(metric))
                     for title, metric in MEMORY_BENCHMARK_PAGES.items()}
#: Anchors known to be benchmark pages (v5.95 sample, §2.4; EVEREST-era and SHA3 names),
#: used to recognise a benchmark page that lacks the bar markup. Not a whitelist.
KNOWN_BENCHMARKS = {*MEMORY_BENCHMARKS, "cpu queen", "cpu photoworxx", "cpu zlib", "cpu aes", "cpu hash",
                    "cpu sha3", "fpu vp8", "fpu julia", "fpu mandel", "fpu sinjulia", "fp32 ray-trace",
                    "fp64 ray-trace"}
BENCH_FIELDS = ("cpu", "cpu_clock", "motherboard", "chipset", "memory", "timings")
_PARSER = lxml.html.HTMLParser(huge_tree=True)  # benchmark rows nest deeper than libxml2's default


def sniff(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \r\n\t")[:20].upper()
    if not (start.startswith(b"<!DOCTYPE HTML") or start.startswith(b"<HTML")):
        return False
    m = _GENERATOR.search(head)
    return bool(m and re.match(rb"(AIDA64|EVEREST)\b", m.group(1)))


def sniff_mhtml(head: bytes) -> bool:
    return (b"MIME-Version:" in head[:2048] and b"multipart/related" in head.lower()
            and (b"AIDA64" in head or b"EVEREST" in head))


@dataclass
class Row:
    line: int
    cells: list[str] = field(default_factory=list)
    bold: list[bool] = field(default_factory=list)
    bar: str | None = None
    score: str | None = None


@dataclass
class Page:
    anchor: str | None
    title: str
    line: int
    html: str

    def rows(self) -> list[Row]:
        root = lxml.html.document_fromstring(self.html, parser=_PARSER)
        out: list[Row] = []
        for el in root.iter("tr", "td", "div"):
            line = self.line + (el.sourceline or 1) - 1
            if el.tag == "tr":
                out.append(Row(line))
            elif not out:
                continue
            elif el.tag == "td":
                out[-1].cells.append(_own_text(el))
                out[-1].bold.append(any(child.tag == "b" for child in el))
            elif (cls := el.get("class", "")).startswith("bar"):
                out[-1].bar = cls
            elif cls == "txt":
                out[-1].score = el.text or ""
        return out

    def groups(self) -> list[tuple[str, list[tuple[int, str, str]]]]:
        """``[(group title, [(line, key, value), ...]), ...]``: a key cell ends with
        ``&nbsp;&nbsp;`` and the value is the last cell (§2.3)."""
        out: list[tuple[str, list[tuple[int, str, str]]]] = []
        for row in self.rows():
            if len(row.cells) >= 2 and row.cells[-2].endswith("\xa0\xa0"):
                if not out:
                    out.append(("", []))
                out[-1][1].append((row.line, row.cells[-2].strip(), row.cells[-1].strip()))
            elif row.cells and row.bold[-1] and row.cells[-1].strip().endswith(":"):
                out.append((row.cells[-1].strip()[:-1], []))
        return out


def _own_text(td) -> str:
    """A cell's text without the cells libxml2 nested into it."""
    parts = [td.text or ""]
    for child in td:
        if isinstance(child.tag, str) and child.tag not in ("td", "tr", "div", "table"):  # not comments
            parts.append(child.text_content())
        parts.append(child.tail or "")
    return "".join(parts).replace("\r", "")


def decode(data: bytes, source: str) -> str:
    """Decode with the declared charset, read as browsers read it (:mod:`.._charset`);
    every way it can be wrong is a ParseError."""
    m = _CHARSET.search(data[:16384])
    if m is None:
        raise ParseError(source, 1, "a <META ... CHARSET=...> declaration (AIDA64 declares the "
                         "machine's Windows code page)", "none in the document head")
    declared = m.group(1).decode("ascii")
    line = data.count(b"\n", 0, m.start()) + 1
    encoding = _charset.lookup(declared)
    if encoding is None:
        raise ParseError(source, line, "a known charset in the META declaration (a WHATWG Encoding Standard "
                         "label)", repr(declared))
    if encoding.name != "UTF-8" and not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raise ParseError(source, line, f"text in the declared charset {declared}",
                             "UTF-8 text (re-encoded after it was written?): fix the META charset or re-export")
    return _charset.decode(data, encoding, source=source)


def split_pages(text: str) -> list[Page]:
    titles = list(_TITLE.finditer(text))
    out = []
    line, counted = 1, 0  # line numbers counted incrementally (files are multi-MB)
    for m, nxt in zip(titles, titles[1:] + [None]):
        end_title = text.find("<TR", m.end())
        title_html = text[m.end(): end_title if end_title != -1 else m.end()]
        anchor = _ANCHOR.search(title_html)
        title = _TAGS.sub("", title_html).replace("&nbsp;", " ").strip()
        line += text.count("\n", counted, m.start())
        counted = m.start()
        out.append(Page(anchor.group(1) if anchor else None, title, line,
                        text[m.start(): nxt.start() if nxt else len(text)]))
    return out


def _generator(data: bytes, source: str) -> None:
    m = _GENERATOR.search(data[:16384])
    if m is None or not re.match(rb"(AIDA64|EVEREST)\b", m.group(1)):
        found = f"generator {m.group(1).decode('latin-1')!r}" if m else "no GENERATOR meta"
        raise ParseError(source, data.count(b"\n", 0, m.start()) + 1 if m else 1,
                         'an AIDA64 or EVEREST HTML report (<META NAME="GENERATOR" CONTENT="AIDA64 v...">)', found)


def read(data: bytes, *, source: str, name: str = NAME,
         strict: bool = True) -> tuple[pl.DataFrame, dict[str, str], int]:
    """Parse an HTML report: ``(table, metadata, sensor values withheld)``. `strict` =
    False reads a truncated file's header and pages without complaint (metadata only)."""
    _generator(data, source)
    text = decode(data, source)
    page_list = split_pages(text)
    if not page_list:
        raise ParseError(source, 1, "report pages (<TD CLASS=pt> page titles): an AIDA64/EVEREST HTML file "
                         "without them, such as the hardware-monitoring HTML log, is not supported yet (its "
                         "layout is unknown; a sample file is needed)", "no page title")
    if strict and not text[-64:].rstrip().upper().endswith("</HTML>"):
        last = text.rstrip().rsplit("\n", 1)[-1]
        raise ParseError(source, line_of(text, len(text.rstrip())), "the closing </HTML> tag (the file ends early: "
                         "truncated?)", repr(last.strip()))
    by_anchor = {p.anchor: p for p in page_list if p.anchor}
    banner = page_list[0]
    items = [item for _, group in banner.groups() for item in group]
    meta = report_text.header_meta(banner.title, items, source=source, line=banner.line)
    if "summary" in by_anchor:
        meta.update(report_text.summary_metadata(by_anchor["summary"].groups()))
    rows: list[dict] = []
    unnamed = 0
    if "memory" in by_anchor:
        page = by_anchor["memory"]
        rows += report_text.memory_rows(page.groups(), source=source, page_line=page.line)
    if "sensor" in by_anchor:
        sensor, unnamed = report_text.sensor_rows(by_anchor["sensor"].groups(), source_name=name)
        rows += sensor
    for page in page_list:
        if page.anchor in KNOWN_BENCHMARKS or 'CLASS="bar ' in page.html:
            row, bench_meta = benchmark(page, source=source)
            rows.append(row)
            meta.update(bench_meta)
    if "memory_type" not in meta and (bench := next((v for k, v in meta.items() if k.endswith(".memory")), None)):
        meta["memory_type"] = bench  # trial builds hide the Summary's; the benchmark rows print it
    table = frame(rows, source_name=name, source=source, meta=meta)
    return table, meta, withheld(table) + unnamed


def benchmark(page: Page, *, source: str) -> tuple[dict, dict[str, str]]:
    """The this-system row of one benchmark page (§2.4)."""
    rows = page.rows()
    # Rows with all the cells; the first is the column header (CPU, CPU Clock, ...).
    data_rows = [r for r in rows if len(r.cells) >= 3 + len(BENCH_FIELDS)][1:]
    barred = [r for r in data_rows if r.bar]
    where = f"benchmark page '{page.anchor}'"
    if not data_rows:
        raise ParseError(source, page.line, f"result rows on the {where}", "an empty page")
    if not barred:
        raise ParseError(source, data_rows[0].line, f"rows marked CLASS=\"bar a\"/\"bar r\" on the {where}: "
                         "benchmark pages without that markup (EVEREST-era reports) are not supported yet "
                         "(a sample EVEREST HTML report with benchmark pages is needed)",
                         f"{len(data_rows)} rows without it")
    mine = [r for r in barred if r.bar.split() == ["bar", "a"]]
    if len(mine) != 1:
        raise ParseError(source, mine[1].line if mine else page.line,
                         f"one this-system row (CLASS=\"bar a\") on the {where}",
                         f"{len(mine)} such rows among {len(barred)}")
    row = mine[0]
    score = (row.score or "").replace("\xa0", " ").strip()
    component = snake(page.anchor)
    if page.anchor in MEMORY_BENCHMARKS:
        metric, units = MEMORY_BENCHMARKS[page.anchor]
        value = value_with_unit(score, units, source=source, line=row.line, what=f"the score on the {where}")
        out = dict(metric=metric, component="memory", value=value, aggregate="single")
        unit = score.split()[-1] if " " in score else ""
    else:
        m = _SCORE.fullmatch(score)
        if not m:
            raise ParseError(source, row.line, f"a score (number, optional unit) on the {where}", repr(score))
        out = dict(metric="bench_score", component=component, value=_numbers.to_float(
            m.group(1), source=source, line=row.line, what=f"the score on the {where}"), aggregate="single")
        unit = m.group(2).strip()
    fields = [c.replace("\xa0", " ").strip() for c in row.cells[3: 3 + len(BENCH_FIELDS)]]
    meta = {f"bench.{component}.{k}": v for k, v in zip(BENCH_FIELDS, fields) if v and v != TRIAL}
    meta[f"bench.{component}.unit"] = unit
    return out, meta


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse an HTML report into measurement rows (labels left to the caller) and its
    header, Summary and benchmark-row metadata (see the module docstring), in one pass."""
    table, meta, withheld = read(data, source=source)
    warn_native(table, source=source, withheld=withheld)
    return Parsed(table, meta)


def read_header(data: bytes, *, source: str) -> dict[str, str]:
    """The metadata :func:`parse` gives, also of a truncated report (whose table
    :func:`parse` refuses): the header is at the top."""
    return read(data, source=source, strict=False)[1]


def html_part(data: bytes, *, source: str) -> bytes:
    """The text/html part of an MHTML file (§2.6: the HTML report packed as MIME)."""
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    parts = list(msg.walk()) if msg.is_multipart() else [msg]
    for part in parts:
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True)
    types = ", ".join(p.get_content_type() for p in parts) or "none"
    raise ParseError(source, "MIME parts", "a text/html part (the report) in the MHTML file", f"parts: {types}")


def parse_mhtml(data: bytes, *, source: str) -> Parsed:
    """Parse an MHTML report: its HTML part, read as :func:`parse` does."""
    html = html_part(data, source=source)
    try:
        table, meta, withheld = read(html, source=source, name=MHTML_NAME)
    except ParseError as exc:
        raise ParseError(source, f"text/html part, line {exc.line}", exc.expected, exc.found) from None
    warn_native(table, source=source, withheld=withheld)
    return Parsed(table, meta)
