"""distnet.analysis.stats on hand-built networks where every answer is known."""
from __future__ import annotations

import chex
import jax
import numpy as np
import pytest
from scipy import stats as sps

from distnet.nn import models
from distnet.run import folder
from distnet.analysis import stats

from helpers import stack_params, trained_like


def _line_inputs(n=200):
    """x_i = (i, 0), i = 0..n-1."""
    return np.stack([np.arange(n, dtype=np.float32), np.zeros(n, np.float32)], axis=1)


def test_dead_and_rarely_active_units_are_counted():
    # Hidden units on x = (i, 0), i < 200: always active, dead, active for 1 input (0.5%), for 9 inputs (4.5%).
    model = models.get("ReLU", hidden=4, classes=2)
    kernel = np.array([[1, -1, 1, 1], [0, 0, 0, 0]])
    bias = np.array([1, -1, -198.5, -190.5])
    p0 = {"hidden": {"kernel": kernel, "bias": bias}, "output": {"kernel": np.ones((4, 2))}}
    p1 = {"hidden": {"kernel": np.ones((2, 4)), "bias": np.ones(4)}, "output": {"kernel": np.ones((4, 2))}}
    frac = stats.unit_activity(model, stack_params(p0, p1), _line_inputs(), batch=64)
    chex.assert_shape(frac["hidden_post"], (2, 4))
    np.testing.assert_allclose(frac["hidden_post"][0], [1.0, 0.0, 0.005, 0.045], atol=1e-7)
    counts = stats.activity_counts(frac["hidden_post"])
    np.testing.assert_array_equal(counts["dead"], [1, 0])
    np.testing.assert_array_equal(counts["rare_1pct"], [2, 0])
    np.testing.assert_array_equal(counts["rare_5pct"], [3, 0])


def _hyperplane_model():
    """Abs model whose hidden unit 0 is the hyperplane x0 = 0 and unit 1 is x1 = 0; identity output."""
    model = models.get("Abs", hidden=2, classes=2)
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)}, "output": {"kernel": np.eye(2)}}
    return model, p


def test_class_moments_along_a_known_hyperplane_match_numpy_and_scipy():
    model, p = _hyperplane_model()
    a0, a1 = np.array([-3.0, -1.0]), np.array([1.0, 2.0, 6.0])
    x = np.stack([np.concatenate([a0, a1]), np.full(5, 7.0)], axis=1).astype(np.float32)
    y = np.array([0, 0, 1, 1, 1], np.int32)
    m = stats.class_moments(model, stack_params(p, p), x, y, 2, "hidden_pre", batch=2)   # padded batches
    chex.assert_shape(m["mean"], (2, 2, 2))
    np.testing.assert_array_equal(m["count"][0], [2, 3])
    np.testing.assert_allclose(m["mean"][0, :, 0], [-2.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(m["std"][0, :, 0], [a0.std(), a1.std()], rtol=1e-5)
    np.testing.assert_allclose(m["skew"][0, :, 0], [sps.skew(a0), sps.skew(a1)], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m["mean"][0, :, 1], [7.0, 7.0])      # unit 1 sees no class difference
    sep = stats.separation(m)
    assert sep[0, 0] > 1 and sep[0, 1] == 0
    h = stats.unit_histogram(model, stack_params(p, p), x, y, np.array([0, 0]), 2, bins=9)
    np.testing.assert_array_equal(h["counts"][0].sum(-1), [2, 3])
    np.testing.assert_allclose(h["edges"][0, [0, -1]], [-3.0, 6.0])
    assert h["counts"][0, 0, 0] == 1 and h["counts"][0, 1, -1] == 1   # -3 in the first bin, 6 in the last


def _two_clusters():
    x = np.array([[5, 1], [6, 0], [1, 5], [0, 6]], np.float32)
    return x, np.array([0, 0, 1, 1], np.int32)


@pytest.mark.parametrize("sign, distance", [(1.0, 0.0), (-1.0, 1.0)])
def test_output_geometry_reads_intensity_and_distance_codes(sign, distance):
    # ReLU head with output kernel +I: class c has the largest value of unit c (intensity); with -I, the smallest.
    model = models.get("ReLU", hidden=2, classes=2)
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)}, "output": {"kernel": sign * np.eye(2)}}
    x, y = _two_clusters()
    g = stats.output_geometry(model, stack_params(p), x, y, 2)
    np.testing.assert_allclose(g["distance_share"], [distance])
    np.testing.assert_allclose(g["intensity_share"], [1.0 - distance])
    proto = stats.prototype_geometry(model, stack_params(p), x, y, 2)
    # class means (5.5, 0.5) and (0.5, 5.5); signed distance to hyperplane c is sign * m_k[c]
    np.testing.assert_allclose(proto["hyperplane_distance"][0], sign * np.array([[5.5, 0.5], [0.5, 5.5]]), rtol=1e-6)


@pytest.mark.parametrize("name,scale", [("Abs-L2", {"alpha": np.ones((2, 2))}),
                                        ("Abs-RBF", {"log_precision": np.zeros((2, 2))}),
                                        ("Abs-MD", {"P": np.stack([np.eye(2)] * 2)})])
