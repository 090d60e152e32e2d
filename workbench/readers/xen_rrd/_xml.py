"""XML forms: ``rrd_updates``/``rrdtool xport`` (``<xport>``) and full dumps (``<rrd>``).

Parsing follows XEN_RRD.md "What a reader must handle" §9: elements are found by
name, text is trimmed, ``<t>`` is optional, unknown elements and stray text (the
``# comment`` inside ``<row>`` of doc_derived_xport_xen-api_perfmon_test.xml) are
ignored. lxml parses with entity expansion, DTD loading and network access off, and
a DOCTYPE that declares entities is refused before lxml sees it.
"""
from __future__ import annotations

import contextlib
import gc
import io
import re
from dataclasses import dataclass, field

import numpy as np
from lxml import etree

from ...errors import ParseError
from ._model import CFS, EPOCH_MAX, EPOCH_MIN, Block, Column, epoch, integer, number, span_times

#: Data sections at least this large try the compiled 6.2-layout scanner first.
FAST_MIN_BYTES = 1 << 20

_PARSER_OPTIONS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
_META_FIELDS = ("start", "end", "step", "rows", "columns")
# rrdtool dump writes "<!-- 2023-11-14 22:18:25 UTC / 1700000305 -->" before each row.
# ASCII and at most 18 digits, as the fast path's _scan._comment_time reads it: a longer
# "time" (5000 digits: int() would raise) is no row time, and the comment is not checked.
_ROW_TIME_COMMENT = re.compile(r"/\s*([0-9]{1,18})\s*$")


# ---------------------------------------------------------------- prolog / safety

def check_prolog(data: bytes, source: str) -> None:
    """Refuse a DOCTYPE whose internal subset declares entities (billion laughs, XXE).

    No RRD producer writes an internal subset; rrdtool's dump carries an external
    ``<!DOCTYPE rrd SYSTEM "...rrdtool.dtd">``, which is allowed and never fetched.
    """
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    n = len(data)
    while pos < n:
        while pos < n and data[pos] in b" \t\r\n":
            pos += 1
        if data.startswith(b"<?", pos):
            end = data.find(b"?>", pos)
            pos = n if end < 0 else end + 2
        elif data.startswith(b"<!--", pos):
            end = data.find(b"-->", pos)
            pos = n if end < 0 else end + 3
        elif data.startswith(b"<!DOCTYPE", pos):
            subset = _doctype_subset(data, pos)
            if subset is not None:
                m = re.search(rb"<!ENTITY\s+%?\s*[^\s>]*", subset)
                if m is not None:
                    line = data.count(b"\n", 0, pos) + 1
                    raise ParseError(source, f"line {line}, <!DOCTYPE>",
                                     "no DOCTYPE with entity declarations (entity expansion and external "
                                     "entities are refused)", m.group(0).decode("utf-8", "replace") + " ...")
            return
        else:
            return


def _doctype_subset(data: bytes, pos: int) -> bytes | None:
    """The internal subset (between ``[`` and ``]``) of the DOCTYPE at `pos`, if any."""
    i = pos + len(b"<!DOCTYPE")
    quote = None
    n = len(data)
    while i < n:
        c = data[i:i + 1]
        if quote:
            if c == quote:
                quote = None
        elif c in (b'"', b"'"):
            quote = c
        elif c == b"[":
            end = data.find(b"]", i)
            return data[i + 1:n if end < 0 else end]
        elif c == b">":
            return None
        i += 1
    return None


def _syntax_error(exc: etree.XMLSyntaxError, source: str) -> ParseError:
    # iterparse's own message can be a bare "no element found"; libxml2's first fatal
    # error in the log is the cause ("Entity 'zero' not defined", "Premature end of data").
    fatal = [e for e in (exc.error_log or []) if e.level_name == "FATAL"]
    if fatal:
        msg, line, column = fatal[0].message, fatal[0].line, fatal[0].column
    else:
        msg, line, column = str(exc.msg or exc), exc.lineno, (exc.position or (0, 0))[1]
    # libxml2 may append "line N, column M"; the ParseError's line field says it already.
    msg = re.sub(r",?\s*line \d+, column \d+$", "", msg.strip())
    return ParseError(source, f"line {line}, column {column}" if line else None, "well-formed XML", msg)


