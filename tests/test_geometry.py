"""distnet.geometry on networks whose geometry is known: the analytic Mahalanobis network, hand-placed
units, untrained networks against fresh truths, and a trained run folder's recorded truth."""
from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from scipy.spatial import distance

from distnet import data
from distnet.analysis import geometry
from distnet.nn import models
from distnet.run import folder

EPS32 = np.finfo(np.float32).eps


def _problem(seed=0, dim=6, classes=3):
    return data.gaussians(300, 60, dim=dim, classes=classes, seed=seed, separation=1.0, spread=20.0)


def _untrained(dim, hidden=32, seeds=2, name="Abs"):
    model = models.get(name, hidden=hidden, classes=3)
    keys = jax.random.split(jax.random.PRNGKey(5), seeds)
    return model, jax.vmap(lambda k: model.init(k, np.zeros((1, dim), np.float32))["params"])(keys)


def _f32_bound(p, x_NxD):
    """(N, H): bound on the float32 error of each hidden pre-activation sum_i W_ij x_i + b_j. A float32 dot
    product of D terms errs by at most D * eps32 times the sum of the terms' sizes (a standard bound on
    recursive summation), and the params' own float32 rounding adds eps32 of the same; doubled for slack in
    the order XLA sums in."""
    k, b = (np.asarray(p["hidden"][n][0], np.float64) for n in ("kernel", "bias"))
    terms = (np.abs(x_NxD)[:, :, None] * np.abs(k)[None]).sum(1) + np.abs(b)
    return 2 * (x_NxD.shape[1] + 1) * EPS32 * terms


def test_analytic_network_outputs_the_mahalanobis_distance():
    ds = _problem()
    model, p = geometry.analytic_network(ds.truth)
    out = -np.asarray(model.apply({"params": jax.tree.map(lambda a: a[0], p)}, ds.x_test), np.float64)
    t = ds.truth
    want = np.stack([[distance.mahalanobis(x, t["means"][c], np.linalg.inv(t["covariances"][c]))
                      for c in range(3)] for x in ds.x_test.astype(np.float64)])
    # the norm of class c's block errs by at most the norm of its units' float32 bounds (triangle
    # inequality); the OffsetL2 floor sqrt(1e-12) adds up to 1e-6
    unit_bound = _f32_bound(p, ds.x_test.astype(np.float64))
    bound = np.sqrt((unit_bound.reshape(len(ds.x_test), 3, ds.dim) ** 2).sum(-1)) + 1e-6
    assert np.all(np.abs(out - want) <= bound)
    np.testing.assert_allclose(geometry.mahalanobis(np.broadcast_to(ds.x_test[:1, None], (1, 3, ds.dim)), t),
                               want[:1], rtol=1e-10)


def test_analytic_network_scores_perfectly():
    ds = _problem()
    model, p = geometry.analytic_network(ds.truth)
    u = geometry.unit_scores(p, ds.truth)
    own = np.repeat(np.arange(3), ds.dim)                 # unit block c belongs to class c
    z_own = u["z"][0, np.arange(3 * ds.dim), own]
    # |z| = |w.mu + b| / sqrt(w Sigma w) with w Sigma w = 1: float32 storage of w and b leaves at most
    # 2 eps32 (sum_i |w_i mu_i| + |b|) of the cancellation w.mu + b = 0
    k, b = (np.asarray(p["hidden"][n][0], np.float64) for n in ("kernel", "bias"))
    bound = 2 * EPS32 * (np.abs(k * ds.truth["means"][own].T).sum(0) + np.abs(b))
    assert np.all(np.abs(z_own) <= bound) and bound.max() < 1e-5
    assert u["passes"].all() and np.array_equal(u["nearest_class"][0], own)
    # each normal is an eigenvector up to float32 rounding of its entries: 1 - |cos| <= D eps32
    cos = geometry.matched_cosines(geometry.first_layer(p)[0], ds.truth["eigenvectors"])
    assert cos.shape == (1, 3 * ds.dim) and np.all(1 - cos <= ds.dim * EPS32)
    axis = geometry.axis_alignment(geometry.first_layer(p)[0], ds.truth["eigenvectors"], u["nearest_class"])
    assert np.all(1 - axis <= ds.dim * EPS32)
    c = geometry.centre_scores(model, p, ds.truth)
    np.testing.assert_array_equal(c["nearest_mean"][0], np.arange(3))
    # centre c and h(mu_c) are two float32 evaluations of the same hidden image: they differ by at most twice
    # its float32 error bound, in units of the gap to the nearest other class's image (computed in float64)
    img = np.abs(ds.truth["means"] @ k + b)
    gap = np.min([np.linalg.norm(img[i] - img[j]) for i in range(3) for j in range(3) if i != j])
    assert np.all(c["offset"] <= 2 * np.linalg.norm(_f32_bound(p, ds.truth["means"]), axis=-1).max() / gap)
    s = geometry.geometry_summary(model, p, ds.truth, ds)["summary"]
    assert s["pass_fraction"]["mean"] == 1 and s["alignment"]["mean"] == pytest.approx(1, abs=float(ds.dim * EPS32))


