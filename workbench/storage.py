"""The workbench's own Parquet: tables, their one metadata document, atomic writes.

Every table the workbench writes (``ingest``, finished captures, probe runs,
``fetch-rrd``) goes through :func:`write_table` (or :func:`write_pieces`, for a table
that comes in pieces, as an ingest's does: polars' streaming Parquet sink) and reads back with
:func:`read_table` and :func:`read_metadata` (names as polars' ``write_parquet`` /
``read_parquet`` / ``read_parquet_schema``: each does one thing). Every other file
the workbench writes (reports, ``fetch.json``) goes through :func:`atomic_write`.

The metadata document
---------------------
What a table has no columns for (DESIGN.md §3) is one JSON document stored in the
Parquet key-value metadata under :data:`KEY`, with these sections (each optional):

``sources``
    ``{source_file: {key: value}}``: what each input file says about its origin
    (product, version, machine, date, ...; the readers' metadata), for the
    ``source_file`` values of the table's rows.
``producer``
    What wrote the table: ``name`` (e.g. ``workbench-probe``), ``version``, ...
``machine``
    The machine a capture or probe ran on.
``settings``
    How the producer ran (interval, trials, sizes, ...).
``events``
    What happened while it ran, in order (a capture's stages, commands, notes).

Files written by the previous version of the workbench (three conventions:
``workbench.sources``, ``workbench-probe``, ``workbench-capture``) are read into
the same document; see :func:`_from_legacy`.

Layer: imports only :mod:`errors`, :mod:`schema`, the standard library and polars.
"""
from __future__ import annotations

import io
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Iterable

from .errors import ParseError, WorkbenchError

if TYPE_CHECKING:
    import polars as pl

# polars (and schema, which needs it) are imported by the functions that read or write a
# table: the output guard and the atomic writes serve the capture's sampling process too,
# which imports no polars (tests/test_capture.py).

#: The Parquet key-value metadata key that holds the document.
KEY = "workbench"
#: The document's sections, in the order they are written.
SECTIONS = ("sources", "producer", "machine", "settings", "events")
MAGIC = b"PAR1"
# Keys of the previous version (until issue 10), read by _from_legacy only.
LEGACY_SOURCES_KEY = "workbench.sources"
LEGACY_PROBE_KEY = "workbench-probe"
LEGACY_CAPTURE_KEY = "workbench-capture"
LEGACY_RUN_KEY = "workbench-run"
# Keys Arrow and pandas write for themselves: not the producer's metadata.
_INTERNAL = ("ARROW:schema", "pandas")


# --------------------------------------------------------------------------- writing

def write_table(frame: pl.DataFrame, path: str | os.PathLike, *,
                metadata: dict[str, Any] | None = None, validated: bool = False) -> Path:
    """Validate `frame` and write it to Parquet with its metadata document, atomically.

    Parameters
    ----------
    frame : polars.DataFrame
        A measurement table; validated first, nothing is written if it is invalid.
    path : str or PathLike
        The Parquet file; its folder is created.
    metadata : dict, optional
        The document: sections among :data:`SECTIONS` (see the module docstring).
        ``sources`` must name ``source_file`` values of the table; its values are
        stored as strings.
    validated : bool
        True when `frame` is, unchanged or concatenated, what :func:`schema.validate`
        returned (``readers.read_file``, ``Experiment.read``): the check is not run a
        second time (it is a third of a large ingest otherwise).

    Returns
    -------
    pathlib.Path
        `path`.

    Raises
    ------
    SchemaError
        When `frame` is not a valid measurement table.
    WorkbenchError
        When the metadata is malformed, or the file cannot be written (full disk,
        no permission): one line, and no temporary file is left.
    """

    return write_pieces((frame,), path, metadata=metadata, validated=validated)