def _iterparse(data: bytes, events: tuple[str, ...], *, comments: bool):
    # iterparse reports errors through lxml's (thread-local) log: start it empty so the
    # first fatal entry is this document's.
    etree.clear_error_log()
    return etree.iterparse(io.BytesIO(data), events=events, remove_comments=not comments,
                           remove_pis=True, **_PARSER_OPTIONS)


def _root_error(tag: object, line: int | None, expected: str, source: str) -> ParseError:
    if not isinstance(tag, str):
        shown = "a document without elements"
    elif tag in ("xport", "rrd"):
        shown = f"<{tag}> (the other RRD family: " + ("rrd_updates" if tag == "xport" else "a dump") + ")"
    else:
        shown = f"<{tag}> (an XML document that is not an RRD)"
    return ParseError(source, f"line {line}, root element" if line else "root element", expected, shown)


# ---------------------------------------------------------------- <xport>

@dataclass
class _Xport:
    meta: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    legend: list[Column] = field(default_factory=list)
    legend_line: int | None = None
    times: list[int] = field(default_factory=list)
    rows: list[list[float]] = field(default_factory=list)
    has_t: bool | None = None


def parse_xport(data: bytes, source: str, *, fast: bool | None = None) -> Block:
    """Decode an ``<xport>`` document (xapi ``rrd_updates`` or ``rrdtool xport``).

    Parameters
    ----------
    fast : bool, optional
        True tries the compiled 6.2-layout scanner whatever the size, False never
        does; None (default) tries it for data sections of at least FAST_MIN_BYTES
        and, below (every real xapi response), the same layout through three
        ``bytes.replace`` and polars' CSV parser (:func:`_xport_small`: no numba
        import, ~20x the event loop). The result is the same either way (tests check
        it on every sample).
    """
    check_prolog(data, source)
    if fast or (fast is None and len(data) >= FAST_MIN_BYTES):
        block = _xport_fast(data, source)
        if block is not None:
            return block
    elif fast is None:
        block = _xport_small(data, source)
        if block is not None:
            return block
    with _no_gc():
        doc = _xport_events(data, source)
    return _xport_block(doc, source, len(doc.rows), np.asarray(doc.times, dtype=np.int64),
                        np.asarray(doc.rows, dtype=np.float64).reshape(len(doc.rows), len(doc.legend)),
                        "general")


def _xport_events(data: bytes, source: str, *, header_only: bool = False) -> _Xport:
    doc = _Xport()
    stack: list[str] = []
    ncol = None
    try:
        for event, el in _iterparse(data, ("start", "end"), comments=False):
            if event == "start":
                if not stack and el.tag != "xport":
                    raise _root_error(el.tag, el.sourceline,
                                      "root element <xport> (rrd_updates or rrdtool xport)", source)
                stack.append(el.tag)
                continue
            depth = len(stack)
            tag = el.tag
            if depth == 3 and stack[1] == "meta" and tag in _META_FIELDS:
                doc.meta[tag] = (el.text, el.sourceline)
            elif depth == 4 and stack[1] == "meta" and stack[2] == "legend" and tag == "entry":
                doc.legend.append(Column.from_legend(
                    el.text or "", source=source,
                    where=f"line {el.sourceline}, <legend> entry {len(doc.legend) + 1}"))
            elif depth == 3 and stack[1] == "meta" and tag == "legend":
                doc.legend_line = el.sourceline
            elif depth == 2 and tag == "meta":
                ncol = _check_legend(doc, source)
                if header_only:
                    return doc
            elif depth == 3 and stack[1] == "data" and tag == "row":
                if ncol is None:
                    raise ParseError(source, f"line {el.sourceline}, <row> 1",
                                     "<meta> with a <legend> before <data>", "a <row> first")
                _xport_row(doc, el, ncol, source)
                el.clear(keep_tail=False)
                parent = el.getparent()
                while el.getprevious() is not None:
                    del parent[0]
            stack.pop()
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, source) from None
    if not stack and not doc.meta and not doc.legend and ncol is None:
        # iterparse produced no events at all
        raise _root_error(None, None, "root element <xport> (rrd_updates or rrdtool xport)", source)
    if ncol is None:
        raise ParseError(source, "<xport>", "a <meta> element with <step> and <legend>", "no <meta>")
    return doc


