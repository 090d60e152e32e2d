"""Reader for fio results: ``--output-format=json`` and the normal text output (fio 2.x
as in the Felter et al. 2014 logs, and 3.x).

JSON (fio 2.1+; ``jobs[]`` with ``jobname`` and per direction ``read``/``write``/``trim``):
``bw_bytes`` (bytes/s; older versions only ``bw`` in KiB/s), ``iops``, the total latency
``lat_ns.mean`` (ns; fio 2.x: ``lat.mean`` in usec), ``error``. Text output before the
JSON document (fio's notes and warnings) is skipped.

Text, per job (group), the direction lines::

    random-read-16: (groupid=5, jobs=1): err= 0: pid=9531
      read : io=16384MB, bw=291231KB/s, iops=72807 , runt= 57608msec        (2.x: KB = 1024 bytes)
      read: IOPS=18.4k, BW=72.0MiB/s (75.5MB/s)(145MiB/2020msec)             (3.x: IEC units first)
         lat (usec): min=128 , max=4594 , avg=218.60, stdev=34.72            (total latency, mean)

Emits per job and direction (``aggregate = single``; latency ``mean``; one run per file;
component = the job's name): ``io_read_bw``/``io_write_bw`` (bytes/s),
``io_read_iops``/``io_write_iops`` (1/s), ``io_read_latency``/``io_write_latency``
(seconds); trim as ``fio:trim_bw``, ``fio:trim_iops``, ``fio:trim_latency``. A
direction that moved no data is left out (fio 3.x's text omits it too). A job that
reports an error (``err=`` / ``"error"`` not 0) is excluded with a warning. Not read:
slat/clat, percentiles, bandwidth samples, CPU and depth distributions.
"""
from __future__ import annotations

import re
import warnings

from .. import schema
from ..errors import ExcludedDataWarning, ParseError
from . import Parsed, _jsonload, _numbers
from ._bench import head_bytes, warn_native
from ._bench import number as _num
from ._bench import text as _decode

NAME = "fio"
_JOB = re.compile(r"^(\S.*?): \(groupid=(\d+), jobs=(\d+)\): err=\s*(-?\d+)")
_DIR2 = re.compile(r"^(read|write|trim)\s*: io=\s*(\S+?),\s*bw=\s*(\S+?),\s*iops=\s*(\S+?)\s*,")
_DIR3 = re.compile(r"^(read|write|trim): IOPS=(\S+?), BW=(\S+?)[\s(]")
_LAT = re.compile(r"^lat \((nsec|usec|msec)\):\s*min=.*?avg=\s*([0-9.]+)")
_LAT_UNIT = {"nsec": 1e-9, "usec": 1e-6, "msec": 1e-3}
# fio 2.x prints KB/MB with kb_base=1024 (its default); 3.x prints KiB/MiB and SI in parentheses.
_BW_UNIT = {"B/s": 1, "KB/s": 1024, "MB/s": 1024 ** 2, "GB/s": 1024 ** 3, "KiB/s": 1024, "MiB/s": 1024 ** 2,
            "GiB/s": 1024 ** 3}
_BW = re.compile(r"^([0-9.]+)([KMG]i?B/s|B/s)$")
_IOPS = re.compile(r"^([0-9.]+)([kKM]?)$")
_METRICS = {"read": ("io_read_bw", "io_read_iops", "io_read_latency"),
            "write": ("io_write_bw", "io_write_iops", "io_write_latency"),
            "trim": ("fio:trim_bw", "fio:trim_iops", "fio:trim_latency")}
_UNITS = ("bytes/s", "1/s", "seconds")


def parse(data: bytes, *, source: str) -> Parsed:
    """Parse fio's JSON or text output (see the module docstring)."""
    text = _decode(data)
    start = text.find("{")
    if start >= 0 and '"fio version"' in text[start:start + 400]:
        rows, metadata = _json(text[start:], source, text[:start].count("\n") + 1)
    else:
        rows, metadata = _text_output(text, source)
    warn_native(rows, source)
    return Parsed(schema.from_rows(rows), metadata)


def _row(job: str, direction: str, index: int, value: float, source: str) -> dict:
    metric = _METRICS[direction][index]
    return dict(metric=metric, component=job, value=value, unit=_UNITS[index],
                aggregate="mean" if index == 2 else "single", run=1, source=NAME, source_file=source)