def write_pieces(pieces: Iterable[pl.DataFrame], path: str | os.PathLike, *,
                 metadata: dict[str, Any] | Callable[[], dict[str, Any]] | None = None,
                 validated: bool = False) -> Path:
    """Write a measurement table given in pieces (issue 17: a reader's pieces go to disk as
    they come, so an ingest never holds the whole long table), atomically.

    Parameters
    ----------
    pieces : iterable of polars.DataFrame
        Consecutive pieces of the table, consumed once, each validated as it comes
        (unless `validated`); an exception from the iterable (a reader's ParseError
        in its last piece, Ctrl-C) leaves nothing written.
    metadata : dict or callable, optional
        The document (as :func:`write_table`), or a function giving it once the last
        piece has been written (an ingest knows its inputs' metadata only then).
    validated : bool
        As :func:`write_table`, for every piece.

    The pieces stream through polars' Parquet sink (``register_io_source`` +
    ``sink_parquet``: row groups as they come, labels as dictionary pages, the document
    in the footer); :func:`write_table` is this with one piece.
    """
    import polars as pl
    from polars.io.plugins import register_io_source

    from . import schema

    stored: dict[str, str] = {}

    def source(with_columns, predicate, n_rows, batch_size):
        names: set[str] = set()
        for frame in pieces:
            frame = frame.select(list(schema.TABLE_COLUMNS)) if validated else schema.validate(frame)
            names.update(frame["source_file"].cast(pl.String).unique().drop_nulls().to_list())
            yield frame
        # Checked here, not in the sink's footer callback: polars turns an exception
        # there into a ComputeError, and this one must reach the user as it is.
        document = _checked_document((metadata() if callable(metadata) else metadata) or {}, names)
        if document:
            stored[KEY] = json.dumps(document, ensure_ascii=False)

    if not callable(metadata):
        _checked_document(metadata or {}, None)  # malformed: nothing is written, not even a temporary file
    table = register_io_source(source, schema=schema.TABLE_SCHEMA)
    return _replace(path, lambda fh: table.sink_parquet(fh, metadata=lambda _context: stored))