def _check_legend(doc: _Xport, source: str) -> int:
    if not doc.legend:
        raise ParseError(source, f"line {doc.legend_line}, <legend>" if doc.legend_line else "<meta>",
                         "a <legend> with at least one <entry>", "no entries")
    declared = doc.meta.get("columns")
    if declared is not None:
        text, line = declared
        columns = integer(text, source=source, where=f"line {line}, <columns>")
        if columns != len(doc.legend):
            raise ParseError(source, f"line {doc.legend_line}, <legend>",
                             f"{columns} <entry> elements, as <columns> declares",
                             f"{len(doc.legend)} entries")
    return len(doc.legend)


def _xport_row(doc: _Xport, row, ncol: int, source: str) -> None:
    index = len(doc.rows) + 1
    t = None
    values = []
    v_elements = []
    for child in row:
        if child.tag == "t":
            where_t = f"line {child.sourceline}, <row> {index}, <t>"
            t = epoch(integer(child.text, source=source, where=where_t, what="an integer epoch time in <t>"),
                      source=source, where=where_t, what="an integer epoch time in <t>")
        elif child.tag == "v":
            v_elements.append(child)
    where_row = f"line {row.sourceline}, <row> {index}" + (f" (t={t})" if t is not None else "")
    has_t = t is not None
    if doc.has_t is None:
        doc.has_t = has_t
    elif doc.has_t != has_t:
        raise ParseError(source, where_row, "a <t> in every row or in none",
                         "a row without <t>" if doc.has_t else "a <t> after rows without one")
    if len(v_elements) != ncol:
        raise ParseError(source, where_row, f"{ncol} <v> values, one per legend entry",
                         f"{len(v_elements)} <v> values")
    for k, child in enumerate(v_elements):
        values.append(number(child.text, source=source,
                             where=f"{where_row}, <v> {k + 1} ({doc.legend[k].legend})"))
    if has_t:
        doc.times.append(t)
    doc.rows.append(values)


def _xport_block(doc: _Xport, source: str, nrows: int, times: np.ndarray, values: np.ndarray,
                 decoder: str) -> Block:
    meta = {k: v for k, v in doc.meta.items()}
    if "step" not in meta:
        raise ParseError(source, "<meta>", "a <step> (seconds per row)", "no <step>")
    step = integer(meta["step"][0], source=source, where=f"line {meta['step'][1]}, <step>")
    if step <= 0:
        raise ParseError(source, f"line {meta['step'][1]}, <step>", "a positive number of seconds", str(step))
    if "rows" in meta:
        rows = integer(meta["rows"][0], source=source, where=f"line {meta['rows'][1]}, <rows>")
        if rows != nrows:
            raise ParseError(source, "<data>", f"{rows} <row> elements, as <rows> declares", f"{nrows} rows")
    if not doc.has_t:
        # rrdtool xport without --showtime: rows are oldest first and the first one
        # is at <start> (rrdtool_xport.xml vs rrdtool_xport_showtime.xml).
        if "start" not in meta:
            raise ParseError(source, "<meta>", "<t> in the rows, or a <start> to count rows from", "neither")
        where = f"line {meta['start'][1]}, <start>"
        start = epoch(integer(meta["start"][0], source=source, where=where), source=source, where=where)
        times = span_times(start, step, nrows, source=source, where=where,
                           what=f"row times <start> + i x <step> ({step} s, {nrows} rows)")
    return Block(columns=list(doc.legend), times=times, values=values, interval=float(step),
                 where="<data>", decoder=decoder)


def _xport_fast(data: bytes, source: str) -> Block | None:
    begin = data.find(b"<data>")
    end = data.rfind(b"</data>")
    if begin < 0 or end < begin or data[end + 7:].strip() != b"</xport>":
        return None
    try:
        doc = _xport_events(data[:begin] + b"</xport>", source, header_only=True)
    except ParseError:
        return None
    section = np.frombuffer(data, dtype=np.uint8, count=end - begin - 6, offset=begin + 6)
    has_t = data.startswith(b"<row><t>", begin + 6)
    nrows = data.count(b"<row>", begin, end)
    row_bytes = data.find(b"</row>", begin, end) - begin
    from . import _scan  # numba is imported only when a large document needs it
    decoded = _scan.to_matrix(section, has_t, len(doc.legend), nrows, max(row_bytes, 0))
    if decoded is None:
        return None
    times, values = decoded
    if has_t and not _epochs_ok(times):
        return None  # a time beyond the years 1-9999: the general path names its line
    doc.has_t = has_t
    return _xport_block(doc, source, nrows, times, values, "fast")


