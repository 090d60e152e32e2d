"""Notebook display settings shared by the report templates.

Called once at the top of a notebook: tables are shown whole (pandas escapes
their cells in HTML), and library warnings read as one line ("warning: ...")
instead of naming the kernel's temporary file.
"""
from __future__ import annotations

import warnings


def setup() -> None:
    """Apply the workbench's notebook display settings."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    warnings.formatwarning = _one_line


def _one_line(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"