def test_a_unit_through_a_class_mean_is_found_there():
    ds = _problem(dim=5)
    _, p = _untrained(5, hidden=8, seeds=1)
    k = np.asarray(p["hidden"]["kernel"], np.float64).copy()
    b = np.asarray(p["hidden"]["bias"], np.float64).copy()
    mu, cov = ds.truth["means"], ds.truth["covariances"]
    b[0, 3] = -k[0, :, 3] @ mu[2]                                          # unit 3 through class 2's mean
    sd = np.sqrt(k[0, :, 5] @ cov[1] @ k[0, :, 5])
    b[0, 5] = -k[0, :, 5] @ mu[1] + 0.5 * sd                               # unit 5 half a std off class 1's
    z = geometry.hyperplane_z(k, b, ds.truth)
    assert abs(z[0, 3, 2]) < 1e-12 and z[0, 5, 1] == pytest.approx(0.5, rel=1e-12)
    np.testing.assert_allclose(geometry.hyperplane_z(7 * k, 7 * b, ds.truth), z, rtol=1e-12)   # scale-free
    u = geometry.unit_scores({"hidden": {"kernel": k, "bias": b}}, ds.truth)
    assert u["nearest_class"][0, 3] == 2 and u["passes"][0, 3]
    assert not u["passes"][0, 5] or u["nearest_class"][0, 5] != 1       # 0.5 std is not "through"


def test_untrained_network_scores_like_chance():
    # An untrained network never saw the truth, so its score against the real truth is exchangeable with its
    # scores against 99 fresh truths from the same generator: its rank among the 100 is uniform, and falls in
    # the lowest or highest one with probability 2% (fixed seeds make the outcome deterministic). The analytic
    # network of the real truth must beat every fresh-truth score of the untrained one.
    make = lambda s: data.gaussians(40, 4, dim=6, classes=3, seed=s, separation=1.0, spread=20.0).truth
    truths = [make(s) for s in range(100)]
    _, p = _untrained(6, hidden=12, seeds=1)
    k = geometry.first_layer(p)[0]
    align = np.array([geometry.matched_cosines(k, t["eigenvectors"]).mean() for t in truths])
    passing = np.array([geometry.unit_scores(p, t)["passes"].mean() for t in truths])
    axis = np.array([geometry.axis_alignment(k, t["eigenvectors"], geometry.unit_scores(p, t)["nearest_class"]).mean()
                     for t in truths])
    for stat in (align, passing, axis):
        rank = (stat < stat[0]).sum() + 1
        assert 1 < rank < 100 or np.sum(stat == stat[0]) > 1
    _, pa = geometry.analytic_network(truths[0])
    assert geometry.matched_cosines(geometry.first_layer(pa)[0], truths[0]["eigenvectors"]).mean() > align.max()
    assert geometry.unit_scores(pa, truths[0])["passes"].mean() > passing.max()
    # chance_alignment estimates the same null mean; the two estimates differ by less than 4 of their
    # combined standard errors (probability > 99.99% for normal errors)
    ch = geometry.chance_alignment(12, truths[0], draws=400)
    se = np.hypot(ch["std"] / np.sqrt(400), align.std(ddof=1) / np.sqrt(100))
    assert abs(ch["mean"] - align.mean()) < 4 * se
    se = np.hypot(ch["axis_std"] / np.sqrt(400), axis.std(ddof=1) / np.sqrt(100))
    assert abs(ch["axis_mean"] - axis.mean()) < 4 * se


def test_a_centre_moved_to_another_class_is_read_there():
    ds = _problem()
    model, p = geometry.analytic_network(ds.truth)
    mu = np.asarray(p["output"]["mu"]).copy()
    mu[0, 0] = mu[0, 2]                                   # centre 0 onto class 2's image
    q = {**p, "output": {**p["output"], "mu": mu}}
    c = geometry.centre_scores(model, q, ds.truth)
    # unit 0's alpha only sees block 0, where class 2's image is |W_0 (mu_2 - mu_0)| != 0, so the reading
    # changes but the Euclidean offset says "no closer to its own class than to the nearest other"
    assert c["offset"][0, 0] >= 1 - 1e-6 and c["offset"][0, 1] < 1e-5


def test_summary_of_a_trained_run_folder_reads_its_recorded_truth(smoke_run):
    vdir = folder.variant_dir(smoke_run, "Abs2-Neg")
    truth = folder.load_truth(vdir)
    model, params = models.from_record(folder.read_config(vdir)), folder.load_params(vdir)
    out = geometry.geometry_summary(model, params, truth, data.reload(folder.read_config(vdir), vdir))
    json.dumps(out, allow_nan=False)
    assert len(out["per_seed"]["alignment"]) == 2 and 0 < out["summary"]["alignment"]["mean"] <= 1
    assert 0 < out["chance_alignment"]["mean"] < 1


def test_axis_alignment_is_the_per_unit_definition_in_memory_that_does_not_hold_a_basis_per_unit():
    """Equal to gathering each unit's class basis (S x H x D x D, 35.9 GiB at D = 784 and 10 classes x 784 units),
    computed a class at a time: the peak stays near S x H x D floats."""
    import tracemalloc

    rng = np.random.default_rng(0)
    s, d, h, c = 2, 120, 8, 5
    kernel = rng.normal(size=(s, d, h))
    eig = np.stack([np.linalg.qr(rng.normal(size=(d, d)))[0] for _ in range(c)])
    cls = rng.integers(0, c, (s, h))
    n = kernel / np.linalg.norm(kernel, axis=1, keepdims=True)
    want = np.abs(np.einsum("sdh,shdi->shi", n, eig[cls])).max(-1)
    tracemalloc.start()
    got = geometry.axis_alignment(kernel, eig, cls)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_allclose(got, want, rtol=1e-12)   # float64 sums of 120 terms in another order
    assert peak < s * h * d * d * 8 / 4, peak           # the gathered bases alone would take 1.8 MB
