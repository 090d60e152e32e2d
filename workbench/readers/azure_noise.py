"""Reader for the Azure VM Noise Dataset 2024 (``Azure/AzurePublicDataset``, ``vm-noise-data/``).

Format (DATASET.md of the dataset, revision 1, 20250202): one CSV per measurement unit,
in a Hive-style partitioned folder tree; the partition values are only in the path::

    test_suite=<suite>/test_name=<test>/vm_lifespan=(short|long)/vm_region=(eastus|westus2)/
        vm_sku=(B8ms|D8s_v5)/unit=<unit>.csv

    value,runtime,starttime,VM_id
    100.5,4.43,2023-09-01 04:33:27.570,0

``value`` in ``<unit>``; ``runtime`` the test's duration in seconds; ``starttime`` its
start (UTC, ``YYYY-MM-DD HH:MM:SS.fff``; the rows are not in time order); ``VM_id`` the
VM, unique within one partition (long-lived VMs: 3 per region and SKU, thousands of rows
each; short-lived VMs: one row per VM and test).

Mapping to the measurement table (DESIGN.md §3), chosen so that the VM is the instance
level and the repetition the run:

=========== ==========================================================================
column      value
=========== ==========================================================================
condition   ``vm_sku`` (``D8s_v5``, ``B8ms``): what a comparison compares
hypervisor  ``Microsoft Azure`` (the dataset does not name the hypervisor build)
host        ``azure-<vm_region>``: Azure does not publish the physical host; the region
            stands in for it (short-lived VMs were mostly on distinct hosts)
guest       ``<vm_sku>/<vm_region>/<vm_lifespan>/<VM_id>``: one VM instance, unique
            across the dataset (``VM_id`` alone is unique only within a partition)
scope       ``guest``
run         the repetition within the VM: 1, 2, ... in ``starttime`` order
time        end of the test: ``starttime + runtime`` (UTC)
interval    ``runtime`` (seconds)
aggregate   ``single`` (one result per test execution)
metric      see :data:`METRICS`: Intel MLC idle latency -> ``mem_latency`` (ns -> s,
            component ``memory``); every MLC bandwidth test (:data:`BANDWIDTH`: max
            bandwidth and peak injection bandwidth, each with its read/write mix) ->
            ``mem_read_bw``, component ``memory`` (MiB/s -> bytes/s: Phoronix's Intel MLC
            test reports "MiB/s", the dataset's unit says ``MiB_s``), with the test and its
            mix as the ``stage`` (``Max Bandwidth: All Reads``, ``Peak Injection
            Bandwidth: 2:1 Reads-Writes``, ...), so that mixes are never averaged
            together; every other test keeps its native name and unit as
            ``azure-noise:<test_name without "Test:_">`` with a NativeMetricWarning.
stage       null, or the MLC bandwidth test and mix (above)
=========== ==========================================================================

:func:`parse` reads one CSV; the partition values come from `source` (the path as
given) unless passed as options. :func:`read_partitioned` reads a whole partitioned
folder (or the part of it a filter selects) into one validated table.
"""
from __future__ import annotations

import csv
import io
import os
import re
import warnings
from pathlib import Path
from typing import Iterable

import polars as pl

from .. import schema
from ..errors import NativeMetricWarning, ParseError, WorkbenchError
from . import Parsed, _numbers

NAME = "azure-noise"
HEADER = ("value", "runtime", "starttime", "VM_id")
#: Partition keys, outermost first, as the dataset's folders name them.
PARTITIONS = ("test_suite", "test_name", "vm_lifespan", "vm_region", "vm_sku", "unit")
#: test_name -> (metric, component, unit partition it must come in, factor to the canonical unit).
METRICS: dict[str, tuple[str, str, str, float]] = {
    "Test:_Idle_Latency": ("mem_latency", "memory", "ns", schema.NS),
}
#: MLC bandwidth tests (``Test:_<kind>_-_<mix>``) -> mem_read_bw with the stage ``<kind>: <mix>``.
#: MLC counts the bytes read and written together, so for a mix with writes the value is
#: the traffic of that mix, not reads alone: the stage says which, and a comparison
#: never mixes stages. (Why mem_read_bw: the vocabulary has no "mixed traffic" metric,
#: and the all-reads figure, the one most often quoted, is read bandwidth.)
BANDWIDTH_KINDS = ("Max_Bandwidth", "Peak_Injection_Bandwidth")
BANDWIDTH_MIXES = ("All_Reads", "3:1_Reads-Writes", "2:1_Reads-Writes", "1:1_Reads-Writes", "Stream-Triad_Like")
BANDWIDTH: dict[str, str] = {f"Test:_{kind}_-_{mix}": f"{kind.replace('_', ' ')}: {mix.replace('_', ' ')}"
                             for kind in BANDWIDTH_KINDS for mix in BANDWIDTH_MIXES}
