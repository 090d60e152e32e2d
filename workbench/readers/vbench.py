"""Reader for vbench's output (``workbench/workloads/vbench.c``), natively or from a guest's console.

vbench prints (``\\r\\n`` on a serial console; the lab's guests print kernel and
hypervisor lines before and after)::

    vbench 1 begin
    vbench: syscall 137.664 ns ops=262144 batches=5
    ...
    vbench: cpu 270.091 ns/op ops=8192 batches=5
    vbench 1 end 2.016 s

Each result is the best (lowest time, highest rate) of its batches, hence
``aggregate = best``. When the output went through ``workbench lab boot``, the
console is framed by the boot's own lines::

    workbench-lab 1 boot environment=emulated
    ... the guest's console ...
    workbench-lab 1 done boot=8.2 s workload=21.4 s

``boot`` (seconds from starting the guest to its ``/init`` running) becomes
``boot_time``; ``workload`` (the host's clock over the guest's run) checks the
guest's clock: a vbench span that disagrees with it by more than a quarter (plus
half a second for the console's delays) flags every row, because the guest timed
its benchmarks with that clock.

Rows: ``syscall_latency`` ... ``mmap_latency``, ``cpu_op_time`` and ``mem_latency``
in seconds, ``stream_copy_bw`` and ``stream_triad_bw`` in bytes/s (STREAM's kernels
and byte counting on 32 MiB arrays: not a conformant STREAM result), and a name
vbench prints that this reader does not know as ``vbench:<name>`` in its unit.
"""
from __future__ import annotations

import math
import re
import warnings

from .. import schema
from ..errors import NativeMetricWarning, ParseError
from . import Parsed

NAME = "vbench"
#: vbench's name -> (metric, component)
RESULTS = {
    "syscall": ("syscall_latency", "getppid"),
    "fork": ("fork_latency", "fork+exit"),
    "exec": ("exec_latency", "fork+execve"),
    "ctxsw": ("ctxsw_latency", "pipe"),
    "pagefault": ("pagefault_latency", "anonymous"),
    "mmap": ("mmap_latency", "1MiB"),
    "copy": ("stream_copy_bw", "memory"),
    "triad": ("stream_triad_bw", "memory"),
    "chase": ("mem_latency", "memory"),
    "cpu": ("cpu_op_time", "collatz"),
}
#: vbench's unit -> (canonical unit, factor)
UNITS = {"ns": ("seconds", 1e-9), "ns/op": ("seconds", 1e-9), "MB/s": ("bytes/s", 1e6)}

_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?(?:inf|nan)"
_BEGIN = re.compile(r"vbench (\d+) begin$", re.ASCII)
_END = re.compile(rf"vbench (\d+) end(?: ({_NUMBER}) s)?$", re.ASCII)
_RESULT = re.compile(rf"vbench: ([a-z][a-z0-9_]*) ({_NUMBER}) (\S+) ops=(\d+) batches=(\d+)$", re.ASCII)
_ERROR = re.compile(r"vbench: error (.*)$")
_LAB_HEAD = re.compile(r"workbench-lab 1 boot environment=(\S+)$")
_LAB_DONE = re.compile(rf"workbench-lab 1 done boot=({_NUMBER}) s workload=({_NUMBER}) s$")
_CLOCK_TOLERANCE = (0.25, 0.5)  # relative, absolute seconds


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse one vbench run (native output or a lab guest's console)."""
    # A console may carry NULs and carriage returns; neither belongs to vbench's lines.
    text = data.replace(b"\0", b"").decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines()]
    rows: list[dict] = []
    meta: dict[str, str] = {}
    seen: dict[str, int] = {}
    begin = end = None
    span = boot = host_span = None
    for number, line in enumerate(lines, 1):
        if m := _LAB_HEAD.match(line):
            meta["environment"] = m.group(1)
        elif m := _LAB_DONE.match(line):
            boot, host_span = _number(m.group(1), source, number, "boot seconds"), \
                _number(m.group(2), source, number, "workload seconds")
        elif m := _BEGIN.match(line):
            if m.group(1) != "1":
                raise ParseError(source, number, "vbench output version 1", f"version {m.group(1)}")
            if begin is not None:
                raise ParseError(source, number, "one vbench run per file", "a second 'vbench 1 begin'")
            begin = number
        elif line.startswith("vbench"):
            if begin is None or end is not None:
                raise ParseError(source, number, "vbench lines between 'vbench 1 begin' and 'vbench 1 end'", line)
            if m := _END.match(line):
                end = number
                if m.group(2) is not None:
                    span = _number(m.group(2), source, number, "the run's seconds")
            elif m := _ERROR.match(line):
                raise ParseError(source, number, "a benchmark result", f"vbench's error: {m.group(1)}")
            elif m := _RESULT.match(line):
                name, value, unit = m.group(1), m.group(2), m.group(3)
                if name in seen:
                    raise ParseError(source, number, f"one '{name}' result", f"a second one (first at line "
                                                                             f"{seen[name]})")
                seen[name] = number
                if unit not in UNITS:
                    raise ParseError(source, number, f"a unit of {', '.join(UNITS)}", unit)
                canonical, factor = UNITS[unit]
                x = _number(value, source, number, f"the {name} value")
                if x <= 0:
                    raise ParseError(source, number, f"a positive {name} value", value)
                metric, component = RESULTS.get(name, (f"{NAME}:{name}", "total"))
                if not math.isfinite(x * factor):  # 1e305 MB/s is finite, its bytes/s are not
                    raise ParseError(source, number, f"the {name} value within a double's range in {canonical}",
                                     value)
                rows.append(dict(metric=metric, component=component, value=x * factor, unit=canonical,
                                 aggregate="best"))
            else:
                raise ParseError(source, number, "'vbench: <name> <value> <unit> ops=<n> batches=<n>'", line)
    if begin is None:
        raise ParseError(source, None, "vbench output ('vbench 1 begin')",
                         "none (the workload did not start, or this is not vbench's output)")
    if end is None:
        raise ParseError(source, len(lines), "'vbench 1 end' after the results",
                         "the end of the file (a run cut short: the guest stopped or was killed)")
    if not rows:
        raise ParseError(source, end, "at least one result before 'vbench 1 end'", "none")
    native = [r["metric"] for r in rows if r["metric"] not in schema.METRICS]
    if native:
        warnings.warn(f"{source}: {len(native)} benchmark(s) outside the metric vocabulary kept as native metrics: "
                      f"{', '.join(native)}", NativeMetricWarning, stacklevel=3)
    flag = None
    if boot is not None:
        rows.append(dict(metric="boot_time", component="init", value=boot, unit="seconds", aggregate="single"))
        meta["boot_seconds"] = f"{boot:g}"
    if span is not None and host_span is not None:
        meta["guest_clock_span"], meta["host_clock_span"] = f"{span:g}", f"{host_span:g}"
        rel, slack = _CLOCK_TOLERANCE
        if span > host_span * (1 + rel) + slack or span < host_span * (1 - rel) - slack:
            flag = (f"guest clock: the run took {span:.2f} s by the guest's clock and {host_span:.2f} s "
                    "by the host's")
    table = schema.from_rows(rows, source=NAME, source_file=source, flag=flag)
    return Parsed(table, meta)


def _number(text: str, source: str, line: int, what: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ParseError(source, line, f"{what} as a finite non-negative number", text)
    return value


def _sniff(head: bytes) -> bool:
    return b"vbench 1 begin" in head or b"workbench-lab 1 boot environment=" in head


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".out", ".log", ".txt"),
                description="vbench (workbench/workloads/vbench.c) output, natively or from a lab guest's console")
