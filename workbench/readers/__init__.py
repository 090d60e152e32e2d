"""Reader registry: formats register themselves; ``read()`` detects and reads.

Each reader module ends with a :func:`register_format` call (as meshio's format
modules do). A format is detected from the file's first bytes by its sniffer;
sniffers are tried in registration order, so a more specific signature must be
registered before a more general one. An explicit ``format=`` always wins over
detection, and failure lists the known formats.

Reader contract (DESIGN.md §6): ``parse(data: bytes, *, source: str, **options)``
is pure and returns a :class:`Parsed`: the measurement table (label columns
such as experiment, condition, host may be null where the file does not say) and
the file's metadata, from one pass over the file. :func:`read` attaches the
caller's labels and validates; :func:`read_file` also returns the metadata.

A reader of large inputs (RRD documents, CSV logs) also gives ``pieces(data, *,
source, rows, **options)``: the same table as consecutive pieces of about `rows` rows
(:func:`piece_rows`; None: as few pieces as the reader can, which its ``parse``
joins), so that :func:`read_pieces` and ``workbench ingest`` hold one piece at a time,
not the long table (issue 17: peak memory follows the piece, not the file). A piece
may be empty; an error may come with any piece (what came before it is then not a
table), and warnings about the whole file come after the last one.
"""
from __future__ import annotations

import inspect
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import polars as pl

from .. import schema
from ..errors import ParseError, RunLabelWarning, UnknownFormatError, WorkbenchError
from . import _describe

SNIFF_BYTES = 8192

#: Values used for required label columns that neither the file nor the caller gave.
DEFAULT_LABELS: dict[str, Any] = {
    "experiment": "adhoc",
    "condition": "unlabelled",
    "host": "unknown-host",
    "scope": "host",
    "run": 1,
}


@dataclass(frozen=True)
class Parsed:
    """What a reader's ``parse`` returns: the table and what the file says besides.

    Attributes
    ----------
    table : polars.DataFrame
        The measurement rows (from ``parse``: labels may be null; from
        :func:`read_file`: labelled and validated).
    metadata : dict[str, str]
        What the file says about its origin (product, version, machine, date, CPU,
        board, ...), which the table has no columns for (DESIGN.md §3).
    sources : dict[str, dict[str, str]]
        What the files this one was made from said, by ``source_file`` (a stored
        workbench table carries them; empty for every other format).
    """

    table: pl.DataFrame
    metadata: dict[str, str] = field(default_factory=dict)
    sources: dict[str, dict[str, str]] = field(default_factory=dict)

    def by_source(self) -> dict[str, dict[str, str]]:
        """The metadata keyed by ``source_file`` (as ``storage.write_table`` stores it):
        the carried :attr:`sources`, and :attr:`metadata` for every ``source_file`` of
        the table's rows (a capture's machine goes to each file its rows came from)."""
        out = {name: dict(entry) for name, entry in self.sources.items()}
        if self.metadata:
            for name in self.table["source_file"].drop_nulls().unique(maintain_order=True).to_list():
                out.setdefault(name, {}).update(self.metadata)
        return out


@dataclass(frozen=True)
class Format:
    """A registered input format."""

    name: str
    sniff: Callable[[bytes], bool]
    #: ``parse(data, *, source, **options) -> Parsed`` (see the module docstring).
    parse: Callable[..., Parsed]
    suffixes: tuple[str, ...] = ()
    description: str = ""
    #: ``pieces(data, *, source, rows, **options) -> Iterator[Parsed]`` for a reader that
    #: gives its table in pieces (see the module docstring); None: ``parse`` gives one piece.
    pieces: Callable[..., Iterator[Parsed]] | None = None


_FORMATS: dict[str, Format] = {}


def register_format(name: str, *, sniff: Callable[[bytes], bool], parse: Callable[..., Parsed],
                    suffixes: tuple[str, ...] = (), description: str = "",
                    pieces: Callable[..., Iterator[Parsed]] | None = None) -> Format:
    """Register a reader; a later registration with the same name replaces it."""
    fmt = Format(name, sniff, parse, tuple(suffixes), description, pieces)
    _FORMATS[name] = fmt
    return fmt


def formats() -> dict[str, Format]:
    """The registered formats, in detection order."""
    return dict(_FORMATS)


