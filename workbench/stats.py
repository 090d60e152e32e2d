"""Comparisons that hold up (DESIGN.md §9).

The thesis compared single numbers. Here a comparison is made per *cell* (a metric,
component, stage, ... given by ``by``) between each condition and the baseline:

1. **Within runs first.** The run is the unit of replication. Samples of a run (a
   time series) are summarized into one value per run: their mean, or for
   ``aggregate = best`` rows (best-of-N, as STREAM prints) the best value.
2. **Per condition:** runs, samples, median and mean of the run values, and an
   interval: Student's t interval of the mean across runs (n >= 2); with one run of
   a time series, a t interval whose standard error and degrees of freedom come from
   the effective sample size (:func:`effective_sample_size`), reported and clearly
   labelled as within-run (it says how steady the run was, not whether a repeat
   agrees). Two such single runs are compared the same way (Welch and Fieller on
   the effective sample sizes), without a test.
3. **Against the baseline:** the ratio of means (treatment / baseline) with Fieller's
   interval, and the difference of means with Welch's t interval, both with the
   Welch-Satterthwaite degrees of freedom (no equal-variance assumption); the effect
   sizes of :data:`EFFECT_SIZES` (Hedges' g, Cliff's delta), and a named test from
   :data:`TESTS`: by default Welch's t statistic on the run values with Hsu's
   degrees of freedom, min(n) - 1 (:func:`welch_hsu`), whose null (equal means) is
   what the verdict's words are about, and whose level holds at any variance ratio
   even in the far tails Holm's steps use (Satterthwaite's df, ``"welch"``, are
   liberal there: x1.3-1.5 at alpha = 0.01 with 5 vs 20 runs); the rank tests (Mann-Whitney U,
   Brunner-Munzel) remain on request and are worded as what they test (the run values
   of one condition tend to be higher), not as a change of means. P-values are
   Holm-corrected across all comparisons of a call (:func:`holm`); the intervals are
   not adjusted and say so. No bootstrap: over 4-6 runs BCa intervals covered
   83-86 %, and a moving-block bootstrap of one AR(1) phi = 0.9 series 82-85 %.
   Both tables are registries: :func:`register_test` and :func:`register_effect_size`
   plug in more, and the CLI's ``--test`` choices are read from :data:`TESTS`.
4. **Refusal rule.** Each test names the fewest runs per condition at which it holds
   its level and its intervals exist (:func:`runs_needed`). Welch's t and the t-based
   intervals need 2 runs to exist; at 2-3 runs one skewed run dominates the SD and
   the degrees of freedom (1-2), so the rule asks for 4, the smallest n at
   which the calibration suite (``tests/test_calibration.py``, ``bench/calibrate.py``)
   finds them calibrated on normal and lognormal data, equal or unequal n and spreads.
   An exact two-sided Mann-Whitney U test cannot give p < ``2 / C(2n, n)``, so it needs
   the smallest n for which that bound is below alpha / m (m = comparisons in the call);
   Brunner-Munzel is liberal below 9 runs and asks for 9 (the rank tests stay liberal
   with unequal spreads: on request, not calibrated). Below the rule the verdict
   is "insufficient data", with that n, and no p-value is shown.
5. **Scale.** A ratio needs a baseline mean known to be positive: where the baseline's
   mean is <= 0 or its interval includes 0 (and Fieller's interval is then unbounded),
   the verdict speaks in differences, in the metric's unit.

6. **Bounds.** A value a source gives only as a bound (column ``bound``: the thesis's
   "exceeded 50 %") is never averaged with measurements. Where a side has no
   measurement, only bounds, the comparison says what the bounds allow ("at least 11
   points less", or "cannot tell") by interval arithmetic, with no test
   (:attr:`Status.BOUNDS_ONLY`).
7. **Nothing left out silently.** Every cell and condition without a comparable baseline
   is in :attr:`ComparisonSet.not_compared` with the reason (and in ``to_frame``, the
   CLI's text, CSV and JSON, and the report): no baseline rows in the cell; a condition
   that mixes scopes, guests or (within one run) hosts, compared like with like, with
   no like part in the baseline; a capacity (``mem_total``) that a machine has rather
   than a condition does. Two hosts in one run are separate cells, never averaged.
8. **A/A noise floor.** Where the table has ``<baseline>-aa`` (the baseline repeated in
   the same rounds by ``workbench run``), its interval's widest end is the cell's noise
   floor; a verdict whose change is inside it says so first.

Computing (:func:`compare`, :func:`compare_all`) is separate from wording
(:attr:`Comparison.verdict`); the words follow the metric's
:class:`~workbench.schema.Direction` from the vocabulary, never its name. Results are
frozen dataclasses composed of small parts (:class:`Estimate`, :class:`TestResult`,
:class:`EffectSize`, :class:`Rule`, a :class:`Status`), with
``confidence_interval(confidence_level=...)`` and ``to_frame()`` (scipy's style).
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Callable, Iterable, NamedTuple, Sequence

import numpy as np
import polars as pl
from scipy import stats as sst

from .errors import ExcludedDataWarning, RunLabelWarning, WorkbenchError
from .schema import AA_SUFFIX, BOUND, METRICS, Direction, Metric, display_unit
from .schema import metric as vocabulary

#: Columns that define a comparison cell unless the caller says otherwise. Scope and
#: guest are not in it, so a KVM guest is compared with a native host; where one
#: condition mixes several scopes or guests in a cell (host and guest memory of a
#: XenServer), ``by=None`` adds them (:data:`SPLIT_BY`) and that condition is compared
#: like with like (its host rows with the baseline's host rows), while a condition
#: with one scope in the cell is still compared with a baseline of one scope; an
#: explicit ``by`` is refused.
DEFAULT_BY = ("metric", "component", "stage", "aggregate", "interval")
SPLIT_BY = ("scope", "guest")
#: Added to a cell where one run of a condition holds rows of several hosts (two laptops'
#: reports in one run): they are never averaged into one value.
SPLIT_HOST = ("host",)
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
    display: str  #: as the verdict names it, "Welch's t (two-sided)"
    tests: str  #: what it tests (its null hypothesis), for documentation and help
    min_runs: int = 4  #: fewest runs per condition at which it holds its level (calibration suite)
    rank: bool = False  #: a rank test: its smallest p-value is bounded by n; it tests distributions, not means
    #: ``function`` takes runs along axis 0 and one comparison per column, and gives each
    #: column, bit for bit, what the column alone gets: ``compare_all`` then calls it once
    #: per stack of comparisons with the same run counts (a test checks it).
    columnwise: bool = False


@dataclass(frozen=True)
class EffectSizeMethod:
    """An effect size of the registry (:func:`register_effect_size`):
    ``function(baseline, treatment) -> float`` on the run values."""

    name: str
    function: Callable[[np.ndarray, np.ndarray], float]
    display: str
    measures: str
    #: ``function`` takes runs along axis 0 and one comparison per column, each column's
    #: value bit for bit the column's alone (as :attr:`TwoSampleTest.columnwise`).
    columnwise: bool = False


#: Two-sample tests by name (papermill's small registry); the CLI's ``--test`` choices.
TESTS: dict[str, TwoSampleTest] = {}
#: Effect sizes by name, each reported as a column of :meth:`Comparison.to_frame`.
EFFECT_SIZES: dict[str, EffectSizeMethod] = {}
#: Always defined on runs of two conditions: reported where the requested test is not.
FALLBACK_TEST = "mannwhitneyu"
#: The default test: its null (equal means) is what the verdicts speak about. Welch's
#: statistic with Hsu's degrees of freedom (:func:`welch_hsu`): Satterthwaite's are
#: liberal in the tails Holm's steps use (x1.3-1.5 at alpha = 0.01 with 5 vs 20 runs or
#: a 4-fold SD ratio), Hsu's min(n) - 1 hold the level at any variance ratio.
DEFAULT_TEST = "welch_hsu"


def register_test(name: str, function: Callable[[np.ndarray, np.ndarray], Any], *, display: str,
                  tests: str, min_runs: int = 4, rank: bool = False, columnwise: bool = False) -> TwoSampleTest:
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
    min_runs : int
        Fewest runs per condition at which it holds its level (4 unless calibrated otherwise).
    rank : bool
        A rank test: verdicts say the run values of one condition tend to be higher or
        lower, not that a mean changed; its exact smallest p-value also bounds the rule.
    columnwise : bool
        `function` works along axis 0 on stacks of comparisons (one per column), each
        column's result identical to a 1-D call: compare_all then calls it once per stack.
    """
    entry = TwoSampleTest(name, function, display, tests, min_runs, rank, columnwise)
    TESTS[name] = entry
    return entry


def register_effect_size(name: str, function: Callable[[np.ndarray, np.ndarray], float], *, display: str,
                         measures: str, columnwise: bool = False) -> EffectSizeMethod:
    """Register an effect size under `name` (its column in :meth:`Comparison.to_frame`);
    ``function(baseline, treatment) -> float`` (with `columnwise`, also along axis 0 of
    stacks, as :func:`register_test`)."""
    taken = (*DEFAULT_BY, *SPLIT_BY, *_FRAME_COLUMNS)
    if name in taken:
        raise WorkbenchError(f"effect size name {name!r} is a column of Comparison.to_frame already; "
                             f"choose another (taken: {', '.join(taken)})")
    entry = EffectSizeMethod(name, function, display, measures, columnwise)
    EFFECT_SIZES[name] = entry
    return entry


def _run_test(name: str, x: np.ndarray, y: np.ndarray) -> TestResult:
    """Run test `name` on treatment `y` against baseline `x`; fall back to
    :data:`FALLBACK_TEST` (and say so) where it is undefined for these data."""
    return _test_result(name, x, y, *_call_test(TESTS[name], x, y))


def _test_result(name: str, x: np.ndarray, y: np.ndarray, stat: float, p: float) -> TestResult:
    chosen = TESTS[name]
    if math.isfinite(p) or name == FALLBACK_TEST:
        return TestResult(name, chosen.display, stat, p)
    # Undefined when the groups do not overlap (Brunner-Munzel) or have no spread
    # (Welch): never read that as "not significant"; Mann-Whitney U is defined.
    fallback = TESTS[FALLBACK_TEST]
    stat, p = _call_test(fallback, x, y)
    return TestResult(FALLBACK_TEST, f"{fallback.display}; {chosen.display} is undefined for these data", stat, p)


