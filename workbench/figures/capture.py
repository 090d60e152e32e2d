"""Time series: a capture's (or an RRD's) metric over time, stages shaded."""
from __future__ import annotations

import polars as pl
from matplotlib.axes import Axes

from ..errors import WorkbenchError
from ..markup import mpl
from ..schema import display_unit
from ._base import _ax, _colors


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
    WorkbenchError
        If there are no rows for `metric`, or rows of more than one capture.
    """
    import re

    import numpy as np

    from ..schema import METRICS

    ax = _ax(ax)
    series = table.filter(pl.col("metric") == metric)
    if components is not None:
        series = series.filter(pl.col("component").is_in(components))
    if series.is_empty():
        raise WorkbenchError(f"no rows for metric {metric!r}")
    captures = series.select("source_file", "run").unique()
    if captures.height > 1:
        raise WorkbenchError(f"rows of {captures.height} captures (source_file, run); filter to one first")
    timed = table.filter(pl.col("interval").is_not_null() & (pl.col("source_file") == series["source_file"][0]))
    start = timed.select((pl.col("time") - pl.duration(microseconds=(pl.col("interval") * 1e6).cast(pl.Int64)))
                         .min()).item()
    series = series.sort("time").with_columns(
        seconds=(pl.col("time") - start).dt.total_microseconds() / 1e6)
    unit, factor = display_unit(metric, series["unit"][0])  # a metric outside the vocabulary: its native unit

    def order(name: str) -> tuple:  # total first, then cpu0, cpu1, ..., cpu10 numerically
        return (name != "total", [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)])

    names = sorted(series["component"].unique().to_list(), key=order)
    colors = _colors(n for n in names if n != "total")
    for name in names:
        part = series.filter(pl.col("component") == name)
        bold = name == "total" and len(names) > 1
        ax.plot(part["seconds"].to_numpy(), part["value"].to_numpy() * factor, label=mpl(name),
                lw=2.0 if bold else 1.0, color="black" if bold else colors.get(name, "black"), zorder=3 if bold else 2)

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
        ax.text(left, 1.0 if n % 2 == 0 else 0.92, f" {mpl(stage[a])}", transform=ax.get_xaxis_transform(),
                va="top", ha="left", fontsize=8, color="#333333", clip_on=True)

    spec = METRICS.get(metric)
    if spec is not None and spec.unit == "percent":
        ax.set_ylim(0, 105)
    elif np.nanmin(series["value"].to_numpy(), initial=0.0) >= 0:
        ax.set_ylim(bottom=0)
    ax.set_xlabel("seconds since the capture started")
    ax.set_ylabel(mpl(f"{metric} ({unit})" if unit else metric))
    host = series["host"][0] if "host" in series.columns else None
    ax.set_title(mpl(f"{metric}{f' on {host}' if host else ''}" + (f": {spec.description}" if spec else "")),
                 fontsize=10)
    if 1 < len(names) <= 12:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return ax
