"""Notebooks: committed without outputs, one parameters cell, and the thesis
notebook executed for real with papermill (through `workbench report`)."""
import json
import re
from pathlib import Path

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


def test_default_report_config_lists_the_thesis():
    entries = report.load_config(ROOT / "notebooks" / "reports.toml")
    assert [e.name for e in entries] == ["thesis"]


@pytest.fixture(scope="module")
def thesis_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    results = report.render_reports(ROOT / "notebooks" / "reports.toml", out, progress=False)
    return out, results


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
