"""Figure functions: ax in, ax out, titled with the figure number, units on axes."""
import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from workbench import figures, thesis  # noqa: E402
from workbench.errors import WorkbenchError  # noqa: E402

from .conftest import ROOT, THESIS_DIR  # noqa: E402


@pytest.fixture(autouse=True)
def close():
    yield
    plt.close("all")


@pytest.mark.parametrize("func, number, unit, bars", [
    (figures.fig65_cpu_per_core, "Figures 65/66", "(%)", 18),
    (figures.fig67_host_memory, "Figures 67/68", "(MiB)", 8),
    (figures.fig69_71_cache_memory, "Figures 69-71", "(%)", 24),
    (figures.fig74_75_memory, "Figures 74/75", "(MiB)", 3),
])
def test_thesis_figures(thesis_table, func, number, unit, bars):
    fig, ax = plt.subplots()
    assert func(thesis_table, ax=ax) is ax
    assert ax.get_title().startswith(number)
    assert unit in ax.get_xlabel() + ax.get_ylabel()
    assert len([p for p in ax.patches if p.get_width() or p.get_height()]) == bars


def test_fig79_draws_bounds_as_bounds(thesis_table):
    """The memory values are only bounds ("exceeded 50 %", "had not reached 40 %"): drawn as
    a line with an arrow, not as bars; the approximate CPU values are hatched bars."""
    fig, ax = plt.subplots()
    figures.fig79_cpu_memory(thesis_table, ax=ax)
    labels = sorted(t.get_text() for t in ax.texts if t.get_text())
    assert labels == ["< 40 %", "> 50 %", "≈ 25 %", "≈ 40 %"]
    bars = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_height()]
    assert sorted(p.get_height() for p in bars) == [25.0, 40.0]  # the CPU values only
    assert all(p.get_hatch() == "//" for p in bars)
    arrows = [t for t in ax.texts if not t.get_text() and t.arrow_patch is not None]
    assert len(arrows) == 2


def test_fig9_from_transcription():
    fig, ax = plt.subplots()
    figures.fig9_overhead_model(thesis.load(THESIS_DIR, 9), ax=ax)
    assert [t.get_text() for t in ax.texts] == ["100 %", "96 %"]


def test_cache_memory_table_in_everest_layout(thesis_table):
    t = thesis.cache_memory_table(thesis_table)
    assert t.height == 9
    first = t.row(0, named=True)
    assert first == {"stage": "host just booted", "component": "memory", "Read (MB/s)": 7284.0,
                     "Write (MB/s)": 7426.0, "Copy (MB/s)": 7216.0, "Latency (ns)": 57.9}


def test_no_rows_is_a_clear_error(thesis_table):
    with pytest.raises(WorkbenchError, match="no rows for metric"):
        figures.fig65_cpu_per_core(thesis_table.filter(thesis_table["metric"] == "mem_used"))


def test_axes_show_the_native_unit_of_a_metric_outside_the_vocabulary():
    from datetime import datetime, timedelta, timezone

    from workbench import schema

    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = [dict(experiment="t", condition=c, host="h", scope="host", run=r, aggregate="mean",
                 metric="everest-csv:temperature", unit="°C", component="CPU", value=40.0 + i + r,
                 source="everest-csv", source_file=f"{c}-{r}", time=t0 + timedelta(seconds=i), interval=1.0)
            for c in ("native", "guest") for r in (1, 2) for i in range(3)]
    table = schema.validate(schema.from_rows(rows))
    ax = figures.run_distributions(table, "everest-csv:temperature")
    assert ax.get_xlabel() == "everest-csv:temperature per run (°C)"
    one = table.filter((table["condition"] == "native") & (table["run"] == 1))
    assert figures.capture_series(one, "everest-csv:temperature", ax=plt.figure().gca()).get_ylabel() == \
        "everest-csv:temperature (°C)"