def _run_tests(name: str, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[TestResult]:
    """:func:`_run_test` of each ``(baseline, treatment)`` pair; a test that works column
    by column (:attr:`TwoSampleTest.columnwise`) is called once per stack of pairs with
    the same run counts (runs along axis 0, one pair per column)."""
    chosen = TESTS[name]
    if not chosen.columnwise:
        return [_run_test(name, x, y) for x, y in pairs]
    out: list[TestResult | None] = [None] * len(pairs)
    for idx in _stacks(pairs).values():
        # Each pair a contiguous row, seen as a column: numpy reduces it as the 1-D array.
        x = np.stack([pairs[i][0] for i in idx]).T
        y = np.stack([pairs[i][1] for i in idx]).T
        for i, stat, p in zip(idx, *_call_test(chosen, x, y, columns=len(idx))):
            out[i] = _test_result(name, *pairs[i], stat, p)
    return out


def _call_test(test: TwoSampleTest, x: np.ndarray, y: np.ndarray, columns: int | None = None):
    """``(statistic, pvalue)`` as floats; with `columns`, lists of that many (a columnwise test
    called on stacks)."""
    with warnings.catch_warnings():  # an undefined test is handled by the caller, not warned about
        warnings.simplefilter("ignore", RuntimeWarning)
        res = test.function(x, y)
    try:
        stat, p = (res.statistic, res.pvalue) if hasattr(res, "pvalue") else res
        if columns is None:
            stat, p = float(stat), float(p)
            found = [p]
        else:
            stat, p = (np.broadcast_to(np.asarray(v, dtype=float), (columns,)).tolist() for v in (stat, p))
            found = p
    except (TypeError, ValueError):
        raise WorkbenchError(f"two-sample test {test.name!r} must return an object with `statistic` and "
                             f"`pvalue` or a (statistic, pvalue) pair; it returned {res!r}") from None
    for q in found:
        if not (0.0 <= q <= 1.0 or math.isnan(q)):
            raise WorkbenchError(f"two-sample test {test.name!r} returned a p-value outside [0, 1]: {q!r}")
    return stat, p


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


def _rank_runs(alpha: float, comparisons: int) -> int:
    """Smallest n whose exact two-sided Mann-Whitney U p-value can fall below alpha / m."""
    n = 2
    while 2 / math.comb(2 * n, n) >= alpha / max(comparisons, 1):
        n += 1
    return n


def runs_needed(alpha: float = 0.05, comparisons: int = 1, test: str = DEFAULT_TEST) -> int:
    """Fewest runs per condition at which `test` (a key of :data:`TESTS`) may be used:
    its calibrated minimum (``min_runs``), and for a rank test at least the smallest n
    at which an exact two-sided Mann-Whitney U test can reach p < alpha / comparisons
    (its smallest p-value is 2 / C(2n, n))."""
    if not 0 < alpha < 1:
        raise WorkbenchError(f"`alpha` must be in (0, 1), found {alpha}")
    entry = TESTS[test]
    return max(entry.min_runs, _rank_runs(alpha, comparisons)) if entry.rank else entry.min_runs


def rule_text(alpha: float, comparisons: int, test: str = DEFAULT_TEST) -> str:
    k = runs_needed(alpha, comparisons, test)
    entry = TESTS[test]
    if entry.rank and k == _rank_runs(alpha, comparisons) and k > entry.min_runs:
        return (f"with fewer than {k} runs per condition an exact two-sided Mann-Whitney U test cannot reach "
                f"p < {alpha:g}/{comparisons} (smallest possible p = 2/C({2 * (k - 1)},{k - 1}) = "
                f"{2 / math.comb(2 * (k - 1), k - 1):.3g})")
    name = entry.display.split(" (")[0]
    return f"{name} and the t-based intervals are calibrated from {k} runs per condition, not below"


# --------------------------------------------------------------------------- within-run summaries


def run_values(table: pl.DataFrame, by: Sequence[str] = DEFAULT_BY, *, warn: bool = True) -> pl.DataFrame:
    """One value per cell x condition x run: the mean of the run's samples, or its
    best for ``aggregate = best`` (max where higher is better, else min).

    A column ``samples`` in `table` (rows that are already run means, as
    :func:`workbench.fleet.run_table` makes them) weights each row by the samples it stands for.

    Columns: ``by``, condition, run, value, samples, series (True when the run is a
    time series of more than one timed sample), and the scopes, guests and hosts the
    run's rows come from. Rows that are only bounds (column ``bound``) are left out.
    """
    raw = _run_values(table, by)
    if warn:
        _warn_merged(raw, table, by)
    return raw.drop("_files")


#: Rows from which the run values are grouped a metric at a time (below, the memory saved
#: is small and each grouping's fixed cost, 3-4 ms, is not).
_CHUNKED_ROWS = 100_000


def _run_values(table: pl.DataFrame, by: Sequence[str], *, series: bool = False, labels: bool = True) -> pl.DataFrame:
    """:func:`run_values` plus ``_files`` (source files per run), in one lazy pass; with
    `series`, ``_series``: each run's values in time order (a stable sort by time); without
    `labels`, no lists of scopes, guests and hosts (for a caller that groups by them)."""
    missing = [c for c in by if c not in table.columns]
    if missing:
        raise WorkbenchError(f"`by` names unknown column(s) {missing}; columns: {', '.join(table.columns)}")
    # Best of N is the largest value where the vocabulary says higher is better.
    higher = pl.col("metric").first().is_in([n for n, m in METRICS.items() if m.direction is Direction.HIGHER])
    # Filters only where they drop something: a filter copies every column the grouping
    # reads (0.4x the table) before grouping.
    data = table.lazy()
    if table["value"].is_nan().any():
        data = data.filter(pl.col("value").is_not_nan())
    if BOUND in table.columns and table[BOUND].null_count() < table.height:  # a bound is not a measurement
        data = data.filter(pl.col(BOUND).is_null())
    keys = [*by, "condition", "run"]
    best = (pl.when(higher).then(pl.col("value").max()).otherwise(pl.col("value").min()))
    # A table already reduced to run means (workbench.fleet.run_table) says how many
    # samples each row stands for: its runs' values are then the weighted means.
    weighted = "samples" in table.columns
    mean = ((pl.col("value") * pl.col("samples")).sum() / pl.col("samples").sum()) if weighted else pl.col("value").mean()
    aggs = [pl.when(pl.col("aggregate").first() == "best").then(best).otherwise(mean).alias("value"),
            (pl.col("samples").sum().cast(pl.UInt32) if weighted else pl.len()).alias("samples"),
            (pl.col("time").is_not_null().sum() > 1).alias("series")]
    if labels:
        aggs += [pl.col(c).unique().sort().alias(f"{c}s") for c in ("scope", "guest", "host")]
    else:
        # Some list among the aggregations, as the labels always were: without one, polars
        # sums each group's values in partitions and its means differ in the last bit from
        # the ones compare has always reported.
        aggs.append(pl.col("scope").head(1).alias("_list"))
    aggs.append(pl.col("source_file").n_unique().alias("_files"))
    if series:
        aggs.append(pl.col("value").sort_by("time", maintain_order=True).alias("_series"))
    # A key with one value in the whole table splits nothing: grouped without it (the same
    # groups, rows and first-seen order, so the same values) and added back after. Fewer
    # keys to hash: the grouping's memory (up to 1.4x the table with every key) and time.
    fixed = [k for k in keys if k != "condition" and table.height and _single_valued(table[k])]
    grouped = [k for k in keys if k not in fixed]
    if "metric" in fixed or "metric" not in keys or table.height < _CHUNKED_ROWS:
        out = data.group_by(grouped, maintain_order=True).agg(aggs).collect()
    else:
        # A metric at a time: the grouping holds its rows (1.1-1.3x the table's memory at once
        # with lists among the aggregations), and a metric's rows are its cells' alone. The
        # cells keep the order in which the whole table first shows them.
        indexed = data.with_row_index("_row")
        out = pl.concat([indexed.filter(pl.col("metric") == m).group_by(grouped, maintain_order=True)
                         .agg(*aggs, pl.col("_row").first()).collect()
                         for m in table["metric"].unique(maintain_order=True).to_list()]).sort("_row").drop("_row")
    if "_list" in out.columns:
        out = out.drop("_list")
    if not fixed:
        return out
    return out.with_columns(pl.lit(table[k][0], dtype=table.schema[k]).alias(k) for k in fixed).select(
        *keys, *(c for c in out.columns if c not in keys))


def _single_valued(s: pl.Series) -> bool:
    """``s.n_unique() == 1``, from the extremes where they tell (hashing every value took
    1-6 ms a column of 640 000 rows, the extremes 0.4 ms)."""
    nulls = s.null_count()
    if nulls:
        return nulls == s.len()
    if s.dtype.is_float():
        low, high = s.min(), s.max()
        if low == low and high == high and low != high:  # two numbers
            return False
        return s.n_unique() == 1  # NaN, and 0.0 beside -0.0: hashed
    physical = s.to_physical()
    return physical.min() == physical.max()


def _cell_values(data: pl.DataFrame, by: tuple[str, ...], auto: bool, *, series: bool = False
                 ) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """``(run values with _files, the split columns added to by)``: the run values per cell
    where a condition that mixes scopes or guests in a cell (or hosts in a run) is split
    into like parts (:data:`SPLIT_BY`, :data:`SPLIT_HOST`; with an explicit `by`, refused).

    One aggregation, at the finest grouping (`by` plus scope, guest and host): whether a
    cell mixes parts is read from its groups, and where a split column is left out of the
    cell it is constant within each cell's runs, so the finest groups are the cells' runs
    themselves (the same rows, in the same first-seen order) and give their values as
    they are. (Before, the runs were aggregated twice: without the split, then with it.)"""
    split = tuple(c for c in (*SPLIT_BY, *SPLIT_HOST) if c not in by)
    fine = _run_values(data, (*by, *split), series=series, labels=False)
    # Scope, guest and host are keys of the finest groups: each group's list is its own.
    fine = fine.with_columns(pl.concat_list(pl.col(c)).alias(f"{c}s") for c in ("scope", "guest", "host")).select(
        *[c for c in fine.columns if c not in ("_files", "_series")], "scopes", "guests", "hosts", "_files",
        *(["_series"] if series else []))
    mixed = fine.select([(pl.col(c).n_unique().over([*by, "condition"]) > 1).any() for c in SPLIT_BY if c in split])
    extra: tuple[str, ...] = ()
    if any(mixed.row(0)) if mixed.width else False:
        if not auto:
            row = _mixed(_run_values(data, by).drop("_files"), by)
            where = ", ".join(f"{k}={row[k]}" for k in (*by, "condition"))
            raise WorkbenchError(f"cell ({where}) mixes several scopes or guests in one condition; add 'scope' "
                                 "and/or 'guest' to `by`, or filter the table first")
        extra += SPLIT_BY
    if "host" in split and fine.select((pl.col("host").n_unique().over([*by, "condition", "run"]) > 1).any()).item():
        if not auto and "host" not in by:
            row = _hosts_mixed(_run_values(data, by).drop("_files"))
            where = ", ".join(f"{k}={row[k]}" for k in (*by, "condition", "run"))
            raise WorkbenchError(f"run ({where}) holds rows of several hosts ({', '.join(row['hosts'])}), which "
                                 "are never averaged into one value; add 'host' to `by`, or filter the table first")
        extra += SPLIT_HOST
    extra = tuple(c for c in extra if c not in by)
    return fine.drop([c for c in split if c not in extra]), extra


def _warn_merged(raw: pl.DataFrame, table: pl.DataFrame, by: Sequence[str]) -> None:
    merged = raw.filter(pl.col("_files") > 1)
    if not merged.height:
        return
    row = merged.row(0, named=True)
    keys = [*by, "condition", "run"]
    rows = table.filter(pl.col("value").is_not_nan(), *[pl.col(k).eq_missing(pl.lit(row[k], dtype=table.schema[k]))
                                                         for k in keys])
    if BOUND in rows.columns:
        rows = rows.filter(pl.col(BOUND).is_null())
    names = rows["source_file"].unique().sort().to_list()
    warnings.warn(f"{row['metric']}: run {row['run']} of condition '{row['condition']}' combines rows of "
                  f"{row['_files']} files "
                  f"({', '.join(names[:3])}): runs are numbered within each file, so these are merged "
                  "into one run; give each input its own run numbers (e.g. run = N in the manifest)",
                  RunLabelWarning, stacklevel=3)


# --------------------------------------------------------------------------- time series helpers


def effective_sample_size(x: np.ndarray) -> float:
    """Effective sample size of a series' mean: n / (1 + 2 sum of autocorrelations).

    The smaller of two estimates: Geyer's initial monotone sequence (autocorrelations
    summed in adjacent pairs while the pair sums stay positive, each capped at the
    previous one; Geyer 1992, as in Stan and ArviZ), which assumes no model, and the
    AR(1) value n (1 - phi) / (1 + phi) with the lag-1 autocorrelation corrected for its
    small-sample bias, phi + (1 + 3 phi) / n (Kendall 1954). Sample autocorrelations
    are biased towards 0, so at strong autocorrelation the model-free sum alone
    overestimates (26 for an AR(1) phi = 0.9 series of 400 samples, whose true value is
    21; the older first-non-positive-lag rule gave 28); the AR(1) correction removes
    that bias where the series is AR(1)-like, and the Geyer sum catches longer memory.
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 4 or _constant(x):
        return float(n)
    rho = _autocorrelation(x)
    pairs = rho[:-1:2] + rho[1::2]  # Gamma_k = rho_2k + rho_2k+1, k = 0, 1, ...
    stop = np.argmax(pairs <= 0) if np.any(pairs <= 0) else pairs.size
    pairs = np.minimum.accumulate(pairs[:stop])
    geyer = n / max(-1.0 + 2.0 * pairs.sum(), 1.0 / math.log10(max(n, 10)))
    phi = min(max(rho[1] + (1 + 3 * rho[1]) / n, 0.0), 0.999) if rho[1] > 0 else 0.0
    return float(min(geyer, n * (1 - phi) / (1 + phi)))


def _constant(x: np.ndarray) -> bool:
    """``np.allclose(x, x[0])`` (its default tolerances, the same expression) without its
    argument handling, which cost 30 us a series."""
    y = x[0]
    with np.errstate(invalid="ignore"):
        return bool(np.all((np.abs(x - y) <= 1e-08 + 1e-05 * np.abs(y)) & np.isfinite(y) | (x == y)))


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    """All ``n`` autocorrelations of `x` as statsmodels' ``acf(x, nlags=n - 1, fft=True)``
    computes them (biased autocovariances by FFT over the variance): the same operations
    on the same arrays, so the same bits (a test checks it), without its argument
    checks and its import (0.3 ms a call where a compare makes one per single-run series).
    One series at a time: on a stack of series numpy's complex product (its SIMD loop
    depends on the array's length) differs from a series' own in the last bits."""
    n = x.size
    centred = x - x.mean()
    spectrum = np.fft.fft(centred, n=_next_regular(2 * n + 1))
    acov = (np.fft.ifft(spectrum * np.conjugate(spectrum))[:n] / np.full(n, float(n))).real
    return acov / acov[0]


@functools.lru_cache(maxsize=256)
def _next_regular(target: int) -> int:
    """The smallest 5-smooth number (2^a 3^b 5^c) >= `target`: the FFT length statsmodels
    pads an autocovariance to."""
    best = 1 << max(target - 1, 0).bit_length()  # a power of two is 5-smooth
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p2 = 1 << max(-(-target // p35) - 1, 0).bit_length()  # smallest 2^a with p35 2^a >= target
            best = min(best, p2 * p35)
            p35 *= 3
        p5 *= 5
    return best


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

    Not used by the comparisons since issue 11: at AR(1) phi = 0.9 its percentile
    interval covered 82-85 % where the t interval from the effective sample size
    covers 94-96 % (bench/calibrate.py). Kept for bench/stats.py and callers.

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
    #: The largest lower bound and the smallest upper bound the source gives (column
    #: ``bound``), never averaged into the runs; ``runs`` is 0 when only bounds are known.
    bound_lower: float | None = None
    bound_upper: float | None = None

    @property
    def bounded(self) -> bool:
        return self.bound_lower is not None or self.bound_upper is not None


class Status(str, Enum):
    """What a comparison could say (its value is the ``status`` column of :meth:`Comparison.to_frame`)."""

    TESTED = "tested"  #: enough runs: interval over runs and a test
    INSUFFICIENT_DATA = "insufficient data"  #: too few runs for the rule: descriptive only
    WITHIN_RUN_ONLY = "within-run only"  #: one time series each: within-run intervals, no test
    BOUNDS_ONLY = "bounds only"  #: a side known only as a bound: what the bounds allow, no test
    NOT_COMPARED = "not compared"  #: listed in ComparisonSet.not_compared, with the reason


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
    test: str = DEFAULT_TEST  #: the test whose rule it is

    def text(self) -> str:
        return rule_text(self.alpha, self.comparisons, self.test)


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
    #: The A/A noise floor of the cell (the widest end of the baseline-against-itself
    #: interval: a fraction of the mean, or a difference in the unit where the verdict
    #: speaks in differences); None without an A/A condition.
    noise_floor: float | None = None
    random_state: int = DEFAULT_SEED  #: kept for callers; the intervals are closed-form since issue 11

    @property
    def confidence_level(self) -> float:
        return self.ratio.confidence_level

    @property
    def significant(self) -> bool:
        return (self.test is not None and self.test.pvalue_holm is not None
                and self.test.pvalue_holm < self.rule.alpha)

    @property
    def relative(self) -> bool:
        """True when the change is stated as a ratio of means: the baseline mean is
        positive, its interval (if any) excludes 0, and the ratio's interval (if one is
        due) is bounded. Otherwise the difference of means carries the verdict: a ratio
        against a baseline at or across zero has no meaning (or its sign is wrong)."""
        b = self.baseline
        if not b.mean > 0 or (b.low is not None and b.low <= 0):
            return False
        return self.status is Status.INSUFFICIENT_DATA or self.ratio.low is not None

    @property
    def estimand(self) -> str:
        """What the verdict's number is: "ratio of means", "difference of means", or for
        bounds "difference allowed by the bounds"."""
        if self.status is Status.BOUNDS_ONLY:
            return "difference allowed by the bounds"
        return "ratio of means" if self.relative else "difference of means"

    @property
    def below_noise_floor(self) -> bool:
        """True when the estimated change is inside the cell's A/A noise floor."""
        if self.noise_floor is None or self.status not in (Status.TESTED, Status.WITHIN_RUN_ONLY):
            return False
        change = self.ratio.value - 1 if self.relative else self.difference.value
        return abs(change) < self.noise_floor

    @property
    def verdict(self) -> str:
        """The comparison in words (computing and wording are kept apart)."""
        return _verdict(self)

    def effect_size(self, name: str) -> float | None:
        """The value of effect size `name` (a key of :data:`EFFECT_SIZES`), None if not computed."""
        return next((e.value for e in self.effect_sizes if e.name == name), None)

    def confidence_interval(self, confidence_level: float = 0.95) -> ConfidenceInterval | None:
        """Interval of the ratio of means at another level, recomputed the way the
        stored one was (Fieller over runs, or within runs with the effective sample sizes); None
        where no interval exists (insufficient data, a baseline at or across zero)."""
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
            interval_method=(self.ratio if self.relative else self.difference).method,
            estimand=self.estimand,
            **{name: self.effect_size(name) for name in EFFECT_SIZES},
            test=None if test is None else test.label, pvalue=None if test is None else test.pvalue,
            pvalue_holm=None if test is None else test.pvalue_holm, status=self.status.value,
            runs_needed=self.rule.runs_needed,
            noise_floor=None if self.noise_floor is None else self.noise_floor * (1 if self.relative else factor),
            verdict=self.verdict)
        types = {**_FRAME_TYPES, **{name: pl.Float64 for name in EFFECT_SIZES}}
        return pl.DataFrame([row], schema_overrides=types, strict=False)