HYPERVISOR = "Microsoft Azure"
#: The unit partitions that are not plain words ("Ns Per Event" and the like stay as they are).
_NATIVE_UNITS = {"MiB_s": "MiB/s", "MiB_sec": "MiB/s"}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S%.f"
_PART = re.compile(r"^([a-z_]+)=(.+)$")


def partitions_of(path: str) -> dict[str, str]:
    """The ``key=value`` partition segments of `path` (``unit`` without ``.csv``)."""
    out = {}
    for segment in re.split(r"[\\/]", path):
        if m := _PART.match(segment):
            key, value = m.groups()
            out[key] = value[:-4] if key == "unit" and value.endswith(".csv") else value
    return out


def parse(data: bytes, *, source: str, test_suite: str | None = None, test_name: str | None = None,
          vm_lifespan: str | None = None, vm_region: str | None = None, vm_sku: str | None = None,
          unit: str | None = None) -> Parsed:
    """Parse one CSV of the dataset into measurement rows.

    The partition values (``test_name``, ``vm_sku``, ...) are read from `source`'s
    ``key=value`` folders; an option given here overrides the path. The metadata
    holds the partition values.
    """
    given = {"test_suite": test_suite, "test_name": test_name, "vm_lifespan": vm_lifespan,
             "vm_region": vm_region, "vm_sku": vm_sku, "unit": unit}
    parts = {**partitions_of(source), **{k: v for k, v in given.items() if v is not None}}
    missing = [k for k in PARTITIONS if k != "test_suite" and not parts.get(k)]
    if missing:
        raise ParseError(source, None, f"a Hive-style path with '{missing[0]}=...' "
                                       f"(test_name=/vm_lifespan=/vm_region=/vm_sku=/unit=<unit>.csv) "
                                       f"or the option {missing[0]}", "a path without it")
    text = data.decode("utf-8-sig", errors="replace")
    first, _, _ = text.partition("\n")
    header = tuple(c.strip() for c in first.strip().split(","))
    if header != HEADER:
        raise ParseError(source, 1, f"the header '{','.join(HEADER)}'", first.strip() or "an empty file")
    try:
        raw = pl.read_csv(text.encode("utf-8"), infer_schema=False, truncate_ragged_lines=False) \
            if text.count("\n") > 0 else pl.DataFrame(schema={c: pl.String for c in HEADER})
    except pl.exceptions.PolarsError as exc:  # ragged or malformed rows: find the first
        raise _ragged(text, source, exc) from None
    raw = raw.rename({c: c.strip() for c in raw.columns})  # ' starttime' passed the header check stripped
    numbers = {c: _numbers.to_floats(raw[c], source=source, column=c, first_line=2) for c in ("value", "runtime")}
    typed = raw.with_columns(numbers["value"], numbers["runtime"],
                             pl.col("starttime").str.strptime(pl.Datetime("us"), _TIME_FORMAT, strict=False),
                             pl.col("VM_id").cast(pl.Int64, strict=False))
    expected = {"value": "a number", "runtime": "a positive duration in seconds", "VM_id": "an integer VM id",
                "starttime": "a time 'YYYY-MM-DD HH:MM:SS.fff'"}
    for column, what in expected.items():
        bad = typed[column].is_null()
        if column == "runtime":  # the table's interval must be positive; the end time must fit a datetime
            bad = bad | (typed[column] <= 0) | (typed[column] > _MAX_RUNTIME)
        if bad.any():
            row = int(bad.arg_max())
            raise ParseError(source, row + 2, f"{what} in column '{column}'", repr(raw[column][row]))
    if typed.height == 0:
        raise ParseError(source, 2, "measurement rows after the header", "none")

    test = parts["test_name"]
    known = METRICS.get(test)
    stage = None
    if known is None and test in BANDWIDTH:
        known, stage = ("mem_read_bw", "memory", "MiB_s", schema.MIB), BANDWIDTH[test]
    if known is not None and known[2] == parts["unit"]:
        metric, component, _, factor = known
        unit_name = schema.METRICS[metric].unit
    else:
        metric, component, factor, stage = f"{NAME}:{test.removeprefix('Test:_')}", "total", 1.0, None
        unit_name = _NATIVE_UNITS.get(parts["unit"], parts["unit"])
        warnings.warn(f"{source}: '{test}' is outside the metric vocabulary; kept as {metric} in {unit_name}",
                      NativeMetricWarning, stacklevel=2)
    guest = f"{parts['vm_sku']}/{parts['vm_region']}/{parts['vm_lifespan']}/"
    table = (typed.sort("VM_id", "starttime")
             .with_columns(run=pl.col("starttime").rank("ordinal").over("VM_id").cast(pl.Int32))
             .select(experiment=pl.lit(None, pl.String), condition=pl.lit(parts["vm_sku"]),
                     hypervisor=pl.lit(HYPERVISOR), host=pl.lit(f"azure-{parts['vm_region']}"),
                     guest=pl.lit(guest) + pl.col("VM_id").cast(pl.String), scope=pl.lit("guest"),
                     stage=pl.lit(stage, pl.String), run=pl.col("run"),
                     time=(pl.col("starttime") + pl.duration(microseconds=(pl.col("runtime") * 1e6).round()
                                                             .cast(pl.Int64))).dt.replace_time_zone("UTC"),
                     interval=pl.col("runtime"), aggregate=pl.lit("single"), metric=pl.lit(metric),
                     component=pl.lit(component), value=pl.col("value") * factor, unit=pl.lit(unit_name),
                     source=pl.lit(NAME), source_file=pl.lit(source)))
    return Parsed(table.cast(dict(schema.SCHEMA)), {f"partition.{k}": v for k, v in parts.items()})


