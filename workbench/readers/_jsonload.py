"""One bounded JSON loader for every JSON reader (and each line of a capture JSONL).

:func:`loads` is :func:`json.loads` with limits, so that no document can end in
another exception than :class:`~workbench.errors.ParseError`:

* size: at most :data:`MAX_BYTES` (a document is held in memory whole);
* depth: arrays/objects nested at most :data:`MAX_DEPTH` deep, checked before
  parsing (CPython's parser recurses: 100,000 ``[`` end in RecursionError);
* numbers: finite only. ``1e999`` or an integer beyond a double's range is refused
  (a wrong number, not a missing one), so is an integer of more than 4300 digits
  (Python's ``int()`` limit). The bare constants ``NaN``/``Infinity``/``-Infinity``
  (not JSON, but xapi writes them) are refused by default; ``constants="nan"`` reads
  every one of them as a missing value (NaN), as XenCenter draws a gap for them.

Errors name the file and the line (1-based; ``line_offset`` shifts it for one line of
a JSONL file).
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from ..errors import ParseError
from . import _numbers

#: Deepest nesting accepted (rrd dumps and capture records need 4).
MAX_DEPTH = 64
#: Largest document accepted, in bytes of text.
MAX_BYTES = 1 << 30
#: Longest integer literal that can still be a finite double (1.8e308 has 309 digits).
_MAX_INT_DIGITS = 309

# A JSON string literal, unrolled for speed; removed before counting brackets.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_LONG_DIGITS = re.compile(rb"[0-9]{%d,}" % (_MAX_INT_DIGITS + 1))
# Bracket byte -> +1 (opens) / -1 (closes) / 0.
_BRACKETS = np.zeros(256, dtype=np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1


class JSONSyntaxError(ParseError):
    """The text is not JSON at all (as opposed to JSON beyond the limits)."""


class _Refused(ValueError):
    """A literal the hooks refuse: carries it so the error can name and place it."""

    def __init__(self, literal: str, expected: str):
        super().__init__(literal)
        self.literal, self.expected = literal, expected


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(text, "a number within the range of a double (up to 1.8e308)")
    return value


def _int(text: str) -> int | float:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Refused(text, "a number within the range of a double (up to 1.8e308)")
    value = int(text)
    if abs(value) > 1.7976931348623157e308:
        raise _Refused(text, "a number within the range of a double (up to 1.8e308)")
    return value


def _constant_error(name: str) -> float:
    raise _Refused(name, "a finite JSON number (NaN and Infinity are not JSON)")


def _constant_nan(name: str) -> float:
    return math.nan


def loads(data: bytes | str, *, source: str, what: str = "JSON", constants: str = "error",
          line_offset: int = 0) -> Any:
    """Parse one JSON document within the limits of the module docstring.

    Parameters
    ----------
    data : bytes or str
        The document (bytes are decoded as UTF-8, a BOM skipped).
    source : str
        The file, named in errors.
    what : str
        What the document should be, for messages (``"a capture record"``).
    constants : {"error", "nan"}
        How to read the bare ``NaN``/``Infinity``/``-Infinity``.
    line_offset : int
        Added to line numbers (the line of a JSONL record, minus 1).

    Raises
    ------
    ParseError
        Invalid JSON, too large, too deep, a number out of range, a refused constant.
    """
    if isinstance(data, str):
        raw, text = data.encode("utf-8", "surrogatepass"), data
    else:
        raw = data
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(source, line_offset + data.count(b"\n", 0, exc.start) + 1, f"{what} in UTF-8",
                             f"byte {data[exc.start]:#04x}") from None
    if len(raw) > MAX_BYTES:
        raise ParseError(source, None, f"{what} of at most {MAX_BYTES >> 20} MiB", f"{len(raw) >> 20} MiB")
    check_depth(raw, source=source, what=what, line_offset=line_offset)
    try:
        hooks = {"parse_float": _float, "parse_int": _int} if _suspect(raw) else {}
        return json.loads(text, parse_constant=_constant_nan if constants == "nan" else _constant_error, **hooks)
    except _Refused as exc:
        raise ParseError(source, line_offset + _line_of(text, exc.literal), exc.expected,
                         exc.literal if len(exc.literal) <= 40 else f"a number of {len(exc.literal)} characters") \
            from None
    except json.JSONDecodeError as exc:
        found = "the end of the text" if exc.pos >= len(text.rstrip()) else repr(text[exc.pos:exc.pos + 20])
        raise JSONSyntaxError(source, line_offset + exc.lineno, f"{what} ({exc.msg})", found) from None
    except (ValueError, RecursionError) as exc:  # int() digit limit; recursion is bounded above, kept as a net
        long = _LONG_DIGITS.search(raw)
        line = line_offset + (raw.count(b"\n", 0, long.start()) + 1 if long else 1)
        raise ParseError(source, line, f"{what} with numbers of at most {_numbers.MAX_DIGITS} digits",
                         f"{type(exc).__name__}: {str(exc)[:60]}") from None


def check_depth(raw: bytes, *, source: str, what: str = "JSON", line_offset: int = 0) -> None:
    """Refuse arrays/objects nested deeper than :data:`MAX_DEPTH`, before any parser recurses."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    bare = _STRING.sub(b'""', raw) if b'"' in raw else raw  # brackets inside strings do not nest
    step = _BRACKETS[np.frombuffer(bare, dtype=np.uint8)]
    where = np.flatnonzero(step)
    depth = np.cumsum(step[where], dtype=np.int64)
    if depth.size and int(depth.max()) > MAX_DEPTH:
        at = int(where[np.argmax(depth > MAX_DEPTH)])
        # string literals hold no raw newline, so lines of `bare` are the document's
        line = line_offset + bare.count(b"\n", 0, at) + 1
        raise ParseError(source, line, f"{what} nested at most {MAX_DEPTH} deep", f"more than {MAX_DEPTH} levels")


def _suspect(raw: bytes) -> bool:
    """Could a number of `raw` overflow a double? (a run of 300+ digits, or a positive
    exponent of 3+ digits); False for nearly every real document, which then parses
    without per-number hooks."""
    if len(raw) < 300 and b"e" not in raw and b"E" not in raw:
        return False
    codes = np.frombuffer(raw, dtype=np.uint8)
    digit = np.zeros(codes.size + 2, dtype=np.int8)
    digit[1:-1] = (codes >= 48) & (codes <= 57)
    edges = np.diff(digit)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.size == 0:
        return False
    if int((ends - starts).max()) >= 300:
        return True
    marks = np.flatnonzero((codes == ord("e")) | (codes == ord("E")))
    if marks.size == 0:
        return False
    first = marks + 1 + (codes[np.minimum(marks + 1, codes.size - 1)] == ord("+"))
    lengths = np.zeros(codes.size + 2, dtype=np.int64)
    lengths[starts] = ends - starts
    return bool((lengths[np.minimum(first, codes.size)] >= 3).any())


def _line_of(text: str, literal: str) -> int:
    pos = text.find(literal)
    return 1 if pos < 0 else text.count("\n", 0, pos) + 1


__all__ = ["MAX_BYTES", "MAX_DEPTH", "JSONSyntaxError", "check_depth", "loads"]
