"""Fast path for the XenServer 6.2 ``rrd_updates`` byte layout (one unindented line).

xapi's writer (Xmlm, XS62 ``rrd.ml`` ``to_xml``; kept until today) emits the data
section as ``<row><t>T</t><v>x</v>...<v>x</v></row>`` with no whitespace at all. For
that exact layout a compiled byte scanner turns the section into CSV text (one line
per row, ``T,x,...``), and polars' multi-threaded CSV parser converts the numbers.
The scanner accepts nothing else: any other byte sequence (whitespace, comments,
entities, CDATA, unknown elements, an empty ``<v/>``, a ragged row) makes it give up
and the caller decodes the document with the general lxml path, which then either
succeeds (indented variants) or raises the precise ParseError. So this path never
decides what is an error; it only has to be right on the layout it accepts.

numba compiles the scanner once per machine (``cache=True``); the first call in a
fresh environment pays the compilation (about a second).
"""
from __future__ import annotations

import numba
import numpy as np

_LT, _GT, _SLASH = 60, 62, 47
_R, _O, _W, _T, _V = 114, 111, 119, 116, 118
_COMMA, _NL = 44, 10
_AMP, _QUOTE, _CR = 38, 34, 13


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _text(buf, i, out, o):  # pragma: no cover - compiled
    """Copy the text node at ``i`` up to the next ``<``; (-1, o) if it is empty or holds a
    byte that cannot appear in an unescaped number (``&`` ``,`` ``"`` newline)."""
    n = buf.size
    start = i
    while i < n:
        c = buf[i]
        if c == _LT:
            break
        if c == _AMP or c == _COMMA or c == _NL or c == _CR or c == _QUOTE:
            return -1, o
        out[o] = c
        o += 1
        i += 1
    if i == start or i >= n:
        return -1, o
    return i, o


@numba.njit(cache=True, nogil=True, boundscheck=False)
def scan_rows(buf, i, out, has_t, ncols, slack):  # pragma: no cover - compiled
    """Scan ``(<row>(<t>T</t>)?(<v>x</v>){ncols}</row>)*`` from ``buf[i:]`` into CSV text in
    ``out``, starting no row within the last `slack` bytes of ``out``.

    Returns ``(offset reached, bytes written, rows, error offset or -1)``.
    """
    n = buf.size
    o = 0
    rows = 0
    limit = out.size - slack
    while i < n and o < limit:
        if i + 5 > n or buf[i] != _LT or buf[i + 1] != _R or buf[i + 2] != _O \
                or buf[i + 3] != _W or buf[i + 4] != _GT:
            return i, o, rows, i
        row_start = o
        i += 5
        if has_t:
            if i + 3 > n or buf[i] != _LT or buf[i + 1] != _T or buf[i + 2] != _GT:
                return i, o, rows, i
            i, o = _text(buf, i + 3, out, o)
            if i < 0:
                return n, o, rows, n
            if i + 4 > n or buf[i + 1] != _SLASH or buf[i + 2] != _T or buf[i + 3] != _GT:
                return i, o, rows, i
            i += 4
            out[o] = _COMMA
            o += 1
        k = 0
        while True:
            if i + 3 > n or buf[i] != _LT:
                return i, o, rows, i
            if buf[i + 1] == _V and buf[i + 2] == _GT:
                i, o = _text(buf, i + 3, out, o)
                if i < 0:
                    return n, o, rows, n
                if i + 4 > n or buf[i + 1] != _SLASH or buf[i + 2] != _V or buf[i + 3] != _GT:
                    return i, o, rows, i
                i += 4
                out[o] = _COMMA
                o += 1
                k += 1
                if o >= out.size - 64:  # a row much longer than the first one
                    return i, row_start, rows, i
            elif i + 6 <= n and buf[i + 1] == _SLASH and buf[i + 2] == _R and buf[i + 3] == _O \
                    and buf[i + 4] == _W and buf[i + 5] == _GT:
                i += 6
                break
            else:
                return i, o, rows, i
        if k != ncols:
            return i, o, rows, i
        out[o - 1] = _NL  # the row's last separator ends the CSV line
        rows += 1
    return i, o, rows, -1


