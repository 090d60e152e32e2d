"""Reader for the thesis transcription (``data/thesis/figNN_*.csv``).

Format (written by us, one file per figure of Palmieri 2015): UTF-8 CSV, one row
per printed cell, header exactly :data:`HEADER`:

``figure, section, row, row_es, row_en, column_es, column_en, printed, value,
unit, approximate, bound, note``

``printed`` is the cell as the thesis prints it ("67,4 ns"); ``value``/``unit``
are the number and unit read off it (empty for text cells and for the empty L3
rows of the EVEREST tables); ``approximate`` is true for values the thesis only
states in its text ("un aproximado de 350 MB"), ``bound`` says whether such a
value is a lower or upper bound ("supero el 50%").

Emits (DESIGN.md §3): one ``aggregate = single`` row per measured value of
figures 65, 67, 69-71, 74 and 79, ``source = thesis-table`` for printed tables
and ``thesis-text`` for approximate values from the text; a value the text gives only
as a bound ("supero el 50%") keeps it in the ``bound`` column (``lower``/``upper``),
so it is never taken as a measurement. Figures 9, 63 and 73
(a model and spec sheets) hold no measurements and yield no rows; use
:func:`load_transcription` for them.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any, Callable

import polars as pl

from .. import schema
from ..errors import ParseError
from . import Parsed, _numbers

NAME = "thesis"
HEADER = ["figure", "section", "row", "row_es", "row_en", "column_es", "column_en",
          "printed", "value", "unit", "approximate", "bound", "note"]
TRANSCRIPTION_SCHEMA = {
    "figure": pl.Int32, "section": pl.String, "row": pl.Int32, "row_es": pl.String,
    "row_en": pl.String, "column_es": pl.String, "column_en": pl.String,
    "printed": pl.String, "value": pl.Float64, "unit": pl.String,
    "approximate": pl.Boolean, "bound": pl.String, "note": pl.String,
}

# Printed unit -> factor to the canonical unit (see schema.py for why MB is MiB
# for sizes but 10^6 bytes for bandwidth).
_FACTORS = {"%": 1.0, "MB": schema.MIB, "GB": 1024 * schema.MIB,
            "MB/s": schema.MB_PER_S, "ns": schema.NS}

# Stage names: the thesis's own states, in English (Spanish kept in the CSVs).
STAGE_HOST_BOOTED = "host just booted"
STAGE_WS2003 = "Windows Server 2003 guest running"
STAGE_BOTH = "both guests running"
_CACHEMEM_STAGE = {69: STAGE_HOST_BOOTED, 70: STAGE_WS2003, 71: STAGE_BOTH}
# Figures 69-71 are the EVEREST window: its row and column labels, from the one layout.
_CACHEMEM_COMPONENT = {label: component for component, label in schema.CACHE_MEMORY.rows}
_CACHEMEM_METRIC = {label: metric for metric, label in schema.CACHE_MEMORY.columns}
_MEM_METRIC = {"total": "mem_total", "used": "mem_used", "free": "mem_free",
               "utilization": "mem_util", "memory used": "mem_used", "memory total": "mem_total",
               "memory utilization": "mem_util", "CPU utilization": "cpu_util"}
BOTH_GUESTS = "Windows Server 2003 + TrixBox CE"


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse one transcription file into measurement rows (labels left to the caller;
    no metadata: the transcription's provenance is its PROVENANCE.md)."""
    cells = _parse_cells(data, source=source)
    rows: list[dict[str, Any]] = []
    for line, cell in cells:
        mapper = _MAPPERS.get(cell["figure"])
        if mapper is None or cell["value"] is None:
            continue
        try:
            mapped = mapper(cell)
        except (KeyError, ValueError, IndexError):  # a label the figure does not have
            raise ParseError(source, line, f"a row and column label of figure {cell['figure']} "
                             "(as data/thesis transcribes it)",
                             f"row_en {cell['row_en']!r}, column_en {cell['column_en']!r}") from None
        if mapped is None:
            continue
        factor = _FACTORS.get(cell["unit"])
        if factor is None:
            raise ParseError(source, line, f"a unit among {', '.join(_FACTORS)}", repr(cell["unit"]))
        rows.append({**mapped, "value": cell["value"] * factor, "aggregate": "single",
                     "source": "thesis-text" if cell["approximate"] else "thesis-table",
                     "source_file": source, schema.BOUND: cell["bound"] or None})
    return Parsed(schema.from_rows(rows))


