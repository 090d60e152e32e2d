"""A published study reproduced: its claims next to our verdicts, benchmark by benchmark.

A study file (TOML, beside the study's bundled data, e.g. ``data/felter2014/study.toml``)
names the paper, and per benchmark the experiment manifest that holds its data and the
claims the paper makes about it::

    [study]
    title = "An Updated Performance Comparison of Virtual Machines and Linux Containers"
    reference = "Felter, Ferreira, Rajamony, Rubio; IBM Research Report RC25482, 2014"

    [[benchmarks]]
    name = "STREAM"
    manifest = "../experiments/felter2014.toml"       # relative to the study file

    [[benchmarks.claims]]
    says = "no Docker overhead"                       # the paper's words
    condition = "docker"                              # compared with the manifest's baseline
    expect = "same"                                   # same | worse | better (than the baseline)
    metrics = ["stream_triad_bw"]                     # optional filters on the verdicts' cells:
    components = ["memory"]                           #   metrics, components, stages
    stages = ["32 threads"]
    # missing = "..."                                 # why the bundled data cannot speak to it

:func:`reproduce` opens each manifest, compares every condition with its baseline
(:func:`workbench.stats.compare_all`, Holm within the benchmark) and sets each claim
beside what the verdicts of its cells say (:func:`claims_table`): **agrees** (every cell
detectably worse/better as claimed, or for "same" no detectable difference in any),
**partly** (some cells), **contradicts** (a detectable difference the other way, or for
"same" one at all), **not confirmed** (no detectable difference where one is claimed),
or **cannot tell** (too few runs: the descriptive changes are shown, not judged). "No
detectable difference" is not proof of sameness: the row gives the change the data
could have detected.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from . import experiment, stats
from .errors import ManifestError
from .schema import Direction, metric

EXPECTATIONS = ("same", "worse", "better")
_STUDY_KEYS = {"title", "reference", "note"}
_BENCHMARK_KEYS = {"name", "manifest", "claims", "note"}
_CLAIM_KEYS = {"says", "condition", "expect", "metrics", "components", "stages", "missing"}


@dataclass(frozen=True)
class Claim:
    """One claim of the paper about one condition against the baseline."""

    says: str
    condition: str
    expect: str
    metrics: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    missing: str = ""  #: why the bundled data cannot speak to the claim (then no cell may match)

    def matches(self, c: stats.Comparison) -> bool:
        cell = dict(c.cell)
        return (c.treatment.condition == self.condition
                and (not self.metrics or c.metric in self.metrics)
                and (not self.components or cell.get("component") in self.components)
                and (not self.stages or cell.get("stage") in self.stages))


@dataclass(frozen=True)
class Benchmark:
    """A benchmark of the study: its name, manifest and claims."""

    name: str
    manifest: Path
    claims: tuple[Claim, ...]
    note: str = ""


@dataclass(frozen=True)
class Study:
    """A parsed study file."""

    path: Path
    title: str
    reference: str
    benchmarks: tuple[Benchmark, ...]
    note: str = ""


@dataclass(frozen=True)
class Finding:
    """One benchmark reproduced: its dataset's title, the verdicts, and the claims beside them."""

    benchmark: Benchmark
    title: str
    result: stats.ComparisonSet
    claims: pl.DataFrame
    #: the benchmark's table, for time series (dstat captures) drawn beside the verdicts
    table: pl.DataFrame | None = None