#: Columns of Comparison.to_frame besides the cell's and the effect sizes'.
_FRAME_COLUMNS = ("baseline", "condition", "baseline_runs", "runs", "baseline_mean", "mean", "display_unit", "ratio",
                  "ratio_low", "ratio_high", "difference", "difference_low", "difference_high", "interval_method",
                  "estimand", "test", "pvalue", "pvalue_holm", "status", "runs_needed", "noise_floor", "verdict")
_FRAME_TYPES = {k: pl.Float64 for k in (
    "baseline_mean", "mean", "ratio", "ratio_low", "ratio_high", "difference", "difference_low",
    "difference_high", "pvalue", "pvalue_holm", "noise_floor")}


@dataclass(frozen=True)
class ComparisonSet:
    """All comparisons of :func:`compare_all`, Holm-corrected together."""

    comparisons: tuple[Comparison, ...]
    summaries: pl.DataFrame = field(repr=False)
    baseline: str
    by: tuple[str, ...]
    alpha: float
    #: Every cell and condition that has no comparison, with the reason: no baseline
    #: rows in the cell, no baseline rows of the same scope, guest or host where a
    #: condition mixes them, a capacity metric. Columns: the cell's, condition, reason.
    not_compared: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)

    def __iter__(self):
        return iter(self.comparisons)

    def __len__(self) -> int:
        return len(self.comparisons)

    def to_frame(self) -> pl.DataFrame:
        """One row per comparison, then one per cell and condition not compared
        (status "not compared", the reason as its verdict): nothing is left out silently."""
        frames = [c.to_frame() for c in self.comparisons]
        if self.not_compared.height:
            frames.append(self.not_compared.select(
                pl.exclude("reason"), pl.lit(self.baseline).alias("baseline"),
                pl.lit(Status.NOT_COMPARED.value).alias("status"), pl.col("reason").alias("verdict")))
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames, how="diagonal_relaxed")

    def verdicts(self) -> list[str]:
        """The verdicts, then a line per cell and condition not compared (with why)."""
        return ([f"{_cell_label(c.cell)}: {c.verdict}" for c in self.comparisons]
                + [f"{label}: not compared: {reason}" for label, reason in self._not_compared_lines()])

    def _not_compared_lines(self) -> list[tuple[str, str]]:
        cols = [c for c in self.by if c in self.not_compared.columns]
        out = []
        for row in self.not_compared.iter_rows(named=True):
            cell = tuple((c, row[c]) for c in cols)
            out.append((f"{_cell_label(cell)} / {row['condition']}", row["reason"]))
        return out

    def table(self) -> pl.DataFrame:
        """The comparisons as people read them (Go's benchstat): per cell, the baseline and
        the condition as centre +- half the interval in display units (3 significant
        digits), the change with its interval, the Holm-adjusted p, the run counts, and
        ``~`` where there is no detectable difference. String columns, for printing;
        :meth:`to_frame` keeps full precision."""
        return pl.DataFrame([_table_row(c) for c in self.comparisons],
                            schema={k: pl.String for k in TABLE_COLUMNS})

    def geomeans(self) -> dict[str, str]:
        """Per condition, the geometric mean of its ratios of means where all its relative
        cells share a direction (all higher-is-better, or all lower-is-better): "-2.40 %
        over 8 cells"; conditions whose cells mix directions or have fewer than 2 get none."""
        out = {}
        for condition in dict.fromkeys(c.treatment.condition for c in self.comparisons):
            cells = [c for c in self.comparisons if c.treatment.condition == condition and c.relative
                     and c.status is not Status.BOUNDS_ONLY and c.ratio.value > 0]
            directions = {vocabulary(c.metric, c.unit).direction for c in cells}
            if len(cells) < 2 or len(directions) != 1 or next(iter(directions)) not in (Direction.HIGHER,
                                                                                        Direction.LOWER):
                continue
            g = math.exp(float(np.mean([math.log(c.ratio.value) for c in cells])))
            better = "higher" if next(iter(directions)) is Direction.HIGHER else "lower"
            out[condition] = f"{(g - 1) * 100:+.2f} % over {len(cells)} cells ({better} is better)"
        return out

    def headline(self) -> str:
        """One line for an index: per condition, what the tested cells say ("kvm 1.09-3.01 %
        slower than native in 8 of 8 cells; docker: no detectable difference in 8 of 8
        cells"), or that the data are insufficient."""
        parts = []
        for condition in dict.fromkeys(c.treatment.condition for c in self.comparisons):
            cells = [c for c in self.comparisons if c.treatment.condition == condition]
            tested = [c for c in cells if c.status is Status.TESTED]
            found = [c for c in tested if c.significant]
            n = len(cells)
            if not tested:
                bounded = sum(c.status is Status.BOUNDS_ONLY for c in cells)
                parts.append(f"{condition}: insufficient data in {n - bounded} of {n} cells"
                             + (f", bounds only in {bounded}" if bounded else ""))
                continue
            if not found:
                parts.append(f"{condition}: no detectable difference in {len(tested)} of {n} cells")
                continue
            phrases = {_phrase(vocabulary(c.metric, c.unit), c.ratio.value - 1 if c.relative else c.difference.value)
                       for c in found}
            if len(phrases) == 1 and all(c.relative for c in found):
                sizes = sorted(abs(c.ratio.value - 1) * 100 for c in found)
                span = f"{sizes[0]:.1f} %" if len(sizes) == 1 or f"{sizes[0]:.1f}" == f"{sizes[-1]:.1f}" \
                    else f"{sizes[0]:.1f}-{sizes[-1]:.1f} %"
                phrase = next(iter(phrases))
                verb = f"{phrase.replace('uses ', 'uses ' + span + ' ')}" if phrase.startswith("uses") \
                    else f"{span} {phrase.removeprefix('is ')}"
                parts.append(f"{condition} {verb} than {self.baseline} in {len(found)} of {n} cells")
            else:
                parts.append(f"{condition}: differs from {self.baseline} in {len(found)} of {n} cells")
        return "; ".join(parts) if parts else f"no cell has both {self.baseline} and another condition"

    def to_text(self) -> str:
        """The table as aligned text, a block per condition, the rule stated once below it,
        then the cells not compared: the default output of ``workbench compare``."""
        frame = self.table()
        if frame.is_empty():
            lines = [f"no cell has both '{self.baseline}' and another condition"]
        else:
            lines = []
            geomeans = self.geomeans()
            for condition in frame["condition"].unique(maintain_order=True).to_list():
                block = frame.filter(pl.col("condition") == condition).drop("condition")
                header = {"cell": "cell", "unit": "unit", "baseline": self.baseline, "treatment": condition,
                          "change": "change", "interval": "95 % CI" if self.comparisons[0].confidence_level == 0.95
                          else f"{self.comparisons[0].confidence_level * 100:g} % CI",
                          "p": "p (Holm)", "n": "n", "note": ""}
                rows = [header, *block.iter_rows(named=True)]
                widths = {k: max(len(str(r[k] or "")) for r in rows) for k in header}
                lines.append(f"{condition} vs {self.baseline}")
                for r in rows:
                    lines.append("  ".join(str(r[k] or "").rjust(widths[k]) if k not in ("cell", "note", "unit")
                                           else str(r[k] or "").ljust(widths[k]) for k in header).rstrip())
                if condition in geomeans:
                    lines.append(f"geomean: {geomeans[condition]}")
                lines.append("")
            lines.append(self.legend())
        missing = self._not_compared_lines()
        if missing:
            lines.append("")
            lines.append(f"not compared ({len(missing)}):")
            lines += [f"  {label}: {reason}" for label, reason in missing]
        return "\n".join(lines).rstrip() + "\n"

    def legend(self) -> str:
        """The rule and the marks, stated once for the whole table."""
        if not self.comparisons:
            return ""
        c = self.comparisons[0]
        test = TESTS[c.rule.test].display if c.rule.test in TESTS else c.rule.test
        adjusted = (f"p Holm-adjusted over {c.rule.comparisons} comparisons, intervals unadjusted"
                    if c.rule.comparisons > 1 else "one comparison")
        return "\n".join([
            f"centre +- half its {c.confidence_level * 100:g} % interval; change of the mean in % (a difference of "
            "means, in the unit, where the baseline is at or crosses zero)",
            f"{test}; {adjusted}; n = runs of the condition + of the baseline",
            f"~ no detectable difference; ? descriptive only, fewer than {c.rule.runs_needed} runs per condition "
            f"({c.rule.text()})",
            "bounds: only what the bounds allow; below A/A: inside the A/A noise floor; --format text-verbose "
            "for every verdict in words"])

    def plan(self, *, change: float = 0.05, power: float = 0.8) -> pl.DataFrame:
        """Runs per condition each comparison would need to detect a relative `change`
        with `power` (Holm: alpha divided by the number of comparisons), using the
        baseline's runs as the pilot; ``None`` where the pilot has fewer than 2 runs."""
        rows = []
        for c in self.comparisons:
            pilot = c.baseline.values if c.baseline.runs >= 2 else ()
            p = plan(pilot, change=change, power=power, alpha=self.alpha, comparisons=c.rule.comparisons,
                     test=c.rule.test) if len(pilot) >= 2 else None
            rows.append({**{k: v for k, v in c.cell}, "condition": c.treatment.condition,
                         "pilot_runs": c.baseline.runs, "runs_have": min(c.baseline.runs, c.treatment.runs),
                         "runs_needed": None if p is None else p.runs_per_condition,
                         "note": p.describe() if p else f"pilot of {c.baseline.runs} run(s): at least 2 are "
                                                         "needed to estimate the spread"})
        return pl.DataFrame(rows, strict=False)

    def to_markdown(self) -> str:
        """The table (a Markdown table per condition, with its geometric mean), the rule
        once, every verdict in words under it, then the cells not compared. Labels from
        input files are escaped for Markdown (:func:`workbench.markup.md`: no raw HTML,
        link, image or math)."""
        from .markup import md as esc

        lines: list[str] = []
        frame = self.table()
        geomeans = self.geomeans()
        for condition in frame["condition"].unique(maintain_order=True).to_list():
            block = frame.filter(pl.col("condition") == condition)
            lines += [f"**{esc(condition)} vs {esc(self.baseline)}**", "",
                      f"| cell | unit | {esc(self.baseline)} | {esc(condition)} | change | interval | p (Holm) | n | note |",
                      "|:--|:--|--:|--:|--:|--:|--:|--:|:--|"]
            lines += ["| " + " | ".join(esc(str(r[k] or "")) for k in TABLE_COLUMNS[1:]) + " |"
                      for r in block.iter_rows(named=True)]
            if condition in geomeans:
                lines += ["", f"geometric mean: {esc(geomeans[condition])}"]
            lines.append("")
        if self.comparisons:
            lines += [esc(line) + "  " for line in self.legend().splitlines()]
            lines += ["", "**Verdicts in words**", ""]
        lines += [f"- **{esc(_cell_label(c.cell))}**: {esc(c.verdict)}" for c in self.comparisons]
        if not self.comparisons:
            lines.append(f"*No cell has both {esc(self.baseline)} and another condition.*")
        missing = self._not_compared_lines()
        if missing:
            lines.append(f"\n**Not compared** ({len(missing)}):\n")
            lines += [f"- **{esc(label)}**: {esc(reason)}" for label, reason in missing]
        return "\n".join(lines)


