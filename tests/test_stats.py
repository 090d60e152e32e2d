"""Statistics engine: values checked against scipy/statsmodels directly, properties,
the refusal rules, and the real Felter et al. STREAM comparison."""
import io
import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sst
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestIndPower

from workbench import cli, experiment, schema, stats, storage
from workbench.errors import WorkbenchError

from .conftest import DATA

# Fixed data: memory copy bandwidth (MB/s) of 10 runs per condition.
NATIVE = [7284.0, 7301.5, 7290.2, 7312.8, 7279.9, 7305.0, 7298.3, 7288.7, 7310.1, 7295.4]
GUEST = [7101.2, 7150.8, 7122.5, 7098.0, 7133.3, 7140.1, 7119.9, 7105.6, 7128.8, 7136.2]


def table(groups: dict[str, list[float]], metric="mem_copy_bw", factor=1e6, **extra) -> pl.DataFrame:
    rows = [dict(experiment="t", condition=c, host="h", scope="host", run=i, aggregate="single", metric=metric,
                 component="memory", value=v * factor, source="test", source_file="fixed", **extra)
            for c, values in groups.items() for i, v in enumerate(values, 1)]
    return schema.validate(schema.from_rows(rows))


@pytest.fixture(scope="module")
def fixed():
    return stats.compare(table({"native": NATIVE, "guest": GUEST}), "mem_copy_bw", baseline="native")


def test_test_and_effect_sizes_equal_scipy(fixed):
    x, y = np.array(NATIVE) * 1e6, np.array(GUEST) * 1e6
    w = sst.ttest_ind(y, x, equal_var=False)  # Welch's statistic, with Hsu's min(n) - 1 = 9 df
    assert fixed.test.label == "Welch's t with Hsu's df (two-sided)"
    assert fixed.test.name == "welch_hsu" == stats.DEFAULT_TEST
    assert fixed.test.statistic == pytest.approx(w.statistic)
    assert fixed.test.pvalue == pytest.approx(2 * sst.t.sf(abs(w.statistic), 9))
    assert fixed.test.pvalue_holm == fixed.test.pvalue  # one comparison: Holm changes nothing
    assert fixed.effect_size("cliffs_delta") == -1.0
    pooled = math.sqrt((np.var(x, ddof=1) * 9 + np.var(y, ddof=1) * 9) / 18)
    assert fixed.effect_size("hedges_g") == pytest.approx((y.mean() - x.mean()) / pooled * (1 - 3 / (4 * 20 - 9)))
    assert fixed.ratio.value == pytest.approx(np.mean(GUEST) / np.mean(NATIVE))


def test_intervals_are_fieller_and_welch(fixed):
    x, y = np.array(NATIVE) * 1e6, np.array(GUEST) * 1e6
    # Welch's interval of the difference, as scipy computes it
    ref = sst.ttest_ind(y, x, equal_var=False).confidence_interval(0.95)
    assert (fixed.difference.low, fixed.difference.high) == pytest.approx((ref.low, ref.high), rel=1e-9)
    # Fieller's interval: its ends solve (ybar - R xbar)^2 = t^2 (vy + R^2 vx), t at Welch's df
    vx, vy = x.var(ddof=1) / 10, y.var(ddof=1) / 10
    r = y.mean() / x.mean()
    df = (vy + r * r * vx) ** 2 / ((vy ** 2 + (r * r * vx) ** 2) / 9)
    t = sst.t.ppf(0.975, df)
    for end in (fixed.ratio.low, fixed.ratio.high):
        assert (y.mean() - end * x.mean()) ** 2 == pytest.approx(t * t * (vy + end * end * vx), rel=1e-9)
    assert fixed.ratio.low < fixed.ratio.value < fixed.ratio.high
    assert fixed.ratio.method == "Fieller's interval for the ratio of means (Welch df)"
    assert fixed.difference.method == "Welch's t interval for the difference of means"
    assert fixed.to_frame()["estimand"][0] == "ratio of means"
    wider = fixed.confidence_interval(confidence_level=0.99)
    assert wider.low < fixed.ratio.low and wider.high > fixed.ratio.high
    assert tuple(fixed.confidence_interval(0.95)) == fixed.ratio.interval  # recomputed alike


def test_verdict_in_words(fixed):
    assert fixed.significant
    assert fixed.verdict == ("guest is 2.37 % slower than native: change of the mean -2.37 % [-2.56 %, -2.18 %] "
                             "(95 % CI; Welch's t with Hsu's df (two-sided), p = 7.8e-10, Hedges' g -11.29, 10 vs 10 runs)")


def test_summary_interval_is_students_t():
    s = stats.summarize(table({"native": NATIVE}))
    row = s.row(0, named=True)
    half = sst.t.ppf(0.975, 9) * np.std(NATIVE, ddof=1) / math.sqrt(10)
    assert (row["low"], row["high"]) == pytest.approx((np.mean(NATIVE) - half, np.mean(NATIVE) + half))
    assert (row["runs"], row["display_unit"], row["interval_method"]) == (10, "MB/s", "t interval of the mean across runs")
    assert row["interval"] is None  # the grouping column (resolution) is kept apart from the method


def test_runs_needed_rule():
    # Welch's t and the t intervals: calibrated from 4 runs (tests/test_calibration.py), whatever m
    assert stats.runs_needed(0.05, 1) == stats.runs_needed(0.05, 16) == 4
    assert stats.runs_needed(0.05, 1, "mannwhitneyu") == 4  # 2/C(6,3) = 0.1, 2/C(8,4) = 0.029
    assert stats.runs_needed(0.05, 16, "mannwhitneyu") == 6  # 2/C(10,5) = 0.0079 > 0.0031 >= 2/C(12,6) = 0.0022
    assert stats.runs_needed(0.05, 1, "brunnermunzel") == 9  # liberal below 9 runs
    for n in (3, 4, 5):  # the rule matches the smallest exact p-value scipy gives
        p = sst.mannwhitneyu(np.arange(n), np.arange(n) + 100, method="exact").pvalue
        assert p == pytest.approx(2 / math.comb(2 * n, n))


