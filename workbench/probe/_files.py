"""The probe's files: its table with the run's description, through storage."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ParseError, WorkbenchError
from ._common import SOURCE

if TYPE_CHECKING:
    from ._run import ProbeResult


def write(result: ProbeResult, path: str | os.PathLike) -> Path:
    """Write the table to Parquet with the run's metadata, atomically
    (:func:`workbench.storage.write_table`; the document's producer is
    ``workbench-probe``, its machine and settings those of :meth:`ProbeResult.metadata`).

    :func:`workbench.read_table` reads the file like any table;
    :func:`read_metadata` returns the metadata.
    """
    from ..storage import write_table

    meta = result.metadata()
    return write_table(result.table, path, metadata={
        "producer": {"name": meta["format"], "version": meta["version"]}, "machine": meta["machine"],
        "settings": {**meta["settings"], "levels": meta["levels"]}})


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata :func:`write` stored with a probe table, as :meth:`ProbeResult.metadata`
    gives it (``format``, ``version``, ``machine``, ``levels``, ``settings``).

    Raises
    ------
    WorkbenchError
        If the file is missing, not Parquet, or not written by the probe.
    """
    from .. import storage

    doc = storage.read_metadata(path)
    producer = doc.get("producer", {})
    if producer.get("name") != SOURCE:
        raise WorkbenchError(f"{path}: not written by `workbench probe` (its metadata names no producer '{SOURCE}')")
    settings = dict(doc.get("settings", {}))
    levels = settings.pop("levels", None)
    if not isinstance(levels, list) or "machine" not in doc:
        raise ParseError(path, f"Parquet metadata '{storage.KEY}'", "a probe's machine and settings with levels",
                         repr(doc)[:80])
    return {"format": producer["name"], "version": producer.get("version"), "machine": doc["machine"],
            "levels": levels, "settings": settings}