def _json(text: str, source: str, line: int) -> tuple[list[dict], dict[str, str]]:
    doc = _jsonload.loads(text, source=source, what="a JSON document (fio --output-format=json)", line_offset=line - 1)
    jobs = doc.get("jobs") if isinstance(doc, dict) else None
    if not isinstance(jobs, list) or not jobs:
        raise ParseError(source, "jobs", "a non-empty 'jobs' list", repr(jobs)[:40])
    rows: list[dict] = []
    for number, job in enumerate(jobs, 1):
        where = f"jobs[{number - 1}]"
        if not isinstance(job, dict) or not isinstance(job.get("jobname"), str):
            raise ParseError(source, where, "an object with a 'jobname'", repr(job)[:40])
        name = job["jobname"]
        if job.get("error", 0):
            warnings.warn(f"{source}: job '{name}' reports error {job['error']}; its results are excluded",
                          ExcludedDataWarning, stacklevel=3)
            continue
        for direction in _METRICS:
            part = job.get(direction)
            if not isinstance(part, dict) or not part.get("io_bytes", part.get("io_kbytes", 0)):
                continue
            try:
                bw = part["bw_bytes"] if "bw_bytes" in part else part["bw"] * 1024
                iops = part["iops"]
                if isinstance(part.get("lat_ns"), dict):
                    lat = part["lat_ns"]["mean"] * 1e-9
                else:
                    lat = part["lat"]["mean"] * 1e-6
            except (KeyError, TypeError):
                raise ParseError(source, f"{where}.{direction}", "bw_bytes (or bw), iops and lat_ns.mean "
                                 "(or lat.mean)", ", ".join(sorted(part))[:60]) from None
            for index, value in enumerate((bw, iops, lat)):
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    raise ParseError(source, f"{where}.{direction}", "numbers", repr(value))
                rows.append(_row(name, direction, index, float(value), source))
    if not rows and not any(job.get("error", 0) for job in jobs if isinstance(job, dict)):
        raise ParseError(source, "jobs", "a job that moved data", "none")
    metadata = {"fio_version": str(doc.get("fio version", ""))}
    if doc.get("time"):
        metadata["time"] = str(doc["time"])
    return rows, metadata


def _text_output(text: str, source: str) -> tuple[list[dict], dict[str, str]]:
    lines = text.splitlines()
    rows: list[dict] = []
    metadata: dict[str, str] = {}
    job: str | None = None
    failed = False
    direction: str | None = None
    jobs = 0
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if re.fullmatch(r"fio-\d+\.\d+(?:\.\d+)?\S*", line) and "fio_version" not in metadata:
            metadata["fio_version"] = line
            continue
        if m := _JOB.match(line):
            job, direction, jobs = m.group(1), None, jobs + 1
            failed = _numbers.to_int(m.group(4), source=source, line=number, what="an error number after 'err='") != 0
            if failed:
                warnings.warn(f"{source}:{number}: job '{job}' reports err={m.group(4)}; its results are excluded",
                              ExcludedDataWarning, stacklevel=3)
            continue
        if job is None or failed:
            continue
        if m := (_DIR2.match(line) or _DIR3.match(line)):
            direction = m.group(1)
            bw_text, iops_text = (m.group(3), m.group(4)) if m.re is _DIR2 else (m.group(3), m.group(2))
            bw = _BW.match(bw_text)
            if bw is None:
                raise ParseError(source, number, "a bandwidth such as 291231KB/s or 72.0MiB/s", bw_text)
            iops = _IOPS.match(iops_text)
            if iops is None:
                raise ParseError(source, number, "an IOPS number such as 72807 or 18.4k", iops_text)
            scale = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}[iops.group(2)]
            rows.append(_row(job, direction, 0, _num(bw.group(1), source, number, "a bandwidth")
                             * _BW_UNIT[bw.group(2)], source))
            rows.append(_row(job, direction, 1, _num(iops.group(1), source, number, "IOPS") * scale, source))
            continue
        if direction is not None and (m := _LAT.match(line)):
            rows.append(_row(job, direction, 2, _num(m.group(2), source, number, "the mean latency (avg=)")
                             * _LAT_UNIT[m.group(1)], source))
            direction = None  # one total-latency line per direction
    if not jobs:
        raise ParseError(source, len(lines) or 1, "fio job results ('<name>: (groupid=N, jobs=N): err= 0: ...')",
                         "none (not fio output, or a run that did not finish)")
    return rows, metadata


def _sniff(head: bytes) -> bool:
    head = head_bytes(head)
    return (b'"fio version"' in head
            or re.search(rb"^\S.*: \(groupid=\d+, jobs=\d+\): err=", head, re.M) is not None
            or re.search(rb"^\S.*: \(g=\d+\): rw=\w+, bs=", head, re.M) is not None)


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".json", ".log", ".txt"),
                description="fio results: --output-format=json and the normal text output (fio 2.x, 3.x)")
