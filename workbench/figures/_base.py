"""What every plot module shares: the axes default, row selection, the palette."""
from __future__ import annotations

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.axes import Axes

from ..errors import WorkbenchError

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
        raise WorkbenchError(f"no rows for metric(s) {metrics} with {eq}")
    return out


def _hatch_approx(ax: Axes, bars, approx_flags) -> None:
    for patch, approx in zip(bars, approx_flags):
        if approx:
            patch.set_hatch("//")
            patch.set_edgecolor("black")
