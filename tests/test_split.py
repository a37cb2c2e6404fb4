"""config.split: the first layer as exact 16-bit parts (layers.split_matmul) equals the plain one.

On CPU the bfloat16 products are computed in float32 anyway, so these tests check the arithmetic (the split is
exact, the matmul and its gradient match float64 as closely as a float32 matmul, training matches the plain
path); the speed of the path is an accelerator matter (benchmarks/throughput.py --layout split).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distnet import config, data, experiment, layers, models, training

from helpers import load_config


def as_f64(a):
    return np.asarray(jnp.asarray(a).astype(jnp.float32), np.float64)


@pytest.mark.parametrize("scale", [1e-20, 1e-8, 0.03, 1.0, 1e20])
def test_three_parts_sum_exactly_and_two_parts_to_2_pow_minus_16(scale):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((300, 40)) * scale).astype(np.float32)
    three = layers.bf16_parts(jnp.asarray(w), 3)
    assert all(p.dtype == jnp.bfloat16 for p in three)
    np.testing.assert_array_equal(sum(as_f64(p) for p in three), w.astype(np.float64))
    two = sum(as_f64(p) for p in layers.bf16_parts(jnp.asarray(w), 2))
    rel = np.abs(two - w) / np.abs(w)
    assert rel.max() <= 2.0 ** -16
    assert rel.max() > 2.0 ** -24       # two parts do not carry all 24 bits: the test can tell 2 from 3


def test_a_plain_float32_round_trip_would_not_split():
    """The mask, not a float32 -> bfloat16 -> float32 round trip, makes the head: check it keeps 8 bits."""
    w = jnp.float32(1.0 + 2.0 ** -10 + 2.0 ** -20)
    hi, mid, lo = (float(as_f64(p)) for p in layers.bf16_parts(w, 3))
    assert (hi, mid, lo) == (1.0, 2.0 ** -10, 2.0 ** -20)


def raw_pixels(n, d, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, d)).astype(np.float32)


@pytest.mark.parametrize("parts, tol", [(3, 4e-6), (2, 4e-5)])
def test_split_matmul_and_weight_gradient_match_float64(parts, tol):
    rng = np.random.default_rng(1)
    x = raw_pixels(400, 784)
    w = rng.uniform(-1 / 28, 1 / 28, (784, 64)).astype(np.float32)
    g = (rng.standard_normal((400, 64)) * 1e-5).astype(np.float32)
    s = layers.split_input(x, parts)
    y, vjp = jax.vjp(lambda w: layers.split_matmul(s, w), jnp.asarray(w))
    (dw,) = vjp(jnp.asarray(g))
    x64 = x.astype(np.float64)
    for got, want in ((y, x64 @ w), (dw, x64.T @ g)):
        err = np.abs(np.asarray(got, np.float64) - want).max() / np.abs(want).max()
        assert err < tol, err
    if parts == 2:   # two parts carry w to 2^-16 only: the forward error must show it
        assert np.abs(np.asarray(y, np.float64) - x64 @ w).max() / np.abs(x64 @ w).max() > 1e-7


def test_split_input_refuses_values_that_are_not_bfloat16():
    with pytest.raises(ValueError, match="exact in bfloat16"):
        layers.split_input(np.full((2, 3), 0.1, np.float32), 3)
    s = layers.split_input(raw_pixels(5, 7), 3)
    assert s.x.dtype == jnp.bfloat16 and s.x_cat.shape == (5, 21) and s.parts == 3


def tiny_dataset(n_train=600, n_test=200, dim=100, classes=10):
    x = raw_pixels(n_train + n_test, dim, seed=2)
    teacher = np.random.default_rng(3).standard_normal((dim, classes))
    y = np.argmax((x - 128) @ teacher, axis=1).astype(np.int32)
    return data.Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes, info={})


# Abs2-Neg on raw pixels is chaotic in its first epochs: a reassociation difference of 1e-7 grows about tenfold
# per epoch (as between any two float32 implementations, tests/test_training.py), so it is compared for 3.
@pytest.mark.parametrize("variant, epochs", [("ReLU", 8), ("Abs2-Neg", 3), ("Abs-L2", 8)])
def test_training_with_split_inputs_matches_the_plain_first_layer(variant, epochs):
    ds = tiny_dataset()
    model = models.get(variant, hidden=32)
    trainer = training.make_train(model, lr=1e-3, input_dim=ds.dim)
    init, run, _ = trainer.vmapped()
    params0 = init(training.seed_keys(0, 3))
    with jax.default_matmul_precision("highest"):
        p_plain, m_plain = run(params0, training.to_device(ds, transposed=False), epochs)
        p_split, m_split = run(params0, training.to_device(ds, split="bf16", parts=3), epochs)
    np.testing.assert_allclose(m_split.train_loss, m_plain.train_loss, rtol=1e-5)
    np.testing.assert_array_equal(m_split.test_acc, m_plain.test_acc)
    for a, b in zip(jax.tree.leaves(p_split), jax.tree.leaves(p_plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def gpu_program(ds, split):
    """The StableHLO the vmapped trainer lowers to for CUDA (lowered here, no GPU needed)."""
    trainer = training.make_train(models.get("ReLU", hidden=32), lr=1e-3, input_dim=ds.dim)
    params = jax.vmap(trainer.init)(training.seed_keys(0, 2))
    run = trainer.jitted()[1]
    exported = jax.export.export(run, platforms=["cuda"])(params, training.to_device(ds, split="bf16" if split else "off", parts=split, transposed=False), 2)
    return [line for line in exported.mlir_module().splitlines() if "stablehlo.dot_general" in line]


def test_on_gpu_the_first_layer_is_bfloat16_matmuls_with_float32_accumulation():
    ds = tiny_dataset()   # 600 train, 200 test, 100 features, hidden 32, 2 seeds
    dots = gpu_program(ds, split=3)
    bf16 = [d for d in dots if "xbf16>" in d]
    # forward (train, test): ONE matmul over K = 3 x 100 each, seeds side by side; weight gradient: 3 matmuls
    assert sum("(tensor<600x300xbf16>, tensor<2x300x32xbf16>) -> tensor<600x2x32xf32>" in d for d in bf16) == 1
    assert sum("(tensor<200x300xbf16>, tensor<2x300x32xbf16>) -> tensor<200x2x32xf32>" in d for d in bf16) == 1
    assert sum("(tensor<100x600xbf16>, tensor<2x600x32xbf16>) -> tensor<100x2x32xf32>" in d for d in bf16) == 3
    assert len(bf16) == 5
    assert not [d for d in gpu_program(ds, split=0) if "bf16" in d]   # the plain path stays float32


def test_config_refuses_split_at_other_precisions_and_on_inexact_inputs(tmp_path):
    cfg = load_config("smoke")
    cfg.split = "bf16"
    cfg.matmul_precision = "default"
    with pytest.raises(config.ConfigError, match="needs config.matmul_precision highest or high"):
        config.validate(cfg)
    cfg.matmul_precision = "highest"
    config.validate(cfg)
    with pytest.raises(config.ConfigError, match="config.split='bf16' with data.preprocess='raw'.*exact in bfloat16"):
        experiment.run_all(cfg, tmp_path / "run", log=lambda *a: None)   # Gaussian inputs are not bf16 numbers


# --- the float16 split: two 11-bit parts of each column scaled by a power of two -------------------------------

def fp16_sum(a):
    scale, unscale = layers.column_scale(jnp.asarray(a))
    head, low = layers.fp16_parts(jnp.asarray(a) * scale)
    return (as_f64(head) + as_f64(low)) * as_f64(unscale), as_f64(head) * as_f64(unscale), as_f64(scale)


@pytest.mark.parametrize("scale", [1e-30, 1e-8, 0.03, 1.0, 1e30])
def test_fp16_parts_carry_each_entry_to_2_pow_minus_23(scale):
    """head = the entry rounded to 11 bits, so |low| <= 2^-12 |entry| needs 12 bits and float16 keeps 11: the
    error is at most 2^-23 of the entry. Columns of very different sizes each get their own power of two."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((300, 40)) * scale * np.logspace(-3, 3, 40)).astype(np.float32)
    both, head_only, s = fp16_sum(w)
    col_max = np.abs(w).max(axis=0) * s[0]
    assert ((2.0 ** 14 <= col_max) & (col_max < 2.0 ** 15)).all()   # scaled maxima: far from float16's 65504
    rel = np.abs(both - w) / np.abs(w)
    assert rel.max() <= 2.0 ** -23
    assert (np.abs(head_only - w) / np.abs(w)).max() > 2.0 ** -13   # the head alone is 11 bits: the low part counts