def load(path: str | Path) -> Study:
    """Read and check a study file.

    Raises
    ------
    ManifestError
        Naming the study file and the entry at fault.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(path, "file", "no such study file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(path, "file", f"not a TOML study file ({exc})") from None
    unknown = set(doc) - {"study", "benchmarks"}
    if unknown:
        raise ManifestError(path, f"[{sorted(unknown)[0]}]", "unknown section; a study has [study] and [[benchmarks]]")
    head = doc.get("study", {})
    _keys(path, "[study]", head, _STUDY_KEYS)
    if not isinstance(head.get("title"), str):
        raise ManifestError(path, "[study]", "needs a title")
    benchmarks = []
    entries = doc.get("benchmarks")
    if not isinstance(entries, list) or not entries:
        raise ManifestError(path, "[[benchmarks]]", "a study needs at least one benchmark")
    for number, entry in enumerate(entries, 1):
        where = f"benchmark #{number}"
        _keys(path, where, entry, _BENCHMARK_KEYS)
        for key in ("name", "manifest"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ManifestError(path, where, f"needs '{key}' (a string)")
        manifest = (path.parent / entry["manifest"]).resolve()
        if not manifest.is_file():
            raise ManifestError(path, f"{where} ({entry['name']})", f"manifest {entry['manifest']} does not exist")
        claims = []
        for k, spec in enumerate(entry.get("claims", []), 1):
            cwhere = f"{where} ({entry['name']}), claim #{k}"
            _keys(path, cwhere, spec, _CLAIM_KEYS)
            for key in ("says", "condition", "expect"):
                if not isinstance(spec.get(key), str) or not spec[key].strip():
                    raise ManifestError(path, cwhere, f"needs '{key}' (a string)")
            if spec["expect"] not in EXPECTATIONS:
                raise ManifestError(path, cwhere, f"'expect' must be one of {', '.join(EXPECTATIONS)}, "
                                    f"found {spec['expect']!r}")
            lists = {}
            for key in ("metrics", "components", "stages"):
                value = spec.get(key, [])
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ManifestError(path, cwhere, f"'{key}' must be a list of strings")
                lists[key] = tuple(value)
            missing = spec.get("missing", "")
            if not isinstance(missing, str):
                raise ManifestError(path, cwhere, "'missing' must be a string (why the data cannot speak to it)")
            claims.append(Claim(spec["says"], spec["condition"], spec["expect"], **lists, missing=missing))
        benchmarks.append(Benchmark(entry["name"], manifest, tuple(claims), entry.get("note", "")))
    return Study(path, head["title"], head.get("reference", ""), tuple(benchmarks), head.get("note", ""))


def reproduce(study: Study, **compare: Any) -> list[Finding]:
    """Each benchmark's verdicts (:func:`workbench.stats.compare_all` with `compare`'s keywords)
    and its claims beside them, in the study's order.

    Raises
    ------
    ManifestError
        A claim whose condition the manifest does not declare, or that matches no verdict.
    """
    findings = []
    for bench in study.benchmarks:
        dataset = experiment.open(bench.manifest)
        result = stats.compare_all(dataset.table, baseline=dataset.baseline, **compare)
        for number, claim in enumerate(bench.claims, 1):
            matched = any(claim.matches(c) for c in result)
            if not matched and not claim.missing:
                raise ManifestError(study.path, f"{bench.name}, claim #{number}",
                                    f"no verdict of condition '{claim.condition}' matches its filters")
            if matched and claim.missing:
                raise ManifestError(study.path, f"{bench.name}, claim #{number}",
                                    "says the data are missing ('missing'), but verdicts match it")
        findings.append(Finding(bench, dataset.title, result, claims_table(result, bench.claims), dataset.table))
    return findings


def claims_table(result: stats.ComparisonSet, claims: tuple[Claim, ...] | list[Claim]) -> pl.DataFrame:
    """One row per claim: what the paper says, the cells it covers, what we find, agreement."""
    rows = []
    for claim in claims:
        cells = [c for c in result if claim.matches(c)]
        found = f"no data: {claim.missing}" if claim.missing else _find(cells)
        agreement = "cannot tell (no data)" if claim.missing else _agreement(claim.expect, cells)
        rows.append({"paper says": claim.says, "condition": claim.condition,
                     "against": result.baseline, "cells": len(cells), "we find": found, "agreement": agreement})
    return pl.DataFrame(rows, schema={"paper says": pl.String, "condition": pl.String, "against": pl.String,
                                      "cells": pl.Int64, "we find": pl.String, "agreement": pl.String})


def summary_table(findings: list[Finding]) -> pl.DataFrame:
    """All benchmarks' claims in one table, the benchmark first."""
    frames = [f.claims.select(pl.lit(f.benchmark.name).alias("benchmark"), pl.all()) for f in findings]
    return pl.concat(frames) if frames else pl.DataFrame()


