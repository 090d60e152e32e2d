"""The memory probe: bandwidth and latency against working-set size."""
from __future__ import annotations

import polars as pl
from matplotlib.axes import Axes

from ..markup import mpl
from ..schema import CACHE_MEMORY, display_unit
from ._base import OKABE_ITO, _ax


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

    from ..probe import ALL_CORES, BANDWIDTH_METRICS, LEVELS, SINGLE, format_size, stage_name, summary_of_one

    ax = _ax(ax)
    summary = summary_of_one(table, confidence_level=confidence_level, include_flagged=include_flagged)
    colours = dict(zip(BANDWIDTH_METRICS, OKABE_ITO))

    def series(mode: str, metric: str):
        rows = summary.filter((pl.col("stage") == stage_name(stage, mode)) & (pl.col("metric") == metric)
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
            lat_ax.annotate(mpl(comp), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for level, size in (caches or {}).items():
        ax.axvline(size, color="grey", lw=0.8, ls=(0, (1, 3)))
        ax.text(size, 1.0, mpl(f" {level} {format_size(size)}"), transform=ax.get_xaxis_transform(),
                rotation=90, va="top", ha="right", fontsize=7, color="grey")
    for a in (ax, lat_ax):
        a.set_yscale("log")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_size(v).replace(".0 ", " ")))
    ax.set_xlabel("working-set size (bytes per array, log scale)")
    ax.set_ylabel("bandwidth (MB/s, log scale)")
    lat_ax.set_ylabel(f"latency ({lat_unit}, log scale)")
    order = [lv for lv in LEVELS if lv in sizes]
    ax.set_title(mpl(f"Memory probe: bandwidth and latency against working-set size ({', '.join(order)})"))
    # Below the axes: inside, it would hide the L1 points at the left.
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, ncol=4, frameon=False)
    return ax
