"""Calibration of the statistics engine by simulation (DESIGN.md §9: "calibration is the judge").

Every number the reports print is checked here against data whose truth is known:

- **False-positive rate** of the default test (:data:`workbench.stats.DEFAULT_TEST`)
  under the null, per comparison and family-wise over ``metrics`` comparisons with
  Holm (:func:`workbench.stats.holm`);
- **coverage** of the three intervals a report prints: the ratio of means
  (Fieller), the difference of means (Welch) and each condition's mean (Student's t);
- **power at the planned n**: :func:`workbench.stats.plan` from a pilot whose SD is the
  true SD, then the test at that n with Holm over ``comparisons``;
- **single-run series**: AR(1) series, coverage of the within-run interval of the mean
  (t with the effective sample size), of the difference of two such runs, and the
  effective sample size against its true value.

The simulations call the engine's own functions (``TESTS[...]``, ``fieller_interval``,
``welch_interval``, ``t_interval``, ``holm``, ``plan``, ``effective_sample_size``),
vectorized over replications: runs along axis 0, replications along axis 1. Used by
``tests/test_calibration.py`` (small, seeded) and ``bench/calibrate.py`` (full size).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import stats

MEAN = 100.0  #: true baseline mean of the simulated run values

#: Targets of issue 11.
FPR_MAX = 0.05
COVERAGE = (0.94, 0.97)
POWER = (0.75, 0.90)


def tolerance(p: float, reps: int, z: float = 3.0) -> float:
    """Half-width a rate estimated from `reps` Bernoulli trials may stray from `p` (z SEs)."""
    return z * math.sqrt(p * (1 - p) / reps)


@dataclass(frozen=True)
class Scenario:
    """Two conditions' run values: `nx` baseline and `ny` treatment runs, coefficients
    of variation `cv_x` and `cv_y`, the treatment's mean `ratio` times the baseline's."""

    name: str
    nx: int
    ny: int
    dist: str = "normal"  #: "normal" or "lognormal"
    cv_x: float = 0.05
    cv_y: float = 0.05
    ratio: float = 1.0


def _draw(dist: str, n: int, mean: float, cv: float, reps: int, rng: np.random.Generator) -> np.ndarray:
    if dist == "normal":
        return rng.normal(mean, cv * mean, (n, reps))
    if dist == "lognormal":  # mean and CV of the lognormal itself
        s2 = math.log1p(cv * cv)
        return rng.lognormal(math.log(mean) - s2 / 2, math.sqrt(s2), (n, reps))
    raise ValueError(f"`dist` must be 'normal' or 'lognormal', found {dist!r}")


def two_conditions(s: Scenario, reps: int, rng: np.random.Generator, *, metrics: int = 5,
                   alpha: float = 0.05, confidence_level: float = 0.95, test: str = stats.DEFAULT_TEST) -> dict:
    """Rates over ``reps`` families of `metrics` independent comparisons of scenario `s`.

    Returns ``rejected`` (per comparison, p < alpha: the false-positive rate where
    ``s.ratio == 1``, the power otherwise), ``familywise`` (any Holm-adjusted p < alpha
    in a family), ``ratio_coverage``, ``difference_coverage``, ``mean_coverage`` (the
    baseline's t interval) and ``ratio_unbounded`` (share of Fieller sets that are not
    an interval; they contain the truth and count as covering).
    """
    cols = reps * metrics
    x = _draw(s.dist, s.nx, MEAN, s.cv_x, cols, rng)
    y = _draw(s.dist, s.ny, MEAN * s.ratio, s.cv_y, cols, rng)
    res = stats.TESTS[test].function(x, y)
    p = np.asarray(res.pvalue if hasattr(res, "pvalue") else res[1], dtype=float)
    r_low, r_high = stats.fieller_interval(x, y, confidence_level)
    unbounded = ~np.isfinite(r_low)
    d_low, d_high = stats.welch_interval(x, y, confidence_level)
    m_low, m_high = stats.t_interval(x, confidence_level)
    true_d = MEAN * s.ratio - MEAN
    return {
        "reps": cols, "families": reps,
        "rejected": float(np.mean(p < alpha)),
        "familywise": float(np.mean((stats.holm(p.reshape(reps, metrics)) < alpha).any(axis=1))),
        "ratio_coverage": float(np.mean(unbounded | ((r_low <= s.ratio) & (s.ratio <= r_high)))),
        "ratio_unbounded": float(np.mean(unbounded)),
        "difference_coverage": float(np.mean((d_low <= true_d) & (true_d <= d_high))),
        "mean_coverage": float(np.mean((m_low <= MEAN) & (MEAN <= m_high))),
    }


@dataclass(frozen=True)
class PlanScenario:
    """Plan for a relative `change` at coefficient of variation `cv`, `comparisons` in the call."""

    name: str
    cv: float
    change: float
    comparisons: int = 1
    dist: str = "normal"


def planned_power(s: PlanScenario, reps: int, rng: np.random.Generator, *, alpha: float = 0.05,
                  power: float = 0.8, test: str = stats.DEFAULT_TEST) -> dict:
    """Plan from a two-run pilot whose SD is the true SD, then simulate families of
    ``s.comparisons`` at the planned n: the first with the change, the others null;
    power = share of families where Holm rejects the first."""
    sd = s.cv * MEAN
    pilot = [MEAN - sd / math.sqrt(2), MEAN + sd / math.sqrt(2)]  # sample SD exactly sd
    plan = stats.plan(pilot, change=s.change, power=power, alpha=alpha, comparisons=s.comparisons, test=test)
    n = plan.runs_per_condition
    m = s.comparisons
    x = _draw(s.dist, n, MEAN, s.cv, reps * m, rng)
    ratios = np.tile(np.r_[1 - s.change, np.ones(m - 1)], reps)  # the first of each family changes
    y = _draw(s.dist, n, MEAN, s.cv, reps * m, rng) * ratios
    res = stats.TESTS[test].function(x, y)
    p = np.asarray(res.pvalue if hasattr(res, "pvalue") else res[1], dtype=float).reshape(reps, m)
    return {"runs": n, "t_test_runs": plan.t_test_runs, "rule_bound": plan.t_test_runs < plan.rule_runs,
            "power": float(np.mean(stats.holm(p)[:, 0] < alpha)), "reps": reps}


def ar1(phi: float, n: int, reps: int, rng: np.random.Generator, burn: int = 200) -> np.ndarray:
    """`reps` AR(1) series of `n` samples (innovations N(0, 1), mean 0), shape (n, reps)."""
    from scipy.signal import lfilter

    e = rng.normal(size=(n + burn, reps))
    return lfilter([1.0], [1.0, -phi], e, axis=0)[burn:]


def true_ess(phi: float, n: int) -> float:
    """n Var(x) / (n Var(mean)) for a stationary AR(1) series of n samples (exact, finite n)."""
    k = np.arange(1, n)
    return n / (1 + 2 * np.sum((1 - k / n) * phi ** k))


def single_run(phi: float, n: int, reps: int, rng: np.random.Generator, *, confidence_level: float = 0.95) -> dict:
    """Within-run intervals of AR(1) series: coverage of one run's mean and of the
    difference of two runs' means, and the effective sample size against its truth."""
    x, y = ar1(phi, n, reps, rng), ar1(phi, n, reps, rng)
    ess_x = np.array([stats.effective_sample_size(x[:, i]) for i in range(reps)])
    ess_y = np.array([stats.effective_sample_size(y[:, i]) for i in range(reps)])
    covered = covered_d = 0
    for i in range(reps):
        low, high = stats.t_interval(x[:, i], confidence_level, ess=ess_x[i])
        covered += low <= 0 <= high
        mx, vx, fx = stats._moments(x[:, i], ess_x[i])
        my, vy, fy = stats._moments(y[:, i], ess_y[i])
        d_low, d_high = stats._difference_interval(mx, vx, fx, my, vy, fy, confidence_level)
        covered_d += d_low <= 0 <= d_high
    return {"reps": reps, "mean_coverage": covered / reps, "difference_coverage": covered_d / reps,
            "ess": float(np.mean(ess_x)), "true_ess": float(true_ess(phi, n))}


