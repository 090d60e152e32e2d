"""Decoded blocks -> the measurement table: metric mapping, units, scopes, derived series.

One table says how each xapi data source maps onto the vocabulary (DESIGN.md §4);
everything it does not list is kept under ``xen-rrd:<name>`` with its native unit.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import polars as pl

from ... import schema
from ...errors import WorkbenchWarning
from ._model import CFS, Block, Column, check_epochs

NATIVE_PREFIX = "xen-rrd"


class XenRrdWarning(WorkbenchWarning):
    """Something in an RRD document the table keeps but a user should know about."""


class CounterWrapWarning(XenRrdWarning):
    """Values that look like xapi's +2^32 counter-wrap correction (kept, flagged)."""


@dataclass(frozen=True)
class Rule:
    """``objtype`` + full-match of the DS name -> metric, component, factor to canonical unit."""

    objtype: str | None   #: "host", "vm" or None for either
    pattern: str
    metric: str
    component: str        #: may use the pattern's groups: "cpu{0}", "{0}"
    factor: float
    why: str = ""


# Units per XEN_RRD.md §4.1-4.2 and §2.3 (what XenCenter shows). Order matters only
# where patterns overlap: pif_aggr_* before pif_<dev>_*.
RULES: tuple[Rule, ...] = (
    Rule(None, r"cpu([0-9]{1,6})", "cpu_util", "cpu{0}", 100.0, "pCPU/vCPU busy fraction 0..1 -> percent"),
    Rule("host", r"cpu_avg", "cpu_util", "total", 100.0, "mean over pCPUs, fraction -> percent"),
    Rule("host", r"memory_total_kib", "mem_total", "total", schema.KIB, "KiB -> bytes"),
    Rule("host", r"memory_free_kib", "mem_free", "total", schema.KIB, "KiB -> bytes"),
    Rule("vm", r"memory", "mem_total", "total", 1.0, "current allocation, already bytes"),
    # 6.2 labels memory_internal_free "B" but writes KiB (CA-99034; the nova capture's
    # 1415564 with memory = 4 GiB; XenCenter multiplies by 1024), as dom0's did until 2025.
    Rule("vm", r"memory_internal_free", "mem_free", "total", schema.KIB, "KiB -> bytes despite 6.2's 'B'"),
    # loadavg sits on the host object but is dom0's /proc/loadavg (XenCenter: "Control Domain Load").
    Rule("host", r"loadavg", "load_avg", "total", 1.0, "dom0 1-min load average"),
    Rule("host", r"pif_aggr_(rx|tx)", "net_{0}", "total", 1.0, "sum over PIFs, B/s"),
    Rule("host", r"pif_([^_]+)_(rx|tx)", "net_{1}", "{0}", 1.0, "B/s per physical interface"),
    # rx/tx are already the VM's view (xapi swaps dom0's counters).
    Rule("vm", r"vif_(\d+)_(rx|tx)", "net_{1}", "vif{0}", 1.0, "B/s per virtual interface"),
    Rule("vm", r"vbd_([^_]+)_(read|write)", "disk_{1}", "{0}", 1.0, "B/s per virtual disk"),
)
_RULES = tuple((rule, re.compile(rule.pattern)) for rule in RULES)