def test_run_distributions_jitter_is_the_same_every_time_and_leaves_numpys_state_alone():
    """The dots' jitter is seeded: two drawings of the felter2014 runs put every dot in the
    same place (reports render reproducibly), and numpy's global generator goes on as if
    nothing had been drawn."""
    import numpy as np

    felter = __import__("workbench").open(ROOT / "data" / "experiments" / "felter2014.toml")
    np.random.seed(1)
    expected_next = np.random.random()
    np.random.seed(1)
    drawn = [figures.run_distributions(felter.table, "stream_copy_bw", ax=plt.figure().gca()) for _ in range(2)]
    assert np.random.random() == expected_next
    dots = [np.concatenate([c.get_offsets() for c in ax.collections]) for ax in drawn]
    assert len(dots[0]) > 1 and np.array_equal(dots[0], dots[1])
    # jittered: the dots of one condition do not all sit on its line
    assert len(set(np.round(dots[0][:, 1], 6))) > len(set(np.round(dots[0][:, 1])))


# --------------------------------------------------------------------------- palette and legends (issue 16 item 3)

def _colours(ax) -> set[str]:
    """Every colour the axes draw data with (lines, markers, bars, dots), as #rrggbb."""
    from matplotlib.colors import to_hex, to_rgba

    out = set()
    for line in ax.lines:
        out |= {line.get_color(), line.get_markerfacecolor(), line.get_markeredgecolor()}
    for patch in ax.patches:
        out.add(patch.get_facecolor())
    for coll in ax.collections:
        out |= {tuple(c) for c in coll.get_facecolors()} | {tuple(c) for c in coll.get_edgecolors()}
    rgba = [to_rgba(c) for c in out if not (isinstance(c, str) and c == "none")]
    return {to_hex(c) for c in rgba if c[3] > 0}


def _allowed(colour: str) -> bool:
    from workbench.figures._base import OKABE_ITO

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    grey = max(r, g, b) - min(r, g, b) <= 8
    band = colour in ("#e8eef7", "#f7efe3")  # capture_series' pale stage bands
    return grey or band or colour in {c.lower() for c in OKABE_ITO}


def _figures(thesis_table):
    """Each figure function drawn on its own axes, on real data."""
    from workbench import readers, stats

    from .conftest import FIXTURES

    capture = readers.read(FIXTURES / "capture" / "good.capture.jsonl", condition="native")
    felter = __import__("workbench").open(FIXTURES.parent.parent / "data" / "experiments" / "felter2014.toml")
    drawn = {}
    for name, draw in {
        "fig9": lambda ax: figures.fig9_overhead_model(thesis.load(THESIS_DIR, 9), ax=ax),
        "fig65": lambda ax: figures.fig65_cpu_per_core(thesis_table, ax=ax),
        "fig67": lambda ax: figures.fig67_host_memory(thesis_table, ax=ax),
        "fig69": lambda ax: figures.fig69_71_cache_memory(thesis_table, ax=ax),
        "fig74": lambda ax: figures.fig74_75_memory(thesis_table, ax=ax),
        "fig79": lambda ax: figures.fig79_cpu_memory(thesis_table, ax=ax),
        "ratios": lambda ax: figures.comparison_ratios(stats.compare_all(felter.table, baseline="native"), ax=ax),
        "runs": lambda ax: figures.run_distributions(felter.table, "stream_copy_bw", ax=ax),
        "capture": lambda ax: figures.capture_series(capture, "cpu_util", ax=ax),
    }.items():
        fig, ax = plt.subplots(figsize=(8, 4))
        draw(ax)
        fig.canvas.draw()
        drawn[name] = ax
    return drawn


def test_every_figure_uses_the_colour_blind_safe_palette_and_keeps_legends_off_the_data(thesis_table):
    drawn = _figures(thesis_table)
    for name, ax in drawn.items():
        colours = _colours(ax)
        assert colours and all(_allowed(c) for c in colours), (name, sorted(colours))
        legend = ax.get_legend()
        if legend is not None:  # outside the axes: no overlap with the data area
            box, area = legend.get_window_extent(), ax.get_window_extent()
            assert box.x0 >= area.x1 or box.y1 <= area.y0, name
    # conditions keep their colours in every figure: kvm and docker are told apart
    ratios = {line.get_color() for line in drawn["ratios"].lines if line.get_color() != "black"}
    assert len(ratios) == 2


def test_importing_figures_leaves_seaborn_and_scipy_to_the_figures_that_draw_with_them():
    """seaborn pulls in scipy.stats (about a second); the capture and probe notebooks
    draw no seaborn figure and should not pay for it."""
    import subprocess
    import sys

    code = "import sys, workbench.figures; print(sorted(m for m in ('seaborn', 'scipy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"
