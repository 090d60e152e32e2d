"""Reader for the workbench's own Parquet measurement tables.

What ``workbench ingest``, ``workbench capture`` (finished captures) and
``workbench probe`` write: the measurement table (DESIGN.md §3) as Parquet, all
through :func:`workbench.experiment.write_parquet`. The file already holds every
column; a manifest's or the caller's labels override them as for any reader, so a
probe run or a capture can be listed in an experiment like any export.

The producer's key-value metadata (``workbench.sources``, ``workbench-capture``,
``workbench-probe``) is what :func:`workbench.readers.read_metadata` returns.
"""
from __future__ import annotations

import io

import polars as pl

from .. import schema
from ..errors import ParseError

NAME = "workbench-table"
MAGIC = b"PAR1"
# Keys Arrow and pandas write for themselves: not the producer's metadata.
_INTERNAL = ("ARROW:schema", "pandas")


def parse(data: bytes, *, source: str) -> pl.DataFrame:
    """The measurement table stored in a Parquet file."""
    _check(data, source)
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several types for a damaged file
        raise ParseError(source, "Parquet data", "a readable Parquet file", f"{type(exc).__name__}: {exc}") from None
    missing = [c for c in schema.COLUMNS if c not in frame.columns]
    if missing:
        raise ParseError(source, "Parquet schema", "the measurement-table columns",
                         f"missing {', '.join(missing)}")
    return schema.select_columns(frame)


def metadata(data: bytes, *, source: str) -> dict[str, str]:
    """The producer's key-value metadata: as stored (JSON strings), except that a
    finished capture's is given the same keys as its JSON-lines form has
    (``machine.*``, ``capture.*``), so both forms describe the machine alike."""
    from . import capture

    _check(data, source)
    try:
        stored = pl.read_parquet_metadata(io.BytesIO(data))
    except Exception as exc:
        raise ParseError(source, "Parquet footer", "a readable Parquet file", f"{type(exc).__name__}: {exc}") from None
    if capture.PARQUET_KEY in stored:
        return capture.metadata(data, source=source)
    return {k: v for k, v in stored.items() if k not in _INTERNAL}


def _check(data: bytes, source: str) -> None:
    if not data.startswith(MAGIC):
        raise ParseError(source, 1, f"a Parquet measurement table (starting with {MAGIC!r})", repr(data[:16]))
    if not data.endswith(MAGIC):
        raise ParseError(source, "Parquet footer", f"a complete Parquet file ending in {MAGIC!r}",
                         f"{data[-4:]!r} (truncated or still being written?)")


def _sniff(head: bytes) -> bool:
    return head.startswith(MAGIC)


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, metadata=metadata, suffixes=(".parquet",),
                description="the workbench's own Parquet tables (ingest, capture, probe)")
