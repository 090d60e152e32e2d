"""Notebooks: committed without outputs, one parameters cell, and the thesis
notebook executed for real with papermill (through `workbench report`)."""
import json
import re

import pytest

from workbench import report

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "tests" / "fixtures").rglob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs_and_one_parameters_cell(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    # thin notebooks: logic lives in workbench/, a def here means it belongs there
    if path.parent.name == "notebooks":
        assert not any(re.search(r"^\s*def ", "".join(c["source"]), re.M) for c in code)


def test_default_report_config():
    entries = report.load_config(ROOT / "notebooks" / "reports.toml")
    assert [e.name for e in entries][:3] == ["thesis", "thesis-compare", "felter2014"]


@pytest.fixture(scope="module")
def thesis_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    results = report.render_reports(ROOT / "notebooks" / "reports.toml", out, only=["thesis"], progress=False)
    return out, results


@pytest.fixture(scope="module")
def compare_reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    results = report.render_reports(ROOT / "notebooks" / "reports.toml", out,
                                    only=["thesis-compare", "felter2014"], progress=False)
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    return {r.entry.name: re.sub(r"<[^>]+>", " ", (out / f"{r.entry.name}.html").read_text(encoding="utf-8"))
            for r in results}


def test_thesis_comparison_is_insufficient_data_with_descriptive_differences(compare_reports):
    text = compare_reports["thesis-compare"]
    assert text.count("insufficient data: 1 run(s) of paravirtualized and 1 of virtualized; "
                      "at least 4 per condition are needed") == 4
    assert "Holm-adjusted p" not in text
    assert "paravirtualized uses 37.5 % less than virtualized (means 25 vs 40 %)" in text


def test_felter_comparison_names_its_test_and_interval(compare_reports):
    text = compare_reports["felter2014"]
    assert ("kvm is 2.95 % slower than native: change of the mean -2.95 % [-3.35 %, -2.55 %] (95 % CI, unadjusted; "
            "Welch's t with Hsu's df (two-sided), Holm-adjusted p = 5.9e-07") in text
    assert "16 comparisons" in text


def test_thesis_notebook_renders_every_figure(thesis_report):
    out, results = thesis_report
    assert [(r.entry.name, r.status) for r in results] == [("thesis", "ok")], results[0].error
    html = (out / "thesis.html").read_text(encoding="utf-8")
    # figures 9, 65/66, 67/68, 69-71, 74/75 and 79, embedded
    assert html.count('src="data:image/png;base64,') == 6
    assert "plt.subplots" not in html  # no code cells
    text = re.sub(r"<[^>]+>", " ", html)
    assert "77 values, conditions: virtualized, paravirtualized, baseline: virtualized" in text
    assert "30 checks, 5 discrepancies" in text
    assert "PCnet32 LANCE" in text and "Memoria RAM" in text
    assert "7284.0" in text and "57.9" in text  # figure 69 in EVEREST's layout
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="thesis.html"' in index


def test_executed_notebook_records_parameters(thesis_report):
    out, _ = thesis_report
    nb = json.loads((out / "thesis.ipynb").read_text(encoding="utf-8"))
    assert nb["metadata"]["papermill"]["parameters"]["experiment"] == "../data/experiments/thesis.toml"


def test_compare_notebook_on_two_captures_draws_time_series(tmp_path):
    """Two real single-run captures (the same file labelled as two conditions): one run
    each is insufficient data, and the time series are drawn with stage bands."""
    import polars as pl

    from workbench import readers, storage

    good = ROOT / "tests" / "fixtures" / "capture" / "good.capture.jsonl"
    both = pl.concat([readers.read(good, condition="native"), readers.read(good, condition="guest", host="h2")])
    src = storage.write_table(both, tmp_path / "two.parquet")
    cfg = tmp_path / "reports.toml"
    cfg.write_text(f'[[report]]\nname = "two"\nnotebook = "{(ROOT / "notebooks" / "compare.ipynb").as_posix()}"\n'
                   f'[report.parameters]\nsource = "{src.as_posix()}"\nbaseline = "native"\n'
                   f'metrics = ["cpu_util", "mem_util"]\n')
    [result] = report.render_reports(cfg, tmp_path / "out", progress=False)
    assert result.ok, result.error
    html = (tmp_path / "out" / "two.html").read_text(encoding="utf-8")
    text = re.sub(r"<[^>]+>", " ", html)
    assert "insufficient data: 1 run(s) of guest and 1 of native" in text
    assert "guest and native have the same mean" in text
    assert "Holm-adjusted p" not in text
    # ratio plot + run distributions (2 metrics) + time series (2 captures x 3 metrics)
    assert html.count('src="data:image/png;base64,') == 1 + 2 + 6


def test_levels_report_shows_azure_components_and_plan(tmp_path):
    """The Azure idle-latency report renders from the bundled subset: per SKU the
    between-VM share, and the VMs x repetitions plan for a 2 % difference with its costs."""
    [result] = report.render_reports(ROOT / "notebooks" / "reports.toml", tmp_path, only=["azure-levels"],
                                     progress=False)
    assert result.ok, result.error
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (tmp_path / "azure-levels.html").read_text(encoding="utf-8")))
    assert "B8ms 21107 39473 95.324" in text and "D8s_v5 22507 53680 91.269" in text
    assert "60.531" in text and "95.058" in text  # between-VM share (%) of B8ms and D8s_v5
    assert ("To detect a 2 % difference between D8s_v5 and B8ms (two-sided Welch t test on guest means, "
            "alpha = 0.05, power = 0.8): 259 guest(s) per condition x 4 run(s) per guest") in text
    assert "Costs per unit: guest 300 s, run 8.25 s." in text


def test_lab_report_renders_the_shipped_run_next_to_barham(tmp_path):
    """The lab report from the shipped run (data/lab/): verdicts against native, boot times,
    Barham et al.'s layout and where our order of techniques differs; nothing is booted."""
    [result] = report.render_reports(ROOT / "notebooks" / "reports.toml", tmp_path, only=["lab"], progress=False)
    assert result.ok, result.error
    html = (tmp_path / "lab.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "40 trials, 10 rounds, seed 20261130" in text and "34 trial(s) flagged by the interference guards (kept)" in text
    assert ("syscall_latency, getppid : paravirtualized is 8334.6 % slower than native: change of the mean "
            "+8334.6 % [+6564.6 %, +10270.8 %]") in text
    assert "cpu_op_time, collatz : emulated is 136.0 % slower than native" in text
    assert "no detectable difference between paravirtualized and native" in text  # memory, CPU under UML
    assert "hw-virtualized False" in text and "kvm_pvm module (software nested virtualization)" in text
    assert "emulated 10 7.8195" in text and "paravirtualized 10 1.2910" in text  # boot times (median s)
    assert ("fork: they found UML (24.0x slower than VMware) (VMware 0.126, UML 0.00524 of native); we find emulated "
            "(2.3x slower than paravirtualized)") in text
    assert "CPU-bound: they found UML (1 % slower than VMware)" in text
    assert html.count('src="data:image/png;base64,') == 1
