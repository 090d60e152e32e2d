"""Rendered report pages in a real browser (headless Chromium, issue 16 item 4).

Renders a default report with figures (the thesis) and the comparison report on a
real capture whose labels carry HTML/JavaScript/Markdown/mathtext payloads (in
condition, host, guest, stage, component, source file, file name and report title),
then opens every page, the index included, and checks what a reader's browser
would do: no console error, no request outside the page (file://, data:), every
figure an image that decoded, and every payload shown as text, never run -- once
with the pages' Content-Security-Policy and once with it bypassed (the escaping alone).
"""
from __future__ import annotations

import json
import re

import pytest

from workbench import report

from .browser import Chromium, executable
from .conftest import ROOT

CHROMIUM = executable()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium (Debian package 'chromium'; `make test` installs it as root)")

# Each payload sets window.pwned, adds an element, fetches a remote image or breaks
# matplotlib if it is ever interpreted instead of shown.
P = {
    "condition": "<img src=x onerror=\"window.pwned='condition'\">kvm",
    "baseline": "<script>window.pwned='baseline'</script>native",
    "host": "[h](javascript:window.pwned='host') $\\foo$",
    "guest": "<svg onload=\"window.pwned='guest'\"></svg>",
    "stage": "![p](http://127.0.0.1:9/stage.png) <b id=pwned>stage</b>",
    "component": "$\\alpha$ <iframe src=\"javascript:window.pwned='component'\"></iframe>",
    "metric": "psutil-capture:<marquee id=pwned>lag</marquee> $x_{1}$",
    "source_file": "<a href=\"http://127.0.0.1:9/\">file</a>.jsonl",
    "file": "<img src=x onerror=window.pwned=1> ![f](http:127.0.0.1:9)",  # no '/' in a file name
    "title": "</title><script>window.pwned='title'</script> $\\bar$ **T**",
}

INSPECT = """JSON.stringify({
  pwned: typeof window.pwned === "undefined" ? null : String(window.pwned),
  injected: document.querySelectorAll("#pwned, iframe, svg, script, object, embed, form").length,
  links: [...document.querySelectorAll("a[href]")].map(a => a.getAttribute("href")),
  images: [...document.images].map(i => ({src: i.src.slice(0, 22), complete: i.complete, width: i.naturalWidth})),
  title: document.title,
  text: document.body.innerText,
})"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The thesis report and the payload report, rendered once into one folder."""
    import polars as pl

    from workbench import readers, storage

    tmp = tmp_path_factory.mktemp("browser")
    good = ROOT / "tests" / "fixtures" / "capture" / "good.capture.jsonl"
    base = readers.read(good, condition=P["baseline"])
    other = readers.read(good, condition=P["condition"], host=P["host"], guest=P["guest"], scope="guest")
    relabel = [pl.col("stage").replace({"idle": P["stage"]}),
               pl.col("component").replace({"eth0": P["component"]}),
               pl.col("metric").replace({"psutil-capture:lag": P["metric"]}),
               pl.lit(P["source_file"], dtype=pl.Categorical).alias("source_file")]
    table = pl.concat([base.with_columns(relabel[:3]), other.with_columns(relabel)])
    source = storage.write_table(table, tmp / f"{P['file']}.parquet")
    config = tmp / "reports.toml"
    config.write_text(
        f'[[report]]\nname = "thesis"\nnotebook = {json.dumps((ROOT / "notebooks" / "thesis.ipynb").as_posix())}\n'
        f'title = "Thesis"\n[report.parameters]\nexperiment = "../data/experiments/thesis.toml"\n'
        f'thesis_dir = "../data/thesis"\n\n'
        f'[[report]]\nname = "payloads"\nnotebook = {json.dumps((ROOT / "notebooks" / "compare.ipynb").as_posix())}\n'
        f'title = {json.dumps(P["title"])}\n[report.parameters]\nsource = {json.dumps(source.as_posix())}\n'
        f'baseline = {json.dumps(P["baseline"])}\nmetrics = {json.dumps(["cpu_util", "net_rx", P["metric"]])}\n'
        f'series_metrics = ["cpu_util"]\n', encoding="utf-8")
    out = tmp / "out"
    results = report.render_reports(config, out, progress=False)
    assert [(r.entry.name, r.status) for r in results] == [("thesis", "ok"), ("payloads", "ok")], \
        [r.error for r in results]
    return out


@pytest.fixture(scope="module")
def pages(rendered):
    """Per page: (what it logged and requested, what is in it), with and without its CSP."""
    found = {}
    with Chromium(CHROMIUM) as browser:
        for path in sorted(rendered.glob("*.html")):
            for bypass in (False, True):
                session, log = browser.open(path.as_uri(), bypass_csp=bypass)
                found[path.name, bypass] = log, json.loads(browser.evaluate(session, INSPECT))
    return found


def test_every_page_was_opened(pages):
    assert sorted({name for name, _ in pages}) == ["index.html", "payloads.html", "thesis.html"]


@pytest.mark.parametrize("bypass", [False, True], ids=["with-csp", "csp-bypassed"])
def test_no_console_error_and_no_request_outside_the_page(pages, bypass):
    for (name, bypassed), (log, _) in pages.items():
        if bypassed != bypass:
            continue
        assert log.errors == [], name
        outside = [u for u in log.requests if not (u.startswith("data:") or u == log.url)]
        assert outside == [], name


def test_every_figure_is_an_embedded_image_that_decoded(pages):
    counts = {}
    for (name, _), (_, seen) in pages.items():
        assert all(i["src"] == "data:image/png;base64," and i["complete"] and i["width"] > 0
                   for i in seen["images"]), name
        counts[name] = len(seen["images"])
    # thesis: figures 9, 65/66, 67/68, 69-71, 74/75, 79; payloads: ratios, 3 metrics'
    # runs, cpu_util of 2 captures
    assert counts == {"index.html": 0, "thesis.html": 6, "payloads.html": 1 + 3 + 2}


@pytest.mark.parametrize("bypass", [False, True], ids=["with-csp", "csp-bypassed"])
def test_payloads_are_shown_as_text_never_run(pages, bypass):
    for (name, bypassed), (_, seen) in pages.items():
        if bypassed != bypass:
            continue
        assert seen["pwned"] is None, name
        assert seen["injected"] == 0, name
        assert all(not re.match(r"\s*(javascript|https?):", h, re.I) for h in seen["links"]), (name, seen["links"])
    _, payloads = pages["payloads.html", bypass]
    text = " ".join(payloads["text"].split())
    assert payloads["title"] == P["title"]
    # labels shown in the page's prose and tables, character for character
    for key in ("condition", "baseline", "stage", "component", "metric", "file"):
        assert " ".join(P[key].split()) in text, key
    _, index = pages["index.html", bypass]
    assert P["title"] in index["text"]