#: Native units of data sources outside the vocabulary (XEN_RRD.md §4), first match wins.
NATIVE_UNITS: tuple[tuple[str, str], ...] = (
    (r".*_kib", "KiB"),
    (r"memory_target|memory_reclaimed(_max)?|sr_.+_cache_size|memory_numa_node_\d+", "bytes"),
    (r"(pif|vif)_.+_(rx|tx)_errors", "errors/s"),
    (r"vbd_.+_(read_)?latency|vbd_.+_write_latency|read_latency_.+|write_latency_.+|latency_.+", "µs"),
    (r".+/latency", "s"),
    (r"(vbd_.+_)?io_throughput_.+", "MiB/s"),
    (r"(vbd_.+_)?iops_.+", "requests/s"),
    (r"(vbd_.+_)?(inflight|avgqu_sz)(_.+)?", "requests"),
    (r"(vbd_.+_)?iowait(_.+)?|runstate_.+|cpu_usage|cpu\d+-[CP]\d+|hostload", "fraction"),
    (r"read_[0-9a-f]{8}|write_[0-9a-f]{8}", "bytes/s"),
    (r"sr_.+_cache_(hits|misses)", "1/s"),
    (r"CPU\d+-avg-freq", "MHz"),
    (r"DCMI-power-reading", "W"),
    (r"running_(vcpus|domains)|runnable_.+|pool_.+_count|xapi_open_fds|Tapdisks_in_low_memory_mode", "count"),
    # Names of the vocabulary, for their values kept natively (out of range, or an
    # object of unknown type).
    (r"(pif|vif)_[^_]+_(rx|tx)|vbd_[^_]+_(read|write)", "bytes/s"),
    (r"cpu\d+|cpu_avg", "fraction"),
    (r"memory", "bytes"),
    (r"memory_internal_free", "KiB"),
    (r"loadavg", "1"),
)
_NATIVE_UNITS = tuple((re.compile(p), u) for p, u in NATIVE_UNITS)
_NATIVE_COMPONENT = re.compile(r"(?:vbd|pif)_([^_]+)_.+|vif_(\d+)_.+|(cpu\d+)-.+")

# Objects without a legend (dumps, bare rrdtool names) are recognised by DS names only
# one kind of object has (XEN_RRD.md §4.1, §4.2).
_HOST_ONLY = re.compile(r"cpu_avg|memory_(total|free)_kib|loadavg|pif_.+|xapi_.+|sr_.+")
_VM_ONLY = re.compile(r"memory|memory_target|memory_internal_free|vif_.+|vbd_.+|runstate_.+")

#: Counter-wrap heuristic: xapi 6.2 adds 2^32 to a negative counter delta, so a reset
#: shows as about 2^32 bytes in one PDP. Flag rate values worth >= 2^31 bytes over
#: their interval that are also >= 100x the median of their series.
WRAP_BYTES = 2.0 ** 31
WRAP_MEDIAN_FACTOR = 100.0
_WRAP_METRICS = ("net_rx", "net_tx", "disk_read", "disk_write")


@dataclass
class _Series:
    column: Column | None
    metric: str
    component: str
    unit: str
    scope: str | None
    host: str | None
    guest: str | None
    aggregate: str
    values: np.ndarray
    mask: np.ndarray | None = None  #: rows to keep (None: all)


def infer_objtype(names: list[str]) -> str | None:
    """``host`` or ``vm`` from the DS names of one object, None when they do not say."""
    host = any(_HOST_ONLY.fullmatch(n) for n in names)
    vm = any(_VM_ONLY.fullmatch(n) for n in names)
    return "host" if host and not vm else "vm" if vm and not host else None


def native_unit(name: str) -> str:
    """The native unit of a data source outside the vocabulary ("unknown" if not documented)."""
    for pattern, unit in _NATIVE_UNITS:
        if pattern.fullmatch(name):
            return unit
    return "unknown"


def map_column(column: Column, objtype: str | None) -> tuple[str, str, float, str]:
    """``(metric, component, factor, unit)`` of a data source of an object of `objtype`."""
    for rule, pattern in _RULES:
        if rule.objtype is not None and rule.objtype != objtype:
            continue
        m = pattern.fullmatch(column.name)
        if m:
            metric = rule.metric.format(*m.groups())
            return metric, rule.component.format(*m.groups()), rule.factor, schema.METRICS[metric].unit
    return native(column)


def native(column: Column) -> tuple[str, str, float, str]:
    m = _NATIVE_COMPONENT.fullmatch(column.name)
    component = "total"
    if m:
        dev, vif, cpu = m.groups()
        component = dev or (f"vif{vif}" if vif else cpu)
    if column.objtype == "sr":
        component = column.uuid or component
    return f"{NATIVE_PREFIX}:{column.name}", component, 1.0, native_unit(column.name)


def _scope(objtype: str | None, name: str) -> str | None:
    if objtype == "host":
        return "control-domain" if name == "loadavg" else "host"
    if objtype == "vm":
        return "guest"
    if objtype == "sr":
        return "host"
    return None


