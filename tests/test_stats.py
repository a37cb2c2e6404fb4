"""distnet.stats on hand-built networks where every answer is known."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats as sps

from distnet import models, runs, stats


def _stack(*trees):
    return jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(x, jnp.float32) for x in a]), *trees)


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
    frac = stats.unit_activity(model, _stack(p0, p1), _line_inputs(), batch=64)
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
    m = stats.class_moments(model, _stack(p, p), x, y, 2, "hidden_pre", batch=2)   # padded batches
    chex.assert_shape(m["mean"], (2, 2, 2))
    np.testing.assert_array_equal(m["count"][0], [2, 3])
    np.testing.assert_allclose(m["mean"][0, :, 0], [-2.0, 3.0], rtol=1e-6)
    np.testing.assert_allclose(m["std"][0, :, 0], [a0.std(), a1.std()], rtol=1e-5)
    np.testing.assert_allclose(m["skew"][0, :, 0], [sps.skew(a0), sps.skew(a1)], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m["mean"][0, :, 1], [7.0, 7.0])      # unit 1 sees no class difference
    sep = stats.separation(m)
    assert sep[0, 0] > 1 and sep[0, 1] == 0
    h = stats.unit_histogram(model, _stack(p, p), x, y, np.array([0, 0]), 2, bins=9)
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
    g = stats.output_geometry(model, _stack(p), x, y, 2)
    np.testing.assert_allclose(g["distance_share"], [distance])
    np.testing.assert_allclose(g["intensity_share"], [1.0 - distance])
    proto = stats.prototype_geometry(model, _stack(p), x, y, 2)
    # class means (5.5, 0.5) and (0.5, 5.5); signed distance to hyperplane c is sign * m_k[c]
    np.testing.assert_allclose(proto["hyperplane_distance"][0], sign * np.array([[5.5, 0.5], [0.5, 5.5]]), rtol=1e-6)


def test_offsetl2_centres_on_the_class_means_are_found():
    model = models.get("Abs-L2", hidden=2, classes=2)
    x, y = _two_clusters()
    mu = np.array([[0.5, 5.5], [5.5, 0.5]])      # centre 0 sits on class 1's mean, centre 1 on class 0's
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)}, "output": {"mu": mu, "alpha": np.ones((2, 2))}}
    proto = stats.prototype_geometry(model, _stack(p), x, y, 2)
    np.testing.assert_array_equal(proto["nearest_class"][0], [1, 0])
    np.testing.assert_allclose(proto["centre_distance"][0], [[np.sqrt(50), 0], [0, np.sqrt(50)]], atol=1e-5)
    assert proto["centre_on_own_class"][0] == 0.0
    g = stats.output_geometry(model, _stack(p), x, y, 2)
    assert g["intensity_share"][0] == 1.0       # unit c is far from class c: an intensity reading here


def test_a_dead_output_unit_is_neither_a_distance_nor_an_intensity_code():
    model = models.get("ReLU2", hidden=2, classes=2)
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)}, "output": {"kernel": np.array([[1.0, -1], [0, -1]])}}
    x, y = _two_clusters()
    g = stats.output_geometry(model, _stack(p), x, y, 2)      # unit 1 is ReLU(-x0 - x1) = 0 for every input
    np.testing.assert_array_equal(g["intensity_code"][0], [True, False])
    np.testing.assert_array_equal(g["distance_code"][0], [False, False])


def _trained_like(seed=0, d=6, n=120):
    """A random ReLU2 network and data labelled by its own predictions (so it is 100% accurate)."""
    model = models.get("ReLU2", hidden=8, classes=3)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    params_S = jax.vmap(lambda k: model.init(k, jnp.zeros((1, d)))["params"])(jax.random.split(k1, 2))
    x = np.asarray(jax.random.normal(k2, (n, d)))
    y = np.asarray(jnp.argmax(model.apply({"params": jax.tree_util.tree_map(lambda a: a[0], params_S)}, x), -1))
    return model, params_S, x, y


def test_clamp_at_zero_changes_nothing_and_at_one_makes_a_constant_prediction():
    model, params_S, x, y = _trained_like()
    p0 = jax.tree_util.tree_map(lambda a: a[0], params_S)
    inf = jnp.full((8,), jnp.inf)
    chex.assert_trees_all_close(model.apply({"params": p0}, x, clamp={"hidden_post": (-inf, inf)}),
                                model.apply({"params": p0}, x))
    curves = stats.perturbation(model, params_S, x, y, "hidden_post", fractions=(0.0, 0.5, 1.0), batch=50)
    chex.assert_shape(curves["below"], (2, 3))
    clean = [np.mean(np.argmax(model.apply({"params": jax.tree_util.tree_map(lambda a: a[s], params_S)}, x), -1) == y)
             for s in range(2)]
    np.testing.assert_allclose(curves["below"][:, 0], clean, atol=1e-6)
    np.testing.assert_allclose(curves["above"][:, 0], clean, atol=1e-6)
    assert clean[0] == 1.0
    # fraction 1: every hidden unit pinned to one value, so every input gets the same answer
    shares = np.bincount(y, minlength=3) / len(y)
    for way in ("below", "above"):
        assert np.any(np.isclose(float(curves[way][0, -1]), shares, atol=1e-6))


def test_half_point_interpolates_and_is_nan_when_accuracy_never_halves():
    got = stats.half_point([0.0, 0.5, 1.0], [[0.8, 0.6, 0.2], [0.8, 0.8, 0.7], [0.8, 0.4, 0.1]])
    np.testing.assert_allclose(got[[0, 2]], [0.75, 0.5])
    assert np.isnan(got[1])


def test_half_point_needs_the_clean_accuracy_when_fractions_do_not_start_at_zero():
    with pytest.raises(ValueError, match="pass clean_S"):
        stats.half_point([0.5, 1.0], [[0.6, 0.2]])
    # clean 0.8: half is 0.4, crossed between 0.5 (0.6) and 1.0 (0.2) -> 0.75; with acc[0] as clean it would be 1.0
    np.testing.assert_allclose(stats.half_point([0.5, 1.0], [[0.6, 0.2]], clean_S=[0.8]), [0.75])


def test_perturbation_tells_clamping_from_below_from_clamping_from_above():
    # One ReLU unit h = x on x in [0, 1]; output 0 = h, output 1 = 0.3 (bias): class 0 iff x > 0.3.
    # Clamp from below at f (h -> max(h, f)): every x < 0.3 turns class 0 once f > 0.3 -> 8/12 right.
    # Clamp from above at f (h -> min(h, 1 - f)): every x > 0.3 turns class 1 once 1 - f < 0.3 -> 4/12 right.
    model = models.get("ReLU-Bias", hidden=1, classes=2)
    p = {"hidden": {"kernel": np.ones((1, 1)), "bias": np.zeros(1)},
         "output": {"kernel": np.array([[1.0, 0.0]]), "bias": np.array([0.0, 0.3])}}
    xs = np.array([0.0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0], np.float32)[:, None]
    y = (xs[:, 0] < 0.3).astype(np.int32)
    fr = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    curves = stats.perturbation(model, _stack(p), xs, y, "hidden_post", fractions=fr, batch=5)
    np.testing.assert_allclose(curves["below"][0], [1, 1, 2 / 3, 2 / 3, 2 / 3, 2 / 3], atol=1e-6)
    np.testing.assert_allclose(curves["above"][0], [1, 1, 1, 1, 1 / 3, 1 / 3], atol=1e-6)
    assert np.isnan(stats.half_point(fr, curves["below"])[0])
    # above: 1 at 0.6, 1/3 at 0.8; half (0.5) is 3/4 of the way -> 0.75
    np.testing.assert_allclose(stats.half_point(fr, curves["above"]), [0.75], atol=1e-6)


def test_a_class_missing_from_the_inputs_is_masked_not_read_as_mean_zero():
    model, p = _hyperplane_model()
    x = np.array([[-3.0, 1], [-1, 2], [1, 4], [2, 3], [6, 5]], np.float32)
    y = np.array([0, 0, 1, 1, 1], np.int32)
    two = stats.class_moments(model, _stack(p), x, y, 2, "hidden_pre", batch=2)
    three = stats.class_moments(model, _stack(p), x, y, 3, "hidden_pre", batch=2)     # class 2 absent
    assert np.isnan(three["mean"][0, 2]).all() and np.isnan(three["std"][0, 2]).all()
    np.testing.assert_allclose(three["mean"][0, :2], two["mean"][0], rtol=1e-6)
    np.testing.assert_allclose(stats.separation(three), stats.separation(two), rtol=1e-5)
    # Output unit 0 = h1, unit 1 = h0, unit 2 = 0. Class 0 means (0.5, 5.5, 0), class 1 (5.5, 0.5, 0): units 0 and 1
    # are distance codes; an absent class 2 read as mean 0 would undercut both of them.
    model = models.get("ReLU", hidden=2, classes=3)
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)},
         "output": {"kernel": np.array([[0.0, 1, 0], [1, 0, 0]])}}
    xc, yc = _two_clusters()
    g = stats.output_geometry(model, _stack(p), xc, yc, 3)
    np.testing.assert_array_equal(g["distance_code"][0], [True, True, False])
    np.testing.assert_allclose(g["distance_share"], [1.0])
    assert np.isnan(g["class_means"][0, 2]).all()


def test_noise_of_size_zero_changes_nothing_and_larger_noise_moves_the_output():
    model, params_S, x, y = _trained_like(1)
    out = stats.noise_robustness(model, params_S, x, y, [0.0, 0.5, 5.0], batch=50)
    chex.assert_shape(out["accuracy"], (2, 3))
    np.testing.assert_array_equal(out["output_shift"][:, 0], [0.0, 0.0])
    assert float(out["accuracy"][0, 0]) == 1.0
    assert np.all(np.diff(np.asarray(out["output_shift"]), axis=1) > 0)


def test_seed_axis_matches_each_seed_alone():
    model, params_S, x, y = _trained_like(2)
    both = stats.class_moments(model, params_S, x, y, 3, "hidden_pre")
    one = stats.class_moments(model, jax.tree_util.tree_map(lambda a: a[1:], params_S), x, y, 3, "hidden_pre")
    chex.assert_trees_all_close(jax.tree_util.tree_map(lambda a: a[1:], both), one, rtol=1e-5, atol=1e-5)


def test_training_writes_the_cheap_stats_into_every_summary(smoke_run):
    for v in runs.list_variants(smoke_run):
        s = runs.read_json(runs.variant_dir(smoke_run, v) / "summary.json")["stats"]
        for split in ("train", "test"):
            hidden = s["activity"][split]["hidden_post"]
            assert hidden["units"] == 16 and len(hidden["dead"]) == 2
        share = s["output_geometry"]["distance_share"]
        assert len(share) == 2 and all(0.0 <= a <= 1.0 for a in share)
    # Abs2-Neg's output layer must read as distances (before Neg): the paper's central claim, on easy data
    assert runs.read_json(runs.variant_dir(smoke_run, "Abs2-Neg") / "summary.json")["stats"]["output_geometry"][
        "distance_share"] == [1.0, 1.0]
