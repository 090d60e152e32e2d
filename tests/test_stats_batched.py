"""The comparisons computed for all cells at once (issue 17) give, bit for bit, what one
comparison computed alone gives, and what statsmodels computes, on real data: the lab's
runs (data/lab), Felter et al.'s STREAM runs, and the Xen sample RRDs' single-run series
(data/experiments/xen-samples.toml, the host dump's two hours of minute rows split into
two halves)."""
import warnings
from datetime import datetime, timezone

import numpy as np
import polars as pl
import pytest
from polars import testing as pt
from statsmodels.compat.scipy import _next_regular
from statsmodels.tsa.stattools import acf

from workbench import experiment, stats
from workbench.errors import WorkbenchError

from .conftest import DATA

HALF = datetime(2012, 2, 9, 12, 53, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def halves():
    """The Xen samples' minute archive as two single-run conditions: before and after HALF."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # native xen-rrd metrics (the reader's tests)
        t = experiment.open(DATA / "experiments" / "xen-samples.toml").table.filter(pl.col("interval") == 60.0)
    return t.with_columns(condition=pl.when(pl.col("time") < HALF).then(pl.lit("before")).otherwise(pl.lit("after"))
                          .cast(pl.Categorical))


@pytest.fixture(scope="module")
def lab():
    return experiment.open(DATA / "lab" / "2026-11-30" / "table.parquet").table


def same(a, b) -> bool:
    """Equal as floats bit for bit, NaN equal to NaN."""
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


def test_autocorrelation_is_statsmodels_acf_bit_for_bit(halves):
    series = [s.to_numpy() for s in halves.sort("time").partition_by(
        "metric", "component", "scope", "guest", "aggregate", "condition", include_key=False)
        for s in [s["value"].drop_nans()] if s.len() >= 4]
    assert len(series) == 86
    for x in series:
        with np.errstate(invalid="ignore"):  # a constant series has none: NaN in both
            assert same(stats._autocorrelation(x), acf(x, nlags=x.size - 1, fft=True))
        assert stats._constant(x) == np.allclose(x, x[0])
    assert [stats._next_regular(n) for n in range(1, 5000)] == [_next_regular(n) for n in range(1, 5000)]


def test_single_run_comparisons_equal_one_alone_and_the_joined_series(halves):
    res = stats.compare_all(halves, baseline="before")
    within = [c for c in res if c.status is stats.Status.WITHIN_RUN_ONLY]
    assert len(within) == len(res) == 40
    c = next(c for c in within if c.metric == "load_avg" and dict(c.cell)["aggregate"] == "mean")
    assert (round(c.treatment.ess, 3), round(c.baseline.ess, 3), c.treatment.samples) == (60.0, 46.909, 60)
    assert c.verdict.startswith("within one run each, not replicated: after uses 0.1 % less than before "
                                "(means 0.2491 vs 0.2492 )")
    for c in within:  # the batch's intervals are those of the comparison alone (from its values)
        assert stats._intervals(c, c.confidence_level) == ((c.ratio.low, c.ratio.high),
                                                           (c.difference.low, c.difference.high))
    # Series aggregated with the run values (compare_all) equal those selected by a join (summarize).
    pt.assert_frame_equal(res.summaries, stats.summarize(halves, by=res.by).filter(
        pl.col("metric").is_in(res.summaries["metric"].unique().implode())))


def test_tested_comparisons_equal_one_alone(lab):
    res = stats.compare_all(lab, baseline="native")
    tested = [c for c in res if c.status is stats.Status.TESTED]
    assert len(tested) == 30
    for c in tested:
        x, y = np.array(c.baseline.values), np.array(c.treatment.values)
        assert (c.test.statistic, c.test.pvalue) == stats._call_test(stats.TESTS[c.test.name], x, y)
        assert [e.value for e in c.effect_sizes] == [float(e.function(x, y)) for e in stats.EFFECT_SIZES.values()]
        assert c.detectable_change == stats.detectable_change(x, y, alpha=c.rule.alpha / c.rule.comparisons,
                                                              df_test=min(x.size, y.size) - 1)
        assert stats._intervals(c, c.confidence_level) == ((c.ratio.low, c.ratio.high),
                                                           (c.difference.low, c.difference.high))
    assert [c.test.pvalue_holm for c in tested] == stats.holm([c.test.pvalue for c in tested]).tolist()


@pytest.mark.parametrize("entry", [e for e in [*stats.TESTS.values(), *stats.EFFECT_SIZES.values()] if e.columnwise],
                         ids=lambda e: e.name)
def test_columnwise_entries_give_each_column_what_it_gives_alone(entry, lab):
    # Real run values of every cell and condition of the lab, cut to 4-10 runs; stacks of pairs.
    runs = [np.array(s.values) for s in stats.compare_all(lab, baseline="native").comparisons
            for s in (s.baseline, s.treatment) if s.runs >= 4]
    pairs = [(runs[i][: 4 + i % 7], runs[-1 - i][: 4 + (i // 7) % 7]) for i in range(len(runs))]
    for x, y in pairs[:3]:  # pairs without spread
        pairs.append((np.full(x.size, x[0]), np.full(y.size, x[0])))
    stacks = stats._stacks(pairs)
    assert len(pairs) == 63 and len(stacks) == 49 and max(map(len, stacks.values())) == 3
    if isinstance(entry, stats.TwoSampleTest):
        for idx in stacks.values():
            x, y = (np.stack([pairs[i][k] for i in idx]).T for k in (0, 1))
            stat, p = stats._call_test(entry, x, y, columns=len(idx))
            alone = [stats._call_test(entry, *pairs[i]) for i in idx]
            assert same(stat, [a[0] for a in alone]) and same(p, [a[1] for a in alone])
    else:
        assert same(stats._columnwise(entry.function, pairs, True), [entry.function(x, y) for x, y in pairs])
    changes = stats._columnwise(lambda x, y: stats._detectable_changes(x, y, df_test=min(x.shape[0], y.shape[0]) - 1),
                                pairs, True)
    assert changes == [stats.detectable_change(x, y, df_test=min(x.size, y.size) - 1) for x, y in pairs]


def test_a_columnwise_test_with_an_impossible_p_value_is_refused_by_name(monkeypatch, lab):
    def broken(x, y):
        return np.zeros(x.shape[1]), np.full(x.shape[1], 1.7)

    monkeypatch.setitem(stats.TESTS, "broken", stats.TwoSampleTest("broken", broken, "Broken", "nothing",
                                                                    columnwise=True))
    with pytest.raises(WorkbenchError, match=r"two-sample test 'broken' returned a p-value outside \[0, 1\]: 1.7"):
        stats.compare_all(lab, baseline="native", test="broken")
    monkeypatch.setitem(stats.TESTS, "broken", stats.TwoSampleTest("broken", lambda x, y: "nonsense", "Broken",
                                                                    "nothing", columnwise=True))
    with pytest.raises(WorkbenchError, match="two-sample test 'broken' must return an object with `statistic` and "
                                             "`pvalue` or a \\(statistic, pvalue\\) pair; it returned 'nonsense'"):
        stats.compare_all(lab, baseline="native", test="broken")


@pytest.mark.parametrize("values, dtype", [
    ([1.0, 1.0], pl.Float64), ([1.0, float("nan")], pl.Float64), ([0.0, -0.0], pl.Float64),
    ([float("nan")] * 2, pl.Float64), ([None, None], pl.Float64), ([None, 1.0], pl.Float64),
    (["a", "a"], pl.Categorical), (["a", "b"], pl.Categorical), ([None, "a"], pl.Categorical), ([3, 3], pl.Int32)])
def test_single_valued_is_one_distinct_value(values, dtype):
    s = pl.Series(values, dtype=dtype)
    assert stats._single_valued(s) == (s.n_unique() == 1)