TABLE_COLUMNS = ("condition", "cell", "unit", "baseline", "treatment", "change", "interval", "p", "n", "note")


def sig(x: float | None, digits: int = 3) -> str:
    """`x` with `digits` significant digits and no exponent: 41220.5 -> "41200",
    0.012345 -> "0.0123"; "" for None, "nan" for NaN."""
    if x is None:
        return ""
    if not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude >= digits - 1:
        return f"{round(x, -(magnitude - digits + 1)):.0f}"
    return f"{x:.{digits - 1 - magnitude}f}"


def _centre(s: Summary, factor: float) -> str:
    if not s.runs:
        return ("> " + sig(s.bound_lower * factor) if s.bound_lower is not None else "") + \
               (" < " + sig(s.bound_upper * factor) if s.bound_upper is not None else "")
    if s.low is None:
        return sig(s.mean * factor)
    return f"{sig(s.mean * factor)} +- {sig((s.high - s.low) / 2 * factor, 2)}"


def _table_row(c: Comparison) -> dict[str, str]:
    spec = vocabulary(c.metric, c.unit)
    factor = spec.display_factor
    unit = spec.display_unit or ""
    label = ", ".join([spec.label, *(str(v) for k, v in c.cell
                                     if v is not None and k not in ("metric", "aggregate", "interval"))])
    relative = c.relative
    points = "points" if unit == "%" else unit
    est = c.ratio if relative else c.difference

    def pct(x: float) -> str:
        return f"{x * 100:+.2f} %" if relative else f"{sig(x * factor)} {points}".rstrip()

    def bracket() -> str:
        if est.low is None:
            return ""
        if relative:
            return f"[{(est.low - 1) * 100:+.2f}, {(est.high - 1) * 100:+.2f}] %"
        return f"[{sig(est.low * factor)}, {sig(est.high * factor)}] {points}".rstrip()

    change_value = c.ratio.value - 1 if relative else c.difference.value
    note = ""
    if c.status is Status.TESTED:
        change = pct(change_value) if c.significant else "~"
        p = f"{c.test.pvalue_holm:.2g}"
        excludes = est.low is not None and not est.low <= (1 if relative else 0) <= est.high
        if excludes != c.significant:
            note = "CI and test disagree"
    elif c.status is Status.WITHIN_RUN_ONLY:
        change, p, note = pct(change_value), "", "within one run each"
    elif c.status is Status.BOUNDS_ONLY:
        low, high = c.difference.low, c.difference.high
        change = (f">= {sig(low * factor)} {points}" if low is not None and low > 0 else
                  f"<= {sig(high * factor)} {points}" if high is not None and high < 0 else "?")
        p, note = "", "bounds"
    else:
        change, p, note = f"? ({pct(change_value)})", "", f"n < {c.rule.runs_needed}"
    if c.below_noise_floor:
        note = ", ".join(filter(None, [note, "below A/A"]))
    interval = "" if c.status is Status.BOUNDS_ONLY else bracket()
    return {"condition": c.treatment.condition, "cell": label, "unit": unit,
            "baseline": _centre(c.baseline, factor), "treatment": _centre(c.treatment, factor),
            "change": change, "interval": interval, "p": p,
            "n": f"{c.treatment.runs}+{c.baseline.runs}", "note": note}


# --------------------------------------------------------------------------- computing


def summarize(table: pl.DataFrame, *, by: Sequence[str] = DEFAULT_BY, confidence_level: float = 0.95
              ) -> pl.DataFrame:
    """Per cell and condition: runs, samples, median, mean and an interval (display units),
    and the bounds a source gives instead of a value (``lower_bound``/``upper_bound``)."""
    bounds = table.filter(pl.col(BOUND).is_not_null()) if BOUND in table.columns else None
    return _summary_frame(_summaries(run_values(table, by), table, by, confidence_level, bounds), by,
                          _units(table))


def _summaries(values: pl.DataFrame, table: pl.DataFrame, by: Sequence[str], confidence_level: float,
               bounds: pl.DataFrame | None = None) -> dict[tuple, Summary]:
    """``{(cell key, condition): Summary}`` for every cell and condition of `values`, and of
    `bounds` (rows known only as bounds: a condition with bounds alone has 0 runs)."""
    return _summarized(values, table, by, confidence_level, bounds)[0]


#: Per summary, ``(kind, mean, squared standard error, degrees of freedom)`` its interval
#: came from (:func:`_moments`): of the run values (kind "runs"), or of a single run's
#: series with its effective sample size ("ess"). The comparisons reuse them.
_Moments = dict[tuple, tuple[str, float, float, float]]


