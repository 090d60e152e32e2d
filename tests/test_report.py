"""Tests of workbench.report: real papermill runs of the fixture notebooks."""
from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import psutil
import pytest

from workbench.report import (
    ReportError,
    load_config,
    render_reports,
    write_index,
)

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


def write_config(tmp_path: Path, body: str, name: str = "reports.toml") -> Path:
    """Write a config whose relative notebook paths point at the fixtures."""
    path = tmp_path / name
    path.write_text(body.replace("@FIXTURES@", FIXTURES.as_posix()), encoding="utf-8")
    return path


def outputs_text(nb) -> str:
    """All stream and text/plain outputs of a notebook, concatenated."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "".join(parts)


@pytest.fixture(scope="module")
def failing_run(tmp_path_factory):
    """Render [ok, fails] once; several tests inspect the result."""
    tmp_path = tmp_path_factory.mktemp("failing")
    config = write_config(tmp_path, """
[[report]]
name = "ok"
notebook = "@FIXTURES@/ok.ipynb"
title = "OK <script>alert(1)</script>"

[[report]]
name = "fails"
notebook = "@FIXTURES@/fails.ipynb"
[report.parameters]
x = 2
""")
    out = tmp_path / "out"
    results = render_reports(config, out, progress=False)
    return out, results


def test_ok_notebook_renders(tmp_path):
    config = write_config(tmp_path, """
