"""Reader for sysbench's text output (0.4, 0.5 and 1.x; one or several runs per file).

Format: each run starts with a banner, then the options, then the results::

    sysbench 1.0.20 (using system LuaJIT 2.0.5)          (1.x; PerfKitBenchmarker prefixes "CPU <n> ")
    sysbench 0.4.12:  multi-threaded system evaluation benchmark      (0.4 and 0.5)
    Number of threads: 4
    ...
    Threads started!
    CPU speed:                                  (cpu, 1.x)
        events per second:    23.12
    Total operations: 38946823 (3894455.31 per second)          (memory, 1.x; 0.4: "Operations performed:")
    38034.01 MiB transferred (3803.18 MiB/sec)                  (0.4: "MB transferred (... MB/sec)")
    File operations: / reads/s: / writes/s: / fsyncs/s:         (fileio, 1.x)
    Throughput: / read, MiB/s: / written, MiB/s:
    OLTP test statistics: / SQL statistics:                      (oltp: transactions, queries per second)
    General statistics:   (0.4: Test execution summary:)
        total time:                          300.0045s
        total number of events:              6935
    Latency (ms):  (0.5: "response time:", 0.4: "per-request statistics:", values with "ms")
         avg:                                  43.26
         95th percentile:                      44.98

Which test ran is read from the run itself ("Prime numbers limit", "Running memory
speed test", "Extra file open flags", "Doing OLTP test", 0.4's "Doing ... test"
lines); sysbench 1.x prints nothing that tells ``threads`` from ``mutex``, so a
banner such as ``MUTEX BENCHMARKS`` before the run (a common wrapper) or the
reader option ``test`` names it; otherwise the component is ``events``.

Emits per finished run (``aggregate = single``, ``run`` = the run's position in the
file, ``stage = "<N> threads"``):

* ``ops_rate`` (1/s): events per second (total events / total time) with the test
  as component (``cpu``, ``threads``, ``mutex``); memory operations per second
  (component ``memory <block> <operation>``, as for the transfer rate); OLTP
  ``oltp-transactions``, ``oltp-queries`` (1.x) or ``oltp-requests`` (0.4 "read/write
  requests"); fileio ``fileio <mode> fsyncs``.
* ``mem_transfer_bw`` (bytes/s): sysbench memory's MiB/s (0.4 prints "MB/sec" but
  divides by 1024 x 1024 too: both are MiB).
* ``io_read_iops``, ``io_write_iops``, ``io_read_bw``, ``io_write_bw``: fileio.
* ``op_latency`` (seconds, ``mean``): the average latency; ``sysbench:latency_p95``
  (seconds) its 95th percentile (component ``oltp`` for OLTP). sysbench prints them
  to 0.01 ms: a printed ``0.00`` is below that resolution and becomes NaN, not 0.
* ``sysbench:prepare_write_bw`` (bytes/s): fileio prepare's "bytes written in".

Not read: min/max/sum latencies, thread fairness, intermediate reports
(``[ 5s] threads: ...``: counted in the metadata). A run that started its threads
but stops before its statistics is an error (a truncated file), as is a file with
no finished run; prepare and cleanup runs (no "Threads started!") yield no rows.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .. import schema
from ..errors import ParseError
from . import Parsed, _numbers
from ._bench import head_bytes, warn_native
from ._bench import number as _num
from ._bench import text as _text

NAME = "sysbench"
_MIB = float(schema.MIB)

_BANNER = re.compile(r"^(?:CPU \d+ )?sysbench (\d+\.\d+(?:\.\d+)?)\b")
_BANNER_ANYWHERE = re.compile(rb"^(?:CPU \d+ )?sysbench \d+\.\d+", re.M)
_SECTION = re.compile(r"^([A-Z][A-Z/ ]*?) BENCHMARKS?$")
_NUM = r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_THREADS = re.compile(r"^Number of threads:\s*(\d+)")
# Which test a run is, from what it prints (1.x and 0.4 wordings).
_TEST_MARKS = (
    ("cpu", re.compile(r"^(Prime numbers limit|Doing CPU performance benchmark|Maximum prime number checked)")),
    ("memory", re.compile(r"^(Running memory speed test|Doing memory operations speed test)")),
    ("fileio", re.compile(r"^(Extra file open flags|File operations:|Doing (random|sequential) .*test)")),
    ("threads", re.compile(r"^Doing thread subsystem performance test")),
    ("mutex", re.compile(r"^Doing mutex performance test")),
    ("oltp", re.compile(r"^(Doing OLTP test|OLTP test statistics:|SQL statistics:)")),
)
_FILEIO_MODE = re.compile(r"^Doing (.+?) test")
_MEM_OPTION = re.compile(r"^(block size|operation|Memory block size|Memory operations type):\s*(\S+)")
_PREPARE = re.compile(rf"^(\d+) bytes written in ({_NUM}) seconds")
_INTERMEDIATE = re.compile(r"^\[\s*\d+(?:\.\d+)?s\s*\]")
# "<label>: <number>" fields; the label -> key in _Run.values.
_FIELDS = {
    "events per second": "events_rate",
    "total time": "total_time",
    "total number of events": "events",
    "reads/s": "reads_rate",
    "writes/s": "writes_rate",
    "fsyncs/s": "fsyncs_rate",
    "read, MiB/s": "read_mib",
    "written, MiB/s": "written_mib",
    "avg": "latency_avg",
    "95th percentile": "latency_p95",
    "approx.  95 percentile": "latency_p95",
    "approx.  95th percentile": "latency_p95",
}
_FIELD = re.compile(r"^(" + "|".join(re.escape(k) for k in _FIELDS) + r"):\s*(.*)$")
_RATE = re.compile(rf"^(transactions|queries|read/write requests):\s*\d+\s*\(({_NUM}) per sec\.\)")
_MEM_OPS = re.compile(rf"^(?:Total operations|Operations performed):\s*\d+\s*\(({_NUM}) (?:per second|ops/sec)\)")
_MEM_BW = re.compile(rf"^{_NUM} (MiB|MB) transferred \(({_NUM}) (?:MiB|MB)/sec\)")
_RATE_COMPONENT = {"transactions": "oltp-transactions", "queries": "oltp-queries",
                   "read/write requests": "oltp-requests"}


@dataclass
class _Run:
    line: int
    version: str
    hint: str | None
    test: str | None = None
    threads: int | None = None
    started: bool = False
    mode: str | None = None
    mem: dict[str, str] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    latency_ms: bool = True  # 1.x: "Latency (ms):" header, bare numbers
    prepare: float | None = None


def parse(data: bytes, *, source: str, test: str | None = None) -> Parsed:
    """Parse sysbench output (see the module docstring for what becomes which row).

    Parameters
    ----------
    test : str, optional
        The test to assume where the output does not say (sysbench 1.x ``threads``
        and ``mutex`` print nothing that names them).
    """
    text = _text(data)
    lines = text.splitlines()
    runs: list[_Run] = []
    hint = test
    run: _Run | None = None
    intermediate = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if m := _BANNER.match(line):
            if run is not None:
                runs.append(run)
            run = _Run(number, m.group(1), hint)
            continue
        if m := _SECTION.match(line):
            hint = m.group(1).strip().lower()
            continue
        if run is None:
            continue
        if _INTERMEDIATE.match(line):
            intermediate += 1
            continue
        for name, mark in _TEST_MARKS:
            if run.test is None and mark.match(line):
                run.test = name
        if m := _THREADS.match(line):
            run.threads = _numbers.to_int(m.group(1), source=source, line=number, what="a thread count")
        elif line.startswith("Threads started!"):
            run.started = True
        elif m := _FILEIO_MODE.match(line):
            run.mode = run.mode or m.group(1)
        elif m := _MEM_OPTION.match(line):
            run.mem["block" if "block" in m.group(1).lower() else "oper"] = m.group(2)
        elif m := _PREPARE.match(line):
            seconds = _num(m.group(2), source, number, "seconds after 'bytes written in'")
            written = _numbers.to_int(m.group(1), source=source, line=number, what="a byte count")
            run.prepare = written / seconds if seconds > 0 else math.nan
        elif line.startswith("Latency (ms):"):
            run.latency_ms = False
        elif m := _RATE.match(line):
            run.rates[_RATE_COMPONENT[m.group(1)]] = _num(m.group(2), source, number, f"a rate after '{m.group(1)}'")
        elif m := _MEM_OPS.match(line):
            run.values["mem_ops_rate"] = _num(m.group(1), source, number, "operations per second")
        elif m := _MEM_BW.match(line):
            run.values["mem_mib"] = _num(m.group(2), source, number, "MiB/sec")
        elif m := _FIELD.match(line):
            key, rest = _FIELDS[m.group(1)], m.group(2).strip()
            if key.startswith("latency") and rest.endswith("ms"):
                rest = rest[:-2]
            elif key == "total_time" and rest.endswith("s"):
                rest = rest[:-1]
            run.values[key] = _num(rest, source, number, f"a number after '{m.group(1)}:'")
    if run is not None:
        runs.append(run)
    if not runs:
        first = next((ln for ln in lines if ln.strip()), "")
        raise ParseError(source, 1, "a 'sysbench <version>' banner line", first or "an empty file")

    rows: list[dict] = []
    for index, r in enumerate(runs, 1):
        rows.extend(_rows(r, index, source, len(lines)))
    if not rows:
        raise ParseError(source, len(lines), "at least one finished sysbench run ('General statistics:' with "
                         "'total time:')", "none (only prepare/cleanup runs, or not sysbench output)")
    warn_native(rows, source)
    metadata = {"sysbench_version": ", ".join(dict.fromkeys(r.version for r in runs))}
    if intermediate:
        metadata["intermediate_reports_not_read"] = str(intermediate)
    return Parsed(schema.from_rows(rows), metadata)


def _rows(r: _Run, index: int, source: str, last_line: int) -> list[dict]:
    base = dict(run=index, aggregate="single", source=NAME, source_file=source,
                stage=None if r.threads is None else f"{r.threads} thread{'' if r.threads == 1 else 's'}")
    rows: list[dict] = []

    def add(metric: str, component: str, value: float, unit: str | None = None, aggregate: str = "single") -> None:
        rows.append({**base, "metric": metric, "component": component, "value": value, "unit": unit,
                     "aggregate": aggregate})

    if r.prepare is not None:
        add("sysbench:prepare_write_bw", "fileio", r.prepare, "bytes/s")
    if not r.started:
        return rows
    v = r.values
    if "total_time" not in v:
        raise ParseError(source, last_line, f"'General statistics:' with 'total time:' for the run starting at "
                         f"line {r.line}", "none (truncated run?)")
    if v["total_time"] <= 0:
        raise ParseError(source, r.line, "a positive 'total time:'", f"{v['total_time']:g} s")
    test = r.test or r.hint or "events"
    if test == "memory":
        component = " ".join(["memory", *(r.mem[k] for k in ("block", "oper") if k in r.mem)])
        if "mem_mib" in v:
            add("mem_transfer_bw", component, v["mem_mib"] * _MIB)
        if "mem_ops_rate" in v:
            add("ops_rate", component, v["mem_ops_rate"])
    elif test == "fileio":
        component = f"fileio {r.mode}" if r.mode else "fileio"
        for key, metric, factor in (("reads_rate", "io_read_iops", 1.0), ("writes_rate", "io_write_iops", 1.0),
                                    ("read_mib", "io_read_bw", _MIB), ("written_mib", "io_write_bw", _MIB)):
            if key in v:
                add(metric, component, v[key] * factor)
        if "fsyncs_rate" in v:
            add("ops_rate", f"{component} fsyncs", v["fsyncs_rate"])
        if not any(k in v for k in ("reads_rate", "writes_rate")):  # 0.4's fileio summary: requests only
            add("ops_rate", component, v.get("events", math.nan) / v["total_time"])
    elif test == "oltp":
        component = "oltp"
        for name, rate in r.rates.items():
            add("ops_rate", name, rate)
    else:
        component = test
        rate = v.get("events_rate")
        if rate is None:
            if "events" not in v:
                raise ParseError(source, r.line, "'total number of events:' in the run starting here", "none")
            rate = v["events"] / v["total_time"]
        add("ops_rate", component, rate)
    # Latencies: 1.x under "Latency (ms):" as bare numbers, 0.4/0.5 with "ms" (stripped above).
    # sysbench prints them to 0.01 ms: "0.00" is below that resolution, not zero: NaN.
    if "latency_avg" in v:
        add("op_latency", component, _latency(v["latency_avg"]), aggregate="mean")
    if "latency_p95" in v:
        add("sysbench:latency_p95", component, _latency(v["latency_p95"]), "seconds")
    return rows


def _latency(milliseconds: float) -> float:
    return milliseconds * 1e-3 if milliseconds > 0 else math.nan


def _sniff(head: bytes) -> bool:
    head = head_bytes(head)
    return _BANNER_ANYWHERE.search(head) is not None


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".txt", ".log", ".res"),
                description="sysbench text output (cpu, memory, fileio, threads, mutex, oltp; 0.4, 0.5, 1.x)")