def atomic_write(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write `data` (bytes, or text as UTF-8) to `path`: under a temporary name in the
    same folder, then :func:`os.replace`, so a reader never sees half a file.

    The folder is created. The file gets the user's umask (``open(..., "x")``, not
    :func:`tempfile.mkstemp`'s 0600).

    Raises
    ------
    WorkbenchError
        ``cannot write <path>: <reason>`` on any :class:`OSError`; the temporary
        file is removed (also on KeyboardInterrupt).
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return _replace(path, lambda fh: fh.write(payload))


def replace_with(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call `write` on a new temporary file beside `path`, then rename it to `path` (what
    :func:`atomic_write` does with bytes, for a writer that streams, such as pyarrow's).

    Raises
    ------
    WorkbenchError
        As :func:`atomic_write`; the temporary file is removed.
    """
    return _replace(path, write)


def check_output(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (), force: bool = False,
                 directory: bool = False) -> Path:
    """The one output guard: every command that writes calls it before any work.

    Never write over an input, nor over an existing result unless `force`; the place
    must be writable now (not after an hour of capture). Nothing is created.

    Parameters
    ----------
    path : str or PathLike
        The output file, or with `directory` the output folder (which must then be new
        or empty; `force` does not empty it: raw files are never replaced).
    inputs : iterable of paths
        Files the command reads; `path` may be none of them, even with `force`.
    force : bool
        Replace an existing output file (``--force``).

    Raises
    ------
    WorkbenchError
        One line naming `path` and what stands in the way.
    """
    out = Path(path)
    if not str(path).strip():
        raise WorkbenchError("expected an output name, found an empty string")
    for given in inputs:
        if str(given) == "-":
            continue
        if _same(out, Path(given)):
            raise WorkbenchError(f"{out}: is an input of this command ({given}); refusing to write over it")
    if directory:
        if out.exists() and not out.is_dir():
            raise WorkbenchError(f"{out}: exists and is not a directory; expected a new or empty directory")
        if out.is_dir() and any(out.iterdir()):
            raise WorkbenchError(f"{out}: is not empty; expected a new or empty directory")
    elif out.is_dir():
        raise WorkbenchError(f"{out}: is a directory, expected a file name")
    elif out.exists() or out.is_symlink():
        if not force:
            raise WorkbenchError(f"{out}: exists already; pass --force to replace it")
    parent = out if directory and out.is_dir() else out.parent
    while not parent.exists():  # the folders to create: their nearest existing ancestor must take them
        parent = parent.parent
    if not parent.is_dir():
        raise WorkbenchError(f"cannot write {out}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WorkbenchError(f"cannot write {out}: {parent} is not writable"
                             + (" (read-only file system)" if _read_only(parent) else ""))
    return out


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _replace(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call `write` on a new temporary file beside `path`, then rename it to `path`."""
    out = Path(path)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as fh:
            write(fh)
        os.replace(tmp, out)
    except FileExistsError:  # what mkdir says when a file stands where a folder should be
        _unlink(tmp)
        raise WorkbenchError(f"cannot write {out}: a file stands where a folder of its path should be") from None
    except OSError as exc:
        _unlink(tmp)
        raise WorkbenchError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink(tmp)
        raise
    return out


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:  # its folder does not exist or is not writable: nothing was created
        pass


def _checked_document(metadata: dict[str, Any], names: set[str] | None) -> dict[str, Any]:
    """The document to store; `names` are the table's ``source_file`` values (None: not
    known yet, checked later)."""
    unknown = sorted(set(metadata) - set(SECTIONS))
    if unknown:
        raise WorkbenchError(f"metadata section '{unknown[0]}' is not one of {', '.join(SECTIONS)}")
    document: dict[str, Any] = {}
    for section in SECTIONS:
        value = metadata.get(section)
        if not value:
            continue
        if section == "events":
            if not isinstance(value, (list, tuple)):
                raise WorkbenchError(f"metadata section 'events' must be a list, found {type(value).__name__}")
            value = list(value)
        elif not isinstance(value, dict):
            raise WorkbenchError(f"metadata section '{section}' must be a dict, found {type(value).__name__}")
        if section == "sources":
            strange = sorted(set(value) - names) if names is not None else []
            if strange:
                raise WorkbenchError(f"metadata for '{strange[0]}', which is no source_file of the table")
            value = {str(f): {str(k): str(v) for k, v in m.items()} for f, m in value.items()}
        document[section] = value
    try:
        json.dumps(document)
    except (TypeError, ValueError) as exc:
        raise WorkbenchError(f"metadata cannot be stored as JSON: {exc}") from None
    return document


# --------------------------------------------------------------------------- reading

def read_table(path: str | os.PathLike) -> pl.DataFrame:
    """The validated measurement table of a Parquet file :func:`write_table` wrote.

    Raises
    ------
    WorkbenchError
        The file is missing or unreadable.
    ParseError
        It is not Parquet, truncated, or lacks measurement-table columns (one line
        naming the file).
    """
    from . import schema

    return schema.validate(parse_table(_read_bytes(path), source=str(path))[0], source=str(path))


def read_table_and_metadata(path: str | os.PathLike) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The validated table and its metadata document from ONE read of the file (a
    table another process rewrites, such as a run's, cannot pair one version's rows
    with another's metadata)."""
    from . import schema

    table, document = parse_table(_read_bytes(path), source=str(path))
    return schema.validate(table, source=str(path)), document


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata document of a Parquet table (``{}`` when it has none).

    Reads only the file's ends (magic bytes and footer), not the data.
    """
    source = str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(size - len(MAGIC), 0))
            tail = fh.read(len(MAGIC))
    except OSError as exc:
        raise _read_error(path, exc) from None
    _check_magic(head, tail, source)
    return _document(_footer(path, source), source)


def parse_table(data: bytes, *, source: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """``(table, metadata document)`` of a workbench Parquet file held in memory.

    The table is checked for the measurement-table columns, not validated (the
    caller attaches labels first, as for any reader).
    """
    import polars as pl

    from . import schema

    _check_magic(data[:16], data[-len(MAGIC):], source)
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except (Exception, pl.exceptions.PanicException) as exc:  # several types for a damaged file; a Rust panic too
        raise ParseError(source, "Parquet data", "a readable Parquet file", f"{type(exc).__name__}: {exc}") from None
    missing = [c for c in schema.COLUMNS if c not in frame.columns]
    if missing:
        raise ParseError(source, "Parquet schema", "the measurement-table columns", f"missing {', '.join(missing)}")
    return schema.select_columns(frame), _document(_footer(io.BytesIO(data), source), source)


def _footer(target: Any, source: str) -> dict[str, str]:
    import polars as pl

    try:
        stored = pl.read_parquet_metadata(target)
    except (Exception, pl.exceptions.PanicException) as exc:
        raise ParseError(source, "Parquet footer", "a readable Parquet file", f"{type(exc).__name__}: {exc}") from None
    return {k: v for k, v in stored.items() if k not in _INTERNAL}


def _document(stored: dict[str, str], source: str) -> dict[str, Any]:
    if KEY not in stored:
        return _from_legacy(stored, source)
    try:
        document = json.loads(stored[KEY])
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        raise ParseError(source, f"Parquet metadata '{KEY}'", "a JSON document", f"{exc}") from None
    if not isinstance(document, dict) or not set(document) <= set(SECTIONS):
        raise ParseError(source, f"Parquet metadata '{KEY}'", f"a JSON object with sections among "
                         f"{', '.join(SECTIONS)}", stored[KEY])
    for name, value in document.items():  # events is a list of records, every other section an object
        if not isinstance(value, list if name == "events" else dict):
            raise ParseError(source, f"Parquet metadata '{KEY}', section '{name}'",
                             "a list" if name == "events" else "a JSON object", repr(value))
    return document


def _from_legacy(stored: dict[str, str], source: str) -> dict[str, Any]:
    """The document of a file written before issue 10, when each producer had its own key.

    Kept so that tables written then still read (they are data; nobody should have to
    rewrite them). The mapping is what the current writers write:

    * ``workbench.sources`` (ingest): JSON ``{source_file: {key: value}}`` -> ``sources``;
    * ``workbench-probe``: JSON ``{format, version, machine, levels, settings}`` ->
      ``producer`` {name: format, version}, ``machine``, ``settings`` (+ ``levels``);
    * ``workbench-capture``: JSON ``{header, events}`` -> ``producer`` {name:
      header.format, version}, ``machine`` = header.meta, ``settings`` = the rest of
      the header, ``events``;
    * ``workbench-run`` (``workbench run``'s collected table, briefly): JSON
      ``{plan, ..., trials}`` -> ``producer`` {name: workbench-run}, ``settings`` =
      all but the trials, ``events`` = the trials;
    * any other key (a caller's free-form metadata) -> ``settings`` as stored.
    """
    document: dict[str, Any] = {}
    rest = dict(stored)
    try:
        if LEGACY_SOURCES_KEY in rest:
            document["sources"] = json.loads(rest.pop(LEGACY_SOURCES_KEY))
        if LEGACY_PROBE_KEY in rest:
            doc = json.loads(rest.pop(LEGACY_PROBE_KEY))
            document["producer"] = {"name": doc["format"], "version": doc["version"]}
            document["machine"] = doc["machine"]
            document["settings"] = {**doc["settings"], "levels": doc["levels"]}
        if LEGACY_CAPTURE_KEY in rest:
            doc = json.loads(rest.pop(LEGACY_CAPTURE_KEY))
            header = dict(doc["header"])
            document["producer"] = {"name": header.pop("format"), "version": header.pop("version")}
            document["machine"] = header.pop("meta", {})
            document["settings"] = header
            document["events"] = doc["events"]
        if LEGACY_RUN_KEY in rest:
            doc = json.loads(rest.pop(LEGACY_RUN_KEY))
            document["producer"] = {"name": LEGACY_RUN_KEY}
            document["events"] = doc.pop("trials")
            document["settings"] = doc
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ParseError(source, "Parquet metadata", "the JSON a previous workbench version wrote",
                         f"{type(exc).__name__}: {exc}") from None
    if rest:
        document.setdefault("settings", {}).update(rest)
    return document


def _check_magic(head: bytes, tail: bytes, source: str) -> None:
    if head[:len(MAGIC)] != MAGIC:
        raise ParseError(source, 1, f"a Parquet measurement table (starting with {MAGIC!r})", repr(head[:16]))
    if tail != MAGIC:
        raise ParseError(source, "Parquet footer", f"a complete Parquet file ending in {MAGIC!r}",
                         f"{tail!r} (truncated or still being written?)")


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise _read_error(path, exc) from None


def _read_error(path: str | os.PathLike, exc: OSError) -> WorkbenchError:
    if isinstance(exc, FileNotFoundError):
        return WorkbenchError(f"{path}: no such file")
    if isinstance(exc, IsADirectoryError):
        return WorkbenchError(f"{path}: is a directory, expected a file")
    return WorkbenchError(f"{path}: cannot read ({exc.strerror})")


__all__ = ["KEY", "SECTIONS", "atomic_write", "check_output", "parse_table", "read_metadata", "read_table",
           "read_table_and_metadata", "replace_with", "write_table"]