def _summarized(values: pl.DataFrame, table: pl.DataFrame, by: Sequence[str], confidence_level: float,
                bounds: pl.DataFrame | None = None) -> tuple[dict[tuple, Summary], _Moments]:
    """:func:`_summaries` and the moments of each summary's interval.

    Vectorized across cells: run values of the cells with the same number of runs are
    stacked (one row per cell) and summarized together, as are the single-run series of
    the same length; a row's mean, variance and median along the last axis are, bit for
    bit, those of the row alone (numpy sums each contiguous row pairwise either way), and
    the t quantiles are one call per stack. Only the effective sample sizes are computed
    series by series (:func:`_autocorrelation`)."""
    keys = [*by, "condition"]
    groups = (values.lazy().group_by(keys, maintain_order=True)
              .agg(pl.col("value"), pl.col("samples").sum(), pl.col("series").first(), pl.col("run").first(),
                   pl.col("scopes").explode(), *([pl.col("_series").first()] if "_series" in values.columns else []))
              .collect())
    lengths = groups["value"].list.len().to_numpy()
    runs_of = _split(groups["value"].explode().to_numpy().astype(float), lengths)
    cells = [(tuple(zip(by, key[:-1])), key[-1]) for key in groups.select(keys).iter_rows()]
    samples = groups["samples"].to_list()
    is_series, first_run = groups["series"].to_list(), groups["run"].to_list()
    n = len(cells)
    median, mean = np.empty(n), np.empty(n)
    low: list[float | None] = [None] * n
    high: list[float | None] = [None] * n
    ess: list[float | None] = [None] * n
    series_of: dict[int, np.ndarray] = {}
    moments: _Moments = {}
    level = 0.5 + confidence_level / 2
    for size, idx in _by_length(range(n), lengths).items():
        stack = np.stack([runs_of[i] for i in idx])
        median[idx], mean[idx] = np.median(stack, axis=1), stack.mean(axis=1)
        if size < 2:
            continue
        m, v, f = _moments(stack.T)
        lo, hi = _t_bounds(m, v, f, level)
        for j, i in enumerate(idx):
            low[i], high[i] = float(lo[j]), float(hi[j])
            moments[cells[i]] = ("runs", m[j], v[j], f)
    # One run of a time series: the samples are autocorrelated, so the standard error uses
    # the effective sample size (a moving-block bootstrap covered 82-85 % at AR(1) phi =
    # 0.9; this covers 93-95 %: bench/calibrate.py).
    single = [i for i in range(n) if lengths[i] == 1 and is_series[i] and int(samples[i]) >= 8]
    if single and "_series" in groups.columns:  # aggregated with the run values (compare_all)
        pieces = _split(groups["_series"].explode().to_numpy().astype(float), groups["_series"].list.len().to_numpy())
        series_of = {i: pieces[i] for i in single}
    elif single:
        found = _single_run_series(values, table, by)
        for i in single:
            (cell, condition) = cells[i]
            key = (*(v for _, v in cell), condition, int(first_run[i]))
            series_of[i] = found[key] if key in found else _series(table, dict(cell), by, condition, int(first_run[i]))
    for i in single:
        ess[i] = effective_sample_size(series_of[i])
    for _, idx in _by_length(single, [series_of[i].size for i in single], keyed=True).items():
        stack = np.stack([series_of[i] for i in idx])
        e = np.array([ess[i] for i in idx])
        m, v, f = stack.mean(axis=1), stack.var(axis=1, ddof=1) / e, np.maximum(e - 1.0, 1.0)
        lo, hi = _t_bounds(m, v, f, level)
        for j, i in enumerate(idx):
            low[i], high[i] = float(lo[j]), float(hi[j])
            moments[cells[i]] = ("ess", m[j], v[j], f[j])
    steal = _steal(table, by, [i for i in range(n) if dict(cells[i][0]).get("metric") == "cpu_util"
                               and "guest" in groups["scopes"][i].to_list()], cells)
    out = {}
    for i, (cell, condition) in enumerate(cells):
        runs = int(lengths[i])
        method = None
        if runs >= 2:
            method = "t interval of the mean across runs"
        elif i in series_of:
            method = (f"within one run: t interval of the mean with the effective sample size {ess[i]:.0f} "
                      f"of {int(samples[i])} samples")
        shown = series_of[i] if i in series_of else runs_of[i]
        out[(cell, condition)] = Summary(condition, runs, int(samples[i]), float(median[i]), float(mean[i]), low[i],
                                         high[i], method, ess[i], tuple(shown.tolist()), steal.get(i))
    if bounds is not None and bounds.height:
        for key, group in bounds.group_by(keys, maintain_order=True):
            cell = tuple(zip(by, key[:-1]))
            lower = group.filter(pl.col(BOUND) == "lower")["value"].max()
            upper = group.filter(pl.col(BOUND) == "upper")["value"].min()
            known = out.get((cell, key[-1])) or Summary(key[-1], 0, 0, math.nan, math.nan, None, None, None)
            out[(cell, key[-1])] = replace(known, bound_lower=lower, bound_upper=upper)
    return out, moments


