"""Reader for HPCC RandomAccess (GUPS) output: HPCC's ``hpccoutf.txt`` RandomAccess
sections and the stand-alone single-CPU ``gups`` logs (Felter et al. 2014).

Format (HPCC's ``RandomAccess/core_single_cpu.c``, which the Felter study's ``gups.c``
keeps; one block per run, several runs per log)::

    Running gups with numaopts <  --physcpubind=0-31 --interleave=0,1  >, ...   (the study's script)
    Generated on 2014-07-12:16:19:40 GMT
    Main table size   = 2^33 = 8589934592 words
    Number of updates = 1000000000
    CPU time used  = 78.895082 seconds
    Real time used = 78.895083 seconds
    0.012675061 Billion(10^9) Updates    per second [GUP/s]
    Found 1 errors in 8589934592 locations (passed).

Stand-alone logs: one ``random_access_rate`` row (updates/s: GUP/s x 10^9,
``aggregate = single``) per GUP/s line, component ``memory``, ``run`` = its position in
the file. A run whose verification says ``(failed)`` is excluded with a warning naming
it (HPCC tolerates 1 % of the table in error and says "passed"; a failure means the
rate is not a result). The ``numactl`` options, table size and update count go to the
metadata.

HPCC's ``hpccoutf.txt`` prints such lines inside its ``Begin of MPIRandomAccess
section.`` (and Star, Single, ``_LCG``) blocks, but there they are one process's view
(StarRandomAccess's line is rank 0's; the result is the average over processes), so an
HPCC file is read from its ``Begin of Summary section.``: every
``<name>RandomAccess<variant>_GUPs=<value>`` becomes one row, component ``<name>RandomAccess
<variant>`` (``SingleRandomAccess``, ``StarRandomAccess_LCG``, ...), run 1; a variant whose
``..._Errors`` or ``..._ErrorsFraction`` says more than HPCC's 1 % is excluded with a warning.
``Hostname`` (the ``host``) and the HPCC version go to the metadata. HPCC's other results
(HPL, DGEMM, STREAM, PTRANS, FFT, network) are not read, with a warning saying so.
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

NAME = "gups"
_RATE = re.compile(r"^(\S+) Billion\(10\^9\) Updates\s+per second \[GUP/s\]$", re.ASCII)
_RATE_PE = re.compile(r"Updates/PE\s+per second", re.ASCII)
_FOUND = re.compile(r"^Found (\S+) errors in (\S+) locations \((passed|failed)\)\.?$", re.ASCII)
_SECTION = re.compile(r"^Begin of (\w*RandomAccess\w*) section\.$", re.ASCII)
_SECTION_END = re.compile(r"^End of \w+ section\.$", re.ASCII)
_SUMMARY = re.compile(r"^Begin of Summary section\.$", re.ASCII)
_SUMMARY_GUPS = re.compile(r"^(\w*RandomAccess\w*?)_GUPs=(\S+)$", re.ASCII)
_SUMMARY_FRACTION = re.compile(r"^(\w*RandomAccess\w*?)_ErrorsFraction=(\S+)$", re.ASCII)
_HPCC_META = {
    "hpcc_version": re.compile(r"^This is the DARPA/DOE HPC Challenge Benchmark version (\S+)", re.ASCII),
    "hostname": re.compile(r"^Hostname: '(.*)'$", re.ASCII),
}
_META = {
    "numactl": re.compile(r"^Running gups with numaopts <\s*(.*?)\s*>", re.ASCII),
    "table_size": re.compile(r"^Main table size\s*=\s*(.*?)\s*words$", re.ASCII),
    "updates": re.compile(r"^Number of updates\s*=\s*(\d+)$", re.ASCII),
}


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse RandomAccess output into ``random_access_rate`` rows (see the module docstring)."""
    text = _text(data)
    lines = text.splitlines()
    summary = next((i for i, ln in enumerate(lines) if _SUMMARY.match(ln.strip())), None)
    if summary is not None:
        return _hpcc(lines, summary, source)
    metadata: dict[str, str] = {}
    runs: list[list] = []  # [line, rate, component, verdict]
    section: str | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if m := _SECTION.match(line):
            section = m.group(1)
        elif _SECTION_END.match(line):
            section = None
        elif _RATE_PE.search(line):
            continue
        elif m := _RATE.match(line):
            rate = _num(m.group(1), source, number, "a rate before 'Billion(10^9) Updates per second'")
            runs.append([number, rate * 1e9, section or "memory", None])
        elif m := _FOUND.match(line):
            if not runs or runs[-1][3] is not None:
                raise ParseError(source, number, "a '[GUP/s]' rate before the verification line", line)
            for text, what in ((m.group(1), "an error count after 'Found'"), (m.group(2), "a count of locations")):
                _numbers.to_int(text, source=source, line=number, what=what, minimum=0)
            runs[-1][3] = m.group(3)
        else:
            for key, pattern in _META.items():
                if (m := pattern.match(line)) and key not in metadata:
                    metadata[key] = m.group(1)
    if not runs:
        raise ParseError(source, len(lines) or 1, "a '<rate> Billion(10^9) Updates per second [GUP/s]' line",
                         "none (not RandomAccess output, or a run that did not finish)")
    rows = []
    for index, (line, rate, component, verdict) in enumerate(runs, 1):
        if verdict == "failed":
            warnings.warn(f"{source}: run {index} (line {line}) failed RandomAccess's verification; its rate is "
                          "excluded", ExcludedDataWarning, stacklevel=2)
            continue
        rows.append(dict(metric="random_access_rate", component=component, value=rate, aggregate="single",
                         run=index, source=NAME, source_file=source))
    return Parsed(schema.from_rows(rows), metadata)


