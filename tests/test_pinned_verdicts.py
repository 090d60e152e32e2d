"""The verdicts of `workbench compare` on the bundled experiments, pinned.

The golden files in ``fixtures/golden/`` were written by ``workbench compare`` on
main before the restructuring of issue 10 (module layout, storage layer, metric
meaning in the vocabulary), and rewritten for issue 11 (calibrated methods: Welch's
t, Fieller and Welch intervals; signed wording): a refactoring must not change what
the tool concludes.
A deliberate change of a verdict (a bug fixed) rewrites the golden file in the
same commit, and the commit says why. Numbers are compared to 1e-9 relative (the
methods are closed-form; only float formatting may differ across platforms).
"""
from __future__ import annotations

import io
import math

import polars as pl
import pytest

from workbench import cli

from .conftest import DATA, FIXTURES

GOLDEN = FIXTURES / "golden"
EXPERIMENTS = ("felter2014", "thesis", "felter2014-randomaccess", "felter2014-linpack")


def _compare(capsys, name: str, *extra: str) -> str:
    assert cli.main(["compare", str(DATA / "experiments" / f"{name}.toml"), *extra]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_verdict_text_is_unchanged(capsys, name):
    assert _compare(capsys, name, "--format", "text-verbose") == \
        (GOLDEN / f"{name}.compare.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_verdict_table_text_is_unchanged(capsys, name):
    assert _compare(capsys, name) == (GOLDEN / f"{name}.compare.table.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_verdict_table_is_unchanged(capsys, name):
    got = pl.read_csv(io.StringIO(_compare(capsys, name, "--format", "csv")), infer_schema_length=None)
    want = pl.read_csv(GOLDEN / f"{name}.compare.csv", infer_schema_length=None)
    assert got.columns == want.columns
    assert got.height == want.height
    for column in want.columns:
        for a, b in zip(got[column].to_list(), want[column].to_list()):
            if isinstance(b, float) and isinstance(a, (int, float)):
                assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9, abs=1e-12), column
            else:
                assert a == b, column
