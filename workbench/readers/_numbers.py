"""One number parser for every reader: ASCII digits only, finite, explicit about NaN.

Python's ``float()``/``int()`` and the regex ``\\d`` accept more than any benchmark
tool writes: ``'１２３'`` (full-width digits), ``'1_0'`` (digit grouping), ``'1e999'``
(which becomes ``inf``), ``'Infinity'``, and an integer of more than 4300 digits makes
``int()`` raise a ValueError. A reader that wants a number from text calls this module;
what it refuses becomes a :class:`~workbench.errors.ParseError` naming the file, the
line (or element), what was expected and the text found.

The API (all keyword options are the same in each function):

:func:`to_float(text, source=, line=, what=, nan=, infinity=)`
    The text as a finite float. ``nan`` lists the spellings that mean "no value"
    (matched case-insensitively, e.g. ``("nan", "n/a")``) and give NaN.
    ``infinity="error"`` (default) refuses ``inf``/``Infinity``; ``infinity="nan"``
    reads them as a missing value (xapi writes ``Infinity`` where it has no data:
    XenCenter draws a gap). A finite spelling that overflows (``1e999``) is always
    an error: it is a wrong number, not a missing one.
:func:`to_int(text, source=, line=, what=, minimum=, maximum=)`
    The text as an integer (ASCII digits, optional sign, at most :data:`MAX_DIGITS`
    digits), optionally within bounds (e.g. a run label within int32).
:func:`to_floats(cells, source=, column=, first_line=, what=, nan=)`
    The same grammar over a polars String column (CSV readers), vectorized.
:func:`finite(value, source=, line=, what=)`
    A number already parsed (JSON) checked finite (not a bool).
:data:`FLOAT` / :data:`INT`
    The ASCII grammar as regex source text, for readers whose line regexes embed a
    number (use them instead of ``\\d``, or compile with ``re.ASCII``).
"""
from __future__ import annotations

import math
import re
import sys
from typing import Iterable

from ..errors import ParseError

#: Unsigned decimal number, ASCII only: ``12``, ``12.``, ``12.5``, ``.5``, ``1.5e-3``.
UNSIGNED = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
#: Signed decimal number (regex source).
FLOAT = rf"[+-]?{UNSIGNED}"
#: Signed integer (regex source).
INT = r"[+-]?[0-9]+"
#: Most digits in an integer (Python's own conversion limit, 4300 by default).
MAX_DIGITS = getattr(sys, "get_int_max_str_digits", lambda: 4300)() or 4300
#: Longest number text read as a float; a longer one is refused before conversion.
MAX_LENGTH = MAX_DIGITS

_FLOAT = re.compile(FLOAT)
_INT = re.compile(INT)
_INFINITY = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_SPACE = " \t\r\n"
INT32 = (-(2 ** 31), 2 ** 31 - 1)


def to_float(text: str, *, source: str, line: int | str | None, what: str = "a number",
             nan: Iterable[str] = (), infinity: str = "error") -> float:
    """`text` (surrounding ASCII whitespace trimmed) as a finite float, or NaN for a
    spelling listed in `nan` (and for infinity when ``infinity="nan"``).

    Raises
    ------
    ParseError
        Not an ASCII decimal number; too long; an infinity (unless ``infinity="nan"``);
        a number too large for a float (``1e999``).
    """
    stripped = text.strip(_SPACE)
    lowered = stripped.lower()
    if lowered in {n.lower() for n in nan}:
        return math.nan
    if lowered in _INFINITY:
        if infinity == "nan":
            return math.nan
        raise ParseError(source, line, f"{what} (a finite number; infinity is no measurement)", repr(text))
    if len(stripped) > MAX_LENGTH:
        raise ParseError(source, line, f"{what} of at most {MAX_LENGTH} characters",
                         f"a number of {len(stripped)} characters")
    if not _FLOAT.fullmatch(stripped):
        raise ParseError(source, line, f"{what} (ASCII digits)", repr(text))
    value = float(stripped)
    if math.isinf(value):
        raise ParseError(source, line, f"{what} within the range of a double (up to 1.8e308)", repr(text))
    return value


def to_int(text: str, *, source: str, line: int | str | None, what: str = "an integer",
           minimum: int | None = None, maximum: int | None = None) -> int:
    """`text` (surrounding ASCII whitespace trimmed) as an integer of ASCII digits.

    Raises
    ------
    ParseError
        Not an ASCII integer, more than :data:`MAX_DIGITS` digits, or out of the bounds.
    """
    stripped = text.strip(_SPACE)
    if len(stripped) > MAX_DIGITS:
        raise ParseError(source, line, f"{what} of at most {MAX_DIGITS} digits",
                         f"a number of {len(stripped)} characters")
    if not _INT.fullmatch(stripped):
        raise ParseError(source, line, f"{what} (ASCII digits)", repr(text))
    value = int(stripped)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "" if minimum is None else f"from {minimum} "
        high = "" if maximum is None else f"up to {maximum}"
        raise ParseError(source, line, f"{what} {low}{high}".rstrip(), stripped if len(stripped) <= 40
                         else f"a number of {len(stripped)} digits")
    return value


def to_floats(cells, *, source: str, column: str, first_line: int, what: str = "a number",
              nan: Iterable[str] = ()):
    """A polars String column as Float64 with the grammar of :func:`to_float` (vectorized).

    ``cells[i]`` is on line ``first_line + i``; nulls stay null (the caller says
    whether an empty cell is allowed); spellings in `nan` give NaN.

    Raises
    ------
    ParseError
        At the first cell that is not an ASCII decimal number or is out of a double's range.
    """
    import polars as pl

    text = cells.str.strip_chars(_SPACE)
    nan = [n.lower() for n in nan]
    missing = text.str.to_lowercase().is_in(nan).fill_null(False) if nan else pl.repeat(
        False, len(text), eager=True)
    numbers = text.cast(pl.Float64, strict=False)
    bad = (text.is_not_null() & ~missing
           & (~text.str.contains(f"^{FLOAT}$") | (text.str.len_chars() > MAX_LENGTH) | numbers.is_infinite()))
    if bad.any():
        row = int(bad.arg_max())
        to_float(cells[row], source=source, line=first_line + row, what=f"{what} in column '{column}'")
    if not nan:
        return numbers
    return numbers.zip_with(~missing, pl.repeat(math.nan, len(numbers), dtype=pl.Float64, eager=True))


def finite(value: object, *, source: str, line: int | str | None, what: str = "a number") -> float:
    """A number already parsed (from JSON), as a finite float; bools and infinities refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(source, line, what, repr(value)[:60])
    try:
        x = float(value)
    except OverflowError:  # an int beyond a double's range
        raise ParseError(source, line, f"{what} within the range of a double (up to 1.8e308)",
                         f"an integer of {value.bit_length()} bits") from None
    if not math.isfinite(x):
        raise ParseError(source, line, f"{what} (a finite number)", repr(value))
    return x


__all__ = ["FLOAT", "INT", "INT32", "MAX_DIGITS", "UNSIGNED", "finite", "to_float", "to_floats", "to_int"]
