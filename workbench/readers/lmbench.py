"""Reader for lmbench3: its results files and ``lat_mem_rd`` output.

Format (what ``lmbench``'s ``scripts/lmbench`` writes to ``results/<os>/<host>.<n>``;
the shared sample is PerfKitBenchmarker's Azure run):

* a header of ``[KEY: value]`` lines (``[HOSTNAME: pkb-...]``, ``[MHZ: 3034 MHz, ...]``,
  ``[ALL: 512 1k ... 8m]``) -> metadata; ``HOSTNAME`` becomes ``host``;
* ``<name>: <number> <unit>`` lines (``Simple syscall: 0.2345 microseconds``,
  ``Pipe bandwidth: 2648.95 MB/sec``, ``File /var/tmp/XXX write bandwidth: 84049 KB/sec``);
* titled curves: a title line (often opening with ``"``) followed by ``<x> <y>`` lines,
  e.g. ``Memory read bandwidth`` (bw_mem: size in 10^6 bytes, MB/s), ``"stride=128``
  (lat_mem_rd: size in MiB, latency in ns), ``"size=0k ovr=0.93`` (lat_ctx: processes,
  microseconds), ``"mappings``, ``"File system latency`` (size, files, creations/s,
  removals/s), ``Socket bandwidth using localhost`` (size, ``<n> MB/sec``).

A file that is only ``lat_mem_rd`` output (``"stride=<n>`` blocks, as it prints to
stderr) is read alike; stand-alone ``bw_mem`` output (untitled ``<size> <MB/s>`` lines)
with the option ``curve`` naming it. Units (lmbench's ``bench.h``/``lib_timing.c``): bandwidth "MB"
is 10^6 bytes (sizes print as ``0.000512`` for 512 bytes), KB is 1024 bytes (``bw_file``),
``lat_mem_rd`` sizes are MiB (``0.00049`` for 512 bytes) and latencies ns.

Emits (``aggregate = single``, one run per file):

* every curve point as ``lmbench:<title>`` with the working-set size as component
  (``512B``, ``16K``, ``8M``) or, for lat_ctx, ``<n> processes`` (native units:
  seconds, bytes/s, 1/s); lat_mem_rd's curves are ``lmbench:lat_mem_rd stride=<n>``,
  lat_ctx's ``lmbench:lat_ctx size=<n>k`` (its overhead ``lmbench:lat_ctx overhead``);
* every ``<name>: <number> <unit>`` line as ``lmbench:<name>`` (seconds, bytes/s);
* with the reader option ``caches`` (``"L1=32K,L2=1M,L3=32M"``: lmbench does not record
  them), the memory curves at the probe's working sets as vocabulary metrics:
  ``mem_latency`` from ``lat_mem_rd`` (the smallest stride), ``mem_read_bw`` and
  ``mem_write_bw`` from ``Memory read/write bandwidth``, with component ``L1``..``L3``
  at the largest measured size within the probe's rule (half of L1; half of L2/L3, at
  most 4x the level above) and ``memory`` at the largest size if it is at least 4x the
  last-level cache (STREAM's rule), else no memory row (a warning says so).

Lines that are none of these (lmbench's own error messages) are counted in the
metadata (``lines_not_read``), not read.
"""
from __future__ import annotations

import math
import re
import sys
import warnings

from .. import schema
from ..errors import AssumptionWarning, ParseError
from . import Parsed, _numbers
from ._bench import head_bytes, warn_native
from ._bench import number as _num
from ._bench import text as _text

