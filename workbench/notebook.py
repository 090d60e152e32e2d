"""What notebooks need beyond the library: display settings and live widgets.

:func:`setup` is called once at the top of a notebook: tables are shown whole
(pandas escapes their cells in HTML), and library warnings read as one line
("warning: ...") instead of naming the kernel's temporary file.
:func:`live_plot` follows a running capture (it sits here, not in
:mod:`workbench.capture`, so that acquisition never imports presentation).
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from .capture import Capture


def setup() -> None:
    """Apply the workbench's notebook display settings."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    warnings.formatwarning = _one_line


#: Where :func:`headline` puts its line in a display's metadata; the report module
#: reads it back from the executed notebook for the index.
HEADLINE_KEY = "workbench_headline"


def headline(text: str) -> None:
    """Show the report's one-line result, and record it for the reports' index."""
    from IPython.display import Markdown, display

    from .markup import md

    display(Markdown(f"**Result:** {md(text)}"), metadata={HEADLINE_KEY: text})


def _one_line(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"


def live_plot(capture: Capture, *, seconds: float | None = None, every: float = 1.0) -> None:
    """Show CPU per core and memory of a running capture in a notebook, updated in place.

    Draws with :func:`workbench.figures.capture_series` (stages shaded) and
    replaces the displayed image through an IPython display handle every
    `every` seconds, until the capture ends or `seconds` have passed (the
    capture keeps running). Needs IPython, not ipywidgets.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    from . import figures

    fig, (ax_cpu, ax_mem) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.5))
    handle = display(fig, display_id=True)
    try:
        for table in capture.follow(every, seconds=seconds):
            ax_cpu.clear()
            ax_mem.clear()
            if table.filter(pl.col("metric") == "cpu_util").height:
                figures.capture_series(table, "cpu_util", ax=ax_cpu)
                figures.capture_series(table, "mem_util", ax=ax_mem)
            fig.tight_layout()
            handle.update(fig)
    finally:
        plt.close(fig)