def detect(path: str | os.PathLike, head: bytes | None = None) -> Format:
    """Return the format of `path` from its content.

    Raises
    ------
    UnknownFormatError
        Listing every registered format.
    """
    data = None
    if head is None:
        data = _read_bytes(path)
        head = data[:SNIFF_BYTES]
    for fmt in _FORMATS.values():
        if fmt.sniff(head):
            return fmt
    raise UnknownFormatError(path, list(_FORMATS), _describe.describe(head, data),
                             {n: _FORMATS[n].description for n in _describe.closest(path, head, _FORMATS)})


def read(path: str | os.PathLike, *, format: str | None = None, source_file: str | None = None,
         defaults: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
         **labels: Any) -> pl.DataFrame:
    """Read one file into a validated measurement table.

    Parameters
    ----------
    path : str or PathLike
        The input file.
    format : str, optional
        A registered format name; skips detection.
    source_file : str, optional
        What to record in ``source_file`` (default: `path` as given).
    defaults : dict, optional
        Label values used only where the file does not say (e.g. a manifest's
        ``[defaults]``).
    options : dict, optional
        Keyword options of the format's reader, e.g. ``{"timezone": "Europe/Madrid"}``
        for an AIDA64 CSV log; an option the reader does not take is an error.
    **labels
        Values for the label columns (``schema.LABELS``); they override what the
        file says. Required labels nobody gave get :data:`DEFAULT_LABELS`.

    See Also
    --------
    read_file : the same table and the file's metadata, from the same one parse.
    """
    return read_file(path, format=format, source_file=source_file, defaults=defaults, options=options,
                     **labels).table


def read_file(path: str | os.PathLike, *, format: str | None = None, source_file: str | None = None,
              defaults: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
              **labels: Any) -> Parsed:
    """Read one file: its validated table and its metadata, from one parse.

    Parameters are those of :func:`read`. What the reader was told (`options`,
    e.g. a log's timezone) is added to the metadata as ``option.<name>``.

    Returns
    -------
    Parsed
        ``table`` (labelled, validated), ``metadata`` (string key-value pairs; empty
        when the file states nothing) and ``sources`` (carried by a stored table);
        :meth:`Parsed.by_source` keys it all by ``source_file``.
    """
    return next(_read(path, format, source_file, defaults, options, labels, whole=True))


def read_pieces(path: str | os.PathLike, *, format: str | None = None, source_file: str | None = None,
                defaults: dict[str, Any] | None = None, options: dict[str, Any] | None = None,
                **labels: Any) -> Iterator[Parsed]:
    """Read one file as consecutive validated pieces of its table (what ``workbench
    ingest`` writes as it reads; :func:`read_file` gives the same rows whole, from the
    reader's ``parse``).

    Parameters are those of :func:`read`. A format without ``pieces`` gives one piece.
    The labels, options and format are checked, and the file read and detected, before
    the first piece is asked for.

    Yields
    ------
    Parsed
        A labelled, validated piece (possibly empty) with the file's metadata.
    """
    return _read(path, format, source_file, defaults, options, labels, whole=False)


def _read(path: str | os.PathLike, format: str | None, source_file: str | None, defaults: dict[str, Any] | None,
          options: dict[str, Any] | None, labels: dict[str, Any], *, whole: bool) -> Iterator[Parsed]:
    """:func:`read_pieces` (`whole`: the reader's ``parse``, one piece); what can be checked
    before the file is parsed is checked before this returns."""
    unknown = sorted((set(labels) | set(defaults or ())) - set(schema.LABELS))
    if unknown:
        raise WorkbenchError(f"unknown label '{unknown[0]}'; labels are: {', '.join(schema.LABELS)}")
    schema.check_labels(labels)
    schema.check_labels(defaults or {}, source="defaults")
    data = _read_bytes(path)
    fmt = _format(path, data, format)
    shown = source_file if source_file is not None else str(path)
    options = options or {}
    checked = _checked_options(fmt, options)
    return _pieces(fmt, data, shown, checked, labels, defaults or {}, whole)