def headline(findings: list[Finding]) -> str:
    """One line for the reports' index: how many of the paper's claims we reproduce
    ("10 claims: 5 agree, 1 partly, 1 contradicts, 3 cannot tell")."""
    table = summary_table(findings)
    if table.is_empty():
        return "no claims"
    words = table["agreement"].str.extract(r"^(\w+(?: tell)?)").to_list()
    counts = {w: words.count(w) for w in dict.fromkeys(words)}
    plural = {"agrees": "agree", "contradicts": "contradict"}
    order = ["agrees", "partly", "contradicts", "cannot tell"]
    parts = [f"{counts[w]} {plural.get(w, w) if counts[w] > 1 else w}" for w in order if w in counts]
    parts += [f"{n} {w}" for w, n in counts.items() if w not in order]
    return f"{table.height} claims of the paper: " + ", ".join(parts)


def _outcome(c: stats.Comparison) -> str:
    """``worse``, ``better``, ``different`` (a metric with no better side), ``none``
    (tested, no detectable difference) or ``untested``."""
    if c.status is not stats.Status.TESTED:
        return "untested"
    if not c.significant:
        return "none"
    direction = metric(c.metric, c.unit).direction
    higher = (c.ratio.value > 1) if c.relative else (c.difference.value > 0)
    if direction is Direction.HIGHER:
        return "better" if higher else "worse"
    if direction is Direction.LOWER:
        return "worse" if higher else "better"
    return "different"


def _change(c: stats.Comparison) -> float:
    return (c.ratio.value - 1) * 100


def _find(cells: list[stats.Comparison]) -> str:
    if not cells:
        return "no cell"
    outcomes = [_outcome(c) for c in cells]
    changes = [_change(c) for c in cells]
    span = (f"{changes[0]:+.1f} %" if len(changes) == 1
            else f"{min(changes):+.1f} % to {max(changes):+.1f} %")
    n = len(cells)
    if all(o == "untested" for o in outcomes):
        runs = sorted({min(c.baseline.runs, c.treatment.runs) for c in cells})
        worse = sum(1 for c in cells if _descriptive(c) == "worse")
        return (f"insufficient data ({'/'.join(map(str, runs))} run(s) per condition); descriptively worse in "
                f"{worse} of {n} cell(s), change of the mean {span}")
    parts = []
    for label in ("worse", "better", "different", "none", "untested"):
        k = outcomes.count(label)
        if k:
            words = {"none": "no detectable difference", "untested": "insufficient data",
                     "different": "detectably different"}.get(label, f"detectably {label}")
            parts.append(f"{words} in {k} of {n}")
    detectable = [c.detectable_change for c in cells if _outcome(c) == "none" and c.detectable_change]
    tail = f"; the data could detect about {max(detectable) * 100:.1f} %" if detectable else ""
    mixed = len(set(outcomes)) > 1
    where = "; ".join(f"{_where(c)}: {_outcome(c)} {_change(c):+.1f} %" for c in cells
                      if mixed and _outcome(c) in ("worse", "better", "different"))
    return f"{', '.join(parts)}{f' ({where})' if where else ''}; change of the mean {span}{tail}"


def _where(c: stats.Comparison) -> str:
    cell = dict(c.cell)
    return ", ".join(str(cell[k]) for k in ("metric", "component", "stage") if cell.get(k) is not None)


def _descriptive(c: stats.Comparison) -> str:
    direction = metric(c.metric, c.unit).direction
    if c.ratio.value == 1 or direction not in (Direction.HIGHER, Direction.LOWER):
        return "same"
    return "better" if (c.ratio.value > 1) == (direction is Direction.HIGHER) else "worse"


def _agreement(expect: str, cells: list[stats.Comparison]) -> str:
    outcomes = [_outcome(c) for c in cells]
    tested = [o for o in outcomes if o != "untested"]
    if not tested:
        return "cannot tell (too few runs)"
    if expect == "same":
        differing = sum(o != "none" for o in tested)
        if differing == 0:
            return "agrees (no detectable difference)"
        return "contradicts" if differing == len(tested) else "partly"
    opposite = "better" if expect == "worse" else "worse"
    hits = tested.count(expect)
    if hits == len(tested):
        return "agrees"
    if hits:
        return "partly"
    if opposite in tested:
        return "contradicts"
    return "not confirmed (no detectable difference)"


def _keys(path: Path, where: str, spec: Any, allowed: set[str]) -> None:
    if not isinstance(spec, dict):
        raise ManifestError(path, where, f"must be a table, found {spec!r:.60}")
    unknown = set(spec) - allowed
    if unknown:
        raise ManifestError(path, where, f"unknown key '{sorted(unknown)[0]}' (known: {', '.join(sorted(allowed))})")