def _hpcc(lines: list[str], summary: int, source: str) -> Parsed:
    """An HPCC output file: the RandomAccess values of its summary section."""
    metadata: dict[str, str] = {}
    for line in lines[:summary]:
        for key, pattern in _HPCC_META.items():
            if (m := pattern.match(line.strip())) and key not in metadata:
                metadata[key] = m.group(1)
    rates: dict[str, tuple[int, float]] = {}
    fractions: dict[str, float] = {}
    for number, raw in enumerate(lines[summary + 1:], summary + 2):
        line = raw.strip()
        if m := _SUMMARY_GUPS.match(line):
            rates[m.group(1)] = (number, _num(m.group(2), source, number, f"a number after '{m.group(1)}_GUPs='"))
        elif m := _SUMMARY_FRACTION.match(line):
            fractions[m.group(1)] = _num(m.group(2), source, number, f"a number after '{m.group(1)}_ErrorsFraction='")
        elif line.startswith("End of Summary section"):
            break
    if not rates:
        raise ParseError(source, summary + 1, "'<name>RandomAccess_GUPs=<value>' lines in HPCC's summary section",
                         "none (RandomAccess was not run)")
    warnings.warn(f"{source}: an HPCC output file: only its RandomAccess results are read (HPL, DGEMM, STREAM, "
                  "PTRANS, FFT and the network results of its summary are not)", ExcludedDataWarning, stacklevel=3)
    rows = []
    for name, (number, gups) in rates.items():
        if fractions.get(name, 0.0) > 0.01:
            warnings.warn(f"{source}:{number}: {name} has {fractions[name]:.2%} of its table in error (HPCC allows "
                          "1 %); its rate is excluded", ExcludedDataWarning, stacklevel=3)
            continue
        rows.append(dict(metric="random_access_rate", component=name, value=gups * 1e9, aggregate="single", run=1,
                         host=metadata.get("hostname"), source=NAME, source_file=source))
    return Parsed(schema.from_rows(rows), metadata)


def _sniff(head: bytes) -> bool:
    head = head_bytes(head)
    return (b"Billion(10^9) Updates" in head or b"RandomAccess section." in head
            or b"DARPA/DOE HPC Challenge Benchmark" in head)


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".log", ".txt"),
                description="HPCC RandomAccess (GUPS) output: hpccoutf.txt sections and stand-alone gups logs")
