"""Tests of significance between variants' per-seed accuracies: Welch's and the paired t-test, Cohen's d, Holm's
correction. (One variant's own mean, spread and interval are distnet.run.summary.describe.)

A t-test needs spread: where the seeds leave none (every seed of both variants scored the same, or in a paired test
every seed differs by the same amount), t is 0/0 or x/0 and says nothing, so no test is run and the result says why
({"t": None, "df": None, "p": None, "no_test": why}) instead of a NaN or an infinite t. Spread within a few units
of roundoff of the values themselves counts as none (accuracies differ by at least 1 / n_test when they differ)."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

ROUNDOFF_ULPS = 16   # spread below this many float64 epsilons of the values' size is roundoff, not spread

NO_SEEDS = "fewer than 2 seeds"
IDENTICAL = "identical values"
NO_SPREAD = "no spread: every seed of each variant scored the same"
SAME_DIFFERENCE = "the same difference on every seed"


def _arrays(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return a, b, max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))


def _flat(x, scale: float) -> bool:
    """True when x's spread is roundoff of values of size `scale`."""
    return float(np.ptp(x)) <= ROUNDOFF_ULPS * np.finfo(np.float64).eps * scale


def _var(x, scale: float) -> float:
    """Sample variance (ddof 1), exactly 0 when the spread is roundoff."""
    return 0.0 if _flat(x, scale) else float(x.var(ddof=1))


def no_test(why: str) -> dict:
    return {"t": None, "df": None, "p": None, "no_test": why}


def welch(a, b) -> dict:
    """Welch's unequal-variance t-test (two-sided; scipy's ttest_ind_from_stats on the samples' means and sample
    variances): t, df, p; no_test() when either sample has fewer than 2 values or neither has any spread."""
    a, b, scale = _arrays(a, b)
    if min(len(a), len(b)) < 2:
        return no_test(NO_SEEDS)
    va, vb = _var(a, scale) / len(a), _var(b, scale) / len(b)
    if va == 0 and vb == 0:
        return no_test(IDENTICAL if _flat(np.concatenate([a, b]), scale) else NO_SPREAD)
    res = sps.ttest_ind_from_stats(a.mean(), math.sqrt(va * len(a)), len(a), b.mean(), math.sqrt(vb * len(b)),
                                   len(b), equal_var=False)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))   # Welch-Satterthwaite
    return {"t": float(res.statistic), "df": float(df), "p": float(res.pvalue)}


def paired(a, b) -> dict:
    """Paired t-test (two-sided, as scipy's ttest_rel) on the per-seed differences: t, df, p; no_test() when there
    are fewer than 2 pairs or every pair differs by the same amount (none included)."""
    a, b, scale = _arrays(a, b)
    if len(a) != len(b):
        raise ValueError(f"a paired test needs as many values on each side ({len(a)} vs {len(b)})")
    if len(a) < 2:
        return no_test(NO_SEEDS)
    d = a - b
    if _flat(d, scale):
        return no_test(IDENTICAL if _flat(np.append(d, 0.0), scale) else SAME_DIFFERENCE)
    n = len(d)
    t = float(d.mean() / (d.std(ddof=1) / math.sqrt(n)))
    return {"t": t, "df": float(n - 1), "p": float(2 * sps.t.sf(abs(t), n - 1))}


def welch_from_stats(mean_a: float, std_a: float, n_a: int, mean_b: float, std_b: float, n_b: int) -> dict:
    """Welch's t-test from means, sample stds and counts (e.g. a run against a published mean and std): t, p."""
    res = sps.ttest_ind_from_stats(mean_a, std_a, n_a, mean_b, std_b, n_b, equal_var=False)
    return {"t": float(res.statistic), "p": float(res.pvalue)}


def two_sample_from_stats(mean_a: float, std_a: float, mean_b: float, std_b: float, n: int = 20,
                          ddof0: bool = True) -> dict:
    """The paper's own test: an unpaired, equal-variance two-sample t-test on published (mean, std) pairs with n
    runs each. With ddof0 the stds are read as population stds (ddof = 0, scaled by n / (n - 1) to sample
    variances), the reading that reproduces the paper's t values: t, p."""
    k = math.sqrt(n / (n - 1)) if ddof0 else 1.0
    res = sps.ttest_ind_from_stats(mean_a, std_a * k, n, mean_b, std_b * k, n, equal_var=True)
    return {"t": float(res.statistic), "p": float(res.pvalue)}


def cohens_d(a, b) -> float:
    """Cohen's d with the pooled standard deviation (ddof=1); NaN when there is no spread to pool (fewer than 3
    values in all, or every seed of each variant scored the same)."""
    a, b, scale = _arrays(a, b)
    na, nb = len(a), len(b)
    if na + nb < 3:
        return float("nan")
    pooled = math.sqrt(sum((len(x) - 1) * _var(x, scale) for x in (a, b) if len(x) > 1) / (na + nb - 2))
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")


def holm(pvals) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN stays NaN."""
    p = np.asarray(pvals, np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok])]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out
