"""JSON forms: ``rrd_updates?json`` (three xapi generations), ``rrdtool xport --json``, dump JSON.

Generations (XEN_RRD.md §3.3-3.4):

* XenServer 6.2 until 2023-07 (xs62writer_*.json): hand-built, **not JSON**: unquoted
  keys, bare ``NaN``/``Infinity``. Keys are quoted (outside strings only) and the text
  is then read by :func:`json.loads`, which accepts the bare constants.
* 2023-07 to 2024-02 (yojson): valid JSON, but ``data`` sits inside ``meta``.
* since 2024-02: valid JSON, every number (``t``, ``start``, values) a string.
* rrdtool xport ``--json``: valid JSON with an ``about`` key; rows are arrays, NaN is
  ``null``, and ``--showtime`` puts the time first in each row, as a string.
* Dumps: 6.2 form (unquoted keys, ``lastupdate:1328795567.0000``), and since 2019 valid
  JSON with numbers as strings and the key typo ``minimal_hearbeat``.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from ...errors import ParseError
from .. import _jsonload
from ._model import CFS, Block, Column, epoch, integer, number, span_times
from ._xml import dump_times

# A string literal (kept as is) or an unquoted key after "{" or "," (quoted).
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|(?<=[{,])(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*:)')


def load(data: bytes, source: str) -> Any:
    """Parse JSON, or xapi's pre-2023 JSON-with-unquoted-keys, with the bounded loader
    (depth, size, finite numbers). xapi's bare ``NaN``/``Infinity`` mean "no data"
    (XenCenter draws a gap): both are read as NaN; ``1e999`` is an error."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(source, None, "UTF-8 text", f"byte {data[exc.start]:#04x} at offset {exc.start}") from None
    try:
        return _jsonload.loads(text, source=source, what="complete JSON", constants="nan")
    except _jsonload.JSONSyntaxError:  # (too deep, too large, a number out of range: raised as is)
        pass
    # Quoting adds characters but never lines, so the line is the file's.
    quoted = _TOKEN.sub(lambda m: m.group(0) if m.group(2) is None else f'{m.group(1)}"{m.group(2)}"{m.group(3)}',
                        text)
    return _jsonload.loads(quoted, source=source, what="complete JSON", constants="nan")


def _get(obj: Any, key: str, where: str, source: str, *, what: str | None = None) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise ParseError(source, where, what or f"a '{key}' key", "no such key" if isinstance(obj, dict)
                         else type(obj).__name__)
    return obj[key]


def parse_updates(doc: Any, source: str) -> Block:
    """Decode an rrd_updates / rrdtool xport JSON document (already loaded)."""
    if not isinstance(doc, dict) or "meta" not in doc:
        raise ParseError(source, "top level", "an object with a 'meta' key (rrd_updates or rrdtool xport JSON)",
                         _describe(doc, ("meta",)))
    meta = doc["meta"]
    if not isinstance(meta, dict):
        raise ParseError(source, "meta", "an object", _describe(meta))
    # 2023-07..2024-02 xapi nested data inside meta (fixed by f60c526a).
    data = doc["data"] if "data" in doc else meta.get("data")
    if not isinstance(data, list):
        raise ParseError(source, "data", "a list of rows (top level or inside 'meta')", _describe(data))
    legend_raw = _get(meta, "legend", "meta", source)
    if not isinstance(legend_raw, list) or not legend_raw:
        raise ParseError(source, "meta.legend", "a non-empty list of legend entries", _describe(legend_raw))
    legend = [Column.from_legend(str(e) if isinstance(e, str) else "", source=source, where=f"meta.legend[{i}]")
              for i, e in enumerate(legend_raw)]
    ncol = len(legend)
    if "columns" in meta:
        columns = integer(meta["columns"], source=source, where="meta.columns")
        if columns != ncol:
            raise ParseError(source, "meta.legend", f"{columns} entries, as meta.columns declares",
                             f"{ncol} entries")
    step = integer(_get(meta, "step", "meta", source, what="a 'step' (seconds per row)"),
                   source=source, where="meta.step")
    if step <= 0:
        raise ParseError(source, "meta.step", "a positive number of seconds", str(step))
    if "rows" in meta:
        rows = integer(meta["rows"], source=source, where="meta.rows")
        if rows != len(data):
            raise ParseError(source, "data", f"{rows} rows, as meta.rows declares", f"{len(data)} rows")

    times = np.empty(len(data), dtype=np.int64)
    values = np.empty((len(data), ncol), dtype=np.float64)
    has_t = None
    for i, row in enumerate(data):
        where = f"data[{i}]"
        if isinstance(row, dict):  # xapi: {"t": ..., "values": [...]}
            t = epoch(integer(_get(row, "t", where, source), source=source, where=f"{where}.t",
                              what="an integer epoch time"), source=source, where=f"{where}.t")
            vals = _get(row, "values", where, source)
            vwhere = f"{where}.values"
            row_has_t = True
        elif isinstance(row, list):  # rrdtool: [v, ...] or ["time", v, ...] with --showtime
            row_has_t = len(row) == ncol + 1
            t = epoch(integer(row[0], source=source, where=f"{where}[0]", what="an epoch time"), source=source,
                      where=f"{where}[0]") if row_has_t else None
            vals = row[1:] if row_has_t else row
            vwhere = where
        else:
            raise ParseError(source, where, "a row (an object with t and values, or a list)", _describe(row))
        if has_t is None:
            has_t = row_has_t
        elif has_t != row_has_t:
            raise ParseError(source, where, "a time in every row or in none", "a row that differs")
        if not isinstance(vals, list) or len(vals) != ncol:
            raise ParseError(source, f"{where} (t={t})" if t is not None else where,
                             f"{ncol} values, one per legend entry",
                             f"{len(vals)} values" if isinstance(vals, list) else _describe(vals))
        for k, v in enumerate(vals):
            # rrdtool writes NaN as null (XEN_RRD.md §5).
            values[i, k] = np.nan if v is None else number(
                v, source=source, where=f"{vwhere}[{k}] ({legend[k].legend})")
        if t is not None:
            times[i] = t
    if not has_t:
        start = epoch(integer(_get(meta, "start", "meta", source, what="a 'start' to count rows from"),
                              source=source, where="meta.start"), source=source, where="meta.start")
        times = span_times(start, step, len(data), source=source, where="meta.start",
                           what=f"row times meta.start + i x meta.step ({step} s, {len(data)} rows)")
    check_span(meta, times, has_t=bool(has_t), step=step, source=source)
    return Block(columns=legend, times=times, values=values, interval=float(step), where="data")


def check_span(meta: dict, times: np.ndarray, *, has_t: bool, step: int, source: str) -> None:
    """Rows against what the document declares (a row deleted or duplicated must not shift
    or repeat times silently).

    Rows without times (``rrdtool xport --json``) are timed ``start + i*step``: their count
    must then be ``(end - start) / step + 1``, as rrdtool writes them. Rows with times
    (xapi, ``--showtime``) must run one way, each time once (xapi's ``start`` comes from
    the request and says nothing about the rows, XEN_RRD.md rule 4).
    """
    if not has_t:
        if "end" not in meta or not len(times):
            return
        end = epoch(integer(meta["end"], source=source, where="meta.end"), source=source, where="meta.end")
        start = int(times[0])
        if end < start or (end - start) % step:
            raise ParseError(source, "meta.end", f"a time start + k x step ({start} + k x {step})", str(end))
        declared = (end - start) // step + 1
        if declared != len(times):
            raise ParseError(source, "data", f"{declared} rows, as meta.start {start} .. meta.end {end} every "
                             f"{step} s declare", f"{len(times)} rows (a row deleted or duplicated?)")
        return
    if len(times) < 2:
        return
    steps = np.diff(times)
    order = 1 if steps[0] > 0 else -1
    bad = np.flatnonzero(steps * order <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise ParseError(source, f"data[{i}]", "row times in one order, each once ("
                         f"{'oldest' if order > 0 else 'newest'} first, as the rows before)",
                         f"t={int(times[i])} after t={int(times[i - 1])}")


def parse_dump(doc: Any, source: str) -> list[Block]:
    """Decode a full-dump JSON document (already loaded): one block per archive."""
    if not isinstance(doc, dict) or "rra" not in doc:
        raise ParseError(source, "top level", "an object with 'ds' and 'rra' (a full RRD dump)",
                         _describe(doc, ("ds", "rra")))
    step = integer(_get(doc, "step", "top level", source), source=source, where="step")
    if step <= 0:
        raise ParseError(source, "step", "a positive integer", str(step))
    raw = _get(doc, "lastupdate", "top level", source)
    lastupdate = epoch(number(raw, source=source, where="lastupdate", what="an epoch time"), source=source,
                       where="lastupdate", text=raw)
    dss = _get(doc, "ds", "top level", source)
    if not isinstance(dss, list):
        raise ParseError(source, "ds", "a list of data sources", _describe(dss))
    names, types = [], []
    for i, ds in enumerate(dss):
        name = _get(ds, "name", f"ds[{i}]", source)
        if not isinstance(name, str) or not name.strip():
            raise ParseError(source, f"ds[{i}].name", "a data-source name", _describe(name))
        names.append(name.strip())
        types.append(ds.get("type") if isinstance(ds.get("type"), str) else None)
    rras = doc["rra"]
    if not isinstance(rras, list):
        raise ParseError(source, "rra", "a list of archives", _describe(rras))
    blocks = []
    for i, rra in enumerate(rras):
        where = f"rra[{i}]"
        cf = _get(rra, "cf", where, source)
        if cf not in CFS:
            raise ParseError(source, f"{where}.cf", f"one of {', '.join(CFS)}", repr(cf))
        pdp = integer(_get(rra, "pdp_per_row", where, source), source=source, where=f"{where}.pdp_per_row")
        if pdp <= 0:
            raise ParseError(source, f"{where}.pdp_per_row", "a positive integer", str(pdp))
        database = _get(rra, "database", where, source)
        if not isinstance(database, list):
            raise ParseError(source, f"{where}.database", "a list of rows", _describe(database))
        values = np.empty((len(database), len(names)), dtype=np.float64)
        for r, row in enumerate(database):
            rwhere = f"{where}.database[{r}]"
            if not isinstance(row, list) or len(row) != len(names):
                raise ParseError(source, f"{rwhere} ({cf}, pdp_per_row {pdp})",
                                 f"{len(names)} values, one per data source",
                                 f"{len(row)} values" if isinstance(row, list) else _describe(row))
            for k, v in enumerate(row):
                values[r, k] = number(v, source=source, where=f"{rwhere}[{k}] ({names[k]})")
        blocks.append(Block(columns=[Column(name=n, cf=cf) for n in names],
                            times=dump_times(lastupdate, step, pdp, len(database), source=source, where=where), values=values,
                            interval=float(step * pdp), where=where, dstypes=list(types)))
    return blocks


def _describe(value: Any, wanted: tuple[str, ...] = ()) -> str:
    """What the document holds there, untrusted text repr'd and shortened: an object's
    keys (and which of the `wanted` keys it lacks), a list's length, a scalar's repr."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        keys = ", ".join(repr(str(k)[:20]) for k in list(value)[:6]) + (", ..." if len(value) > 6 else "")
        missing = [k for k in wanted if k not in value]
        lacks = f"no {' and no '.join(repr(k) for k in missing)} in " if missing else ""
        return f"{lacks}an object with keys {keys}" if value else f"{lacks}an empty object"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