#: Bytes of CSV text per chunk handed to the CSV parser: large enough for its threads,
#: small enough that the intermediate text stays a fraction of the document.
CHUNK_BYTES = 4 << 20


def to_matrix(section: np.ndarray, has_t: bool, ncols: int, nrows: int, row_bytes: int):
    """``(times, values)`` of the data section (``values`` Fortran-ordered, float64), or
    None if the section is not in the exact 6.2 layout or a value is not a number.

    `nrows` is the number of ``<row>`` tags in the section, `row_bytes` the length of
    the first row: rows are scanned and parsed in chunks of about CHUNK_BYTES, so the
    intermediate text never holds the whole document.
    """
    import polars as pl

    if nrows == 0:
        return None
    times = np.empty(nrows, dtype=np.int64)
    values = np.empty((nrows, ncols), dtype=np.float64, order="F")
    names = [f"c{j}" for j in range(ncols)]
    schema = ({"t": pl.Int64} if has_t else {}) | {name: pl.Float64 for name in names}
    slack = 2 * row_bytes + 65536
    out = np.empty(min(CHUNK_BYTES, section.size) + slack, dtype=np.uint8)  # a small document: its size
    i = 0
    r = 0
    while i < section.size:
        i, written, rows, error = scan_rows(section, i, out, has_t, ncols, slack)
        if error >= 0 or rows == 0 or r + rows > nrows:
            return None
        try:
            frame = pl.read_csv(out[:written].tobytes(), has_header=False, schema=schema, quote_char=None,
                                infer_schema=False)
        except Exception:  # polars: ComputeError & co. The general path names the bad value.
            return None
        if frame.height != rows:
            return None
        if has_t:
            times[r:r + rows] = frame["t"].to_numpy()
        values[r:r + rows] = frame.select(names).to_numpy()
        r += rows
    if r != nrows or np.isinf(values).any():
        return None  # Infinity or an overflow: the general path's number rule decides
    return times, values


# ---------------------------------------------------------------- full dumps

_SP, _TAB, _BANG, _DASH, _ZERO, _NINE = 32, 9, 33, 45, 48, 57


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _skip_space(buf, i):  # pragma: no cover - compiled
    n = buf.size
    while i < n and (buf[i] == _SP or buf[i] == _TAB or buf[i] == _NL or buf[i] == _CR):
        i += 1
    return i


@numba.njit(cache=True, nogil=True, boundscheck=False)
def _comment_time(buf, start, stop):  # pragma: no cover - compiled
    """The time rrdtool writes at the end of a row comment (``... / 1700000305``) in
    ``buf[start:stop]``, -1 if the comment does not end so, -2 if the number is too long."""
    j = stop - 1
    while j >= start and (buf[j] == _SP or buf[j] == _TAB or buf[j] == _NL or buf[j] == _CR):
        j -= 1
    end = j
    while j >= start and _ZERO <= buf[j] <= _NINE:
        j -= 1
    digits = end - j
    if digits == 0:
        return -1
    k = j
    while k >= start and (buf[k] == _SP or buf[k] == _TAB or buf[k] == _NL or buf[k] == _CR):
        k -= 1
    if k < start or buf[k] != _SLASH:
        return -1
    if digits > 18:
        return -2
    value = 0
    for p in range(j + 1, end + 1):
        value = value * 10 + (buf[p] - _ZERO)
    return value