def _epochs_ok(times: np.ndarray) -> bool:
    return not len(times) or (EPOCH_MIN <= times.min() and times.max() <= EPOCH_MAX)


_ROW_SEP, _T_SEP, _V_SEP = b"</v></row><row><t>", b"</t><v>", b"</v><v>"


def _xport_small(data: bytes, source: str) -> Block | None:
    """The exact 6.2 layout with ``<t>`` (``<row><t>T</t><v>x</v>...</row>``, no
    whitespace) as CSV text made by three ``bytes.replace``, numbers by polars; None
    when the section holds anything else (the event loop then decodes it and names
    any error). Copies the section three times: for documents under FAST_MIN_BYTES."""
    import polars as pl

    begin = data.find(b"<data>")
    end = data.rfind(b"</data>")
    if begin < 0 or end < begin or data[end + 7:].strip() != b"</xport>":
        return None
    section = data[begin + 6:end]
    if not (section.startswith(b"<row><t>") and section.endswith(b"</v></row>")):
        return None
    # bytes a CSV line must not hold (the scanner refuses them too); whatever else
    # is markup leaves a '<' or '>' after the three replacements
    if any(c in section for c in (b",", b"\n", b"\r", b'"', b"&")):
        return None
    try:
        doc = _xport_events(data[:begin] + b"</xport>", source, header_only=True)
    except ParseError:
        return None
    text = section[8:-10].replace(_ROW_SEP, b"\n").replace(_T_SEP, b",").replace(_V_SEP, b",")
    if b"<" in text or b">" in text:
        return None
    ncols = len(doc.legend)
    names = [f"c{j}" for j in range(ncols)]
    try:
        frame = pl.read_csv(text, has_header=False, schema={"t": pl.Int64} | {n: pl.Float64 for n in names},
                            quote_char=None, infer_schema=False)
    except Exception:  # polars: ComputeError & co. The event loop names the bad value.
        return None
    nrows = section.count(b"<row>")
    if frame.height != nrows or sum(frame.null_count().row(0)):
        return None
    values = frame.select(names).to_numpy(order="fortran")
    if np.isinf(values).any():
        return None  # Infinity or an overflow: the general number rule decides
    doc.has_t = True
    times = frame["t"].to_numpy()
    if not _epochs_ok(times):
        return None  # a time beyond the years 1-9999: the general path names its line
    return _xport_block(doc, source, nrows, times, values, "fast")


# ---------------------------------------------------------------- <rrd> dumps

@dataclass
class _Rra:
    line: int
    cf: str | None = None
    pdp: int | None = None
    rows: list[list[float]] = field(default_factory=list)
    declared: list[tuple[int, int, int]] = field(default_factory=list)  # (row index, time, line)


def parse_dump_xml(data: bytes, source: str, *, fast: bool | None = None) -> list[Block]:
    """Decode a full RRD dump (xapi ``/host_rrd``, ``/vm_rrd``; ``rrdtool dump``): one block per archive.

    Parameters
    ----------
    fast : bool, optional
        True tries the compiled scanner (``_scan.scan_dump_rows``: rows of ``<v>``,
        whitespace and rrdtool's row comments between them) whatever the size, False
        never does; None (default) tries it from FAST_MIN_BYTES. The result is the
        same either way; any error is named by the general path.
    """
    check_prolog(data, source)
    if fast or (fast is None and len(data) >= FAST_MIN_BYTES):
        blocks = _dump_fast(data, source)
        if blocks is not None:
            return blocks
    with _no_gc():
        header, names, types, rras = _dump_events(data, source)
    return _dump_blocks(header, names, types, rras, source)


