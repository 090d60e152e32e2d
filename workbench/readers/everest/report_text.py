"""EVEREST / AIDA64 plain-text reports (Report Wizard, ``/TEXT``; §2.2).

Layout (AIDA64 v5.98 ``aida64_v5.98_en_text_report_hardware_pages.txt``; the same in
EVEREST 2.20 and 4.60): pages start with ``--------[ Title ]---`` padded to 120
characters; the first "page" is the product banner with the header block (values at
column 54); body items are indented 6 spaces with values at column 56, group headers
4 spaces with a trailing colon. The report ends with 120 dashes and a trademark
notice: a file without that closing line is truncated.

Read: the Memory page's first group (physical memory Total, Used, Free,
Utilization, by position: keys are localized), the Sensor page's readings (native
metrics ``everest-report-text:<kind>``, component = the label in English; utilization
labels map to ``cpu_util``/``mem_util``; trial-masked readings are NaN of their group's
kind, as masked Memory values are), and the header and Summary as metadata; ``host`` =
the report's computer name unless the caller gives one.
Page titles are localized and text reports have no anchors: pages are found by
the titles in :data:`PAGE_TITLES` (English, and the RU/PT-BR/ES titles the sample
reports show). Benchmark pages in text reports are refused: no real file shows
their layout (§2.5), and the this-system line cannot be told apart without markup.
"""
from __future__ import annotations

import math
import re
import warnings

from ...errors import ParseError
from .. import Parsed
from ._common import (
    KIND_UNITS,
    MEMORY_BENCHMARK_PAGES,
    PERCENT_UNITS,
    SENSOR_GROUPS,
    SENSOR_KINDS,
    SIZE_UNITS,
    TRIAL,
    AssumptionWarning,
    canonical_label,
    frame,
    sensor_reading,
    value_with_unit,
    warn_native,
    withheld,
)

NAME = "everest-report-text"
_SEPARATOR = re.compile(r"^-{8}\[ (.*) \]-+$")
_CLOSING = "-" * 120
HEADER_COLUMN = 54
BODY_COLUMN = 56

#: Page key -> titles as printed (English, plus those the samples show: RU v7.35 and
#: PT-BR v5.75 HTML reports carry the same titles next to their English anchors;
#: ES from the EVEREST 4.60 excerpt).
PAGE_TITLES = {
    "summary": {"Summary", "Суммарная информация", "Sumário", "Resumen"},
    "memory": {"Memory", "Память", "Memória"},
    "sensor": {"Sensor", "Датчики"},
}
#: English titles of benchmark pages (§2.4); their text layout is unknown (§2.5).
BENCHMARK_TITLES = {*MEMORY_BENCHMARK_PAGES, "CPU Queen",
                    "CPU PhotoWorxx", "CPU ZLib", "CPU AES", "CPU Hash", "CPU SHA3", "FPU VP8",
                    "FPU Julia", "FPU Mandel", "FPU SinJulia", "FP32 Ray-Trace", "FP64 Ray-Trace"}
#: English header keys -> metadata keys; other languages are read by position (§2.2).
HEADER_KEYS = {"Version": "version", "Benchmark Module": "benchmark_module", "Homepage": "homepage",
               "Report Type": "report_type", "Computer": "computer", "Generator": "generator",
               "Operating System": "os", "Date": "report_date", "Time": "report_time"}
_TAIL_KEYS = ("computer", "generator", "os", "report_date", "report_time")
#: Memory page, first group, by position -> (metric, units).
MEMORY_ROWS = (("mem_total", SIZE_UNITS), ("mem_used", SIZE_UNITS), ("mem_free", SIZE_UNITS),
               ("mem_util", PERCENT_UNITS))
#: English sensor labels (AIDA64's sensor list, §4.4) that are vocabulary metrics.
UTILIZATION_LABELS = {"CPU Utilization": ("cpu_util", "total"), "Memory Utilization": ("mem_util", "total")}
_CPU_N = re.compile(r"CPU([0-9]{1,6}) Utilization")


