"""The lab: relative performance per benchmark, one bar per environment, in the layout of
Barham et al. 2003, Figure 3 (native = 1; lower bars are slower)."""
from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.axes import Axes

from ..errors import WorkbenchError
from ._base import _ax

_COLORS = {"emulated": "#d95f02", "paravirtualized": "#1b9e77", "hw-virtualized": "#7570b3",
           "native-aa": "#999999", "VMware Workstation 3.2": "#fdb863", "User-mode Linux": "#80cdc1",
           "Xen": "#b2abd2", "native Linux": "#999999"}


def relative_performance(frame: pl.DataFrame, ax: Axes | None = None, *, title: str = "") -> Axes:
    """Grouped bars: per benchmark (x), one bar per environment, height = relative
    performance (log scale: the operations span 1 to 1/100), whiskers where ``low`` and
    ``high`` are given, the value printed on each bar as Barham et al. print theirs.

    `frame` has columns benchmark, environment, relative (and optionally low, high), as
    :func:`workbench.lab.barham.relative_performance` and ``reference`` give them.
    """
    ax = _ax(ax)
    if frame.is_empty():
        raise WorkbenchError("no relative performance to draw")
    benchmarks = frame["benchmark"].unique(maintain_order=True).to_list()
    envs = frame["environment"].unique(maintain_order=True).to_list()
    width = 0.8 / len(envs)
    for j, env in enumerate(envs):
        rows = {r["benchmark"]: r for r in frame.filter(pl.col("environment") == env).iter_rows(named=True)}
        xs = [i + (j - (len(envs) - 1) / 2) * width for i, b in enumerate(benchmarks) if b in rows]
        ys = [rows[b]["relative"] for b in benchmarks if b in rows]
        bars = ax.bar(xs, ys, width=width * 0.95, label=env, color=_COLORS.get(env, None))
        if "low" in frame.columns:
            lows = [rows[b].get("low") for b in benchmarks if b in rows]
            highs = [rows[b].get("high") for b in benchmarks if b in rows]
            for x, y, lo, hi in zip(xs, ys, lows, highs):
                if lo is not None and hi is not None and np.isfinite(lo) and np.isfinite(hi):
                    ax.errorbar(x, y, yerr=[[y - lo], [hi - y]], color="black", lw=0.8, capsize=2)
        for bar, y in zip(bars, ys):
            ax.annotate(f"{y:.2g}", (bar.get_x() + bar.get_width() / 2, y), ha="center", va="bottom",
                        fontsize=6, rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_yscale("log")
    low = min(v for v in frame["relative"].to_list() if v is not None and v > 0)
    bottom, top = ax.get_ylim()
    ax.set_ylim(min(bottom, low / 2), max(top, 2.0))
    ax.set_xticks(range(len(benchmarks)), benchmarks, rotation=30, ha="right")
    ax.set_ylabel("relative performance (native = 1)")
    ax.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=len(envs), frameon=False)
    if title:
        ax.set_title(title, fontsize=9, pad=18)
    return ax
