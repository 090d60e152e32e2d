"""What the probe's table says: medians with intervals, layouts, disturbed trials."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import polars as pl

from .. import schema
from ..errors import WorkbenchError
from ..machine import Machine, describe_virtualization, format_size
from ._common import LEVELS, METRICS, SINGLE, SOURCE, WARM_UP


def stage_name(user_stage: str | None, mode: str) -> str:
    """The ``stage`` of the probe's rows for a thread mode (``"idle: all-cores"``)."""
    return f"{user_stage}: {mode}" if user_stage else mode


def summary_of_one(table: pl.DataFrame, *, confidence_level: float = 0.95,
                   include_flagged: bool = False) -> pl.DataFrame:
    """:func:`summary` of the probe rows of one condition and host (refused otherwise)."""
    data = table.filter(pl.col("source") == SOURCE)
    groups = data.select("condition", "host").unique()
    if groups.height > 1:
        raise WorkbenchError(f"the table holds probe rows of {groups.height} condition/host pairs; "
                             "filter it to one first")
    return summary(data, confidence_level=confidence_level, include_flagged=include_flagged)


def cache_memory_table(table: pl.DataFrame, *, bandwidth_stage: str = "all-cores",
                             stage: str | None = None, confidence_level: float = 0.95,
                             include_flagged: bool = False) -> pl.DataFrame:
    """The memory probe in EVEREST's Cache & Memory layout: rows Memory/L1/L2/L3,
    columns Read/Write/Copy (MB/s) and Latency (ns).

    Each cell is the median of the measured trials (the warm-up excluded) and
    its distribution-free confidence interval, ``"11632 [11553, 11712]"``;
    ``[-]`` where there are too few trials for an interval at
    `confidence_level` (6 at 95 %). Bandwidth comes from `bandwidth_stage`
    (``all-cores``, as AIDA64 measures it, or ``single-thread``), latency is
    always single-thread.

    Parameters
    ----------
    table : polars.DataFrame
        Probe rows of one condition and host (other sources are ignored).
    bandwidth_stage : str
        ``all-cores`` or ``single-thread``.
    stage : str, optional
        The user's stage label given to the probe, if any (rows are ``"<stage>: all-cores"``).
    confidence_level : float
        Of the interval of the median.
    """
    medians = summary_of_one(table, confidence_level=confidence_level, include_flagged=include_flagged)
    bandwidth = (pl.col("stage") == stage_name(stage, bandwidth_stage)) & (pl.col("metric") != "mem_latency")
    latency = (pl.col("stage") == stage_name(stage, SINGLE)) & (pl.col("metric") == "mem_latency")
    rows = medians.filter(bandwidth | latency)
    if rows.is_empty():
        raise WorkbenchError(f"no measured probe rows for stage {stage_name(stage, bandwidth_stage)!r}")
    out = []
    for component, label in schema.CACHE_MEMORY.rows:
        cells = {"": label}
        for metric in schema.CACHE_MEMORY.metrics:
            column = schema.CACHE_MEMORY.column_label(metric, unit=True)
            hit = rows.filter((pl.col("component") == component) & (pl.col("metric") == metric))
            if hit.is_empty():
                cells[column] = ""  # an absent level: EVEREST leaves the row empty
                continue
            r = hit.row(0, named=True)
            scale = schema.display_unit(metric)[1]
            digits = 0 if schema.display_unit(metric)[0] == "MB/s" else 1  # EVEREST: whole MB/s, ns to 0.1
            interval = ("[-]" if r["low"] != r["low"] else  # NaN: too few trials
                        f"[{r['low'] * scale:.{digits}f}, {r['high'] * scale:.{digits}f}]")
            cells[column] = f"{r['median'] * scale:.{digits}f} {interval}"
        cells["trials"] = str(int(rows.filter(pl.col("component") == component)["n"].min() or 0))
        out.append(cells)
    return pl.DataFrame(out)


def worst_precision(table: pl.DataFrame, *, confidence_level: float = 0.95) -> float:
    """The widest interval of the median among the probe's cells, as a fraction of its
    median (half-width; 0.02 = +-2 %), over undisturbed measured trials; NaN while
    some cell has too few trials for an interval (6 at 95 %)."""
    try:
        s = summary(table, confidence_level=confidence_level)
    except WorkbenchError:
        return math.nan
    half = ((s["high"] - s["low"]) / 2 / s["median"]).to_numpy()
    return math.nan if np.isnan(half).any() else float(half.max())


