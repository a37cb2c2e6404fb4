"""distnet.nn.heads: the RBF and Mahalanobis output layers against float64 numpy, at the centre, and in memory.

Tolerances are float32 rounding bounds: EPS32 times the number of terms a value sums, applied to the sum of the
terms' absolute values (the scale a rounding error is relative to), never to a possibly cancelled result.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from distnet import config
from distnet.config import ConfigError
from distnet.nn import heads, layers, models
from distnet.run import plan

EPS32 = float(np.finfo(np.float32).eps)


def _raw_scale(seed, B=300, C=5, H=32):
    """Hidden values and centres at raw-pixel scale (hundreds), centres apart from the data."""
    rng = np.random.default_rng(seed)
    h = np.maximum(rng.normal(100, 200, (B, H)), 0).astype(np.float32)
    mu = rng.normal(100, 200, (C, H)).astype(np.float32)
    g = rng.normal(size=(B, C)).astype(np.float32)          # an arbitrary upstream gradient dL/dlogits
    return h, mu, g


# --- RBF -------------------------------------------------------------------------------------------------

def test_rbf_forward_matches_float64():
    h, mu, _ = _raw_scale(0)
    lp = np.random.default_rng(1).normal(-8, 1, mu.shape).astype(np.float32)
    got = np.asarray(heads.rbf_logits(h, mu, lp), np.float64)
    d = h[:, None, :].astype(np.float64) - mu
    want = -0.5 * np.sum(np.exp(lp.astype(np.float64)) * d ** 2, axis=-1)
    # every term is >= 0, so the bound is relative to the result: sqrt(p) = exp(lp / 2) (1 ulp, 2 once squared),
    # subtract, multiply, square (3 roundings) and a sum of H terms
    H = h.shape[1]
    np.testing.assert_array_less(np.abs(got - want), (H + 6) * EPS32 * np.abs(want))
    # log space: logits below float32's exp range (exp(-104) rounds to 0, so exp then log would give -inf)
    assert np.mean(want < -104) > 0.9 and np.isfinite(got).all()


def test_rbf_gradient_matches_float64():
    h, mu, g = _raw_scale(2)
    lp = np.random.default_rng(3).normal(-8, 1, mu.shape).astype(np.float32)
    got = jax.grad(lambda h, mu, lp: jnp.sum(g * heads.rbf_logits(h, mu, lp)), argnums=(0, 1, 2))(h, mu, lp)
    h64, mu64, g64, p = h.astype(np.float64), mu.astype(np.float64), g.astype(np.float64), np.exp(lp.astype(np.float64))
    d = h64[:, None, :] - mu64                                           # B x C x H, float64 only here
    want = (-np.einsum("bc,ch,bch->bh", g64, p, d), np.einsum("bc,ch,bch->ch", g64, p, d),
            -0.5 * np.einsum("bc,ch,bch->ch", g64, p, d ** 2))
    # The streaming backward regroups each sum into matmuls over the C classes (dh) or the B inputs (dmu, dlp),
    # of terms |g| p (|h| + |mu|) (dh, dmu) and |g| p (|h| + |mu|)^2 (dlp): error <= (terms + 6) EPS32 x their
    # absolute sum (6: p = exp(lp / 2)^2 and the chain rule's products).
    a = np.abs(h64)[:, None, :] + np.abs(mu64)
    scale = (np.einsum("bc,ch,bch->bh", np.abs(g64), p, a), np.einsum("bc,ch,bch->ch", np.abs(g64), p, a),
             np.einsum("bc,ch,bch->ch", np.abs(g64), p, a ** 2))
    n_terms = (mu.shape[0], h.shape[0], h.shape[0])
    for name, x, w, s, n in zip(("h", "mu", "log_precision"), got, want, scale, n_terms, strict=True):
        assert np.all(np.abs(np.asarray(x, np.float64) - w) <= (n + 6) * EPS32 * s), name


def test_rbf_at_the_centre_is_exact_and_its_gradient_zero():
    mu = np.array([[3.0, 250.0, 0.0], [1.0, 2.0, 3.0]], np.float32)
    lp = np.zeros_like(mu)
    x = mu[:1]                                                            # exactly on centre 0
    logits = heads.rbf_logits(x, mu, lp)
    assert float(logits[0, 0]) == 0.0                                     # h - mu is formed exactly
    gh, gmu, glp = jax.grad(lambda x, mu, lp: heads.rbf_logits(x, mu, lp)[0, 0], argnums=(0, 1, 2))(x, mu, lp)
    # d/dmu = p (h - mu) = 0 and d/dp = -0.5 (h - mu)^2 = 0 at the centre, exactly as in float64
    np.testing.assert_array_equal(gmu[0], 0.0)
    np.testing.assert_array_equal(glp[0], 0.0)
    assert np.isfinite(gh).all()


def _temp_bytes(f, *args):
    grad = jax.jit(jax.grad(lambda *a: f(*a).sum(), argnums=tuple(range(len(args)))))
    return grad.lower(*args).compile().memory_analysis().temp_size_in_bytes


def test_rbf_never_builds_a_batch_x_class_x_hidden_tensor():
    """XLA's accounting of the compiled forward + backward: under one B x C x H float32 tensor, while autodiff
    of the same formula written directly needs several."""
    B, C, H = 2000, 10, 64
    args = (jnp.ones((B, H)), jnp.zeros((C, H)), jnp.zeros((C, H)))
    direct = lambda h, mu, lp: -0.5 * jnp.sum(jnp.exp(lp) * jnp.square(h[:, None, :] - mu), axis=-1)
    assert _temp_bytes(heads.rbf_logits, *args) < B * C * H * 4 <= _temp_bytes(direct, *args)


# --- MD --------------------------------------------------------------------------------------------------

def _md_case(seed, B=300, C=5, R=8, H=32):
    h, mu, g = _raw_scale(seed, B, C, H)
    P = np.random.default_rng(seed + 10).uniform(-1, 1, (C, R, H)).astype(np.float32) / np.sqrt(H)
    h64, mu64, P64 = h.astype(np.float64), mu.astype(np.float64), P.astype(np.float64)
    z = np.einsum("crh,bch->bcr", P64, h64[:, None, :] - mu64)
    # z = h @ P^T - P mu: each entry sums H products of each matmul; its rounding is relative to
    # sum_h |P_crh| (|h_bh| + |mu_ch|), not to z itself (the two products cancel near the centre)
    dz = (H + 2) * EPS32 * np.einsum("crh,bch->bcr", np.abs(P64), np.abs(h64)[:, None, :] + np.abs(mu64))
    return h, mu, P, g, z, dz


def test_md_forward_matches_float64():
    h, mu, P, _, z, dz = _md_case(0)
    got = np.asarray(heads.md_distance(h, mu, P), np.float64)
    want = np.sqrt(np.sum(z ** 2, -1))
    # ||z + e|| - ||z|| <= ||e|| (triangle inequality), then the squares' sum of R terms and the sqrt
    R = P.shape[1]
    assert np.all(np.abs(got - want) <= np.linalg.norm(dz, axis=-1) + (R + 3) * EPS32 * want)


def test_md_gradient_matches_float64_and_autodiff():
    h, mu, P, g, z, dz = _md_case(4)
    got = jax.grad(lambda *a: jnp.sum(g * heads.md_distance(*a)), argnums=(0, 1, 2))(h, mu, P)
    y = np.sqrt(np.sum(z ** 2, -1))
    u = (g / y)[:, :, None] * z                                          # dL/dz, float64
    d = h.astype(np.float64)[:, None, :] - mu
    want = (np.einsum("bcr,crh->bh", u, P), -np.einsum("bcr,crh->ch", u, P), np.einsum("bcr,bch->crh", u, d))
    # u = g z / ||z|| moves by at most 2 |g| ||e|| / ||z|| when z moves by e (forward bound above), plus
    # (R + 3) EPS32 of its own; each gradient then sums C R (dh, dmu: R) or B terms of u times P or (h - mu)
    C, R, H = P.shape
    du = np.abs(g) * (2 * np.linalg.norm(dz, axis=-1) / y + (R + 3) * EPS32)          # B x C, per |u_bc| unit
    absu = np.abs(u) + du[:, :, None] / np.sqrt(R)
    P64, a = np.abs(P.astype(np.float64)), np.abs(h.astype(np.float64))[:, None, :] + np.abs(mu)
    bound = (np.einsum("bc,crh->bh", du, P64) + (C * R + 2) * EPS32 * np.einsum("bcr,crh->bh", absu, P64),
             np.einsum("bc,crh->ch", du, P64) + (h.shape[0] * R + 2) * EPS32 * np.einsum("bcr,crh->ch", absu, P64),
             np.einsum("bc,bch->ch", du, a)[:, None, :] + (h.shape[0] + 2) * EPS32 * np.einsum("bcr,bch->crh", absu, a))
    for name, x, w, b in zip(("h", "mu", "P"), got, want, bound, strict=True):
        assert np.all(np.abs(np.asarray(x, np.float64) - w) <= b), name
    # the hand-written backward is autodiff's of the same forward away from the floor, to float32 noise
    auto = jax.grad(lambda h, mu, P: jnp.sum(g * jnp.sqrt(jnp.sum(jnp.square(heads._project(h, mu, P)), -1))),
                    argnums=(0, 1, 2))(h, mu, P)
    for x, w in zip(got, auto, strict=True):
        assert np.max(np.abs(x - w)) <= 1e-5 * np.max(np.abs(w))


def test_md_exactly_at_the_centre_is_the_floor_with_zero_gradient():
    # small integers and multiples of 1/8: every product and sum is exact, so z = P (h - mu) = 0 exactly
    mu = np.array([[3.0, 5.0, 0.0, 2.0], [1.0, 2.0, 3.0, 4.0]], np.float32)
    P = (np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4) - 11) / 8
    x = mu[:1]
    y = heads.md_distance(x, mu, P)
    assert float(y[0, 0]) == pytest.approx(np.sqrt(layers.SQ_FLOOR))
    grads = jax.grad(lambda *a: heads.md_distance(*a)[0, 0], argnums=(0, 1, 2))(x, mu, P)
    for leaf in grads:       # the floor's subgradient, as in the float64 reference (its ds is 0 below EPS)
        np.testing.assert_array_equal(leaf, 0.0)
    # just off a centre at the origin, still under the floor: z = P delta is exact and tiny (|z|^2 = 3.8e-13 <
    # 1e-12), and the gradient is still the floor's 0, not g z / 1e-6
    mu0 = np.concatenate([np.zeros((1, 4), np.float32), mu[1:]])
    x_off = np.zeros((1, 4), np.float32)
    x_off[0, 2] = 2.0 ** -21
    mu = mu0
    y_off = heads.md_distance(x_off, mu, P)
    assert float(y_off[0, 0]) == pytest.approx(np.sqrt(layers.SQ_FLOOR))
    for leaf in jax.grad(lambda *a: heads.md_distance(*a)[0, 0], argnums=(0, 1, 2))(x_off, mu, P):
        np.testing.assert_array_equal(leaf, 0.0)


def test_md_near_the_centre_stays_finite_and_bounded():
    # At raw-pixel scale h @ P^T and P mu round differently, so at h = mu z is rounding noise, not 0: the output
    # is at most the forward's rounding bound and the gradient a unit vector through P_c (|dy/dh| <= ||P_c||_2).
    h, mu, P, _, _, dz = _md_case(6)
    x = mu[:3] + 0.0
    y = np.asarray(heads.md_distance(x, mu, P))
    bound = (P.shape[2] + 2) * EPS32 * np.einsum("crh,bh->bc", np.abs(P), np.abs(x) + np.abs(mu[:3]))
    assert np.all(np.diagonal(y) <= np.sqrt(P.shape[1]) * np.diagonal(bound) + 1e-6)
    for c in range(3):
        gh = jax.grad(lambda x: heads.md_distance(x, mu, P)[0, c])(x[c:c + 1])
        assert np.isfinite(gh).all()
        assert np.linalg.norm(gh) <= np.linalg.norm(P[c], 2) * (1 + 1e-5)


def test_md_builds_nothing_larger_than_batch_x_class_x_rank():
    """Compiled forward + backward: at most three B x C x R buffers (z kept for the backward, u, and the matmul's
    output before the reshape) and nothing of B x C x H, which autodiff of the direct formula builds."""
    B, C, R, H = 2000, 10, 4, 64
    args = (jnp.ones((B, H)), jnp.zeros((C, H)), jnp.ones((C, R, H)))
    fast = _temp_bytes(heads.md_distance, *args)
    assert fast <= 3 * B * C * R * 4 + 4 * B * (C + H) * 4 < B * C * H * 4 < _temp_bytes(heads.md_distance_direct, *args)


# --- as output layers of the variants (forward and SGD steps against tests/reference.py: test_layers.py and
# test_trainer.py, parametrised over every registered name) ------------------------------------------------

def test_parameter_names_shapes_and_init():
    x = jnp.zeros((1, 784))
    rbf = models.get("Abs-RBF").init(jax.random.PRNGKey(0), x)["params"]["output"]
    assert set(rbf) == {"mu", "log_precision"} and rbf["mu"].shape == rbf["log_precision"].shape == (10, 128)
    np.testing.assert_allclose(rbf["log_precision"], -2 * np.log(heads.SPREAD), rtol=1e-6)
    assert stats.kstest(np.ravel(rbf["mu"]), stats.norm(0, heads.SPREAD).cdf).pvalue > 1e-3
    md = models.get("ReLU-MD-Neg").init(jax.random.PRNGKey(0), x)["params"]["output"]
    assert set(md) == {"mu", "P"} and md["P"].shape == (10, 128, 128) and md["mu"].shape == (10, 128)
    assert stats.kstest(np.ravel(md["mu"]), stats.norm(0, 0.1).cdf).pvalue > 1e-3
    bound = 1 / (np.sqrt(128) * heads.SPREAD)
    assert np.abs(md["P"]).max() <= bound and stats.kstest(np.ravel(md["P"]), stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3
    low = models.get("Abs-MD", md_rank=16).init(jax.random.PRNGKey(0), x)["params"]["output"]
    assert low["P"].shape == (10, 16, 128)


def test_md_rank_in_config_and_model(smoke_cfg):
    cfg = smoke_cfg
    cfg.variants, cfg.md_rank = "ReLU-MD", 4
    plan.validate(cfg)
    assert models.from_config(cfg, 3, "ReLU-MD").md_rank == 4
    assert config.protocol(cfg)["md_rank"] == 4
    old = {k: v for k, v in cfg.to_dict().items() if k != "md_rank"}      # a config.json written before the field
    assert models.from_config(old, 3, "ReLU-MD").md_rank == 0
    assert config.identity(cfg.to_dict())["md_rank"] == 4                  # a resume with another rank is refused
    cfg.md_rank = 0
    assert "md_rank" not in config.protocol(cfg)                            # default: old folders still resume
    assert config.identity(old) == config.identity(cfg.to_dict())
    for bad in (-1, cfg.hidden + 1):
        cfg.md_rank = bad
        with pytest.raises(ConfigError, match="md_rank"):
            plan.validate(cfg)
    with pytest.raises(ConfigError, match="md_rank"):
        models.get("ReLU-MD", hidden=8, md_rank=9)


# --- MD through M = P^T P (md_distance_gram): the same distance, held to float64 -----------------------------

def _gram_forward_bound(h, mu, P, want):
    """|y - y64| bound of md_distance_gram: M = P^T P sums R products, w = h @ M - M mu sums H + 1, and
    y^2 = sum_j e_j w_j (e = h - mu) H more, so |d(y^2)| <= (2H + R + 6) EPS32 sum_j |e_j| (|P|^T|P| (|h| + |mu|))_j
    =: gamma D; then |sqrt(y^2 + d) - y| <= |d| / y (concavity) and the sqrt's own 2 EPS32 y."""
    C, R, H = P.shape
    Mabs = np.einsum("crh,crk->chk", np.abs(P.astype(np.float64)), np.abs(P.astype(np.float64)))
    habs = np.abs(h.astype(np.float64))[:, None, :] + np.abs(mu.astype(np.float64))          # B x C x H
    wabs = np.einsum("chk,bck->bch", Mabs, habs)
    D = np.sum(np.abs(h.astype(np.float64)[:, None, :] - mu) * wabs, -1)
    return (2 * H + R + 6) * EPS32 * D / want + 2 * EPS32 * want, wabs, habs