def test_centres_on_the_class_means_are_found(name, scale):
    model = models.get(name, hidden=2, classes=2)
    x, y = _two_clusters()
    mu = np.array([[0.5, 5.5], [5.5, 0.5]])      # centre 0 sits on class 1's mean, centre 1 on class 0's
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)}, "output": {"mu": mu, **scale}}
    proto = stats.prototype_geometry(model, stack_params(p), x, y, 2)
    np.testing.assert_array_equal(proto["nearest_class"][0], [1, 0])
    np.testing.assert_allclose(proto["centre_distance"][0], [[np.sqrt(50), 0], [0, np.sqrt(50)]], atol=1e-5)
    assert proto["centre_on_own_class"][0] == 0.0
    g = stats.output_geometry(model, stack_params(p), x, y, 2)
    # unit c is far from class c: a distance head reads as intensity here; the RBF logit is minus half a squared
    # distance, so its own output (before any Neg) is largest near its centre and reads the other way round
    assert g["intensity_share" if "RBF" not in name else "distance_share"][0] == 1.0


def test_a_dead_output_unit_is_neither_a_distance_nor_an_intensity_code():
    model = models.get("ReLU2", hidden=2, classes=2)
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)}, "output": {"kernel": np.array([[1.0, -1], [0, -1]])}}
    x, y = _two_clusters()
    g = stats.output_geometry(model, stack_params(p), x, y, 2)      # unit 1 is ReLU(-x0 - x1) = 0 for every input
    np.testing.assert_array_equal(g["intensity_code"][0], [True, False])
    np.testing.assert_array_equal(g["distance_code"][0], [False, False])


def test_a_class_missing_from_the_inputs_is_masked_not_read_as_mean_zero():
    model, p = _hyperplane_model()
    x = np.array([[-3.0, 1], [-1, 2], [1, 4], [2, 3], [6, 5]], np.float32)
    y = np.array([0, 0, 1, 1, 1], np.int32)
    two = stats.class_moments(model, stack_params(p), x, y, 2, "hidden_pre", batch=2)
    three = stats.class_moments(model, stack_params(p), x, y, 3, "hidden_pre", batch=2)     # class 2 absent
    assert np.isnan(three["mean"][0, 2]).all() and np.isnan(three["std"][0, 2]).all()
    np.testing.assert_allclose(three["mean"][0, :2], two["mean"][0], rtol=1e-6)
    np.testing.assert_allclose(stats.separation(three), stats.separation(two), rtol=1e-5)
    # Output unit 0 = h1, unit 1 = h0, unit 2 = 0. Class 0 means (0.5, 5.5, 0), class 1 (5.5, 0.5, 0): units 0 and 1
    # are distance codes; an absent class 2 read as mean 0 would undercut both of them.
    model = models.get("ReLU", hidden=2, classes=3)
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)},
         "output": {"kernel": np.array([[0.0, 1, 0], [1, 0, 0]])}}
    xc, yc = _two_clusters()
    g = stats.output_geometry(model, stack_params(p), xc, yc, 3)
    np.testing.assert_array_equal(g["distance_code"][0], [True, True, False])
    np.testing.assert_allclose(g["distance_share"], [1.0])
    assert np.isnan(g["class_means"][0, 2]).all()


def test_seed_axis_matches_each_seed_alone():
    model, params_S, x, y = trained_like(2)
    both = stats.class_moments(model, params_S, x, y, 3, "hidden_pre")
    one = stats.class_moments(model, jax.tree_util.tree_map(lambda a: a[1:], params_S), x, y, 3, "hidden_pre")
    chex.assert_trees_all_close(jax.tree_util.tree_map(lambda a: a[1:], both), one, rtol=1e-5, atol=1e-5)


def test_seed_chunk_bounds_the_rows_each_pass_holds_and_changes_no_count(monkeypatch):
    """8 seeds with seed_chunk 2 at batch 64: each pass holds 64 x 2 / 8 = 16 inputs of every seed, so its largest
    array is that of 2 seeds at the full batch; activity counts are exact integers, so they are equal."""
    model, params_2, x, y = trained_like(2, n=120)
    params_S = jax.tree_util.tree_map(lambda a: np.concatenate([a] * 4), params_2)
    rows = []
    real = stats._active_sums
    monkeypatch.setattr(stats, "_active_sums", lambda m, p, xb, mb: rows.append(len(xb)) or real(m, p, xb, mb))
    free = stats.unit_activity(model, params_S, x, batch=64)
    assert set(rows) == {64}
    rows.clear()
    with stats.bounded(2):
        bounded = stats.unit_activity(model, params_S, x, batch=64)
    assert set(rows) == {16}
    chex.assert_trees_all_equal(free, bounded)
    rows.clear()
    monkeypatch.setattr(stats, "BATCH", 64)          # training's statistics take the default batch
    stats.summary_statistics(model, params_S, _ds(x, y), seed_chunk=2)
    assert set(rows) == {16}


def _ds(x, y):
    from distnet import data
    return data.Dataset(x, y, x[:30], y[:30], 3, {})


def test_training_writes_the_summary_statistics_into_every_summary(smoke_run):
    for v in folder.list_variants(smoke_run):
        s = folder.read_json(folder.variant_dir(smoke_run, v) / "summary.json")["stats"]
        for split in ("train", "test"):
            hidden = s["activity"][split]["hidden_post"]
            assert hidden["units"] == 16 and len(hidden["dead"]) == 2
        share = s["output_geometry"]["distance_share"]
        assert len(share) == 2 and all(0.0 <= a <= 1.0 for a in share)
    # Abs2-Neg's output layer must read as distances (before Neg): the paper's central claim, on easy data
    assert folder.read_json(folder.variant_dir(smoke_run, "Abs2-Neg") / "summary.json")["stats"]["output_geometry"][
        "distance_share"] == [1.0, 1.0]
