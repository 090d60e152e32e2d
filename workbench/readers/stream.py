"""Reader for the output of McCalpin's STREAM benchmark (``stream.c``).

Format (what ``stream.c`` prints, several runs may follow each other in one log):
a preamble (``STREAM version $Revision: 5.10 $`` in 5.x; ``This system uses 8 bytes
per DOUBLE PRECISION word.``; ``Array size = N`` (5.10 adds ``(elements)``); ``Number
of Threads requested = T`` and/or ``Number of Threads counted = T`` with OpenMP),
then a results table whose header names the rate unit, then one line per kernel and
a validation line::

    Function    Best Rate MB/s  Avg time     Min time     Max time     (5.10)
    Function      Rate (MB/s)   Avg time     Min time     Max time     (5.8 and earlier)
    Function      Rate (GB/s)   Avg time     Min time     Max time     (Felter et al. 2014 logs)
    Copy:          40.0956       0.6669       0.6585       0.6740
    ...
    Solution Validates                        (or "Failed Validation on array ...")

The rate column is the *best* of N trials (``Each test is run 10 times, but only
the *best* time for each is used``), hence ``aggregate = best``. stream.c computes
rates as ``1.0E-06 * bytes / time`` (MB = 10^6 bytes), and the GB/s variant 10^9.

Emits one row per kernel and run: ``stream_copy_bw`` ... ``stream_triad_bw`` in
bytes/s, component ``memory``, ``run`` = position of the run in the file (1-based),
``stage = "<T> threads"`` when the thread count is printed (threads are an
experimental factor, not noise). A run that failed validation is excluded with a
warning naming it: its rates are not results.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

from .. import schema
from ..errors import ExcludedDataWarning, ParseError
from . import Parsed, _numbers

NAME = "stream"
KERNELS = {"Copy": "stream_copy_bw", "Scale": "stream_scale_bw", "Add": "stream_add_bw",
           "Triad": "stream_triad_bw"}

# A new run starts at any of these once the current run has results.
_RUN_START = re.compile(r"^(Running stream|STREAM version|This system uses [0-9]+ bytes)")
_HEADER = re.compile(r"^Function\s+(?:Best\s+)?Rate\s*\(?\s*(MB|GB)/s\)?\s+Avg time\s+Min time\s+Max time")
_RESULT = re.compile(r"^(Copy|Scale|Add|Triad):\s+(.*)$")
_NUMBER = _numbers.UNSIGNED
_FIELDS = re.compile(rf"^({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s+({_NUMBER})\s*$")
_HEADER_ANYWHERE = re.compile(_HEADER.pattern, re.M)
_THREADS = re.compile(r"^Number of Threads (requested|counted)\s*=\s*([0-9]+)")
_ARRAY = re.compile(r"^Array size\s*=\s*([0-9]+)")
_FACTOR = {"MB": 1e6, "GB": 1e9}


@dataclass
class _Run:
    first_line: int
    threads: dict[str, int] = field(default_factory=dict)
    array_size: int | None = None
    factor: float | None = None
    rates: dict[str, float] = field(default_factory=dict)
    last_result_line: int = 0
    validated: bool | None = None
    #: the run printed what only a validating stream.c prints (5.x's version line,
    #: "Results Comparison"): its validation line must follow its results
    validates: bool = False

    @property
    def stage(self) -> str | None:
        # "counted" is what OpenMP really ran with; "requested" what was asked for.
        n = self.threads.get("counted", self.threads.get("requested"))
        return None if n is None else f"{n} thread{'' if n == 1 else 's'}"


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse a STREAM log (one or several runs) into ``stream_*_bw`` rows (no metadata:
    what stream.c prints besides rates, threads and array size, is in the rows)."""
    text = data.decode("utf-8", errors="replace")
    runs: list[_Run] = []
    run = _Run(first_line=1)
    lines = text.splitlines()
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if _RUN_START.match(line) and run.rates:
            runs.append(_finish(run, source, number - 1))
            run = _Run(first_line=number)
        if line.startswith(("STREAM version", "Results Comparison")):
            run.validates = True
        if m := _THREADS.match(line):
            run.threads[m.group(1)] = _numbers.to_int(m.group(2), source=source, line=number, what="a thread count",
                                                      maximum=_numbers.INT32[1])
        elif m := _ARRAY.match(line):
            run.array_size = _numbers.to_int(m.group(1), source=source, line=number, what="an array size")
        elif m := _HEADER.match(line):
            run.factor = _FACTOR[m.group(1)]
        elif m := _RESULT.match(line):
            kernel, rest = m.groups()
            if run.factor is None:
                raise ParseError(source, number, "the 'Function ... Rate' table header before results",
                                 line)
            fields = _FIELDS.match(rest.strip())
            if fields is None:
                raise ParseError(source, number, f"a rate and three times after '{kernel}:'", rest.strip())
            if kernel in run.rates:
                raise ParseError(source, number, f"one '{kernel}:' line per run", "a second one")
            run.rates[kernel] = _numbers.to_float(fields.group(1), source=source, line=number,
                                                  what=f"the {kernel} rate") * run.factor
            run.last_result_line = number
        elif line.startswith("Solution Validates"):
            run.validated = True
        elif line.startswith("Failed Validation"):
            run.validated = False
    # The last run is kept or refused, never dropped: a log cut after a run's first line
    # (or inside its results) raises in _finish, naming where the run started.
    runs.append(_finish(run, source, len(lines)))
    validating = any(r.validates or r.validated is not None for r in runs)
    for r in runs:
        if validating and r.validated is None:
            raise ParseError(source, r.last_result_line,
                             f"'Solution Validates' (or 'Failed Validation') after the results of the run starting "
                             f"at line {r.first_line}, as this stream.c prints", "none (a log cut before it?)")

    rows = []
    for index, r in enumerate(runs, 1):
        if r.validated is False:
            warnings.warn(f"{source}: run {index} (line {r.first_line}) failed STREAM's validation; "
                          "its rates are excluded", ExcludedDataWarning, stacklevel=2)
            continue
        for kernel, rate in r.rates.items():
            rows.append(dict(metric=KERNELS[kernel], component="memory", value=rate, aggregate="best",
                             run=index, stage=r.stage, source=NAME, source_file=source))
    return Parsed(schema.from_rows(rows))


def _finish(run: _Run, source: str, line: int) -> _Run:
    missing = [k for k in KERNELS if k not in run.rates]
    if not run.rates and run.first_line > 1:
        raise ParseError(source, line, f"STREAM results for the run starting at line {run.first_line}",
                         "none (the log ends inside that run: truncated?)")
    if not run.rates:
        raise ParseError(source, line, "STREAM results ('Copy:', 'Scale:', 'Add:', 'Triad:' lines)",
                         "none (not a STREAM log, or truncated before its results)")
    if missing:
        raise ParseError(source, line,
                         f"results for {', '.join(KERNELS)} in the run starting at line {run.first_line}",
                         f"no '{missing[0]}:' line (truncated run?)")
    return run


def _sniff(head: bytes) -> bool:
    return (b"STREAM version" in head or b"bytes per DOUBLE PRECISION word" in head
            or _HEADER_ANYWHERE.search(head.decode("latin-1")) is not None)


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".log", ".txt"),
                description="McCalpin STREAM (stream.c) output, one or several runs")
