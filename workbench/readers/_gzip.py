"""One gunzip for every reader that accepts gzip (rrd dumps, pyperf's ``.json.gz``).

Every member of a multi-member file is read (``cat a.gz b.gz`` is a valid gzip file,
as ``gzip -d`` reads it); bytes after the last member that are not another member are
refused (a file damaged or appended to is not silently cut); the decompressed size is
bounded (a decompression bomb stops at `limit`).
"""
from __future__ import annotations

import zlib

from ..errors import ParseError

MAGIC = b"\x1f\x8b"


def gunzip(data: bytes, *, source: str, limit: int, what: str = "gzip data") -> bytes:
    """Decompress every gzip member of `data`, at most `limit` bytes in all.

    Raises
    ------
    ParseError
        Damaged or truncated data, trailing bytes that are no gzip member, or more than `limit`.
    """
    out: list[bytes] = []
    size, rest, member = 0, data, 0
    while True:
        member += 1
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(rest, limit - size + 1)
        except zlib.error as exc:
            raise ParseError(source, f"gzip member {member}", what, str(exc)) from None
        size += len(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise ParseError(source, None, f"{what} of at most {limit >> 20} MiB uncompressed", "more")
        if not inflater.eof:
            raise ParseError(source, f"gzip member {member}", f"complete {what}", "a truncated gzip stream")
        out.append(chunk)
        rest = inflater.unused_data
        if not rest:
            return b"".join(out)
        if not rest.startswith(MAGIC):
            offset = len(data) - len(rest)
            raise ParseError(source, f"byte {offset}", f"another gzip member or the end of the file after "
                             f"member {member}", f"{len(rest)} trailing byte(s) {rest[:8]!r}")


__all__ = ["MAGIC", "gunzip"]