def test_fp16_entries_far_below_their_column_maximum_lose_only_absolute_precision():
    """Entries below 2^-28 of the column maximum reach float16 subnormals: absolute error <= 2^-38 of it."""
    w = np.array([[1.0], [3e-9], [-7e-12], [0.0]], np.float32)
    both, _, _ = fp16_sum(w)
    assert np.abs(both - w).max() <= 2.0 ** -38 * 1.0
    assert both[0, 0] == 1.0 and both[3, 0] == 0.0


def gamma(k_terms):
    """Higham's gamma_K = K u / (1 - K u), u = 2^-24: float32 accumulation of K exact products, in any order,
    is within gamma_K * sum |products| of the exact sum."""
    u = 2.0 ** -24
    return k_terms * u / (1 - k_terms * u)


def test_fp16_split_matmul_and_weight_gradient_are_exact_products_accumulated_in_float32():
    """The split result is the float64 product of the parts (which carry w and g to 2^-23, tested above) up to
    float32 accumulation of 2K exact products: a wrong scale, a lost part or a misplaced slice breaks it."""
    rng = np.random.default_rng(1)
    x = raw_pixels(400, 784)
    w = rng.uniform(-1 / 28, 1 / 28, (784, 64)).astype(np.float32)
    g = (rng.standard_normal((400, 64)) * 1e-5).astype(np.float32)
    s = layers.split_input(x, 2, "fp16")
    y, vjp = jax.vjp(lambda w: layers.split_matmul(s, w), jnp.asarray(w))
    (dw,) = vjp(jnp.asarray(g))
    x64 = x.astype(np.float64)
    for got, a, b in ((y, x64, w), (dw, x64.T, g)):
        b_parts = fp16_sum(b)[0]
        err = np.abs(np.asarray(got, np.float64) - a @ b_parts)
        assert (err <= gamma(2 * a.shape[1]) * (np.abs(a) @ np.abs(b_parts))).all()