def flagged_trials(table: pl.DataFrame) -> dict[int, str]:
    """Measured trials (warm-up left out) that a guard or sanity check flagged: run -> why."""
    rows = measured(table).filter(pl.col(schema.FLAG).is_not_null())
    return dict(rows.group_by("run").agg(pl.col(schema.FLAG).first()).sort("run").iter_rows())


@dataclass(frozen=True)
class Disturbance:
    """Which measured trials were flagged, and what to tell a reader about it.

    Attributes
    ----------
    measured : int
        Measured trials (the warm-up left out).
    flagged : dict
        run -> why (:func:`flagged_trials`).
    message : str or None
        A warning for the reader; None when no trial was flagged.
    """

    measured: int
    flagged: dict[int, str]
    message: str | None

    @property
    def all_flagged(self) -> bool:
        """No undisturbed trial: a summary must include the flagged ones, said so."""
        return bool(self.flagged) and len(self.flagged) >= self.measured


def disturbance(table: pl.DataFrame, thresholds: Any = None) -> Disturbance:
    """What the interference guards and sanity checks said about the measured trials.

    `thresholds` (a :class:`workbench.guards.Thresholds`, e.g. rebuilt from the run's
    ``settings["thresholds"]``) adds the rules that flagged them to the message.
    """
    flagged = flagged_trials(table)
    measured_runs = measured(table)["run"].n_unique()
    if not flagged:
        return Disturbance(measured_runs, flagged, None)
    lines = [f"WARNING: {len(flagged)} of {measured_runs} measured trials were disturbed (flag column):"]
    lines += [f"  trial {run}: {why}" for run, why in flagged.items()]
    if thresholds is not None:
        lines.append(f"  guards: {thresholds.describe()}; and physical sanity (latency L1 < L2 < L3 < memory, "
                     "memory bandwidth < L1)")
    if len(flagged) >= measured_runs:
        lines.append("No undisturbed trial: any summary of this run shows disturbed measurements, NOT a result "
                     "of this machine. Run the probe again on a quiet machine.")
    else:
        lines.append("The disturbed trials are left out of the summaries.")
    return Disturbance(measured_runs, flagged, "\n".join(lines))


def measured(table: pl.DataFrame) -> pl.DataFrame:
    """The probe's rows without the warm-up (run 0, stage ``... warm-up``)."""
    return table.filter((pl.col("source") == SOURCE) & (pl.col("run") > 0)
                        & ~pl.col("stage").cast(pl.String).str.ends_with(WARM_UP))


def summary(table: pl.DataFrame, *, confidence_level: float = 0.95,
            include_flagged: bool = False) -> pl.DataFrame:
    """Median of the measured trials per stage, level and metric, with an interval.

    Trials the interference guards or sanity checks flagged are left out unless
    `include_flagged` (see :func:`flagged_trials`).

    The interval is the distribution-free confidence interval of the median
    from order statistics (binomial; ``scipy.stats.quantile_test``). It needs
    at least 6 measured trials at 95 %; with fewer, its bounds are NaN rather
    than an interval that does not hold its level.

    Returns
    -------
    polars.DataFrame
        Columns ``stage, component, metric, n, median, low, high, min, max``
        (canonical units).
    """
    from scipy.stats import quantile_test

    rows = []
    data = measured(table).filter(pl.col("metric").is_in(METRICS))
    if data.is_empty():
        raise WorkbenchError("no measured probe trials in the table (only the warm-up, or no probe rows)")
    if not include_flagged:
        data = data.filter(pl.col(schema.FLAG).is_null())
        if data.is_empty():
            raise WorkbenchError("every measured probe trial was flagged as disturbed (see the flag column); "
                                 "nothing to summarize as a result")
    for (stage, component, metric), group in data.group_by("stage", "component", "metric",
                                                           maintain_order=True):
        values = group["value"].to_numpy()
        med = float(np.median(values))
        ci = quantile_test(values, q=med, p=0.5).confidence_interval(confidence_level)
        rows.append({"stage": stage, "component": component, "metric": metric, "n": len(values),
                     "median": med, "low": float(ci.low), "high": float(ci.high),
                     "min": float(values.min()), "max": float(values.max())})
    order = {name: i for i, name in enumerate(LEVELS)}
    return (pl.DataFrame(rows)
            .with_columns(_l=pl.col("component").replace_strict(order, default=9),
                          _m=pl.col("metric").replace_strict({m: i for i, m in enumerate(METRICS)}, default=9))
            .sort("stage", "_l", "_m").drop("_l", "_m"))


