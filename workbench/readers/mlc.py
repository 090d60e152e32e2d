"""Reader for Intel Memory Latency Checker (``mlc``) output, v3.x: the default run and
its single modes (``--idle_latency``, ``--peak_injection_bandwidth``, ``--bandwidth_matrix``,
``--loaded_latency``, ``--c2c_latency``).

Format (sections start with ``Measuring ...``; MLC states its units: latencies in ns,
"Bandwidths are in MB/sec (1 MB/sec = 1,000,000 Bytes/sec)")::

    Intel(R) Memory Latency Checker - v3.10
    Measuring idle latencies for random access (in ns)...
            Numa node
    Numa node         0         1
           0      89.2     142.7                 (row: the CPUs' node, column: the memory's node)
    Measuring Peak Injection Memory Bandwidths for the system
    ALL Reads        :    351762.1
    3:1 Reads-Writes :    313084.7
    Measuring Memory Bandwidths between nodes within system     (a node x node matrix, MB/s)
    Measuring Loaded Latencies for the system
    Inject    Latency    Bandwidth
    Delay    (ns)    MB/sec
     00000    264.04     351871.6
    Measuring cache-to-cache transfer latency (in ns)...
    Local Socket L2->L2 HIT  latency    60.1
    Remote Socket L2->L2 HITM latency (data address homed in writer socket)   (a writer x reader matrix)

Emits (``aggregate = single``, one run per file): ``mem_latency`` at ``memory`` = the idle
latency from node 0's CPUs to node 0's memory (local DRAM, what ``--idle_latency`` measures
by default) and ``mem_read_bw`` at ``memory`` = the peak injection bandwidth of "ALL
Reads"; everything as ``mlc:<name>`` too: ``mlc:idle_latency`` (component
``node<i>->node<j>``), ``mlc:peak_injection_bw`` (component the traffic, ``all reads``,
``3:1 reads-writes``, ...), ``mlc:bandwidth_matrix`` (``node<i>->node<j>``),
``mlc:loaded_latency`` and ``mlc:loaded_bw`` (component ``delay <n>``, MLC's injection
delay), ``mlc:c2c_latency`` (``local L2->L2 HIT``, ``remote HITM writer-homed
node<w>->node<r>``, ...). A matrix cell printed ``-`` is missing (NaN). The version and
MLC's notes (``*** ...``) go to the metadata.
"""
from __future__ import annotations

import math
import re

from .. import schema
from ..errors import ParseError
from . import Parsed, _numbers
from ._bench import head_bytes, warn_native
from ._bench import number as _num
from ._bench import text as _text

