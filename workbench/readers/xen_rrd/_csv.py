"""rrd2csv output (dom0 tool; xen-api ``ocaml/rrd2csv/src/rrd2csv.ml``, XEN_RRD.md §3.6).

``WARNING: ...`` lines may precede the header ``timestamp, CF:obj:uuid:name, ...``
(names quoted RFC 4180-style when they hold ``,`` or ``"``; ``-u`` prints the uuid
as ``uuid (name-label)``). Data lines are ``2012-02-09T13:52:20Z, v1, v2, ...``: ISO
8601 UTC, ``%.0f`` for integral values, ``%f`` otherwise, ``N/A`` for NaN. The values
come from xapi's 5 s archive: rrd2csv queries ``/rrd_updates`` without ``interval``,
which selects the first (5 s) archive (``find_best_rras``), hence ``interval = 5``.
"""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import numpy as np

from ...errors import ParseError
from ._model import Block, Column, number

#: xapi's step (rrdd_monitor.ml: ``let step = 5``); rrd2csv reads the 5 s archive.
XAPI_STEP = 5.0


def header_line(text: str) -> int | None:
    """0-based index of the ``timestamp, ...`` header line, skipping rrd2csv's warnings."""
    for i, line in enumerate(text.splitlines()):
        if line.startswith("WARNING:") or not line.strip():
            continue
        return i if line.startswith("timestamp,") else None
    return None


def parse(data: bytes, source: str) -> Block:
    """Decode rrd2csv output into one block (rows forward in time)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(source, None, "UTF-8 text", f"byte {data[exc.start]:#04x} at offset {exc.start}") from None
    first = header_line(text)
    if first is None:
        shown = next((l for l in text.splitlines() if l.strip() and not l.startswith("WARNING:")), "")
        raise ParseError(source, 1, "rrd2csv's header 'timestamp, CF:obj:uuid:name, ...'",
                         shown or "an empty file")
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    header: list[str] | None = None
    times: list[int] = []
    rows: list[list[float]] = []
    for fields in reader:
        line = reader.line_num
        if line <= first or not any(f.strip() for f in fields):
            continue
        if header is None:
            header = fields
            columns = [Column.from_legend(name, source=source, where=f"line {line}, header field {k + 2}")
                       for k, name in enumerate(header[1:])]
            if not columns:
                raise ParseError(source, line, "at least one data source after 'timestamp'", "none")
            continue
        if len(fields) != len(header):
            raise ParseError(source, line, f"{len(header)} fields as the header has", f"{len(fields)} fields")
        try:
            when = datetime.strptime(fields[0].strip(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            raise ParseError(source, line, "a UTC timestamp like 2012-02-09T13:52:20Z", repr(fields[0])) from None
        times.append(int(when.timestamp()))
        rows.append([np.nan if f.strip() == "N/A" else
                     number(f, source=source, where=f"line {line}, field {k + 2} ({columns[k].legend})")
                     for k, f in enumerate(fields[1:])])
    if header is None:
        raise ParseError(source, first + 1, "rrd2csv's header line", "nothing")
    values = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(columns))
    return Block(columns=columns, times=np.asarray(times, dtype=np.int64), values=values,
                 interval=XAPI_STEP, where="rows")
