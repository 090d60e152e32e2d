"""hyperfine ``--export-json`` files (sharkdp/hyperfine; layout of 1.15, the sample's writer).

Format::

    {"results": [{"command": "sort", "mean": ..., "stddev": ..., "median": ..., "user": ...,
                  "system": ..., "min": ..., "max": ...,
                  "times": [0.00100, ...],            # one wall-clock time per run, seconds
                  "exit_codes": [0, ...],             # one per run (1.13+)
                  "parameters": {"n": "1000"},        # with --parameter-scan/-list
                  "memory_usage_byte": [...]},        # one per run (1.19+)
                 ...]}

Each entry of ``times`` is one execution of the command, a separate process: it becomes a
run (``run`` 1..N in the file's order) of ``bench_time`` (seconds, ``aggregate = single``)
with the command as ``component``, so runs on two machines (two files, labelled by a
manifest) are compared per command. With ``command_as_condition=True`` (the usual
single-file comparison, ``hyperfine 'a' 'b'``) the command becomes the ``condition`` and
the component is ``hyperfine``: ``workbench compare --baseline <command>`` gives our
verdicts on hyperfine's own comparison. A run whose exit code is not 0 (recorded with
``--ignore-failure``; null when a signal killed it) is excluded with a warning naming it. ``memory_usage_byte`` is kept as
the native metric ``hyperfine:memory_usage_byte`` (bytes). Means, deviations and the user
and system times (means over the runs, not per run) go to the metadata.
"""
from __future__ import annotations

import re
import warnings

from ... import schema
from ...errors import ExcludedDataWarning, NativeMetricWarning, ParseError
from .. import Parsed
from ._common import expect, gunzip_head, load_json, number, shown, timing_row

NAME = "hyperfine"
_SNIFF = re.compile(rb'\A\s*\{\s*"results"\s*:\s*\[\s*\{\s*"command"\s*:')
_SUMMARY = ("mean", "stddev", "median", "user", "system", "min", "max")


def sniff(head: bytes) -> bool:
    return _SNIFF.match(gunzip_head(head).removeprefix(b"\xef\xbb\xbf")) is not None


def parse(data: bytes, *, source: str, command_as_condition: bool = False) -> Parsed:
    """The runs of every command of a hyperfine JSON export (see the module docstring)."""
    doc = expect(load_json(data, source, "a hyperfine --export-json document"), dict, source, "document",
                 'the top level of a hyperfine export: an object with "results"')
    if "results" not in doc:
        raise ParseError(source, "document", 'a "results" array (hyperfine --export-json)',
                         f"keys {', '.join(map(shown, list(doc)[:8]))}")
    results = expect(doc["results"], list, source, '"results"', "the benchmarked commands")
    if not results:
        raise ParseError(source, '"results"', "at least one benchmarked command", "an empty array")
    rows, meta, failed, native = [], {"commands": str(len(results))}, [], False
    seen: set[str] = set()
    for i, result in enumerate(results, 1):
        where = f"results[{i - 1}]"
        result = expect(result, dict, source, where, "a command's result")
        command = expect(result.get("command"), str, source, f'{where}."command"', "the command")
        if not command.strip():
            raise ParseError(source, f'{where}."command"', "a command", "an empty string")
        if command in seen:
            raise ParseError(source, f'{where}."command"', "each command once", f"{shown(command)} twice")
        seen.add(command)
        if "times" not in result:
            raise ParseError(source, where, 'per-run "times" (what hyperfine --export-json writes)',
                             f"keys {', '.join(list(result)[:8])}")
        times = expect(result["times"], list, source, f'{where}."times"', "the runs' wall-clock times")
        codes = result.get("exit_codes")
        if codes is not None:
            codes = expect(codes, list, source, f'{where}."exit_codes"', "one exit code per run")
            if len(codes) != len(times):
                raise ParseError(source, f'{where}."exit_codes"', f"one exit code per run ({len(times)})",
                                 f"{len(codes)} exit codes")
        memory = result.get("memory_usage_byte")
        if memory is not None:
            memory = expect(memory, list, source, f'{where}."memory_usage_byte"', "one memory usage per run")
            if len(memory) != len(times):
                raise ParseError(source, f'{where}."memory_usage_byte"', f"one value per run ({len(times)})",
                                 f"{len(memory)} values")
        condition, component = (command, NAME) if command_as_condition else (None, command)
        for run, t in enumerate(times, 1):
            value = number(t, source, f'{where}."times"[{run - 1}]', "a run's wall-clock time in seconds")
            if codes is not None and codes[run - 1] != 0:  # null: killed by a signal
                code = codes[run - 1]
                failed.append(f"{shown(command)} run {run} ({'killed by a signal' if code is None else f'exit code {code!r}'})")
                continue
            rows.append(timing_row(metric="bench_time", component=component, condition=condition, value=value,
                                   run=run, source_name=NAME, source=source))
            if memory is not None:
                native = True
                rows.append(timing_row(metric=f"{NAME}:memory_usage_byte", unit="bytes", component=component,
                                       condition=condition, run=run, source_name=NAME, source=source,
                                       value=number(memory[run - 1], source, f'{where}."memory_usage_byte"[{run - 1}]',
                                                    "a run's peak memory in bytes")))
        meta[f"command.{i}"] = command
        meta[f"command.{i}.runs"] = str(len(times))
        for key in _SUMMARY:
            if isinstance(result.get(key), (int, float)) and not isinstance(result.get(key), bool):
                meta[f"command.{i}.{key}"] = repr(float(result[key]))
        if isinstance(result.get("parameters"), dict):
            meta.update({f"command.{i}.parameter.{k}": str(v) for k, v in result["parameters"].items()})
    if failed:
        warnings.warn(f"{source}: {len(failed)} run(s) with a non-zero exit code excluded: "
                      f"{'; '.join(failed[:5])}{'; ...' if len(failed) > 5 else ''}", ExcludedDataWarning, stacklevel=3)
    if native:
        warnings.warn(f"{source}: peak memory per run kept as the native metric {NAME}:memory_usage_byte (bytes)",
                      NativeMetricWarning, stacklevel=3)
    return Parsed(schema.from_rows(rows), meta)
