"""Notebooks committed stripped: workbench/nbstrip.py as the git clean filter `make lab` installs."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from workbench import nbstrip

from .conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "tests" / "fixtures").rglob("*.ipynb"))


def executed(path):
    """The notebook at `path` as JupyterLab saves it after a run: outputs, counts, timing, versions."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for n, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        cell["execution_count"] = n + 1
        cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["secret output\n"]},
                           {"output_type": "execute_result", "execution_count": n + 1, "metadata": {},
                            "data": {"text/plain": ["42"], "image/png": "iVBORw0KGgo="}}]
        cell["metadata"]["execution"] = {"iopub.execute_input": "2026-11-30T12:00:00.000Z"}
        cell["metadata"]["scrolled"] = True
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python",
                                       "codemirror_mode": {"name": "ipython", "version": 3}}
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    return json.dumps(nb, indent=2)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_pass_through_unchanged(path):
    text = path.read_text(encoding="utf-8")
    assert nbstrip.strip(text) == text


def test_executed_notebook_is_stripped_to_the_committed_one():
    path = ROOT / "notebooks" / "compare.ipynb"
    assert "secret output" in executed(path)
    assert nbstrip.strip(executed(path)) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("text", ["", "not json", "[1, 2]", '{"cells": 3}', '{"cells": [1]}'])
def test_anything_else_passes_through(text):
    assert nbstrip.strip(text) == text


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("make") is None, reason="needs git and make")
def test_make_nbstrip_installs_the_git_filter(tmp_path):
    """In a fresh repository: `make nbstrip` (as `make lab` runs it), then a notebook saved
    with outputs is committed without them and stays untouched on disk."""
    repo = tmp_path / "repo"
    (repo / "workbench").mkdir(parents=True)
    shutil.copy(ROOT / "workbench" / "nbstrip.py", repo / "workbench" / "nbstrip.py")
    shutil.copy(ROOT / ".gitattributes", repo / ".gitattributes")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}

    def run(*args):
        return subprocess.run(args, cwd=repo, env=env, check=True, capture_output=True, text=True).stdout

    run("git", "init", "-q")
    run("make", "-s", "-f", str(ROOT / "Makefile"), f"PYTHON={sys.executable}", "nbstrip")
    assert run("git", "config", "filter.nbstrip.clean") == f"{sys.executable} workbench/nbstrip.py\n"
    saved = executed(ROOT / "notebooks" / "compare.ipynb")
    (repo / "compare.ipynb").write_text(saved, encoding="utf-8")
    run("git", "add", "compare.ipynb")
    run("git", "commit", "-q", "-m", "notebook")
    assert run("git", "show", "HEAD:compare.ipynb") == (ROOT / "notebooks" / "compare.ipynb").read_text("utf-8")
    assert (repo / "compare.ipynb").read_text(encoding="utf-8") == saved  # the lab's file keeps its outputs
    assert run("git", "status", "--porcelain", "compare.ipynb") == ""  # and does not show as modified


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_command(tmp_path):
    """`make lab` listens on 127.0.0.1, passes ARGS on, and adds --allow-root as root only."""
    out = subprocess.run(["make", "-n", "-f", str(ROOT / "Makefile"), "lab", "ARGS=--port=9999 --no-browser"],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    [command] = [line for line in out.splitlines() if "jupyter lab" in line]
    root = " --allow-root" if os.geteuid() == 0 else ""
    assert command.endswith(f"jupyter lab --notebook-dir=notebooks --ip=127.0.0.1{root} --port=9999 --no-browser")
