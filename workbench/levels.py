"""Multi-level designs: variance components, intervals that resample every level, planning.

A benchmark result varies at several levels: between VM instances (or hosts, boots),
between repetitions within an instance, ... (Kalibera & Jones, "Rigorous benchmarking in
reasonable time", ISMM 2013). Here a design is data, as in libkalibera's ``data.py``:
:class:`Design` lists the levels, outermost first and the repetition last, each with the
cost of adding one unit at that level (its own cost, not its children's), and the
formulas sit beside it:

- :func:`variance_components`: the variance contributed by each level, by the method of
  moments on unweighted means (below). Closed form and fast on tens of thousands of
  instances (the Azure data: 22,000 VMs, most measured once), unbiased, valid for
  unbalanced designs; in a balanced design it is Kalibera & Jones's estimator
  (T_i^2 = S_i^2 - T_{i-1}^2 / n_{i-1}). A REML mixed model (statsmodels MixedLM) would
  use the data more efficiently under heavy imbalance but takes minutes on 22,000 groups
  and needs a model per number of levels; the estimator here is checked by simulation in
  the tests.
- :func:`grand_mean`: the mean of instance means with an interval from a hierarchical
  bootstrap that resamples every level (instances with replacement, then repetitions
  within each drawn instance), or Student's t on the instance means (``method="t"``).
- :func:`optimal_repetitions` (K&J's eq.: n_i = sqrt(c_{i-1}/c_i * s2_i/s2_{i-1})) and
  :func:`plan_difference`: instances per condition to detect a relative difference at
  `alpha` with `power`, and what it costs.

The estimator. Let level 0 be the outermost and level k-1 the repetition (the run:
samples within a run are averaged first, DESIGN.md §9). Each unit's value is the plain
mean of its children's values (the data's runs for the innermost level). For units u of
level i under the same parent p (k_p of them), the pooled within-parent variance S_i^2
has expectation ``s2_i + sum_{j>i} c_ij s2_j`` where ``c_ij = sum_u (1 - 1/k_p) w_uj /
sum_p (k_p - 1)`` and w_uj is the sum of the squared weights of u's level-j descendants
in u's mean (1/n for n repetitions). Solving from the innermost level outwards gives
every s2_i; a negative solution is reported as 0 (``truncated``). Parents with a single
child add no degrees of freedom, so instances measured once (Azure's short-lived VMs)
inform only the between-instance level.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import polars as pl
from scipy import stats as sst

from .errors import WorkbenchError

DEFAULT_SEED = 20130620  # ISMM 2013: bootstrap results are reproducible run to run
N_RESAMPLES = 2000
SCALES = ("log", "linear")


@dataclass(frozen=True)
class Level:
    """One level of a design: a label column and the cost of one more unit of it.

    Attributes
    ----------
    name : str
        A column of the measurement table (``host``, ``guest``, ``run``, ...).
    cost : float or None
        Seconds (or any one unit, the same for every level) to add one unit at this
        level, not counting its children: provisioning and booting a VM; running one
        repetition. ``None`` when unknown (planning then refuses).
    """

    name: str
    cost: float | None = None


@dataclass(frozen=True)
class Design:
    """A multi-level design: levels outermost first, the repetition last.

    ``Design.of(["guest", "run"], costs={"guest": 300, "run": 6})``.
    """

    levels: tuple[Level, ...]

    def __post_init__(self) -> None:
        names = [lv.name for lv in self.levels]
        if len(names) < 2:
            raise WorkbenchError(f"a multi-level design needs at least two levels (e.g. guest, run), found {names}")
        if len(set(names)) != len(names):
            raise WorkbenchError(f"design levels must be distinct, found {names}")
        for lv in self.levels:
            if lv.cost is not None and not (math.isfinite(lv.cost) and lv.cost >= 0):
                raise WorkbenchError(f"cost of level '{lv.name}' must be a non-negative number, found {lv.cost!r}")

    @classmethod
    def of(cls, order: Sequence[str], costs: Mapping[str, float] | None = None) -> Design:
        """A design from level names (outermost first) and optional costs by name."""
        costs = dict(costs or {})
        unknown = sorted(set(costs) - set(order))
        if unknown:
            raise WorkbenchError(f"cost given for '{unknown[0]}', which is not a level ({', '.join(order)})")
        return cls(tuple(Level(name, costs.get(name)) for name in order))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self.levels)

    @property
    def costs(self) -> tuple[float | None, ...]:
        return tuple(lv.cost for lv in self.levels)


@dataclass(frozen=True)
class Components:
    """Variance components of one condition (or one data set).

    Attributes
    ----------
    levels : tuple of str
        Outermost first.
    variances : tuple of float
        The variance each level contributes (on the log scale: squared relative
        spread), NaN where the data cannot say (no degrees of freedom at that level).
    units : tuple of int
        Units observed per level (instances, ..., repetitions).
    mean : float
        Grand mean (mean of the outermost units' means), on the original scale.
    scale : str
        ``log`` (components of the natural log of the values) or ``linear``.
    truncated : tuple of str
        Levels whose estimate came out negative and is reported as 0.
    """

    levels: tuple[str, ...]
    variances: tuple[float, ...]
    units: tuple[int, ...]
    mean: float
    scale: str = "log"
    truncated: tuple[str, ...] = ()
    method: str = "method of moments on unweighted means (nested ANOVA)"

    @property
    def shares(self) -> tuple[float, ...]:
        """Each level's share of the total variance (one repetition on one new unit)."""
        total = sum(self.variances)
        return tuple(v / total if total > 0 else math.nan for v in self.variances)

    def to_frame(self) -> pl.DataFrame:
        """One row per level: units, variance, spread and share.

        ``sd`` is the square root of the variance: on the log scale a relative spread
        (0.03 = about 3 %), on the linear scale in the data's unit.
        """
        return pl.DataFrame({
            "level": list(self.levels), "units": list(self.units), "variance": list(self.variances),
            "sd": [math.sqrt(v) for v in self.variances], "share": list(self.shares),
        }, schema={"level": pl.String, "units": pl.Int64, "variance": pl.Float64, "sd": pl.Float64,
                   "share": pl.Float64})


# --------------------------------------------------------------------------- data

def level_values(table: pl.DataFrame, design: Design, *, metric: str | None = None) -> pl.DataFrame:
    """One value per innermost unit (the run): samples within a run are averaged.

    Returns the level columns and ``value``. Rows of one condition only are
    expected (group by condition first); `metric` selects one metric.

    Raises
    ------
    WorkbenchError
        When a level is not a column, holds nulls, or several metrics are mixed.
    """
    names = list(design.names)
    missing = [n for n in names if n not in table.columns]
    if missing:
        raise WorkbenchError(f"design level '{missing[0]}' is not a column of the table")
    if metric is not None:
        table = table.filter(pl.col("metric") == metric)
    if "metric" in table.columns and table["metric"].n_unique() > 1:
        raise WorkbenchError(f"variance components need one metric, found {', '.join(table['metric'].unique().sort())}")
    for name in names:
        nulls = table[name].null_count()
        if nulls:
            raise WorkbenchError(f"design level '{name}' is null in {nulls} row(s): every row needs a unit at every level")
    return (table.filter(pl.col("value").is_not_nan())
            .group_by(names, maintain_order=True).agg(pl.col("value").mean())
            .sort(names))


def variance_components(values: pl.DataFrame, design: Design, *, scale: str = "log") -> Components:
    """Variance components per level (see the module docstring for the estimator).

    Parameters
    ----------
    values : polars.DataFrame
        The level columns and ``value``, one row per innermost unit
        (:func:`level_values`).
    design : Design
    scale : {"log", "linear"}
        ``log`` (default): components of ln(value), so they read as relative spreads
        and plan relative differences; values must be positive.
    """
    if scale not in SCALES:
        raise WorkbenchError(f"`scale` must be one of {', '.join(SCALES)}, found {scale!r}")
    names = list(design.names)
    if values.height == 0:
        raise WorkbenchError("variance components need at least one value, found none")
    y = pl.col("value")
    if scale == "log":
        if (values["value"] <= 0).any():
            raise WorkbenchError("`scale='log'` needs positive values; use scale='linear'")
        y = y.log()
    k = len(names)
    cur = values.select(*names, m=y)
    s2: dict[int, float] = {}
    coef: dict[int, dict[int, float]] = {}
    units: dict[int, int] = {}
    wcols: list[int] = []  # levels j whose weights w_uj the current units carry
    for i in range(k - 1, -1, -1):
        parent = names[:i]
        units[i] = cur.height
        kp = pl.len().over(parent) if parent else pl.len()
        mean_p = pl.col("m").mean().over(parent) if parent else pl.col("m").mean()
        d = cur.with_columns(_kp=kp.cast(pl.Float64), _dev2=(pl.col("m") - mean_p) ** 2)
        df = float(d.select((1 - 1 / pl.col("_kp")).sum()).item())
        if df > 1e-9:
            s2[i] = float(d["_dev2"].sum()) / df
            coef[i] = {j: float(d.select(((1 - 1 / pl.col("_kp")) * pl.col(f"_w{j}")).sum()).item()) / df
                       for j in wcols}
        else:
            s2[i], coef[i] = math.nan, {}
        if i == 0:
            break
        aggs = [pl.col("m").mean(), (1 / pl.len()).alias(f"_w{i}")]
        aggs += [(pl.col(f"_w{j}").sum() / pl.len() ** 2).alias(f"_w{j}") for j in wcols]
        cur = cur.group_by(parent, maintain_order=True).agg(aggs)
        wcols.append(i)
    grand = float(cur["m"].mean())
    variances: dict[int, float] = {}
    truncated = []
    for i in range(k - 1, -1, -1):
        v = s2[i] - sum(c * variances[j] for j, c in coef[i].items())
        if v < 0:
            truncated.append(names[i])
            v = 0.0
        variances[i] = v
    return Components(tuple(names), tuple(variances[i] for i in range(k)), tuple(units[i] for i in range(k)),
                      math.exp(grand) if scale == "log" else grand, scale, tuple(truncated))


def by_condition(table: pl.DataFrame, design: Design, *, metric: str, scale: str = "log") -> dict[str, Components]:
    """:func:`variance_components` of `metric` for each condition, in order of appearance."""
    out = {}
    for (condition,), rows in table.filter(pl.col("metric") == metric).group_by("condition", maintain_order=True):
        out[condition] = variance_components(level_values(rows, design), design, scale=scale)
    if not out:
        raise WorkbenchError(f"no rows of metric '{metric}'")
    return out


def components_frame(components: Mapping[str, Components]) -> pl.DataFrame:
    """The components of several conditions as one table (``condition`` first)."""
    return pl.concat([c.to_frame().select(pl.lit(name).alias("condition"), pl.all())
                      for name, c in components.items()])


# --------------------------------------------------------------------------- the grand mean

@dataclass(frozen=True)
class MeanEstimate:
    """The grand mean (mean of outermost-unit means) with its interval and method."""

    estimate: float
    low: float
    high: float
    confidence_level: float
    method: str
    units: int


def _tree(values: pl.DataFrame, names: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    """Children counts per unit, level by level (values sorted by the level columns),
    and the innermost values: unit u of level i has counts[i][u] children, contiguous,
    starting at offsets (cumulative counts) in level i+1."""
    counts = []
    for i in range(len(names) - 1):
        children = values.select(names[:i + 2]).unique(maintain_order=True)
        counts.append(children.group_by(names[:i + 1], maintain_order=True).len()["len"].to_numpy().astype(np.int64))
    return counts, values["value"].to_numpy().astype(float)


def hierarchical_bootstrap(values: pl.DataFrame, design: Design, *, n_resamples: int = N_RESAMPLES,
                           rng: np.random.Generator | int | None = None, batch: int = 64) -> np.ndarray:
    """Bootstrap distribution of the grand mean, resampling every level with replacement.

    Outermost units are drawn with replacement; within each drawn unit, its children
    are drawn with replacement, and so on down to the repetitions (Kalibera & Jones
    2013, §5; Davison & Hinkley 1997, §3.8). The statistic is the mean of unit means.
    """
    names = list(design.names)
    values = values.sort(names)
    counts, y = _tree(values, names)
    offsets = [np.cumsum(c) - c for c in counts]
    rng = np.random.default_rng(DEFAULT_SEED if rng is None else rng)
    n0 = len(counts[0])
    out = np.empty(n_resamples)
    for start in range(0, n_resamples, batch):
        b = min(batch, n_resamples - start)
        sample = np.repeat(np.arange(b), n0)
        idx = rng.integers(0, n0, size=b * n0)
        w = np.full(b * n0, 1.0 / n0)
        for i in range(len(counts)):
            n = counts[i][idx]
            rep = np.repeat(np.arange(idx.size), n)
            idx = offsets[i][idx][rep] + (rng.random(rep.size) * n[rep]).astype(np.int64)
            w = (w / n)[rep]
            sample = sample[rep]
        out[start:start + b] = np.bincount(sample, weights=w * y[idx], minlength=b)
    return out


def grand_mean(values: pl.DataFrame, design: Design, *, confidence_level: float = 0.95, method: str = "bootstrap",
               n_resamples: int = N_RESAMPLES, rng: np.random.Generator | int | None = None) -> MeanEstimate:
    """The grand mean (mean of outermost-unit means) and an interval.

    Parameters
    ----------
    method : {"bootstrap", "t"}
        ``bootstrap``: percentile interval of :func:`hierarchical_bootstrap`
        (resamples every level). ``t``: Student's t on the outermost units' means
        (df = units - 1); its variance estimate is unbiased however unbalanced the
        levels below are.

    Notes
    -----
    Calibration (simulated normal two-level designs, equal components, 200 data sets,
    see tests/test_levels.py): the percentile bootstrap covers about 0.93-0.95 at 10-30
    instances but only about 0.89 at 6 instances; Student's t covers 0.95-0.98 at
    6-30. Below about 20 instances prefer ``method="t"``. (The Azure report has
    21,000+ instances per SKU.)
    """
    if not 0 < confidence_level < 1:
        raise WorkbenchError(f"`confidence_level` must be between 0 and 1, found {confidence_level!r}")
    names = list(design.names)
    top = values.sort(names)
    for i in range(len(names) - 1, 0, -1):
        top = top.group_by(names[:i], maintain_order=True).agg(pl.col("value").mean())
    means = top["value"].to_numpy()
    m = len(means)
    estimate = float(means.mean())
    if m < 2:
        raise WorkbenchError(f"an interval for the grand mean needs at least 2 units of '{names[0]}', found {m}")
    if method == "bootstrap":
        dist = hierarchical_bootstrap(values, design, n_resamples=n_resamples, rng=rng)
        alpha = 1 - confidence_level
        low, high = np.quantile(dist, [alpha / 2, 1 - alpha / 2])
        label = f"hierarchical bootstrap (every level resampled), percentile, {n_resamples} resamples"
    elif method == "t":
        half = sst.t.ppf(0.5 + confidence_level / 2, m - 1) * means.std(ddof=1) / math.sqrt(m)
        low, high = estimate - half, estimate + half
        label = f"Student's t on {m} means of '{names[0]}'"
    else:
        raise WorkbenchError(f"`method` must be one of bootstrap, t, found {method!r}")
    return MeanEstimate(estimate, float(low), float(high), confidence_level, label, m)


def condition_table(table: pl.DataFrame, design: Design, *, metric: str, confidence_level: float = 0.95,
                    n_resamples: int = N_RESAMPLES, display_factor: float = 1.0,
                    rng: np.random.Generator | int | None = None) -> pl.DataFrame:
    """Per condition: units per level, the grand mean with its hierarchical-bootstrap
    interval (times `display_factor`, e.g. 1e9 for ns), and for each level its relative
    spread (sd on the log scale, in %) and share of the variance."""
    rows = []
    for (condition,), group in table.filter(pl.col("metric") == metric).group_by("condition", maintain_order=True):
        values = level_values(group, design)
        comp = variance_components(values, design, scale="log")
        mean = grand_mean(values, design, confidence_level=confidence_level, n_resamples=n_resamples, rng=rng)
        row = {"condition": condition}
        row.update({f"{name}s": n for name, n in zip(comp.levels, comp.units)})
        row.update({"mean": mean.estimate * display_factor, "low": mean.low * display_factor,
                    "high": mean.high * display_factor})
        for name, v, share in zip(comp.levels, comp.variances, comp.shares):
            row[f"{name} sd %"] = 100 * math.sqrt(v)
            row[f"{name} share %"] = 100 * share
        rows.append(row)
    if not rows:
        raise WorkbenchError(f"no rows of metric '{metric}'")
    return pl.DataFrame(rows)


# --------------------------------------------------------------------------- planning

def optimal_repetitions(components: Components, design: Design) -> tuple[float, ...]:
    """Units of each inner level per unit above it that minimize cost for a given
    precision (Kalibera & Jones 2013, eq. 6): ``n_i = sqrt(c_{i-1}/c_i * s2_i/s2_{i-1})``,
    rounded up, at least 1; ``inf`` where the level above shows no variance (then
    repetitions are as good as new units, and their number is a matter of cost only).

    Returns one number per level below the outermost (e.g. repetitions per VM).
    """
    costs = design.costs
    if any(c is None for c in costs):
        unknown = [lv.name for lv in design.levels if lv.cost is None]
        raise WorkbenchError(f"planning needs the cost of every level; unknown: {', '.join(unknown)}")
    out = []
    v = components.variances
    for i in range(1, len(v)):
        if not math.isfinite(v[i]) or not math.isfinite(v[i - 1]):
            raise WorkbenchError(f"no estimate of the variance at level '{components.levels[i - 1]}' or "
                                 f"'{components.levels[i]}': cannot plan")
        if v[i - 1] == 0 or costs[i] == 0:
            out.append(math.inf)
        else:
            out.append(float(max(1, math.ceil(math.sqrt(costs[i - 1] / costs[i] * v[i] / v[i - 1])))))
    return tuple(out)


def mean_variance(components: Components, repetitions: Sequence[float]) -> float:
    """Variance of one outermost unit's mean with `repetitions` per level below it."""
    v = components.variances
    total, divisor = v[0], 1.0
    for i, n in enumerate(repetitions, 1):
        divisor *= n
        total += v[i] / divisor
    return total


def _power(m: int, var_a: float, var_b: float, delta: float, alpha: float) -> float:
    """Power of Welch's two-sided t test with m units per condition (noncentral t)."""
    se = math.sqrt((var_a + var_b) / m)
    df = (m - 1) * (var_a + var_b) ** 2 / (var_a ** 2 + var_b ** 2) if var_a + var_b > 0 else 2 * m - 2
    crit = sst.t.ppf(1 - alpha / 2, df)
    nc = delta / se
    return float(sst.nct.sf(crit, df, nc) + sst.nct.cdf(-crit, df, nc))


def instances_needed(var_a: float, var_b: float, delta: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Smallest number of outermost units per condition (at least 2) whose means,
    with variances `var_a` and `var_b`, detect a difference `delta` with Welch's test."""
    if delta <= 0:
        raise WorkbenchError(f"the difference to detect must be positive, found {delta!r}")
    z = sst.norm.ppf(1 - alpha / 2) + sst.norm.ppf(power)
    m = max(2, math.ceil(z ** 2 * (var_a + var_b) / delta ** 2) - 2)
    while _power(m, var_a, var_b, delta, alpha) < power:
        m += 1
    return m


@dataclass(frozen=True)
class Plan:
    """How many units per level, per condition, to detect a difference, and the cost.

    Attributes
    ----------
    levels : tuple of str
    repetitions : tuple of int
        Units of each inner level per unit above (e.g. repetitions per VM).
    instances : int
        Outermost units per condition.
    cost_per_condition, cost : float
        In the unit of the design's costs; ``cost`` for both conditions.
    change, alpha, power : float
        What the plan is for: a relative difference of `change`, two-sided at `alpha`.
    """

    levels: tuple[str, ...]
    repetitions: tuple[int, ...]
    instances: int
    cost_per_condition: float
    cost: float
    change: float
    alpha: float
    power: float

    def describe(self, a: str, b: str, *, unit: str = "s") -> str:
        """The plan in words, e.g. "To detect a 2 % difference between A and B ..."."""
        inner = ", ".join(f"{n} {name}(s) per {above}" for name, above, n in
                          zip(self.levels[1:], self.levels[:-1], self.repetitions))
        return (f"To detect a {100 * self.change:g} % difference between {a} and {b} (two-sided Welch t test on "
                f"{self.levels[0]} means, alpha = {self.alpha:g}, power = {self.power:g}): "
                f"{self.instances} {self.levels[0]}(s) per condition x {inner}; "
                f"cost {self.cost_per_condition:,.0f} {unit} per condition, {self.cost:,.0f} {unit} "
                f"({self.cost / 3600:,.1f} h) for both.")

    def to_dict(self) -> dict:
        out = {f"{self.levels[0]} per condition": self.instances}
        out.update({f"{name} per {above}": n for name, above, n in
                    zip(self.levels[1:], self.levels[:-1], self.repetitions)})
        out.update({"cost per condition": self.cost_per_condition, "cost": self.cost})
        return out


def _cost(design: Design, instances: int, repetitions: Sequence[int]) -> float:
    total, units = 0.0, instances
    total += units * design.costs[0]
    for cost, n in zip(design.costs[1:], repetitions):
        units *= n
        total += units * cost
    return total


def plan_difference(a: Components, b: Components, design: Design, *, change: float = 0.02, alpha: float = 0.05,
                    power: float = 0.8, repetitions: Sequence[int] | None = None) -> Plan:
    """Units per level to detect a relative difference `change` between two conditions.

    Parameters
    ----------
    a, b : Components
        On the log scale (a relative difference is a difference of logs:
        ln(1 + change)).
    repetitions : sequence of int, optional
        Units of each inner level per unit above; default the cost-optimal
        :func:`optimal_repetitions` of the pooled components (average of `a` and `b`),
        capped at 1000 where the optimum is unbounded.
    """
    if a.scale != "log" or b.scale != "log":
        raise WorkbenchError("plan_difference plans a relative difference: components must have scale='log'")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise WorkbenchError(f"`alpha` and `power` must be between 0 and 1, found {alpha!r}, {power!r}")
    if repetitions is None:
        pooled = Components(a.levels, tuple((x + y) / 2 for x, y in zip(a.variances, b.variances)),
                            a.units, a.mean, a.scale)
        repetitions = [int(min(n, 1000)) for n in optimal_repetitions(pooled, design)]
    repetitions = tuple(int(n) for n in repetitions)
    if len(repetitions) != len(design.levels) - 1 or any(n < 1 for n in repetitions):
        raise WorkbenchError(f"`repetitions` needs one positive count per inner level "
                             f"({', '.join(design.names[1:])}), found {list(repetitions)}")
    if any(c is None for c in design.costs):
        raise WorkbenchError("planning needs the cost of every level")
    m = instances_needed(mean_variance(a, repetitions), mean_variance(b, repetitions), math.log1p(change),
                         alpha=alpha, power=power)
    per = _cost(design, m, repetitions)
    return Plan(design.names, repetitions, m, per, 2 * per, change, alpha, power)


def plan_table(a: Components, b: Components, design: Design, *, change: float = 0.02, alpha: float = 0.05,
               power: float = 0.8, repetitions: Iterable[int] = (1, 2, 5, 10, 50)) -> pl.DataFrame:
    """Plans for a two-level design at several repetition counts and the optimum, sorted
    by cost: shows whether to add instances or repetitions."""
    if len(design.levels) != 2:
        raise WorkbenchError("plan_table compares repetition counts of a two-level design")
    best = plan_difference(a, b, design, change=change, alpha=alpha, power=power)
    plans = {n: plan_difference(a, b, design, change=change, alpha=alpha, power=power, repetitions=[n])
             for n in sorted(set(repetitions) | {best.repetitions[0]})}
    inner, outer = design.names[1], design.names[0]
    return pl.DataFrame({
        f"{inner} per {outer}": list(plans), f"{outer} per condition": [p.instances for p in plans.values()],
        "cost per condition": [p.cost_per_condition for p in plans.values()],
        "optimal": [n == best.repetitions[0] for n in plans],
    }).sort("cost per condition")


def simulate(variances: Sequence[float], counts: Sequence[int], *, names: Sequence[str] | None = None,
             mean: float = 0.0, rng: np.random.Generator | int | None = None) -> pl.DataFrame:
    """A balanced nested design with normal effects of the given `variances` per level
    (outermost first) and `counts` units per parent at each level: the level columns
    (``l0``, ``l1``, ... unless `names`) and ``value``. For checking the estimators."""
    rng = np.random.default_rng(rng)
    names = list(names or [f"l{i}" for i in range(len(counts))])
    shape = tuple(counts)
    value = np.full(shape, float(mean))
    for i, v in enumerate(variances):
        effect = rng.normal(0.0, math.sqrt(v), size=shape[:i + 1])
        value = value + effect.reshape(shape[:i + 1] + (1,) * (len(shape) - i - 1))
    index = np.indices(shape).reshape(len(shape), -1)
    return pl.DataFrame({**{n: index[i] for i, n in enumerate(names)}, "value": value.ravel()})