def test_n_equal_1_is_insufficient_data_without_p_value():
    c = stats.compare(table({"native": [7284.0], "guest": [7360.0]}), "mem_copy_bw", baseline="native")
    assert c.status is stats.Status.INSUFFICIENT_DATA
    assert c.test is None and c.effect_sizes == () and c.ratio.low is None
    assert c.verdict.startswith("insufficient data: 1 run(s) of guest and 1 of native; at least 4 per condition")
    assert "Descriptive only: guest is 1.0 % faster than native (means 7360 vs 7284 MB/s)" in c.verdict


def test_three_runs_are_still_insufficient():
    c = stats.compare(table({"native": NATIVE[:3], "guest": GUEST[:3]}), "mem_copy_bw", baseline="native")
    assert c.status is stats.Status.INSUFFICIENT_DATA and c.test is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(1000, 9000), min_size=4, max_size=12), st.lists(st.floats(1000, 9000), min_size=4, max_size=12))
def test_swapping_groups_inverts_the_ratio(a, b):
    t = table({"A": a, "B": b})
    ab = stats.compare(t, "mem_copy_bw", baseline="A")
    ba = stats.compare(t, "mem_copy_bw", baseline="B")
    assert ab.ratio.value * ba.ratio.value == pytest.approx(1.0)
    assert ab.test.pvalue == pytest.approx(ba.test.pvalue)
    assert ab.effect_size("cliffs_delta") == pytest.approx(-ba.effect_size("cliffs_delta"))


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(1000, 9000), min_size=4, max_size=12))
def test_identical_groups_give_no_difference(a):
    c = stats.compare(table({"A": a, "B": a}), "mem_copy_bw", baseline="A")
    assert c.ratio.value == pytest.approx(1.0)
    assert c.effect_size("cliffs_delta") == pytest.approx(0.0)
    assert not c.significant
    assert c.verdict.startswith("no detectable difference between B and A")


def test_best_aggregate_and_time_series_are_summarized_within_runs():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = [dict(experiment="t", condition="c", host="h", scope="host", run=1, aggregate="mean", metric="cpu_util",
                 component="total", value=v, source="s", source_file="f", time=t0 + timedelta(seconds=i), interval=1.0)
            for i, v in enumerate([10.0, 20.0, 30.0])]
    rows += [dict(experiment="t", condition="c", host="h", scope="host", run=1, aggregate="best", metric=m,
                  component="memory", value=v, source="s", source_file="f")
             for m, v in [("mem_read_bw", 5.0), ("mem_read_bw", 7.0), ("mem_latency", 5.0), ("mem_latency", 7.0)]]
    rv = stats.run_values(schema.validate(schema.from_rows(rows)))
    got = {r["metric"]: (r["value"], r["samples"], r["series"]) for r in rv.iter_rows(named=True)}
    assert got == {"cpu_util": (20.0, 3, True), "mem_read_bw": (7.0, 2, False), "mem_latency": (5.0, 2, False)}


def series_table(seed=1, n=400):
    rng = np.random.default_rng(seed)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = []
    for cond, level in (("native", 20.0), ("guest", 26.0)):
        e = 0.0
        for i in range(n):
            e = 0.8 * e + rng.normal(0, 2)  # AR(1): autocorrelated samples
            rows.append(dict(experiment="t", condition=cond, host="h", scope="guest" if cond == "guest" else "host",
                             guest="vm1" if cond == "guest" else None, run=1, aggregate="mean", metric="cpu_util",
                             component="total", value=level + e, source="s", source_file="f",
                             time=t0 + timedelta(seconds=i), interval=1.0))
        if cond == "guest":
            rows += [dict(r, metric="cpu_steal", value=3.0) for r in rows[-n:]]
    return schema.validate(schema.from_rows(rows))


def test_single_run_time_series_within_run_interval_labelled_and_steal_reported():
    c = stats.compare(series_table(), "cpu_util", baseline="native")
    assert c.status is stats.Status.WITHIN_RUN_ONLY
    assert c.test is None
    assert 1.2 < c.ratio.low < c.ratio.value < c.ratio.high < 1.45
    assert c.treatment.ess < 400 / 3  # AR(0.8) leaves about n (1 - 0.8) / (1 + 0.8) = 44 effective samples
    assert "effective sample size" in c.treatment.interval_method
    assert "within one run each" in c.ratio.method
    assert c.verdict.startswith("within one run each, not replicated: guest uses 32.7 % more than native")
    assert "steal: guest 3.0 %" in c.verdict


def test_effective_sample_size_of_white_noise_is_about_n():
    x = np.random.default_rng(3).normal(size=2000)
    assert 1500 < stats.effective_sample_size(x) <= 2000
    assert stats.block_length(x) <= 3


def test_plan_against_statsmodels():
    p = stats.plan(NATIVE, change=0.001, power=0.8, test="welch")  # Satterthwaite: the pooled t's power
    d = 0.001 * np.mean(NATIVE) / np.std(NATIVE, ddof=1)
    n = p.t_test_runs
    power = TTestIndPower().power
    assert power(effect_size=d, nobs1=n, alpha=0.05, ratio=1) >= 0.8 > power(effect_size=d, nobs1=n - 1, alpha=0.05, ratio=1)
    assert n == math.ceil(TTestIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8))
    assert p.runs_per_condition == max(n, 4)
    assert "runs per condition to detect a 0.1% change" in p.describe()
    with pytest.raises(WorkbenchError, match="a pilot needs at least 2 runs"):
        stats.plan([7284.0])


