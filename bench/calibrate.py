"""Calibration table of workbench.stats at full size (issue 11).

Rows per scenario of :mod:`workbench.calibration`:

1. two conditions under the null (and with a true change): rejection rate per
   comparison (the false-positive rate under the null, the power otherwise) and
   family-wise over 5 comparisons with Holm; coverage of the ratio (Fieller),
   difference (Welch) and per-condition (t) intervals;
2. power at the planned n (:func:`workbench.stats.plan` from a pilot with the true SD);
3. single-run AR(1) series: coverage of the within-run interval of one mean and of a
   difference of two runs, mean effective sample size against the true one;
4. stress scenarios (strongly skewed run values at few runs): known limits, outside the targets;
5. the tests on request (Welch with Satterthwaite's df, Mann-Whitney U, Brunner-Munzel) where they fail.

Targets: false-positive rate <= 0.05, coverage 0.94-0.97, power 0.75-0.90, each with a
binomial tolerance of 3 standard errors at the row's size; a row outside is marked "MISS".

Run: ``.venv/bin/python bench/calibrate.py [--families N] [--series N]`` (defaults 20000 and 2000;
about a minute on 2 cores). Prints the table; asserts nothing.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from workbench import calibration as cal
from workbench import stats


def _ok(value: float, lo: float, hi: float, reps: int, centre: float, column: str = "") -> str:
    tol = cal.tolerance(centre, reps)
    return "" if lo - tol <= value <= hi + tol else f" MISS({column})" if column else " MISS"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--families", type=int, default=20000, help="families of 5 comparisons per scenario")
    ap.add_argument("--series", type=int, default=2000, help="AR(1) replications per row")
    ap.add_argument("--seed", type=int, default=20150902)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    lo, hi = cal.COVERAGE
    print(f"test: {stats.TESTS[stats.DEFAULT_TEST].display}; intervals: Fieller (ratio), Welch (difference), "
          f"t (per condition); alpha 0.05, 95 % intervals, refusal rule {stats.runs_needed()} runs")
    header = (f"{'scenario':52s} {'reject':>7s} {'FWER(5)':>8s} {'ratio':>7s} {'diff':>7s} {'mean':>7s}  targets")
    for title, scenarios in (("two conditions", cal.SCENARIOS), ("stress (known limits)", cal.STRESS)):
        print(f"\n## {title}: {args.families} families x 5 comparisons each\n{header}")
        for s in scenarios:
            r = cal.two_conditions(s, args.families, rng)
            null = s.ratio == 1
            marks = ""
            if null:
                marks += _ok(r["rejected"], 0, cal.FPR_MAX, r["reps"], cal.FPR_MAX, "reject")
                marks += _ok(r["familywise"], 0, cal.FPR_MAX, r["families"], cal.FPR_MAX, "FWER")
            for key in ("ratio_coverage", "difference_coverage", "mean_coverage"):
                marks += _ok(r[key], lo, hi, r["reps"], 0.95, key.split("_")[0])
            kind = "null" if null else "change (reject = power)"
            print(f"{s.name:52s} {r['rejected']:7.4f} {r['familywise']:8.4f} {r['ratio_coverage']:7.4f} "
                  f"{r['difference_coverage']:7.4f} {r['mean_coverage']:7.4f}  {kind}:{marks or ' ok'}")
    print(f"\n## tests on request (not the default): false-positive rate, {args.families // 4} families x 5")
    print(f"{'test, scenario':52s} {'reject':>7s} {'FWER(5)':>8s}  targets")
    for test in cal.OTHER_TESTS:
        for s in cal.OTHER_TEST_SCENARIOS:
            if min(s.nx, s.ny) < stats.runs_needed(0.05, 1, test):
                continue
            with warnings.catch_warnings():  # Brunner-Munzel on tied or separated samples
                warnings.simplefilter("ignore", RuntimeWarning)
                r = cal.two_conditions(s, args.families // 4, rng, test=test)
            marks = (_ok(r["rejected"], 0, cal.FPR_MAX, r["reps"], cal.FPR_MAX, "reject")
                     + _ok(r["familywise"], 0, cal.FPR_MAX, r["families"], cal.FPR_MAX, "FWER"))
            print(f"{f'{test}, {s.name}':52s} {r['rejected']:7.4f} {r['familywise']:8.4f}  {marks or 'ok'}")
    print(f"\n## power at the planned n (Holm over the comparisons; the others null): {args.families} families")
    print(f"{'plan':52s} {'runs':>5s} {'power':>7s}  targets")
    for s in (*cal.PLANS, cal.SMALL_N_PLAN):
        r = cal.planned_power(s, args.families, rng)
        mark = (" rule-bound (target n/a)" if r["rule_bound"]
                else (_ok(r["power"], *cal.POWER, r["reps"], 0.8) or " ok"))
        print(f"{s.name:52s} {r['runs']:5d} {r['power']:7.4f} {mark}")
    print(f"\n## single-run AR(1) series: {args.series} replications (within-run t intervals from the ESS)")
    print(f"{'series':52s} {'mean':>7s} {'diff':>7s} {'ESS':>7s} {'true':>7s}  targets")
    for phi, n in cal.AR1:
        r = cal.single_run(phi, n, args.series, rng)
        marks = _ok(r["mean_coverage"], lo, hi, r["reps"], 0.95) + _ok(r["difference_coverage"], lo, hi,
                                                                        r["reps"], 0.95)
        print(f"{f'AR(1) phi = {phi}, {n} samples':52s} {r['mean_coverage']:7.4f} {r['difference_coverage']:7.4f} "
              f"{r['ess']:7.1f} {r['true_ess']:7.1f} {marks or ' ok'}")
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
