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
    pages = {r.entry.name: re.sub(r"<[^>]+>", " ", (out / f"{r.entry.name}.html").read_text(encoding="utf-8"))
             for r in results}
    return {**pages, "_out": out}


def test_thesis_comparison_is_insufficient_data_with_descriptive_differences(compare_reports):
    text = compare_reports["thesis-compare"]
    assert text.count("insufficient data: 1 run(s) of paravirtualized and 1 of virtualized; "
                      "at least 4 per condition are needed") == 2
    assert "Holm-adjusted p" not in text
    # the memory bounds compared as bounds; the one machine's RAM listed as a capacity, not judged
    assert "paravirtualized uses at least 11 points less than virtualized, as far as the bounds allow" in text
    assert "mem_total is a capacity" in text and "Not compared" in text
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
    assert "49 checks, 21 discrepancies" in text
    assert "PCnet32 LANCE" in text and "Memoria RAM" in text
    assert "7284.0" in text and "57.9" in text  # figure 69 in EVEREST's layout
    # the thesis re-judged: its conclusion quoted, one run per condition, what run counts detect
    text = re.sub(r"\s+", " ", text)
    assert "Como conclusión final puedo decir que la paravirtualización supera las ventajas" in text
    assert "no test is calibrated below 4 runs per condition" in text and "4.296425" in text  # d at 4 runs, Holm over 3
    if list((ROOT / "data" / "lab").glob("**/*.parquet")):  # the shipped lab run: costs and verdicts
        assert "baseline_runs" in text and "emulated is" in text and "than paravirtualized" in text
    else:
        assert "The lab data are not bundled: no *.parquet under ../data/lab" in text
    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="thesis.html"' in index
    assert 'class="headline">49 checks of the thesis against itself, 21 discrepancies' in index


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


def test_index_shows_each_reports_headline(compare_reports):
    index = (compare_reports["_out"] / "index.html").read_text(encoding="utf-8")
    assert 'class="headline">10 claims of the paper: 5 agree, 1 partly, 1 contradicts, 3 cannot tell' in index
    assert 'class="headline">paravirtualized: insufficient data in 2 of 3 cells, bounds only in 1' in index


def test_report_of_your_own_data_from_the_command_line(tmp_path, capsys, monkeypatch):
    """`workbench report SOURCE -o DIR`: paths as given from the current directory, no reports.toml."""
    from workbench import cli, storage
    from workbench.experiment import load

    table = load(ROOT / "data" / "experiments" / "thesis.toml").table()
    storage.write_table(table, tmp_path / "mine.parquet")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", "mine.parquet", "-o", "out"]) == 2  # a table names no baseline
    assert "mine.parquet: a table names no baseline: give one (--baseline NAME)" in capsys.readouterr().err
    assert cli.main(["report", "mine.parquet", "--baseline", "virtualized", "-o", "out", "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ok     mine ") and lines[0].endswith("mine.html")
    assert lines[1].strip() == "paravirtualized: insufficient data in 2 of 3 cells, bounds only in 1"
    page = (tmp_path / "out" / "mine.html").read_text(encoding="utf-8")
    assert "paravirtualized vs virtualized" in page and (tmp_path / "out" / "index.html").exists()


@pytest.mark.parametrize("args, message", [
    (["report", "nothing.toml"], "nothing.toml: no such file"),
    (["report", "."], "expected an experiment manifest (.toml) or a measurement table (.parquet), found a folder"),
    (["report", "notes.txt"], "found '.txt'"),
    (["report", "x.toml", "--only", "thesis"], "--config and --only are for the default set"),
    (["report", "--baseline", "native"], "--baseline goes with SOURCE"),
])
def test_report_source_errors(tmp_path, capsys, monkeypatch, args, message):
    from workbench import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "x.toml").write_text("")
    assert cli.main(args) == 2 and message in capsys.readouterr().err


def test_standing_report_places_a_value_among_the_azure_vms(tmp_path):
    """The where-you-stand report on the bundled Azure subset, with a value given instead of
    a probe run (a test never depends on this machine): percentile per SKU and the spreads."""
    cfg = tmp_path / "reports.toml"
    cfg.write_text(f'''[[report]]
name = "standing"
notebook = "{(ROOT / "notebooks" / "standing.ipynb").as_posix()}"
title = "standing"
[report.parameters]
source = "{(ROOT / "data" / "azure-vm-noise-2024" / "idle-latency.parquet").as_posix()}"
value_ns = 91.0
''')
    [result] = report.render_reports(cfg, tmp_path / "out", progress=False)
    assert result.ok, result.error
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", (tmp_path / "out" / "standing.html").read_text(encoding="utf-8")))
    assert "Idle DRAM latency placed: 91.0 ns (the value given)" in text
    # D8s_v5: 22,507 VMs, median 89.4 ns, 80.9 % of them below 91 ns (ties half); B8ms: 21,107, 95.3 ns, 34.98 %
    assert re.search(r"D8s_v5 22507 89\.40? 91\.00? 80\.90? 9\.16 2\.09", text)
    assert re.search(r"B8ms 21107 95\.30? 91\.00? 34\.98 10\.62 6\.45", text)
    assert "What differs between the instruments" in text


def test_lab_report_renders_the_shipped_run_next_to_barham(tmp_path):
    """The lab report from the shipped run (data/lab/): verdicts against native, boot times,
    Barham et al.'s layout and where our order of techniques differs; nothing is booted."""
    [result] = report.render_reports(ROOT / "notebooks" / "reports.toml", tmp_path, only=["lab"], progress=False)
    assert result.ok, result.error
    html = (tmp_path / "lab.html").read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "40 trials, 10 rounds, seed 20261130" in text and "0 trial(s) flagged by the interference guards (kept)" in text
    assert ("syscall_latency, getppid : paravirtualized is 14997.4 % slower than native: change of the mean "
            "+14997.4 % [+14224.5 %, +15780.3 %]") in text
    assert "cpu_op_time, collatz : emulated is 99.1 % slower than native" in text
    assert "no detectable difference between paravirtualized and native" in text  # memory, CPU under UML
    assert "hw-virtualized False" in text and "kvm_pvm module (software nested virtualization)" in text
    assert "emulated 10 6.5455" in text and "paravirtualized 10 1.2020" in text  # boot times (median s)
    assert ("fork: they found UML (24.0x slower than VMware) (VMware 0.126, UML 0.00524 of native); we find emulated "
            "(19 % slower than paravirtualized)") in text
    assert "CPU-bound: they found UML (1 % slower than VMware)" in text
    assert html.count('src="data:image/png;base64,') == 1