@numba.njit(cache=True, nogil=True, boundscheck=False)
def scan_dump_rows(buf, i, out, ncols, slack, declared, r0):  # pragma: no cover - compiled
    """Scan a dump archive's ``<database>`` content from ``buf[i:]``: rows of `ncols`
    ``<v>`` values, whitespace between elements, comments between rows (rrdtool's
    ``<!-- date / epoch -->``: its epoch goes to ``declared[r0 + row]``, -1 without one).

    Returns ``(offset reached, bytes written, rows, error offset or -1)``.
    """
    n = buf.size
    o = 0
    rows = 0
    pending = -1
    limit = out.size - slack
    while o < limit:
        i = _skip_space(buf, i)
        if i >= n:
            return i, o, rows, -1
        if i + 4 <= n and buf[i] == _LT and buf[i + 1] == _BANG and buf[i + 2] == _DASH and buf[i + 3] == _DASH:
            j = i + 4
            while j + 3 <= n and not (buf[j] == _DASH and buf[j + 1] == _DASH and buf[j + 2] == _GT):
                j += 1
            if j + 3 > n:
                return i, o, rows, i
            pending = _comment_time(buf, i + 4, j)
            if pending == -2:
                return i, o, rows, i
            i = j + 3
            continue
        if i + 5 > n or buf[i] != _LT or buf[i + 1] != _R or buf[i + 2] != _O \
                or buf[i + 3] != _W or buf[i + 4] != _GT:
            return i, o, rows, i
        if r0 + rows >= declared.size:
            return i, o, rows, i
        row_start = o
        i += 5
        k = 0
        while True:
            i = _skip_space(buf, i)
            if i + 3 > n or buf[i] != _LT:
                return i, o, rows, i
            if buf[i + 1] == _V and buf[i + 2] == _GT:
                i, o = _text(buf, i + 3, out, o)
                if i < 0:
                    return n, o, rows, n
                if i + 4 > n or buf[i + 1] != _SLASH or buf[i + 2] != _V or buf[i + 3] != _GT:
                    return i, o, rows, i
                i += 4
                out[o] = _COMMA
                o += 1
                k += 1
                if o >= out.size - 64:
                    return i, row_start, rows, i
            elif i + 6 <= n and buf[i + 1] == _SLASH and buf[i + 2] == _R and buf[i + 3] == _O \
                    and buf[i + 4] == _W and buf[i + 5] == _GT:
                i += 6
                break
            else:
                return i, o, rows, i
        if k != ncols or k == 0:
            return i, o, rows, i
        out[o - 1] = _NL
        declared[r0 + rows] = pending
        pending = -1
        rows += 1
    return i, o, rows, -1


def dump_matrix(section: np.ndarray, ncols: int, nrows: int, row_bytes: int):
    """``(values, declared)`` of one archive's ``<database>`` content (`nrows` ``<row>``
    tags, the first `row_bytes` long), or None when the scanner or the number parser
    gives up (the general path then decodes the document and names any error).
    ``declared[r]`` is the epoch of row r's rrdtool comment, -1 without one."""
    import polars as pl

    values = np.empty((nrows, ncols), dtype=np.float64, order="F")
    declared = np.full(nrows, -1, dtype=np.int64)
    if nrows == 0:
        return values, declared
    names = [f"c{j}" for j in range(ncols)]
    schema = {name: pl.Float64 for name in names}
    slack = 2 * row_bytes + 65536
    out = np.empty(min(CHUNK_BYTES, section.size) + slack, dtype=np.uint8)  # a small document: its size
    i = 0
    r = 0
    while True:
        i, written, rows, error = scan_dump_rows(section, i, out, ncols, slack, declared, r)
        if error >= 0:
            return None
        if rows:
            frame = _numbers(out[:written], schema, rows)
            if frame is None:
                return None
            values[r:r + rows] = frame.select(names).to_numpy()
            r += rows
        if i >= section.size:
            break
        if rows == 0:
            return None
    if r != nrows or np.isinf(values).any():
        return None
    return values, declared


def _numbers(text: np.ndarray, schema: dict, rows: int):
    import polars as pl

    try:
        frame = pl.read_csv(text.tobytes(), has_header=False, schema=schema, quote_char=None, infer_schema=False)
    except Exception:  # polars: ComputeError & co. The general path names the bad value.
        return None
    if frame.height != rows or sum(frame.null_count().row(0)):
        return None
    return frame
