"""distnet.prototypes on networks whose prototypes are known by construction."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from distnet import data
from distnet.analysis import geometry, prototypes
from distnet.nn import models

EPS32 = np.finfo(np.float32).eps


def _stack(*trees):
    return jax.tree.map(lambda *a: np.stack(a), *trees)


def test_the_analytic_network_prototypes_are_the_true_means_for_every_seed():
    # Two "seeds" holding the analytic networks of two different truths (same shapes): each must recover its
    # own truth's means, so the search is vmapped over seeds and classes without mixing them up.
    a, b = (data.gaussians(400, 20, dim=4, classes=3, seed=s, separation=1.0, spread=10.0) for s in (1, 2))
    model, pa = geometry.analytic_network(a.truth)
    _, pb = geometry.analytic_network(b.truth)
    params = jax.tree.map(lambda x, y: np.concatenate([x, y]), pa, pb)
    x_train = np.concatenate([a.x_train, b.x_train])       # one box that holds both truths' means
    out = prototypes.find(model, params, x_train)
    # Output c is ||W_c (x - mu_c)||_2 >= |x - mu_c| / sqrt(largest eigenvalue = 1): divided by its spread sd_c it
    # grows at slope >= 1 / sd_c in every direction away from mu_c, while the regulariser lam * mean(((x - xbar)
    # / s)^2) has gradient 2 lam (mu_c - xbar) / s^2 / D there. Where that gradient is smaller than 1 / sd_c,
    # mu_c is the exact minimiser (checked below). We require the search to land within 0.01 Mahalanobis units,
    # a tenth of geometry.TAU, the "passes through the mean" threshold.
    _, _, xbar, s = prototypes.box(x_train)
    sd = prototypes.unit_spread(model, params, x_train)
    for i, t in enumerate((a.truth, b.truth)):
        reg = np.linalg.norm(2 * prototypes.LAM * (t["means"] - xbar) / s ** 2 / 4, axis=-1)
        assert np.all(reg < 1 / sd[i])
    err = np.stack([geometry.mahalanobis(out["x"][:1], a.truth)[0], geometry.mahalanobis(out["x"][1:], b.truth)[0]])
    assert err.max() < 0.01, err
    np.testing.assert_array_equal(out["predicted"], np.tile(np.arange(3), (2, 1)))
    assert out["definition"].startswith("argmin_x unit c: hidden image closest to centre")


def test_an_intensity_prototype_sits_at_the_box_corner_its_weights_point_to():
    # ReLU network on inputs in [0, 1]^4 (so ReLU(x) = x): unit c = sum_i V_ic x_i, maximised over the box at
    # x_i = hi_i where V_ic > 0 and lo_i where V_ic < 0. Normalised by its spread (sd_c <= |V_c| * max range),
    # the unit's slope in box coordinates is at least min|V_ic| * range_i / sd_c >= 0.5 * 0.99 / 2.5 = 0.2 here
    # (|V_c| <= 2.5, ranges >= 0.99 for 500 uniform draws); the regulariser's is at most
    # 2 lam |x - mean| range / s^2 / D <= 2 lam (range / 2) range (4 / range)^2 / 4 = 4 lam = 0.04 at lam = 0.01
    # (s >= range / 4 for uniform data): the corner is the optimum and projected steps reach it exactly.
    rng = np.random.default_rng(0)
    x_train = rng.random((500, 4)).astype(np.float32)
    v = np.array([[1.0, -0.5], [-2.0, 1.0], [0.5, 0.5], [-1.0, -1.0]])
    p = {"hidden": {"kernel": np.eye(4), "bias": np.zeros(4)}, "output": {"kernel": v}}
    model = models.get("ReLU", hidden=4, classes=2)
    out = prototypes.find(model, _stack(jax.tree.map(lambda a: np.asarray(a, np.float32), p)), x_train, lam=0.01)
    lo, hi = x_train.min(0), x_train.max(0)
    want = np.where(v.T > 0, hi, lo)                                           # (C, D)
    # lo + 1.0 * (hi - lo) in float32 may miss hi by one rounding: eps32 * max|x|
    np.testing.assert_allclose(out["x"][0], want, atol=2 * EPS32)
    assert "argmax_x unit c" in out["definition"]


@pytest.mark.parametrize("name,sign", [("ReLU", -1), ("Abs", -1), ("ReLU2", -1), ("Abs2", -1), ("ReLU-Bias", -1),
                                       ("ReLU2-Neg", 1), ("Abs2-Neg", 1), ("Abs2-Neg-Bias", 1), ("ReLU-L2", 1),
                                       ("ReLU-L2-Neg", 1), ("Abs-L2", 1), ("Abs-L2-Neg", 1),
                                       ("ReLU-RBF", -1), ("Abs-RBF", -1), ("ReLU-MD", 1), ("ReLU-MD-Neg", 1),
                                       ("Abs-MD", 1), ("Abs-MD-Neg", 1)])
def test_each_variant_has_a_stated_definition(name, sign):
    spec = models.REGISTRY[name]
    assert prototypes.sign(spec) == sign
    # a centred head without Neg predicts the class whose centre is farthest; an RBF logit is the similarity itself
    assert ("FARTHEST" in prototypes.definition(spec)) == (spec.head in ("offsetl2", "md") and not spec.neg)


def test_explain_ranks_classes_by_the_distance_reading():
    ds = data.gaussians(200, 20, dim=3, classes=4, seed=3, separation=1.0, spread=5.0)
    model, p = geometry.analytic_network(ds.truth)
    x = ds.x_test[5]
    e = prototypes.explain(model, jax.tree.map(lambda a: a[0], p), x, prototypes_CxD=ds.truth["means"])
    d = geometry.mahalanobis(np.broadcast_to(x, (1, 4, 3)), ds.truth)[0]
    np.testing.assert_allclose(e["reading"], d, rtol=1e-4, atol=1e-5)   # float32 forward, well-conditioned W
    assert e["reading_kind"] == "distance" and e["ranked"] == np.argsort(d).tolist()
    assert e["nearest_prototype"] == e["predicted"] == int(np.argmin(d))
    euclid = np.sqrt(np.mean((ds.truth["means"] - x) ** 2, -1))
    np.testing.assert_allclose(e["input_distance"], euclid, rtol=1e-6)
    assert e["nearest_input_prototype"] == int(np.argmin(euclid))
    np.testing.assert_allclose(sum(e["probabilities"]), 1, rtol=1e-6)


def test_explain_ranks_intensity_readings_from_the_top():
    model = models.get("Abs2", hidden=2, classes=3)
    p = {"hidden": {"kernel": np.eye(2), "bias": np.zeros(2)}, "output": {"kernel": np.array([[1., 3, 2], [0, 0, 0]])}}
    e = prototypes.explain(model, p, np.array([2.0, 5.0]))
    assert e["reading_kind"] == "intensity" and e["reading"] == [2.0, 6.0, 4.0] and e["ranked"] == [1, 2, 0]
    assert e["predicted"] == e["nearest_prototype"] == 1


def test_nearest_examples_match_brute_force():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    protos = rng.normal(size=(2, 3, 5))
    got = prototypes.nearest_examples(protos, x, batch=64)                   # several batches
    want = np.linalg.norm(protos[:, :, None] - x[None, None], axis=-1).argmin(-1)
    np.testing.assert_array_equal(got, want)