# --------------------------------------------------------------------------- the scenarios of issue 11

SCENARIOS: tuple[Scenario, ...] = (
    *(Scenario(f"normal, n = {n}", n, n) for n in (4, 5, 6, 8, 10, 15, 20, 30)),
    *(Scenario(f"lognormal CV 10 %, n = {n}", n, n, "lognormal", 0.1, 0.1) for n in (4, 6, 10, 30)),
    Scenario("normal, n = 5 vs 20", 5, 20),
    Scenario("normal, n = 20 vs 5", 20, 5),
    Scenario("lognormal CV 10 %, n = 5 vs 20", 5, 20, "lognormal", 0.1, 0.1),
    Scenario("normal, n = 4, treatment SD x4", 4, 4, cv_y=0.2),
    Scenario("normal, n = 6, treatment SD x4", 6, 6, cv_y=0.2),
    Scenario("normal, n = 20 vs 5, small group SD x4", 20, 5, cv_y=0.2),
    Scenario("normal, n = 5 vs 20, small group SD x4", 5, 20, cv_x=0.2),
    Scenario("lognormal, n = 20 vs 5, small group CV 10 % vs 2.5 %", 20, 5, "lognormal", 0.025, 0.1),
    # with a true change: coverage away from the null (the rejection rate is power here)
    Scenario("normal, n = 4, ratio 0.97", 4, 4, ratio=0.97),
    Scenario("normal, n = 10 vs 5, ratio 1.10, SD x2", 10, 5, cv_y=0.1, ratio=1.10),
    Scenario("lognormal CV 10 %, n = 6, ratio 0.9", 6, 6, "lognormal", 0.1, 0.1, ratio=0.9),
)

