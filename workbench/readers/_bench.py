"""What the benchmark-output readers (sysbench, lmbench, gups, linpack, fio) share:
numbers read with the line they came from, and the one warning for names outside
the vocabulary (DESIGN.md §3: kept as ``<source>:<name>``, and a warning names them)."""
from __future__ import annotations

import math
import warnings
from typing import Iterable, Mapping

from .. import schema
from ..errors import NativeMetricWarning, ParseError


def number(text: str, source: str, line: int | str, what: str) -> float:
    """`text` as a finite float, or a ParseError naming `what` was expected there."""
    try:
        value = float(text)
    except ValueError:
        raise ParseError(source, line, what, repr(text)) from None
    if not math.isfinite(value):
        raise ParseError(source, line, f"a finite number ({what})", repr(text))
    return value


def warn_native(rows: Iterable[Mapping], source: str) -> None:
    """One :class:`NativeMetricWarning` naming the metrics of `rows` outside the vocabulary."""
    native = dict.fromkeys((r["metric"], r.get("unit")) for r in rows if r["metric"] not in schema.METRICS)
    if native:
        shown = ", ".join(f"{m} ({u})" for m, u in list(native)[:6])
        warnings.warn(f"{source}: {len(native)} value(s) outside the metric vocabulary kept as native metrics: "
                      f"{shown}{', ...' if len(native) > 6 else ''}", NativeMetricWarning, stacklevel=3)
