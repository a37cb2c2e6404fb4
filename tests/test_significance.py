"""distnet.analysis.significance: the tests of significance against scipy and hand computations."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps

from distnet.analysis import significance


A = [0.951, 0.948, 0.955, 0.949, 0.953]


B = [0.940, 0.947, 0.944, 0.950, 0.938]


def test_welch_and_paired_t_tests_match_scipy():
    w = significance.welch(A, B)
    ref = sps.ttest_ind(A, B, equal_var=False)
    assert w["t"] == pytest.approx(ref.statistic) and w["p"] == pytest.approx(ref.pvalue)
    assert w["df"] == pytest.approx(ref.df)
    p = significance.paired(A, B)
    ref = sps.ttest_rel(A, B)
    assert p["t"] == pytest.approx(ref.statistic) and p["p"] == pytest.approx(ref.pvalue) and p["df"] == 4


def test_cohens_d_matches_the_pooled_std_formula_by_hand():
    # means 2 and 4, both variances 2.5 with ddof=1 -> pooled sd sqrt(2.5), d = -2 / sqrt(2.5)
    assert significance.cohens_d([0, 1, 2, 3, 4], [2, 3, 4, 5, 6]) == pytest.approx(-2 / np.sqrt(2.5))


def test_holm_adjusts_step_down_stays_monotone_and_caps_at_one():
    # sorted 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> kept monotone at 0.06
    np.testing.assert_allclose(significance.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(significance.holm([0.5, 0.9]), [1.0, 1.0])


def test_the_papers_two_sample_test_from_published_stats_reproduces_its_t_values():
    # ReLU2 47.20 +/- 12.00 vs ReLU2-Neg 94.93 +/- 0.15 (the paper: t = -17.33); Abs2 vs Abs2-Neg (t = 8.97)
    a = significance.two_sample_from_stats(47.20, 12.00, 94.93, 0.15, n=20)
    # by hand: stds read as ddof 0 -> sample variances x 20/19; pooled equal-variance t with 38 degrees of freedom
    v = (12.00 ** 2 + 0.15 ** 2) * 20 / 19
    assert a["t"] == pytest.approx((47.20 - 94.93) / np.sqrt(v / 20), rel=1e-12)
    assert a["t"] == pytest.approx(-17.34, abs=0.005)
    assert significance.two_sample_from_stats(95.35, 0.17, 90.08, 2.56)["t"] == pytest.approx(8.95, abs=0.005)
    assert significance.two_sample_from_stats(47.20, 12.00, 94.93, 0.15, ddof0=False)["t"] == \
        pytest.approx(-17.79, abs=0.005)


def test_a_t_test_the_seeds_leave_no_spread_for_is_not_run_and_says_why_without_a_warning():
    # seeds that agree exactly made scipy warn of "precision loss" and return t = NaN (or a huge t from roundoff)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert significance.welch([0.84, 0.84], [0.84, 0.84]) == significance.no_test(significance.IDENTICAL)
        assert significance.welch([0.9, 0.9], [0.84, 0.84]) == significance.no_test(significance.NO_SPREAD)
        assert significance.welch([0.9], [0.84, 0.85]) == significance.no_test(significance.NO_SEEDS)
        assert significance.paired([0.84, 0.9], [0.84, 0.9]) == significance.no_test(significance.IDENTICAL)
        # 0.95 - 0.94 and 0.96 - 0.95 differ by roundoff only: the same difference, not a t of 1e14
        assert significance.paired([0.95, 0.96], [0.94, 0.95]) == significance.no_test(significance.SAME_DIFFERENCE)
        assert np.isnan(significance.cohens_d([0.9, 0.9], [0.84, 0.84]))
        assert np.isnan(significance.cohens_d([0.9], [0.84]))
        assert significance.cohens_d([0.9], [0.84, 0.86]) == pytest.approx(0.05 / np.sqrt(0.0002))


def test_welch_with_one_constant_sample_is_scipys_test_without_its_false_alarm():
    a, b = [0.84, 0.84, 0.84], [0.89, 1.0, 0.95]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = significance.welch(a, b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # scipy warns for the exactly constant sample, whose variance is exact
        ref = sps.ttest_ind(a, b, equal_var=False)
    assert w["t"] == pytest.approx(ref.statistic) and w["p"] == pytest.approx(ref.pvalue)
    assert w["df"] == pytest.approx(ref.df) and "no_test" not in w
