"""Reader for results CSV: one result per row, in the measurement table's own words.

For values that exist only as numbers someone wrote down (a paper's table, a result
spreadsheet transcribed cell by cell): UTF-8 CSV whose header names columns of the
measurement table. Required: ``metric``, ``component``, ``value``, ``unit``; optional:
the labels (``condition``, ``hypervisor``, ``host``, ``guest``, ``scope``, ``stage``,
``run``), ``aggregate`` (default: the metric's, else ``single``) and ``source``
(default ``results-csv``); a ``note`` column is free text (where the number came from)
and is not read. The first line must start with ``metric,`` or a label column and the
header must hold ``metric`` and ``value`` (the sniffer's signature)::

    condition,metric,component,value,unit,note
    native,net_throughput,nuttcp client->server,1168516487.5,bytes/s,nuttcp.xlsx B5: 9348.1319 Mbit/s

Values are in the metric's canonical unit (the ``unit`` column must say it: the table's
gate checks it against the vocabulary); a metric outside the vocabulary is
``<source>:<name>`` with its own unit. An empty value is a missing value (NaN).
"""
from __future__ import annotations

import csv
import io
import math

from .. import schema
from ..errors import ParseError
from . import Parsed, _numbers
from ._bench import number as _num

NAME = "results-csv"
_REQUIRED = ("metric", "component", "value", "unit")
_OPTIONAL = (*schema.LABELS, "aggregate", "source", "note")
_FIRST = ("metric", *schema.LABELS)


def _rows(reader, source: str):
    """(line, cells) of the data rows; a csv.Error (a field over csv's size limit) is a ParseError."""
    try:
        yield from enumerate(reader, 2)
    except csv.Error as exc:
        raise ParseError(source, reader.line_num, "CSV rows", str(exc)) from None


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse a results CSV (see the module docstring)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ParseError(source, line, "UTF-8 text", f"byte 0x{data[exc.start]:02x}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:  # a lone CR in the header (found by bench/fuzz.py)
        raise ParseError(source, 1, "a header line of comma-separated column names", str(exc)) from None
    if not header:
        raise ParseError(source, 1, "a header naming the table's columns (metric,component,value,unit,...)",
                         "an empty file")
    header = [h.strip() for h in header]
    for name in header:
        if name not in _REQUIRED and name not in _OPTIONAL:
            raise ParseError(source, 1, f"columns of the measurement table ({', '.join(_REQUIRED + _OPTIONAL)})",
                             f"a column '{name}'")
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise ParseError(source, 1, f"the columns {', '.join(_REQUIRED)}", f"no column '{missing[0]}'")
    if len(set(header)) != len(header):
        raise ParseError(source, 1, "each column once", ",".join(header))
    rows = []
    for number, cells in _rows(reader, source):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            raise ParseError(source, number, f"{len(header)} cells as in the header", f"{len(cells)}")
        rec = dict(zip(header, (c.strip() for c in cells)))
        rec.pop("note", None)
        value = rec.pop("value")
        rec["value"] = math.nan if value == "" else _num(value, source, number, "a number in 'value'")
        if "run" in rec:
            rec["run"] = _numbers.to_int(rec["run"], source=source, line=number, what="a non-negative integer in 'run'",
                                         minimum=0, maximum=_numbers.INT32[1])  # the table's run is an Int32
        for key in list(rec):
            if rec[key] == "":
                rec[key] = None
        spec = schema.METRICS.get(rec["metric"] or "")
        rec.setdefault("aggregate", None)
        if rec["aggregate"] is None:
            rec["aggregate"] = spec.aggregate if spec is not None and spec.aggregate else "single"
        if not rec.get("source"):
            rec["source"] = NAME
        rec["source_file"] = source
        rows.append(rec)
    if not rows:
        raise ParseError(source, 2, "at least one result row", "none")
    return Parsed(schema.from_rows(rows))


def _sniff(head: bytes) -> bool:
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    cells = [c.strip() for c in first.split(",")]
    return bool(cells) and cells[0] in _FIRST and "metric" in cells and "value" in cells and "unit" in cells


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".csv",),
                description="results CSV in the table's own columns (metric,component,value,unit,...): "
                            "transcribed results")
