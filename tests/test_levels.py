"""Multi-level designs: estimators checked by simulation (seeded, quick), planning
formulas on known cases, and the bundled Azure subset."""
import math

import numpy as np
import polars as pl
import pytest

from workbench import levels, storage
from workbench.errors import WorkbenchError

from .conftest import DATA

TWO = levels.Design.of(["l0", "l1"], {"l0": 300.0, "l1": 6.0})


def test_two_level_components_recovered():
    est = np.array([levels.variance_components(levels.simulate([2.0, 1.0], [40, 5], mean=10, rng=s), TWO,
                                               scale="linear").variances for s in range(40)])
    assert est.mean(axis=0) == pytest.approx([2.0, 1.0], rel=0.1)


def test_three_level_components_recovered():
    design = levels.Design.of(["a", "b", "c"])
    est = np.array([levels.variance_components(
        levels.simulate([1.0, 0.5, 2.0], [20, 4, 3], mean=10, names=["a", "b", "c"], rng=s), design,
        scale="linear").variances for s in range(40)])
    assert est.mean(axis=0) == pytest.approx([1.0, 0.5, 2.0], rel=0.12)


def test_unbalanced_components_with_single_repetitions_recovered():
    """As in the Azure data: a few instances measured many times, most measured once."""
    est = []
    for s in range(40):
        many = levels.simulate([2.0, 1.0], [10, 30], mean=10, rng=s)
        once = levels.simulate([2.0, 1.0], [300, 1], mean=10, rng=1000 + s).with_columns(pl.col("l0") + 10)
        est.append(levels.variance_components(pl.concat([many, once]), TWO, scale="linear").variances)
    assert np.mean(est, axis=0) == pytest.approx([2.0, 1.0], rel=0.1)


def test_no_repetitions_means_no_within_estimate():
    once = levels.simulate([2.0, 1.0], [50, 1], rng=1).with_columns(pl.col("value") + 10)
    c = levels.variance_components(once, TWO)
    assert math.isnan(c.variances[1]) and math.isnan(c.variances[0])


def test_negative_estimate_reported_as_zero():
    flat = pl.DataFrame({"l0": [0, 0, 1, 1], "l1": [0, 1, 0, 1], "value": [1.0, 3.0, 3.0, 1.0]})
    c = levels.variance_components(flat, TWO, scale="linear")
    assert c.variances[0] == 0.0 and c.truncated == ("l0",)


@pytest.mark.parametrize("method, shape, low, high", [
    ("bootstrap", [30, 3], 0.90, 0.985),
    ("t", [6, 20], 0.91, 0.99),
    ("t", [10, 5], 0.91, 0.99),
])
def test_interval_covers_near_its_level(method, shape, low, high):
    hits = 0
    for s in range(200):
        v = levels.simulate([1.0, 1.0], shape, mean=10, rng=5000 + s)
        e = levels.grand_mean(v, TWO, method=method, n_resamples=400, rng=s)
        hits += e.low <= 10 <= e.high
    assert low <= hits / 200 <= high


def test_optimal_repetitions_follow_kalibera_jones():
    c = levels.Components(("l0", "l1"), (1.0, 1.0), (10, 50), 1.0)
    assert levels.optimal_repetitions(c, TWO) == (8.0,)  # ceil(sqrt(300/6 * 1/1)) = ceil(7.07)
    c = levels.Components(("l0", "l1"), (4.0, 0.01), (10, 50), 1.0)
    assert levels.optimal_repetitions(c, TWO) == (1.0,)  # instance noise dominates: one repetition each
    c = levels.Components(("l0", "l1"), (0.0, 1.0), (10, 50), 1.0)
    assert levels.optimal_repetitions(c, TWO) == (math.inf,)


def test_instances_needed_reaches_the_power_by_simulation():
    var, delta = 0.01, 0.05
    m = levels.instances_needed(var, var, delta, alpha=0.05, power=0.8)
    assert m == 64  # normal approximation (1.96 + 0.84)^2 * 0.02 / 0.0025 = 62.8, plus the t correction
    rng = np.random.default_rng(3)
    from scipy import stats
    p = [stats.ttest_ind(rng.normal(0, 0.1, m), rng.normal(delta, 0.1, m), equal_var=False).pvalue for _ in range(800)]
    assert 0.75 <= np.mean(np.array(p) < 0.05) <= 0.86


def test_plan_difference_states_units_and_cost():
    a = levels.Components(("l0", "l1"), (0.004, 0.004), (10, 50), 1.0)
    plan = levels.plan_difference(a, a, TWO, change=0.02, repetitions=[4])
    expected = levels.instances_needed(0.005, 0.005, math.log(1.02))
    assert (plan.repetitions, plan.instances) == ((4,), expected)
    assert plan.cost_per_condition == expected * (300 + 4 * 6) and plan.cost == 2 * plan.cost_per_condition
    table = levels.plan_table(a, a, TWO)
    assert table["optimal"].sum() == 1 and table["cost per condition"].is_sorted()


@pytest.mark.parametrize("call, message", [
    (lambda: levels.Design.of(["guest"]), r"at least two levels \(e.g. guest, run\), found \['guest'\]"),
    (lambda: levels.Design.of(["guest", "guest"]), r"design levels must be distinct"),
    (lambda: levels.Design.of(["guest", "run"], {"host": 1}), r"cost given for 'host', which is not a level"),
    (lambda: levels.Design.of(["guest", "run"], {"run": -1}), r"cost of level 'run' must be a non-negative number"),
    (lambda: levels.optimal_repetitions(levels.Components(("guest", "run"), (1, 1), (2, 4), 1.0),
                                        levels.Design.of(["guest", "run"])),
     r"planning needs the cost of every level; unknown: guest, run"),
    (lambda: levels.variance_components(pl.DataFrame({"l0": [0], "l1": [0], "value": [-1.0]}), TWO),
     r"`scale='log'` needs positive values"),
    (lambda: levels.level_values(pl.DataFrame({"l0": [None, 1], "l1": [0, 0], "value": [1.0, 2.0]}), TWO),
     r"design level 'l0' is null in 1 row\(s\)"),
    (lambda: levels.level_values(pl.DataFrame({"l1": [0], "value": [1.0]}), TWO),
     r"design level 'l0' is not a column of the table"),
])
def test_refusals(call, message):
    with pytest.raises(WorkbenchError, match=message):
        call()


@pytest.fixture(scope="module")
def azure():
    return storage.read_table(DATA / "azure-vm-noise-2024" / "idle-latency.parquet")


def test_azure_idle_latency_components(azure):
    design = levels.Design.of(["guest", "run"], {"guest": 300.0, "run": 6.0})
    comps = levels.by_condition(azure, design, metric="mem_latency")
    d, b = comps["D8s_v5"], comps["B8ms"]
    assert d.units == (22507, 53680) and b.units == (21107, 39473)
    # D8s_v5: almost all the spread is between VMs; B8ms (burstable) varies within a VM too
    assert d.shares[0] == pytest.approx(0.951, abs=0.002)
    assert b.shares[0] == pytest.approx(0.605, abs=0.002)
    assert math.sqrt(d.variances[1]) == pytest.approx(0.0179, abs=0.0005)
    plan = levels.plan_difference(d, b, design, change=0.02)
    assert plan.repetitions == (5,) and plan.instances == 255