def per_trial(table: pl.DataFrame) -> pl.DataFrame:
    """Every trial's value in display units (MB/s, ns), one column per run;
    ``run 0 (warm-up)`` first, so the warm-up can be seen against the others."""
    data = table.filter((pl.col("source") == SOURCE) & pl.col("metric").is_in(METRICS))
    if data.is_empty():
        raise WorkbenchError("no probe rows in the table")
    data = schema.to_display(data).with_columns(
        mode=pl.col("stage").cast(pl.String).str.strip_suffix(f" {WARM_UP}"),
        column=pl.when(pl.col("run") == 0).then(pl.lit(f"run 0 ({WARM_UP})"))
        .otherwise(pl.format("run {}", pl.col("run"))),
        shown=pl.col("display_value").round(1))
    order = {name: i for i, name in enumerate(LEVELS)}
    wide = data.pivot(on="column", index=["mode", "component", "metric", "display_unit"], values="shown",
                      aggregate_function="first", maintain_order=True)
    return (wide.with_columns(_l=pl.col("component").replace_strict(order, default=9))
            .sort("mode", "_l", maintain_order=True).drop("_l")
            .rename({"mode": "stage", "component": "level", "display_unit": "unit"}))


def describe(metadata: Mapping[str, Any]) -> pl.DataFrame:
    """The machine and the run, as ``item, value`` rows (from :meth:`ProbeResult.metadata`
    or :func:`read_metadata`)."""
    m, s = Machine.from_dict(metadata["machine"]), metadata["settings"]
    clock = f"{m.clock_hz / 1e6:.0f} MHz ({m.clock_kind})" if m.clock_hz else "not reported"
    caches = "; ".join(f"{c.level} {format_size(c.size)} x {c.instances} "
                       f"({'shared' if c.shared else 'private'}, {c.source})" for c in m.caches)
    levels = "; ".join(f"{lv['name']} {format_size(lv['size'])} ({lv['rule']})" for lv in metadata["levels"])
    rows = [("CPU", m.cpu_model or "not reported"), ("clock", clock),
            ("CPUs available", str(m.logical_cpus)), ("OS", m.os), ("host", m.hostname),
            ("hypervisor", describe_virtualization(m.virtualization)), ("caches", caches),
            *(("note", note) for note in m.notes), ("working sets", levels),
            ("trials", f"{s['trials']} (run 0 is the warm-up; {s['trials'] - 1} measured)"),
            ("threads (all-cores)", str(s["threads"])), ("modes", ", ".join(s["modes"])),
            ("seconds per measurement", f"{s['target_seconds']:g}"),
            ("started", s["started"]), ("duration", f"{s['seconds']:.1f} s")]
    return pl.DataFrame(rows, schema=["item", "value"], orient="row")


def level_sizes(metadata: Mapping[str, Any]) -> dict[str, int]:
    """Working-set bytes per component, from the metadata (for the figure's x axis)."""
    return {lv["name"]: int(lv["size"]) for lv in metadata["levels"]}


def cache_sizes(metadata: Mapping[str, Any]) -> dict[str, int]:
    """Cache bytes per level, from the metadata (marked on the figure)."""
    return {c["level"]: int(c["size"]) for c in metadata["machine"]["caches"]}


def headline(table: pl.DataFrame, disturbed: Disturbance | None = None) -> str:
    """One line for the reports' index: DRAM latency and single-thread read bandwidth
    (medians of the undisturbed trials), or that every trial was disturbed."""
    disturbed = disturbed or disturbance(table)
    s = summary(table, include_flagged=disturbed.all_flagged)

    def median(metric: str, stage_suffix: str) -> float | None:
        row = s.filter((pl.col("component") == "memory") & (pl.col("metric") == metric)
                       & pl.col("stage").cast(pl.String).str.ends_with(stage_suffix))
        return None if row.is_empty() else float(row["median"][0])

    lat, read = median("mem_latency", SINGLE), median("mem_read_bw", SINGLE)
    parts = [f"DRAM latency {lat * 1e9:.1f} ns" if lat is not None else "",
             f"single-thread DRAM read {read / 1e6:,.0f} MB/s" if read is not None else ""]
    text = ", ".join(p for p in parts if p) or "no DRAM result"
    kept = disturbed.measured - len(disturbed.flagged)
    if disturbed.all_flagged:
        return f"DISTURBED: all {disturbed.measured} trials flagged; {text} (not a result of this machine)"
    return f"{text} (median of {kept} undisturbed trial(s))"
