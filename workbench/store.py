"""The partitioned store: many inputs in one Hive-partitioned Parquet dataset, read lazily.

A table file (:mod:`workbench.storage`) holds one experiment in memory; a store holds
what outgrows it (a XenServer pool's year of RRDs, a cloud fleet's benchmarks) and is
read with polars' lazy ``scan_parquet``, so a query reads only the partitions, columns
and row groups it needs.

Layout::

    STORE/
      catalogue.json                   what is in the store (the only source of truth)
      .lock                            taken by add and rm (one writer at a time)
      experiment=<e>/source=<s>/date=<YYYY-MM-DD>/part-<key>.parquet

The partition columns (default :data:`DEFAULT_PARTITIONS`; chosen when the store is
created, among :data:`PARTITION_KEYS`) are in the folder names only, percent-encoded
(``/`` is ``%2F``; a null is ``__HIVE_DEFAULT_PARTITION__``, as Hive and polars write
it); ``date`` is the UTC day of ``time`` (``month`` its month; null for one-shot
results). Every other column of the measurement table is in the files, string columns
dictionary-encoded.

Choosing the partitions: a part file per input and partition, so partition by what
queries filter on and what keeps files large. ``date`` suits a capture or an RRD
fetch (one input, a few days); a fleet dataset whose every file spans a year (the
Azure VM noise CSVs: 483 days each) is better partitioned by
``experiment,condition,metric`` (144 inputs -> 144 part files, instead of 54,129
day files that took 4 minutes to write here).

The catalogue
-------------
``catalogue.json`` lists the store's inputs by *key*: the SHA-256 of the input's bytes
(a manifest's: the manifest's and every input file's) together with how it was read
(the name recorded in ``source_file``, labels, format, options). Adding an input whose
key is already there changes nothing. Each entry records the input's path as given,
its content hash, when it was added, its rows and the part files it wrote, and what the
input said about its origin (the ``sources`` section of the metadata document).

Crash safety
------------
An input is added in two steps: its part files are written (each under a temporary
name, then renamed), then the catalogue is replaced (temporary name, rename). Readers
read only the part files the catalogue names, so a crash (``kill -9``, power loss)
at any point leaves the previous state readable, and rerunning the same ``add``
skips what was committed and writes the rest (the part files' names are fixed by the
key, so an interrupted input's leftovers are overwritten, and :func:`add` and
:func:`remove` first delete files no catalogue entry names).

Layer: imports :mod:`errors`, :mod:`schema`, :mod:`storage`, :mod:`readers` and
:mod:`experiment` (for manifests), the standard library, polars and pyarrow.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import polars as pl

from . import experiment, readers, schema, storage
from .errors import ParseError, WorkbenchError

CATALOGUE = "catalogue.json"
LOCK = ".lock"
FORMAT = "workbench-store"
VERSION = 1
DEFAULT_PARTITIONS = ("experiment", "source", "date")
#: Columns a store may be partitioned by: labels and other low-cardinality columns, and ``date``.
PARTITION_KEYS = ("experiment", "condition", "hypervisor", "host", "guest", "scope", "stage", "run",
                  "aggregate", "metric", "component", "unit", "source", "date", "month")
#: Partition columns computed from ``time`` (UTC), not columns of the table.
TIME_KEYS = {"date": "%Y-%m-%d", "month": "%Y-%m"}
#: What Hive (and polars) write for a null partition value.
NULL = "__HIVE_DEFAULT_PARTITION__"
#: Columns written dictionary-encoded: every label column of the table.
DICTIONARY = tuple(c for c, t in schema.TABLE_SCHEMA.items() if t == schema.LABEL)
_KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Entry:
    """One input of the store, as the catalogue records it."""

    key: str
    input: str
    content: str  #: SHA-256 of the input's bytes
    added: str  #: ISO time (UTC)
    rows: int
    parts: tuple[str, ...]  #: part files, relative to the store
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    #: How its parts store the label columns: "dictionary" (dictionary-typed, read back
    #: Categorical: parts added since the table's labels are Categorical) or "string"
    #: (plain strings: parts added before; a catalogue without the field).
    labels: str = "dictionary"

    def record(self) -> dict[str, Any]:
        return {"input": self.input, "content": self.content, "added": self.added, "rows": self.rows,
                "parts": list(self.parts), "sources": self.sources, "labels": self.labels}


@dataclass(frozen=True)
class Catalogue:
    partitioning: tuple[str, ...]
    entries: dict[str, Entry]

    def files(self, root: Path) -> list[Path]:
        return [root / p for e in self.entries.values() for p in e.parts]


@dataclass(frozen=True)
class AddResult:
    added: tuple[Entry, ...]
    skipped: tuple[tuple[str, str], ...]  #: (input, key) already in the store


# --------------------------------------------------------------------------- the catalogue


def is_store(path: str | os.PathLike) -> bool:
    """True when `path` is a folder holding a store's catalogue."""
    return (Path(path) / CATALOGUE).is_file()