def load_transcription(data: bytes, *, source: str) -> pl.DataFrame:
    """The transcription itself, typed (for spec tables, figure 9 and the audit)."""
    cells = [cell for _, cell in _parse_cells(data, source=source)]
    return pl.DataFrame(cells, schema=TRANSCRIPTION_SCHEMA, orient="row") if cells else \
        pl.DataFrame(schema=TRANSCRIPTION_SCHEMA)


def _parse_cells(data: bytes, *, source: str) -> list[tuple[int, dict[str, Any]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(source, None, "UTF-8 text", f"byte {data[exc.start]:#04x} at offset {exc.start}") from None
    # strict: a file cut inside a quoted field is an error, not a shorter last cell
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return _cells(reader, source)
    except csv.Error as exc:
        raise ParseError(source, reader.line_num, "complete CSV (every quoted field closed)", str(exc)) from None


def _cells(reader: Any, source: str) -> list[tuple[int, dict[str, Any]]]:
    header = next(reader, None)
    if header != HEADER:
        raise ParseError(source, 1, f"the header {','.join(HEADER)}", ",".join(header or []) or "an empty file")
    out = []
    for cols in reader:
        line = reader.line_num
        if not any(c.strip() for c in cols):
            continue
        if len(cols) != len(HEADER):
            raise ParseError(source, line, f"{len(HEADER)} fields", f"{len(cols)} fields")
        cell: dict[str, Any] = dict(zip(HEADER, cols))
        for name in ("figure", "row"):
            if not re.fullmatch(r"[0-9]{1,9}", cell[name]):
                raise ParseError(source, line, f"an integer in column '{name}'", repr(cell[name]))
            cell[name] = int(cell[name])
        cell["value"] = _numbers.to_float(cell["value"], source=source, line=line,
                                          what="a number (or nothing) in column 'value'") \
            if cell["value"].strip() else None
        if cell["approximate"] not in ("true", "false"):
            raise ParseError(source, line, "true or false in column 'approximate'", repr(cell["approximate"]))
        cell["approximate"] = cell["approximate"] == "true"
        if cell["bound"] not in ("", "lower", "upper"):
            raise ParseError(source, line, "'', 'lower' or 'upper' in column 'bound'", repr(cell["bound"]))
        out.append((line, cell))
    if not out:
        raise ParseError(source, 2, "at least one transcribed cell", "no rows")
    return out


def _fig65(cell: dict) -> dict:
    label = cell["column_en"].split()
    if len(label) != 2 or label[0] != "core" or not re.fullmatch("[1-9][0-9]?", label[1]):
        raise ValueError(cell["column_en"])
    core = int(label[1])  # "core 1" -> cpu0
    return dict(metric="cpu_util", component=f"cpu{core - 1}", stage=cell["row_en"], scope="host")


def _fig67(cell: dict) -> dict:
    return dict(metric=_MEM_METRIC[cell["row_en"]], component="total", stage=cell["column_en"], scope="host")


def _cachemem(cell: dict) -> dict | None:
    if cell["column_en"] not in _CACHEMEM_METRIC:  # the EVEREST system block under fig. 69
        return None
    return dict(metric=_CACHEMEM_METRIC[cell["column_en"]], component=_CACHEMEM_COMPONENT[cell["row_en"]],
                stage=_CACHEMEM_STAGE[cell["figure"]], scope="host")


def _fig74(cell: dict) -> dict:
    guests = cell["row_en"] == "both paravirtualized guests"
    return dict(metric=_MEM_METRIC[cell["column_en"]], component="total", stage=STAGE_BOTH,
                scope="guest" if guests else "host", guest=BOTH_GUESTS if guests else None,
                condition="paravirtualized")


def _fig79(cell: dict) -> dict:
    return dict(metric=_MEM_METRIC[cell["column_en"]], component="total", stage=STAGE_BOTH,
                scope="host", condition=cell["row_en"])


_MAPPERS: dict[int, Callable[[dict], dict | None]] = {
    65: _fig65, 67: _fig67, 69: _cachemem, 70: _cachemem, 71: _cachemem, 74: _fig74, 79: _fig79,
}


def _sniff(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf").startswith(",".join(HEADER).encode())


# Registration last, as every reader module does.
from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".csv",),
                description="thesis transcription CSV (data/thesis/figNN_*.csv)")