NAME = "lmbench"
_HEADER = re.compile(r"^\[([A-Za-z_ ]+?):\s*(.*)\]$")
_TITLE_RESULTS = re.compile(r"^\[lmbench(\S*) results for (.*)\]$")
# These patterns find where a number stands (with Unicode \d or \S, so that a number in
# other scripts' digits is found too); every number is then read by readers._numbers
# (ASCII digits, finite), whose message names what it refuses.
_KEYVALUE = re.compile(r"^([^:\[\]\"]+?):\s+(\S+)\s+(microseconds|KB/sec|MB/sec)$")
_PAIR = re.compile(r"^(\d*\.?\d+(?:[eE][-+]?\d+)?)\s+(\d*\.?\d+(?:[eE][-+]?\d+)?)(?:\s+MB/sec)?$")
_FS_ROW = re.compile(r"^(\d+)k\s+(\d+)\s+(\d+)\s+(\d+)$")
_STRIDE = re.compile(r"^stride=(\d+)$")
_CTX = re.compile(r"^size=(\d+)k ovr=(\S+)$")
#: Largest factor a value of this reader is multiplied by (MB -> bytes: 2^20); a value that
#: would overflow once converted is refused where it is read.
_MAX_FACTOR = float(schema.MIB)
_UNITS = {"microseconds": (1e-6, "seconds"), "KB/sec": (1024.0, "bytes/s"), "MB/sec": (1e6, "bytes/s")}
# Curves whose y is a bandwidth in MB/s (everything titled "... bandwidth" and bcopy/bzero).
_BANDWIDTH = re.compile(r"bandwidth|bcopy|bzero", re.I)
_VOCABULARY = {"Memory read bandwidth": "mem_read_bw", "Memory write bandwidth": "mem_write_bw"}
_LEVEL = re.compile(r"^\s*(L[123])\s*=\s*([0-9.]+)\s*([KMG]?)i?B?\s*$", re.I)


