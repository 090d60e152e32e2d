"""The thesis re-judged: what it concluded, what one measurement per condition
allows (with the numbers), and the hook that reads the lab's results."""
import warnings

import numpy as np
import polars as pl
import pytest

from workbench import experiment, stats, storage, thesis
from workbench.errors import ParseError, WorkbenchError

from .conftest import DATA


@pytest.fixture(scope="module")
def table(thesis_table):
    return thesis_table


@pytest.fixture(autouse=True)
def _quiet():
    # mem_util of fig. 67 and fig. 79 share run 1 (the thesis-compare report shows that warning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.RunLabelWarning)
        yield


def test_conclusions_are_quoted_and_translated():
    c = thesis.conclusions()
    assert c.height == 6 and c.columns == ["section", "pages", "quote", "english"]
    final = c.filter(pl.col("section") == "7").row(0, named=True)
    assert final["pages"] == "p. 95" and final["quote"].startswith("Como conclusión final")
    assert "surpasses" in final["english"]


def test_evidence_is_one_run_per_condition(table):
    e = thesis.thesis_evidence(table)
    # mem_total is a capacity (listed, not compared); memory use is a bound in the text
    assert e["metric"].to_list() == ["mem_used", "mem_util", "cpu_util"]
    assert set(e["runs_virtualized"]) == {1} and e["runs_paravirtualized"].to_list() == [1, 0, 1]
    assert e["status"].to_list() == ["insufficient data", "bounds only", "insufficient data"]
    assert set(e["runs_needed"]) == {4}
    util = e.filter(pl.col("metric") == "mem_util").row(0, named=True)
    assert (util["virtualized"], util["paravirtualized"]) == (51.0, 40.0)
    assert util["source_paravirtualized"] == "thesis-text (upper bound)"
    cpu = e.filter(pl.col("metric") == "cpu_util").row(0, named=True)
    assert (cpu["virtualized"], cpu["paravirtualized"], cpu["ratio"]) == (40, 25, 0.625)
    assert (cpu["source_virtualized"], cpu["source_paravirtualized"]) == ("thesis-text", "thesis-text")
    used = e.filter(pl.col("metric") == "mem_used").row(0, named=True)
    assert (used["virtualized"], used["paravirtualized"], used["source_virtualized"]) == (1542, 900, "thesis-table")


def test_smallest_detectable_difference_per_run_count():
    assert thesis.smallest_detectable(3, comparisons=4) is None  # below the rule's 4 runs
    d4 = thesis.smallest_detectable(4, comparisons=4)
    d10 = thesis.smallest_detectable(10, comparisons=4)
    assert d4 == pytest.approx(4.7323, abs=1e-3) and d10 == pytest.approx(1.7950, abs=1e-3)
    # the planner agrees: at that effect size it asks for exactly that many runs
    pilot = [99.0, 101.0]  # cv = sd / mean = sqrt(2) %
    cv = float(np.std(pilot, ddof=1) / np.mean(pilot))
    for n, d in ((4, d4), (10, d10)):
        assert stats.plan(pilot, change=d * cv * 1.001, comparisons=4).runs_per_condition == n
        assert stats.plan(pilot, change=d * cv * 0.99, comparisons=4).runs_per_condition > n


def test_everest_pilot_and_what_run_counts_detect(table):
    pilot = thesis.everest_pilot(table)
    assert sorted(pilot / 1e6) == [41512, 41729, 41730]
    d = thesis.detectable(table)
    assert d["runs_per_condition"].to_list() == [1, 2, 3, 4, 5, 10, 20, 30]
    assert d["smallest_d"][:3].to_list() == [None, None, None]
    assert d["note"][0] == "no test is calibrated below 4 runs per condition"
    four = d.filter(pl.col("runs_per_condition") == 4).row(0, named=True)
    assert four["comparisons"] == 3 and four["smallest_change_at_everest_noise_pct"] == pytest.approx(1.2952, abs=1e-3)


def test_claims_need_more_runs_or_less_noise(table):
    c = thesis.claims_needs(table)
    assert c.height == 4  # cpu, memory used, and §4.2.1's two EVEREST changes (memory use % is a bound)
    cpu = c.filter(pl.col("claim").str.starts_with("cpu_util")).row(0, named=True)
    assert cpu["change_pct"] == pytest.approx(-37.5)
    assert cpu["max_cv_pct_4_runs"] == pytest.approx(37.5 / thesis.smallest_detectable(4, comparisons=3), abs=1e-9)
    assert cpu["max_cv_pct_4_runs"] == pytest.approx(8.73, abs=1e-2)
    assert cpu["runs_needed_at_everest_noise"] is None
    read = c.filter(pl.col("claim").str.contains("mem_read_bw")).row(0, named=True)
    assert read["change_pct"] == pytest.approx(100 * (7360 / 7284 - 1))  # +1.04 %
    assert read["runs_needed_at_everest_noise"] == 5


def test_lab_absent_says_so(tmp_path):
    assert thesis.lab_table(tmp_path / "lab") is None
    (tmp_path / "lab").mkdir()
    assert thesis.lab_table(tmp_path / "lab") is None
    assert thesis.lab_absent("../data/lab").startswith("The lab data are not bundled: no *.parquet under ../data/lab")


@pytest.fixture(scope="module")
def felter_lab(tmp_path_factory):
    """A lab-shaped folder from real measurements: Felter et al.'s STREAM runs (native,
    kvm, docker), stored as the lab stores its results."""
    lab = tmp_path_factory.mktemp("lab")
    storage.write_table(experiment.open(DATA / "experiments" / "felter2014.toml").table, lab / "felter.parquet")
    return lab


def test_lab_costs_against_native(felter_lab):
    lab = thesis.lab_table(felter_lab)
    costs = thesis.lab_costs(lab)
    assert costs.height == 16 and set(costs["condition"]) == {"kvm", "docker"}
    row = costs.filter((pl.col("metric") == "stream_triad_bw") & (pl.col("condition") == "kvm")).row(0, named=True)
    assert row["status"] == "tested" and row["runs"] == row["baseline_runs"] == 10
    assert row["cost"] == pytest.approx(1 / row["ratio"])  # bandwidth: higher is better
    assert row["technique"] == "kvm"  # not one of the lab's names: shown as labelled
    assert thesis.lab_answer(lab) == []  # no paravirtualized condition


def test_lab_answer_against_paravirtualization(felter_lab):
    """The same real runs under the lab's condition names, to exercise the mapping."""
    lab = thesis.lab_table(felter_lab).with_columns(
        pl.col("condition").replace({"kvm": "hw-virtualized", "docker": "paravirtualized"}))
    costs = thesis.lab_costs(lab)
    assert set(costs["technique"]) == {thesis.LAB_TECHNIQUES["hw-virtualized"], thesis.LAB_TECHNIQUES["paravirtualized"]}
    answer = thesis.lab_answer(lab)
    assert len(answer) == 8 and all("hw-virtualized" in a and "paravirtualized" in a for a in answer)


def test_lab_without_native_is_refused(felter_lab):
    lab = thesis.lab_table(felter_lab).filter(pl.col("condition") != "native")
    with pytest.raises(WorkbenchError, match="the lab table has no 'native' condition to compare against; "
                                             "conditions: docker, kvm"):
        thesis.lab_costs(lab)


def test_a_broken_lab_file_is_named(tmp_path):
    (tmp_path / "lab.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ParseError, match=r"lab.parquet:1: expected a Parquet measurement table \(starting with "
                                         r"b'PAR1'\), found b'not parquet at a'"):
        thesis.lab_table(tmp_path)
