"""distnet.run.summary: one variant's mean, spread and 95% t interval, and the table train.py prints."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from distnet.run import summary


def test_describe_matches_scipy_and_numpy():
    v = np.array([0.951, 0.948, 0.955, 0.949, 0.953])
    d = summary.describe(v)
    half = sps.t.ppf(0.975, 4) * v.std(ddof=1) / math.sqrt(5)
    assert d["n"] == 5 and d["mean"] == v.mean() and d["std"] == v.std(ddof=1)
    np.testing.assert_allclose(d["ci95"], [v.mean() - half, v.mean() + half], rtol=1e-12)
    assert (d["min"], d["max"]) == (0.948, 0.955)


def test_one_seed_has_no_spread_and_no_interval():
    d = summary.describe([0.9])
    assert d["std"] == 0.0 and all(math.isnan(c) for c in d["ci95"])


def test_the_summary_table_has_a_row_per_variant_in_percent():
    m = {"epoch": np.array([0, 10]), "test_acc": np.array([[0.1, 0.9], [0.1, 0.8]]),
         "train_acc": np.array([[0.1, 0.95], [0.1, 0.85]]), "train_loss": np.array([[2.0, 0.3], [2.0, 0.4]])}
    rows = [summary.variant_summary("ReLU", m, 12.4), summary.variant_summary("Abs", m, 3.0)]
    table = summary.summary_table(rows).splitlines()
    assert len(table) == 4 and table[2].startswith("| ReLU | complete | 2 | 10 | 85.00 +/- 7.07 |")
    assert table[2].endswith("| 12 |") and table[3].startswith("| Abs |")


def test_an_accuracy_interval_never_leaves_0_to_100_percent():
    spread = [0.10, 0.40, 0.12]                          # ReLU2-like seeds: the t interval reaches below 0
    raw, cut = summary.describe(spread), summary.describe(spread, summary.ACCURACY)
    assert raw["ci95"][0] < 0 < raw["ci95"][1] < 1
    assert cut["ci95"] == [0.0, raw["ci95"][1]]
    m = {"epoch": np.array([0, 10]), "test_acc": np.array([[0.1, a] for a in spread]),
         "train_acc": np.array([[0.1, a] for a in spread]), "train_loss": np.array([[2.0, 0.2], [2.0, 9.0], [2.0, 0.1]])}
    s = summary.variant_summary("ReLU2", m, 1.0)
    assert s["test_acc"]["ci95"][0] == 0.0 and s["final_train_loss"]["ci95"][0] < 0   # a loss has no such bound