def partition_files(root: str | os.PathLike, **where: str | Iterable[str]) -> list[Path]:
    """The dataset's CSV files under `root` whose partition values match `where`
    (``test_name="Test:_Idle_Latency"``, ``vm_sku=["D8s_v5", "B8ms"]``), sorted."""
    unknown = sorted(set(where) - set(PARTITIONS))
    if unknown:
        raise WorkbenchError(f"`{unknown[0]}` is not a partition of the dataset; partitions: {', '.join(PARTITIONS)}")
    wanted = {k: {v} if isinstance(v, str) else set(v) for k, v in where.items()}
    root = Path(root)
    files = []
    for path in sorted(root.rglob("*.csv")):
        parts = partitions_of(path.relative_to(root).as_posix())
        if all(parts.get(k) in values for k, values in wanted.items()):
            files.append(path)
    return files


def read_partitioned(root: str | os.PathLike, **where: str | Iterable[str]) -> pl.DataFrame:
    """Read the partitioned dataset under `root` (or the files `where` selects, see
    :func:`partition_files`) into one validated measurement table; ``source_file`` is
    each file's path below `root`.

    Raises
    ------
    WorkbenchError
        When no file matches (naming the filter), or a file does not parse.
    """
    from . import read  # the registry's read(): labels, defaults, validation

    files = partition_files(root, **where)
    if not files:
        shown = ", ".join(f"{k}={v}" for k, v in where.items()) or "no filter"
        raise WorkbenchError(f"{root}: no CSV file of the Azure VM noise layout matches ({shown})")
    root = Path(root)
    return pl.concat([read(f, format=NAME, source_file=f.relative_to(root).as_posix()) for f in files])


#: Longest runtime accepted, seconds (a year; the dataset's runs take seconds to minutes).
_MAX_RUNTIME = 365 * 86400.0


def _ragged(text: str, source: str, exc: Exception) -> ParseError:
    """The first row whose field count is not the header's (what polars refused)."""
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        for number, row in enumerate(rows, start=1):
            if row and len(row) != len(HEADER):
                return ParseError(source, number, f"{len(HEADER)} fields, as in the header", f"{len(row)} fields")
    except csv.Error as err:
        return ParseError(source, rows.line_num, "rows of comma-separated fields", str(err))
    return ParseError(source, None, f"rows of {len(HEADER)} comma-separated fields",
                      f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def _sniff(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].strip() == b"value,runtime,starttime,VM_id"


from . import register_format  # noqa: E402

register_format(NAME, sniff=_sniff, parse=parse, suffixes=(".csv",),
                description="Azure VM Noise Dataset 2024 CSV (Hive-partitioned: partitions from the path)")