def test_md_gram_forward_matches_float64():
    h, mu, P, _, z, _ = _md_case(0)
    want = np.sqrt(np.sum(z ** 2, -1))
    got = np.asarray(heads.md_distance_gram(h, mu, P), np.float64)
    bound, _, _ = _gram_forward_bound(h, mu, P, want)
    assert np.all(np.abs(got - want) <= bound)
    assert np.median(bound / want) < 1e-3          # the bound still pins y to three digits


def test_md_gram_gradient_matches_float64():
    h, mu, P, g, z, _ = _md_case(4)
    got = jax.grad(lambda *a: jnp.sum(g * heads.md_distance_gram(*a)), argnums=(0, 1, 2))(h, mu, P)
    y = np.sqrt(np.sum(z ** 2, -1))
    u = (g / y)[:, :, None] * z
    e = h.astype(np.float64)[:, None, :] - mu
    want = (np.einsum("bcr,crh->bh", u, P), -np.einsum("bcr,crh->ch", u, P), np.einsum("bcr,bch->crh", u, e))
    # s = g / y carries y's relative error rho (forward bound / y) and the division's EPS32; w = M e carries
    # (H + R + 2) EPS32 of |w|abs = |P|^T|P| (|h| + |mu|); dh, dmu then sum C or B terms s w, and dP = P sym(G) with
    # G = a^T h - (sum a) mu^T (a = s e) B + 3 roundings of sum_b |s| |e| (|h| + |mu|)^T, then P's H + 1.
    C, R, H = P.shape
    B = h.shape[0]
    fwd, wabs, habs = _gram_forward_bound(h, mu, P, y)
    rho = fwd / y + EPS32
    sabs = np.abs(g / y)
    gw = H + R + 2
    bound_h = np.einsum("bc,bch->bh", sabs * (rho + (gw + C + 1) * EPS32), wabs)
    bound_mu = np.einsum("bc,bch->ch", sabs * (rho + (gw + B + 1) * EPS32), wabs)
    sym = lambda X: 0.5 * (X + np.swapaxes(X, -1, -2))
    G_err = sym(np.einsum("bc,bci,bcj->cij", sabs * (rho + (B + 4) * EPS32), np.abs(e), habs))
    G_abs = sym(np.einsum("bc,bci,bcj->cij", sabs, np.abs(e), habs))
    Pabs = np.abs(P.astype(np.float64))
    bound_P = np.einsum("crh,chk->crk", Pabs, G_err + (H + 1) * EPS32 * G_abs)
    for name, x, w, b in zip(("h", "mu", "P"), got, want, (bound_h, bound_mu, bound_P), strict=True):
        assert np.all(np.abs(np.asarray(x, np.float64) - w) <= b), name