@pytest.mark.parametrize("kwargs, message", [
    (dict(baseline="vmware"), "baseline 'vmware' has no rows"),
    (dict(baseline="native", test="t"), "`test` must be one of mannwhitneyu, brunnermunzel, welch, welch_hsu"),
    (dict(baseline="native", confidence_level=95), "`confidence_level` must be in"),
    (dict(baseline="native", by=("component",)), "`by` must include 'metric'"),
    (dict(baseline="native", by=("metric", "colour")), "unknown column"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(WorkbenchError, match=message):
        stats.compare_all(table({"native": NATIVE, "guest": GUEST}), **kwargs)


def test_mixed_scopes_with_explicit_by_are_refused():
    t = series_table().with_columns(scope=pl.when(pl.col("time").dt.second() == 0).then(pl.lit("host"))
                                    .otherwise(pl.col("scope")))
    with pytest.raises(WorkbenchError, match="mixes several scopes or guests"):
        stats.compare_all(t, baseline="native", by=stats.DEFAULT_BY)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def felter():
    t = experiment.load(DATA / "experiments" / "felter2014.toml").table()
    return t, stats.compare_all(t, baseline="native")


def test_felter_holm_equals_statsmodels(felter):
    _, res = felter
    raw = [c.test.pvalue for c in res]
    assert len(raw) == 16
    assert [c.test.pvalue_holm for c in res] == pytest.approx(list(multipletests(raw, method="holm")[1]))


def test_felter_kvm_slower_docker_not(felter):
    _, res = felter
    by = {(c.treatment.condition, dict(c.cell)["metric"], dict(c.cell)["stage"]): c for c in res}
    kvm = by[("kvm", "stream_copy_bw", "32 threads")]
    assert kvm.significant and kvm.ratio.value == pytest.approx(0.971, abs=0.001)
    assert kvm.verdict.startswith("kvm is 2.95 % slower than native: change of the mean -2.95 % [-3.35 %, -2.55 %] "
                                  "(95 % CI, unadjusted; Welch's t with Hsu's df (two-sided), Holm-adjusted p = 5.9e-07")
    assert all(c.significant for (cond, _, _), c in by.items() if cond == "kvm")
    docker = [c for (cond, _, _), c in by.items() if cond == "docker"]
    assert sum(c.significant for c in docker) == 0
    assert all("the data could have detected a change of about" in c.verdict for c in docker)
    # every Docker estimate lies in its interval, and every KVM verdict says 1.1-3.0 % slower
    assert all(c.ratio.low <= c.ratio.value <= c.ratio.high for c in docker)
    assert all(0.969 < c.ratio.value < 0.99 for (cond, _, _), c in by.items() if cond == "kvm")


def test_thesis_is_insufficient_data_everywhere(thesis_table):
    res = stats.compare_all(thesis_table, baseline="virtualized")
    status = {c.metric: c.status for c in res}
    assert status == {"mem_used": stats.Status.INSUFFICIENT_DATA, "cpu_util": stats.Status.INSUFFICIENT_DATA,
                      "mem_util": stats.Status.BOUNDS_ONLY}
    assert all(c.test is None for c in res)
    cpu = [c for c in res if c.metric == "cpu_util"][0]
    assert "paravirtualized uses 37.5 % less than virtualized (means 25 vs 40 %)" in cpu.verdict
    md = res.to_markdown()
    assert md.count("- **") == 5 and "insufficient data" in md and "**Not compared** (2)" in md


def test_thesis_bounds_are_not_averaged_and_compared_as_bounds(thesis_table):
    """§5.4: virtualized memory "exceeded 50 %" (fig. 51 % printed in fig. 67), paravirtualized "had
    not reached 40 %": the bound is kept beside the measured 51 %, not averaged into 50.5 %, and the
    comparison says only what the bounds allow."""
    res = stats.compare_all(thesis_table, baseline="virtualized", metrics=["mem_util"])
    (c,) = res
    assert c.baseline.runs == 1 and c.baseline.mean == 51.0 and c.baseline.bound_lower == 50.0
    assert c.treatment.runs == 0 and c.treatment.bound_upper == 40.0 and math.isnan(c.treatment.mean)
    assert (c.difference.low, c.difference.high) == (-51.0, -11.0)  # [0, 40) - 51
    assert c.verdict == ("paravirtualized uses at least 11 points less than virtualized, as far as the bounds allow "
                         "(paravirtualized < 40 %; virtualized 51 % (1 run); a bound is not a measurement: no "
                         "interval, no test); also known only as a bound, not averaged with the measurements: "
                         "virtualized > 50 %")
    row = c.to_frame().row(0, named=True)
    assert row["status"] == "bounds only" and row["estimand"] == "difference allowed by the bounds"
    summary = res.summaries.filter(pl.col("stage") == "both guests running").sort("condition")
    assert summary.select("condition", "runs", "mean", "lower_bound", "upper_bound").rows() == [
        ("paravirtualized", 0, None, None, 40.0), ("virtualized", 1, 51.0, 50.0, None)]


def bounded(rows: list[tuple[str, float, str | None]], metric="mem_util") -> pl.DataFrame:
    """A minimal table: (condition, value, bound) per run."""
    return schema.validate(schema.from_rows(
        [dict(experiment="t", condition=c, host="h", scope="host", run=i, aggregate="single", metric=metric,
              component="total", value=v, source="test", source_file="f", bound=b)
         for i, (c, v, b) in enumerate(rows, 1)]))


@pytest.mark.parametrize("rows, expected", [
    # both bounds: treat > 60 vs base < 50: at least 10 points more
    ([("base", 50.0, "upper"), ("treat", 60.0, "lower")], "treat uses at least 10 points more than base"),
    # overlapping bounds: nothing can be said
    ([("base", 50.0, "lower"), ("treat", 60.0, "upper")], "cannot tell how treat compares with base"),
    # a lower bound under a measured value: cannot tell (the bound allows more or less)
    ([("base", 55.0, None), ("treat", 50.0, "lower")], "cannot tell how treat compares with base"),
])
def test_bounds_say_only_what_they_allow(rows, expected):
    (c,) = stats.compare_all(bounded(rows), baseline="base")
    assert c.status is stats.Status.BOUNDS_ONLY and c.verdict.startswith(expected)
    assert c.test is None and math.isnan(c.ratio.value)


def test_bounds_are_never_averaged_with_measurements():
    t = bounded([("base", 10.0, None), ("base", 12.0, None), ("treat", 20.0, None), ("treat", 90.0, "lower")])
    runs = stats.run_values(t)
    assert sorted(runs["value"].to_list()) == [10.0, 12.0, 20.0]
    (c,) = stats.compare_all(t, baseline="base")
    assert c.treatment.mean == 20.0 and c.treatment.bound_lower == 90.0
    assert c.verdict.endswith("also known only as a bound, not averaged with the measurements: treat > 90 %")


def test_a_bad_bound_is_refused_by_the_schema():
    t = schema.from_rows([dict(experiment="t", condition="c", host="h", scope="host", run=1, aggregate="single",
                               metric="mem_util", component="total", value=1.0, source="s", source_file="f",
                               bound="about")])
    with pytest.raises(schema.SchemaError, match="column 'bound': expected one of lower, upper, found 'about'"):
        schema.validate(t)
    with pytest.raises(schema.SchemaError, match="a bound on NaN"):
        schema.validate(t.with_columns(bound=pl.lit("lower", dtype=pl.Categorical), value=pl.lit(float("nan"))))


def test_capacity_is_listed_not_compared(thesis_table):
    """The thesis report used to judge the one machine's RAM (3070 vs 3072 MiB) against itself."""
    res = stats.compare_all(thesis_table, baseline="virtualized", metrics=["mem_total"])
    assert len(res) == 0
    (row,) = res.not_compared.iter_rows(named=True)
    assert row["condition"] == "paravirtualized" and row["reason"].startswith("mem_total is a capacity")
    frame = res.to_frame()
    assert frame["status"].to_list() == ["not compared"] and frame["baseline"].to_list() == ["virtualized"]


def test_mixed_scopes_keep_the_other_conditions_verdicts():
    """A XenServer input whose condition mixes host, guest and control domain must not make the
    KVM-vs-native verdicts of another input disappear (they did: every cell key gained scope and
    guest, and a KVM guest no longer matched the native host)."""
    rows = []
    def add(cond, scope, guest, values):
        rows.extend(dict(experiment="t", condition=cond, host="h", scope=scope, guest=guest, run=i,
                         aggregate="single", metric="mem_copy_bw", component="memory", value=v * 1e6,
                         source="test", source_file=cond) for i, v in enumerate(values, 1))
    add("native", "host", None, NATIVE)
    add("kvm", "guest", "vm1", GUEST)
    add("xen", "host", None, NATIVE)                              # the Xen host
    add("xen", "control-domain", "dom0", GUEST)                   # dom0
    add("xen", "guest", "domU", GUEST)                            # a guest
    res = stats.compare_all(schema.validate(schema.from_rows(rows)), baseline="native")
    got = {(c.treatment.condition, dict(c.cell)["scope"]): c for c in res}
    assert set(got) == {("kvm", None), ("xen", "host")}
    assert got[("kvm", None)].significant and got[("kvm", None)].ratio.value == pytest.approx(
        np.mean(GUEST) / np.mean(NATIVE))
    assert not got[("xen", "host")].significant
    missing = res.not_compared.sort("scope")
    assert missing.select("condition", "scope", "guest").rows() == [
        ("xen", "control-domain", "dom0"), ("xen", "guest", "domU")]
    assert all("baseline 'native' has no scope=" in r for r in missing["reason"])
    assert sum(line.count(": not compared: ") for line in res.verdicts()) == 2


def test_two_hosts_in_one_run_are_never_averaged():
    """Two AIDA64 reports from two laptops in one condition and run: mem_free 8861 and 11121 MiB
    were averaged into 9991. Now each host is its own cell, compared like with like."""
    mib = 1024 * 1024
    rows = [dict(experiment="t", condition=c, host=h, scope="host", run=1, aggregate="last", metric="mem_free",
                 component="total", value=v * mib, source="everest", source_file=f"{h}-{c}.htm")
            for c, h, v in [("native", "laptop-a", 9000.0), ("native", "laptop-b", 11000.0),
                            ("vm", "laptop-a", 8861.0), ("vm", "laptop-b", 11121.0)]]
    res = stats.compare_all(schema.validate(schema.from_rows(rows)), baseline="native")
    got = {dict(c.cell)["host"]: c for c in res}
    assert {h: c.treatment.mean / mib for h, c in got.items()} == {"laptop-a": 8861.0, "laptop-b": 11121.0}
    assert all(c.treatment.runs == 1 for c in got.values())
    with pytest.raises(WorkbenchError, match=r"holds rows of several hosts \(laptop-a, laptop-b\)"):
        stats.compare_all(schema.validate(schema.from_rows(rows)), baseline="native", by=stats.DEFAULT_BY)


def test_hosts_across_runs_are_replicates_not_split():
    rows = [dict(experiment="t", condition=c, host=f"h{i % 2}", scope="host", run=i, aggregate="single",
                 metric="mem_copy_bw", component="memory", value=v * 1e6, source="test", source_file="f")
            for c, values in {"native": NATIVE, "guest": GUEST}.items() for i, v in enumerate(values, 1)]
    (c,) = stats.compare_all(schema.validate(schema.from_rows(rows)), baseline="native")
    assert c.treatment.runs == 10 and "host" not in dict(c.cell)


def test_a_cell_without_baseline_is_listed():
    rows = [dict(experiment="t", condition=c, host="h", scope="host", run=i, aggregate="single", metric=m,
                 component="memory", value=1e9 + i, source="test", source_file="f")
            for c, m in [("native", "mem_copy_bw"), ("guest", "mem_copy_bw"), ("guest", "mem_read_bw")]
            for i in range(1, 5)]
    res = stats.compare_all(schema.validate(schema.from_rows(rows)), baseline="native")
    assert len(res) == 1
    assert res.not_compared.select("metric", "condition", "reason").rows() == [
        ("mem_read_bw", "guest", "no rows of baseline 'native' in this cell")]


def test_verdicts_below_the_aa_noise_floor_are_labelled():
    """`workbench run` repeats the baseline as <baseline>-aa: a change smaller than that
    A/A interval's widest end is labelled as not resolved by the setup."""
    rng = np.random.default_rng(3)
    base = 1000 + rng.normal(0, 10, 8)
    groups = {"native": base, "native-aa": 1000 + rng.normal(0, 10, 8), "tiny": base * 1.002,
              "big": base * 1.10}
    res = stats.compare_all(table({k: list(v) for k, v in groups.items()}), baseline="native")
    by = {c.treatment.condition: c for c in res}
    floor = by["native-aa"]
    expect = max(abs(floor.ratio.low - 1), abs(floor.ratio.high - 1))
    assert by["tiny"].noise_floor == pytest.approx(expect) and by["big"].noise_floor == pytest.approx(expect)
    assert by["tiny"].below_noise_floor and by["tiny"].verdict.startswith("below the A/A noise floor (+-")
    assert not by["big"].below_noise_floor and by["big"].verdict.startswith("big is 10.0 % faster")
    assert floor.noise_floor is None
    assert by["tiny"].to_frame()["noise_floor"][0] == pytest.approx(expect)


def test_markdown_escapes_labels():
    t = table({"native": NATIVE, "<b>x</b>": GUEST})
    md = stats.compare_all(t, baseline="native").to_markdown()
    assert "<b>" not in md and "\\<b\\>x\\</b\\>" in md  # escaped for Markdown (workbench.markup.md)


def test_cli_compare_formats(capsys):
    manifest = str(DATA / "experiments" / "felter2014.toml")
    assert cli.main(["compare", manifest, "--metric", "stream_copy_bw"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "kvm vs native"
    assert out[2].split() == ["STREAM", "Copy,", "memory,", "32", "threads", "MB/s", "41300", "+-", "47", "40100",
                              "+-", "160", "-2.95", "%", "[-3.35,", "-2.55]", "%", "1.6e-07", "10+10"]  # Holm over 4
    assert "geomean: -2.02 % over 2 cells (higher is better)" in out  # -2.95 and -1.09 %
    assert cli.main(["compare", manifest, "--metric", "stream_copy_bw", "--format", "text-verbose"]) == 0
    out = capsys.readouterr().out
    assert "- stream_copy_bw, memory, 32 threads: kvm is 2.95 % slower than native: change of the mean -2.95 %" in out
    assert cli.main(["compare", manifest, "--metric", "stream_copy_bw", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 4 and {r["condition"] for r in rows} == {"kvm", "docker"}
    assert cli.main(["compare", manifest, "--format", "csv"]) == 0
    assert capsys.readouterr().out.count("\n") == 17


def test_cli_compare_parquet_needs_baseline(tmp_path, capsys, thesis_table):
    out = storage.write_table(thesis_table, tmp_path / "t.parquet")
    assert cli.main(["compare", str(out)]) == 2
    assert "no baseline: give --baseline NAME" in capsys.readouterr().err


def test_compare_needs_one_cell(felter):
    t, _ = felter
    with pytest.raises(WorkbenchError, match="`compare` needs exactly one cell and condition, found 4"):
        stats.compare(t, "stream_copy_bw", baseline="native")
    c = stats.compare(t, "stream_copy_bw", baseline="native", condition="docker", stage="16 threads")
    assert c.treatment.condition == "docker" and c.treatment.runs == 10


def test_plan_per_comparison(felter, thesis_table):
    _, res = felter
    p = res.plan(change=0.01)
    assert p.height == 16 and p["runs_needed"].min() >= stats.runs_needed(0.05, 16)
    thesis = stats.compare_all(thesis_table, baseline="virtualized").plan()
    assert thesis["runs_needed"].to_list() == [None] * 3
    assert thesis["note"][0] == "pilot of 1 run(s): at least 2 are needed to estimate the spread"



@pytest.mark.parametrize("test, name", [("brunnermunzel", "Brunner-Munzel"), ("welch", "Welch's t")])
def test_named_alternatives_equal_scipy(test, name):
    a, b = NATIVE[:7] + [7400.0, 7150.0], GUEST[:7] + [7300.0, 7350.0]  # overlapping groups, 9 runs
    c = stats.compare(table({"native": a, "guest": b}), "mem_copy_bw", baseline="native", test=test)
    x, y = np.array(a) * 1e6, np.array(b) * 1e6
    ref = sst.brunnermunzel(y, x) if test == "brunnermunzel" else sst.ttest_ind(y, x, equal_var=False)
    assert c.test.label == f"{name} (two-sided)" and c.test.pvalue == pytest.approx(ref.pvalue)


def test_undefined_test_is_never_read_as_no_difference():
    """Brunner-Munzel is NaN when the groups do not overlap: Mann-Whitney U decides, named."""
    doubled = [2 * v for v in NATIVE[:9]]
    c = stats.compare(table({"native": NATIVE[:9], "guest": doubled}), "mem_copy_bw", baseline="native",
                      test="brunnermunzel")
    assert c.test.pvalue == pytest.approx(sst.mannwhitneyu(doubled, NATIVE[:9]).pvalue) and c.significant
    assert c.test.name == "mannwhitneyu"
    assert c.test.label == "Mann-Whitney U (two-sided); Brunner-Munzel (two-sided) is undefined for these data"
    # a rank test is worded as what it tests, not as a change of means
    assert c.verdict.startswith("guest's run values tend to be higher than native's (Mann-Whitney U")
    assert "change of the mean +100.00 % [+99.68 %, +100.32 %]" in c.verdict


def test_zero_baseline_speaks_in_the_metric_unit():
    """Steal is 0 on bare metal: no ratio, a difference in percentage points."""
    rows = [dict(experiment="t", condition=k, host="h", scope="guest", guest="g", run=i, aggregate="single",
                 metric="cpu_steal", component="total", value=v, source="s", source_file="f")
            for k, vs in {"native": [0.0] * 5, "xen": [2.0, 2.5, 3.0, 2.2, 2.8]}.items() for i, v in enumerate(vs, 1)]
    c = stats.compare(schema.validate(schema.from_rows(rows)), "cpu_steal", baseline="native")
    assert math.isnan(c.ratio.value) and c.ratio.low is None and c.confidence_interval() is None
    assert c.difference.value == pytest.approx(2.5) and c.difference.low > 0
    assert c.verdict.startswith("xen uses 2.5 points more than native: difference of means +2.5 [+1.99, +3.01] "
                                "points") and "nan" not in c.verdict


def test_within_run_interval_accounts_for_autocorrelation():
    c = stats.compare(series_table(), "cpu_util", baseline="native")
    assert tuple(c.confidence_interval(0.95)) == c.ratio.interval
    # an interval taking the samples as independent would be much narrower on AR(0.8) data
    x, y = np.array(c.baseline.values), np.array(c.treatment.values)
    naive = stats.fieller_interval(x, y)
    assert (c.ratio.high - c.ratio.low) > 2 * (naive[1] - naive[0])


@pytest.mark.parametrize("by, message", [(("metric", "condition"), "cannot include 'condition'"),
                                         (("metric", "run"), "cannot include 'run'")])
def test_by_cannot_name_the_compared_or_replicated_columns(by, message):
    with pytest.raises(WorkbenchError, match=message):
        stats.compare_all(table({"native": NATIVE, "guest": GUEST}), baseline="native", by=by)


def test_resolutions_are_never_mixed_even_with_a_narrow_by():
    t = pl.concat([table({"native": NATIVE, "guest": GUEST}),
                   table({"native": NATIVE, "guest": GUEST}).with_columns(aggregate=pl.lit("best", dtype=pl.Categorical))])
    res = stats.compare_all(t, baseline="native", by=("metric", "component"))
    assert len(res) == 2 and {dict(c.cell)["aggregate"] for c in res} == {"single", "best"}


def test_runs_merged_from_several_files_are_named():
    """Runs are numbered within each file: two files' run 1 of one condition are one run,
    and the user is told so."""
    t = table({"native": NATIVE[:4], "guest": GUEST[:4]}).with_columns(
        source_file=pl.when((pl.col("condition") == "guest") & (pl.col("run") == 1)).then(pl.lit("b.csv"))
        .otherwise(pl.lit("a.csv")).cast(pl.Categorical))
    t = pl.concat([t, t.filter((pl.col("condition") == "guest") & (pl.col("run") == 1))
                   .with_columns(source_file=pl.lit("c.csv", dtype=pl.Categorical))])
    with pytest.warns(UserWarning, match=r"mem_copy_bw: run 1 of condition 'guest' combines rows of 2 files "
                                         r"\(b.csv, c.csv\)"):
        stats.compare_all(t, baseline="native")


# --------------------------------------------------------------------------- meaning from the vocabulary


def test_a_lower_is_better_metric_added_to_the_vocabulary_is_worded_slower(monkeypatch):
    """Adding a metric to schema.METRICS is all it takes: nothing reads its name."""
    monkeypatch.setitem(schema.METRICS, "io_latency", schema.Metric(
        "io_latency", "seconds", r".+", "I/O completion latency", (0.0, math.inf), schema.Direction.LOWER))
    c = stats.compare(table({"native": GUEST, "guest": NATIVE}, metric="io_latency", factor=1e-9),
                      "io_latency", baseline="native")
    assert c.significant
    assert c.verdict.startswith("guest is 2.43 % slower than native: change of the mean +2.43 % [")
    # The same numbers as a bandwidth (higher is better) are faster; as a usage, "uses more".
    bw = stats.compare(table({"native": GUEST, "guest": NATIVE}), "mem_copy_bw", baseline="native")
    assert bw.verdict.startswith("guest is 2.43 % faster than native: change of the mean +2.43 % [")
    monkeypatch.setitem(schema.METRICS, "io_latency", schema.Metric(
        "io_latency", "seconds", r".+", "I/O completion latency", (0.0, math.inf), schema.Direction.USAGE))
    c = stats.compare(table({"native": GUEST, "guest": NATIVE}, metric="io_latency", factor=1e-9),
                      "io_latency", baseline="native")
    assert c.verdict.startswith("guest uses 2.43 % more than native: change of the mean +2.43 % [")


def test_best_of_n_follows_the_vocabulary_direction(monkeypatch):
    monkeypatch.setitem(schema.METRICS, "io_latency", schema.Metric(
        "io_latency", "seconds", r".+", "I/O completion latency", (0.0, math.inf), schema.Direction.LOWER))
    rows = [dict(experiment="t", condition="c", host="h", scope="host", run=1, aggregate="best", metric=m,
                 component="memory", value=v, source="s", source_file="f")
            for m in ("io_latency", "stream_copy_bw") for v in (5.0, 7.0)]
    got = dict(stats.run_values(schema.validate(schema.from_rows(rows))).select("metric", "value").iter_rows())
    assert got == {"io_latency": 5.0, "stream_copy_bw": 7.0}


def test_a_metric_outside_the_vocabulary_is_neutral_with_its_native_unit():
    t = table({"native": GUEST, "guest": NATIVE}, metric="test:io_wait", factor=1.0, unit="ms")
    c = stats.compare(t, "test:io_wait", baseline="native")
    assert c.unit == "ms"
    assert c.verdict.startswith("guest is 2.43 % higher than native: change of the mean +2.43 % [")
    row = c.to_frame().row(0, named=True)
    assert row["display_unit"] == "ms" and row["mean"] == pytest.approx(np.mean(NATIVE))
    few = stats.compare(table({"native": GUEST[:2], "guest": NATIVE[:2]}, metric="test:io_wait", factor=1.0,
                              unit="ms"), "test:io_wait", baseline="native")
    assert few.verdict.endswith("guest is 2.3 % higher than native (means 7293 vs 7126 ms)")
    summary = stats.summarize(t).row(0, named=True)
    assert summary["display_unit"] == "ms"


# --------------------------------------------------------------------------- registries and parts


@pytest.fixture
def stub_test():
    entry = stats.register_test("stub", lambda x, y: (42.0, 1e-4), display="Stub test (two-sided)",
                                tests="nothing: a fixed p-value")
    yield entry
    del stats.TESTS["stub"]


def test_a_registered_test_is_accepted_by_compare_all_and_the_cli(stub_test, tmp_path, capsys):
    t = table({"native": NATIVE, "guest": GUEST})
    res = stats.compare_all(t, baseline="native", test="stub")
    (c,) = res
    assert (c.test.name, c.test.label, c.test.statistic, c.test.pvalue) == ("stub", "Stub test (two-sided)",
                                                                           42.0, 1e-4)
    assert "(95 % CI; Stub test (two-sided), p = 0.0001," in c.verdict
    path = tmp_path / "t.parquet"
    storage.write_table(t, path)
    assert cli.main(["compare", str(path), "--baseline", "native", "--test", "stub", "--format", "csv"]) == 0
    frame = pl.read_csv(io.StringIO(capsys.readouterr().out))
    assert frame["test"].to_list() == ["Stub test (two-sided)"]
    assert "stub" in cli._parser().parse_args(["compare", "t.parquet", "--test", "stub"]).test
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["compare", "t.parquet", "--test", "nope"])
    assert "invalid choice: 'nope' (choose from 'mannwhitneyu', 'brunnermunzel', 'welch', 'welch_hsu', 'stub')" in \
        capsys.readouterr().err
    with pytest.raises(WorkbenchError, match="`test` must be one of mannwhitneyu, brunnermunzel, welch, welch_hsu, stub"):
        stats.compare_all(t, baseline="native", test="nope")


def test_a_test_returning_nonsense_is_refused_by_name():
    stats.register_test("bad", lambda x, y: "nonsense", display="Bad", tests="nothing")
    try:
        with pytest.raises(WorkbenchError, match="two-sample test 'bad' must return an object with `statistic` "
                                                 "and `pvalue` or a \\(statistic, pvalue\\) pair; it returned 'nonsense'"):
            stats.compare_all(table({"native": NATIVE, "guest": GUEST}), baseline="native", test="bad")
    finally:
        del stats.TESTS["bad"]


def test_a_registered_effect_size_is_a_column(fixed):
    stats.register_effect_size("mean_shift", lambda x, y: float(np.mean(y) - np.mean(x)), display="shift",
                               measures="difference of means")
    try:
        c = stats.compare(table({"native": NATIVE, "guest": GUEST}), "mem_copy_bw", baseline="native")
        frame = c.to_frame()
        assert frame.columns[frame.columns.index("hedges_g") + 1] == "mean_shift"
        assert c.effect_size("mean_shift") == pytest.approx((np.mean(GUEST) - np.mean(NATIVE)) * 1e6)
        assert frame.columns[:-1] != fixed.to_frame().columns  # the others are unchanged
    finally:
        del stats.EFFECT_SIZES["mean_shift"]
    assert fixed.to_frame().columns == [c for c in frame.columns if c != "mean_shift"]
    with pytest.raises(WorkbenchError, match="effect size name 'ratio' is a column of Comparison.to_frame"):
        stats.register_effect_size("ratio", lambda x, y: 0.0, display="r", measures="r")


def test_status_round_trips_through_to_frame(fixed):
    within = stats.compare(series_table(), "cpu_util", baseline="native")
    few = stats.compare(table({"native": NATIVE[:2], "guest": GUEST[:2]}), "mem_copy_bw", baseline="native")
    seen = {}
    for c in (fixed, within, few):
        status = c.to_frame()["status"][0]
        assert stats.Status(status) is c.status
        seen[c.status] = status
    assert seen == {stats.Status.TESTED: "tested", stats.Status.WITHIN_RUN_ONLY: "within-run only",
                    stats.Status.INSUFFICIENT_DATA: "insufficient data"}
    assert fixed.ratio.confidence_level == fixed.confidence_level == 0.95
    assert few.ratio.interval is None and few.ratio.method is None and few.rule.runs_needed == 4


# --------------------------------------------------------------------------- flagged rows


def _flagged_table():
    rng = np.random.default_rng(3)
    rows = []
    for cond, mean in (("base", 100.0), ("treat", 90.0)):
        for run in range(1, 7):
            rows.append({"condition": cond, "run": run, "value": mean + rng.normal(0, 1),
                         "flag": "other processes 80 % of a CPU > 25 %" if (cond, run) == ("treat", 6) else None})
    t = schema.from_rows(rows, experiment="x", host="h", scope="host", metric="stream_copy_bw", component="memory",
                         aggregate="best", source="stream", source_file="f")
    # the disturbed run reads as a huge drop
    return schema.validate(t.with_columns(value=pl.when(pl.col("flag").is_not_null()).then(1.0)
                                          .otherwise(pl.col("value"))))


def test_flagged_runs_are_left_out_with_a_warning():
    t = _flagged_table()
    with pytest.warns(stats.FlaggedRowsWarning, match=r"1 row\(s\) of 1 disturbed run\(s\) left out \(treat run 6\)"):
        res = stats.compare_all(t, baseline="base")
    (c,) = res.comparisons
    assert (c.baseline.runs, c.treatment.runs) == (6, 5)
    assert 1.0 not in c.treatment.values
    kept = stats.compare_all(t, baseline="base", include_flagged=True)
    assert kept.comparisons[0].treatment.runs == 6 and 1.0 in kept.comparisons[0].treatment.values


def test_a_baseline_with_only_flagged_runs_is_refused_by_name():
    t = _flagged_table().with_columns(flag=pl.lit("steal 9.0 % > 2 %", dtype=pl.Categorical))
    with pytest.raises(WorkbenchError, match="every run of baseline 'base' was flagged as disturbed"), \
            pytest.warns(stats.FlaggedRowsWarning):
        stats.compare_all(t, baseline="base")


# --------------------------------------------------------------------------- issue 11: wording, planner, ESS, Holm


def _cells(groups: dict[str, list[float]], metric="mem_copy_bw") -> pl.DataFrame:
    extra = {"unit": "ms"} if ":" in metric else {}
    return table(groups, metric=metric, factor=1.0, **extra)


def test_negative_baseline_speaks_in_differences_with_the_right_direction(monkeypatch):
    """Higher is better, the treatment is higher: never "slower" (a ratio of two negative means said so)."""
    monkeypatch.setitem(schema.METRICS, "score", schema.Metric(
        "score", "1", r".+", "a score that may be negative", (-math.inf, math.inf), schema.Direction.HIGHER))
    c = stats.compare(_cells({"base": [-10.0, -11.0, -9.0, -10.5, -9.5], "treat": [-5.0, -5.5, -4.5, -5.2, -4.8]},
                             metric="score"), "score", baseline="base")
    assert c.significant and not c.relative and c.estimand == "difference of means"
    assert c.ratio.interval is None and c.confidence_interval() is None
    assert c.verdict.startswith("treat is 5 faster than base: difference of means +5 [+4.03, +5.97] (95 % CI;")
    assert c.to_frame()["interval_method"][0] == "Welch's t interval for the difference of means"


def test_baseline_across_zero_speaks_in_differences():
    """A near-zero baseline whose interval includes 0 gave "2877.8 % lower"; now a difference."""
    c = stats.compare(_cells({"base": [0.02, -0.03, 0.04, -0.01, 0.01], "treat": [0.5, 0.6, 0.55, 0.45, 0.52]},
                             metric="test:offset"), "test:offset", baseline="base")
    assert not c.relative and "change of the mean" not in c.verdict
    assert c.verdict.startswith("treat is 0.518 ms higher than base: difference of means +0.518 [")


def test_a_not_significant_verdict_prints_a_signed_interval_around_its_estimate():
    rng = np.random.default_rng(5)
    base = list(1000 + rng.normal(0, 5, 6))
    treat = list(1000 + rng.normal(0, 5, 6))
    c = stats.compare(_cells({"base": base, "treat": treat}), "mem_copy_bw", baseline="base")
    assert not c.significant
    import re
    m = re.search(r"change of the mean ([+-][\d.]+) % \[([+-][\d.]+) %, ([+-][\d.]+) %\]", c.verdict)
    est, lo, hi = (float(g) for g in m.groups())
    assert lo <= est <= hi and lo < 0 < hi


def test_intervals_say_unadjusted_when_p_values_are_holm_adjusted():
    rng = np.random.default_rng(2)
    groups = {"base": list(100 + rng.normal(0, 1, 5)), "a": list(103 + rng.normal(0, 1, 5)),
              "b": list(100 + rng.normal(0, 1, 5))}
    res = stats.compare_all(_cells(groups), baseline="base")
    assert all("(95 % CI, unadjusted" in c.verdict and "Holm-adjusted p" in c.verdict for c in res)


def test_interval_and_test_disagreement_is_said():
    c = stats.compare(table({"native": NATIVE, "guest": GUEST}), "mem_copy_bw", baseline="native")
    stub = replace_test(c, pvalue=0.5)
    assert "the interval excludes no change but the test does not reject: they disagree" in stub.verdict


def replace_test(c, **kw):
    from dataclasses import replace
    return replace(c, test=replace(c.test, **kw, pvalue_holm=kw.get("pvalue", c.test.pvalue)))


def test_planner_at_small_n_plans_few_runs():
    """A 10 % change at CV ~1 %: 3 runs have power 0.996; the planner once asked for 33."""
    pilot = [100.0, 101.0, 99.0, 100.5, 99.5]
    p = stats.plan(pilot, change=0.10)
    assert p.t_test_runs == 3 and p.runs_per_condition == stats.runs_needed() == 4  # Hsu: 2 runs have 1 df
    assert stats.plan(pilot, change=0.10, test="welch").t_test_runs == 2
    d = 0.10 * 100 / np.std(pilot, ddof=1)
    assert stats.t_test_power(d, 3) > 0.99
    # statsmodels agrees wherever it is defined
    for n in (5, 10, 40):
        assert stats.t_test_power(0.7, n) == pytest.approx(TTestIndPower().power(0.7, n, 0.05), rel=1e-6)


def test_effective_sample_size_at_strong_autocorrelation():
    """AR(1) phi = 0.9 over 400 samples has about 400 * 0.1 / 1.9 = 21 effective samples (was 28)."""
    got = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        e, x = rng.normal(size=600), np.zeros(600)
        for i in range(1, 600):
            x[i] = 0.9 * x[i - 1] + e[i]
        got.append(stats.effective_sample_size(x[200:]))
    assert 18 < np.mean(got) < 24


def test_holm_equals_statsmodels_without_gc():
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 16):
        p = rng.uniform(0, 0.2, m)
        p[rng.integers(0, m)] = p[0]  # a tie
        assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    many = rng.uniform(0, 0.1, (7, 5))
    assert stats.holm(many) == pytest.approx(np.array([multipletests(r, method="holm")[1] for r in many]))


def test_groups_without_spread_fall_back_to_a_named_test():
    c = stats.compare(table({"native": [7000.0] * 5, "guest": [7100.0] * 5}), "mem_copy_bw", baseline="native")
    assert c.test.name == "mannwhitneyu"
    assert c.test.label == ("Mann-Whitney U (two-sided); Welch's t with Hsu's df (two-sided) is undefined "
                            "for these data")
    assert c.ratio.interval == (pytest.approx(7100 / 7000), pytest.approx(7100 / 7000))


def test_a_registered_test_with_an_impossible_p_value_is_refused_by_name(monkeypatch):
    monkeypatch.setitem(stats.TESTS, "broken", stats.TwoSampleTest("broken", lambda x, y: (1.0, 1.7),
                                                                    "Broken", "nothing"))
    with pytest.raises(WorkbenchError, match=r"two-sample test 'broken' returned a p-value outside \[0, 1\]: 1.7"):
        stats._call_test(stats.TESTS["broken"], np.ones(5), np.zeros(5))


@pytest.mark.parametrize("x, digits, shown", [
    (41220.5, 3, "41200"), (0.012345, 3, "0.0123"), (-2.954, 3, "-2.95"), (999.6, 3, "1000"), (0.0, 3, "0"),
    (6.55, 2, "6.5"), (None, 3, ""), (float("nan"), 3, "nan")])
def test_three_significant_digits_without_exponent(x, digits, shown):
    assert stats.sig(x, digits) == shown


def test_table_marks_no_detectable_difference_and_insufficient_data():
    t = table({"native": NATIVE, "guest": GUEST, "same": NATIVE[::-1], "few": GUEST[:2]})
    res = stats.compare_all(t, baseline="native")
    rows = {r["condition"]: r for r in res.table().iter_rows(named=True)}
    assert rows["guest"]["change"] == f"{(np.mean(GUEST) / np.mean(NATIVE) - 1) * 100:+.2f} %" == "-2.37 %"
    assert rows["guest"]["p"] != ""
    assert rows["same"]["change"] == "~" and rows["same"]["interval"].endswith("] %")
    assert rows["few"]["change"].startswith("? (") and rows["few"]["p"] == "" and rows["few"]["note"] == "n < 4"
    half = sst.t.ppf(0.975, 9) * np.std(NATIVE, ddof=1) / math.sqrt(10)
    assert rows["guest"]["baseline"] == f"7300 +- {stats.sig(half, 2)}" and rows["guest"]["n"] == "10+10"
    text = res.to_text()
    assert text.count("~ no detectable difference") == 1  # the rule once, not per line


def test_markdown_table_escapes_payloads():
    t = table({"native": NATIVE, "[x](javascript:alert(1))": GUEST, "![p](http://h/p.png)": GUEST})
    md = stats.compare_all(t, baseline="native").to_markdown()
    import mistune

    page = mistune.html(md)
    assert "<a " not in page and "<img" not in page and "javascript:alert(1)" in page