def _split(flat: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
    """`flat` cut into consecutive pieces of `lengths` (views)."""
    return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []


def _by_length(indices: Iterable[int], lengths, keyed: bool = False) -> dict[int, list[int]]:
    """Indices grouped by their length (``lengths[i]``, or with `keyed` the i-th length given)."""
    out: dict[int, list[int]] = {}
    for j, i in enumerate(indices):
        out.setdefault(int(lengths[j] if keyed else lengths[i]), []).append(i)
    return out


def _t_bounds(m, v, f, level: float):
    """Student's t interval ``m -+ t_f(level) sqrt(v)`` (elementwise)."""
    half = sst.t.ppf(level, f) * np.sqrt(v)
    return m - half, m + half


def _steal(table: pl.DataFrame, by: Sequence[str], wanted: list[int], cells: list[tuple]) -> dict[int, float]:
    """Median ``cpu_steal`` of the condition in the cell (its columns other than the metric)
    of each guest CPU summary in `wanted` (NaN where none is reported), from the steal rows
    split once by those columns (not a filter of the whole table per summary)."""
    if not wanted:
        return {}
    keys = [c for c in by if c != "metric"] + ["condition"]
    parts = table.filter(pl.col("metric") == "cpu_steal").partition_by(keys, as_dict=True, maintain_order=True)
    out = {}
    for i in wanted:
        cell, condition = dict(cells[i][0]), cells[i][1]
        key = tuple(cell[c] for c in keys[:-1]) + (condition,)
        if any(v != v for v in key):  # NaN is no dictionary key: select as polars compares
            st = table.filter(pl.col("metric") == "cpu_steal", pl.col("condition") == condition,
                              *[pl.col(c).is_null() if cell[c] is None else pl.col(c) == cell[c] for c in keys[:-1]])
        else:
            st = parts.get(key)
        out[i] = float(st["value"].median()) if st is not None and st.height else float("nan")
    return out


def _single_run_series(values: pl.DataFrame, table: pl.DataFrame, by: Sequence[str]) -> dict[tuple, np.ndarray]:
    """The time-ordered samples of every cell x condition measured in one run only (what
    its interval is computed from), ``{(*cell values, condition, run): values}``, from
    one pass over `table` (not one filter of the whole table per series)."""
    keys = [*by, "condition", "run"]
    wanted = (values.group_by([*by, "condition"]).agg(pl.len().alias("_runs"), pl.col("run").first(),
                                                     pl.col("series").first(), pl.col("samples").first())
              .filter((pl.col("_runs") == 1) & pl.col("series") & (pl.col("samples") >= 8)).select(keys))
    if wanted.is_empty():
        return {}
    # Within each series a stable sort by time: the order a stable sort of the whole
    # selection gives each group's rows.
    found = (table.lazy().filter(pl.col("value").is_not_nan())
             .join(wanted.lazy(), on=keys, how="semi", nulls_equal=True)
             .group_by(keys).agg(pl.col("value").sort_by("time", maintain_order=True)).collect())
    pieces = _split(found["value"].explode().to_numpy().astype(float), found["value"].list.len().to_numpy())
    return dict(zip(found.select(keys).iter_rows(), pieces))


def _summary_frame(summaries: dict[tuple, Summary], by: Sequence[str], units: dict[str, str]) -> pl.DataFrame:
    rows = []
    bounded = any(x.bounded for x in summaries.values())
    for (cell, condition), s in summaries.items():
        name = str(dict(cell).get("metric", ""))
        shown, factor = display_unit(name, units.get(name))
        row = {**dict(cell), "condition": condition, "runs": s.runs, "samples": s.samples,
               "median": s.median * factor if s.runs else None, "mean": s.mean * factor if s.runs else None,
               "low": None if s.low is None else s.low * factor,
               "high": None if s.high is None else s.high * factor,
               "display_unit": shown, "interval_method": s.interval_method, "ess": s.ess}
        if bounded:  # bounds beside the runs, never averaged in
            row.update(lower_bound=None if s.bound_lower is None else s.bound_lower * factor,
                       upper_bound=None if s.bound_upper is None else s.bound_upper * factor)
        rows.append(row)
    return pl.DataFrame(rows, strict=False, infer_schema_length=None)  # a float may first appear after 100 rows


def compare(table: pl.DataFrame, metric: str, *, baseline: str, condition: str | None = None,
            by: Sequence[str] | None = None, confidence_level: float = 0.95, alpha: float = 0.05,
            test: str = DEFAULT_TEST, random_state: int = DEFAULT_SEED, **cell: object) -> Comparison:
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
                test: str = DEFAULT_TEST, random_state: int = DEFAULT_SEED,
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
    if metrics is not None:
        metrics = list(metrics)
        present = table["metric"].unique(maintain_order=True).to_list()
        unknown = [m for m in metrics if m not in present]
        if unknown:  # a typo must not read as "no difference found"
            raise WorkbenchError(f"`metrics`: {unknown[0]!r} is not a metric of this table; its metrics: "
                                 f"{', '.join(present)}")
    data = table if metrics is None else table.filter(pl.col("metric").is_in(metrics))
    # What a machine has (memory installed) is not a result of the condition: listed, not judged.
    capacity = [n for n in data["metric"].unique().to_list() if n in METRICS and METRICS[n].capacity]
    skipped: list[dict] = []
    if capacity:
        for row in (data.filter(pl.col("metric").is_in(capacity) & (pl.col("condition") != baseline))
                    .select(*by, "condition").unique(maintain_order=True).iter_rows(named=True)):
            spec = METRICS[row["metric"]]
            skipped.append({**row, "reason": f"{spec.name} is a capacity ({spec.description}): what the machine "
                                             "or guest has, not what the condition does"})
        data = data.filter(~pl.col("metric").is_in(capacity))
    bounded = BOUND in data.columns and data[BOUND].null_count() < data.height
    raw, extra = _cell_values(data, by, auto, series=not bounded and data["run"].n_unique() == 1)
    by = (*by, *extra)
    values = raw.drop("_files")
    _warn_merged(raw, data, by)
    bounds = data.filter(pl.col(BOUND).is_not_null()) if BOUND in data.columns else data.clear()

    # Each condition of each cell is summarized once, for the comparisons and the summary table.
    summaries, moments = _summarized(values, table, by, confidence_level, bounds)
    pending, unmatched = _pairs(summaries, by, extra, baseline)
    skipped += unmatched

    m = max(1, sum(1 for _, b, t in pending if min(b.runs, t.runs) >= 2))
    rule = Rule(alpha, m, runs_needed(alpha, m, test), test)
    units = _units(data)
    done = _measured([_compare_pair(cell_key, b, t, unit=units.get(str(dict(cell_key)["metric"]), ""),
                                    confidence_level=confidence_level, rule=rule, random_state=random_state)
                      for cell_key, b, t in pending], test, {id(summaries[k]): v for k, v in moments.items()})
    done = _with_noise_floor(done, baseline)
    not_compared = pl.DataFrame(skipped, strict=False) if skipped else pl.DataFrame()
    return ComparisonSet(tuple(done), _summary_frame(summaries, by, units), baseline, by, alpha, not_compared)


def _pairs(summaries: dict[tuple, Summary], by: Sequence[str], extra: Sequence[str], baseline: str
           ) -> tuple[list[tuple], list[dict]]:
    """Which summaries are compared: ``[(cell, baseline summary, treatment summary)]``, and
    ``[{cell columns, condition, reason}]`` for those left without a comparable baseline.

    A cell is the key without the split columns (`extra`: scope, guest, host). Where the
    baseline and a condition each have one part in it, they are compared (a KVM guest with
    a native host); where either has several, like with like: the same scope, guest and
    host, else the same scope where the baseline has one part of that scope."""
    keep = [i for i, c in enumerate(by) if c not in extra]
    parts: dict[tuple, dict[str, list[tuple[tuple, Summary]]]] = {}
    for (cell, condition), summary in summaries.items():
        parts.setdefault(tuple(cell[i] for i in keep), {}).setdefault(condition, []).append((cell, summary))
    pending: list[tuple] = []
    skipped: list[dict] = []

    def describe(cell: tuple) -> str:
        return ", ".join(f"{k}={v}" for k, v in cell if k in extra) or "this cell"

    for conditions in parts.values():
        base = conditions.get(baseline, [])
        for condition, entries in conditions.items():
            if condition == baseline:
                continue
            if not base:
                skipped += [{**dict(cell), "condition": condition,
                             "reason": f"no rows of baseline '{baseline}' in this cell"} for cell, _ in entries]
                continue
            if len(base) == 1 and len(entries) == 1:
                pending.append((_joined(base[0][0], entries[0][0], extra), base[0][1], entries[0][1]))
                continue
            for cell, summary in entries:
                match = [b for b in base if b[0] == cell]
                if not match and "scope" in extra:
                    own = dict(cell)
                    match = [b for b in base if dict(b[0])["scope"] == own["scope"]
                             and ("host" not in extra or dict(b[0])["host"] == own["host"])]
                if len(match) == 1:
                    pending.append((_joined(match[0][0], cell, extra), match[0][1], summary))
                    continue
                has = "; ".join(describe(b[0]) for b in base)
                mixes = condition if len(entries) > 1 else f"baseline '{baseline}'"
                skipped.append({**dict(cell), "condition": condition,
                                "reason": f"{mixes} mixes several parts in this cell, so like is compared with like, "
                                          f"and baseline '{baseline}' has no {describe(cell)} here (it has: {has})"})
    return pending, skipped


def _joined(base: tuple, treat: tuple, extra: Sequence[str]) -> tuple:
    """The comparison's cell: the split columns where both sides agree, else None."""
    return tuple((k, v if k not in extra or v == dict(base)[k] else None) for k, v in treat)


def _with_noise_floor(done: list[Comparison], baseline: str) -> list[Comparison]:
    """Give every comparison of a cell the A/A noise floor of that cell: the widest end
    of the interval of ``<baseline>-aa`` against the baseline (:data:`AA_SUFFIX`)."""
    floors = {}
    for c in done:
        if c.treatment.condition != f"{baseline}{AA_SUFFIX}" or c.status not in (Status.TESTED,
                                                                                  Status.WITHIN_RUN_ONLY):
            continue
        if c.relative and c.ratio.low is not None:
            floors[c.cell] = (True, max(abs(c.ratio.low - 1), abs(c.ratio.high - 1)))
        elif c.difference.low is not None:
            floors[c.cell] = (False, max(abs(c.difference.low), abs(c.difference.high)))
    out = []
    for c in done:
        floor = floors.get(c.cell)
        if floor is not None and floor[0] == c.relative and not c.treatment.condition.endswith(AA_SUFFIX):
            c = replace(c, noise_floor=floor[1])
        out.append(c)
    return out


def _hosts_mixed(values: pl.DataFrame) -> dict | None:
    """The first cell x condition x run whose rows come from several hosts, or None."""
    mixed = values.filter(pl.col("hosts").list.len() > 1)
    return mixed.row(0, named=True) if mixed.height else None


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


def _series(table: pl.DataFrame, cell: dict, by: Sequence[str], condition: str, run: int) -> np.ndarray:
    sel = table.filter((pl.col("condition") == condition) & (pl.col("run") == run) & pl.col("value").is_not_nan())
    for col in by:
        sel = sel.filter(pl.col(col).is_null() if cell[col] is None else pl.col(col) == cell[col])
    return sel.sort("time")["value"].to_numpy().astype(float)


def _compare_pair(cell, base: Summary, treat: Summary, *, unit: str, confidence_level: float, rule: Rule,
                  random_state: int) -> Comparison:
    """The comparison of one pair with its status; the intervals and tests its status
    calls for are filled in for all pairs at once (:func:`_measured`)."""
    metric = str(dict(cell)["metric"])
    # A zero baseline (steal on bare metal) has no ratio: the difference carries it.
    ratio = treat.mean / base.mean if base.mean else float("nan")
    c = Comparison(cell=cell, metric=metric, unit=unit, baseline=base, treatment=treat,
                   status=Status.INSUFFICIENT_DATA, ratio=Estimate(ratio, confidence_level),
                   difference=Estimate(treat.mean - base.mean, confidence_level), rule=rule,
                   random_state=random_state)
    if base.runs == 0 or treat.runs == 0:
        return _bounds_compared(c, vocabulary(metric, unit))
    if base.runs == 1 and treat.runs == 1:
        if base.ess is not None and treat.ess is not None:
            # Two single-run time series: intervals with each run's effective sample
            # size as its n; labelled within-run, no p-value.
            return replace(c, status=Status.WITHIN_RUN_ONLY)
        return c
    if min(base.runs, treat.runs) < rule.runs_needed:
        return c
    return replace(c, status=Status.TESTED)


def _measured(done: list[Comparison], test: str, moments: dict[int, tuple] | None = None) -> list[Comparison]:
    """`done` with the intervals of every within-run and tested comparison, and the test
    (Holm-adjusted once over all tested comparisons), effect sizes and detectable change
    of every tested one: the intervals in one vectorized computation for all
    (:func:`_interval_rows`), the test and the effect sizes in one call per stack of
    comparisons with the same run counts where they work column by column
    (``columnwise``). Each value is, bit for bit, the one a comparison computed alone gets."""
    done = list(done)
    rows = _interval_rows(done, done[0].confidence_level if done else 0.95, moments)
    tested = [i for i, c in enumerate(done) if c.status is Status.TESTED]
    pairs = [(np.array(done[i].baseline.values, dtype=float), np.array(done[i].treatment.values, dtype=float))
             for i in tested]
    results = _run_tests(test, pairs)
    adjusted = holm([r.pvalue for r in results]) if results else []
    effects = {name: _columnwise(e.function, pairs, e.columnwise) for name, e in EFFECT_SIZES.items()}
    rule = done[tested[0]].rule if tested else None
    detectable = _columnwise(lambda x, y: _detectable_changes(
        x, y, alpha=rule.alpha / rule.comparisons, df_test=min(x.shape[0], y.shape[0]) - 1 if test == "welch_hsu" else None),
        pairs, True)
    found = {i: j for j, i in enumerate(tested)}
    for i, c in enumerate(done):
        if c.status not in (Status.TESTED, Status.WITHIN_RUN_ONLY):
            continue
        (r_low, r_high), (d_low, d_high) = rows[i]
        ratio_method, difference_method = ((FIELLER, WELCH_INTERVAL) if c.status is Status.TESTED
                                           else (FIELLER + WITHIN, WELCH_INTERVAL + WITHIN))
        level = c.confidence_level
        parts = dict(ratio=Estimate(c.ratio.value, level, r_low, r_high, None if r_low is None else ratio_method),
                     difference=Estimate(c.difference.value, level, d_low, d_high, difference_method))
        if i in found:
            j = found[i]
            parts.update(test=replace(results[j], pvalue_holm=float(adjusted[j])),
                         effect_sizes=tuple(EffectSize(name, float(effects[name][j])) for name in EFFECT_SIZES),
                         detectable_change=detectable[j])
        done[i] = replace(c, **parts)
    return done


def _columnwise(function: Callable, pairs: Sequence[tuple[np.ndarray, np.ndarray]], columnwise: bool) -> list:
    """``function(x, y)`` of each pair: where `columnwise`, one call per stack of pairs with
    the same run counts, each pair a column (its values as Python objects)."""
    if not columnwise:
        return [function(x, y) for x, y in pairs]
    out: list = [None] * len(pairs)
    for idx in _stacks(pairs).values():
        # Each pair a contiguous row, seen as a column: numpy reduces it as the 1-D array.
        x, y = (np.stack([pairs[i][k] for i in idx]).T for k in (0, 1))
        values = np.broadcast_to(np.asarray(function(x, y), dtype=object), (len(idx),))
        for i, v in zip(idx, values):
            out[i] = v
    return out


def _stacks(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[tuple[int, int], list[int]]:
    """Indices of `pairs` by their run counts."""
    stacks: dict[tuple[int, int], list[int]] = {}
    for i, (x, y) in enumerate(pairs):
        stacks.setdefault((x.shape[0], y.shape[0]), []).append(i)
    return stacks


def _range(s: Summary, spec: Metric) -> tuple[float, float]:
    """What is known of one side: its interval over runs (or its one value), or where it
    has no run, its bounds within the metric's legal range."""
    if s.runs:
        return (s.low, s.high) if s.low is not None else (s.mean, s.mean)
    low, high = spec.bounds
    return (max(low, s.bound_lower) if s.bound_lower is not None else low,
            min(high, s.bound_upper) if s.bound_upper is not None else high)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _bounds_compared(c: Comparison, spec: Metric) -> Comparison:
    """A side known only as a bound: the difference of means the bounds (and the other
    side's interval or value) allow, by interval arithmetic; no ratio, no test."""
    b_low, b_high = _range(c.baseline, spec)
    t_low, t_high = _range(c.treatment, spec)
    low, high = t_low - b_high, t_high - b_low
    return replace(c, status=Status.BOUNDS_ONLY, ratio=Estimate(math.nan, c.confidence_level),
                   difference=Estimate(math.nan, c.confidence_level, _finite(low), _finite(high),
                                       "interval arithmetic on the bounds and the other side's interval or value"))


FIELLER = "Fieller's interval for the ratio of means (Welch df)"
WELCH_INTERVAL = "Welch's t interval for the difference of means"
WITHIN = ", within one run each: standard errors from the effective sample sizes"


def _intervals(c: Comparison, confidence_level: float) -> tuple[tuple, tuple]:
    """``((ratio_low, ratio_high), (difference_low, difference_high))`` of `c`. ``None``
    ends where no interval exists (a ratio whose baseline mean is not known to be positive)."""
    return _interval_rows([c], confidence_level)[0]


def _interval_rows(cs: Sequence[Comparison], confidence_level: float, moments: dict[int, tuple] | None = None
                   ) -> list[tuple[tuple, tuple]]:
    """:func:`_intervals` of each comparison of `cs`, in one vectorized computation.

    `moments` maps ``id(summary)`` to ``(kind, mean, squared SE, df)`` its interval came
    from (kind "runs" or "ess", :func:`_summarized`); others are computed here. The
    Welch-Satterthwaite df square with libm's pow, as a lone comparison's float64 scalars
    do (``np.float64 ** 2``; an array's ``** 2`` multiplies, which differs in the last bit
    for about 1 value in 1100): a comparison gets the same bits in a batch or alone."""
    out: list[tuple[tuple, tuple]] = [((None, None), (None, None))] * len(cs)
    idx = [i for i, c in enumerate(cs) if c.status in (Status.TESTED, Status.WITHIN_RUN_ONLY)]
    if not idx:
        return out
    moments = moments or {}
    sides = []
    for i in idx:
        within = cs[i].status is Status.WITHIN_RUN_ONLY
        for s in (cs[i].baseline, cs[i].treatment):
            known = moments.get(id(s))
            if known is not None and known[0] == ("ess" if within else "runs"):
                sides.append(known[1:])
            else:
                sides.append(_moments(np.array(s.values), s.ess if within else None))
    mx, vx, fx = (np.array([m[k] for m in sides[0::2]], dtype=float) for k in range(3))
    my, vy, fy = (np.array([m[k] for m in sides[1::2]], dtype=float) for k in range(3))
    r_low, r_high = _ratio_interval(mx, vx, fx, my, vy, fy, confidence_level, square=_libm_square)
    d_low, d_high = _difference_interval(mx, vx, fx, my, vy, fy, confidence_level, square=_libm_square)
    for j, i in enumerate(idx):
        ratio = (None, None) if cs[i].baseline.mean <= 0 or not np.isfinite(r_low[j]) \
            else (float(r_low[j]), float(r_high[j]))
        out[i] = ratio, (float(d_low[j]), float(d_high[j]))
    return out


def _libm_square(x: np.ndarray) -> np.ndarray:
    """``x ** 2`` elementwise as a float64 scalar computes it: C's ``pow(x, 2.0)``."""
    return np.array([math.pow(v, 2.0) for v in x.tolist()], dtype=float).reshape(x.shape)


def _power_two(x):
    return x ** 2


def _moments(x: np.ndarray, ess: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | float]:
    """Mean, squared standard error of the mean and its degrees of freedom, along axis 0:
    of run values (n - 1 df), or of one autocorrelated series with effective sample
    size `ess` (SE^2 = s^2 / ess, ess - 1 df, at least 1)."""
    x = np.asarray(x, dtype=float)
    n = x.shape[0] if ess is None else ess
    return x.mean(axis=0), x.var(axis=0, ddof=1) / n, max(n - 1.0, 1.0)


def _welch_df(vx, vy, fx, fy, square=_power_two):
    """Welch-Satterthwaite degrees of freedom of a sum vx + vy of squared standard
    errors with fx and fy degrees of freedom (fx + fy where both are 0). `square` squares
    the sum (:func:`_interval_rows` passes :func:`_libm_square`)."""
    den = vx * vx / fx + vy * vy / fy
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, square(vx + vy) / np.where(den > 0, den, 1.0), fx + fy)


def _difference_interval(mx, vx, fx, my, vy, fy, confidence_level, square=_power_two):
    half = sst.t.ppf(0.5 + confidence_level / 2, _welch_df(vx, vy, fx, fy, square)) * np.sqrt(vx + vy)
    return my - mx - half, my - mx + half


def _ratio_interval(mx, vx, fx, my, vy, fy, confidence_level, square=_power_two):
    """Fieller: the R with (my - R mx)^2 <= t^2 (vy + R^2 vx); NaN where unbounded."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(mx != 0, my / np.where(mx != 0, mx, 1.0), np.nan)
        t = sst.t.ppf(0.5 + confidence_level / 2, _welch_df(np.nan_to_num(r * r * vx), vy, fx, fy, square))
        a = mx * mx - t * t * vx
        b = mx * my
        half = np.sqrt(np.maximum(b * b - a * (my * my - t * t * vy), 0.0))
        ok = a > 0
        a = np.where(ok, a, np.nan)
        return (b - half) / a, (b + half) / a


def t_interval(x: np.ndarray, confidence_level: float = 0.95, *, ess: float | None = None):
    """Student's t interval of the mean along axis 0: of run values (n - 1 df), or of
    one autocorrelated series with effective sample size `ess` (:func:`effective_sample_size`)."""
    low, high = _t_bounds(*_moments(x, ess), 0.5 + confidence_level / 2)
    return _scalar(low), _scalar(high)


def _scalar(a):
    return float(a) if np.ndim(a) == 0 else a


def welch_interval(x: np.ndarray, y: np.ndarray, confidence_level: float = 0.95):
    """Welch's t interval of mean(y) - mean(x) along axis 0 (runs), no equal-variance
    assumption; it excludes 0 exactly when Welch's two-sided test rejects at 1 - level."""
    low, high = _difference_interval(*_moments(x), *_moments(y), confidence_level)
    return _scalar(low), _scalar(high)


def fieller_interval(x: np.ndarray, y: np.ndarray, confidence_level: float = 0.95):
    """Fieller's interval of mean(y) / mean(x) for independent samples, along axis 0.

    The set of ratios R with (ybar - R xbar)^2 <= t^2 (vy + R^2 vx), vx and vy the
    squared standard errors of the means, t at the Welch-Satterthwaite degrees of
    freedom of ybar - R xbar at the estimate (Fieller 1954). It is bounded only when the
    baseline mean is itself significantly non-zero (xbar^2 > t^2 vx); otherwise None
    (NaN in arrays): the ratio is then no usable scale, and the difference is reported.
    """
    low, high = _ratio_interval(*_moments(x), *_moments(y), confidence_level)
    if np.ndim(low) == 0:
        return None if not np.isfinite(low) else (float(low), float(high))
    return low, high


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values along the last axis (as statsmodels'
    ``multipletests(method="holm")``, without its ``gc.collect()`` on every call, which
    took 1.5 s of 2.2 s for 5 compares)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1)
    adjusted = np.maximum.accumulate(np.minimum((m - np.arange(m)) * ranked, 1.0), axis=-1)
    out = np.empty_like(p)
    np.put_along_axis(out, order, adjusted, axis=-1)
    return out