[[report]]
name = "ok"
notebook = "ok.ipynb"
title = "The ok fixture"
[report.parameters]
n = 5
""")
    # Relative notebook path: resolved against the config file's directory.
    (tmp_path / "ok.ipynb").write_bytes((FIXTURES / "ok.ipynb").read_bytes())
    out = tmp_path / "reports"

    [result] = render_reports(config, out, progress=False)

    assert result.ok, result.error
    assert result.status == "ok" and result.error is None
    assert result.ipynb == out / "ok.ipynb" and result.html == out / "ok.html"
    assert result.seconds > 0

    nb = nbformat.read(result.ipynb, as_version=4)
    assert "value=35" in outputs_text(nb)
    assert nb.metadata.papermill.parameters == {"n": 5}
    assert nb.metadata.papermill.output_path == str(out / "ok.ipynb")
    # The kernel is the interpreter running the tests, so it sees the same
    # installed packages (workbench included).
    assert f"prefix={sys.prefix}" in outputs_text(nb)

    page = result.html.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page
    assert "plt.subplots" not in page
    assert "value=35" in page
    assert "<title>The ok fixture</title>" in page
    # standalone: no script, nothing from elsewhere, and a policy saying so; both themes
    assert ('<meta http-equiv="Content-Security-Policy" content="default-src &#x27;none&#x27;; img-src data:; '
            "style-src &#x27;unsafe-inline&#x27;; base-uri &#x27;none&#x27;; form-action &#x27;none&#x27;\">") in page
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@media (prefers-color-scheme: dark)" in page

    index = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="ok.html"' in index
    assert 'href="ok.ipynb"' in index
    assert "n = 5" in index
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "ok.html", "ok.ipynb"]


def test_failure_is_reported_and_others_still_render(failing_run):
    out, results = failing_run
    by_name = {r.entry.name: r for r in results}
    assert list(by_name) == ["ok", "fails"]

    assert by_name["ok"].ok
    assert (out / "ok.html").is_file()

    failed = by_name["fails"]
    assert not failed.ok and failed.status == "failed"
    assert "ValueError" in failed.error and "deliberate failure" in failed.error
    # The partially executed notebook (with the error) is kept, and its HTML.
    assert failed.ipynb == out / "fails.ipynb"
    nb = nbformat.read(failed.ipynb, as_version=4)
    assert nb.metadata.papermill.parameters == {"x": 2}
    assert failed.html is not None and "deliberate failure" in failed.html.read_text("utf-8")

    index = (out / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in index
    assert "ValueError: deliberate failure for the test" in index
    assert 'href="fails.ipynb"' in index

    # Only the final files: no temporary leftovers from atomic writes.
    assert sorted(p.name for p in out.iterdir()) == [
        "fails.html", "fails.ipynb", "index.html", "ok.html", "ok.ipynb"]


def without_timing(nb_path: Path) -> dict:
    """A rendered notebook without papermill's start and end times and durations (of
    the notebook and of each cell) and the output path: all that may differ between
    two renderings of the same report."""
    nb = json.loads(nb_path.read_text("utf-8"))
    for meta in [nb["metadata"]["papermill"]] + [c["metadata"].get("papermill", {}) for c in nb["cells"]]:
        for key in ("start_time", "end_time", "duration", "output_path"):
            meta.pop(key, None)
    return nb


def test_parallel_rendering_gives_the_serial_outputs(tmp_path):
    """Two reports (one with a figure, one failing) rendered one by one and two at a
    time: the same pages byte for byte, the same notebooks but for papermill's timing,
    and no random cell ids (papermill's added cells get stable ones)."""
    config = write_config(tmp_path, """
[[report]]
name = "ok"
notebook = "@FIXTURES@/ok.ipynb"
[report.parameters]
n = 3

[[report]]
name = "fails"
notebook = "@FIXTURES@/fails.ipynb"
""")
    serial = render_reports(config, tmp_path / "serial", progress=False, jobs=1)
    parallel = render_reports(config, tmp_path / "parallel", progress=False, jobs=2)
    assert [(r.entry.name, r.status) for r in serial] == [(r.entry.name, r.status) for r in parallel] == [
        ("ok", "ok"), ("fails", "failed")]
    for name in ("ok", "fails"):
        assert (tmp_path / "serial" / f"{name}.html").read_bytes() == (tmp_path / "parallel" / f"{name}.html").read_bytes()
        assert without_timing(tmp_path / "serial" / f"{name}.ipynb") == without_timing(
            tmp_path / "parallel" / f"{name}.ipynb")
    ok = without_timing(tmp_path / "serial" / "ok.ipynb")
    assert "image/png" in json.dumps(ok)
    assert [c["id"] for c in ok["cells"]] == ["ok-0", "ok-1", "injected-parameters", "ok-2", "ok-3", "ok-4"]
    assert [c["id"] for c in without_timing(tmp_path / "serial" / "fails.ipynb")["cells"]][:2] == [
        "papermill-error", "fails-0"]


def test_a_report_that_measures_runs_alone(tmp_path):
    """An ``alone`` report (a probe, a capture) never runs beside another report of the
    batch, even with two jobs: papermill's start and end times of each rendered notebook
    show no overlap with it, while the two shared reports may run together."""
    body = "".join(f'[[report]]\nname = "{name}"\nnotebook = "@FIXTURES@/ok.ipynb"\n{extra}'
                   f"[report.parameters]\nn = 3\n\n"
                   for name, extra in (("first", ""), ("measures", "alone = true\n"), ("third", ""), ("fourth", "")))
    results = render_reports(write_config(tmp_path, body), tmp_path / "out", progress=False, jobs=2)
    assert [(r.entry.name, r.status, r.entry.alone) for r in results] == [
        ("first", "ok", False), ("measures", "ok", True), ("third", "ok", False), ("fourth", "ok", False)]
    spans = {}
    for r in results:
        meta = json.loads(r.ipynb.read_text("utf-8"))["metadata"]["papermill"]
        spans[r.entry.name] = (meta["start_time"], meta["end_time"])  # ISO 8601 strings, same zone: ordered
    start, end = spans.pop("measures")
    assert all(e <= start or s >= end for s, e in spans.values()), (start, end, spans)


def test_alone_config_errors(tmp_path):
    config = write_config(tmp_path, '[[report]]\nname = "ok"\nnotebook = "@FIXTURES@/ok.ipynb"\nalone = "yes"\n')
    with pytest.raises(ReportError, match=re.escape("report #1 ('ok'): 'alone' must be true or false, not 'yes'")):
        load_config(config)


def test_jobs_must_be_a_positive_integer(tmp_path):
    config = write_config(tmp_path, '[[report]]\nname = "ok"\nnotebook = "@FIXTURES@/ok.ipynb"\n')
    for jobs in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=re.escape(f"`jobs` must be a positive integer, not {jobs!r}")):
            render_reports(config, tmp_path / "out", progress=False, jobs=jobs)


def test_index_escapes_titles(failing_run):
    out, _ = failing_run
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in index
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index