def _pieces(fmt: Format, data: bytes, shown: str, options: dict[str, Any], labels: dict[str, Any],
            defaults: dict[str, Any], whole: bool) -> Iterator[Parsed]:
    if fmt.pieces is None or whole:
        produced = iter((fmt.parse(data, source=shown, **options),))
    else:
        produced = fmt.pieces(data, source=shown, rows=piece_rows(len(data)), **options)
    del data  # the reader holds what it still needs
    given = False
    for parsed in produced:
        given = True
        if not isinstance(parsed, Parsed):  # checked where a plug-in's output enters (as benchopt does)
            raise TypeError(f"reader '{fmt.name}': parse() must return readers.Parsed(table, metadata), "
                            f"returned {type(parsed).__name__}")
        _check_finite(parsed.table, shown)
        frame = validate_labelled(parsed.table, labels, defaults, source=shown)
        metadata = {str(k): str(v) for k, v in parsed.metadata.items()}
        metadata.update({f"option.{k}": str(v) for k, v in options.items()})
        yield Parsed(frame, metadata, parsed.sources)
    if not given:  # at least one piece, if empty: the file's metadata and a table's columns
        yield Parsed(validate_labelled(schema.empty(), labels, defaults, source=shown),
                     {f"option.{k}": str(v) for k, v in options.items()})


#: Rows of a reader's piece: about the input's bytes / PIECE_BYTES_PER_ROW, within these bounds.
PIECE_ROWS_MIN, PIECE_ROWS_MAX = 1 << 16, 1 << 17
#: A piece's rows cost ~100 bytes each on their way to Parquet (every column materialized,
#: about two pieces in flight): one row per this many input bytes keeps them within
#: about the input's size.
PIECE_BYTES_PER_ROW = 256


