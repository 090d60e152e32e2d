"""The memory probe: a real quick run here (through the CLI), its table, metadata,
figure and notebook; planning on recorded sysfs layouts of
several machine kinds; every bad option and broken file with its message pinned.

Nothing here encodes the machine the tests were written on: what a quick run
must print (working sets, cache labels) is derived from the caches detected on
the machine under test, and no test asserts on a measured speed (a loaded
2-core machine can put L1 latency above L2's)."""
from __future__ import annotations

import contextlib
import io
import json
import math
import re
import subprocess
import sys

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import psutil  # noqa: E402
import pytest  # noqa: E402

from workbench import cli, figures, guards, machine, probe, report, schema, storage  # noqa: E402
from workbench.errors import WorkbenchError  # noqa: E402

from .conftest import FIXTURES, ROOT  # noqa: E402

PROBE = FIXTURES / "probe"
KIB, MIB = 1024, 1024 ** 2


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """One quick probe for the whole module, through the command line."""
    out = tmp_path_factory.mktemp("probe") / "probe.parquet"
    stdout, stderr = io.StringIO(), io.StringIO()  # capsys is function-scoped
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = cli.main(["probe", "--quick", "-o", str(out), "--label", "condition=native",
                       "--label", "experiment=probe-test"])
    return {"rc": rc, "out": out, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(),
            "table": storage.read_table(out), "meta": probe.read_metadata(out)}


def medians(table: pl.DataFrame, stage: str, metric: str) -> dict[str, float]:
    rows = probe.measured(table).filter((pl.col("stage") == stage) & (pl.col("metric") == metric))
    return {c: float(g["value"].median()) for (c,), g in rows.group_by("component")}


def expected_levels():
    """The working sets the probe must choose on the machine under test."""
    return probe.plan(machine.detect_caches(machine.usable_cpus()))


