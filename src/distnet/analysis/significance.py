"""Tests of significance between variants' per-seed accuracies: Welch's and the paired t-test, Cohen's d, Holm's
correction. (One variant's own mean, spread and interval are distnet.run.summary.describe.)"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


def _t_result(res) -> dict:
    return {"t": float(res.statistic), "df": float(res.df), "p": float(res.pvalue)}


def welch(a, b) -> dict:
    """Welch's unequal-variance t-test (two-sided, scipy's ttest_ind): t, df, p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _t_result(sps.ttest_ind(np.asarray(a, np.float64), np.asarray(b, np.float64), equal_var=False))


def paired(a, b) -> dict:
    """Paired t-test (two-sided, scipy's ttest_rel) on per-seed differences: t, df, p."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _t_result(sps.ttest_rel(np.asarray(a, np.float64), np.asarray(b, np.float64)))


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
    """Cohen's d with the pooled standard deviation (ddof=1)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
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