class WelchHsuResult(NamedTuple):
    statistic: float | np.ndarray
    pvalue: float | np.ndarray
    df: float


def welch_hsu(x: np.ndarray, y: np.ndarray) -> WelchHsuResult:
    """Welch's t of mean(y) - mean(x) with Hsu's degrees of freedom min(nx, ny) - 1
    (Hsu 1938; Scheffe 1970), two-sided, along axis 0.

    For normal data its level is at most alpha whatever the variance ratio; Welch's
    Satterthwaite df are too large exactly when the small group's variance happens to
    be underestimated, which makes the test liberal in the far tail (1.3-2.3 times the
    nominal rate at alpha = 0.01-0.002 with 5 vs 20 runs), where Holm's first steps
    test. Conservative with equal spreads (about alpha / 2 at 4 runs each); the planner
    (:func:`t_test_power`, ``df_test``) accounts for it. The intervals keep Welch's
    df: they cover at their level (the calibration suite checks both).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    nx, ny = x.shape[0], y.shape[0]
    se = np.sqrt(x.var(axis=0, ddof=1) / nx + y.var(axis=0, ddof=1) / ny)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (y.mean(axis=0) - x.mean(axis=0)) / se
    df = min(nx, ny) - 1
    # No spread in either group: undefined (NaN), as scipy's Welch test says, so that the
    # comparison reports its named fallback rather than p = 0 from t = infinity.
    p = np.where(se > 0, 2 * sst.t.sf(np.abs(t), df), np.nan)
    return WelchHsuResult(_scalar(t), _scalar(p), float(df))


def _pooled_sd(x: np.ndarray, y: np.ndarray):
    """Pooled standard deviation along axis 0 (a float for 1-D x and y)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    nx, ny = x.shape[0], y.shape[0]
    return _scalar(np.sqrt(((nx - 1) * x.var(axis=0, ddof=1) + (ny - 1) * y.var(axis=0, ddof=1)) / (nx + ny - 2)))


def hedges_g(x: np.ndarray, y: np.ndarray) -> float:
    """Hedges' g of y against x: Cohen's d with the pooled SD, times the small-sample
    correction J = 1 - 3 / (4 (n_x + n_y) - 9); along axis 0. Without spread: 0 for equal
    means, else an infinity of the difference's sign."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    pooled = _pooled_sd(x, y)
    change = y.mean(axis=0) - x.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = change / pooled * (1 - 3 / (4 * (x.shape[0] + y.shape[0]) - 9))
    return _scalar(np.where(pooled == 0, np.where(change == 0, 0.0, np.copysign(np.inf, change)), g))


def cliffs_delta(x: np.ndarray, y: np.ndarray) -> float:
    """Cliff's delta of y against x: P(Y > X) - P(Y < X), as 2 U / (n_x n_y) - 1 with
    U the Mann-Whitney statistic of y (ties count half); along axis 0."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    u = (y[:, None] > x[None]).sum(axis=(0, 1)) + 0.5 * (y[:, None] == x[None]).sum(axis=(0, 1))
    return _scalar(2 * u / (x.shape[0] * y.shape[0]) - 1)


register_test("mannwhitneyu", lambda x, y: sst.mannwhitneyu(y, x, alternative="two-sided"),
              display="Mann-Whitney U (two-sided)",
              tests="stochastic equality of the run values, P(Y > X) = P(Y < X) (exact for small samples); "
                    "assumes equal shapes: liberal with unequal spreads and run counts; not a test of means",
              min_runs=2, rank=True)
# Brunner-Munzel's t approximation is liberal at few runs (5.5-9 % at a 5 % level up to
# 8 runs per condition, issue 11): 9 runs before it is used. Even so it is not
# calibrated with unequal spreads (0.055 per comparison and 0.09 family-wise over 5 at
# 9 runs, SD x4: bench/calibrate.py), nor is Mann-Whitney U: on request only.
register_test("brunnermunzel", lambda x, y: sst.brunnermunzel(y, x, alternative="two-sided"),
              display="Brunner-Munzel (two-sided)",
              tests="stochastic equality, P(Y > X) = P(Y < X), without assuming equal spreads; not a test of means",
              min_runs=9, rank=True)
register_test("welch", lambda x, y: sst.ttest_ind(y, x, equal_var=False), display="Welch's t (two-sided)",
              tests="equal means of the run values, without assuming equal variances", min_runs=4)
register_test("welch_hsu", lambda x, y: welch_hsu(x, y), display="Welch's t with Hsu's df (two-sided)",
              tests="equal means of the run values, without assuming equal variances; degrees of freedom "
                    "min(n) - 1, so the level holds at any variance ratio (normal data)", min_runs=4, columnwise=True)
register_effect_size("cliffs_delta", cliffs_delta, display="Cliff's delta",
                     measures="P(treatment > baseline) - P(treatment < baseline), from -1 to 1", columnwise=True)
register_effect_size("hedges_g", hedges_g, display="Hedges' g",
                     measures="difference of means in pooled standard deviations, small-sample corrected",
                     columnwise=True)


def t_test_power(effect_size: float, nx: int, ny: int | None = None, alpha: float = 0.05,
                 df_test: float | None = None) -> float:
    """Power of a two-sided two-sample t test at Cohen's d `effect_size` with `nx` and
    `ny` runs: P(|T| > t_crit) under the noncentral t with nx + ny - 2 degrees of
    freedom. Computed from scipy's noncentral t, defined from 2 runs per group
    (statsmodels' TTestIndPower returns NaN there, which the planner once read as "not
    enough" and planned 33 runs where 3 had power 0.996). `df_test` are the degrees
    of freedom of the critical value when the test uses fewer than nx + ny - 2 (Hsu's
    min(n) - 1 for :func:`welch_hsu`: with equal run counts and spreads its statistic is
    the pooled t, only its critical value is larger)."""
    ny = nx if ny is None else ny
    df = nx + ny - 2
    if df < 1:
        return float("nan")
    nc = abs(effect_size) / math.sqrt(1 / nx + 1 / ny)
    crit = sst.t.ppf(1 - alpha / 2, df if df_test is None else df_test)
    return _noncentral_t_outside(crit, df, nc)


def _noncentral_t_outside(c: float, df: float, nc: float) -> float:
    """P(|T| > c) for T noncentral t (df, nc), as T = (Z + nc) / sqrt(V / df):
    the normal tail integrated over V ~ chi2(df) where scipy's ``nct`` returns NaN
    (large noncentrality at few degrees of freedom, d = 10 at 3-4 runs: what
    statsmodels passed on); the integral is finite everywhere."""
    from scipy.integrate import quad

    with np.errstate(all="ignore"):
        fast = float(sst.nct.sf(c, df, nc) + sst.nct.cdf(-c, df, nc))
    if math.isfinite(fast) and 0 <= fast <= 1:
        return fast

    from scipy.special import gammaln, ndtr, xlogy

    # The integrand in the special functions scipy's norm.sf, norm.cdf and chi2.pdf are
    # made of (ndtr; chi2's log-density), called directly: the same values, without the
    # distribution objects' argument checks (2 ms per call, 0.7 s per comparison: issue 17).
    half = df / 2.0
    log_gamma, log_two = gammaln(half), (np.log(2) * df) / 2.0
    exp = np.exp

    def tail(v: float) -> float:
        s = c * math.sqrt(v / df)
        return (ndtr(-(s - nc)) + ndtr(-s - nc)) * float(exp(xlogy(half - 1.0, v) - v / 2.0 - log_gamma - log_two))

    lo, hi = sst.chi2.ppf([1e-12, 1 - 1e-12], df)
    return float(min(1.0, quad(tail, lo, hi, limit=200, epsabs=1e-12)[0]))


def detectable_change(x: np.ndarray, y: np.ndarray, *, alpha: float = 0.05, power: float = 0.8,
                      df_test: float | None = None) -> float | None:
    """Relative change of the mean a two-sample t test on these run counts and this
    spread detects with `power` (:func:`t_test_power`), as a fraction of the baseline
    mean."""
    return _detectable_changes(np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[:, None], alpha=alpha,
                               power=power, df_test=df_test)[0]