def block_series(block: Block, notes: dict[str, set[str]]) -> list[_Series]:
    """Every output series of one block, derived ones included."""
    # Objects of this block; a dump or bare legend is one object of inferred type.
    keyed: dict[tuple[str | None, str | None], list[int]] = {}
    for j, col in enumerate(block.columns):
        keyed.setdefault((col.objtype, col.uuid), []).append(j)
    hosts = {col.uuid for col in block.columns if col.objtype == "host"}
    doc_host = next(iter(hosts)) if len(hosts) == 1 else None
    out: list[_Series] = []
    for (objtype, uuid), idx in keyed.items():
        objtype_eff = objtype or infer_objtype([block.columns[j].name for j in idx])
        host = uuid if objtype == "host" else doc_host
        guest = uuid if objtype == "vm" else None
        by_cf: dict[str | None, dict[str, np.ndarray]] = {}
        for j in idx:
            col = block.columns[j]
            values = block.values[:, j]
            if col.cf is None:
                notes.setdefault("no_cf", set()).add(col.legend)
            aggregate = CFS[col.cf or "AVERAGE"]
            scope = _scope(objtype_eff, col.name)
            metric, component, factor, unit = map_column(col, objtype_eff)
            converted = values * factor if factor != 1.0 else values
            if metric in schema.METRICS:
                bad = _outside(metric, converted)
                finite = int((~np.isnan(converted)).sum())
                if bad.sum() * 2 > finite:
                    # Mostly outside the documented range: the unit is not what the name
                    # says (rrdtool_dump.xml's cpu0 holds microseconds per second). Keep
                    # the column, under its native name rather than a wrong one.
                    notes.setdefault("not_metric", set()).add(f"{col.legend} (not {metric})")
                    metric, component, factor, unit = native(col)
                    converted = values
                elif bad.any():
                    # A few values outside the range, such as the negative disk rates a
                    # counter reset leaves in the real nova capture: the vocabulary series
                    # gets no value there, as xapi itself does since 2019 (CA-322008),
                    # and the raw values stay in the table under the native name.
                    notes.setdefault("outside", set()).add(
                        f"{col.legend} in {block.where}: {int(bad.sum())} value(s)")
                    n_metric, n_component, _, n_unit = native(col)
                    out.append(_Series(col, n_metric, n_component, n_unit, scope, host, guest, aggregate,
                                       values, mask=bad))
                    converted = np.where(bad, np.nan, converted)
            if metric.startswith(NATIVE_PREFIX + ":"):
                notes.setdefault("native", set()).add(col.name)
            out.append(_Series(col, metric, component, unit, scope, host, guest, aggregate, converted))
            by_cf.setdefault(col.cf, {})[col.name] = values
        if objtype_eff in ("host", "vm"):
            out.extend(_derived(by_cf, objtype_eff, host, guest, notes))
    return out


def _outside(metric: str, values: np.ndarray) -> np.ndarray:
    low, high = schema.METRICS[metric].bounds
    with np.errstate(invalid="ignore"):
        return (values < low) | (values > high)


def _derived(by_cf: dict[str | None, dict[str, np.ndarray]], objtype: str, host: str | None,
             guest: str | None, notes: dict[str, set[str]]) -> list[_Series]:
    """XenCenter's derived series (XEN_RRD.md §2.3), for AVERAGE and LAST archives only:
    a mean (or last) of a difference is the difference of the means, but the minimum of a
    difference is not computable from minima and maxima."""
    out = []
    scope = "host" if objtype == "host" else "guest"
    who = guest or host or objtype
    for cf, cols in by_cf.items():
        if cf not in (None, "AVERAGE", "LAST"):
            continue
        aggregate = CFS[cf or "AVERAGE"]
        used = None
        if objtype == "host" and {"memory_total_kib", "memory_free_kib"} <= cols.keys():
            # XenCenter's "Used Memory" of a host: total - free, KiB -> bytes.
            used = (cols["memory_total_kib"] - cols["memory_free_kib"]) * schema.KIB
        elif objtype == "vm" and {"memory", "memory_internal_free"} <= cols.keys():
            # XenCenter's "Used Memory" of a VM: memory (B) - memory_internal_free (KiB) * 1024.
            used = cols["memory"] - cols["memory_internal_free"] * schema.KIB
        if used is not None:
            out.append(_Series(None, "mem_used", "total", "bytes", scope, host, guest, aggregate,
                               _derived_values("mem_used", used, who, notes)))
        cpus = sorted((k for k in cols if re.fullmatch(r"cpu[0-9]{1,6}", k)), key=lambda k: int(k[3:]))
        if objtype == "vm" and cpus and "cpu_usage" not in cols:
            # A VM's total CPU is the mean of its vCPUs (XenCenter 6.2's avg_cpu; 6.2 VMs
            # have no cpu_avg). NaN in any vCPU makes the mean NaN: no value, not a guess.
            total = np.mean(np.column_stack([cols[k] for k in cpus]), axis=1) * 100.0
            out.append(_Series(None, "cpu_util", "total", "percent", scope, host, guest, aggregate,
                               _derived_values("cpu_util", total, who, notes)))
    return out


