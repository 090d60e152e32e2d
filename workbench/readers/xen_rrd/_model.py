"""What every xen_rrd document decodes to, before metric mapping.

Every form (rrd_updates XML/JSON, full dumps, rrd2csv, plain rrdtool output) is
decoded into :class:`Block` objects: one matrix of raw values (rows = times,
columns = legend entries or data sources) sharing one resolution. Metric mapping
and unit conversion happen afterwards, once, in ``_table.py``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ...errors import ParseError

#: Consolidation function -> ``aggregate`` column (DESIGN.md §3).
CFS = {"AVERAGE": "mean", "MIN": "min", "MAX": "max", "LAST": "last"}
OBJTYPES = ("host", "vm", "sr")

# Every number spelling of XEN_RRD.md §3.7: %0.4f (xapi until 2025-01), %0.15g with
# exponents (xapi since 731ede74), %.10e (rrdtool), bare integers (xapi-rrd fixtures,
# <min>0</min> in flip_flop.xml), NaN/Infinity/-Infinity (xapi), nan/inf (tolerated).
# The fast path's CSV parser (polars) accepts exactly this set too, so both paths
# agree on what is a number (checked in tests/readers/test_xen_rrd.py).
_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|nan|inf|infinity)", re.I | re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
_INFINITY = ("inf", "infinity")
#: Longest number text read (Python's int() refuses more digits than this).
_MAX_DIGITS = 4300
#: Epoch seconds a time may hold: what a datetime holds (years 1 to 9999). Beyond, numpy's
#: int64 overflows (a 20-digit <t>), the table's microseconds overflow (a 13-digit one) or
#: polars panics when it shows the time (issue 18).
EPOCH_MIN, EPOCH_MAX = -62135596800, 253402300799
_IN_RANGE = f"within the years 1 to 9999 ({EPOCH_MIN} to {EPOCH_MAX} s)"


@dataclass(frozen=True)
class Column:
    """One legend entry (``CF:objtype:uuid:dsname``) or one data source of a dump.

    Fields the document does not give are None: a dump knows neither the object
    nor its uuid, an rrdtool legend may be a bare name such as ``cpu0``.
    """

    name: str
    cf: str | None = None
    objtype: str | None = None
    uuid: str | None = None

    @classmethod
    def from_legend(cls, entry: str, *, source: str, where: str) -> "Column":
        """Split a legend entry on its first three colons only (XEN_RRD.md §3.2).

        DS names may contain ``/`` or ``-`` but no ``:``; everything after the third
        colon stays in the name. An entry that is not ``CF:objtype:uuid:name`` is a
        plain rrdtool legend and is kept whole as the name.
        """
        entry = entry.strip()
        if not entry:
            raise ParseError(source, where, "a legend entry (CF:objtype:uuid:dsname or a name)", "an empty entry")
        parts = entry.split(":", 3)
        if len(parts) == 4 and parts[1] in OBJTYPES:
            cf, objtype, uuid, name = parts
            if cf not in CFS:
                raise ParseError(source, where, f"a consolidation function ({', '.join(CFS)}) before "
                                 f"':{objtype}:'", repr(cf))
            if not uuid or not name:
                raise ParseError(source, where, "CF:objtype:uuid:dsname with a uuid and a name", repr(entry))
            uuid = _uuid_with_name(uuid)
            return cls(name=name, cf=cf, objtype=objtype, uuid=uuid)
        return cls(name=entry)

    @property
    def legend(self) -> str:
        """The entry as xapi writes it (or the bare name)."""
        if self.objtype is None:
            return self.name if self.cf is None else f"{self.cf}:{self.name}"
        return f"{self.cf}:{self.objtype}:{self.uuid}:{self.name}"


@dataclass
class Block:
    """Raw values of one resolution: ``values[i, j]`` is column ``j`` at ``times[i]``.

    ``times`` are Unix epoch seconds (UTC) of the end of each row's interval;
    ``interval`` is the seconds one row summarizes (step x pdp_per_row).
    """

    columns: list[Column]
    times: np.ndarray
    values: np.ndarray
    interval: float
    where: str = ""                      #: how messages name the block (e.g. "rra 3")
    dstypes: list[str | None] | None = None  #: GAUGE/DERIVE/ABSOLUTE, from dumps only
    decoder: str = "general"             #: "fast" or "general": which path decoded it


def number(text: object, *, source: str, where: str, what: str = "a number") -> float:
    """Parse one value with the grammar of XEN_RRD.md §3.7 (surrounding whitespace trimmed).

    JSON numbers arrive as float/int already (and ``None`` is rrdtool's NaN); xapi's
    2024+ JSON writes every number as a string, parsed like XML text.
    """
    if isinstance(text, bool):
        raise ParseError(source, where, what, repr(text))
    if isinstance(text, (int, float)):
        return float(text)
    if isinstance(text, str):
        stripped = text.strip()
        if len(stripped) > _MAX_DIGITS:
            raise ParseError(source, where, f"{what} of at most {_MAX_DIGITS} characters",
                             f"a number of {len(stripped)} characters")
        if _NUMBER.fullmatch(stripped):
            if stripped.lower().lstrip("+-") in _INFINITY:
                return math.nan  # xapi writes Infinity where it has no data: XenCenter draws a gap
            value = float(stripped)
            if math.isinf(value):  # 1e999: a wrong number, not a missing one
                raise ParseError(source, where, f"{what} within the range of a double (up to 1.8e308)",
                                 repr(text))
            return value
    raise ParseError(source, where, what, repr(text) if text is not None else "nothing")


def integer(text: object, *, source: str, where: str, what: str = "an integer") -> int:
    """Parse an integer field (``<t>``, ``<step>``, ``pdp_per_row``...); ``1.0000`` is accepted
    only when it is integral, as 6.2's JSON writes ``lastupdate:1328795567.0000``."""
    if isinstance(text, bool):
        raise ParseError(source, where, what, repr(text))
    if isinstance(text, int):
        return text
    if isinstance(text, str) and _INTEGER.fullmatch(text.strip()):
        if len(text.strip()) > _MAX_DIGITS:
            raise ParseError(source, where, f"{what} of at most {_MAX_DIGITS} digits",
                             f"an integer of {len(text.strip())} digits")
        return int(text.strip())
    try:
        value = number(text, source=source, where=where, what=what)
    except ParseError:
        raise ParseError(source, where, what, repr(text) if text is not None else "nothing") from None
    if not np.isfinite(value) or value != int(value):
        raise ParseError(source, where, what, repr(text))
    return int(value)


def epoch(value: float, *, source: str, where: str, what: str = "an epoch time", text: object = None) -> int:
    """A time in Unix seconds (as :func:`integer` or :func:`number` read it from `text`)
    as an int within :data:`EPOCH_MIN` .. :data:`EPOCH_MAX` (a fraction is dropped: 6.2
    writes ``lastupdate`` as ``1328795567.0000``)."""
    if not math.isfinite(value) or not EPOCH_MIN <= value <= EPOCH_MAX:
        shown = text.strip() if isinstance(text, str) else None
        raise ParseError(source, where, f"{what} {_IN_RANGE}",
                         shown if shown and len(shown) <= 40 else _shown(value))
    return int(value)


def span_times(first: int, step: int, count: int, *, source: str, where: str, what: str) -> np.ndarray:
    """``first + step * arange(count)`` as int64, once the first and the last are known to
    lie within the epoch range (a step of 10^18 would wrap numpy's int64 silently)."""
    if count and not (EPOCH_MIN <= first <= EPOCH_MAX and EPOCH_MIN <= first + step * (count - 1) <= EPOCH_MAX):
        raise ParseError(source, where, f"{what} {_IN_RANGE}",
                         f"{_shown(first)} + {count - 1} x {_shown(step)} s")
    return first + step * np.arange(count, dtype=np.int64)


def check_epochs(times: np.ndarray, *, source: str, where: str) -> None:
    """Every time of a decoded block (fast paths included) within the epoch range."""
    if len(times):
        bad = (times < EPOCH_MIN) | (times > EPOCH_MAX)
        if bad.any():
            i = int(bad.argmax())
            raise ParseError(source, f"{where}, row {i + 1}",
                             f"an epoch time {_IN_RANGE}",
                             f"t={int(times[i])}")


def _shown(value: float) -> str:
    text = str(value) if isinstance(value, int) else repr(float(value))
    return text if len(text) <= 24 else f"a number of {len(text)} digits"


def _uuid_with_name(uuid: str) -> str:
    # rrd2csv -u prints "uuid (name-label)": the file then knows the name, keep it.
    m = re.fullmatch(r"\s*[0-9a-fA-F-]{36}\s+\((.+)\)\s*", uuid)
    return m.group(1) if m else uuid