def _detectable_changes(x: np.ndarray, y: np.ndarray, *, alpha: float = 0.05, power: float = 0.8,
                        df_test: float | None = None) -> list[float | None]:
    """:func:`detectable_change` of each column of `x` and `y` (runs along axis 0)."""
    nx, ny = x.shape[0], y.shape[0]
    pooled, mean = np.atleast_1d(_pooled_sd(x, y)), x.mean(axis=0)
    if nx + ny < 4:
        return [None] * x.shape[1]
    d = None
    out: list[float | None] = []
    for sd, m in zip(pooled, mean):
        if sd == 0 or m == 0:
            out.append(None)  # no spread, or no baseline to be relative to: nothing to say
            continue
        d = _detectable_effect(nx, ny, alpha, power, df_test) if d is None else d
        out.append(float(d * sd / abs(m)))
    return out


@functools.lru_cache(maxsize=1024)
def _detectable_effect(nx: int, ny: int, alpha: float, power: float, df_test: float | None) -> float:
    """Cohen's d a two-sided t test detects with `power` at these run counts: a function of
    its arguments alone, so solved once per run counts and level (a compare's cells mostly
    share them; 12 ms a solve, 200 cells: 2.4 s before)."""
    from scipy.optimize import brentq

    # t_test_power with its critical value computed once (it does not depend on the effect)
    df = nx + ny - 2
    crit = sst.t.ppf(1 - alpha / 2, df if df_test is None else df_test)
    scale = math.sqrt(1 / nx + 1 / ny)

    def power_at(effect: float) -> float:
        return _noncentral_t_outside(crit, df, abs(effect) / scale)

    hi = 1.0
    while power_at(hi) < power:
        hi *= 2
    return brentq(lambda e: power_at(e) - power, 0.0, hi, xtol=1e-6)


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
                f"the refusal rule at least {self.rule_runs})")


def _t_test_runs(effect_size: float, alpha: float, power: float, hsu: bool = False) -> int:
    """Smallest n per group (from 2) whose two-sided two-sample t test reaches `power`
    (:func:`t_test_power`, monotonic in n: doubling, then bisection); with `hsu`, the
    critical value at Hsu's n - 1 degrees of freedom."""
    def enough(n: int) -> bool:
        return t_test_power(effect_size, n, n, alpha, df_test=n - 1 if hsu else None) >= power

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
         comparisons: int = 1, test: str = DEFAULT_TEST) -> Plan:
    """Runs per condition needed to detect a relative `change` of the mean.

    `pilot` are run values of one condition (at least 2); their spread is assumed for
    every condition. The answer is the larger of the t-test sample size
    (:func:`t_test_power`, two-sided, at alpha / comparisons: Holm's first step) and
    :func:`runs_needed` for `test`.
    """
    x = np.asarray(pilot, dtype=float)
    if x.size < 2:
        raise WorkbenchError(f"a pilot needs at least 2 runs to estimate the spread, found {x.size}")
    if change <= 0:
        raise WorkbenchError(f"`change` must be a positive fraction (0.05 = 5 %), found {change}")
    if not 0 < power < 1:
        raise WorkbenchError(f"`power` must be in (0, 1), found {power}")
    sd, mean = float(np.std(x, ddof=1)), float(np.mean(x))
    rule = runs_needed(alpha, comparisons, test)
    if sd == 0:
        return Plan(rule, change, power, alpha, comparisons, x.size, 0.0, math.inf, 2, rule)
    d = change * abs(mean) / sd
    t_runs = _t_test_runs(d, alpha / comparisons, power, hsu=test == "welch_hsu")
    return Plan(max(t_runs, rule), change, power, alpha, comparisons, x.size, sd / abs(mean), d, t_runs, rule)


# --------------------------------------------------------------------------- wording


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.1f} %"


def _cell_label(cell) -> str:
    return ", ".join(str(v) for k, v in cell if v is not None and k not in ("aggregate", "interval"))


def _verdict(c: Comparison) -> str:
    """The verdict's words: a comparison of measurements or of what bounds allow, labelled
    when its change is inside the A/A noise floor, with any bounds left beside the runs."""
    spec = vocabulary(c.metric, c.unit)
    text = _bounds_verdict(c, spec) if c.status is Status.BOUNDS_ONLY else _measured_verdict(c)
    notes = [f"{s.condition} {_bound_text(s, spec)}" for s in (c.treatment, c.baseline) if s.runs and s.bounded]
    if notes:
        text += f"; also known only as a bound, not averaged with the measurements: {', '.join(notes)}"
    if c.below_noise_floor:
        floor = (f"{c.noise_floor * 100:.2g} %" if c.relative
                 else f"{c.noise_floor * spec.display_factor:.3g} {spec.display_unit}")
        text = (f"below the A/A noise floor (+-{floor}: the baseline against itself in the same rounds), so not "
                f"resolved by this setup: {text}")
    return text


def _bound_text(s: Summary, spec: Metric) -> str:
    """"> 50 %", "< 40 %" or "between 10 and 20 %" (display units)."""
    unit = spec.display_unit
    spaced = f" {unit}" if unit else ""

    def shown(x: float) -> str:
        return f"{x * spec.display_factor:.4g}"

    if s.bound_lower is not None and s.bound_upper is not None:
        return f"between {shown(s.bound_lower)} and {shown(s.bound_upper)}{spaced}"
    if s.bound_lower is not None:
        return f"> {shown(s.bound_lower)}{spaced}"
    return f"< {shown(s.bound_upper)}{spaced}"


def _bounds_verdict(c: Comparison, spec: Metric) -> str:
    """"at least 11 points less" or "cannot tell": only what the bounds allow."""
    who, base = c.treatment.condition, c.baseline.condition
    unit = "points" if spec.display_unit == "%" else spec.display_unit

    def side(s: Summary) -> str:
        if not s.runs:
            return f"{s.condition} {_bound_text(s, spec)}"
        if s.low is not None:
            return (f"{s.condition} {s.mean * spec.display_factor:.4g} {spec.display_unit} "
                    f"[{s.low * spec.display_factor:.4g}, {s.high * spec.display_factor:.4g}] over {s.runs} runs")
        return f"{s.condition} {s.mean * spec.display_factor:.4g} {spec.display_unit} ({s.runs} run)"

    known = f"{side(c.treatment)}; {side(c.baseline)}"
    low, high = c.difference.low, c.difference.high
    tail = "a bound is not a measurement: no interval, no test"
    if low is not None and low > 0:
        return (f"{who} {_predicate(spec, 1.0, f'at least {low * spec.display_factor:.3g} {unit}')} than {base}, "
                f"as far as the bounds allow ({known}; {tail})")
    if high is not None and high < 0:
        return (f"{who} {_predicate(spec, -1.0, f'at least {-high * spec.display_factor:.3g} {unit}')} than "
                f"{base}, as far as the bounds allow ({known}; {tail})")
    return f"cannot tell how {who} compares with {base}: the bounds allow either ({known}; {tail})"


def _measured_verdict(c: Comparison) -> str:
    """Every verdict has a verb, a signed estimate with its signed interval on the scale
    the estimand names (change of the mean in %, or difference of means in the unit),
    says when intervals are unadjusted while p-values are, and says when the interval
    and the test disagree."""
    who, base = c.treatment.condition, c.baseline.condition
    spec = vocabulary(c.metric, c.unit)
    shown, factor = spec.display_unit, spec.display_factor
    relative = c.relative
    change = c.ratio.value - 1 if relative else c.difference.value
    unit = "points" if shown == "%" else shown
    spaced = f" {unit}" if unit else ""  # a dimensionless metric has no unit to print
    estimate = c.ratio if relative else c.difference

    # Enough decimals that an interval narrower than 1 % shows its width (no "[-0.0 %, +0.0 %]").
    width = 0.0 if estimate.low is None else (estimate.high - estimate.low) * 100
    dec = 1 if not 0 < width < 1 else min(3, 1 - math.floor(math.log10(width)))

    def size(x: float) -> str:
        return f"{abs(x) * 100:.{dec}f} %" if relative else f"{abs(x) * factor:.3g}{spaced}"

    def signed(x: float) -> str:
        return f"{x * 100:+.{dec}f} %" if relative else f"{x * factor:+.3g}"

    def span() -> str:
        if estimate.low is None:
            return "" if relative else spaced
        if relative:
            return f" [{(estimate.low - 1) * 100:+.{dec}f} %, {(estimate.high - 1) * 100:+.{dec}f} %]"
        return f" [{estimate.low * factor:+.3g}, {estimate.high * factor:+.3g}]{spaced}"

    name = "change of the mean" if relative else "difference of means"
    means = f"(means {c.treatment.mean * factor:.4g} vs {c.baseline.mean * factor:.4g} {shown})"
    if change == 0:
        described = f"{who} and {base} have the same mean {means}"
    else:
        described = f"{who} {_predicate(spec, change, size(change))} than {base} {means}"
    steal = ""
    if c.treatment.steal is not None or c.baseline.steal is not None:
        parts = [f"{s.condition} {'not reported' if s.steal is None or math.isnan(s.steal) else f'{s.steal:.1f} %'}"
                 for s in (c.treatment, c.baseline) if s.steal is not None]
        steal = f"; steal: {', '.join(parts)}"
    if c.status is Status.INSUFFICIENT_DATA:
        return (f"insufficient data: {c.treatment.runs} run(s) of {who} and {c.baseline.runs} of {base}; "
                f"at least {c.rule.runs_needed} per condition are needed ({c.rule.text()}). "
                f"Descriptive only: {described}{steal}")
    level = f"{c.confidence_level * 100:g} % CI"
    if c.status is Status.WITHIN_RUN_ONLY:
        return (f"within one run each, not replicated: {described}; {name} {signed(change)}{span()} ({level} with "
                f"the effective sample sizes {c.treatment.ess:.0f} and {c.baseline.ess:.0f} as n); "
                f"insufficient data for inference: at least {c.rule.runs_needed} runs per condition are needed{steal}")
    test = c.test
    adjusted = c.rule.comparisons > 1
    ci = f"{name} {signed(change)}{span()}"
    note = f"{level}{', unadjusted' if adjusted else ''}"
    p = f"{test.label}, {'Holm-adjusted ' if adjusted else ''}p = {test.pvalue_holm:.2g}"
    includes_none = estimate.low is None or estimate.low <= (1 if relative else 0) <= estimate.high
    disagree = ""
    if c.significant and includes_none:
        disagree = "; the test rejects but the interval includes no change: they disagree, read with care"
    elif not c.significant and not includes_none:
        disagree = ("; the unadjusted interval excludes no change, the Holm-adjusted test does not reject"
                    if adjusted and test.pvalue < c.rule.alpha else
                    "; the interval excludes no change but the test does not reject: they disagree, read with care")
    rank = TESTS[test.name].rank if test.name in TESTS else False
    runs = f"{c.treatment.runs} vs {c.baseline.runs} runs"
    if c.significant:
        if rank:
            delta = c.effect_size("cliffs_delta")
            side = "higher" if (delta if delta is not None else change) > 0 else "lower"
            return (f"{who}'s run values tend to be {side} than {base}'s ({p}, Cliff's delta {delta:+.2f}, {runs}); "
                    f"{ci} ({note}){disagree}{steal}")
        g = c.effect_size("hedges_g")
        effect = "" if g is None else f", Hedges' g {g:+.2f}"
        return (f"{who} {_predicate(spec, change, size(change))} than {base}: {ci} ({note}; {p}{effect}, {runs})"
                f"{disagree}{steal}")
    could = ("" if c.detectable_change is None or not relative
             else f"; the data could have detected a change of about {_pct(c.detectable_change)}")
    return f"no detectable difference between {who} and {base} ({p}): {ci} ({note}){could}{disagree}{steal}"


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