def sniff(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \r\n").startswith(b"--------[ ")


def decode(data: bytes) -> str:
    # Text reports carry no charset (§2.2, §6): the machine's ANSI code page, cp1252
    # for the English sample (° is 0xB0). UTF-8 is accepted when valid (the EVEREST
    # excerpts were re-typed as UTF-8). Other code pages decode as cp1252: numbers are
    # unaffected, localized labels may not read right (known debt: no RU text sample).
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


class Page:
    """One page: its title, the 1-based line of its separator, and its lines."""

    def __init__(self, title: str, line: int, lines: list[str]):
        self.title, self.line, self.lines = title, line, lines

    def groups(self) -> list[tuple[str, list[tuple[int, str, str]]]]:
        """``[(group title, [(line, key, value), ...]), ...]`` of the body."""
        out: list[tuple[str, list[tuple[int, str, str]]]] = []
        for n, raw in enumerate(self.lines, self.line + 1):
            line = raw.rstrip()
            if re.fullmatch(r" {4}\S.*:", line):
                out.append((line.strip()[:-1], []))
            elif line.startswith("      ") and line[6:7].strip():
                if not out:
                    out.append(("", []))
                out[-1][1].append((n, *split_item(line, BODY_COLUMN)))
        return out


#: Characters at the end of an item line searched for a reading run into its key.
_READING_TAIL = 80


def split_item(line: str, column: int) -> tuple[str, str]:
    """Split at the value column; a key longer than its column runs into the value
    with no space (334 times in the v5.98 sample): then split before the last reading
    if the tail is one (number + unit), else keep the column split."""
    if len(line) > column and line[column - 1] != " ":
        # Only the line's tail: a reading ("55 °C  (131 °F)") is short, and this pattern
        # backtracks cubically on a long run of digits (a 5000-digit line hung it).
        offset = max(0, len(line) - _READING_TAIL)
        m = re.search(r"(-?[0-9]+(?:\.[0-9]+)? ?\S+(?:\s+\(.*\))?|\[ TRIAL VERSION \])$", line[offset:])
        if m and (m.group(1) == TRIAL or sensor_reading(m.group(1)) is not None):
            return line[: offset + m.start()].strip(), m.group(1).strip()
    return line[:column].strip(), line[column:].strip()


def pages(text: str, source: str) -> list[Page]:
    """Split the report into pages; raise ParseError if it does not start like a report
    or does not end with the closing line (truncated)."""
    lines = text.splitlines()
    starts = [(i, m.group(1)) for i, l in enumerate(lines) if (m := _SEPARATOR.match(l.rstrip()))]
    if not starts or lines[: starts[0][0]] and any(l.strip() for l in lines[: starts[0][0]]):
        first = next((l for l in lines if l.strip()), "")
        raise ParseError(source, 1, "an EVEREST/AIDA64 text report starting with '--------[ <product> ]---'",
                         repr(first) if first else "an empty file")
    last = max((i for i, l in enumerate(lines) if l.strip()), default=0)
    closing = max((i for i, l in enumerate(lines) if l.rstrip() == _CLOSING), default=None)
    if closing is None or any(l.strip() for l in lines[closing + 1: last]):
        raise ParseError(source, last + 1, "the report's closing line of 120 '-' and the trademark notice "
                         "(the file ends early: truncated?)", repr(lines[last].strip()))
    bounds = [s for s, _ in starts] + [closing]
    return [Page(title, start + 1, lines[start + 1: end])
            for (start, title), end in zip(starts, bounds[1:])]


def header(page_list: list[Page], source: str) -> dict[str, str]:
    """Product and header block (Version ... Date, Time) as metadata."""
    banner = page_list[0]
    items = [(n, *split_item(l.rstrip(), HEADER_COLUMN)) for n, l in enumerate(banner.lines, banner.line + 1)
             if re.match(r" {4}\S", l)]
    return header_meta(banner.title, items, source=source, line=banner.line)


def header_meta(product: str, items: list[tuple[int, str, str]], *, source: str, line: int) -> dict[str, str]:
    """The header block's ``(line, key, value)`` items -> metadata, checked: version
    ``AIDA64 v…``/``EVEREST v…``, date ``YYYY-MM-DD``, time ``HH:MM`` (any locale, §2.2)."""
    meta = {"product": product}
    if all(k in HEADER_KEYS for _, k, _ in items):
        meta.update({HEADER_KEYS[k]: v for _, k, v in items})
    elif len(items) >= 6:  # localized keys: Version first, the last five fixed (§2.2)
        meta["version"] = items[0][2]
        meta.update({key: v for key, (_, _, v) in zip(_TAIL_KEYS, items[-5:])})
    checks = {"version": r"(AIDA64|EVEREST) v\S+.*", "report_date": r"\d{4}-\d{2}-\d{2}",
              "report_time": r"\d{1,2}:\d{2}"}
    for key, pattern in checks.items():
        if not re.fullmatch(pattern, meta.get(key, "")):
            where = next((n for n, _, v in items if v == meta.get(key)), line)
            raise ParseError(source, where, f"the report header with {key} matching {pattern!r}",
                             repr(meta.get(key, "nothing")))
    return meta


def find(page_list: list[Page], key: str) -> Page | None:
    return next((p for p in page_list if p.title in PAGE_TITLES[key]), None)


def summary_metadata(groups: list[tuple[str, list[tuple[int, str, str]]]]) -> dict[str, str]:
    """CPU type, motherboard, chipset and memory type from the Summary's second group
    ("Motherboard:"), by English key or else by position (the order is fixed)."""
    if len(groups) < 2:
        return {}
    items = groups[1][1]
    english = {k: v for _, k, v in items}
    meta: dict[str, str] = {}
    if "CPU Type" in english:
        picks = {"cpu_type": english.get("CPU Type"), "motherboard": english.get("Motherboard Name"),
                 "chipset": english.get("Motherboard Chipset")}
    elif len(items) >= 3 and "MHz" in items[0][2]:
        picks = {"cpu_type": items[0][2], "motherboard": items[1][2], "chipset": items[2][2]}
    else:
        picks = {}
    meta.update({k: v for k, v in picks.items() if v and v != TRIAL})
    for _, _, value in items:  # "System Memory  4011 MB  (DDR3-1600 DDR3 SDRAM)"
        m = re.fullmatch(r"\d+ \S+\s+\((.+)\)", value)
        if m:
            meta["memory_type"] = m.group(1)
            break
    return meta


def memory_rows(groups, *, source: str, page_line: int) -> list[dict]:
    """The Memory page's first group: physical memory Total, Used, Free, Utilization."""
    if not groups or len(groups[0][1]) < len(MEMORY_ROWS):
        raise ParseError(source, page_line, "the Memory page's first group with 4 items "
                         "(physical memory Total, Used, Free, Utilization)",
                         f"{len(groups[0][1]) if groups else 0} item(s)")
    rows = []
    for (metric, units), (line, key, value) in zip(MEMORY_ROWS, groups[0][1]):
        rows.append(dict(metric=metric, component="total", aggregate="single",
                         value=value_with_unit(value, units, source=source, line=line,
                                               what=f"physical memory '{key}'")))
    return rows


def sensor_rows(groups, *, source_name: str) -> tuple[list[dict], int]:
    """Sensor readings: utilization -> vocabulary, the rest -> ``<source>:<kind>`` with the
    label in English (:func:`canonical_label`) as component. A reading the trial version
    masked is a NaN row of its group's kind, as the Memory page's masked values are; one in a
    group of unknown kind cannot be named and is only counted (the second value returned)."""
    rows, unnamed = [], 0
    for title, items in groups:
        kind = SENSOR_GROUPS.get(title)
        for _, key, value in items:
            label = canonical_label(key)
            if TRIAL in value:  # also "[ TRIAL VERSION ] / 42 °C" (RU v7.35, a drive): the first reading masked
                # "GPU TDP%" among the power values (EN v5.98) is a percentage
                masked = "percent" if label.endswith("%") else kind
                if masked is None:
                    unnamed += 1
                else:
                    rows.append(dict(metric=f"{source_name}:{masked}", component=label, value=math.nan,
                                     unit=KIND_UNITS[masked], aggregate="single"))
                continue
            reading = sensor_reading(value)
            if reading is None:  # "AC Line", "CPU, HDD, ACPI", "00 00 00": not a reading
                continue
            number, unit = reading
            if label in UTILIZATION_LABELS and unit == "%":
                metric, component = UTILIZATION_LABELS[label]
                rows.append(dict(metric=metric, component=component, value=number, aggregate="single"))
            elif (m := _CPU_N.fullmatch(label)) and unit == "%":
                rows.append(dict(metric="cpu_util", component=f"cpu{int(m.group(1)) - 1}", value=number,
                                 aggregate="single"))
            else:
                rows.append(dict(metric=f"{source_name}:{SENSOR_KINDS.get(unit, 'sensor')}", component=label,
                                 value=number, unit=unit, aggregate="single"))
    return rows, unnamed


def _check_language(page_list: list[Page], meta: dict[str, str], source: str) -> None:
    # A localized report ("AIDA64 v7.35.7000/ru") with titles not in PAGE_TITLES would
    # silently yield nothing: say so.
    if find(page_list, "memory") is None and find(page_list, "sensor") is None \
            and re.search(r"/[a-z]{2}$", meta.get("version", "")):
        warnings.warn(f"{source}: no Memory or Sensor page with a known title in this localized report "
                      f"({meta['version']}); known titles: {', '.join(sorted(PAGE_TITLES['memory'] | PAGE_TITLES['sensor']))}",
                      AssumptionWarning, stacklevel=3)


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse a text report into measurement rows (labels left to the caller) and its
    header and Summary as metadata (see :func:`read_header`)."""
    page_list = pages(decode(data), source)
    meta = header(page_list, source)
    bench = [p for p in page_list if p.title in BENCHMARK_TITLES]
    if bench:
        raise ParseError(source, bench[0].line, "hardware pages only: benchmark pages in text reports are not "
                         "supported yet (no real file shows their layout; a sample text report with "
                         "benchmark pages is needed) - export the report as HTML instead",
                         f"the benchmark page '{bench[0].title}'")
    _check_language(page_list, meta, source)
    rows: list[dict] = []
    unnamed = 0
    if (memory := find(page_list, "memory")) is not None:
        rows += memory_rows(memory.groups(), source=source, page_line=memory.line)
    if (sensor := find(page_list, "sensor")) is not None:
        sensor_found, unnamed = sensor_rows(sensor.groups(), source_name=NAME)
        rows += sensor_found
    metadata = _metadata(page_list, meta)
    table = frame(rows, source_name=NAME, source=source, meta=metadata)
    warn_native(table, source=source, withheld=withheld(table) + unnamed)
    return Parsed(table, metadata)


def _metadata(page_list: list[Page], header_meta: dict[str, str]) -> dict[str, str]:
    meta = dict(header_meta)
    if (summary := find(page_list, "summary")) is not None:
        meta.update(summary_metadata(summary.groups()))
    return meta


def read_header(data: bytes, *, source: str) -> dict[str, str]:
    """Header (product, version, computer, os, report_date, report_time, ...) and the
    Summary's cpu_type, motherboard, chipset, memory_type, as :func:`parse` gives them,
    but also of a truncated report, whose table :func:`parse` refuses: the header is at
    the top (the EVEREST excerpts in the samples are truncated)."""
    text = decode(data)
    try:
        page_list = pages(text, source)
    except ParseError as exc:
        if "closing line" not in exc.expected:
            raise
        lines = text.splitlines()
        starts = [(i, m.group(1)) for i, l in enumerate(lines) if (m := _SEPARATOR.match(l.rstrip()))]
        bounds = [s for s, _ in starts] + [len(lines)]
        page_list = [Page(t, s + 1, lines[s + 1: e]) for (s, t), e in zip(starts, bounds[1:])]
    return _metadata(page_list, header(page_list, source))

