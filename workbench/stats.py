"""Comparisons that hold up (DESIGN.md §9).

The thesis compared single numbers. Here a comparison is made per *cell* (a metric,
component, stage, ... given by ``by``) between each condition and the baseline:

1. **Within runs first.** The run is the unit of replication. Samples of a run (a
   time series) are summarized into one value per run: their mean, or for
   ``aggregate = best`` rows (best-of-N, as STREAM prints) the best value.
2. **Per condition:** runs, samples, median and mean of the run values, and an
   interval: Student's t interval of the mean across runs (n >= 2); with one run of
   a time series, a moving-block bootstrap of that run's mean, with the block length
   from the autocorrelation and the effective sample size reported, clearly labelled
   as within-run (it says how steady the run was, not whether a repeat agrees).
3. **Against the baseline:** ratio and difference of means with bootstrap intervals
   (``scipy.stats.bootstrap``, BCa, percentile where BCa is undefined), the effect
   sizes of :data:`EFFECT_SIZES` (Cliff's delta, Hedges' g), and a named test from
   :data:`TESTS` (Mann-Whitney U by default; Brunner-Munzel or Welch's t on request),
   Holm-corrected across all comparisons of a call. Both are registries:
   :func:`register_test` and :func:`register_effect_size` plug in more, and the CLI's
   ``--test`` choices are read from :data:`TESTS`.
4. **Refusal rule.** A two-sided exact Mann-Whitney U test on n runs per condition
   cannot give a p-value below ``2 / C(2n, n)`` whatever the data. Inference is
   made only where both conditions have at least the smallest n for which that bound
   is below alpha / m (m = comparisons in the call). Below it the verdict is
   "insufficient data", with that n, and no p-value is shown. With alpha = 0.05 and
   one comparison that is 4 runs per condition.

Computing (:func:`compare`, :func:`compare_all`) is separate from wording
(:attr:`Comparison.verdict`); the words follow the metric's
:class:`~workbench.schema.Direction` from the vocabulary, never its name. Results are
frozen dataclasses composed of small parts (:class:`Estimate`, :class:`TestResult`,
:class:`EffectSize`, :class:`Rule`, a :class:`Status`), with
``confidence_interval(confidence_level=...)`` and ``to_frame()`` (scipy's style).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import numpy as np
import polars as pl
from scipy import stats as sst

from .errors import ExcludedDataWarning, RunLabelWarning, WorkbenchError
from .schema import METRICS, Direction, Metric, display_unit
from .schema import metric as vocabulary

#: Columns that define a comparison cell unless the caller says otherwise. Scope and
#: guest are not in it, so a KVM guest is compared with a native host; where one
#: condition mixes several scopes or guests in a cell (host and guest memory of a
#: XenServer), ``by=None`` adds them (:data:`SPLIT_BY`), an explicit ``by`` is refused.
DEFAULT_BY = ("metric", "component", "stage", "aggregate", "interval")
SPLIT_BY = ("scope", "guest")
DEFAULT_SEED = 20150902  # the thesis's date: bootstrap results are reproducible run to run
N_RESAMPLES = 9999


class FlaggedRowsWarning(ExcludedDataWarning):
    """Rows flagged as disturbed were left out of a comparison."""


class ConfidenceInterval(NamedTuple):
    low: float
    high: float


# --------------------------------------------------------------------------- registries


@dataclass(frozen=True)
class TwoSampleTest:
    """A two-sample test of the registry (:func:`register_test`).

    ``function(baseline, treatment)`` takes the run values of both conditions (the
    order of every callable here) and returns an object with ``statistic`` and ``pvalue`` (any ``scipy.stats`` test
    result) or a ``(statistic, pvalue)`` pair. A non-finite p-value means "undefined
    for these data": the comparison then reports :data:`FALLBACK_TEST` and says so.
    """

    name: str
    function: Callable[[np.ndarray, np.ndarray], Any]
    display: str  #: as the verdict names it, "Mann-Whitney U (two-sided)"
    tests: str  #: what it tests (its null hypothesis), for documentation and help


@dataclass(frozen=True)
class EffectSizeMethod:
    """An effect size of the registry (:func:`register_effect_size`):
    ``function(baseline, treatment) -> float`` on the run values."""

    name: str
    function: Callable[[np.ndarray, np.ndarray], float]
    display: str
    measures: str


#: Two-sample tests by name (papermill's small registry); the CLI's ``--test`` choices.
TESTS: dict[str, TwoSampleTest] = {}
#: Effect sizes by name, each reported as a column of :meth:`Comparison.to_frame`.
EFFECT_SIZES: dict[str, EffectSizeMethod] = {}
#: Always defined on runs of two conditions: reported where the requested test is not.
FALLBACK_TEST = "mannwhitneyu"


def register_test(name: str, function: Callable[[np.ndarray, np.ndarray], Any], *, display: str,
                  tests: str) -> TwoSampleTest:
    """Register a two-sample test under `name` (replacing one of that name).

    Parameters
    ----------
    name : str
        The key ``compare_all(test=...)`` and ``workbench compare --test`` accept.
    function : callable
        ``function(baseline, treatment)`` -> an object with ``statistic`` and
        ``pvalue``, or a ``(statistic, pvalue)`` pair; two-sided.
    display : str
        How verdicts and the ``test`` column name it.
    tests : str
        What it tests, in words.
    """
    entry = TwoSampleTest(name, function, display, tests)
    TESTS[name] = entry
    return entry


def register_effect_size(name: str, function: Callable[[np.ndarray, np.ndarray], float], *, display: str,
                         measures: str) -> EffectSizeMethod:
    """Register an effect size under `name` (its column in :meth:`Comparison.to_frame`);
    ``function(baseline, treatment) -> float``."""
    taken = (*DEFAULT_BY, *SPLIT_BY, *_FRAME_COLUMNS)
    if name in taken:
        raise WorkbenchError(f"effect size name {name!r} is a column of Comparison.to_frame already; "
                             f"choose another (taken: {', '.join(taken)})")
    entry = EffectSizeMethod(name, function, display, measures)
    EFFECT_SIZES[name] = entry
    return entry


def _run_test(name: str, x: np.ndarray, y: np.ndarray) -> TestResult:
    """Run test `name` on treatment `y` against baseline `x`; fall back to
    :data:`FALLBACK_TEST` (and say so) where it is undefined for these data."""
    chosen = TESTS[name]
    stat, p = _call_test(chosen, x, y)
    if math.isfinite(p) or name == FALLBACK_TEST:
        return TestResult(name, chosen.display, stat, p)
    # Undefined when the groups do not overlap (Brunner-Munzel) or have no spread
    # (Welch): never read that as "not significant"; Mann-Whitney U is defined.
    fallback = TESTS[FALLBACK_TEST]
    stat, p = _call_test(fallback, x, y)
    return TestResult(FALLBACK_TEST, f"{fallback.display}; {chosen.display} is undefined for these data", stat, p)


def _call_test(test: TwoSampleTest, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    with warnings.catch_warnings():  # an undefined test is handled by the caller, not warned about
        warnings.simplefilter("ignore", RuntimeWarning)
        res = test.function(x, y)
    try:
        stat, p = (res.statistic, res.pvalue) if hasattr(res, "pvalue") else res
        return float(stat), float(p)
    except (TypeError, ValueError):
        raise WorkbenchError(f"two-sample test {test.name!r} must return an object with `statistic` and "
                             f"`pvalue` or a (statistic, pvalue) pair; it returned {res!r}") from None


# --------------------------------------------------------------------------- wording by direction


def _predicate(spec: Metric, change: float, amount: str) -> str:
    """"is 12.0 % slower", "uses 2.5 points more", "is 3.0 % higher"."""
    if spec.direction is Direction.USAGE:
        return f"uses {amount} {'more' if change > 0 else 'less'}"
    if spec.direction is Direction.NEUTRAL:
        return f"is {amount} {'higher' if change > 0 else 'lower'}"
    return f"is {amount} {_phrase(spec, change)}"


def _phrase(spec: Metric, change: float) -> str:
    if spec.direction is Direction.USAGE:
        return "uses more" if change > 0 else "uses less"
    if spec.direction is Direction.NEUTRAL:
        return "is higher" if change > 0 else "is lower"
    faster = (change > 0) == (spec.direction is Direction.HIGHER)
    return "faster" if faster else "slower"


# --------------------------------------------------------------------------- rules


def runs_needed(alpha: float = 0.05, comparisons: int = 1) -> int:
    """Smallest n runs per condition at which an exact two-sided Mann-Whitney U test
    can reach p < alpha / comparisons (its smallest p-value is 2 / C(2n, n))."""
    if not 0 < alpha < 1:
        raise WorkbenchError(f"`alpha` must be in (0, 1), found {alpha}")
    n = 2
    while 2 / math.comb(2 * n, n) >= alpha / max(comparisons, 1):
        n += 1
    return n


def rule_text(alpha: float, comparisons: int) -> str:
    k = runs_needed(alpha, comparisons)
    return (f"with fewer than {k} runs per condition an exact two-sided Mann-Whitney U test cannot reach "
            f"p < {alpha:g}/{comparisons} (smallest possible p = 2/C({2 * (k - 1)},{k - 1}) = "
            f"{2 / math.comb(2 * (k - 1), k - 1):.3g})")


# --------------------------------------------------------------------------- within-run summaries


def run_values(table: pl.DataFrame, by: Sequence[str] = DEFAULT_BY) -> pl.DataFrame:
    """One value per cell x condition x run: the mean of the run's samples, or its
    best for ``aggregate = best`` (max where higher is better, else min).

    Columns: ``by``, condition, scope, guest, run, value, samples, series (True when
    the run is a time series of more than one timed sample).
    """
    missing = [c for c in by if c not in table.columns]
    if missing:
        raise WorkbenchError(f"`by` names unknown column(s) {missing}; columns: {', '.join(table.columns)}")
    # Best of N is the largest value where the vocabulary says higher is better.
    higher = pl.col("metric").is_in([n for n, m in METRICS.items() if m.direction is Direction.HIGHER])
    data = table.filter(pl.col("value").is_not_nan()).with_columns(_higher=higher)
    keys = [*by, "condition", "run"]
    merged = data.group_by(keys).agg(pl.col("source_file").n_unique().alias("files"),
                                     pl.col("source_file").unique().sort().alias("names"))
    merged = merged.filter(pl.col("files") > 1)
    if merged.height:
        row = merged.row(0, named=True)
        warnings.warn(f"{row['metric']}: run {row['run']} of condition '{row['condition']}' combines rows of "
                      f"{row['files']} files "
                      f"({', '.join(row['names'][:3])}): runs are numbered within each file, so these are merged "
                      "into one run; give each input its own run numbers (e.g. run = N in the manifest)",
                      RunLabelWarning, stacklevel=3)
    best = (pl.when(pl.col("_higher").first()).then(pl.col("value").max()).otherwise(pl.col("value").min()))
    return (data.group_by(keys, maintain_order=True)
            .agg(value=pl.when(pl.col("aggregate").first() == "best").then(best).otherwise(pl.col("value").mean()),
                 samples=pl.len(),
                 series=(pl.col("time").is_not_null().sum() > 1),
                 scopes=pl.col("scope").unique().sort(),
                 guests=pl.col("guest").unique().sort()))


# --------------------------------------------------------------------------- time series helpers


def effective_sample_size(x: np.ndarray) -> float:
    """n / (1 + 2 sum of autocorrelations), summed up to the first non-positive lag
    (Geyer's initial positive sequence, simplified); statsmodels computes the ACF."""
    from statsmodels.tsa.stattools import acf

    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 4 or np.allclose(x, x[0]):
        return float(n)
    rho = acf(x, nlags=min(n - 1, 200), fft=True)[1:]
    cut = np.argmax(rho <= 0) if np.any(rho <= 0) else rho.size
    return float(n / max(1.0 + 2.0 * rho[:cut].sum(), 1.0))


def block_length(x: np.ndarray) -> int:
    """Block length for a moving-block bootstrap of the mean from the lag-1
    autocorrelation: b = (2 rho / (1 - rho^2))^(2/3) n^(1/3), the AR(1) plug-in
    rule (Politis & White 2004, Buhlmann & Kunsch 1999); at least 1."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 4 or np.allclose(x, x[0]):
        return 1
    rho = float(np.corrcoef(x[:-1], x[1:])[0, 1])
    rho = min(max(rho, 0.0), 0.99)
    return max(1, min(n // 2, math.ceil((2 * rho / (1 - rho * rho)) ** (2 / 3) * n ** (1 / 3))))


def block_bootstrap_means(x: np.ndarray, *, n_resamples: int = N_RESAMPLES, block: int | None = None,
                          max_blocks: int = 10_000, rng: np.random.Generator | None = None) -> np.ndarray:
    """Bootstrap distribution of the mean of a time series by circular moving blocks.

    Blocks are at least ``n / max_blocks`` long: for a mean, longer blocks than the
    autocorrelation needs stay valid (slightly conservative) and keep a million-sample
    series to 10 000 block means, which is what makes 10 000 resamples cheap.
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    rng = rng or np.random.default_rng(DEFAULT_SEED)
    b = max(block or block_length(x), math.ceil(n / max_blocks))
    # Circular blocks: block i covers x[i : i + b] wrapping around; its mean from a cumsum.
    wrapped = np.concatenate([x, x[: b - 1]])
    csum = np.concatenate([[0.0], np.cumsum(wrapped)])
    starts = np.arange(0, n, b) if b > 1 and n // b >= max_blocks // 2 else np.arange(n)
    means = (csum[starts + b] - csum[starts]) / b
    k = math.ceil(n / b)  # blocks per resample
    out = np.empty(n_resamples)
    chunk = max(1, 20_000_000 // k)
    for lo in range(0, n_resamples, chunk):
        hi = min(n_resamples, lo + chunk)
        idx = rng.integers(0, means.size, size=(hi - lo, k))
        out[lo:hi] = means[idx].mean(axis=1)
    return out


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Summary:
    """One condition in one cell: its runs and an interval for its mean.

    ``interval_method`` names how ``low``/``high`` were computed; ``None`` values
    mean no interval can be computed (one run, one sample).
    """

    condition: str
    runs: int
    samples: int
    median: float
    mean: float
    low: float | None
    high: float | None
    interval_method: str | None
    ess: float | None = None  #: effective sample size of a single-run time series
    values: tuple[float, ...] = field(default=(), repr=False)  #: run values (or the series)
    steal: float | None = None  #: median cpu_steal, for CPU comparisons in guests


class Status(str, Enum):
    """What a comparison could say (its value is the ``status`` column of :meth:`Comparison.to_frame`)."""

    TESTED = "tested"  #: enough runs: interval over runs and a test
    INSUFFICIENT_DATA = "insufficient data"  #: too few runs for the rule: descriptive only
    WITHIN_RUN_ONLY = "within-run only"  #: one time series each: within-run intervals, no test


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval at `confidence_level`, and how it was computed.

    ``low``/``high``/``method`` are None where no interval exists (insufficient
    data; a ratio against a zero baseline)."""

    value: float
    confidence_level: float
    low: float | None = None
    high: float | None = None
    method: str | None = None

    @property
    def interval(self) -> ConfidenceInterval | None:
        return None if self.low is None else ConfidenceInterval(self.low, self.high)


@dataclass(frozen=True)
class TestResult:
    """A two-sample test's outcome. `name` is the registry key of the test that gave
    the p-value; `label` names it as reported (with a note where the requested test
    was undefined and :data:`FALLBACK_TEST` was used)."""

    __test__ = False  # not a pytest test class

    name: str
    label: str
    statistic: float
    pvalue: float
    pvalue_holm: float | None = None  #: Holm-adjusted over all tested comparisons of the call


@dataclass(frozen=True)
class EffectSize:
    """One effect size of :data:`EFFECT_SIZES`, of the treatment against the baseline."""

    name: str
    value: float


@dataclass(frozen=True)
class Rule:
    """The refusal rule a comparison was judged by: `alpha` over `comparisons` (Holm),
    hence at least `runs_needed` runs per condition (:func:`runs_needed`)."""

    alpha: float
    comparisons: int
    runs_needed: int

    def text(self) -> str:
        return rule_text(self.alpha, self.comparisons)


@dataclass(frozen=True)
class Comparison:
    """A condition against the baseline in one cell.

    Composed of small parts (scipy's style): ``ratio`` and ``difference`` are
    :class:`Estimate` s of the means (treatment / baseline, treatment - baseline,
    canonical units); ``test`` is the :class:`TestResult`, None whenever inference
    is refused (``status`` is not :attr:`Status.TESTED`), as are ``effect_sizes``.
    """

    cell: tuple[tuple[str, object], ...]
    metric: str
    unit: str  #: canonical unit; the native unit for a metric outside the vocabulary
    baseline: Summary
    treatment: Summary
    status: Status
    ratio: Estimate
    difference: Estimate
    rule: Rule
    test: TestResult | None = None
    effect_sizes: tuple[EffectSize, ...] = ()
    detectable_change: float | None = None  #: relative change detectable with 80 % power
    random_state: int = DEFAULT_SEED

    @property
    def confidence_level(self) -> float:
        return self.ratio.confidence_level

    @property
    def significant(self) -> bool:
        return (self.test is not None and self.test.pvalue_holm is not None
                and self.test.pvalue_holm < self.rule.alpha)

    @property
    def verdict(self) -> str:
        """The comparison in words (computing and wording are kept apart)."""
        return _verdict(self)

    def effect_size(self, name: str) -> float | None:
        """The value of effect size `name` (a key of :data:`EFFECT_SIZES`), None if not computed."""
        return next((e.value for e in self.effect_sizes if e.name == name), None)

    def confidence_interval(self, confidence_level: float = 0.95) -> ConfidenceInterval | None:
        """Interval of the ratio of means at another level, recomputed the way the
        stored one was (bootstrap over runs, or block bootstraps within runs); None
        where no interval exists (insufficient data, zero baseline)."""
        (low, high), _ = _intervals(self, confidence_level)
        return None if low is None else ConfidenceInterval(low, high)

    def to_frame(self) -> pl.DataFrame:
        """One row with everything a report shows (the columns of ``workbench compare``)."""
        row = dict(self.cell)
        shown, factor = display_unit(self.metric, self.unit)
        d = self.difference
        test = self.test
        row.update(
            baseline=self.baseline.condition, condition=self.treatment.condition,
            baseline_runs=self.baseline.runs, runs=self.treatment.runs,
            baseline_mean=self.baseline.mean * factor, mean=self.treatment.mean * factor,
            display_unit=shown, ratio=self.ratio.value, ratio_low=self.ratio.low, ratio_high=self.ratio.high,
            difference=d.value * factor,
            difference_low=None if d.low is None else d.low * factor,
            difference_high=None if d.high is None else d.high * factor,
            interval_method=self.ratio.method,
            **{name: self.effect_size(name) for name in EFFECT_SIZES},
            test=None if test is None else test.label, pvalue=None if test is None else test.pvalue,
            pvalue_holm=None if test is None else test.pvalue_holm, status=self.status.value,
            runs_needed=self.rule.runs_needed, verdict=self.verdict)
        types = {**_FRAME_TYPES, **{name: pl.Float64 for name in EFFECT_SIZES}}
        return pl.DataFrame([row], schema_overrides=types, strict=False)


#: Columns of Comparison.to_frame besides the cell's and the effect sizes'.
_FRAME_COLUMNS = ("baseline", "condition", "baseline_runs", "runs", "baseline_mean", "mean", "display_unit", "ratio",
                  "ratio_low", "ratio_high", "difference", "difference_low", "difference_high", "interval_method",
                  "test", "pvalue", "pvalue_holm", "status", "runs_needed", "verdict")
_FRAME_TYPES = {k: pl.Float64 for k in (
    "baseline_mean", "mean", "ratio", "ratio_low", "ratio_high", "difference", "difference_low",
    "difference_high", "pvalue", "pvalue_holm")}


@dataclass(frozen=True)
class ComparisonSet:
    """All comparisons of :func:`compare_all`, Holm-corrected together."""

    comparisons: tuple[Comparison, ...]
    summaries: pl.DataFrame = field(repr=False)
    baseline: str
    by: tuple[str, ...]
    alpha: float

    def __iter__(self):
        return iter(self.comparisons)

    def __len__(self) -> int:
        return len(self.comparisons)

    def to_frame(self) -> pl.DataFrame:
        if not self.comparisons:
            return pl.DataFrame()
        return pl.concat([c.to_frame() for c in self.comparisons], how="diagonal_relaxed")

    def verdicts(self) -> list[str]:
        return [f"{_cell_label(c.cell)}: {c.verdict}" for c in self.comparisons]

    def plan(self, *, change: float = 0.05, power: float = 0.8) -> pl.DataFrame:
        """Runs per condition each comparison would need to detect a relative `change`
        with `power` (Holm: alpha divided by the number of comparisons), using the
        baseline's runs as the pilot; ``None`` where the pilot has fewer than 2 runs."""
        rows = []
        for c in self.comparisons:
            pilot = c.baseline.values if c.baseline.runs >= 2 else ()
            p = plan(pilot, change=change, power=power, alpha=self.alpha,
                     comparisons=c.rule.comparisons) if len(pilot) >= 2 else None
            rows.append({**{k: v for k, v in c.cell}, "condition": c.treatment.condition,
                         "pilot_runs": c.baseline.runs, "runs_have": min(c.baseline.runs, c.treatment.runs),
                         "runs_needed": None if p is None else p.runs_per_condition,
                         "note": p.describe() if p else f"pilot of {c.baseline.runs} run(s): at least 2 are "
                                                         "needed to estimate the spread"})
        return pl.DataFrame(rows, strict=False)

    def to_markdown(self) -> str:
        """The verdicts as a Markdown list; labels from input files are HTML-escaped
        (Markdown passes raw HTML through)."""
        import html

        if not self.comparisons:
            return f"*No cell has both {html.escape(self.baseline)} and another condition.*"
        return "\n".join(f"- **{html.escape(_cell_label(c.cell))}**: {html.escape(c.verdict)}"
                         for c in self.comparisons)


# --------------------------------------------------------------------------- computing


def summarize(table: pl.DataFrame, *, by: Sequence[str] = DEFAULT_BY, confidence_level: float = 0.95
              ) -> pl.DataFrame:
    """Per cell and condition: runs, samples, median, mean and an interval (display units)."""
    return _summary_frame(_summaries(run_values(table, by), table, by, confidence_level), by, _units(table))


def _summaries(values: pl.DataFrame, table: pl.DataFrame, by: Sequence[str], confidence_level: float
               ) -> dict[tuple, Summary]:
    """``{(cell key, condition): Summary}`` for every cell and condition of `values`."""
    out = {}
    for key, group in values.group_by([*by, "condition"], maintain_order=True):
        cell = tuple(zip(by, key[:-1]))
        out[(cell, key[-1])] = _summary(group, table, dict(cell), by, confidence_level)
    return out


def _summary_frame(summaries: dict[tuple, Summary], by: Sequence[str], units: dict[str, str]) -> pl.DataFrame:
    rows = []
    for (cell, condition), s in summaries.items():
        name = str(dict(cell).get("metric", ""))
        shown, factor = display_unit(name, units.get(name))
        rows.append({**dict(cell), "condition": condition, "runs": s.runs, "samples": s.samples,
                     "median": s.median * factor, "mean": s.mean * factor,
                     "low": None if s.low is None else s.low * factor,
                     "high": None if s.high is None else s.high * factor,
                     "display_unit": shown, "interval_method": s.interval_method, "ess": s.ess})
    return pl.DataFrame(rows, strict=False)


def compare(table: pl.DataFrame, metric: str, *, baseline: str, condition: str | None = None,
            by: Sequence[str] | None = None, confidence_level: float = 0.95, alpha: float = 0.05,
            test: str = "mannwhitneyu", random_state: int = DEFAULT_SEED, **cell: object) -> Comparison:
    """Compare one condition with the baseline for one metric (and one cell).

    Extra keywords select the cell (``component="memory", stage="16 threads"``); the
    selection must leave exactly one cell and one non-baseline condition (or name
    it with `condition`).
    """
    data = table  # not filtered by metric: cpu_steal rows are reported next to cpu_util
    for col, value in cell.items():
        if col not in table.columns:
            raise WorkbenchError(f"unknown column `{col}`; columns: {', '.join(table.columns)}")
        data = data.filter(pl.col(col).is_null() if value is None else pl.col(col) == value)
    if condition is not None:
        data = data.filter(pl.col("condition").is_in([baseline, condition]))
    result = compare_all(data, baseline=baseline, metrics=[metric], by=by, confidence_level=confidence_level,
                         alpha=alpha, test=test, random_state=random_state)
    if len(result) != 1:
        cells = sorted({_cell_label(c.cell) + " / " + c.treatment.condition for c in result})
        raise WorkbenchError(f"`compare` needs exactly one cell and condition, found {len(result)}: "
                             f"{'; '.join(cells) or 'none'}; select with keywords or use compare_all")
    return result.comparisons[0]


def compare_all(table: pl.DataFrame, *, baseline: str, metrics: Iterable[str] | None = None,
                by: Sequence[str] | None = None, confidence_level: float = 0.95, alpha: float = 0.05,
                test: str = "mannwhitneyu", random_state: int = DEFAULT_SEED,
                include_flagged: bool = False) -> ComparisonSet:
    """Compare every condition with `baseline` in every cell; Holm across all of them.

    Rows whose ``flag`` says their measurement was disturbed (the interference
    guards or sanity checks of the probe and the runner) are left out, with a
    warning naming the runs, unless `include_flagged`.

    Parameters
    ----------
    table : polars.DataFrame
        A measurement table (validated).
    baseline : str
        The reference condition.
    metrics : iterable of str, optional
        Restrict to these metrics. ``cpu_steal`` rows are always used to report steal
        next to guest CPU utilization.
    by : sequence of str, optional
        Columns defining a cell. Default: :data:`DEFAULT_BY`, plus ``scope`` and
        ``guest`` when some condition mixes several of them in a cell.
    confidence_level, alpha : float
        For intervals, and the family-wise error rate (Holm).
    test : str
        The two-sample test: a key of :data:`TESTS` ("mannwhitneyu", "brunnermunzel",
        "welch", or one added with :func:`register_test`).
    """
    if test not in TESTS:
        raise WorkbenchError(f"`test` must be one of {', '.join(TESTS)}, found {test!r}")
    if not 0 < confidence_level < 1:
        raise WorkbenchError(f"`confidence_level` must be in (0, 1), found {confidence_level}")
    auto = by is None
    by = DEFAULT_BY if by is None else tuple(by)
    if "metric" not in by:
        raise WorkbenchError("`by` must include 'metric'")
    for col in ("condition", "run"):
        if col in by:
            raise WorkbenchError(f"`by` cannot include '{col}': conditions are compared, runs are replicates")
    # Resolutions and aggregates are never mixed in one comparison (DESIGN.md §3).
    by = (*by, *(c for c in ("aggregate", "interval") if c not in by))
    if not include_flagged and "flag" in table.columns and table["flag"].null_count() < table.height:
        flagged = table.filter(pl.col("flag").is_not_null())
        runs = flagged.select("condition", "run").unique().sort("condition", "run")
        shown = ", ".join(f"{c} run {r}" for c, r in runs.head(8).iter_rows()) + (", ..." if runs.height > 8 else "")
        warnings.warn(f"{flagged.height} row(s) of {runs.height} disturbed run(s) left out ({shown}): their "
                      "measurement was flagged by the interference guards or sanity checks (column 'flag'); "
                      "include_flagged=True (--include-flagged) keeps them", FlaggedRowsWarning, stacklevel=2)
        before = set(table["condition"].unique().to_list())
        table = table.filter(pl.col("flag").is_null())
        if baseline in before and table.filter(pl.col("condition") == baseline).is_empty():
            raise WorkbenchError(f"every run of baseline {baseline!r} was flagged as disturbed (column 'flag'): "
                                 "no undisturbed data to compare; measure again, or include_flagged=True "
                                 "(--include-flagged) to compare the disturbed runs anyway")
    conditions = table["condition"].unique().to_list()
    if baseline not in conditions:
        raise WorkbenchError(f"baseline {baseline!r} has no rows; conditions: {', '.join(sorted(conditions))}")
    data = table if metrics is None else table.filter(pl.col("metric").is_in(list(metrics)))
    values = run_values(data, by)
    if auto and _mixed(values, by) is not None:
        by = (*by, *SPLIT_BY)
        values = run_values(data, by)
    if (row := _mixed(values, by)) is not None:
        where = ", ".join(f"{k}={row[k]}" for k in (*by, "condition"))
        raise WorkbenchError(f"cell ({where}) mixes several scopes or guests in one condition; add 'scope' "
                             "and/or 'guest' to `by`, or filter the table first")

    # Each condition of each cell is summarized once, for the comparisons and the summary table.
    summaries = _summaries(values, table, by, confidence_level)
    pending = []
    for (cell_key, condition), base in summaries.items():
        if condition != baseline:
            continue
        pending += [(cell_key, base, treat) for (key, other), treat in summaries.items()
                    if key == cell_key and other != baseline]

    m = max(1, sum(1 for _, b, t in pending if min(b.runs, t.runs) >= 2))
    rule = Rule(alpha, m, runs_needed(alpha, m))
    units = _units(data)
    done = [_compare_pair(cell_key, b, t, unit=units.get(str(dict(cell_key)["metric"]), ""),
                          confidence_level=confidence_level, rule=rule, test=test, random_state=random_state)
            for cell_key, b, t in pending]
    tested = [i for i, c in enumerate(done) if c.status is Status.TESTED]
    if tested:
        from statsmodels.stats.multitest import multipletests
        holm = multipletests([done[i].test.pvalue for i in tested], alpha=alpha, method="holm")[1]
        for i, p in zip(tested, holm):
            done[i] = replace(done[i], test=replace(done[i].test, pvalue_holm=float(p)))
    return ComparisonSet(tuple(done), _summary_frame(summaries, by, units), baseline, by, alpha)


def _units(table: pl.DataFrame) -> dict[str, str]:
    """Metric -> unit as the table holds it (the native unit of a metric outside the vocabulary)."""
    return dict(table.select("metric", "unit").unique(subset="metric", keep="first").iter_rows())


def _mixed(values: pl.DataFrame, by: Sequence[str]) -> dict | None:
    """The first cell x condition whose runs mix several scopes or guests, or None."""
    mixed = (values.group_by([*by, "condition"], maintain_order=True)
             .agg(pl.col("scopes").explode().unique().len().alias("ns"),
                  pl.col("guests").explode().unique().len().alias("ng"))
             .filter((pl.col("ns") > 1) | (pl.col("ng") > 1)))
    return mixed.row(0, named=True) if mixed.height else None


def _summary(group: pl.DataFrame, table: pl.DataFrame, cell: dict, by: Sequence[str],
             confidence_level: float) -> Summary:
    condition = group["condition"][0]
    vals = group["value"].to_numpy().astype(float)
    runs, samples = len(vals), int(group["samples"].sum())
    low = high = ess = None
    method = None
    series_values: np.ndarray | None = None
    if runs >= 2:
        mean, sd = vals.mean(), vals.std(ddof=1)
        half = sst.t.ppf(0.5 + confidence_level / 2, runs - 1) * sd / math.sqrt(runs)
        low, high, method = mean - half, mean + half, "t interval of the mean across runs"
    elif bool(group["series"][0]) and samples >= 8:
        series_values = _series(table, cell, by, condition, int(group["run"][0]))
        boot = block_bootstrap_means(series_values)
        a = (1 - confidence_level) / 2
        low, high = (float(q) for q in np.quantile(boot, [a, 1 - a]))
        ess = effective_sample_size(series_values)
        method = (f"within one run: moving-block bootstrap of the mean (block {block_length(series_values)}, "
                  f"effective sample size {ess:.0f} of {samples})")
    steal = None
    if cell.get("metric") == "cpu_util" and "guest" in group["scopes"].explode().to_list():
        st = table.filter((pl.col("metric") == "cpu_steal") & (pl.col("condition") == condition))
        for col in by:
            if col != "metric" and col in cell:
                st = st.filter(pl.col(col).is_null() if cell[col] is None else pl.col(col) == cell[col])
        steal = float(st["value"].median()) if st.height else float("nan")
    values = tuple(series_values.tolist()) if series_values is not None else tuple(vals.tolist())
    return Summary(condition, runs, samples, float(np.median(vals)), float(vals.mean()), low, high, method,
                   ess, values, steal)


def _series(table: pl.DataFrame, cell: dict, by: Sequence[str], condition: str, run: int) -> np.ndarray:
    sel = table.filter((pl.col("condition") == condition) & (pl.col("run") == run) & pl.col("value").is_not_nan())
    for col in by:
        sel = sel.filter(pl.col(col).is_null() if cell[col] is None else pl.col(col) == cell[col])
    return sel.sort("time")["value"].to_numpy().astype(float)


def _compare_pair(cell, base: Summary, treat: Summary, *, unit: str, confidence_level: float, rule: Rule,
                  test: str, random_state: int) -> Comparison:
    metric = str(dict(cell)["metric"])
    # A zero baseline (steal on bare metal) has no ratio: the difference carries it.
    ratio = treat.mean / base.mean if base.mean else float("nan")
    c = Comparison(cell=cell, metric=metric, unit=unit, baseline=base, treatment=treat,
                   status=Status.INSUFFICIENT_DATA, ratio=Estimate(ratio, confidence_level),
                   difference=Estimate(treat.mean - base.mean, confidence_level), rule=rule,
                   random_state=random_state)
    if base.runs == 1 and treat.runs == 1:
        if base.ess is not None and treat.ess is not None:
            # Two single-run time series: intervals from independent block bootstraps
            # of each run; labelled within-run, no p-value.
            return _with_intervals(replace(c, status=Status.WITHIN_RUN_ONLY),
                                   "within-run moving-block bootstrap (one run each)")
        return c
    if min(base.runs, treat.runs) < rule.runs_needed:
        return c

    x, y = np.array(base.values), np.array(treat.values)
    c = _with_intervals(replace(c, status=Status.TESTED), f"bootstrap over runs (BCa, {N_RESAMPLES} resamples)")
    return replace(c, test=_run_test(test, x, y),
                   effect_sizes=tuple(EffectSize(name, float(e.function(x, y))) for name, e in EFFECT_SIZES.items()),
                   detectable_change=detectable_change(x, y, alpha=rule.alpha / rule.comparisons))


def _with_intervals(c: Comparison, method: str) -> Comparison:
    (r_low, r_high), (d_low, d_high) = _intervals(c, c.confidence_level)
    return replace(c, ratio=replace(c.ratio, low=r_low, high=r_high, method=method),
                   difference=replace(c.difference, low=d_low, high=d_high, method=method))


def _intervals(c: Comparison, confidence_level: float) -> tuple[tuple, tuple]:
    """``((ratio_low, ratio_high), (difference_low, difference_high))`` of `c`, from a
    generator seeded by ``c.random_state`` alone, so that recomputing at the same level
    gives the stored interval. ``None`` ends where no interval exists."""
    rng = np.random.default_rng(c.random_state)
    x, y = np.array(c.baseline.values), np.array(c.treatment.values)
    ratio_ok = c.baseline.mean != 0
    if c.status is Status.WITHIN_RUN_ONLY:
        a = (1 - confidence_level) / 2
        bx, by = block_bootstrap_means(x, rng=rng), block_bootstrap_means(y, rng=rng)
        d = by - bx
        diff = tuple(float(q) for q in np.quantile(d, [a, 1 - a]))
        if not ratio_ok:
            return (None, None), diff
        return tuple(float(q) for q in np.quantile(by / bx, [a, 1 - a])), diff
    if c.status is not Status.TESTED:
        return (None, None), (None, None)
    ratio = (_bootstrap(x, y, lambda a, b, axis: b.mean(axis=axis) / a.mean(axis=axis), confidence_level, rng)
             if ratio_ok else (None, None))
    diff = _bootstrap(x, y, lambda a, b, axis: b.mean(axis=axis) - a.mean(axis=axis), confidence_level, rng)
    return ratio, diff


def _bootstrap(x, y, statistic, confidence_level, rng):
    if np.ptp(np.concatenate([x, y])) == 0:
        value = float(statistic(x, y, axis=0))
        return value, value
    res = sst.bootstrap((x, y), statistic, n_resamples=N_RESAMPLES, confidence_level=confidence_level,
                        method="BCa", rng=rng, vectorized=True)
    low, high = res.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):
        res = sst.bootstrap((x, y), statistic, n_resamples=N_RESAMPLES, confidence_level=confidence_level,
                            method="percentile", rng=rng, vectorized=True)
        low, high = res.confidence_interval
    return float(low), float(high)


def _pooled_sd(x: np.ndarray, y: np.ndarray) -> float:
    nx, ny = len(x), len(y)
    return math.sqrt(((nx - 1) * np.var(x, ddof=1) + (ny - 1) * np.var(y, ddof=1)) / (nx + ny - 2))


def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    """Hedges' g of y against x: Cohen's d with the pooled SD, times the small-sample
    correction J = 1 - 3 / (4 (n_x + n_y) - 9)."""
    pooled = _pooled_sd(x, y)
    if pooled == 0:
        return 0.0 if np.mean(y) == np.mean(x) else math.copysign(math.inf, np.mean(y) - np.mean(x))
    return float((np.mean(y) - np.mean(x)) / pooled * (1 - 3 / (4 * (len(x) + len(y)) - 9)))


def cliffs_delta(x: np.ndarray, y: np.ndarray) -> float:
    """Cliff's delta of y against x: P(Y > X) - P(Y < X), as 2 U / (n_x n_y) - 1 with
    U the Mann-Whitney statistic of y (ties count half)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    u = (y[:, None] > x).sum() + 0.5 * (y[:, None] == x).sum()
    return float(2 * u / (x.size * y.size) - 1)


register_test("mannwhitneyu", lambda x, y: sst.mannwhitneyu(y, x, alternative="two-sided"),
              display="Mann-Whitney U (two-sided)",
              tests="stochastic equality of the run values, P(Y > X) = P(Y < X) (exact for small samples)")
register_test("brunnermunzel", lambda x, y: sst.brunnermunzel(y, x, alternative="two-sided"),
              display="Brunner-Munzel (two-sided)",
              tests="stochastic equality, P(Y > X) = P(Y < X), without assuming equal spreads")
register_test("welch", lambda x, y: sst.ttest_ind(y, x, equal_var=False), display="Welch's t (two-sided)",
              tests="equal means, without assuming equal variances")
register_effect_size("cliffs_delta", cliffs_delta, display="Cliff's delta",
                     measures="P(treatment > baseline) - P(treatment < baseline), from -1 to 1")
register_effect_size("hedges_g", hedges_g, display="Hedges' g",
                     measures="difference of means in pooled standard deviations, small-sample corrected")


def detectable_change(x: np.ndarray, y: np.ndarray, *, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """Relative change of the mean a two-sample t test on these run counts and this
    spread detects with `power` (statsmodels' TTestIndPower), as a fraction of the
    baseline mean."""
    from statsmodels.stats.power import TTestIndPower

    nx, ny = len(x), len(y)
    pooled = _pooled_sd(x, y)
    if pooled == 0 or np.mean(x) == 0:
        return None  # no spread, or no baseline to be relative to: nothing to say
    d = TTestIndPower().solve_power(effect_size=None, nobs1=nx, alpha=alpha, power=power, ratio=ny / nx)
    return float(d * pooled / abs(np.mean(x)))


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    """How many runs per condition a comparison needs (from pilot data)."""

    runs_per_condition: int
    change: float
    power: float
    alpha: float
    comparisons: int
    pilot_runs: int
    pilot_cv: float
    effect_size: float
    t_test_runs: int
    rule_runs: int

    def describe(self) -> str:
        return (f"{self.runs_per_condition} runs per condition to detect a {self.change:.1%} change with "
                f"{self.power:.0%} power at alpha {self.alpha:g}/{self.comparisons} (pilot: {self.pilot_runs} runs, "
                f"CV {self.pilot_cv:.2%}, Cohen's d {self.effect_size:.2f}; t test needs {self.t_test_runs}, "
                f"the Mann-Whitney rule at least {self.rule_runs})")


def _t_test_runs(effect_size: float, alpha: float, power: float) -> int:
    """Smallest n per group whose two-sided two-sample t test reaches `power`
    (statsmodels' TTestIndPower.power, monotonic in n: doubling, then bisection;
    its solve_power root finder fails for very large or very small effects)."""
    from statsmodels.stats.power import TTestIndPower

    def enough(n: int) -> bool:
        return TTestIndPower().power(effect_size=effect_size, nobs1=n, alpha=alpha, ratio=1.0) >= power

    if enough(2):
        return 2
    lo, hi = 2, 4
    while not enough(hi):
        lo, hi = hi, hi * 2
        if hi > 10**9:
            raise WorkbenchError(f"a change this small (Cohen's d {effect_size:.2g}) needs more than 10^9 runs")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def plan(pilot: Sequence[float], *, change: float = 0.05, power: float = 0.8, alpha: float = 0.05,
         comparisons: int = 1) -> Plan:
    """Runs per condition needed to detect a relative `change` of the mean.

    `pilot` are run values of one condition (at least 2); their spread is assumed for
    every condition. The answer is the larger of the t-test sample size
    (statsmodels' TTestIndPower, two-sided) and :func:`runs_needed`.
    """
    x = np.asarray(pilot, dtype=float)
    if x.size < 2:
        raise WorkbenchError(f"a pilot needs at least 2 runs to estimate the spread, found {x.size}")
    if change <= 0:
        raise WorkbenchError(f"`change` must be a positive fraction (0.05 = 5 %), found {change}")
    if not 0 < power < 1:
        raise WorkbenchError(f"`power` must be in (0, 1), found {power}")
    sd, mean = float(np.std(x, ddof=1)), float(np.mean(x))
    rule = runs_needed(alpha, comparisons)
    if sd == 0:
        return Plan(rule, change, power, alpha, comparisons, x.size, 0.0, math.inf, 2, rule)
    d = change * abs(mean) / sd
    t_runs = _t_test_runs(d, alpha / comparisons, power)
    return Plan(max(t_runs, rule), change, power, alpha, comparisons, x.size, sd / abs(mean), d, t_runs, rule)


# --------------------------------------------------------------------------- wording


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.1f} %"


def _interval(low: float, high: float) -> str:
    """"[8.0 %, 16.0 %]" as magnitudes when both ends share a sign (the phrase says
    which way), signed otherwise."""
    low, high = sorted((low, high))
    if low >= 0 or high <= 0:
        a, b = sorted((abs(low), abs(high)))
        return f"[{a * 100:.1f} %, {b * 100:.1f} %]"
    return f"[{low * 100:+.1f} %, {high * 100:+.1f} %]"


def _cell_label(cell) -> str:
    return ", ".join(str(v) for k, v in cell if v is not None and k not in ("aggregate", "interval"))


def _verdict(c: Comparison) -> str:
    who, base = c.treatment.condition, c.baseline.condition
    spec = vocabulary(c.metric, c.unit)
    shown, factor = spec.display_unit, spec.display_factor
    relative = math.isfinite(c.ratio.value)  # False for a zero baseline: speak in the metric's unit
    change = c.ratio.value - 1 if relative else c.difference.value
    unit = "points" if shown == "%" else shown

    def size(x: float) -> str:
        return _pct(x) if relative else f"{abs(x) * factor:.3g} {unit}"

    def span(low, high) -> str:
        if low is None:
            return ""
        if relative:
            return _interval(low - 1, high - 1)
        lo, hi = sorted((low * factor, high * factor))
        return f"[{lo:+.3g}, {hi:+.3g}] {unit}"

    estimate = c.ratio if relative else c.difference
    low, high = estimate.low, estimate.high
    means = f"(means {c.treatment.mean * factor:.4g} vs {c.baseline.mean * factor:.4g} {shown})"
    if change == 0:
        described = f"{who} and {base} have the same mean {means}"
    else:
        described = f"{who} {_phrase(spec, change)} than {base} by {size(change)} {means}"
    steal = ""
    if c.treatment.steal is not None or c.baseline.steal is not None:
        parts = [f"{s.condition} {'not reported' if s.steal is None or math.isnan(s.steal) else f'{s.steal:.1f} %'}"
                 for s in (c.treatment, c.baseline) if s.steal is not None]
        steal = f"; steal: {', '.join(parts)}"
    if c.status is Status.INSUFFICIENT_DATA:
        return (f"insufficient data: {c.treatment.runs} run(s) of {who} and {c.baseline.runs} of {base}; "
                f"at least {c.rule.runs_needed} per condition are needed ({c.rule.text()}). "
                f"Descriptive only: {described}{steal}")
    if c.status is Status.WITHIN_RUN_ONLY:
        return (f"within one run each, not replicated: {described}, interval {span(low, high)} from block "
                f"bootstraps (effective sample sizes {c.treatment.ess:.0f} and {c.baseline.ess:.0f}); insufficient "
                f"data for inference: at least {c.rule.runs_needed} runs per condition are needed{steal}")
    test = c.test
    if c.significant:
        return (f"{who} {_predicate(spec, change, size(change))} than {base} {span(low, high)} "
                f"({test.label}, Holm-adjusted p = {test.pvalue_holm:.2g}, "
                f"Cliff's delta {c.effect_size('cliffs_delta'):+.2f}, "
                f"{c.treatment.runs} vs {c.baseline.runs} runs){steal}")
    observed = (f"observed {change * 100:+.1f} % {span(low, high)}" if relative
                else f"observed {c.difference.value * factor:+.3g} {unit} {span(low, high)}")
    could = ("" if c.detectable_change is None
             else f"; the data could have detected a difference of about {_pct(c.detectable_change)}")
    return (f"no detectable difference between {who} and {base} ({test.label}, "
            f"Holm-adjusted p = {test.pvalue_holm:.2g}; {observed}){could}{steal}")


# --------------------------------------------------------------------------- time series


def series_sets(table: pl.DataFrame, metrics: list[str] | None = None) -> list[tuple[str, pl.DataFrame]]:
    """Split the time series of a table into what :func:`workbench.figures.capture_series` draws: one
    ``(title, rows)`` per file, run and condition, at that file's finest interval and
    its mean (or single) aggregate, so that RRD archives of several resolutions and
    MIN/MAX rows are not mixed into one line.

    `metrics` defaults to ``cpu_util``, ``cpu_steal`` and ``mem_util``.
    """
    metrics = metrics or ["cpu_util", "cpu_steal", "mem_util"]
    timed = table.filter(pl.col("time").is_not_null() & pl.col("interval").is_not_null()
                         & pl.col("metric").is_in(metrics) & pl.col("aggregate").is_in(["mean", "single", "last"]))
    out = []
    for (source, run, condition, scope, guest), part in timed.group_by(
            "source_file", "run", "condition", "scope", "guest", maintain_order=True):
        part = part.filter(pl.col("interval") == part["interval"].min())
        who = f"{scope} {guest}" if guest else scope
        out.append((f"{condition}, {who}, run {run} ({source})", part))
    return out
