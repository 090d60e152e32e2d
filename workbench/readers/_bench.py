"""What the benchmark-output readers (sysbench, lmbench, gups, linpack, fio, mlc) share:
their text decoded as it was saved (a Windows console or PowerShell redirect writes
UTF-16 with a byte-order mark, editors add a UTF-8 one), numbers read with the line they
came from, and the one warning for names outside the vocabulary (DESIGN.md §3: kept as
``<source>:<name>``, and a warning names them)."""
from __future__ import annotations

import warnings
from typing import Iterable, Mapping

from .. import schema
from ..errors import NativeMetricWarning
from . import _numbers

_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def text(data: bytes) -> str:
    """`data` as text: by its byte-order mark (UTF-8, UTF-16 LE/BE), else UTF-8. Bytes that
    do not decode become U+FFFD: a number they break is then refused where it is read."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    return data.decode("utf-8", errors="replace")


def head_bytes(head: bytes) -> bytes:
    """A file's first bytes as UTF-8 without a byte-order mark, for the sniffers (a UTF-16
    head cut mid-character loses that character only)."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return head[len(bom):].decode(encoding, errors="ignore").encode("utf-8")
    return head


def number(text: str, source: str, line: int | str, what: str) -> float:
    """`text` as a finite float by the one rule of :func:`workbench.readers._numbers.to_float`
    (ASCII digits only, no ``1_0``, no infinity, no overflow), or its ParseError naming
    `what` was expected on `line`."""
    return _numbers.to_float(text, source=source, line=line, what=what)


def warn_native(rows: Iterable[Mapping], source: str) -> None:
    """One :class:`NativeMetricWarning` naming the metrics of `rows` outside the vocabulary."""
    native = dict.fromkeys((r["metric"], r.get("unit")) for r in rows if r["metric"] not in schema.METRICS)
    if native:
        shown = ", ".join(f"{m} ({u})" for m, u in list(native)[:6])
        warnings.warn(f"{source}: {len(native)} value(s) outside the metric vocabulary kept as native metrics: "
                      f"{shown}{', ...' if len(native) > 6 else ''}", NativeMetricWarning, stacklevel=3)
