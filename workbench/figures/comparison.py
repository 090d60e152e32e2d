"""Comparisons: ratios with their intervals, and the per-run values behind them."""
from __future__ import annotations

import polars as pl
from matplotlib.axes import Axes

from ..errors import WorkbenchError
from ..markup import mpl
from ..schema import display_unit
from ._base import _ax, _colors, _legend_outside


def comparison_ratios(comparisons, ax: Axes | None = None) -> Axes:
    """Ratio to the baseline with its interval, one row per comparison.

    `comparisons` is a :class:`workbench.stats.ComparisonSet` (or its comparisons).
    Rows without an interval (insufficient data) are drawn as open markers: a
    descriptive ratio, not an estimate.
    """
    ax = _ax(ax)
    items = list(comparisons)
    labels = []
    palette = _colors(c.treatment.condition for c in items)
    for i, c in enumerate(items):
        cell = ", ".join(str(v) for k, v in c.cell if v is not None and k not in ("aggregate", "interval"))
        labels.append(mpl(f"{c.treatment.condition}: {cell}"))
        color = palette[c.treatment.condition]
        r = c.ratio
        if r.low is not None:
            ax.errorbar(r.value, i, xerr=[[r.value - r.low], [r.high - r.value]], fmt="o", color=color, capsize=3)
        else:
            ax.plot(r.value, i, "o", mfc="white", color=color)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(items)), labels)
    ax.invert_yaxis()
    base = items[0].baseline.condition if items else "baseline"
    ax.set_xlabel(mpl(f"ratio of means to {base} (open: descriptive only, no interval)"))
    ax.set_title("Ratio to the baseline with its interval")
    return ax


#: Seed of the dots' jitter in :func:`run_distributions`.
_JITTER_SEED = 2015


def run_distributions(table: pl.DataFrame, metric: str, ax: Axes | None = None, *,
                      by: str = "stage") -> Axes:
    """Per-run values of one metric by condition (one dot per run), in display units."""
    from ..stats import run_values

    ax = _ax(ax)
    rows = table.filter(pl.col("metric") == metric)
    values = run_values(rows).to_pandas()
    if values.empty:
        raise WorkbenchError(f"no rows for metric {metric!r}")
    unit, factor = display_unit(metric, rows["unit"][0])  # a metric outside the vocabulary: its native unit
    values["shown"] = values["value"] * factor
    hue = by if by in values and values[by].notna().any() else None
    # Labels from input drawn as text, never mathtext; colours from the palette.
    values["condition"] = values["condition"].map(mpl)
    if hue is not None:
        values[hue] = values[hue].map(lambda v: v if v is None else mpl(v))
        levels = list(dict.fromkeys(values[hue].dropna()))
        palette = dict(zip(levels, (_colors(levels)[v] for v in levels)))
    else:
        palette = None
    import numpy as np
    import seaborn as sns  # here, not at the top: seaborn pulls in scipy.stats (~1 s)

    # seaborn draws the jitter from numpy's global generator: seeded here (and the caller's
    # state put back), so that the same table gives the same figure, in every report run.
    saved = np.random.get_state()
    np.random.seed(_JITTER_SEED)
    try:
        sns.stripplot(data=values, x="shown", y="condition", hue=hue, dodge=hue is not None, ax=ax, jitter=0.2,
                      alpha=0.8, palette=palette, color=None if hue is not None else _colors(["x"])["x"])
    finally:
        np.random.set_state(saved)
    _legend_outside(ax, title=mpl(hue) if hue else None)
    ax.set_xlabel(mpl(f"{metric} per run ({unit})"))
    ax.set_ylabel("")
    ax.set_title(mpl(f"{metric}: one dot per run"))
    return ax


# --------------------------------------------------------------------------- captures