def test_write_index_escapes_errors_and_parameters(tmp_path):
    # Pure HTML check, no kernel: reuse a loaded entry with hostile text.
    from dataclasses import replace

    from workbench.report import ReportResult

    config = write_config(tmp_path, """
[[report]]
name = "ok"
notebook = "@FIXTURES@/ok.ipynb"
[report.parameters]
label = "<b>bold</b>"
""")
    [entry] = load_config(config)
    entry = replace(entry, title="A & B")
    result = ReportResult(entry=entry, status="failed", ipynb=None, html=None,
                          seconds=1.25, error="KeyError: '<img src=x onerror=alert(1)>'")
    index = write_index([result], tmp_path / "out").read_text(encoding="utf-8")
    assert "<img" not in index and "<b>bold" not in index
    assert "&lt;img src=x onerror=alert(1)&gt;" in index
    assert "A &amp; B" in index
    assert "1.2" in index and "FAILED" in index
    assert 'href="ok.html"' not in index  # nothing to link to


@pytest.mark.parametrize(("body", "match"), [
    pytest.param('[[report]]\nnotebook = "@FIXTURES@/ok.ipynb"\n',
                 r"report #1: missing 'name'", id="missing-name"),
    pytest.param('[[report]]\nname = "ok"\n',
                 r"report #1 \('ok'\): missing 'notebook'", id="missing-notebook"),
    pytest.param('[[report]]\nname = "a"\nnotebook = "@FIXTURES@/ok.ipynb"\n'
                 '[[report]]\nname = "a"\nnotebook = "@FIXTURES@/fails.ipynb"\n',
                 r"report #2 \('a'\): duplicate name \(also report #1\)", id="duplicate"),
    pytest.param('[[report]]\nname = "ok"\nnotebook = "@FIXTURES@/ok.ipynb"\n'
                 '[[report]]\nname = "thesis"\nnotebook = "x.ipynb"\n',
                 r"report #2 \('thesis'\): notebook 'x.ipynb' not found", id="notebook-missing"),
    pytest.param('[[report]]\nname = "a/b"\nnotebook = "@FIXTURES@/ok.ipynb"\n',
                 r"name 'a/b' must be a plain file name", id="path-separator"),
    pytest.param('[[report]]\nname = "index"\nnotebook = "@FIXTURES@/ok.ipynb"\n',
                 r"reserved for the index page", id="index-name"),
    pytest.param('[[report]]\nname = "ok"\nnotebok = "@FIXTURES@/ok.ipynb"\n',
                 r"unknown key\(s\) 'notebok'", id="unknown-key"),
    pytest.param('[[reports]]\nname = "ok"\nnotebook = "@FIXTURES@/ok.ipynb"\n',
                 r"unknown top-level key\(s\) 'reports'", id="unknown-table"),
    pytest.param('# nothing here\n', r"no \[\[report\]\] entries", id="empty"),
    pytest.param('[[report]]\nname = "ok"\nnotebook = "@FIXTURES@/ok.ipynb"\n'
                 '[report.parameters]\nday = 2015-06-01\n',
                 r"parameter 'day': date values are not supported", id="date-parameter"),
    pytest.param('[[report]]\nname = "ok"\nnotebook = = "ok.ipynb"\n',
                 r"reports\.toml: invalid TOML: .*line 3", id="toml-syntax"),
])
def test_config_errors(tmp_path, body, match):
    config = write_config(tmp_path, body)
    with pytest.raises(ReportError, match=match) as info:
        load_config(config)
    message = str(info.value)
    assert message.startswith(str(config) + ": ")
    assert "\n" not in message


