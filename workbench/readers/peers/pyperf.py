"""pyperf JSON files (psf/pyperf, "JSON format" version 1.0; pyperf 2.11's output in the samples).

Format (``python -m pyperf timeit -o f.json``, ``pyperformance run -o f.json``; ``.json.gz``
is gzip'd)::

    {"version": "1.0",
     "metadata": {"name": ..., "unit": "second", "loops": ..., "hostname": ..., ...},  # common
     "benchmarks": [{"metadata": {"name": ...},                  # a suite names each one
                     "runs": [{"metadata": {...}, "warmups": [[loops, value], ...]},   # calibration
                              {"metadata": {...}, "warmups": [...], "values": [v1, v2, ...]},
                              ...]}]}

A pyperf run is one worker process; its ``values`` are time per loop (pyperf normalizes by
loops and inner loops), and values of one process are not independent of each other (the
same process, the same memory layout and hash seeds: pyperf spawns processes for that
reason). So a pyperf run with values becomes a ``run`` (numbered 1..N among the runs with
values, calibration runs skipped) and its values are that run's samples; warmups are left
out, as pyperf leaves them out. Unit ``second`` -> ``bench_time``, component = the
benchmark's name; ``byte`` and ``integer`` benchmarks are kept as the native metric
``pyperf:<name>`` (``bytes``, ``1``). The common metadata (Python version, CPU, hostname,
...) goes to the file's metadata, prefixed ``pyperf.``.
"""
from __future__ import annotations

import re
import warnings

from ... import schema
from ...errors import NativeMetricWarning, ParseError
from .. import Parsed
from ._common import expect, gunzip_head, load_json, number, shown, timing_row

NAME = "pyperf"
_SNIFF = re.compile(rb'\A\s*\{\s*"benchmarks"\s*:\s*\[')
_UNITS = {"second": (None, None), "byte": ("bytes", None), "integer": ("1", None)}
VERSIONS = ("1.0",)


def sniff(head: bytes) -> bool:
    head = gunzip_head(head).removeprefix(b"\xef\xbb\xbf")
    return _SNIFF.match(head) is not None and b'"runs"' in head


def parse(data: bytes, *, source: str) -> Parsed:
    """The values of every benchmark of a pyperf JSON file (see the module docstring)."""
    doc = expect(load_json(data, source, "a pyperf JSON document"), dict, source, "document",
                 'the top level of a pyperf file: an object with "version" and "benchmarks"')
    version = doc.get("version")
    if version not in VERSIONS:
        raise ParseError(source, '"version"', f"pyperf's JSON format version {', '.join(VERSIONS)}",
                         shown(str(version)) if version is not None else "no version")
    common = expect(doc.get("metadata", {}), dict, source, '"metadata"', "the common metadata")
    benchmarks = expect(doc.get("benchmarks"), list, source, '"benchmarks"', "the benchmarks")
    if not benchmarks:
        raise ParseError(source, '"benchmarks"', "at least one benchmark", "an empty array")
    rows, native = [], {}
    names: set[str] = set()
    for b, bench in enumerate(benchmarks):
        where = f"benchmarks[{b}]"
        bench = expect(bench, dict, source, where, "a benchmark")
        meta = {**common, **expect(bench.get("metadata", {}), dict, source, f'{where}."metadata"', "its metadata")}
        name = meta.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ParseError(source, where, 'a benchmark name (metadata "name")', shown(str(name)))
        if name in names:
            raise ParseError(source, where, "each benchmark name once", f"{shown(name)} twice")
        names.add(name)
        unit = meta.get("unit", "second")
        if unit not in _UNITS:
            raise ParseError(source, f'{where} metadata "unit"', f"one of pyperf's units {', '.join(_UNITS)}",
                             shown(str(unit)))
        metric, table_unit = ("bench_time", None) if unit == "second" else (f"{NAME}:{name}", _UNITS[unit][0])
        if table_unit is not None:
            native[metric] = table_unit
        runs = expect(bench.get("runs"), list, source, f'{where}."runs"', "its runs")
        run = 0
        for r, entry in enumerate(runs):
            entry = expect(entry, dict, source, f"{where}.runs[{r}]", "a run")
            values = entry.get("values")
            if not values:  # a calibration run: warmups only
                continue
            values = expect(values, list, source, f'{where}.runs[{r}]."values"', "the run's values")
            run += 1
            for v, value in enumerate(values):
                x = number(value, source, f'{where}.runs[{r}]."values"[{v}]', f"a value in {unit}s")
                rows.append(timing_row(metric=metric, unit=table_unit, component=name, value=x, run=run,
                                       source_name=NAME, source=source))
        if run == 0:
            raise ParseError(source, f'{where}."runs"', f"runs with values for benchmark {shown(name)}",
                             f"{len(runs)} run(s) with warmups only")
    if native:
        warnings.warn(f"{source}: benchmarks not measured in seconds kept as native metrics: "
                      + ", ".join(f"{m} ({u})" for m, u in native.items()), NativeMetricWarning, stacklevel=3)
    metadata = {f"pyperf.{k}": str(v) for k, v in common.items() if isinstance(v, (str, int, float))}
    metadata["benchmarks"] = ", ".join(sorted(names))
    return Parsed(schema.from_rows(rows), metadata)
