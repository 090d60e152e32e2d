"""Reader for the workbench's own Parquet measurement tables.

What ``workbench ingest``, ``workbench capture`` (finished captures),
``workbench probe`` and ``workbench fetch-rrd`` write: the measurement table
(DESIGN.md §3) as Parquet, all through :func:`workbench.storage.write_table`. The
file already holds every column; a manifest's or the caller's labels override them
as for any reader, so a probe run or a capture can be listed in an experiment like
any export.

The file's metadata document (:mod:`workbench.storage`) becomes the reader's
metadata in one pass: its ``sources`` are carried (:attr:`Parsed.sources`), and
what the file itself says (its ``machine`` and ``settings``) is flattened to
string pairs: ``machine.<key>`` and ``<producer>.<key>`` (``capture.interval``,
``probe.trials``). A finished capture's are the keys its JSON-lines form gives
(:func:`workbench.readers.capture.header_metadata`), so both forms describe the
machine alike.
"""
from __future__ import annotations

import json
from typing import Any

from .. import storage
from . import Parsed

NAME = "workbench-table"


def parse(data: bytes, *, source: str) -> Parsed:
    """The measurement table stored in a Parquet file, with its metadata."""
    table, document = storage.parse_table(data, source=source)
    return Parsed(table, own_metadata(document), document.get("sources", {}))


def own_metadata(document: dict[str, Any]) -> dict[str, str]:
    """What a stored table says about its own origin, as string pairs (see the module docstring)."""
    from . import capture

    producer = document.get("producer", {})
    name = str(producer.get("name", ""))
    if name == capture.FORMAT:
        return capture.header_metadata(capture.header_from_document(document))
    prefix = name.removeprefix("workbench-") or "settings"
    flat = {f"machine.{k}": v for k, v in document.get("machine", {}).items()}
    flat.update({f"{prefix}.{k}": v for k, v in document.get("settings", {}).items()})
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in flat.items()}


def _sniff(head: bytes) -> bool:
    return head.startswith(storage.MAGIC)


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".parquet",),
                description="the workbench's own Parquet tables (ingest, capture, probe, fetch-rrd)")
