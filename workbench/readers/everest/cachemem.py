"""EVEREST / AIDA64 Cache & Memory Benchmark window, as its clipboard text (§3).

Layout (EVEREST v5.50.2100, the thesis's figures 69-71; tab-separated there)::

    <TAB>Read<TAB>Write<TAB>Copy<TAB>Latency
    Memory<TAB>7284 MB/s<TAB>7426 MB/s<TAB>7216 MB/s<TAB>57.9 ns
    L1 Cache<TAB>41729 MB/s<TAB>...<TAB>1.1 ns
    L2 Cache<TAB>...
    L3 Cache<TAB><TAB><TAB><TAB>            <- empty row: the CPU has no L3
    CPU Type<TAB>DualCore AMD Athlon 64 X2 5200+ (Windsor, Socket AM2)<TAB><TAB><TAB>
    CPU Multiplier<TAB>13x<TAB><TAB>CPU Stepping<TAB>JH-F2     <- two pairs on one line
    ...
    <blank>
    EVEREST v5.50.2100 / BenchDLL 2.5.292.0 (c) 2003-2010 Lavalys, Inc.

Cells may also be separated by runs of spaces (text re-typed or pasted into a
document). Numbers follow the OS locale: ``57.9 ns`` and ``67,4 ns`` (figure 70).
Rows and columns are read by position (the window's order never changes), so
localized labels do not matter; the header must have four column labels.

Emits ``mem_read_bw``/``mem_write_bw``/``mem_copy_bw`` (bytes/s, "MB/s" = 10^6 B/s)
and ``mem_latency`` (s) for components memory, L1, L2, L3, ``aggregate = single``,
``source = everest-cachemem``. An absent cache level (empty row) yields no rows; an
empty cell in a filled row, or ``TRIAL VERSION``, is NaN. The system block and the
version line are the file's metadata (:func:`_metadata`).
"""
from __future__ import annotations

import math
import re

from ... import schema
from ...errors import ParseError
from .. import Parsed, _numbers
from ._common import BANDWIDTH_UNITS, frame, printed_units, snake

NAME = "everest-cachemem"
# Rows and columns in the window's order, declared once in the schema layer.
LEVELS = schema.CACHE_MEMORY.levels
COLUMNS = schema.CACHE_MEMORY.metrics
_LABELS = ", ".join(label for _, label in schema.CACHE_MEMORY.columns)  # "Read, Write, Copy, Latency"
_HEADER = re.compile(r"^[ \t]*" + r"[ \t]+".join(label for _, label in schema.CACHE_MEMORY.columns) + r"[ \t]*$",
                     re.M)
_CELL = re.compile(r"([0-9]+)(?:([.,])([0-9]+))?\s*(\S+)")
_SPACE_CELL = re.compile(r"[0-9]+(?:[.,][0-9]+)?\s*[^\s0-9]\S*")
_VERSION = re.compile(r"^(EVEREST|AIDA64)\b.*\bv\d", re.I)


def sniff(head: bytes) -> bool:
    """The English header line ``\\tRead\\tWrite\\tCopy\\tLatency`` first (§7.1)."""
    text = head.lstrip(b"\xef\xbb\xbf").decode("latin-1")
    first = next((l for l in text.splitlines() if l.strip()), "")
    return bool(_HEADER.fullmatch(first))


def _decode(data: bytes, source: str) -> str:
    # The clipboard is UTF-16 in Windows; saved text is whatever the user's editor
    # wrote: UTF-8 (with or without BOM), else the Windows ANSI code page. The
    # numbers and units are ASCII either way; only labels could be affected.
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _cells(line: str) -> list[str]:
    """Label first, then the cells; TAB-separated or (no TAB) runs of 2+ spaces."""
    if "\t" in line:
        return [c.strip() for c in line.split("\t")]
    m = re.fullmatch(r"\s*(.*?)(?:\s+([0-9].*?))?\s*", line)
    return [m.group(1), *_SPACE_CELL.findall(m.group(2) or "")]