def parse(data: bytes, *, source: str, caches: str | None = None, curve: str | None = None) -> Parsed:
    """Parse an lmbench3 results file or ``lat_mem_rd`` output.

    Parameters
    ----------
    caches : str, optional
        The machine's cache sizes, ``"L1=32K,L2=1M,L3=32M"``, to place the memory curves
        at L1..L3 and memory (see the module docstring).
    curve : str, optional
        The title of ``<size> <value>`` lines that come without one: a stand-alone
        ``bw_mem`` prints ``<size in MB> <MB/s>`` lines only, so ``curve="Memory read
        bandwidth"`` reads ``bw_mem ... rd`` output (``"Memory write bandwidth"`` for ``wr``),
        as lmbench's own script titles them in its results file.
    """
    levels = _caches(caches, source)
    text = _text(data)
    lines = text.splitlines()
    metadata: dict[str, str] = {}
    host: str | None = None
    rows: list[dict] = []
    curves: dict[str, list[tuple[float, float]]] = {}
    title: str | None = None
    not_read = 0
    seen = False
    if curve is not None:
        title, seen = str(curve), True
        curves[title] = []

    def add(metric: str, component: str, value: float, unit: str) -> None:
        rows.append(dict(metric=metric, component=component, value=value, unit=unit, aggregate="single",
                         run=1, host=host, source=NAME, source_file=source))

    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            title = None if title is None or not curves.get(title) else title
            continue
        if m := _TITLE_RESULTS.match(line):
            metadata["version"], metadata["system"] = m.group(1) or "lmbench", m.group(2)
            seen = True
            continue
        if m := _HEADER.match(line):
            key = m.group(1).strip()
            if key in ("net", "if", "mount"):  # the machine's netstat/ifconfig/mount lines: not results
                continue
            metadata.setdefault(key.lower().replace(" ", "_"), m.group(2).strip())
            if key == "HOSTNAME" and m.group(2).strip():
                host = m.group(2).strip()
            seen = True
            continue
        if m := _KEYVALUE.match(line):
            factor, unit = _UNITS[m.group(3)]
            add(f"lmbench:{m.group(1).strip()}", "total", _read(m.group(2), source, number,
                f"a number after '{m.group(1).strip()}:'") * factor, unit)
            seen = True
            title = None
            continue
        if title is not None and (m := _PAIR.match(line)):
            x = _read(m.group(1), source, number, "a size")
            y = _read(m.group(2), source, number, f"a value of '{title}'")
            curves.setdefault(title, []).append((x, y))
            continue
        if title == "File system latency" and (m := _FS_ROW.match(line)):
            size = f"{_numbers.to_int(m.group(1), source=source, line=number, what='a file size in KB')}K"
            _read(m.group(2), source, number, "a file count (second column)")
            add("lmbench:File system creations", size, _read(m.group(3), source, number,
                "creations per second (third column)"), "1/s")
            add("lmbench:File system removals", size, _read(m.group(4), source, number,
                "removals per second (fourth column)"), "1/s")
            continue
        candidate = line.lstrip('"').strip()
        if _looks_like_title(candidate):
            title = candidate
            if title in curves:
                raise ParseError(source, number, f"each curve once ('{title}')", "a second one")
            curves[title] = []
            if m := _STRIDE.match(title):
                _numbers.to_int(m.group(1), source=source, line=number, what="a stride in bytes")
            elif m := _CTX.match(title):
                _numbers.to_int(m.group(1), source=source, line=number, what="a process size in KB")
                _read(m.group(2), source, number, "an overhead in microseconds after 'ovr='")
            seen = seen or bool(_STRIDE.match(title))
            continue
        if title is not None and _PAIR.match(line) is None:
            # a number pair is what a curve holds; anything else in one is a broken file
            if re.match(r"^[0-9.]", line):
                raise ParseError(source, number, f"'<size> <value>' pairs in the curve '{title}'", line)
        not_read += 1
        title = None
    if not seen:
        first = next((ln for ln in lines if ln.strip()), "")
        raise ParseError(source, 1, "an lmbench3 results header ('[lmbench3.0 results for ...]') or lat_mem_rd "
                         "output ('\"stride=<n>')", first or "an empty file")
    empty = [t for t, points in curves.items() if not points and t != "File system latency"]
    if empty and not rows and not any(curves.values()):
        raise ParseError(source, len(lines), f"'<size> <value>' lines after '{empty[0]}'", "none")

    strides = sorted((int(_STRIDE.match(t).group(1)), t) for t in curves if _STRIDE.match(t) and curves[t])
    for title, points in curves.items():
        name = title
        if m := _STRIDE.match(title):
            name = f"lat_mem_rd stride={m.group(1)}"
        elif m := _CTX.match(title):  # "size=0k ovr=0.93": lat_ctx's process size and overhead (us)
            name = f"lat_ctx size={int(m.group(1))}k"  # both read by _numbers where the title was
            add("lmbench:lat_ctx overhead", f"size={int(m.group(1))}k", float(m.group(2)) * 1e-6, "seconds")
        for x, y in points:
            component, value, unit = _point(title, x, y)
            add(f"lmbench:{name}", component, value, unit)
    if levels:
        placed = {}
        if strides:
            placed["mem_latency"] = [(_bytes(x, mib=True), y * schema.NS) for x, y in curves[strides[0][1]]]
        for title, metric in _VOCABULARY.items():
            if curves.get(title):
                placed[metric] = [(_bytes(x, mib=False), y * 1e6) for x, y in curves[title]]
        for metric, points in placed.items():
            for level, value in _at_levels(points, levels, metric, source).items():
                add(metric, level, value, schema.METRICS[metric].unit)
    elif strides or any(curves.get(t) for t in _VOCABULARY):
        warnings.warn(f"{source}: lmbench does not record the cache sizes: the memory curves stay native "
                      "(lmbench:...); give the option caches='L1=..,L2=..,L3=..' to read them as mem_latency, "
                      "mem_read_bw, mem_write_bw at L1..L3 and memory", AssumptionWarning, stacklevel=2)
    if not rows:
        raise ParseError(source, len(lines), "lmbench results (a '<name>: <value> <unit>' line or a curve)", "none")
    if not_read:
        metadata["lines_not_read"] = str(not_read)
    warn_native(rows, source)
    return Parsed(schema.from_rows(rows), metadata)