def lscpu_cache_sizes() -> dict[str, int]:
    """Per-instance data/unified cache sizes, L1..L3, as ``lscpu -C`` reports them."""
    done = subprocess.run(["lscpu", "-C=LEVEL,TYPE,ONE-SIZE", "--bytes"], capture_output=True,
                          text=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    out = {}
    for line in done.stdout.splitlines()[1:]:  # below the heading
        level, kind, size = line.split()
        if kind in ("Data", "Unified") and int(level) <= 3:
            out[f"L{level}"] = int(size)
    return out


def lscpu() -> dict[str, str]:
    done = subprocess.run(["lscpu"], capture_output=True, text=True, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    return machine.parse_lscpu(done.stdout)


# --------------------------------------------------------------------------- the quick run


def test_cli_quick_run_prints_everest_layout(quick_run):
    assert quick_run["rc"] == 0
    out = quick_run["stdout"]
    sets = ", ".join(f"{lv.name} {probe.format_size(lv.size)}" for lv in expected_levels())
    assert re.search(rf"^working sets: {re.escape(sets)}$", out, re.M)
    flagged = probe.flagged_trials(quick_run["table"])
    if len(flagged) == 2:  # a busy machine: a visible warning instead of a normal-looking table
        assert "WARNING: 2 of 2 measured trials were disturbed" in out
        assert "no undisturbed trial: no result to show" in out and "L1 Cache" not in out
    else:
        if flagged:
            assert f"WARNING: {len(flagged)} of 2 measured trials were disturbed" in out
        for label in ("Memory", "L1 Cache", "L2 Cache", "L3 Cache")[:len(expected_levels())]:
            assert re.search(rf"^\s*{label}\s+\d+ \[-\]\s+\d+ \[-\]\s+\d+ \[-\]\s+\d+\.\d \[-\]\s+"
                             rf"{2 - len(flagged)}$", out, re.M), label
    assert f"{3 * len(expected_levels()) * 7} rows" in out and str(quick_run["out"]) in out
    # stderr is not a terminal here: one progress line per trial
    assert re.findall(r"^probe: (warm-up|trial \d/2) \d+\.\d s$", quick_run["stderr"], re.M) == \
        ["warm-up", "trial 1/2", "trial 2/2"]


def test_table_has_the_everest_shape(quick_run):
    t = quick_run["table"]
    assert schema.validate(t) is not None
    levels = [lv.name for lv in expected_levels()]
    assert t.height == 3 * len(levels) * (3 * 2 + 1)  # trials x levels x (3 bandwidths x 2 modes + latency)
    assert set(t["source"]) == {"workbench-probe"}
    assert set(t["metric"]) == {"mem_read_bw", "mem_write_bw", "mem_copy_bw", "mem_latency"}
    assert set(t["component"]) == set(levels)
    assert sorted(set(t["run"])) == [0, 1, 2]
    assert set(t.filter(pl.col("run") == 0)["stage"]) == {"single-thread warm-up", "all-cores warm-up"}
    assert set(t.filter(pl.col("run") > 0)["stage"]) == {"single-thread", "all-cores"}
    assert set(t.filter(pl.col("metric") == "mem_latency")["stage"]) <= {"single-thread", "single-thread warm-up"}
    # one-shot results, as the EVEREST Cache & Memory reader emits them
    assert set(t["aggregate"]) == {"single"}
    assert t["interval"].null_count() == t["time"].null_count() == t.height
    assert set(t["condition"]) == {"native"} and set(t["experiment"]) == {"probe-test"}
    assert t["source_file"][0].startswith("probe://")
    # the hypervisor as lscpu (util-linux) reports it; scope follows
    vendor = lscpu().get("Hypervisor vendor")
    assert t["hypervisor"].unique().to_list() == [vendor]
    assert set(t["scope"]) == {"guest" if vendor else "host"}
    assert probe.measured(t).height == 2 * len(levels) * 7


def test_numbers_are_measurements(quick_run):
    # Only what holds on any machine under any load: every value is a positive, finite
    # measurement in the canonical unit. Orderings (L1 faster than DRAM) are physics
    # that a busy 2-core machine breaks: they are the probe's sanity guards' business,
    # not an assertion here.
    values = probe.measured(quick_run["table"])["value"].to_numpy()
    assert np.isfinite(values).all() and (values > 0).all()
    lat = probe.measured(quick_run["table"]).filter(pl.col("metric") == "mem_latency")["value"]
    assert lat.max() < 1.0  # seconds: a unit error (ns stored as s) would show here


def test_metadata_records_machine_caches_and_sizes(quick_run):
    meta = quick_run["meta"]
    caches = {c["level"]: c["size"] for c in meta["machine"]["caches"]}
    # util-linux's lscpu reads the same sysfs with its own C code: an independent
    # reader of the per-instance sizes. (glibc's getconf is not: it asks CPUID, which
    # on AMD gives the whole package's L3 where sysfs gives the CCX's slice.)
    assert caches == lscpu_cache_sizes()
    sizes = probe.level_sizes(meta)
    assert list(sizes) == [*caches, "memory"]
    last = meta["machine"]["caches"][-1]
    assert sizes["memory"] >= 4 * last["size"] * last["instances"]  # STREAM's rule
    bounds = [caches[name] for name in caches]
    for i, name in enumerate(caches):  # each set past the level above, inside its own
        assert sizes[name] < bounds[i] and (i == 0 or sizes[name] > bounds[i - 1])
    m = meta["machine"]
    info = lscpu()
    assert m["cpu_model"] == info["Model name"]
    assert m["logical_cpus"] == len(psutil.Process().cpu_affinity())
    assert m["virtualization"]["hypervisor"] == info.get("Hypervisor vendor")
    assert m["virtualization"]["hypervisor_flag"] == ("hypervisor" in info["Flags"].split())
    assert m["os"].startswith("Linux-") and m["clock_hz"] > 1e8
    s = meta["settings"]
    assert (s["trials"], s["warm_up_run"], s["quick"]) == (3, 0, True)
    assert s["modes"] == ["single-thread", "all-cores"]
    assert s["repetitions"]["memory/single-thread/mem_copy_bw"] >= 1
    assert len(s["trial_times"]) == 3 and s["started"] <= s["trial_times"][0][0] < s["trial_times"][2][1]


def test_per_trial_and_summary(quick_run):
    t = quick_run["table"]
    wide = probe.per_trial(t)
    assert wide.columns == ["stage", "level", "metric", "unit", "run 0 (warm-up)", "run 1", "run 2"]
    assert wide.height == 28
    s = probe.summary(t, include_flagged=True)  # the arithmetic, whether or not this machine was busy
    row = s.filter((pl.col("stage") == "single-thread") & (pl.col("component") == "memory")
                   & (pl.col("metric") == "mem_latency")).row(0, named=True)
    runs = probe.measured(t).filter((pl.col("stage") == "single-thread") & (pl.col("component") == "memory")
                                    & (pl.col("metric") == "mem_latency"))["value"]
    assert row["n"] == 2 and row["median"] == pytest.approx(float(np.median(runs.to_numpy())))
    assert math.isnan(row["low"]) and math.isnan(row["high"])  # 2 trials: no 95 % interval exists


def test_summary_interval_is_the_order_statistic_interval():
    # Nine measured trials: scipy's distribution-free 95 % interval of the median
    # is [2nd smallest, 8th smallest] (coverage 96.1 %).
    values = [61.8, 57.9, 67.4, 58.3, 59.0, 60.2, 62.5, 58.8, 64.1]
    rows = [{"run": r, "stage": "single-thread", "metric": "mem_latency", "component": "memory",
             "value": v * 1e-9} for r, v in enumerate([99.0] + values)]
    t = schema.from_rows(rows, experiment="x", condition="c", host="h", scope="host", aggregate="single",
                         source="workbench-probe", source_file="probe://h/t")
    t = t.with_columns(stage=pl.when(pl.col("run") == 0).then(pl.lit("single-thread warm-up"))
                       .otherwise(pl.col("stage")))
    row = probe.summary(t).row(0, named=True)
    ordered = sorted(values)
    assert row["n"] == 9  # the warm-up (99 ns) is left out
    assert row["median"] == pytest.approx(60.2e-9)
    assert (row["low"], row["high"]) == pytest.approx((ordered[1] * 1e-9, ordered[7] * 1e-9))


def test_cache_memory_table_and_figure(quick_run):
    t, meta = quick_run["table"], quick_run["meta"]
    table = probe.cache_memory_table(t, include_flagged=True)
    assert table.columns == ["", "Read (MB/s)", "Write (MB/s)", "Copy (MB/s)", "Latency (ns)", "trials"]
    assert table[""].to_list() == ["Memory", "L1 Cache", "L2 Cache", "L3 Cache"]
    lat = medians(t, "single-thread", "mem_latency")["memory"]
    assert table["Latency (ns)"][0] == f"{lat * 1e9:.1f} [-]"
    bw = medians(t, "all-cores", "mem_copy_bw")["L1"]
    assert table["Copy (MB/s)"][1] == f"{bw / 1e6:.0f} [-]"
    fig, ax = plt.subplots()
    try:
        assert figures.probe_bandwidth_latency(t, probe.level_sizes(meta), ax=ax, caches=probe.cache_sizes(meta),
                                               include_flagged=True) is ax
        assert ax.get_title().startswith("Memory probe: bandwidth and latency")
        assert "(MB/s" in ax.get_ylabel() and "working-set size" in ax.get_xlabel()
        assert len(ax.get_legend().get_texts()) == 7  # 3 bandwidths x 2 modes + latency
        twin = [a for a in fig.axes if a is not ax][0]
        assert "(ns" in twin.get_ylabel()
        assert [t.get_text().strip() for t in ax.texts] == [
            f"{c.level} {probe.format_size(c.size)}" for c in machine.detect_caches(machine.usable_cpus())]
    finally:
        plt.close(fig)


def test_a_user_stage_prefixes_the_thread_mode(quick_run):
    t = quick_run["table"].with_columns(stage=pl.lit("idle: ") + pl.col("stage").cast(pl.String))
    plain = probe.cache_memory_table(quick_run["table"], bandwidth_stage="single-thread",
                                             include_flagged=True)
    assert probe.cache_memory_table(t, bandwidth_stage="single-thread", stage="idle",
                                            include_flagged=True).equals(plain)
    with pytest.raises(WorkbenchError, match="no measured probe rows for stage 'all-cores'"):
        probe.cache_memory_table(t, include_flagged=True)
    assert probe.measured(t).height == probe.measured(quick_run["table"]).height  # warm-up still told apart


def test_every_trial_is_guarded_and_flags_reach_the_table(quick_run):
    t, settings = quick_run["table"], quick_run["meta"]["settings"]
    # one guard record per trial and thread mode, with the thresholds used
    assert [(g["trial"], g["mode"]) for g in settings["interference"]] == [
        (trial, mode) for trial in range(3) for mode in ("single-thread", "all-cores")]
    assert settings["thresholds"] == {"steal": 2.0, "others": 25.0, "run_queue": 0.5, "clock": 90.0}
    # a trial's flag is exactly the reasons its guards and sanity checks gave
    for trial in range(3):
        reasons = [f"{g['mode']}: {r}" for g in settings["interference"] if g["trial"] == trial for r in g["reasons"]]
        flags = set(t.filter(pl.col("run") == trial)["flag"])
        assert len(flags) == 1
        (flag,) = flags
        if reasons:
            assert flag.startswith("; ".join(reasons))
        else:  # only the sanity checks can have flagged it
            assert flag is None or not flag.startswith(("single-thread:", "all-cores:"))


def test_a_guard_that_fires_flags_the_trial_and_summary_leaves_it_out():
    # A run-queue threshold below zero fires on every Linux trial: the flag path, deterministically.
    result = probe.run(trials=2, quick=True, all_cores=False, thresholds=guards.Thresholds(run_queue=-1.0),
                       l1="48K", l2="2M", l3="8M", memory="32M")
    flagged = probe.flagged_trials(result.table)
    assert list(flagged) == [1] and "single-thread: run queue" in flagged[1]
    with pytest.raises(WorkbenchError, match="every measured probe trial was flagged as disturbed"):
        probe.summary(result.table)
    assert probe.summary(result.table, include_flagged=True).height == 4 * 4
    d = probe.disturbance(result.table)
    assert d.all_flagged and d.message.startswith("WARNING: 1 of 1 measured trials were disturbed (flag column):")
    assert "NOT a result" in d.message


def test_a_busy_neighbour_flags_the_probe(capsys, tmp_path):
    # The demonstration as a test: two busy processes beside a quick probe.
    children = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        rc = cli.main(["probe", "--quick", "--single-thread-only", "-q", "--memory-size", "16M",
                       "-o", str(tmp_path / "busy.parquet")])
    finally:
        for child in children:
            child.kill()
            child.wait()
    out = capsys.readouterr().out
    assert rc == 0 and "WARNING: 2 of 2 measured trials were disturbed" in out
    assert "other processes" in out and "no undisturbed trial: no result to show" in out
    table = storage.read_table(tmp_path / "busy.parquet")
    assert probe.measured(table)["flag"].null_count() == 0  # kept, with the reasons


def test_table_of_mixed_conditions_is_refused(quick_run):
    t = quick_run["table"]
    two = pl.concat([t, t.with_columns(condition=pl.lit("other", dtype=pl.Categorical))])
    with pytest.raises(WorkbenchError, match="2 condition/host pairs; filter it to one first"):
        probe.cache_memory_table(two)


def test_notebook_renders_the_probe_file(quick_run, tmp_path):
    entry = report.ReportEntry("probe", ROOT / "notebooks" / "probe.ipynb", "probe",
                               {"table": str(quick_run["out"])})
    result = report.render_notebook(entry, tmp_path)
    assert result.ok, result.error
    html = result.html.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == 1
    text = re.sub(r"<[^>]+>", " ", html)
    levels = expected_levels()
    assert f"{3 * len(levels) * 7} rows, 3 trials, source workbench-probe" in text
    assert f"{levels[-2].name} Cache" in text and "run 0 (warm-up)" in text
    assert "STREAM's rule: 4x the last-level caches" in text
    assert "probe.run(" not in text  # no code cells in the page


# --------------------------------------------------------------------------- planning (caches: test_machine)


def test_plan_follows_the_rules():
    levels = probe.plan(machine.linux_caches(PROBE / "sysfs-kvm"))
    assert [(lv.name, lv.size) for lv in levels] == [
        ("L1", 24 * KIB), ("L2", 192 * KIB), ("L3", 8 * MIB), ("memory", 1200 * MIB)]
    assert [lv.copy_halves for lv in levels] == [True, True, True, False]
    # no L3: the last level is L2, two instances -> 4 x 2 x 2 MiB
    no_l3 = probe.plan(machine.linux_caches(PROBE / "sysfs-kvm-no-l3"))
    assert [(lv.name, lv.size) for lv in no_l3] == [("L1", 24 * KIB), ("L2", 192 * KIB), ("memory", 16 * MIB)]
    # the thesis host, Athlon 64 X2 5200+: 64 KiB L1d and 1 MiB L2 per core; STREAM's floor
    # of 10^6 elements is below 4 x 2 x 1 MiB
    athlon = probe.plan([machine.Cache("L1", 64 * KIB, False, 2), machine.Cache("L2", MIB, False, 2)])
    assert [(lv.name, lv.size) for lv in athlon] == [("L1", 32 * KIB), ("L2", 256 * KIB), ("memory", 8 * MIB)]
    tiny = probe.plan([machine.Cache("L1", 16 * KIB, False, 1)])
    assert tiny[-1].size == 8_000_000 // 64 * 64  # 10^6 elements of 8 bytes, whole lines


LAYOUTS = PROBE / "layouts"


@pytest.mark.parametrize("layout, caches, working_sets", [
    # Intel client: HT siblings share L1/L2 (shared among the probe's CPUs), one L3
    ("intel-client-i7-8550u", [("L1", 32 * KIB, True, 4), ("L2", 256 * KIB, True, 4), ("L3", 8 * MIB, True, 1)],
     [("L1", 16 * KIB), ("L2", 128 * KIB), ("L3", 1 * MIB), ("memory", 32 * MIB)]),
    # AMD EPYC over two CCX: sysfs gives the 16 MiB slice per CCX, two instances -> 4 x 2 x 16 MiB
    ("amd-epyc-7302p-two-ccx", [("L1", 32 * KIB, False, 8), ("L2", 512 * KIB, False, 8), ("L3", 16 * MIB, True, 2)],
     [("L1", 16 * KIB), ("L2", 128 * KIB), ("L3", 2 * MIB), ("memory", 128 * MIB)]),
    # AMD EPYC as a 2-vCPU KVM guest: one 32 MiB slice visible
    ("amd-epyc-7b13-kvm-2vcpu", [("L1", 32 * KIB, False, 2), ("L2", 512 * KIB, False, 2), ("L3", 32 * MIB, True, 1)],
     [("L1", 16 * KIB), ("L2", 128 * KIB), ("L3", 2 * MIB), ("memory", 128 * MIB)]),
    # ARM64 without an L3 in sysfs: the last level is L2 (2 instances of 1 MiB)
    ("arm64-neoverse-n1-no-l3", [("L1", 64 * KIB, False, 2), ("L2", MIB, False, 2)],
     [("L1", 32 * KIB), ("L2", 256 * KIB), ("memory", 8 * MIB)]),
    # a KVM guest that reports a 300 MiB L3: STREAM's rule asks 1.17 GiB
    ("../sysfs-kvm", [("L1", 48 * KIB, False, 2), ("L2", 2 * MIB, False, 2), ("L3", 300 * MIB, True, 1)],
     [("L1", 24 * KIB), ("L2", 192 * KIB), ("L3", 8 * MIB), ("memory", 1200 * MIB)]),
])
def test_plan_on_recorded_sysfs_layouts(layout, caches, working_sets):
    found = machine.linux_caches(LAYOUTS / layout)
    assert [(c.level, c.size, c.shared, c.instances) for c in found] == caches
    levels = probe.plan(found)
    assert [(lv.name, lv.size) for lv in levels] == working_sets
    last = found[-1]
    assert levels[-1].size >= 4 * last.size * last.instances  # STREAM's rule holds on every layout


def test_plan_warns_below_streams_rule():
    caches = machine.linux_caches(PROBE / "sysfs-kvm")
    with pytest.warns(probe.ProbeWarning, match=r"DRAM array of 64 MiB is below STREAM's rule \(1.17 GiB"):
        levels = probe.plan(caches, memory=64 * MIB)
    assert levels[-1].size == 64 * MIB and levels[-1].rule == "given"


def test_chain_is_one_cycle_over_every_line():
    chain = np.zeros(64 * KIB // 8, dtype=np.uint64)
    lines = probe.build_chain(chain, 64, seed=7)
    assert lines == 1024
    assert probe.cycle_length(chain, 10 * lines) == lines
    visited, i = [], 0
    for _ in range(lines):
        visited.append(i)
        i = int(chain[i])
    assert sorted(visited) == list(range(0, chain.size, 8))  # each line once, at its first element
    other = np.zeros_like(chain)
    probe.build_chain(other, 64, seed=8)
    assert not np.array_equal(chain, other)


@pytest.mark.parametrize("text, expected", [
    ("49152", 49152), ("48K", 48 * KIB), ("48KiB", 48 * KIB), ("2M", 2 * MIB), ("1.5G", 3 * 512 * MIB),
    (4096, 4096)])
def test_parse_size(text, expected):
    assert probe.parse_size(text) == expected


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("options, message", [
    ({"trials": 0}, r"`trials` must be an integer of at least 2 \(one warm-up and one measured trial\), found 0"),
    ({"trials": 1}, r"`trials` must be an integer of at least 2 .* found 1"),
    ({"threads": 0}, r"`threads` must be a positive integer, found 0"),
    ({"l1": -1}, r"`l1` must be a positive number of bytes, found -1"),
    ({"l2": "-2M"}, r"`l2` must be a positive number of bytes, found '-2M'"),
    ({"l3": "lots"}, r"`l3`: expected a size such as 48K, 2M or 1G .* found 'lots'"),
    ({"memory": 0}, r"`memory` must be a positive number of bytes, found 0"),
    ({"l1": "48K", "l2": "2M", "l3": "3M"}, r"`l3` \(3 MiB\) must be larger than twice `l2` \(2 MiB\)"),
    ({"labels": {"run": 3}}, r"`run` is the trial number and is set by the probe \(run 0 is the warm-up\)"),
    ({"labels": {"colour": "red"}}, r"unknown label 'colour'; labels are: experiment, condition"),
    ({"target_seconds": 0}, r"`target_seconds` must be positive, found 0"),
    ({"metrics": "mem_latency"}, r"`metrics` must be a non-empty list of metric names \(mem_read_bw, .*\), "
                                 r"found 'mem_latency'"),
    ({"metrics": []}, r"`metrics` must be a non-empty list of metric names"),
    ({"metrics": 5}, r"`metrics` must be a non-empty list of metric names \(mem_read_bw, .*\), found 5"),
    ({"metrics": ["mem_latency", "cpu_util"]}, r"`metrics`: the probe does not measure 'cpu_util'; it measures "
                                               r"mem_read_bw, mem_write_bw, mem_copy_bw, mem_latency"),
])
def test_bad_options_are_refused_before_any_work(options, message):
    with pytest.raises(probe.ProbeError, match=message):
        probe.run(**options)


def test_sizes_beyond_free_memory_are_refused():
    available = psutil.virtual_memory().available
    with pytest.raises(probe.ProbeError, match=r"the probe needs .* GiB \(two arrays of .* for the memory level\) "
                                               r"but only .* is available; give a smaller `memory`"):
        probe.run(memory=available)  # two arrays of it cannot fit
    with pytest.raises(probe.ProbeError, match=r"the probe needs .* GiB \(an array of .* for the memory level\) "
                                               r"but only .* is available"):
        probe.run(memory=available, metrics=["mem_latency"])  # nor one array and the chase's order


def test_latency_alone_walks_the_same_chase_without_bandwidth_arrays():
    levels = probe.plan([machine.Cache("L1", 48 * KIB, False, 2), machine.Cache("L2", 2 * MIB, False, 2),
                         machine.Cache("L3", 8 * MIB, True, 1)])
    assert probe.required_bytes(levels, 2, bandwidth=False) == sum(
        (lv.size if lv.shared else 2 * lv.size) + lv.size // 8 for lv in levels)
    assert probe.required_bytes(levels, 2) - probe.required_bytes(levels, 2, bandwidth=False) == sum(
        lv.size if lv.shared else 2 * lv.size for lv in levels)
    result = probe.run(quick=True, metrics=["mem_latency"], l1="48K", l2="2M", l3="8M", memory="32M", seed=3)
    t = result.table
    assert set(t["metric"]) == {"mem_latency"} and set(t["stage"]) == {probe.SINGLE, f"{probe.SINGLE} {probe.WARM_UP}"}
    assert t.height == 3 * 4  # 3 quick trials x L1, L2, L3, memory
    assert result.settings["metrics"] == ["mem_latency"] and result.settings["modes"] == [probe.SINGLE]
    assert set(result.settings["repetitions"]) == {f"{lv}/single-thread/mem_latency" for lv in ("L1", "L2", "L3", "memory")}
    assert (t["value"] > 0).all() and t["value"].is_finite().all()


@pytest.mark.parametrize("args, message", [
    (["--trials", "0"], "workbench probe: error: `trials` must be an integer of at least 2"),
    (["--l2", "-5"], "workbench probe: error: `l2` must be a positive number of bytes, found '-5'"),
    (["--memory-size", "100T"], "workbench probe: error: the probe needs"),
    (["--label", "run=2"], "workbench probe: error: `run` is the trial number"),
])
def test_cli_errors_are_one_line_and_write_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "p.parquet"
    assert cli.main(["probe", "-o", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_read_metadata_errors(tmp_path, quick_run):
    with pytest.raises(WorkbenchError, match=r"missing\.parquet: no such file"):
        probe.read_metadata(tmp_path / "missing.parquet")
    with pytest.raises(WorkbenchError, match=r"not-parquet\.txt:1: expected a Parquet measurement table"):
        probe.read_metadata(PROBE / "not-parquet.txt")
    plain = storage.write_table(quick_run["table"], tmp_path / "plain.parquet")
    with pytest.raises(WorkbenchError, match=r"plain\.parquet: not written by `workbench probe` "
                                             r"\(its metadata names no producer 'workbench-probe'\)"):
        probe.read_metadata(plain)


def test_write_is_atomic_and_keeps_the_metadata(tmp_path, quick_run):
    meta = quick_run["meta"]
    result = probe.ProbeResult(quick_run["table"], machine.Machine.from_dict(meta["machine"]),
                               tuple(probe.Level(**lv) for lv in meta["levels"]), meta["settings"])
    out = probe.write(result, tmp_path / "sub" / "again.parquet")
    assert [p.name for p in out.parent.iterdir()] == ["again.parquet"]  # no temporary left
    assert json.loads(json.dumps(probe.read_metadata(out))) == meta
    bad = result.table.with_columns(unit=pl.lit("MB/s", dtype=pl.Categorical))
    with pytest.raises(WorkbenchError, match="column 'unit'"):
        probe.write(probe.ProbeResult(bad, result.machine, result.levels, result.settings),
                    tmp_path / "sub" / "bad.parquet")
    assert [p.name for p in out.parent.iterdir()] == ["again.parquet"]


# --------------------------------------------------------------------------- repeat until precise


def test_worst_precision_is_the_widest_interval_of_a_median():
    values = [61.8, 57.9, 67.4, 58.3, 59.0, 60.2, 62.5, 58.8, 64.1]
    rows = [{"run": r, "stage": "single-thread", "metric": "mem_latency", "component": "memory",
             "value": v * 1e-9} for r, v in enumerate([99.0] + values)]
    t = schema.from_rows(rows, experiment="x", condition="c", host="h", scope="host", aggregate="single",
                         source="workbench-probe", source_file="probe://h/t")
    ordered = sorted(values)
    assert probe.worst_precision(t) == pytest.approx((ordered[7] - ordered[1]) / 2 / 60.2)
    assert math.isnan(probe.worst_precision(t.filter(pl.col("run") <= 5)))  # 5 trials: no 95 % interval yet


def test_budget_and_precision_stop_the_trials():
    common = dict(quick=True, all_cores=False, l1="48K", l2="2M", l3="8M", memory="32M")
    short = probe.run(trials=20, budget=0.001, **common)
    assert short.settings["trials"] == 2 and short.settings["stopped"] == "budget of 0.001 s ran out after 2 trials"
    assert sorted(set(short.table["run"])) == [0, 1]
    # +-99.9 %: reached as soon as 6 undisturbed trials exist; on a busy machine the 8 trials run out
    loose = probe.run(trials=8, precision=0.999, **common)
    s = loose.settings
    if s["stopped"].startswith("precision"):
        assert s["stopped"] == f"precision of 99.9% reached after {s['trials']} trials"
        assert s["worst_precision"] <= 0.999
        # an interval of the median needs 6 undisturbed measured trials
        assert s["trials"] - 1 - len(probe.flagged_trials(loose.table)) >= 6
    else:
        assert s["stopped"] == "8 trials done" and s["trials"] == 8


@pytest.mark.parametrize("options, message", [
    ({"precision": 0}, r"`precision` must be a fraction between 0 and 1 \(0.02 = 2 %\), found 0"),
    ({"precision": 2}, r"`precision` must be a fraction between 0 and 1"),
    ({"budget": -5}, r"`budget` must be a positive number of seconds, found -5"),
])
def test_bad_precision_and_budget(options, message):
    with pytest.raises(probe.ProbeError, match=message):
        probe.run(**options)


@pytest.mark.parametrize("args, message", [
    (["--precision", "2x"], "argument --precision: expected a percentage such as 2%, found '2x'"),
    (["--budget", "soon"], "argument --budget: expected seconds such as 60s or 2m, found 'soon'"),
])
def test_cli_precision_and_budget_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(["probe", "-o", str(tmp_path / "p.parquet"), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err


# --------------------------------------------------------------------------- page sizes


SMAPS_ENTRY = """{lo:x}-{hi:x} rw-p 00000000 00:00 0
Size:              {size} kB
Rss:               {rss} kB
AnonHugePages:     {huge} kB
VmFlags: rd wr mr mw me ac hg
"""


def test_huge_page_share_reads_the_mapping_that_holds_the_array(tmp_path):
    a = np.zeros(1024, dtype=np.uint64)
    start = a.__array_interface__["data"][0]
    smaps = tmp_path / "smaps"
    smaps.write_text(SMAPS_ENTRY.format(lo=0x1000, hi=0x2000, size=4, rss=4, huge=0)  # elsewhere
                     + SMAPS_ENTRY.format(lo=start - 4096, hi=start + 3 * 2 ** 20, size=3076, rss=3072, huge=2048))
    assert probe.huge_page_share(a, smaps) == pytest.approx(2048 / 3072)
    smaps.write_text(SMAPS_ENTRY.format(lo=0x1000, hi=0x2000, size=4, rss=4, huge=0))
    assert probe.huge_page_share(a, smaps) is None  # no mapping holds it: unknown, not 0
    assert probe.huge_page_share(a, tmp_path / "missing") is None


def test_the_probe_records_the_page_size_behind_each_working_set(quick_run):
    shares = quick_run["meta"]["settings"]["huge_page_share"]
    assert list(shares) == [lv.name for lv in expected_levels()]
    assert all(v is None or 0.0 <= v <= 1.0 for v in shares.values())


def test_headline_states_dram_latency_or_that_every_trial_was_disturbed(quick_run):
    t = quick_run["table"]
    d = probe.disturbance(t)
    s = probe.summary(t, include_flagged=d.all_flagged)
    lat = s.filter((pl.col("component") == "memory") & (pl.col("metric") == "mem_latency")
                   & pl.col("stage").cast(pl.String).str.ends_with(probe.SINGLE))["median"][0]
    line = probe.headline(t, d)
    assert f"DRAM latency {lat * 1e9:.1f} ns" in line
    if d.all_flagged:
        assert line.startswith(f"DISTURBED: all {d.measured} trials flagged")
    else:
        assert line.endswith(f"(median of {d.measured - len(d.flagged)} undisturbed trial(s))")
    # a table whose every trial is flagged is never presented as a result
    flagged = t.with_columns(flag=pl.when(pl.col("run") > 0).then(pl.lit("test: disturbed")).otherwise(pl.col("flag")))
    assert probe.headline(flagged).startswith("DISTURBED: all ")


def test_a_calibrating_call_at_the_chosen_count_is_the_warm_up_value():
    from workbench.probe._run import _calibrate

    # A pass longer than the target (a DRAM array in a quick run) runs once: that call is the warm-up's value.
    assert _calibrate(lambda reps: 0.05 * reps, 0.01) == (1, 0.05)
    # Otherwise the chosen count differs from every count tried, and the warm-up measures it.
    assert _calibrate(lambda reps: 0.003 * reps, 0.01) == (4, None)
    assert _calibrate(lambda reps: 1e-6 * reps, 0.01) == (10000, None)