def _split(data: bytes, source: str) -> tuple[list[str], int]:
    lines = _decode(data, source).splitlines()
    header = next((i for i, l in enumerate(lines) if l.strip()), None)
    if header is None:
        raise ParseError(source, 1, "the Cache & Memory header '\\tRead\\tWrite\\tCopy\\tLatency'", "an empty file")
    head = lines[header]
    cells = [c for c in (head.split("\t") if "\t" in head else head.split()) if c.strip()]
    if len(cells) != 4:
        raise ParseError(source, header + 1,
                         f"the Cache & Memory header: four column labels ({_LABELS})",
                         repr(lines[header]))
    return lines, header


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse one Cache & Memory block into measurement rows (labels left to the caller)
    and the system block below them (:func:`_metadata`)."""
    lines, header = _split(data, source)
    rows = []
    separators: dict[str, int] = {}
    labels: dict[str, int] = {}  # row label -> its line: a row given twice is refused, wherever it is
    for level_index, level in enumerate(LEVELS):
        i = header + 1 + level_index
        if i >= len(lines) or not lines[i].strip():
            found = "end of file" if i >= len(lines) else "an empty line"
            raise ParseError(source, i + 1, f"the {level} row (rows Memory, L1, L2, L3 Cache follow the header)",
                             f"{found} (truncated?)")
        cells = _cells(lines[i])
        _once(cells[0], i + 1, labels, source)
        values = cells[1:5]
        if "\t" in lines[i] and len(cells) < 5:
            raise ParseError(source, i + 1, f"four TAB-separated cells ({_LABELS}) in the {level} row",
                             f"{len(cells) - 1} cell(s) in {lines[i].strip()!r} (truncated?)")
        if not any(values):  # e.g. "L3 Cache\t\t\t\t": the level does not exist
            continue
        if "\t" not in lines[i] and len(values) != 4:
            raise ParseError(source, i + 1, f"four values ({_LABELS}) or none in the {level} row",
                             f"{len(values)} value(s) in {lines[i].strip()!r}")
        for column, metric in enumerate(COLUMNS):
            text = values[column] if column < len(values) else ""
            value = _cell_value(text, metric, separators, source=source, line=i + 1)
            rows.append(dict(metric=metric, component=level, value=value, aggregate="single"))
    return Parsed(frame(rows, source_name=NAME, source=source), _metadata(lines, header, source, labels))


def _cell_value(text: str, metric: str, separators: dict[str, int], *, source: str, line: int) -> float:
    if not text or "TRIAL" in text.upper():  # no value in a measured row, or withheld
        return math.nan
    units = printed_units(metric)
    bandwidth = units is BANDWIDTH_UNITS
    what = "a bandwidth" if bandwidth else "a latency"
    m = _CELL.fullmatch(text.replace("\xa0", " "))
    if not m:
        raise ParseError(source, line, f"{what}: a number and a unit ({', '.join(units)})", repr(text))
    whole, sep, frac, unit = m.groups()
    if unit not in units:
        raise ParseError(source, line, f"{what} in one of the units {', '.join(units)}", repr(text))
    if sep:
        # The window formats with the OS locale ("67,4 ns", figure 70). EVEREST prints
        # bandwidth in whole MB/s, so three digits after a separator in a bandwidth
        # could be digit grouping ("41.729" = 41729?): refuse rather than guess.
        if bandwidth and len(frac) == 3:
            raise ParseError(source, line, "a bandwidth without digit grouping (EVEREST prints whole MB/s)",
                             f"{text!r}: is {sep!r} a thousands separator here?")
        other = "," if sep == "." else "."
        if other in separators:
            raise ParseError(source, line, f"one decimal separator in the whole block ({other!r} on line "
                             f"{separators[other]})", repr(text))
        separators.setdefault(sep, line)
    return _numbers.to_float(f"{whole}.{frac}" if sep else whole, source=source, line=line, what=what) * units[unit]


def _once(label: str, line: int, labels: dict[str, int], source: str) -> None:
    key = label.strip().casefold()
    if key in labels:
        raise ParseError(source, line, f"each of the rows {', '.join(LEVELS)} once (rows are read by position)",
                         f"a second {label.strip()!r} row (the first is on line {labels[key]})")
    labels[key] = line


def _metadata(lines: list[str], header: int, source: str, labels: dict[str, int] | None = None) -> dict[str, str]:
    """The system block (``CPU Type``, ``CPU Clock``, ``Memory Type``, ``Chipset``,
    ``Motherboard``, ...) under snake_case keys, plus ``product`` and ``version`` from
    the version line. Figures 70/71 print no system block: then only what is there."""
    meta: dict[str, str] = {}
    for i in range(header + 1 + len(LEVELS), len(lines)):
        line = lines[i].strip()
        if not line:
            continue
        if _VERSION.match(line):
            meta["product"] = line.split()[0]
            meta["version"] = line.split(" (c)")[0].strip()
            continue
        cells = [c.strip() for c in (lines[i].split("\t") if "\t" in lines[i] else re.split(r" {2,}", line))]
        cells = [c for c in cells if c]
        if labels is not None and cells:
            _once(_cells(lines[i])[0], i + 1, labels, source)
        if len(cells) % 2:
            raise ParseError(source, i + 1, "'Key<TAB>Value' pairs in the system block", repr(line))
        for key, value in zip(cells[::2], cells[1::2]):
            meta[snake(key)] = value
    return meta