@contextlib.contextmanager
def _no_gc():
    """The cyclic collector off while a Python loop builds millions of small lists (none
    of them cyclic): with it on, a 160 MB dump took 146 s, superlinear in the size."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _dump_events(data: bytes, source: str):
    stack: list[str] = []
    header: dict[str, tuple[str | None, int]] = {}
    names: list[str] = []
    types: list[str | None] = []
    ds: dict[str, str | None] = {}
    rras: list[_Rra] = []
    comment: tuple[str, int] | None = None
    try:
        for event, el in _iterparse(data, ("start", "end", "comment"), comments=True):
            if event == "comment":
                if len(stack) == 3 and stack[1] == "rra" and stack[2] == "database":
                    comment = (el.text or "", el.sourceline)
                continue
            if event == "start":
                if not stack and el.tag != "rrd":
                    raise _root_error(el.tag, el.sourceline, "root element <rrd> (a full RRD dump)", source)
                stack.append(el.tag)
                if len(stack) == 2 and el.tag == "rra":
                    rras.append(_Rra(line=el.sourceline))
                elif len(stack) == 2 and el.tag == "ds":
                    ds = {}
                continue
            depth, tag = len(stack), el.tag
            if depth == 2 and tag in ("version", "step", "lastupdate"):
                header[tag] = (el.text, el.sourceline)
            elif depth == 3 and stack[1] == "ds" and tag in ("name", "type"):
                ds[tag] = (el.text or "").strip()
            elif depth == 2 and tag == "ds":
                if not ds.get("name"):
                    raise ParseError(source, f"line {el.sourceline}, <ds> {len(names) + 1}",
                                     "a data source with a <name>", "no <name>")
                names.append(ds["name"])
                types.append(ds.get("type") or None)
            elif depth == 3 and stack[1] == "rra" and tag == "cf":
                rras[-1].cf = (el.text or "").strip()
                if rras[-1].cf not in CFS:
                    raise ParseError(source, f"line {el.sourceline}, <rra> {len(rras)}, <cf>",
                                     f"one of {', '.join(CFS)}", repr(el.text))
            elif depth == 3 and stack[1] == "rra" and tag == "pdp_per_row":
                rras[-1].pdp = integer(el.text, source=source,
                                       where=f"line {el.sourceline}, <rra> {len(rras)}, <pdp_per_row>")
                if rras[-1].pdp <= 0:
                    raise ParseError(source, f"line {el.sourceline}, <rra> {len(rras)}, <pdp_per_row>",
                                     "a positive integer", str(rras[-1].pdp))
            elif depth == 4 and stack[1:3] == ["rra", "database"] and tag == "row":
                _dump_row(rras[-1], len(rras), el, names, comment, source)
                comment = None
                el.clear(keep_tail=False)
                parent = el.getparent()
                while el.getprevious() is not None:
                    del parent[0]
            stack.pop()
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, source) from None
    if not header and not names and not rras:
        raise _root_error(None, None, "root element <rrd> (a full RRD dump)", source)
    return header, names, types, rras


def _dump_blocks(header: dict, names: list[str], types: list[str | None], rras: list[_Rra], source: str,
                 matrices: list | None = None) -> list[Block] | None:
    """Blocks of the archives; `matrices` (fast path: ``(values, declared)`` per archive)
    replace the rows the events collected. None when a declared row time disagrees on
    the fast path (the general path then names the row)."""
    step = _header_int(header, "step", source)
    lastupdate = _header_epoch(header, "lastupdate", source)
    blocks = []
    for i, rra in enumerate(rras, 1):
        where = f"line {rra.line}, <rra> {i}"
        if rra.cf is None or rra.pdp is None:
            raise ParseError(source, where, "<cf> and <pdp_per_row> in every <rra>",
                             "no <cf>" if rra.cf is None else "no <pdp_per_row>")
        if matrices is not None:
            values, declared = matrices[i - 1]
            times = dump_times(lastupdate, step, rra.pdp, len(values), source=source, where=where)
            if ((declared >= 0) & (declared != times)).any():
                return None
            blocks.append(Block(columns=[Column(name=n, cf=rra.cf) for n in names], times=times, values=values,
                                interval=float(step * rra.pdp), where=f"<rra> {i}", dstypes=list(types),
                                decoder="fast"))
            continue
        values = np.asarray(rra.rows, dtype=np.float64).reshape(len(rra.rows), len(names))
        times = dump_times(lastupdate, step, rra.pdp, len(rra.rows), source=source, where=where)
        for index, declared, line in rra.declared:
            if declared != times[index]:
                raise ParseError(
                    source, f"line {line}, <rra> {i} ({rra.cf}, pdp_per_row {rra.pdp}), <row> {index + 1}",
                    f"t={int(times[index])} for this row of an archive of {len(rra.rows)} rows ending at "
                    f"lastupdate ({int(lastupdate)})",
                    f"t={declared} in the dump's comment (rows missing or added)")
        blocks.append(Block(columns=[Column(name=n, cf=rra.cf) for n in names], times=times, values=values,
                            interval=float(step * rra.pdp), where=f"<rra> {i}", dstypes=list(types)))
    return blocks


def _dump_fast(data: bytes, source: str) -> list[Block] | None:
    """Every ``<database>`` through the compiled scanner, the rest (header, data sources,
    archive parameters: a few KB) through the general event loop; None to fall back."""
    sections = []
    pos = 0
    while True:
        begin = data.find(b"<database>", pos)
        if begin < 0:
            break
        end = data.find(b"</database>", begin)
        if end < 0:
            return None
        sections.append((begin + len(b"<database>"), end))
        pos = end
    if not sections:
        return None
    pieces, pos = [], 0
    for begin, end in sections:
        pieces.append(data[pos:begin])
        pos = end
    pieces.append(data[pos:])
    try:
        header, names, types, rras = _dump_events(b"".join(pieces), source)
    except ParseError:
        return None
    if len(rras) != len(sections) or not names or any(r.rows for r in rras):
        return None
    from . import _scan  # numba is imported only when a large document needs it
    matrices = []
    for begin, end in sections:
        nrows = data.count(b"<row>", begin, end)
        first = data.find(b"<row>", begin, end)
        row_bytes = data.find(b"</row>", begin, end) - first if first >= 0 else 0
        section = np.frombuffer(data, dtype=np.uint8, count=end - begin, offset=begin)
        decoded = _scan.dump_matrix(section, len(names), nrows, max(row_bytes, 0))
        if decoded is None:
            return None
        matrices.append(decoded)
    try:
        return _dump_blocks(header, names, types, rras, source, matrices)
    except ParseError:
        return None


def _dump_row(rra: _Rra, rra_index: int, row, names: list[str], comment, source: str) -> None:
    index = len(rra.rows)
    where = f"line {row.sourceline}, <rra> {rra_index} ({rra.cf}, pdp_per_row {rra.pdp}), <row> {index + 1}"
    vs = [child for child in row if child.tag == "v"]
    if len(vs) != len(names):
        raise ParseError(source, where, f"{len(names)} <v> values, one per <ds>", f"{len(vs)} <v> values")
    rra.rows.append([number(v.text, source=source, where=f"{where}, <v> {k + 1} ({names[k]})")
                     for k, v in enumerate(vs)])
    if comment is not None:
        m = _ROW_TIME_COMMENT.search(comment[0])
        if m:
            rra.declared.append((index, int(m.group(1)), comment[1]))


def dump_times(lastupdate: int, step: int, pdp: int, nrows: int, *, source: str, where: str) -> np.ndarray:
    """Row end times of a dump archive (XEN_RRD.md §3.5): rows are oldest first and the
    newest ends at the last complete bucket, ``floor(lastupdate/span)*span``; the oldest
    must still be a time (`where` names the archive in the error)."""
    span = step * pdp
    last = (lastupdate // span) * span
    return span_times(last - span * max(nrows - 1, 0), span, nrows, source=source, where=where,
                      what=f"row times of {nrows} rows every {span} s ending at lastupdate ({lastupdate})")


def _header_int(header: dict, key: str, source: str) -> int:
    if key not in header:
        raise ParseError(source, "<rrd>", f"a <{key}> element", f"no <{key}>")
    text, line = header[key]
    value = integer(text, source=source, where=f"line {line}, <{key}>")
    if value <= 0:
        raise ParseError(source, f"line {line}, <{key}>", "a positive integer", str(value))
    return value


def _header_epoch(header: dict, key: str, source: str) -> int:
    if key not in header:
        raise ParseError(source, "<rrd>", f"a <{key}> element", f"no <{key}>")
    text, line = header[key]
    where = f"line {line}, <{key}>"
    return epoch(number(text, source=source, where=where, what="an epoch time"), source=source, where=where,
                 text=text)
