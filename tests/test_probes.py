"""distnet.analysis.probes on networks whose answer is known."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distnet.nn import models
from distnet.analysis import probes

from helpers import stack_params, trained_like


def test_clamp_at_zero_changes_nothing_and_at_one_makes_a_constant_prediction():
    model, params_S, x, y = trained_like()
    p0 = jax.tree_util.tree_map(lambda a: a[0], params_S)
    inf = jnp.full((8,), jnp.inf)
    chex.assert_trees_all_close(model.apply({"params": p0}, x, clamp={"hidden_post": (-inf, inf)}),
                                model.apply({"params": p0}, x))
    curves = probes.perturbation(model, params_S, x, y, "hidden_post", fractions=(0.0, 0.5, 1.0), batch=50)
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
    got = probes.half_point([0.0, 0.5, 1.0], [[0.8, 0.6, 0.2], [0.8, 0.8, 0.7], [0.8, 0.4, 0.1]])
    np.testing.assert_allclose(got[[0, 2]], [0.75, 0.5])
    assert np.isnan(got[1])


def test_half_point_needs_the_clean_accuracy_when_fractions_do_not_start_at_zero():
    with pytest.raises(ValueError, match="pass clean_S"):
        probes.half_point([0.5, 1.0], [[0.6, 0.2]])
    # clean 0.8: half is 0.4, crossed between 0.5 (0.6) and 1.0 (0.2) -> 0.75; with acc[0] as clean it would be 1.0
    np.testing.assert_allclose(probes.half_point([0.5, 1.0], [[0.6, 0.2]], clean_S=[0.8]), [0.75])


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
    curves = probes.perturbation(model, stack_params(p), xs, y, "hidden_post", fractions=fr, batch=5)
    np.testing.assert_allclose(curves["below"][0], [1, 1, 2 / 3, 2 / 3, 2 / 3, 2 / 3], atol=1e-6)
    np.testing.assert_allclose(curves["above"][0], [1, 1, 1, 1, 1 / 3, 1 / 3], atol=1e-6)
    assert np.isnan(probes.half_point(fr, curves["below"])[0])
    # above: 1 at 0.6, 1/3 at 0.8; half (0.5) is 3/4 of the way -> 0.75
    np.testing.assert_allclose(probes.half_point(fr, curves["above"]), [0.75], atol=1e-6)


def test_noise_of_size_zero_changes_nothing_and_larger_noise_moves_the_output():
    model, params_S, x, y = trained_like(1)
    out = probes.noise_robustness(model, params_S, x, y, [0.0, 0.5, 5.0], batch=50)
    chex.assert_shape(out["accuracy"], (2, 3))
    np.testing.assert_array_equal(out["output_shift"][:, 0], [0.0, 0.0])
    assert float(out["accuracy"][0, 0]) == 1.0
    assert np.all(np.diff(np.asarray(out["output_shift"]), axis=1) > 0)