def _read(text: str, source: str, line: int, what: str) -> float:
    """A number by readers._numbers, also finite once converted to canonical units."""
    value = _num(text, source, line, what)
    if not math.isfinite(value * _MAX_FACTOR):
        raise ParseError(source, line, f"{what} that stays within a double's range in canonical units "
                         f"(up to {sys.float_info.max / _MAX_FACTOR:.2g})", repr(text))
    return value


def _looks_like_title(line: str) -> bool:
    return bool(re.match(r"^[A-Za-z]", line)) and not line.endswith(".") and ":" not in line.split("=")[0] \
        and len(line) < 60


def _point(title: str, x: float, y: float) -> tuple[str, float, str]:
    if _STRIDE.match(title):  # lat_mem_rd: MiB, ns
        return _size_label(_bytes(x, mib=True)), y * schema.NS, "seconds"
    if _CTX.match(title):  # lat_ctx: processes, microseconds
        return f"{int(x)} processes", y * 1e-6, "seconds"
    if title == "mappings":  # lat_mmap: MB (10^6), microseconds
        return _size_label(_bytes(x, mib=False)), y * 1e-6, "seconds"
    if _BANDWIDTH.search(title):  # bw_*: MB (10^6), MB/s (10^6)
        return _size_label(_bytes(x, mib=False)), y * 1e6, "bytes/s"
    return _size_label(_bytes(x, mib=False)), y, "1"


def _bytes(x: float, *, mib: bool) -> int:
    """A printed size as bytes: lmbench's sizes are powers of two or multiples of 512 bytes,
    printed with 2 to 6 decimals; snap to the nearest such size."""
    raw = x * (schema.MIB if mib else 1e6)
    if raw <= 0:
        return 0
    power = 2 ** round(math.log2(raw))
    if abs(raw / power - 1) < 0.03:
        return int(power)
    return int(round(raw / 512) * 512) or int(round(raw))


def _size_label(size: int) -> str:
    for unit, factor in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if size >= factor:
            return f"{size / factor:g}{unit}"
    return f"{size}B"


def _caches(text: str | None, source: str) -> dict[str, int]:
    if text is None:
        return {}
    out: dict[str, int] = {}
    for part in str(text).split(","):
        m = _LEVEL.match(part)
        if m is None:
            raise ParseError(source, "option caches", "'L1=32K,L2=1M,L3=32M' (levels with sizes)", str(text))
        size = _numbers.to_float(m.group(2), source=source, line="option caches", what=f"a size of {m.group(1)}")
        factor = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(3).upper()]
        if not size * factor < 2 ** 63:
            raise ParseError(source, "option caches", f"a size of {m.group(1)} below 8 EiB", part.strip())
        out[m.group(1).upper()] = int(size * factor)
    return dict(sorted(out.items()))


def _at_levels(points: list[tuple[int, float]], levels: dict[str, int], metric: str,
               source: str) -> dict[str, float]:
    """The value at the largest measured size within each level's working-set rule."""
    out: dict[str, float] = {}
    above = 0
    for name, size in levels.items():
        limit = size // 2 if not above else min(size // 2, 4 * above)
        inside = [(s, v) for s, v in points if above < s <= limit]
        if inside:
            out[name] = max(inside)[1]
        above = size
    largest = max(points)
    if largest[0] >= 4 * above:
        out["memory"] = largest[1]
    else:
        warnings.warn(f"{source}: {metric}: the largest working set ({_size_label(largest[0])}) is below 4x the "
                      f"last-level cache ({_size_label(above)}): no memory value", AssumptionWarning, stacklevel=3)
    return out


def _sniff(head: bytes) -> bool:
    head = head_bytes(head)
    start = head.lstrip()
    return start.startswith(b"[lmbench") or start.startswith(b'"stride=')


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".txt", ".out"),
                description="lmbench3 results files (summary, bw_mem, lat_ctx, ...) and lat_mem_rd output")