def test_md_gram_at_the_centre_is_finite():
    # at h = mu_c exactly, e = 0 so y^2 = sum e w = 0 exactly whatever w's rounding: the floor, gradient 0
    h, mu, P, _, _, _ = _md_case(6)
    x = mu[:3] + 0.0
    y = np.asarray(heads.md_distance_gram(x, mu, P))
    np.testing.assert_array_equal(np.diagonal(y), np.float32(np.sqrt(layers.SQ_FLOOR)))
    gh = jax.grad(lambda x: heads.md_distance_gram(x, mu, P)[0, 0])(x[:1])
    np.testing.assert_array_equal(gh, 0.0)


# Three SGD steps of ReLU-MD-Neg (64 raw-pixel inputs of 12 values, hidden 16, 4 classes, lr 1e-4, parameters drawn
# as heads.MD and a PyTorch Linear draw them; the loss falls 1.42 -> 1.32) with the MD head through md_distance_gram
# and through md_distance. Bound, normwise per leaf (u = 2^-24): one step from the same params moves the two forms
# <= 4 u apart (2 u: each update's own rounding; 2 u: lr x the gradients' float32 errors, bounded per element by
# the tests above; 0.38 u measured), and in float64 (md_distance_direct under jax.enable_x64) a 2^-24 perturbation
# of every param grows at most 1.01x over the 3 steps, so 3 x 4 u x 1.1 = 13 u = 7.9e-7; tolerance 2x. Measured
# 2026-12-04: 0.55 u (P; the other leaves 0), and each form within 0.9 u of the float64 run.
MD_TRAIN_RTOL = 1.6e-6


