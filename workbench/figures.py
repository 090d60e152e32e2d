"""Plotting functions: data and ``ax=`` in, ``ax`` out; never save or show.

Each thesis figure that has data gets one function, titled with its figure
number, labelled in English, units on the axes. Input is the measurement table
(polars); conversion to pandas happens here, at the seaborn boundary. Values
the thesis only states in its text (``source = thesis-text``) are drawn hatched
and marked "≈".
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import polars as pl
import seaborn as sns
from matplotlib.axes import Axes

from .schema import CACHE_MEMORY, MIB, display_unit

APPROX_SOURCE = "thesis-text"
_PALETTE = {"virtualized": "#d95f02", "paravirtualized": "#1b9e77", "native": "#7570b3"}


def _ax(ax: Axes | None) -> Axes:
    return ax if ax is not None else plt.gca()


def _select(table: pl.DataFrame, metrics: list[str] | str, **eq: str) -> pl.DataFrame:
    metrics = [metrics] if isinstance(metrics, str) else metrics
    out = table.filter(pl.col("metric").is_in(metrics))
    for col, value in eq.items():
        out = out.filter(pl.col(col) == value)
    if out.is_empty():
        raise ValueError(f"no rows for metric(s) {metrics} with {eq}")
    return out


def _hatch_approx(ax: Axes, bars, approx_flags) -> None:
    for patch, approx in zip(bars, approx_flags):
        if approx:
            patch.set_hatch("//")
            patch.set_edgecolor("black")


def fig9_overhead_model(cells: pl.DataFrame, ax: Axes | None = None) -> Axes:
    """Figure 9: the overhead model (share of CPU per method), from its transcription."""
    ax = _ax(ax)
    rows = ["full virtualization", "paravirtualization"]

    def val(row: str, col: str) -> float:
        return float(cells.filter((pl.col("row_en") == row) & (pl.col("column_en") == col))["value"][0])

    cost = [val(r, "virtualization cost total") for r in rows]
    useful = [val(r, "useful processing total") for r in rows]
    guests = [val(r, "guest instances") for r in rows]
    labels = [f"{r}\n({g:g} guests)" for r, g in zip(rows, guests)]
    ax.bar(labels, useful, color="#1b9e77", label="useful processing")
    ax.bar(labels, cost, bottom=useful, color="#d95f02", label="virtualization cost")
    for i, (u, c) in enumerate(zip(useful, cost)):
        ax.text(i, u + c + 1, f"{u + c:g} %", ha="center")
    ax.set_ylim(0, 110)
    ax.set_ylabel("CPU time (%)")
    ax.set_title("Figure 9: CPU share per method at 10 % useful work per guest")
    ax.legend(loc="lower right")
    return ax


def fig65_cpu_per_core(table: pl.DataFrame, ax: Axes | None = None) -> Axes:
    """Figures 65/66: host CPU use per core in the nine stages (EVEREST, VMware host)."""
    ax = _ax(ax)
    data = _select(table, "cpu_util", source="thesis-table").to_pandas()
    order = list(dict.fromkeys(data["stage"]))
    # The thesis numbers cores from 1 ("Núcleo N° 1"); components from cpu0.
    data["core"] = "core " + (data["component"].str.removeprefix("cpu").astype(int) + 1).astype(str)
    sns.barplot(data=data, y="stage", x="value", hue="core", order=order, orient="h", ax=ax,
                palette=["#377eb8", "#e41a1c"])
    ax.set_xlim(0, 100)
    ax.axvline(50, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("CPU use (%)")
    ax.set_ylabel("")
    ax.set_title("Figures 65/66: host CPU use per core, VMware Workstation host")
    return ax


def fig67_host_memory(table: pl.DataFrame, ax: Axes | None = None) -> Axes:
    """Figures 67/68: host physical memory in four cases (used and free, MiB)."""
    ax = _ax(ax)
    data = _select(table, ["mem_used", "mem_free", "mem_util"], source="thesis-table",
                   condition="virtualized")
    cases = list(dict.fromkeys(data["stage"].to_list()))
    wide = {m: [float(data.filter((pl.col("stage") == c) & (pl.col("metric") == m))["value"][0]) for c in cases]
            for m in ("mem_used", "mem_free", "mem_util")}
    used = [v / MIB for v in wide["mem_used"]]
    free = [v / MIB for v in wide["mem_free"]]
    ax.barh(cases, used, color="#d95f02", label="used")
    ax.barh(cases, free, left=used, color="#cccccc", label="free")
    for i, (u, pct) in enumerate(zip(used, wide["mem_util"])):
        ax.text(u / 2, i, f"{u:.0f} MiB ({pct:g} %)", va="center", ha="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("host physical memory (MiB)")
    ax.set_title("Figures 67/68: host memory, VMware Workstation host")
    ax.legend(loc="lower right")
    return ax


def fig69_71_cache_memory(table: pl.DataFrame, ax: Axes | None = None) -> Axes:
    """Figures 69-71 as one comparison: change of every EVEREST Cache & Memory value
    against the freshly booted host, in percent (latency: positive = slower)."""
    ax = _ax(ax)
    metrics = list(CACHE_MEMORY.metrics)
    # The Cache & Memory values are the only ones with these metrics in the thesis
    # (read by the EVEREST reader since figures 69-71 moved to it): select by metric.
    data = _select(table, metrics, condition="virtualized")
    stages = list(dict.fromkeys(data["stage"].to_list()))
    base = data.filter(pl.col("stage") == stages[0]).select("metric", "component", base="value")
    rel = (data.join(base, on=["metric", "component"])
           .with_columns(change=100 * (pl.col("value") / pl.col("base") - 1))
           .filter(pl.col("stage") != stages[0])
           .with_columns(what=pl.col("component") + " " + pl.col("metric").replace(
               {m: label.lower() for m, label in CACHE_MEMORY.columns})))
    # The thesis's host has no L3: its rows are left out.
    order = [f"{c} {label.lower()}" for c in CACHE_MEMORY.levels[:3] for _, label in CACHE_MEMORY.columns]
    sns.barplot(data=rel.to_pandas(), y="what", x="change", hue="stage", order=order, orient="h",
                hue_order=stages[1:], ax=ax, palette=["#7570b3", "#e7298a"])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(f"change vs '{stages[0]}' (%)")
    ax.set_ylabel("")
    ax.set_title("Figures 69-71: EVEREST Cache & Memory, change with guests running")
    return ax


def cache_memory_table(table: pl.DataFrame) -> pl.DataFrame:
    """Figures 69-71 in EVEREST's layout: rows Memory/L1/L2/L3, columns Read/Write/Copy
    (MB/s) and Latency (ns), one block per stage."""
    metrics = {m: CACHE_MEMORY.column_label(m, unit=True) for m in CACHE_MEMORY.metrics}
    data = _select(table, list(metrics)).with_columns(
        shown=(pl.col("value") * pl.col("metric").replace_strict(
            {m: display_unit(m)[1] for m in metrics}, return_dtype=pl.Float64)).round(1),
        column=pl.col("metric").replace(metrics))
    return (data.pivot(on="column", index=["stage", "component"], values="shown",
                       aggregate_function="first", maintain_order=True)
            .select("stage", "component", *metrics.values()))


def fig74_75_memory(table: pl.DataFrame, ax: Axes | None = None) -> Axes:
    """Figures 74/75: memory used with both guests running, XenServer (XenCenter, values
    stated approximately in the text) against the VMware host (figure 67)."""
    ax = _ax(ax)
    used = _select(table, "mem_used", stage="both guests running").to_pandas()
    used["what"] = used.apply(lambda r: f"{r['condition']}: {'guests' if r['scope'] == 'guest' else 'host'}",
                              axis=1)
    used["MiB"] = used["value"] / MIB
    order = sorted(used["what"].unique(), key=lambda w: (not w.startswith("virtualized"), "guests" in w))
    used = used.set_index("what").loc[order].reset_index()
    bars = ax.bar(used["what"], used["MiB"],
                  color=[_PALETTE.get(c, "grey") for c in used["condition"]])
    _hatch_approx(ax, bars, used["source"] == APPROX_SOURCE)
    for bar, mib, src in zip(bars, used["MiB"], used["source"]):
        ax.text(bar.get_x() + bar.get_width() / 2, mib + 20,
                f"{'≈' if src == APPROX_SOURCE else ''}{mib:.0f}", ha="center")
    ax.set_ylabel("memory used (MiB)")
    ax.set_title("Figures 74/75: memory used, both guests running\n(hatched: approximate, from text)")
    ax.tick_params(axis="x", labelrotation=15)
    return ax


def fig79_cpu_memory(table: pl.DataFrame, ax: Axes | None = None,
                     cells: pl.DataFrame | None = None) -> Axes:
    """Figure 79: host CPU and memory use of both methods, as the text states them
    (approximate: CPU 'around 40 %' vs 'about 25 %', memory 'over 50 %' vs 'under 40 %').

    `cells`, the transcription of figure 79, adds the bounds to the labels ("> 50 %").
    """
    ax = _ax(ax)
    marks = {"lower": ">", "upper": "<", "": "≈"}
    bound = {}
    if cells is not None:
        metric_of = {"CPU utilization": "cpu_util", "memory utilization": "mem_util"}
        bound = {(r["row_en"], metric_of[r["column_en"]]): marks[r["bound"]]
                 for r in cells.iter_rows(named=True) if r["column_en"] in metric_of}
    data = _select(table, ["cpu_util", "mem_util"], source=APPROX_SOURCE).to_pandas()
    data["resource"] = data["metric"].map({"cpu_util": "CPU use", "mem_util": "memory use"})
    sns.barplot(data=data, x="resource", y="value", hue="condition", ax=ax,
                palette=_PALETTE, hue_order=[c for c in _PALETTE if c in set(data["condition"])])
    for container, condition in zip(ax.containers, [t.get_text() for t in ax.get_legend().texts]):
        _hatch_approx(ax, container, [True] * len(container))
        labels = [f"{bound.get((condition, m), '≈')} {v:g} %"
                  for m, v in zip(("cpu_util", "mem_util"), container.datavalues)]
        ax.bar_label(container, labels=labels)
    ax.set_ylim(0, 100)
    ax.set_ylabel("host use (%)")
    ax.set_xlabel("")
    ax.set_title("Figure 79: host CPU and memory use (approximate, from text)")
    return ax


# --------------------------------------------------------------------------- comparisons (stats)


def comparison_ratios(comparisons, ax: Axes | None = None) -> Axes:
    """Ratio to the baseline with its interval, one row per comparison.

    `comparisons` is a :class:`workbench.stats.ComparisonSet` (or its comparisons).
    Rows without an interval (insufficient data) are drawn as open markers: a
    descriptive ratio, not an estimate.
    """
    ax = _ax(ax)
    items = list(comparisons)
    labels, colors = [], []
    for i, c in enumerate(items):
        cell = ", ".join(str(v) for k, v in c.cell if v is not None and k not in ("aggregate", "interval"))
        labels.append(f"{c.treatment.condition}: {cell}")
        color = _PALETTE.get(c.treatment.condition, "#555555")
        colors.append(color)
        r = c.ratio
        if r.low is not None:
            ax.errorbar(r.value, i, xerr=[[r.value - r.low], [r.high - r.value]], fmt="o", color=color, capsize=3)
        else:
            ax.plot(r.value, i, "o", mfc="white", color=color)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(items)), labels)
    ax.invert_yaxis()
    base = items[0].baseline.condition if items else "baseline"
    ax.set_xlabel(f"ratio of means to {base} (open: descriptive only, no interval)")
    ax.set_title("Ratio to the baseline with its interval")
    return ax


def run_distributions(table: pl.DataFrame, metric: str, ax: Axes | None = None, *,
                      by: str = "stage") -> Axes:
    """Per-run values of one metric by condition (one dot per run), in display units."""
    from .stats import run_values

    ax = _ax(ax)
    rows = table.filter(pl.col("metric") == metric)
    values = run_values(rows).to_pandas()
    if values.empty:
        raise ValueError(f"no rows for metric {metric!r}")
    unit, factor = display_unit(metric, rows["unit"][0])  # a metric outside the vocabulary: its native unit
    values["shown"] = values["value"] * factor
    hue = by if by in values and values[by].notna().any() else None
    sns.stripplot(data=values, x="shown", y="condition", hue=hue, dodge=hue is not None, ax=ax, jitter=0.2,
                  alpha=0.8)
    ax.set_xlabel(f"{metric} per run ({unit})")
    ax.set_ylabel("")
    ax.set_title(f"{metric}: one dot per run")
    return ax


# --------------------------------------------------------------------------- captures


def capture_series(table: pl.DataFrame, metric: str, ax: Axes | None = None, *,
                   components: list[str] | None = None) -> Axes:
    """One capture's time series of `metric`, one line per component, stages shaded.

    The x axis is seconds since the capture's first interval began; values are
    in display units (%, MiB, MB/s). A ``total`` component, where there is one
    besides others (``cpu_util``: total and cores), is drawn bold in black.
    Each stage is a band spanning its samples' intervals, named at the top.

    Parameters
    ----------
    table : polars.DataFrame
        Rows of one capture (``workbench.read`` of a capture file, or
        :meth:`workbench.capture.Capture.table`).
    metric : str
        The metric to draw.
    components : list of str, optional
        Only these components (default: all, cores in numeric order).

    Raises
    ------
    ValueError
        If there are no rows for `metric`, or rows of more than one capture.
    """
    import re

    import numpy as np

    from .schema import METRICS

    ax = _ax(ax)
    series = table.filter(pl.col("metric") == metric)
    if components is not None:
        series = series.filter(pl.col("component").is_in(components))
    if series.is_empty():
        raise ValueError(f"no rows for metric {metric!r}")
    captures = series.select("source_file", "run").unique()
    if captures.height > 1:
        raise ValueError(f"rows of {captures.height} captures (source_file, run); filter to one first")
    timed = table.filter(pl.col("interval").is_not_null() & (pl.col("source_file") == series["source_file"][0]))
    start = timed.select((pl.col("time") - pl.duration(microseconds=(pl.col("interval") * 1e6).cast(pl.Int64)))
                         .min()).item()
    series = series.sort("time").with_columns(
        seconds=(pl.col("time") - start).dt.total_microseconds() / 1e6)
    unit, factor = display_unit(metric, series["unit"][0])  # a metric outside the vocabulary: its native unit

    def order(name: str) -> tuple:  # total first, then cpu0, cpu1, ..., cpu10 numerically
        return (name != "total", [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)])

    names = sorted(series["component"].unique().to_list(), key=order)
    for name in names:
        part = series.filter(pl.col("component") == name)
        bold = name == "total" and len(names) > 1
        ax.plot(part["seconds"].to_numpy(), part["value"].to_numpy() * factor, label=name,
                lw=2.0 if bold else 1.0, color="black" if bold else None, zorder=3 if bold else 2)

    # Stage bands from the samples themselves, so any capture table (also one read
    # back from Parquet or ingested with others) shows its stages.
    samples = series.filter(pl.col("interval").is_not_null()).unique("time", keep="first").sort("time")
    stage = samples["stage"].to_list()
    ends = samples["seconds"].to_numpy()
    begins = ends - samples["interval"].to_numpy()
    edges = [i for i in range(len(stage)) if i == 0 or stage[i] != stage[i - 1]] + [len(stage)]
    colors = ["#e8eef7", "#f7efe3"]
    for n, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        if stage[a] is None:
            continue
        # A band starts where the previous stage's last sample ended (readings come a
        # little after their tick, so `time - interval` would leave slivers between bands).
        left = ends[a - 1] if a > 0 else begins[a]
        ax.axvspan(left, ends[b - 1], color=colors[n % 2], zorder=0, lw=0)
        # Names of neighbouring stages alternate between two heights so short stages stay legible.
        ax.text(left, 1.0 if n % 2 == 0 else 0.92, f" {stage[a]}", transform=ax.get_xaxis_transform(),
                va="top", ha="left", fontsize=8, color="#333333", clip_on=True)

    spec = METRICS.get(metric)
    if spec is not None and spec.unit == "percent":
        ax.set_ylim(0, 105)
    elif np.nanmin(series["value"].to_numpy(), initial=0.0) >= 0:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds since the capture started")
    ax.set_ylabel(f"{metric} ({unit})" if unit else metric)
    host = series["host"][0] if "host" in series.columns else None
    ax.set_title(f"{metric}{f' on {host}' if host else ''}" + (f": {spec.description}" if spec else ""),
                 fontsize=10)
    if 1 < len(names) <= 12:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return ax


# --------------------------------------------------------------------------- memory probe


def _probe_stage(user_stage: str | None, mode: str) -> str:
    return f"{user_stage}: {mode}" if user_stage else mode


def _probe_summary(table: pl.DataFrame, user_stage: str | None, confidence_level: float,
                   include_flagged: bool = False) -> pl.DataFrame:
    from . import probe

    data = table.filter(pl.col("source") == probe.SOURCE)
    groups = data.select("condition", "host").unique()
    if groups.height > 1:
        raise ValueError(f"the table holds probe rows of {groups.height} condition/host pairs; "
                         "filter it to one first")
    return probe.summary(data, confidence_level=confidence_level, include_flagged=include_flagged)


def probe_cache_memory_table(table: pl.DataFrame, *, bandwidth_stage: str = "all-cores",
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
    from .probe import SINGLE

    summary = _probe_summary(table, stage, confidence_level, include_flagged)
    bandwidth = (pl.col("stage") == _probe_stage(stage, bandwidth_stage)) & (pl.col("metric") != "mem_latency")
    latency = (pl.col("stage") == _probe_stage(stage, SINGLE)) & (pl.col("metric") == "mem_latency")
    rows = summary.filter(bandwidth | latency)
    if rows.is_empty():
        raise ValueError(f"no measured probe rows for stage {_probe_stage(stage, bandwidth_stage)!r}")
    out = []
    for component, label in CACHE_MEMORY.rows:
        cells = {"": label}
        for metric in CACHE_MEMORY.metrics:
            column = CACHE_MEMORY.column_label(metric, unit=True)
            hit = rows.filter((pl.col("component") == component) & (pl.col("metric") == metric))
            if hit.is_empty():
                cells[column] = ""  # an absent level: EVEREST leaves the row empty
                continue
            r = hit.row(0, named=True)
            scale = display_unit(metric)[1]
            digits = 0 if display_unit(metric)[0] == "MB/s" else 1  # EVEREST: whole MB/s, ns to 0.1
            interval = ("[-]" if r["low"] != r["low"] else  # NaN: too few trials
                        f"[{r['low'] * scale:.{digits}f}, {r['high'] * scale:.{digits}f}]")
            cells[column] = f"{r['median'] * scale:.{digits}f} {interval}"
        cells["trials"] = str(int(rows.filter(pl.col("component") == component)["n"].min() or 0))
        out.append(cells)
    return pl.DataFrame(out)


def probe_bandwidth_latency(table: pl.DataFrame, sizes: dict[str, int], ax: Axes | None = None, *,
                            caches: dict[str, int] | None = None, stage: str | None = None,
                            confidence_level: float = 0.95, include_flagged: bool = False) -> Axes:
    """Memory probe: bandwidth (left axis) and latency (right axis) against working-set size.

    One point per level at its working-set size (log scales): read, write and
    copy bandwidth per thread mode (solid all-cores, dashed single-thread),
    latency in black on a twin axis; medians of the measured trials with
    their distribution-free interval as error bars where there are enough
    trials. Dotted verticals mark the cache sizes.

    Parameters
    ----------
    table : polars.DataFrame
        Probe rows of one condition and host.
    sizes : dict
        Working-set bytes per component (``ProbeResult.sizes``, or the
        ``levels`` of :func:`workbench.probe.read_metadata`).
    caches : dict, optional
        Cache bytes per level (``{"L1": 49152, ...}``) to mark.
    stage : str, optional
        The user's stage label given to the probe, if any.
    """
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from .probe import ALL_CORES, BANDWIDTH_METRICS, LEVELS, SINGLE, format_size

    ax = _ax(ax)
    summary = _probe_summary(table, stage, confidence_level, include_flagged)
    colours = dict(zip(BANDWIDTH_METRICS, ("#1b9e77", "#d95f02", "#7570b3")))

    def series(mode: str, metric: str):
        rows = summary.filter((pl.col("stage") == _probe_stage(stage, mode)) & (pl.col("metric") == metric)
                              & pl.col("component").is_in(list(sizes)))
        rows = rows.with_columns(x=pl.col("component").replace_strict(sizes, return_dtype=pl.Float64)).sort("x")
        lo = (rows["median"] - rows["low"]).fill_nan(0.0)
        hi = (rows["high"] - rows["median"]).fill_nan(0.0)
        return rows, [lo.to_list(), hi.to_list()]

    handles = []
    for mode, style in ((ALL_CORES, "-"), (SINGLE, "--")):
        for metric, colour in colours.items():
            rows, err = series(mode, metric)
            if rows.is_empty():
                continue
            scale = display_unit(metric)[1]
            label = f"{CACHE_MEMORY.column_label(metric).lower()}, {mode}"
            ax.errorbar(rows["x"].to_list(), (rows["median"] * scale).to_list(),
                        yerr=[[v * scale for v in e] for e in err], color=colour, ls=style, marker="o",
                        capsize=3, label=label)
            handles.append(Line2D([], [], color=colour, ls=style, marker="o", label=label))
    lat_ax = ax.twinx()
    rows, err = series(SINGLE, "mem_latency")
    lat_unit, lat_scale = display_unit("mem_latency")
    if not rows.is_empty():
        lat_ax.errorbar(rows["x"].to_list(), (rows["median"] * lat_scale).to_list(),
                        yerr=[[v * lat_scale for v in e] for e in err], color="black", ls=":", marker="s",
                        capsize=3)
        handles.append(Line2D([], [], color="black", ls=":", marker="s", label="latency, single-thread"))
        for x, y, comp in zip(rows["x"], rows["median"] * lat_scale, rows["component"]):
            lat_ax.annotate(comp, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for level, size in (caches or {}).items():
        ax.axvline(size, color="grey", lw=0.8, ls=(0, (1, 3)))
        ax.text(size, 1.0, f" {level} {format_size(size)}", transform=ax.get_xaxis_transform(),
                rotation=90, va="top", ha="right", fontsize=7, color="grey")
    for a in (ax, lat_ax):
        a.set_yscale("log")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_size(v).replace(".0 ", " ")))
    ax.set_xlabel("working-set size (bytes per array, log scale)")
    ax.set_ylabel("bandwidth (MB/s, log scale)")
    lat_ax.set_ylabel(f"latency ({lat_unit}, log scale)")
    order = [lv for lv in LEVELS if lv in sizes]
    ax.set_title(f"Memory probe: bandwidth and latency against working-set size ({', '.join(order)})")
    # Below the axes: inside, it would hide the L1 points at the left.
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncol=4, frameon=False)
    return ax


def series_sets(table: pl.DataFrame, metrics: list[str] | None = None) -> list[tuple[str, pl.DataFrame]]:
    """Split the time series of a table into what :func:`capture_series` draws: one
    ``(title, rows)`` per file, run and condition, at that file's finest interval and
    its mean (or single) aggregate, so that RRD archives of several resolutions and
    MIN/MAX rows are not mixed into one line.

    `metrics` defaults to ``cpu_util``, ``cpu_steal`` and ``mem_util``.
    """
    metrics = metrics or ["cpu_util", "cpu_steal", "mem_util"]
    timed = table.filter(pl.col("time").is_not_null() & pl.col("interval").is_not_null()
                         & pl.col("metric").is_in(metrics) & pl.col("aggregate").is_in(["mean", "single", "last"]))
    out = []
    for (source, run, condition, scope, guest), part in timed.group_by(
            "source_file", "run", "condition", "scope", "guest", maintain_order=True):
        part = part.filter(pl.col("interval") == part["interval"].min())
        who = f"{scope} {guest}" if guest else scope
        out.append((f"{condition}, {who}, run {run} ({source})", part))
    return out
