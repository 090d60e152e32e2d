"""Helpers shared by the readers of peer tools' result files: strict JSON, numbers, rows."""
from __future__ import annotations

import math
import zlib
from typing import Any

from ... import schema
from ...errors import ParseError
from .. import _jsonload
from .._gzip import gunzip

#: Largest decompressed .json.gz (a pyperformance suite is a few MB).
GZIP_LIMIT = 1 << 30


def load_json(data: bytes, source: str, what: str) -> Any:
    """Strict JSON (NaN and Infinity refused: no measurement is infinite); gzip accepted
    (pyperf writes ``.json.gz``)."""
    if data[:2] == b"\x1f\x8b":
        data = gunzip(data, source=source, limit=GZIP_LIMIT, what=f"gzip data holding {what}")
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(source, data.count(b"\n", 0, exc.start) + 1, f"{what} in UTF-8 (JSON is UTF-8)",
                         f"byte {data[exc.start]:#04x}") from None
    return _jsonload.loads(data, source=source, what=what)


def gunzip_head(head: bytes) -> bytes:
    """The first decompressed bytes of a gzip stream's head (for sniffers), else `head`."""
    if head[:2] != b"\x1f\x8b":
        return head
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, 4096)
    except zlib.error:
        return b""


def number(value: Any, source: str, where: str, what: str, *, minimum: float | None = 0.0) -> float:
    """A finite JSON number (not a bool), at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ParseError(source, where, f"{what}: a number", repr(value)[:60])
    x = float(value)
    if not math.isfinite(x) or (minimum is not None and x < minimum):
        raise ParseError(source, where, f"{what}: a finite number >= {minimum:g}" if minimum is not None
                         else f"{what}: a finite number", repr(value))
    return x


def expect(value: Any, kind: type | tuple[type, ...], source: str, where: str, what: str) -> Any:
    """`value` if it is of `kind`, else a ParseError saying what was expected there."""
    if not isinstance(value, kind) or isinstance(value, bool):
        names = {dict: "a JSON object", list: "a JSON array", str: "a string"}
        want = names.get(kind, getattr(kind, "__name__", str(kind))) if isinstance(kind, type) else "a value"
        found = {dict: "an object", list: "an array", str: "a string", type(None): "null"}.get(
            type(value), f"{type(value).__name__} {value!r}"[:60])
        raise ParseError(source, where, f"{what}: {want}", found)
    return value


def shown(text: str, limit: int = 60) -> str:
    """Untrusted text for a message: repr'd and shortened."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def timing_row(*, metric: str, component: str, value: float, run: int, source_name: str, source: str,
               condition: str | None = None, unit: str | None = None) -> dict:
    return dict(metric=metric, component=component, value=value, run=run, aggregate="single",
                unit=unit if unit is not None else schema.METRICS[metric].unit, condition=condition,
                source=source_name, source_file=source)
