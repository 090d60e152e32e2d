"""What every plot module shares: the axes default, row selection, the palette, legends.

Colours are the Okabe-Ito palette (Okabe & Ito, *Color Universal Design*, 2008),
distinguishable with every common colour-vision deficiency: no figure relies on
telling red from green. Legends go outside the axes, never over data."""
from __future__ import annotations

import matplotlib.pyplot as plt
import polars as pl
from matplotlib.axes import Axes

from ..errors import WorkbenchError

APPROX_SOURCE = "thesis-text"
#: Okabe-Ito colours in the order figures use them (yellow last: faint on white).
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
#: Fixed colours of the thesis's conditions, so every figure shows them alike.
_PALETTE = {"virtualized": "#E69F00", "paravirtualized": "#0072B2", "native": "#009E73"}


def _colors(names) -> dict:
    """A colour per name: the fixed ones of :data:`_PALETTE`, then Okabe-Ito in order."""
    free = [c for c in OKABE_ITO if c not in _PALETTE.values()] or list(OKABE_ITO)
    out, i = {}, 0
    for name in names:
        if name in out:
            continue
        if name in _PALETTE:
            out[name] = _PALETTE[name]
        else:
            out[name] = free[i % len(free)]
            i += 1
    return out


def _legend_outside(ax: Axes, **kwargs) -> None:
    """Put the axes' legend (seaborn's, or a new one) to the right of the axes."""
    if ax.get_legend() is not None:
        import seaborn as sns

        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **kwargs)
    elif ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **kwargs)


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
