import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from distnet.nn import layers, models

from reference import forward, to64


@pytest.mark.parametrize("name", models.NAMES)
def test_forward_matches_numpy_formula(name):
    model = models.get(name, hidden=32, classes=10)
    x = np.random.default_rng(0).uniform(0, 255, (64, 784)).astype(np.float32)
    variables = model.init(jax.random.PRNGKey(1), x)
    got = np.asarray(model.apply(variables, x), np.float64)
    want, _ = forward(models.REGISTRY[name], to64(variables["params"]), x.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-3)


@pytest.mark.parametrize("form", layers.OFFSETL2_FORMS)
def test_both_offsetl2_forms_match_numpy(form):
    rng = np.random.default_rng(3)
    x = rng.normal(0, 50, (40, 16)).astype(np.float32)
    mu = rng.normal(0, 50, (5, 16)).astype(np.float32)
    alpha = rng.normal(1, 0.3, (5, 16)).astype(np.float32)   # some negative: the code form may clamp
    layer = layers.OffsetL2(5, form=form)
    got = np.asarray(layer.apply({"params": {"mu": mu, "alpha": alpha}}, x), np.float64)
    d = x[:, None, :].astype(np.float64) - mu
    s = np.sum((alpha * d) ** 2, -1) if form == "paper" else np.sum(alpha * d ** 2, -1)
    np.testing.assert_allclose(got, np.sqrt(np.maximum(s, 1e-12)), rtol=1e-5)
    if form == "paper":   # the published equation, literally
        np.testing.assert_allclose(got, np.linalg.norm(alpha * d, axis=-1), rtol=1e-5)


@pytest.mark.parametrize("form", layers.OFFSETL2_FORMS)
def test_offsetl2_output_and_gradient_are_finite_at_its_centre(form):
    mu = jnp.arange(6.0).reshape(2, 3)
    params = {"mu": mu, "alpha": jnp.ones((2, 3))}
    layer = layers.OffsetL2(2, form=form)
    x = mu[:1]                                   # exactly on centre 0
    y = layer.apply({"params": params}, x)
    g = jax.grad(lambda p, x: layer.apply({"params": p}, x).sum(), argnums=(0, 1))(params, x)
    assert np.isfinite(y).all() and float(y[0, 0]) == pytest.approx(1e-6)
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(g))


def _ks_uniform(sample, bound):
    return stats.kstest(np.ravel(sample), stats.uniform(-bound, 2 * bound).cdf).pvalue


def test_linear_init_is_pytorch_default_in_distribution():
    model = models.get("ReLU-Bias", hidden=128)
    p = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 784)))["params"]
    for leaf, fan_in in ((p["hidden"]["kernel"], 784), (p["hidden"]["bias"], 784),
                         (p["output"]["kernel"], 128), (p["output"]["bias"], 128)):
        bound = 1 / np.sqrt(fan_in)
        a = np.asarray(leaf)
        assert a.min() >= -bound and a.max() <= bound
        assert _ks_uniform(a, bound) > 1e-3
    k = np.asarray(p["hidden"]["kernel"])
    assert k.max() > 0.99 / 28 and k.min() < -0.99 / 28          # fills the whole interval
    assert np.var(k) == pytest.approx((1 / 28) ** 2 / 3, rel=0.02)
    # a wrong bound (e.g. He or Glorot) is rejected by the same test
    assert _ks_uniform(k * 1.2, 1 / 28) < 1e-6


def test_offsetl2_init_draws_mu_from_normal_and_sets_alpha_to_one():
    p = models.get("Abs-L2", hidden=128).init(jax.random.PRNGKey(0), jnp.zeros((1, 784)))["params"]["output"]
    assert p["mu"].shape == p["alpha"].shape == (10, 128)
    np.testing.assert_array_equal(p["alpha"], 1.0)
    assert stats.kstest(np.ravel(p["mu"]), stats.norm(0, 0.1).cdf).pvalue > 1e-3
    assert np.std(p["mu"]) == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("form", layers.OFFSETL2_FORMS)
def test_offsetl2_fast_backward_equals_autodiff_of_the_direct_formula(form):
    """Raw-pixel scales (hidden values in the hundreds): the hand-written VJP matches autodiff of the
    definition to float32 noise, relative to each gradient's size."""
    rng = np.random.default_rng(5)
    x = np.maximum(rng.normal(100, 200, (300, 32)), 0).astype(np.float32)
    mu = rng.normal(100, 200, (10, 32)).astype(np.float32)
    alpha = rng.normal(1, 0.2, (10, 32)).astype(np.float32)
    w = rng.normal(size=(300, 10)).astype(np.float32)

    def loss(f):
        return lambda x, mu, a: jnp.sum(w * jnp.sqrt(jnp.maximum(f(x, mu, a, form), 1e-12)))

    fast = jax.grad(loss(layers.offsetl2_sq), argnums=(0, 1, 2))(x, mu, alpha)
    direct = jax.grad(loss(layers.offsetl2_sq_direct), argnums=(0, 1, 2))(x, mu, alpha)
    for a, b in zip(fast, direct, strict=True):
        assert np.max(np.abs(a - b)) <= 1e-5 * np.max(np.abs(b))
    np.testing.assert_array_equal(layers.offsetl2_sq(x, mu, alpha, form), layers.offsetl2_sq_direct(x, mu, alpha, form))


def test_offsetl2_backward_never_builds_a_batch_x_class_x_hidden_tensor():
    """XLA's own accounting of the compiled gradient's scratch memory: under one B x C x H tensor for the
    fast path, several of them for autodiff of the definition."""
    B, C, H = 2000, 10, 64
    args = (jnp.ones((B, H)), jnp.zeros((C, H)), jnp.ones((C, H)))
    temp = {}
    for f in (layers.offsetl2_sq, layers.offsetl2_sq_direct):
        grad = jax.jit(jax.grad(lambda *a: f(*a, "paper").sum(), argnums=(0, 1, 2)))
        temp[f] = grad.lower(*args).compile().memory_analysis().temp_size_in_bytes
    assert temp[layers.offsetl2_sq] < B * C * H * 4 < temp[layers.offsetl2_sq_direct]