def test_missing_config_file(tmp_path):
    missing = tmp_path / "nope" / "reports.toml"
    with pytest.raises(ReportError, match=re.escape(f"{missing}: config file not found")):
        load_config(missing)
    with pytest.raises(ReportError, match="config file not found"):
        render_reports(missing, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_load_config_resolves_relative_to_config_dir(tmp_path):
    sub = tmp_path / "notebooks"
    sub.mkdir()
    (sub / "ok.ipynb").write_bytes((FIXTURES / "ok.ipynb").read_bytes())
    config = write_config(sub, """
[[report]]
name = "thesis"
notebook = "ok.ipynb"
[report.parameters]
experiment = "../data/experiments/thesis.toml"
nested = {a = [1, 2.5, true]}
""")
    [entry] = load_config(config)
    assert entry.notebook == sub / "ok.ipynb" and entry.notebook.is_absolute()
    assert entry.title == "thesis"  # defaults to the name
    # Passed verbatim; the notebook resolves it against its own directory.
    assert entry.parameters == {"experiment": "../data/experiments/thesis.toml",
                                "nested": {"a": [1, 2.5, True]}}
    json.dumps(entry.parameters)  # papermill records them in JSON metadata


def test_only_unknown_name(tmp_path):
    config = write_config(tmp_path, '[[report]]\nname = "ok"\nnotebook = "@FIXTURES@/ok.ipynb"\n')
    with pytest.raises(ReportError, match=r"no report named 'nope'; known: ok"):
        render_reports(config, tmp_path / "out", only=["nope"], progress=False)


def test_unreadable_notebook_fails_and_removes_stale_outputs(tmp_path):
    # A notebook papermill cannot even load: no kernel starts, nothing is
    # saved, and outputs of an earlier run must not linger beside the index.
    (tmp_path / "broken.ipynb").write_text("this is not json", encoding="utf-8")
    config = write_config(tmp_path, """
[[report]]
name = "ok"
notebook = "@FIXTURES@/ok.ipynb"

[[report]]
name = "broken"
notebook = "broken.ipynb"
""")
    out = tmp_path / "out"
    out.mkdir()
    (out / "broken.html").write_text("old page", encoding="utf-8")
    (out / "broken.ipynb").write_text("{}", encoding="utf-8")

    [result] = render_reports(config, out, only=["broken"], progress=False)

    assert result.status == "failed" and result.ipynb is None and result.html is None
    assert result.error and ":" in result.error  # "<ExceptionName>: <message>"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "FAILED" in index and "broken" in index and 'href="ok.html"' not in index


# --------------------------------------------------------------------------- robustness (issue 18 item 7)


def tmp_leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") or ".tmp" in p.name)


def test_cell_that_never_returns_is_stopped_by_the_timeout(tmp_path):
    config = write_config(tmp_path, """
[[report]]
name = "loops"
notebook = "@FIXTURES@/loops.ipynb"
timeout = 1.2  # rounded up to whole seconds

[[report]]
name = "ok"
notebook = "@FIXTURES@/ok.ipynb"
""")
    out = tmp_path / "out"
    loops, ok = render_reports(config, out, progress=False, timeout=None)
    assert loops.status == "failed" and ok.ok
    assert loops.error == ("CellTimeoutError: a cell ran longer than 2 s (the per-cell timeout; "
                           "'timeout' in the report's entry changes it)")
    nb = nbformat.read(loops.ipynb, as_version=4)
    assert "started" in outputs_text(nb) and "never reached" not in outputs_text(nb)
    assert tmp_leftovers(out) == []
    assert "a cell ran longer than 2 s" in (out / "index.html").read_text(encoding="utf-8")


def test_timeout_config_errors(tmp_path):
    for value, shown in (("0", "0"), ("-1", "-1"), ('"10"', "'10'"), ("true", "True"), ("inf", "inf")):
        config = write_config(tmp_path, f'[[report]]\nname = "ok"\nnotebook = "@FIXTURES@/ok.ipynb"\n'
                                        f'timeout = {value}\n')
        with pytest.raises(ReportError, match=re.escape(
                f"report #1 ('ok'): 'timeout' must be a positive number of seconds, not {shown}")):
            load_config(config)


def test_kernel_stderr_and_death_are_recorded_not_leaked(tmp_path, capfd):
    """The kernel's fd 2, its death and the executor's log stay off our stderr (the
    kernel inherits our fd 2, so capfd sees anything that leaks) and land in the
    result, the index and the page's warnings box (each line once)."""
    config = write_config(tmp_path, '[[report]]\nname = "stderr"\nnotebook = "@FIXTURES@/stderr.ipynb"\n')
    out = tmp_path / "out"
    capfd.readouterr()
    [result] = render_reports(config, out, progress=False)
    leaked = capfd.readouterr()
    assert leaked.err == "" and leaked.out == ""
    assert result.status == "failed" and result.error == "DeadKernelError: Kernel died"
    assert result.stderr.splitlines() == ["written to fd 2 by the kernel",
                                          "Kernel died while waiting for execute reply."]
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "written to fd 2 by the kernel" in index and "Kernel died while waiting" in index
    page = result.html.read_text(encoding="utf-8")
    box = re.search(r'<aside class="warnings" role="note">(.*?)</aside>', page, re.S).group(1)
    items = re.findall(r"<li>(.*?)</li>", box)
    # Python's own two-line warning format (this fixture does not call notebook.setup())
    assert items[0].endswith("UserWarning: a warning from the notebook")
    assert items[1] == '  warnings.warn(&quot;a warning from the notebook&quot;, stacklevel=1)'
    assert items[2:] == ["the same line twice", "written to fd 2 by the kernel",
                         "Kernel died while waiting for execute reply."]
    assert page.count("the same line twice") == 1  # collected once, removed from the cell
    assert tmp_leftovers(out) == []


def loops_entry(tmp_path: Path, name: str) -> str:
    """A config entry of the loops fixture that creates ``tmp_path/<name>.started`` when its loop starts."""
    started = json.dumps(str(tmp_path / f"{name}.started"))
    return f'[[report]]\nname = "{name}"\nnotebook = "@FIXTURES@/loops.ipynb"\n[report.parameters]\nstarted = {started}\n\n'


def interrupt_report(tmp_path: Path, signum: str, config: Path, jobs: int, running: set[str], check=None):
    """Run `workbench report` in a subprocess, send it `signum` once the loop cell of each
    report in `running` has started (it creates ``tmp_path/<name>.started``, see
    :func:`loops_entry`), after `check(kernels)` if given; (returncode, stdout, stderr,
    output folder, the kernels that were running then, as psutil processes)."""
    import os
    import signal
    import subprocess
    import time

    out = tmp_path / "out"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "report", "--config", str(config), "-o", str(out),
                             "-q", "--jobs", str(jobs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        # each loop notebook creates its `started` file (a parameter) when its loop is about to run
        while not all((tmp_path / f"{name}.started").exists() for name in running):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.1)
        kernels = psutil.Process(proc.pid).children(recursive=True)
        if check is not None:
            check(kernels)
        proc.send_signal(getattr(signal, signum))
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, stdout, stderr, out, kernels


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_signal_leaves_no_temporary_file_and_writes_the_index(tmp_path, signum):
    """`workbench report` stopped by SIGTERM or Ctrl-C (SIGINT) while a notebook runs:
    no *.tmp.ipynb, and the index lists the interrupted report (not the one after it)."""
    config = write_config(tmp_path, loops_entry(tmp_path, "loops") + """
[[report]]
name = "after"
notebook = "@FIXTURES@/ok.ipynb"
""")
    returncode, stdout, stderr, out, kernels = interrupt_report(tmp_path, signum, config, jobs=1, running={"loops"})
    assert returncode == 130, (stdout, stderr)
    assert stderr == "workbench report: interrupted\n"
    assert tmp_leftovers(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    text = re.sub(r"<[^>]+>", " ", (out / "index.html").read_text(encoding="utf-8"))
    assert "1 report(s): 0 ok, 0 failed, 1 interrupted (later reports not rendered)" in text
    assert "INTERRUPTED" in text and "interrupted (SIGTERM, SIGHUP or Ctrl-C) while rendering" in text
    assert "after" not in text
    assert len(kernels) == 1 and psutil.wait_procs(kernels, timeout=10)[1] == []  # no kernel outlives the run


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_signal_stops_every_report_rendering_in_parallel(tmp_path, signum):
    """With two jobs, both running kernels are stopped at once: both reports are listed
    as interrupted, in config order, the third (not started) is not, and nothing else is left."""
    config = write_config(tmp_path, loops_entry(tmp_path, "one") + loops_entry(tmp_path, "two") + """
[[report]]
name = "third"
notebook = "@FIXTURES@/ok.ipynb"
""")
    returncode, stdout, stderr, out, kernels = interrupt_report(tmp_path, signum, config, jobs=2,
                                                                running={"one", "two"})
    assert returncode == 130, (stdout, stderr)
    assert stderr == "workbench report: interrupted\n"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    text = re.sub(r"<[^>]+>", " ", (out / "index.html").read_text(encoding="utf-8"))
    assert "2 report(s): 0 ok, 0 failed, 2 interrupted (later reports not rendered)" in text
    assert text.count("interrupted (SIGTERM, SIGHUP or Ctrl-C) while rendering") == 2
    assert text.index(" one ") < text.index(" two ") and "third" not in text
    assert len(kernels) == 2 and psutil.wait_procs(kernels, timeout=10)[1] == []  # killed, not orphaned


def test_a_signal_during_a_measurement_leaves_no_kernel_stopped(tmp_path):
    """SIGHUP (the terminal closed) while one report measures and the other's kernel is
    paused for it (SIGSTOP): the batch stops, and no kernel outlives it, stopped or not."""
    config = write_config(tmp_path, loops_entry(tmp_path, "loops") + f"""
[[report]]
name = "measures"
notebook = "@FIXTURES@/measures.ipynb"
[report.parameters]
seconds = 60
after = {json.dumps(str(tmp_path / "loops.started"))}
started = {json.dumps(str(tmp_path / "measures.started"))}
""")

    def paused(kernels):
        assert psutil.STATUS_STOPPED in [k.status() for k in kernels]  # the loops kernel, while the other measures

    returncode, stdout, stderr, out, kernels = interrupt_report(tmp_path, "SIGHUP", config, jobs=2,
                                                                running={"loops", "measures"}, check=paused)
    assert returncode == 130, (stdout, stderr)
    text = re.sub(r"<[^>]+>", " ", (out / "index.html").read_text(encoding="utf-8"))
    assert text.count("interrupted (SIGTERM, SIGHUP or Ctrl-C) while rendering") == 2
    assert len(kernels) >= 2 and psutil.wait_procs(kernels, timeout=10)[1] == []


def test_measurements_have_the_machine_and_the_rest_runs_beside(tmp_path):
    """Two reports that measure through workbench.quiet (as probe.run and a Capture do)
    and two that compute (the busy fixture notes the time between bits of work), two at a
    time: no other report computes during a measurement (a kernel running when a
    measurement asks is paused), the two measurements do not overlap, and neither waits
    for the other forever (all four finish).

    A measuring kernel holds the machine itself after its measurement, until it exits: its
    span, papermill's start to its last output (papermill's end comes after the kernel
    exited and let go), must not meet the other measurement either."""
    body = "".join(f'[[report]]\nname = "{name}"\nnotebook = "@FIXTURES@/{notebook}"\n\n'
                   for name, notebook in (("measures-a", "measures.ipynb"), ("busy-1", "busy.ipynb"),
                                          ("measures-b", "measures.ipynb"), ("busy-2", "busy.ipynb")))
    results = render_reports(write_config(tmp_path, body), tmp_path / "out", progress=False, jobs=2)
    assert [(r.entry.name, r.status) for r in results] == [
        ("measures-a", "ok"), ("busy-1", "ok"), ("measures-b", "ok"), ("busy-2", "ok")]
    windows, spans, stamps = {}, {}, {}
    for r in results:
        nb = nbformat.read(r.ipynb, as_version=4)
        text = outputs_text(nb)
        if r.entry.name.startswith("busy"):
            stamps[r.entry.name] = [float(t) for t in re.search(r"stamps=([\d.,]+)", text)[1].split(",")]
            continue
        assert "child measured" in text  # the kernel's own child did not wait for it
        found = re.search(r"window=([\d.]+),([\d.]+)", text)
        windows[r.entry.name] = (float(found[1]), float(found[2]))
        start = datetime.fromisoformat(nb.metadata["papermill"]["start_time"]).timestamp()
        spans[r.entry.name] = (start, float(re.search(r"done=([\d.]+)", text)[1]))
    (a0, a1), (b0, b1) = windows["measures-a"], windows["measures-b"]
    assert a1 <= b0 or b1 <= a0
    assert spans["measures-a"][1] <= b0 or spans["measures-a"][0] >= b1
    assert spans["measures-b"][1] <= a0 or spans["measures-b"][0] >= a1
    for name, (begun, ended) in windows.items():
        for busy, times in stamps.items():
            assert len(times) > 10 and not [t for t in times if begun <= t <= ended], (name, busy)
    assert not list((tmp_path / "out").glob(".*"))  # no temporary left
