"""Shared paths and fixtures. Tests run from any directory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "agg")

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
THESIS_DIR = DATA / "thesis"
THESIS_MANIFEST = DATA / "experiments" / "thesis.toml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SEED = FIXTURES / "thesis" / "thesis-virtualizacion-paravirtualizacion-2015.txt"


@pytest.fixture(scope="session")
def thesis_table():
    from workbench import experiment
    return experiment.load(THESIS_MANIFEST).table()
