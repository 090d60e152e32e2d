"""The thesis's figures, redrawn from its transcription (one function per figure).

Values the thesis only states in its text (``source = thesis-text``) are drawn
hatched and marked "≈".
"""
from __future__ import annotations

import polars as pl
from matplotlib.axes import Axes

from ..markup import mpl
from ..schema import CACHE_MEMORY, MIB
from ._base import _PALETTE, APPROX_SOURCE, OKABE_ITO, _ax, _hatch_approx, _legend_outside, _select


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
    ax.bar(labels, useful, color=OKABE_ITO[0], label="useful processing")
    ax.bar(labels, cost, bottom=useful, color=OKABE_ITO[1], label="virtualization cost")
    for i, (u, c) in enumerate(zip(useful, cost)):
        ax.text(i, u + c + 1, f"{u + c:g} %", ha="center")
    ax.set_ylim(0, 110)
    ax.set_ylabel("CPU time (%)")
    ax.set_title("Figure 9: CPU share per method at 10 % useful work per guest")
    _legend_outside(ax)
    return ax


def fig65_cpu_per_core(table: pl.DataFrame, ax: Axes | None = None) -> Axes:
    """Figures 65/66: host CPU use per core in the nine stages (EVEREST, VMware host)."""
    ax = _ax(ax)
    data = _select(table, "cpu_util", source="thesis-table").to_pandas()
    data["stage"] = data["stage"].map(mpl)
    order = list(dict.fromkeys(data["stage"]))
    # The thesis numbers cores from 1 ("Núcleo N° 1"); components from cpu0.
    data["core"] = "core " + (data["component"].str.removeprefix("cpu").astype(int) + 1).astype(str)
    import seaborn as sns  # here, not at the top: seaborn pulls in scipy.stats (~1 s)

    sns.barplot(data=data, y="stage", x="value", hue="core", order=order, orient="h", ax=ax,
                palette=list(OKABE_ITO[:2]), saturation=1)
    _legend_outside(ax)
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
    names = [mpl(c) for c in cases]
    wide = {m: [float(data.filter((pl.col("stage") == c) & (pl.col("metric") == m))["value"][0]) for c in cases]
            for m in ("mem_used", "mem_free", "mem_util")}
    used = [v / MIB for v in wide["mem_used"]]
    free = [v / MIB for v in wide["mem_free"]]
    ax.barh(names, used, color=OKABE_ITO[1], label="used")
    ax.barh(names, free, left=used, color="#cccccc", label="free")
    for i, (u, pct) in enumerate(zip(used, wide["mem_util"])):
        ax.text(u / 2, i, f"{u:.0f} MiB ({pct:g} %)", va="center", ha="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("host physical memory (MiB)")
    ax.set_title("Figures 67/68: host memory, VMware Workstation host")
    _legend_outside(ax)
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
    rel = rel.with_columns(pl.col("stage", "what").map_elements(mpl, return_dtype=pl.String))
    import seaborn as sns  # here, not at the top: seaborn pulls in scipy.stats (~1 s)

    sns.barplot(data=rel.to_pandas(), y="what", x="change", hue="stage", order=[mpl(o) for o in order], orient="h",
                hue_order=[mpl(s) for s in stages[1:]], ax=ax, palette=list(OKABE_ITO[:2]), saturation=1)
    _legend_outside(ax)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(mpl(f"change vs '{stages[0]}' (%)"))
    ax.set_ylabel("")
    ax.set_title("Figures 69-71: EVEREST Cache & Memory, change with guests running")
    return ax


def fig74_75_memory(table: pl.DataFrame, ax: Axes | None = None) -> Axes:
    """Figures 74/75: memory used with both guests running, XenServer (XenCenter, values
    stated approximately in the text) against the VMware host (figure 67)."""
    ax = _ax(ax)
    used = _select(table, "mem_used", stage="both guests running").to_pandas()
    used["what"] = used.apply(lambda r: f"{r['condition']}: {'guests' if r['scope'] == 'guest' else 'host'}",
                              axis=1)
    used["MiB"] = used["value"] / MIB
    used["what"] = used["what"].map(mpl)
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


def fig79_cpu_memory(table: pl.DataFrame, ax: Axes | None = None) -> Axes:
    """Figure 79: host CPU and memory use of both methods, as the text states them
    (approximate: CPU 'around 40 %' vs 'about 25 %'; memory 'over 50 %' vs 'under 40 %').

    A value the text gives only as a bound (column ``bound``) is drawn as what it is: a
    line at the bound with an arrow towards where the true value lies, labelled "> 50 %"
    or "< 40 %", never as a bar of that height. Approximate values are hatched bars ("≈").
    """
    ax = _ax(ax)
    data = _select(table, ["cpu_util", "mem_util"], source=APPROX_SOURCE)
    resources = {"cpu_util": "CPU use", "mem_util": "memory use"}
    conditions = [c for c in _PALETTE if c in set(data["condition"])]
    width = 0.8 / max(len(conditions), 1)
    for i, condition in enumerate(conditions):
        color = _PALETTE[condition]
        for x, metric in enumerate(resources):
            rows = data.filter((pl.col("condition") == condition) & (pl.col("metric") == metric))
            if rows.is_empty():
                continue
            value, bound = rows["value"][0], rows["bound"][0]
            centre = x - 0.4 + width * (i + 0.5)
            if bound is None:
                (bar,) = ax.bar(centre, value, width, color=color, label=mpl(condition) if x == 0 else None)
                _hatch_approx(ax, [bar], [True])
                ax.annotate(f"≈ {value:g} %", (centre, value), xytext=(0, 3), textcoords="offset points",
                            ha="center", va="bottom")
                continue
            ax.hlines(value, centre - width / 2, centre + width / 2, color=color, linewidth=3,
                      label=mpl(condition) if x == 0 else None)
            tip = value + (12 if bound == "lower" else -12)
            ax.annotate("", (centre, tip), xytext=(centre, value),
                        arrowprops=dict(arrowstyle="->", color=color, linewidth=2))
            ax.annotate(f"{'>' if bound == 'lower' else '<'} {value:g} %", (centre, value),
                        xytext=(0, -12 if bound == "lower" else 4), textcoords="offset points", ha="center")
    ax.set_xticks(range(len(resources)), list(resources.values()))
    _legend_outside(ax, title="condition")
    ax.set_ylim(0, 100)
    ax.set_ylabel("host use (%)")
    ax.set_xlabel("")
    ax.set_title("Figure 79: host CPU and memory use (approximate, from text;\n"
                 "arrows: only a bound is known)")
    return ax


# --------------------------------------------------------------------------- comparisons (stats)