def catalogue(store: str | os.PathLike) -> Catalogue:
    """The store's catalogue.

    Raises
    ------
    WorkbenchError
        `store` is not a store (no catalogue).
    ParseError
        The catalogue is not the JSON a store writes (naming the file and the entry).
    """
    path = Path(store) / CATALOGUE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkbenchError(f"{store}: not a workbench store (no {CATALOGUE}); create one with "
                             "`workbench store add STORE FILE...`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkbenchError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ParseError(path, None, "the store's JSON catalogue", f"{exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ParseError(path, "format", f"'{FORMAT}'", repr(doc.get("format") if isinstance(doc, dict) else doc))
    if doc.get("version") != VERSION:
        raise ParseError(path, "version", f"{VERSION}", repr(doc.get("version")))
    parts = doc.get("partitioning")
    if not isinstance(parts, list) or not parts or any(p not in PARTITION_KEYS for p in parts):
        raise ParseError(path, "partitioning", f"a list of columns among {', '.join(PARTITION_KEYS)}", repr(parts))
    inputs = doc.get("inputs")
    if not isinstance(inputs, dict):
        raise ParseError(path, "inputs", "an object of inputs by key", repr(inputs))
    entries = {}
    for key, rec in inputs.items():
        try:
            if not _KEY.match(key):
                raise ValueError("key")
            files = tuple(str(p) for p in rec["parts"])
            if any(_escapes(p) for p in files):
                raise ValueError("parts")
            labels = rec.get("labels", "string")
            if labels not in ("dictionary", "string"):
                raise ValueError(f"labels {labels!r}")
            entries[key] = Entry(key, str(rec["input"]), str(rec["content"]), str(rec["added"]), int(rec["rows"]),
                                 files, {str(k): {str(a): str(b) for a, b in v.items()}
                                         for k, v in rec.get("sources", {}).items()}, labels)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ParseError(path, f"inputs.{key[:12]}", "an entry with input, content, added, rows and parts "
                             "(part files inside the store)", f"{type(exc).__name__}: {exc}") from None
    return Catalogue(tuple(parts), entries)


def _escapes(part: str) -> bool:
    """True when a part path from the catalogue would lead outside the store."""
    p = Path(part)
    return p.is_absolute() or ".." in p.parts or not part.endswith(".parquet")


def _save(store: Path, cat: Catalogue) -> None:
    doc = {"format": FORMAT, "version": VERSION, "partitioning": list(cat.partitioning),
           "inputs": {k: e.record() for k, e in cat.entries.items()}}
    storage.atomic_write(store / CATALOGUE, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def _locked(store: Path) -> Iterator[None]:
    """One writer at a time (a second `add` waits); released when the process dies."""
    try:
        store.mkdir(parents=True, exist_ok=True)
        fh = open(store / LOCK, "a")
    except OSError as exc:
        raise WorkbenchError(f"{store}: cannot create the store ({exc.strerror or exc})") from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _sweep(store: Path, cat: Catalogue) -> int:
    """Delete part files and temporaries no catalogue entry names (an interrupted add's
    leftovers, a removed input's files); return how many."""
    named = {str(p) for p in cat.files(store)}
    gone = 0
    for path in store.rglob("*"):
        if path.is_file() and len(path.relative_to(store).parts) > 1 and str(path) not in named:
            path.unlink(missing_ok=True)
            gone += 1
    _prune(store)
    return gone


def _prune(store: Path) -> None:
    for folder in sorted((p for p in store.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only empty ones


# --------------------------------------------------------------------------- adding


def add(store: str | os.PathLike, inputs: Sequence[str | os.PathLike], *,
        partition_by: Sequence[str] | None = None, labels: dict[str, Any] | None = None,
        format: str | None = None, options: dict[str, Any] | None = None,
        progress: Callable[[str], None] | None = None) -> AddResult:
    """Add files, folders or experiment manifests to the store at `store` (created when new).

    A folder adds every file below it that a reader takes (by suffix), each as one input
    whose ``source_file`` is its path below the folder (so the Azure VM noise dataset's
    ``key=value`` folders reach its reader). A manifest (``.toml``) is one input.
    Labels, format and options apply to files and folders, not to manifests.

    Parameters
    ----------
    partition_by : sequence of str, optional
        The partition columns of a new store (default :data:`DEFAULT_PARTITIONS`); for an
        existing store, if given, it must be the store's.

    Returns
    -------
    AddResult
        The inputs added and those skipped (already in the store with the same key).
    """
    root = Path(store)
    labels = dict(labels or {})
    options = dict(options or {})
    with _locked(root):
        if is_store(root):
            cat = catalogue(root)
            if partition_by is not None and tuple(partition_by) != cat.partitioning:
                raise WorkbenchError(f"{root} is partitioned by {','.join(cat.partitioning)}, not "
                                     f"{','.join(partition_by)}: a store keeps one partitioning")
        else:
            parts = tuple(partition_by or DEFAULT_PARTITIONS)
            bad = [p for p in parts if p not in PARTITION_KEYS]
            if bad or not parts or len(set(parts)) != len(parts):
                raise WorkbenchError(f"cannot partition by {','.join(parts) or 'nothing'}: choose distinct "
                                     f"columns among {', '.join(PARTITION_KEYS)}")
            if any(root.iterdir()) and set(p.name for p in root.iterdir()) != {LOCK}:
                raise WorkbenchError(f"{root}: a folder that is not a store and not empty; give a new folder")
            cat = Catalogue(parts, {})
            _save(root, cat)
        _sweep(root, cat)
        added, skipped = [], []
        for item in _expand(inputs, labels, format, options):
            key, content = item.key()
            if key in cat.entries:
                skipped.append((item.shown, key))
                continue
            table, sources = item.read()
            files = _write_parts(root, table, key, cat.partitioning)
            entry = Entry(key, item.shown, content, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                          table.height, tuple(files), sources)
            cat = Catalogue(cat.partitioning, {**cat.entries, key: entry})
            _save(root, cat)  # the commit: from here on readers see this input
            added.append(entry)
            if progress:
                progress(f"{item.shown}: {table.height} rows in {len(files)} partition(s)")
    return AddResult(tuple(added), tuple(skipped))


@dataclass(frozen=True)
class _Input:
    path: Path
    shown: str  #: how the catalogue and source_file name it
    manifest: bool
    labels: dict[str, Any]
    format: str | None
    options: dict[str, Any]

    def key(self) -> tuple[str, str]:
        content = hashlib.sha256()
        files = [self.path]
        if self.manifest:
            files += [i.path for i in experiment.load(self.path).inputs]
        for f in files:
            content.update(_read(f))
            content.update(b"\0")
        how = json.dumps({"source_file": self.shown, "labels": self.labels, "format": self.format,
                          "options": self.options}, sort_keys=True, default=str)
        key = hashlib.sha256(f"{FORMAT}-{VERSION}\0{how}\0{content.hexdigest()}".encode()).hexdigest()
        return key, content.hexdigest()

    def read(self) -> tuple[pl.DataFrame, dict[str, dict[str, str]]]:
        if self.manifest:
            return experiment.load(self.path).read()
        parsed = readers.read_file(self.path, format=self.format, source_file=self.shown, options=self.options,
                                   **self.labels)
        return parsed.table, parsed.by_source()


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WorkbenchError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _expand(inputs: Sequence[str | os.PathLike], labels: dict, format: str | None, options: dict) -> Iterator[_Input]:
    suffixes = {s for f in readers.formats().values() for s in f.suffixes}
    for given in inputs:
        path = Path(given)
        if path.suffix == ".toml":
            if labels or format or options:
                raise WorkbenchError(f"{path}: a manifest is added as it is: labels, formats and options belong "
                                     "inside it")
            yield _Input(path, str(given), True, {}, None, {})
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not files:
                raise WorkbenchError(f"{path}: no file a reader takes ({', '.join(sorted(suffixes))}) below it")
            for f in files:
                yield _Input(f, f.relative_to(path).as_posix(), False, labels, format, options)
        elif not path.exists():
            raise WorkbenchError(f"{path}: no such file or folder")
        else:
            yield _Input(path, str(given), False, labels, format, options)


def _escape(value: Any) -> str:
    if value is None:
        return NULL
    return urllib.parse.quote(str(value), safe="") or NULL


def _write_parts(root: Path, table: pl.DataFrame, key: str, partitioning: Sequence[str]) -> list[str]:
    """Write `table` as one part file per partition (temporary name, then rename); return
    the files, relative to `root`. Nothing is visible to readers until the catalogue names them."""
    import pyarrow.parquet as pq

    table = schema.validate(table)
    table = table.with_columns(pl.col("time").dt.strftime(TIME_KEYS[k]).alias(k) for k in partitioning if k in TIME_KEYS)
    files = []
    for values, part in table.partition_by(list(partitioning), as_dict=True, include_key=False).items():
        rel = "/".join(f"{k}={_escape(v)}" for k, v in zip(partitioning, values)) + f"/part-{key[:24]}.parquet"
        out = root / rel
        arrow = part.to_arrow()
        storage.replace_with(out, lambda fh, arrow=arrow: pq.write_table(
            arrow, fh, compression="zstd", use_dictionary=[c for c in DICTIONARY if c in arrow.column_names]))
        files.append(rel)
    return files


# --------------------------------------------------------------------------- removing and listing


def remove(store: str | os.PathLike, which: Iterable[str]) -> tuple[Entry, ...]:
    """Remove inputs from the store, named by key (at least 8 hex digits of it) or by the
    input as it was added. The catalogue is replaced first (readers stop seeing them),
    then their files are deleted.

    Raises
    ------
    WorkbenchError
        A name matches no input, or several.
    """
    root = Path(store)
    with _locked(root):
        cat = catalogue(root)
        gone: dict[str, Entry] = {}
        for name in which:
            found = [e for e in cat.entries.values()
                     if e.input == name or (len(name) >= 8 and e.key.startswith(name.lower()))]
            if len(found) != 1:
                what = "no input" if not found else f"{len(found)} inputs"
                raise WorkbenchError(f"{root}: {what} named {name!r} (give the input as `store ls` shows it, "
                                     "or 8 or more hex digits of its key)")
            gone[found[0].key] = found[0]
        cat = Catalogue(cat.partitioning, {k: e for k, e in cat.entries.items() if k not in gone})
        _save(root, cat)
        _sweep(root, cat)
    return tuple(gone.values())


def entries(store: str | os.PathLike) -> pl.DataFrame:
    """The catalogue as a table: key (12 digits), input, rows, partitions, added."""
    cat = catalogue(store)
    return pl.DataFrame([{"key": e.key[:12], "input": e.input, "rows": e.rows, "partitions": len(e.parts),
                          "added": e.added} for e in cat.entries.values()],
                        schema={"key": pl.String, "input": pl.String, "rows": pl.Int64, "partitions": pl.Int64,
                                "added": pl.String})


# --------------------------------------------------------------------------- reading


def hive_schema(partitioning: Sequence[str]) -> dict[str, pl.DataType]:
    """Partition values as the folder names give them: label keys stay strings while the
    query prunes folders (:func:`scan` encodes them after the filter)."""
    return {p: (pl.String if p in TIME_KEYS or schema.TABLE_SCHEMA[p] == schema.LABEL else schema.TABLE_SCHEMA[p])
            for p in partitioning}


def groups(store: str | os.PathLike, keys: Sequence[str], *, cat: Catalogue | None = None) -> list[list[Path]]:
    """The store's part files grouped by their values of the partition columns `keys`
    (those of `keys` the store is partitioned by; one group of all files when none is):
    for a reduction by those columns done group by group, whose results are disjoint, so
    that memory follows one group, not the store. `cat`: the catalogue, if read already."""
    root = Path(store)
    cat = catalogue(root) if cat is None else cat
    used = [k for k in cat.partitioning if k in keys]
    out: dict[tuple[str, ...], list[Path]] = {}
    for e in cat.entries.values():
        for p in e.parts:
            values = dict(seg.split("=", 1) for seg in Path(p).parts[:-1])
            out.setdefault(tuple(values[k] for k in used), []).append(root / p)
    return [out[k] for k in sorted(out)]


def scan(store: str | os.PathLike, where: str | None = None, *,
         files: Sequence[str | os.PathLike] | None = None, cat: Catalogue | None = None) -> pl.LazyFrame:
    """A lazy measurement table over the store (polars ``scan_parquet`` with Hive
    partitions): filters on partition columns skip folders, other filters and the
    columns a query uses are pushed into the Parquet reader.

    The columns are the measurement table's (:data:`schema.TABLE_COLUMNS`) and, when the
    store is partitioned by it, ``date`` (``YYYY-MM-DD``, UTC). Only the part files
    the catalogue names are read.

    Parameters
    ----------
    where : str, optional
        A SQL boolean expression over those columns, e.g. ``host = 'x' and time >=
        '2024-01-01'`` (polars SQL: strings in single quotes, a string compared with
        ``time`` is read as a UTC time). See :func:`filtered`.
    files : sequence of paths, optional
        Only these part files (e.g. one of :func:`groups`); default: all the catalogue names.
    cat : Catalogue, optional
        The store's catalogue, when the caller has read it (a query scanning a store
        batch by batch: a large store's catalogue takes a good part of a second to read).
    """
    root = Path(store)
    cat = catalogue(root) if cat is None else cat
    files = [str(p) for p in (cat.files(root) if files is None else files)]
    extra = [p for p in cat.partitioning if p not in schema.TABLE_SCHEMA]
    if not files:
        lf = schema.empty().with_columns(pl.lit(None, pl.String).alias(p) for p in extra).lazy()
    else:
        if all(e.labels == "dictionary" for e in cat.entries.values()):
            lf = pl.scan_parquet(files, hive_partitioning=True, hive_schema=hive_schema(cat.partitioning))
        else:  # parts written before labels were Categorical: every part's labels read as strings
            lf = pl.scan_parquet(files, hive_partitioning=True, hive_schema=hive_schema(cat.partitioning),
                                 schema=file_schema(cat.partitioning), missing_columns="insert",
                                 cast_options=pl.ScanCastOptions(categorical_to_string="allow"))
    lf = lf.select(*schema.TABLE_COLUMNS, *extra)
    if where is not None:
        lf = filtered(lf, where)
    return lf.with_columns(pl.col(DICTIONARY).cast(schema.LABEL)) if files else lf


def file_schema(partitioning: Sequence[str]) -> dict[str, pl.DataType]:
    """The columns of a part file as a scan of a store holding parts of both kinds
    (:attr:`Entry.labels`) reads them: labels as strings, so that the store reads as one;
    :func:`scan` encodes them after the filter."""
    return {c: (pl.String if t == schema.LABEL else t) for c, t in schema.TABLE_SCHEMA.items()
            if c not in partitioning}


#: Words that have no place in a filter (a filter is one expression, not a query).
_NOT_AN_EXPRESSION = re.compile(r"\b(select|from|union|join|with)\b|;|--|/\*", re.IGNORECASE)


def filtered(lf: pl.LazyFrame, where: str) -> pl.LazyFrame:
    """`lf` filtered by the SQL boolean expression `where`, parsed by polars SQL (never
    evaluated as Python). Only one expression over `lf`'s columns is accepted: no
    statement, subquery or comment.

    Raises
    ------
    WorkbenchError
        ``--where '...': ...`` saying what is wrong (not an expression, an unknown
        column, not a true/false condition).
    """
    text = where.strip()
    shown = f"--where {where!r}"
    if not text:
        raise WorkbenchError(f"{shown}: expected a condition such as \"host = 'x' and time >= '2024-01-01'\"")
    if m := _NOT_AN_EXPRESSION.search(text):
        raise WorkbenchError(f"{shown}: expected one condition over the table's columns, found {m.group(0)!r} "
                             "(no statements, subqueries or comments)")
    try:
        pl.sql_expr(text)  # one expression, or an error
    except Exception as exc:  # polars' SQL errors have several types
        raise WorkbenchError(f"{shown}: not a SQL condition: {_first_line(exc)}") from None
    # SQL's LIKE and string functions need strings: the dictionary-encoded labels the
    # condition names are compared as strings, then encoded again.
    columns = lf.collect_schema()
    used = [c for c in pl.sql_expr(text).meta.root_names() if columns.get(c) == schema.LABEL]
    ctx = pl.SQLContext(frames={"t": lf.with_columns(pl.col(used).cast(pl.String)) if used else lf})
    try:
        out = ctx.execute(f"SELECT * FROM t WHERE {text}")
        out = out.with_columns(pl.col(used).cast(schema.LABEL)) if used else out
        out.collect_schema()
    except pl.exceptions.ColumnNotFoundError as exc:
        raise WorkbenchError(f"{shown}: unknown column ({_first_line(exc)}); columns: "
                             f"{', '.join(lf.collect_schema().names())}") from None
    except Exception as exc:
        raise WorkbenchError(f"{shown}: {_first_line(exc)}") from None
    return out


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def read(store: str | os.PathLike, where: str | None = None) -> pl.DataFrame:
    """The store (or the rows `where` selects) as one validated measurement table in memory."""
    lf = scan(store, where)
    return schema.validate(lf.select(schema.TABLE_COLUMNS).collect(engine="streaming"), source=str(store))


def metadata(store: str | os.PathLike) -> dict[str, Any]:
    """The metadata document of the whole store: the ``sources`` of every input."""
    sources: dict[str, dict[str, str]] = {}
    for e in catalogue(store).entries.values():
        for name, meta in e.sources.items():
            sources.setdefault(name, {}).update(meta)
    return {"sources": sources} if sources else {}


__all__ = ["AddResult", "CATALOGUE", "DEFAULT_PARTITIONS", "Entry", "PARTITION_KEYS", "add", "catalogue", "entries",
           "groups",
           "filtered", "is_store", "metadata", "read", "remove", "scan"]