def test_fp16_split_input_refuses_values_that_are_not_float16():
    with pytest.raises(ValueError, match="exact in float16"):
        layers.split_input(np.full((2, 3), 0.1, np.float32), 2, "fp16")
    with pytest.raises(ValueError, match="takes 2 parts"):
        layers.split_input(raw_pixels(5, 7), 3, "fp16")
    s = layers.split_input(raw_pixels(5, 7), 2, "fp16")
    assert s.x.dtype == jnp.float16 and s.x_cat.shape == (5, 14) and s.kind == "fp16" and s.parts == 2


def test_on_gpu_the_fp16_split_is_float16_matmuls_with_float32_accumulation():
    ds = tiny_dataset()
    trainer = training.make_train(models.get("ReLU", hidden=32), lr=1e-3, input_dim=ds.dim)
    params = jax.vmap(trainer.init)(training.seed_keys(0, 2))
    d = training.to_device(ds, split="fp16", parts=2)
    exported = jax.export.export(trainer.jitted()[1], platforms=["cuda"])(params, d, 2)
    dots = [line for line in exported.mlir_module().splitlines() if "stablehlo.dot_general" in line]
    f16 = [d for d in dots if "xf16>" in d]
    assert sum("(tensor<600x200xf16>, tensor<2x200x32xf16>) -> tensor<600x2x32xf32>" in d for d in f16) == 1
    assert sum("(tensor<200x200xf16>, tensor<2x200x32xf16>) -> tensor<200x2x32xf32>" in d for d in f16) == 1
    assert sum("(tensor<100x600xf16>, tensor<2x600x32xf16>) -> tensor<100x2x32xf32>" in d for d in f16) == 2
    assert len(f16) == 4


@pytest.mark.parametrize("backend, precision, exact, want", [
    ("cpu", "highest", True, "off"), ("gpu", "highest", True, "fp16"), ("gpu", "high", True, "fp16"),
    ("tpu", "highest", True, "bf16"), ("gpu", "highest", False, "off"), ("gpu", "default", True, "off")])
def test_auto_split_is_off_on_cpu_and_on_inexact_inputs(backend, precision, exact, want):
    assert training.resolve_split("auto", precision, exact, backend) == want
    assert training.resolve_split("bf16", precision, exact, backend) == "bf16"