def test_training_through_md_gram_matches_md_distance(monkeypatch):
    import optax
    B, D, H, C, lr = 64, 12, 16, 4, 1e-4
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (B, D)).astype(np.float32), rng.integers(0, C, B)
    model = models.get("ReLU-MD-Neg", hidden=H, classes=C)
    b_in, b_P = 1 / np.sqrt(D), 1 / (np.sqrt(H) * heads.SPREAD)
    p0 = {"hidden": {"kernel": rng.uniform(-b_in, b_in, (D, H)), "bias": rng.uniform(-b_in, b_in, H)},
          "output": {"mu": rng.normal(0, 0.1, (C, H)), "P": rng.uniform(-b_P, b_P, (C, H, H))}}
    p0 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), p0)
    drawn = jax.eval_shape(model.init, jax.random.PRNGKey(0), x[:1])["params"]       # shapes only, nothing drawn
    assert jax.tree.map(jnp.shape, p0) == jax.tree.map(lambda a: a.shape, drawn)

    def train(form):
        monkeypatch.setattr(heads, "md_distance", form)          # what heads.MD calls when traced
        loss = lambda p: optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean()
        step, p, losses = jax.jit(jax.value_and_grad(loss)), p0, []
        for _ in range(3):
            value, g = step(p)
            p, losses = jax.tree.map(lambda a, b: a - lr * b, p, g), losses + [float(value)]
        return p, losses + [float(step(p)[0])]

    project = heads.md_distance
    (p_gram, loss_gram), (p_proj, _) = train(heads.md_distance_gram), train(project)
    assert np.all(np.diff(loss_gram) < 0) and loss_gram[-1] < loss_gram[0] - 0.05     # it trains
    for a, b in zip(jax.tree.leaves(p_gram), jax.tree.leaves(p_proj), strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert np.linalg.norm(a - b) <= MD_TRAIN_RTOL * np.linalg.norm(b)