#: Beyond the targets, shown by bench/calibrate.py as known limits: skewed run values
#: at few runs (CV 30 %, skewness 0.9), or a small group both skewed and 4 times as
#: spread (CV 20-40 %): t-based methods cannot cancel skewness that only one group has
#: (the false-positive rate reaches 0.053 and 0.065, coverage 0.93-0.94).
STRESS: tuple[Scenario, ...] = (
    Scenario("lognormal, n = 20 vs 5, small group CV 20 % vs 5 %", 20, 5, "lognormal", 0.05, 0.2),
    Scenario("lognormal CV 30 %, n = 4", 4, 4, "lognormal", 0.3, 0.3),
    Scenario("lognormal CV 30 %, n = 10", 10, 10, "lognormal", 0.3, 0.3),
    Scenario("lognormal CV 30 %, n = 5 vs 20", 5, 20, "lognormal", 0.3, 0.3),
    Scenario("lognormal, n = 20 vs 5, small group CV 40 % vs 10 %", 20, 5, "lognormal", 0.1, 0.4),
)

#: The tests on request, against the scenarios that tell them apart (bench/calibrate.py):
#: why the default is Welch's statistic with Hsu's df.
OTHER_TESTS: tuple[str, ...] = ("welch", "mannwhitneyu", "brunnermunzel")
OTHER_TEST_SCENARIOS: tuple[Scenario, ...] = (
    Scenario("normal, n = 4", 4, 4),
    Scenario("normal, n = 9", 9, 9),
    Scenario("normal, n = 9, treatment SD x4", 9, 9, cv_y=0.2),
    Scenario("normal, n = 5 vs 20", 5, 20),
    Scenario("normal, n = 20 vs 5, small group SD x4", 20, 5, cv_y=0.2),
)

PLANS: tuple[PlanScenario, ...] = (
    PlanScenario("CV 2 %, 3 % change", 0.02, 0.03),
    PlanScenario("CV 5 %, 5 % change", 0.05, 0.05),
    PlanScenario("CV 3 %, 2 % change", 0.03, 0.02),
    PlanScenario("CV 1 %, 2 % change, 5 comparisons (Holm)", 0.01, 0.02, 5),
    PlanScenario("CV 5 %, 5 % change, 5 comparisons (Holm)", 0.05, 0.05, 5),
    PlanScenario("CV 10 %, 10 % change, lognormal", 0.10, 0.10, dist="lognormal"),
)

#: The planner's small-n case of issue 11: planned at the refusal rule's 4 runs (it asked
#: for 33), where the power is far above the target by construction.
SMALL_N_PLAN = PlanScenario("CV 1 %, 10 % change (rule-bound)", 0.01, 0.10)

AR1: tuple[tuple[float, int], ...] = ((0.0, 400), (0.5, 400), (0.9, 400), (0.9, 1000))