NAME = "mlc"
_BANNER = re.compile(r"^Intel\(R\) Memory Latency Checker - (v\S+)")
_MB = 1e6  # "1 MB/sec = 1,000,000 Bytes/sec", as MLC prints
_SECTIONS = (
    ("idle", re.compile(r"^Measuring idle latencies")),
    ("peak", re.compile(r"^Measuring Peak Injection Memory Bandwidths")),
    ("matrix", re.compile(r"^Measuring Memory Bandwidths between nodes")),
    ("loaded", re.compile(r"^Measuring Loaded Latencies")),
    ("c2c", re.compile(r"^Measuring cache-to-cache transfer latency")),
)
_HEADER = re.compile(r"^(?:Numa node|Writer Numa Node)\s+((?:\d+\s*)+)$")
_ROW = re.compile(r"^(\d+)\s+(.*)$")
_LOADED = re.compile(r"^(\d+)\s+(\S+)\s+(\S+)$")
_C2C = re.compile(r"^(Local|Remote) Socket (\S+) (HITM?)\s+latency\s+(\S+)$")
_C2C_TITLE = re.compile(r"^Remote Socket (\S+) (HITM?) latency \(data address homed in (writer|reader) socket\)$")


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse MLC output (see the module docstring)."""
    text = _text(data)
    lines = text.splitlines()
    metadata: dict[str, str] = {}
    rows: list[dict] = []
    section: str | None = None
    columns: list[str] | None = None
    c2c_title: str | None = None
    notes: list[str] = []

    def add(metric: str, component: str, value: float, unit: str | None = None) -> None:
        rows.append(dict(metric=metric, component=component, value=value, unit=unit, aggregate="single", run=1,
                         source=NAME, source_file=source))

    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            columns = None
            continue
        if m := _BANNER.match(line):
            metadata["version"] = m.group(1)
            continue
        if line.startswith("***"):
            notes.append(line.strip("* ").strip())
            continue
        started = next((name for name, pattern in _SECTIONS if pattern.match(line)), None)
        if started:
            section, columns, c2c_title = started, None, None
            continue
        if section is None:
            continue
        if m := _HEADER.match(line):
            columns = m.group(1).split()
            continue
        if section == "c2c" and (m := _C2C_TITLE.match(line)):
            c2c_title = f"remote {m.group(2)} {m.group(3)}-homed"
            continue
        if columns is not None and (m := _ROW.match(line)) and section in ("idle", "matrix", "c2c"):
            cells = m.group(2).split()
            if len(cells) != len(columns):
                raise ParseError(source, number, f"{len(columns)} values (one per node: {' '.join(columns)})",
                                 f"{len(cells)}: {line}")
            for node, cell in zip(columns, cells):
                value = math.nan if cell == "-" else _num(cell, source, number, "a number or '-' in the matrix")
                pair = f"node{m.group(1)}->node{node}"
                if section == "idle":
                    add("mlc:idle_latency", pair, value * schema.NS, "seconds")
                    if m.group(1) == "0" and node == "0":
                        add("mem_latency", "memory", value * schema.NS)
                elif section == "matrix":
                    add("mlc:bandwidth_matrix", pair, value * _MB, "bytes/s")
                else:
                    add("mlc:c2c_latency", f"{c2c_title or 'remote'} {pair}", value * schema.NS, "seconds")
            continue
        if section == "peak" and ":" in line and not line.startswith(("Bandwidths", "Using")):
            name, _, cell = line.rpartition(":")  # "3:1 Reads-Writes :<tab>313084.7"
            traffic = re.sub(r"\s+", " ", name.strip()).lower()
            value = _num(cell.strip(), source, number, f"MB/s after '{name.strip()}:'") * _MB
            add("mlc:peak_injection_bw", traffic, value, "bytes/s")
            if traffic == "all reads":
                add("mem_read_bw", "memory", value)
            continue
        if section == "loaded" and (m := _LOADED.match(line)):
            delay = str(_numbers.to_int(m.group(1), source=source, line=number, what="a delay in cycles (first column)"))
            add("mlc:loaded_latency", f"delay {delay}",
                _num(m.group(2), source, number, "a latency in ns (second column)") * schema.NS, "seconds")
            add("mlc:loaded_bw", f"delay {delay}",
                _num(m.group(3), source, number, "a bandwidth in MB/s (third column)") * _MB, "bytes/s")
            continue
        if section == "c2c" and (m := _C2C.match(line)):
            add("mlc:c2c_latency", f"{m.group(1).lower()} {m.group(2)} {m.group(3)}",
                _num(m.group(4), source, number, "a latency in ns") * schema.NS, "seconds")
            continue
    if "version" not in metadata:
        first = next((ln for ln in lines if ln.strip()), "")
        raise ParseError(source, 1, "the banner 'Intel(R) Memory Latency Checker - v<version>'",
                         first or "an empty file")
    if not rows:
        raise ParseError(source, len(lines), "MLC results ('Measuring ...' sections with values)",
                         "none (a run that did not finish?)")
    if notes:
        metadata["notes"] = " | ".join(dict.fromkeys(notes))
    warn_native(rows, source)
    return Parsed(schema.from_rows(rows), metadata)


def _sniff(head: bytes) -> bool:
    head = head_bytes(head)
    return b"Intel(R) Memory Latency Checker" in head


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".txt", ".log"),
                description="Intel Memory Latency Checker (mlc) output: idle/loaded latency, bandwidths, c2c")
