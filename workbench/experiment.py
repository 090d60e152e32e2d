"""Experiment manifests: labelled inputs -> one validated measurement table.

A manifest (TOML, under ``data/experiments/``) names the experiment, declares its
conditions and baseline, and lists input files with the labels every row read
from that file gets (DESIGN.md §5)::

    [experiment]
    id = "thesis-2015"
    title = "..."
    baseline = "virtualized"

    [defaults]                 # labels used where neither the input nor the file says
    host = "Athlon 64 X2 5200+"
    run = 1

    [conditions.virtualized]
    hypervisor = "VMware Workstation 10.0.3"

    [[inputs]]
    path = "../thesis/fig65_cpu_per_core.csv"   # relative to the manifest
    condition = "virtualized"                   # input labels override the file
    # format = "thesis"                         # optional: skips content detection
    # options = { timezone = "Europe/Madrid" }  # optional: the reader's options

    [levels]                   # optional: a multi-level design (workbench.levels)
    order = ["guest", "run"]   # label columns, outermost first, the run last
    costs = { guest = 300.0, run = 6.0 }   # optional: seconds to add one unit of a level

    [names]                    # identities a file knows only by UUID -> name
    "0b7a...-uuid" = "xenserver-host"
    "5c1d...-uuid" = "Control domain on host: xs62"   # xapi's dom0 name -> scope control-domain

Precedence for a label: the input entry, then what the file says, then
``[defaults]``, then the condition's ``hypervisor``. Every problem is a
:class:`~workbench.errors.ManifestError` naming the manifest and the entry.

This module holds manifests only; the workbench's own Parquet is
:mod:`workbench.storage`. :func:`open` is the one way notebooks and the CLI open
"a manifest or a stored table" (a :class:`Dataset`).
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from . import readers, schema, storage
from .errors import ManifestError, WorkbenchError

_SECTIONS = {"experiment", "defaults", "conditions", "inputs", "names", "levels"}
_LEVELS_KEYS = {"order", "costs"}
#: Label columns a design level may be (experiment and condition are not levels of variation).
LEVEL_COLUMNS = ("hypervisor", "host", "guest", "scope", "stage", "run")
_EXPERIMENT_KEYS = {"id", "title", "baseline", "description"}
_CONDITION_KEYS = {"hypervisor", "description"}
_INPUT_LABELS = tuple(k for k in schema.LABELS if k != "experiment")
_INPUT_KEYS = {"path", "format", "options", *_INPUT_LABELS}
#: A guest whose name starts so is dom0 (xapi's name_label for control domains).
CONTROL_DOMAIN_PREFIX = "Control domain on host"


@dataclass(frozen=True)
class Input:
    """One input file of an experiment and the labels its rows get."""

    path: Path
    labels: dict[str, Any]
    format: str | None = None
    entry: str = ""  #: how error messages name this entry
    options: dict[str, Any] = field(default_factory=dict)  #: reader options, e.g. timezone


@dataclass(frozen=True)
class Experiment:
    """A parsed manifest. :meth:`table` reads every input into one table."""

    manifest: Path
    id: str
    title: str
    baseline: str | None
    conditions: dict[str, dict[str, Any]]
    inputs: tuple[Input, ...]
    defaults: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    #: ``[levels] order``: a multi-level design's label columns, outermost first; () when not declared.
    levels: tuple[str, ...] = ()
    #: ``[levels] costs``: seconds to add one unit of a level, by level name.
    level_costs: dict[str, float] = field(default_factory=dict)

    @property
    def data_root(self) -> Path:
        """Where ``source_file`` paths are relative to: the nearest ``data/`` above the manifest."""
        for parent in self.manifest.resolve().parents:
            if parent.name == "data":
                return parent
        return self.manifest.resolve().parent

    def source_name(self, item: Input) -> str:
        """What ``source_file`` says for rows of `item`: its path below the data root,
        or its name when it lies elsewhere (never a machine-specific absolute path)."""
        try:
            return item.path.resolve().relative_to(self.data_root).as_posix()
        except ValueError:
            return item.path.name

    def table(self) -> pl.DataFrame:
        """Read all inputs, attach labels, check conditions; return one validated table."""
        return self.read()[0]

    def read(self) -> tuple[pl.DataFrame, dict[str, dict[str, str]]]:
        """``(table, sources)``: the validated table, and what each of its files says
        about its origin, keyed by ``source_file`` (the ``sources`` section of
        :func:`workbench.storage.write_table`'s metadata). Each file is parsed once."""
        sources: dict[str, dict[str, str]] = {}
        frames = list(self._frames(sources, whole=True))
        table = pl.concat(frames, how="vertical") if frames else schema.validate(self._finish(schema.empty()))
        return table, sources

    def pieces(self, sources: dict[str, dict[str, str]]) -> Iterator[pl.DataFrame]:
        """:meth:`read` in validated pieces (``readers.read_pieces`` of each input in turn:
        what ``workbench ingest`` writes as they come); `sources` is filled as they come,
        and complete once the last piece is out."""
        return self._frames(sources, whole=False)

    def _frames(self, sources: dict[str, dict[str, str]], *, whole: bool) -> Iterator[pl.DataFrame]:
        present: set[str] = set()
        for item in self.inputs:
            shown = self.source_name(item)
            kwargs = dict(format=item.format, source_file=shown, defaults=self.defaults, options=item.options,
                          **{"experiment": self.id, **item.labels})
            try:
                parts = [readers.read_file(item.path, **kwargs)] if whole else readers.read_pieces(item.path, **kwargs)
                for parsed in parts:
                    frame = parsed.table
                    _merge(sources, parsed.by_source())
                    conditions = set(frame["condition"].cast(pl.String).unique().to_list())
                    undeclared = conditions - set(self.conditions)
                    if undeclared:
                        raise ManifestError(self.manifest, item.entry, f"rows of condition '{sorted(undeclared)[0]}', "
                                                                       "which [conditions] does not declare")
                    present |= conditions
                    yield schema.validate(self._finish(frame), source=str(self.manifest))
            except ManifestError:
                raise
            except WorkbenchError as exc:
                raise ManifestError(self.manifest, item.entry, str(exc)) from exc
        for name in self.conditions:
            if name not in present:
                raise ManifestError(self.manifest, f"[conditions.{name}]",
                                    "condition has no inputs (no row of any input belongs to it)")

    def _finish(self, table: pl.DataFrame) -> pl.DataFrame:
        """What the manifest adds to an input's rows: hypervisors, [names], the control domain."""
        table = _apply_condition_hypervisors(table, self.conditions)
        if self.names:
            table = table.with_columns(pl.col(c).replace(self.names) for c in ("host", "guest"))
        # xapi names dom0 "Control domain on host: <host>" (its VM record's name_label): a
        # guest named so, by [names] or by the file, is the control domain (issue 4).
        return table.with_columns(scope=pl.when(pl.col("guest").cast(pl.String).str.starts_with(CONTROL_DOMAIN_PREFIX))
                                  .then(pl.lit("control-domain")).otherwise(pl.col("scope")))


def _merge(into: dict[str, dict[str, str]], more: dict[str, dict[str, str]]) -> None:
    for name, entry in more.items():
        into.setdefault(name, {}).update(entry)


def load(path: str | os.PathLike) -> Experiment:
    """Parse and check a manifest (files must exist; they are read by :meth:`Experiment.table`)."""
    manifest = Path(path)
    try:
        doc = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(manifest, "manifest", "no such file") from None
    except IsADirectoryError:
        raise ManifestError(manifest, "manifest", "is a directory, expected a TOML file") from None
    except OSError as exc:
        raise ManifestError(manifest, "manifest", f"cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(manifest, "manifest", f"not valid TOML ({exc})") from None

    _no_unknown(manifest, "top level", doc, _SECTIONS, "section")
    exp = doc.get("experiment")
    if not isinstance(exp, dict) or not isinstance(exp.get("id"), str) or not exp["id"].strip():
        raise ManifestError(manifest, "[experiment]", "needs a non-empty string 'id'")
    _no_unknown(manifest, "[experiment]", exp, _EXPERIMENT_KEYS, "key")

    defaults = doc.get("defaults", {})
    _no_unknown(manifest, "[defaults]", defaults, set(_INPUT_LABELS), "column")
    _check_types(manifest, "[defaults]", defaults)

    conditions = doc.get("conditions", {})
    if not conditions:
        raise ManifestError(manifest, "[conditions]", "declares no condition")
    if not isinstance(conditions, dict):
        raise ManifestError(manifest, "[conditions]", f"must be a table of conditions, found {conditions!r:.60}")
    for name, spec in conditions.items():
        _no_unknown(manifest, f"[conditions.{name}]", spec, _CONDITION_KEYS, "key")
    baseline = exp.get("baseline")
    if baseline is not None and baseline not in conditions:
        raise ManifestError(manifest, "[experiment] baseline",
                            f"baseline '{baseline}' is not a declared condition ({', '.join(conditions)})")

    raw_inputs = doc.get("inputs", [])
    if not isinstance(raw_inputs, list) or not all(isinstance(r, dict) for r in raw_inputs):
        raise ManifestError(manifest, "[[inputs]]", "must be an array of tables ([[inputs]] with path = ...), "
                                                    f"found {raw_inputs!r:.60}")
    if not raw_inputs:
        raise ManifestError(manifest, "[[inputs]]", "lists no input file")
    inputs = []
    for i, raw in enumerate(raw_inputs, 1):
        entry = f"input #{i}" + (f" (path = '{raw['path']}')" if isinstance(raw.get("path"), str) else "")
        if not isinstance(raw.get("path"), str):
            raise ManifestError(manifest, entry, "needs a string 'path'")
        _no_unknown(manifest, entry, raw, _INPUT_KEYS, "column")
        labels = {k: v for k, v in raw.items() if k in _INPUT_LABELS}
        _check_types(manifest, entry, labels)
        if "condition" in labels and labels["condition"] not in conditions:
            raise ManifestError(manifest, entry,
                                f"condition '{labels['condition']}' is not declared in [conditions] "
                                f"({', '.join(conditions)})")
        file = (manifest.parent / raw["path"])
        if not file.is_file():
            raise ManifestError(manifest, entry, f"file not found: {file}")
        fmt = raw.get("format")
        if fmt is not None and fmt not in readers.formats():
            raise ManifestError(manifest, entry,
                                f"format '{fmt}' is not registered ({', '.join(readers.formats())})")
        options = raw.get("options", {})
        if not isinstance(options, dict):
            raise ManifestError(manifest, entry, "'options' must be a table, e.g. options = { timezone = \"Europe/Madrid\" }")
        inputs.append(Input(file, labels, fmt, entry, options))

    names = doc.get("names", {})
    if not isinstance(names, dict) or not all(isinstance(v, str) for v in names.values()):
        raise ManifestError(manifest, "[names]", "maps identifiers to names: every value must be a string")
    order, costs = _levels(manifest, doc.get("levels"))
    return Experiment(manifest, exp["id"], exp.get("title", exp["id"]), baseline, conditions,
                      tuple(inputs), defaults, names, order, costs)


def _levels(manifest: Path, spec: Any) -> tuple[tuple[str, ...], dict[str, float]]:
    """``[levels]``: order (label columns, outermost first, ending with run) and costs."""
    if spec is None:
        return (), {}
    _no_unknown(manifest, "[levels]", spec, _LEVELS_KEYS, "key")
    order = spec.get("order")
    if not isinstance(order, list) or len(order) < 2 or not all(isinstance(n, str) for n in order):
        raise ManifestError(manifest, "[levels] order", "must list at least two label columns, outermost first, "
                                                        f"e.g. order = [\"guest\", \"run\"], found {order!r:.60}")
    for name in order:
        if name not in LEVEL_COLUMNS:
            raise ManifestError(manifest, "[levels] order",
                                f"'{name}' is not a label column that can be a level ({', '.join(LEVEL_COLUMNS)})")
    if len(set(order)) != len(order):
        raise ManifestError(manifest, "[levels] order", f"names a level twice: {order}")
    if order[-1] != "run":
        raise ManifestError(manifest, "[levels] order",
                            f"must end with 'run' (levels are declared above the run), found '{order[-1]}'")
    costs = spec.get("costs", {})
    if not isinstance(costs, dict):
        raise ManifestError(manifest, "[levels] costs", f"must be a table, e.g. costs = {{ guest = 300.0, run = 6.0 }}, "
                                                        f"found {costs!r:.60}")
    for name, cost in costs.items():
        if name not in order:
            raise ManifestError(manifest, "[levels] costs", f"'{name}' is not in [levels] order ({', '.join(order)})")
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not cost >= 0 or cost == float("inf"):
            raise ManifestError(manifest, "[levels] costs",
                                f"the cost of '{name}' must be a non-negative number of seconds, found {cost!r}")
    return tuple(order), {name: float(cost) for name, cost in costs.items()}


@dataclass(frozen=True)
class Dataset:
    """A measurement table opened for analysis, from a manifest or a stored table.

    Attributes
    ----------
    table : polars.DataFrame
        The validated measurement table.
    baseline : str or None
        The manifest's baseline condition (a stored table names none).
    title : str
        The manifest's title, or the table file's name without suffix.
    metadata : dict
        The metadata document (:mod:`workbench.storage`): a manifest's ``sources``
        (what each input file says), or what the table file stores.
    """

    table: pl.DataFrame
    baseline: str | None
    title: str
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The manifest's ``[levels]`` (order and costs); empty for a stored table.
    levels: tuple[str, ...] = ()
    level_costs: dict[str, float] = field(default_factory=dict)


def open(path: str | os.PathLike, *, where: str | None = None) -> Dataset:  # noqa: A001 - as polars/xarray name theirs
    """Open a manifest (``.toml``: read its inputs), a table the workbench wrote (Parquet)
    or a store (a folder :mod:`workbench.store` made; read into memory).

    The one way notebooks, reports and the CLI get a table to analyse. `where` keeps
    the rows where a SQL condition holds (:func:`workbench.store.filtered`), read
    lazily from a store.

    Raises
    ------
    ManifestError
        For a manifest that is wrong or names a file that does not read.
    WorkbenchError
        For a table file that is missing or not a workbench table (one line).
    """
    from . import store  # same layer; store imports this module for manifests

    path = Path(path)
    if store.is_store(path):
        return Dataset(store.read(path, where), None, path.name, store.metadata(path))
    if path.suffix == ".toml":
        exp = load(path)
        table, sources = exp.read()
        dataset = Dataset(table, exp.baseline, exp.title, {"sources": sources} if sources else {}, exp.levels,
                          exp.level_costs)
    else:
        table, metadata = storage.read_table_and_metadata(path)
        dataset = Dataset(table, None, path.stem, metadata)
    if where is None:
        return dataset
    kept = store.filtered(dataset.table.lazy(), where).collect()
    return replace(dataset, table=kept)


def _apply_condition_hypervisors(table: pl.DataFrame, conditions: dict[str, dict]) -> pl.DataFrame:
    mapping = {c: spec["hypervisor"] for c, spec in conditions.items() if "hypervisor" in spec}
    if not mapping:
        return table
    return table.with_columns(pl.col("hypervisor").fill_null(
        pl.col("condition").replace_strict(mapping, default=None, return_dtype=pl.String)))


def _no_unknown(manifest: Path, entry: str, table: Any, allowed: set[str], what: str) -> None:
    if not isinstance(table, dict):
        raise ManifestError(manifest, entry, f"expected a table, found {type(table).__name__}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ManifestError(manifest, entry,
                            f"unknown {what} '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")


def _check_types(manifest: Path, entry: str, labels: dict[str, Any]) -> None:
    for key, value in labels.items():
        if key == "run":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ManifestError(manifest, entry, f"'run' must be a non-negative integer, found {value!r}")
        elif not isinstance(value, str) or not value.strip():
            raise ManifestError(manifest, entry, f"'{key}' must be a non-empty string, found {value!r}")
        elif key == "scope" and value not in schema.SCOPES:
            raise ManifestError(manifest, entry, f"'scope' must be one of {', '.join(schema.SCOPES)}, found {value!r}")
