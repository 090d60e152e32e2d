"""Reader for Intel's Optimized LINPACK Benchmark output (``xlinpack_xeon64``, the
``runme_xeon64`` script; the Felter et al. 2014 logs).

Format (one block per invocation, several per log; the study's script separates
them with ``Running linpack ...`` lines)::

    Intel(R) Optimized LINPACK Benchmark data
    CPU frequency:    3.098 GHz
    Number of CPUs: 2
    Number of cores: 16
    Number of threads: 32
    ...
    =================== Timing linear equation system solver ===================

    Size   LDA    Align. Time(s)    GFlops   Residual     Residual(norm) Check
    45000  45000  1      209.091    290.5634 1.876477e-09 3.301464e-02   pass
    ...
    Performance Summary (GFlops)
    Size   LDA    Align.  Average  Maximal
    45000  45000  1       290.5634 290.5634

Emits one ``flops`` row (flop/s: GFlops x 10^9, ``aggregate = single``) per trial line
of the timing table, component ``N=<size>``, ``run`` = the trial's position in the
file (each trial is a full solve). The residuals are a correctness check, read as
their ``pass``/``fail``: a trial that fails is excluded with a warning. The summary
table is not read (its average and maximum are of the trials above). An invocation that
printed its table header but no trial (killed) yields nothing, with a warning. The
first CPU frequency and CPU/core/thread counts go to the metadata.
"""
from __future__ import annotations

import re
import warnings

from .. import schema
from ..errors import ExcludedDataWarning, ParseError
from . import Parsed, _numbers
from ._bench import head_bytes
from ._bench import number as _num
from ._bench import text as _text

NAME = "linpack"
_TABLE = re.compile(r"^Size\s+LDA\s+Align\.\s+Time\(s\)\s+GFlops\s+Residual\s+Residual\(norm\)\s+Check$")
_SUMMARY = re.compile(r"^Performance Summary \(GFlops\)")
# The size is read (readers._numbers: its message names a non-ASCII digit), LDA and the
# alignment are only matched (ASCII: re.ASCII keeps \d and \s from taking other scripts).
_ROW = re.compile(r"^(\S+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(pass|fail)\w*$", re.I | re.ASCII)
_META = {
    "cpu_frequency": re.compile(r"^CPU frequency:\s*(.*)$"),
    "cpus": re.compile(r"^Number of CPUs:\s*(\d+)", re.ASCII),
    "cores": re.compile(r"^Number of cores:\s*(\d+)", re.ASCII),
    "threads": re.compile(r"^Number of threads:\s*(\d+)", re.ASCII),
}


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse Intel LINPACK output into ``flops`` rows (see the module docstring)."""
    text = _text(data)
    lines = text.splitlines()
    metadata: dict[str, str] = {}
    rows: list[dict] = []
    in_table = False
    table_line = 0
    trials = 0
    empty_tables: list[int] = []
    run = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if _TABLE.match(line):
            if in_table and trials == 0:
                empty_tables.append(table_line)
            in_table, table_line, trials = True, number, 0
            continue
        if in_table and (_SUMMARY.match(line) or line.startswith("-----") or line.startswith("Running linpack")):
            if trials == 0:
                empty_tables.append(table_line)
            in_table = False
            continue
        if in_table and line:
            m = _ROW.match(line)
            if m is None:
                raise ParseError(source, number, "a trial line 'Size LDA Align. Time(s) GFlops Residual "
                                 "Residual(norm) Check'", line)
            trials += 1
            run += 1
            gflops = _num(m.group(5), source, number, "GFlops (the fifth column)")
            if m.group(8).lower() != "pass":
                warnings.warn(f"{source}: trial at line {number} failed LINPACK's residual check; excluded",
                              ExcludedDataWarning, stacklevel=2)
                continue
            size = _numbers.to_int(m.group(1), source=source, line=number, what="a problem size (first column)",
                                   minimum=1)
            component = f"N={size}"
            base = dict(component=component, aggregate="single", run=run, source=NAME, source_file=source)
            rows.append({**base, "metric": "flops", "value": gflops * 1e9})
            continue
        for key, pattern in _META.items():
            if (m := pattern.match(line)) and key not in metadata:
                metadata[key] = m.group(1).strip()
    if in_table and trials == 0:
        empty_tables.append(table_line)
    if not rows and not run:
        raise ParseError(source, len(lines) or 1, "a LINPACK timing table ('Size LDA Align. Time(s) GFlops ...') "
                         "with trial lines", "none (not LINPACK output, or every run was interrupted)")
    if empty_tables:
        shown = ", ".join(str(n) for n in empty_tables)
        warnings.warn(f"{source}: {len(empty_tables)} timing table(s) without a trial (line {shown}): interrupted "
                      "runs, nothing read from them", ExcludedDataWarning, stacklevel=2)
    return Parsed(schema.from_rows(rows), metadata)


def _sniff(head: bytes) -> bool:
    head = head_bytes(head)
    return b"Intel(R) Optimized LINPACK Benchmark" in head or b"Timing linear equation system solver" in head


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".log", ".txt"),
                description="Intel Optimized LINPACK Benchmark output (xlinpack_xeon64 / runme_xeon64)")