def _derived_values(metric: str, values: np.ndarray, who: str, notes: dict[str, set[str]]) -> np.ndarray:
    # A derived value outside the range (free > allocated during ballooning) is no value;
    # nothing from the file is lost, its inputs are in the table.
    bad = _outside(metric, values)
    if bad.any():
        notes.setdefault("not_derived", set()).add(f"{metric} of {who}: {int(bad.sum())} value(s)")
        return np.where(bad, np.nan, values)
    return values


def to_frame(blocks: list[Block], *, source_name: str, source: str) -> pl.DataFrame:
    """The measurement table of decoded `blocks` (label columns the file does not give are null)."""
    frames = list(to_pieces(blocks, source_name=source_name, source=source, rows=None))
    if not frames:
        return schema.empty()
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical", rechunk=False)


def to_pieces(blocks: list[Block], *, source_name: str, source: str, rows: int | None) -> Iterator[pl.DataFrame]:
    """:func:`to_frame` in consecutive pieces: whole series of one block each, about `rows`
    rows (None: one piece per block). The warnings about the whole document come after
    the last piece."""
    notes: dict[str, set[str]] = {}
    wraps: list[tuple[str, str, int, float]] = []
    constant = {**{name: pl.lit(None, dtype=schema.SCHEMA[name])
                   for name in ("experiment", "condition", "hypervisor", "stage", "run")},
                "source": pl.lit(source_name, dtype=schema.LABEL), "source_file": pl.lit(source, dtype=schema.LABEL)}
    for block in blocks:
        _check_times(block, source)
        order = np.argsort(block.times, kind="stable")
        times_us = block.times[order].astype(np.int64) * 1_000_000
        series = block_series(block, notes)
        if not series or not len(times_us):
            continue
        for s in series:
            if s.metric in _WRAP_METRICS:
                hits = np.flatnonzero(wrap_mask(s.values, block.interval))
                wraps.extend((s.metric, s.component, int(block.times[i]), float(s.values[i])) for i in hits)
        n = len(times_us)
        per_piece = len(series) if rows is None else max(1, rows // n)
        for first in range(0, len(series), per_piece):
            yield _piece(series[first:first + per_piece], order, times_us, block.interval).with_columns(
                **constant).select(list(schema.COLUMNS))
    _warn(notes, source)
    if wraps:
        shown = "; ".join(f"{m} {c} at {datetime.fromtimestamp(t, timezone.utc):%Y-%m-%d %H:%M:%S}Z = {v:.6g}"
                          for m, c, t, v in wraps[:3])
        warnings.warn(f"{source}: {len(wraps)} value(s) look like xapi's +2^32 counter-wrap "
                      f"correction (kept; counter_wrap_suspects() lists them): {shown}", CounterWrapWarning,
                      stacklevel=3)


def _piece(series: list[_Series], order: np.ndarray, times_us: np.ndarray, interval: float) -> pl.DataFrame:
    """Rows of `series` (of one block), series after series."""
    n, k = len(times_us), len(series)
    # A label shared by every series of the piece stays one scalar (polars does not
    # materialize it row by row here); the others are gathered per row.
    shared, varying = {}, {}
    for name in ("host", "guest", "scope", "aggregate", "metric", "component", "unit"):
        col = [getattr(s, name) for s in series]
        (shared if len(set(col)) == 1 and name != "metric" else varying)[name] = col
    attrs = pl.DataFrame(varying, schema={name: schema.LABEL for name in varying})
    index = np.repeat(np.arange(k, dtype=np.uint32), n)
    values = np.concatenate([s.values[order] for s in series])
    times = np.tile(times_us, k)
    if any(s.mask is not None for s in series):
        keep = np.concatenate([np.ones(n, dtype=bool) if s.mask is None else s.mask[order] for s in series])
        index, values, times = index[keep], values[keep], times[keep]
    return attrs.select(pl.all().gather(pl.Series(index))).with_columns(
        **{name: pl.lit(col[0], dtype=schema.LABEL) for name, col in shared.items()},
        time=pl.Series(times).cast(schema.UTC_TIME),
        interval=pl.lit(interval, dtype=pl.Float64),
        value=pl.Series(values, dtype=pl.Float64),
    )


def _check_times(block: Block, source: str) -> None:
    from ...errors import ParseError
    check_epochs(block.times, source=source, where=block.where)  # the fast paths' times too
    if len(block.times) > 1 and np.unique(block.times).size != len(block.times):
        values, counts = np.unique(block.times, return_counts=True)
        raise ParseError(source, block.where, "one row per time", f"{counts.max()} rows at t={values[counts.argmax()]}")


def _warn(notes: dict[str, set[str]], source: str) -> None:
    if notes.get("native"):
        names = sorted(notes["native"])
        warnings.warn(f"{source}: {len(names)} data source(s) outside the metric vocabulary kept as "
                      f"'{NATIVE_PREFIX}:<name>' with native units: {', '.join(names)}", XenRrdWarning, stacklevel=4)
    if notes.get("not_metric"):
        warnings.warn(f"{source}: values mostly outside the metric's range (another unit), kept under the "
                      f"native name instead: {', '.join(sorted(notes['not_metric']))}", XenRrdWarning, stacklevel=4)
    if notes.get("outside"):
        warnings.warn(f"{source}: values outside the metric's range (counter resets?) are NaN in the metric "
                      f"and kept under the native name: {'; '.join(sorted(notes['outside']))}",
                      XenRrdWarning, stacklevel=4)
    if notes.get("no_cf"):
        warnings.warn(f"{source}: legend names no consolidation function; AVERAGE assumed for "
                      f"{', '.join(sorted(notes['no_cf']))}", XenRrdWarning, stacklevel=4)
    if notes.get("not_derived"):
        warnings.warn(f"{source}: derived values outside the metric's range left NaN: "
                      f"{'; '.join(sorted(notes['not_derived']))}", XenRrdWarning, stacklevel=4)


def wrap_mask(values: np.ndarray, interval: float) -> np.ndarray:
    """The counter-wrap rule of :func:`counter_wrap_suspects` on one series (numpy)."""
    finite = values[~np.isnan(values)]
    if not finite.size:
        return np.zeros(values.shape, dtype=bool)
    median = np.median(finite)
    with np.errstate(invalid="ignore"):
        return (values * interval >= WRAP_BYTES) & (values >= WRAP_MEDIAN_FACTOR * median)


def counter_wrap_suspects(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of `frame` that look like xapi's 32-bit counter-wrap correction.

    xapi 6.2 adds 2^32 when a DERIVE counter's delta is negative (``process_ds_value``,
    XEN_RRD.md §4.3), so an interface reset or a migration shows as a spike of about
    2^32 bytes in one 5 s PDP. A network or disk rate is flagged when it is worth at
    least 2^31 bytes over its interval and at least 100 times the median of its series
    (same object, metric, component, aggregate and interval). The values stay in the
    table; this function says which ones to distrust.
    """
    keys = ["host", "guest", "scope", "metric", "component", "aggregate", "interval"]
    rates = frame.filter(pl.col("metric").is_in(_WRAP_METRICS) & pl.col("value").is_not_nan())
    if rates.is_empty():
        return frame.clear()
    median = pl.col("value").median().over(keys)
    return rates.filter((pl.col("value") * pl.col("interval") >= WRAP_BYTES)
                        & (pl.col("value") >= WRAP_MEDIAN_FACTOR * median))