def piece_rows(nbytes: int) -> int:
    """Rows per piece for an input of `nbytes`, between :data:`PIECE_ROWS_MIN` and
    :data:`PIECE_ROWS_MAX` rows. Measured (`workbench ingest`, peak RSS above start-up
    over the file): a 54 MB rrd_updates at 2.1x with 2^16-row pieces, 2.5x with 2^17,
    3.2x with 2^18 (2^17 took 1.8 s against 2.2 s for 2^16 in one run under load: each
    piece costs several ms of validation and writing whatever its size); a 61 MB AIDA64
    log at 2.8 / 3.2 / 3.6x.
    Below 2^16 rows a piece saves little memory (the polars runtime's own ~40 MB
    dominates) and costs time (a 4 MB log: 73 pieces of 2^14 rows, 1.4 s to ingest)."""
    return max(PIECE_ROWS_MIN, min(PIECE_ROWS_MAX, nbytes // PIECE_BYTES_PER_ROW))


def joined(pieces: Iterator[Parsed]) -> Parsed:
    """A ``parse`` result from a reader's ``pieces``: their tables concatenated, the last metadata."""
    got = list(pieces)
    if len(got) == 1:
        return got[0]
    if not got:
        return Parsed(schema.empty())
    return Parsed(pl.concat([p.table for p in got], rechunk=False), got[-1].metadata, got[-1].sources)


def _check_finite(frame: pl.DataFrame, source: str) -> None:
    """No infinity leaves a reader (issue 18), whatever it missed: a finite number the file
    states (1.7e308 MB) can still overflow once converted to canonical units (bytes).
    Readers name the line where they can; this net names the series."""
    for column in ("value", "interval"):
        if column not in frame.columns or not frame[column].dtype.is_float():
            continue
        infinite = frame[column].is_infinite().fill_null(False)
        if infinite.any():
            row = frame.row(int(infinite.arg_max()), named=True)
            raise ParseError(source, f"{row.get('metric')} '{row.get('component')}' at {row.get('time')}",
                             f"{'values' if column == 'value' else 'intervals'} within a double's range in canonical "
                             f"units", f"a number that overflows once converted to {row.get('unit')}")


def reader_options(fmt: Format) -> list[str]:
    """The keyword options a format's ``parse`` takes besides ``source``."""
    params = inspect.signature(fmt.parse).parameters.values()
    return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "source"]


def _checked_options(fmt: Format, options: dict[str, Any]) -> dict[str, Any]:
    known = reader_options(fmt)
    for name in options:
        if name not in known:
            takes = f"its options: {', '.join(known)}" if known else "it takes none"
            raise WorkbenchError(f"format '{fmt.name}' takes no option '{name}' ({takes})")
    return options


def validate_labelled(frame: pl.DataFrame, labels: dict[str, Any], defaults: dict[str, Any], *,
                      source: str) -> pl.DataFrame:
    """Attach `labels` (overriding the file), fill `defaults` where the file is silent, validate."""
    fills = {**DEFAULT_LABELS, **{k: v for k, v in defaults.items() if v is not None}}
    if labels.get("run") is not None and frame.height and frame["run"].drop_nulls().n_unique() > 1:
        runs = frame["run"].drop_nulls()
        warnings.warn(f"{source}: run = {labels['run']} overrides the file's runs {runs.min()}..{runs.max()}: "
                      "they become one run (samples of it), not replicates", RunLabelWarning, stacklevel=3)
    exprs = []
    for name in schema.LABELS:
        dtype = schema.SCHEMA[name]
        if name in labels and labels[name] is not None:
            exprs.append(pl.lit(labels[name], dtype=dtype).alias(name))
        elif name in fills:
            exprs.append(pl.col(name).fill_null(pl.lit(fills[name], dtype=dtype)))
    if frame.height:
        frame = frame.with_columns(exprs)
    # A reader may name the source of each row itself (a stored workbench table keeps
    # the files its rows came from); otherwise the rows come from this file.
    frame = frame.with_columns(pl.col("source_file").fill_null(pl.lit(source, dtype=schema.LABEL)))
    return schema.validate(frame, source=source)


def _format(path: str | os.PathLike, data: bytes, name: str | None) -> Format:
    """The format `name`, or the one detected from `data` when no name is given."""
    if name is None:
        try:
            return detect(path, data[:SNIFF_BYTES])
        except UnknownFormatError as exc:  # describe the whole document (a JSON object's keys)
            raise UnknownFormatError(path, exc.known, _describe.describe(data[:SNIFF_BYTES], data),
                                     exc.closest) from None
    if name not in _FORMATS:
        raise UnknownFormatError(path, list(_FORMATS), f"format '{name}' is not registered")
    return _FORMATS[name]


def _read_bytes(path: str | os.PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise WorkbenchError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise WorkbenchError(f"{path}: cannot read ({exc.strerror})") from None


# Built-in readers register on import. Order = detection order (most specific first),
# so the import sorter must leave these lines alone.
# isort: off
from . import thesis  # noqa: E402,F401  (our own CSV: exact header, most specific)
from . import azure_noise  # noqa: E402,F401  (exact CSV header 'value,runtime,starttime,VM_id')
from . import results_csv  # noqa: E402,F401  (a CSV header of the table's own columns: metric, value, unit)
from . import capture  # noqa: E402,F401
from . import table  # noqa: E402,F401  (Parquet magic: the workbench's own tables)
from . import everest  # noqa: E402,F401
from . import xen_rrd  # noqa: E402,F401
# gups before stream: an HPCC output file holds STREAM's table too
from . import gups  # noqa: E402,F401  ('Billion(10^9) Updates', HPCC's banner or a RandomAccess section)
from . import stream  # noqa: E402,F401
from . import vbench  # noqa: E402,F401  (its "vbench 1 begin" line, or the lab boot's header)
from . import pdh_csv  # noqa: E402,F401  (its quoted '(PDH-CSV' header cell)
from . import peers  # noqa: E402,F401  (JSON objects led by "results"/"benchmarks", <PhoronixTestSuite>)
from . import sysbench  # noqa: E402,F401  (a 'sysbench <version>' banner line)
from . import lmbench  # noqa: E402,F401  ('[lmbench' header or '"stride=' first)
from . import linpack  # noqa: E402,F401  ('Intel(R) Optimized LINPACK Benchmark')
from . import fio  # noqa: E402,F401  ('"fio version"' or a '(groupid=N, jobs=N): err=' job line)
from . import mlc  # noqa: E402,F401  ('Intel(R) Memory Latency Checker')
from . import sysstat  # noqa: E402,F401  ("# hostname;interval;timestamp;", {"sysstat":, <sysstat>)
from . import dstat  # noqa: E402,F401  (its first line "Dstat <version> CSV output")
# isort: on

__all__ = ["Format", "ParseError", "Parsed", "detect", "formats", "joined", "piece_rows", "read", "read_file",
           "read_pieces", "reader_options", "register_format", "validate_labelled"]
