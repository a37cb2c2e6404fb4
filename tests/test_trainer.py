"""distnet.run.trainer: the protocol's numbers against an independent float64 numpy implementation, vmapped
seeds against a loop, the shared init program, the exact 16-bit first layer in training, and the fast paths
(one wide GEMM, seed chunks, sharding over devices, memory) against the plain ones."""
from __future__ import annotations

import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distnet import data
from distnet.nn import models
from distnet.run import protocol, trainer

import reference
from helpers import (needs_float16, SRC, assert_leaves_close, assert_metrics_close, max_rel, near_ties, record_margin,
                     small_data, tiny_dataset)


def at(lr: float) -> trainer.Hyper:
    """One lane's hyperparameters: lr, no weight decay, init scale 1."""
    return jax.tree.map(lambda a: a[0], trainer.Hyper.of(lr))


@pytest.mark.parametrize("name,form", [(n, "paper") for n in models.NAMES] + [("Abs-L2-Neg", "code"), ("ReLU-L2", "code")])
def test_three_sgd_steps_of_every_variant_match_float64_numpy(name, form):
    ds = small_data()
    model = models.get(name, hidden=16, offsetl2_form=form)
    lane = protocol.lane(model, input_dim=ds.dim)
    p0 = lane.init(jax.random.PRNGKey(3))
    params, _, m = jax.jit(lane.run, static_argnums=4)(p0, True, at(0.05), trainer.to_device(ds), 3)

    spec, p = models.REGISTRY[name], reference.to64(p0)
    x, xt = ds.x_train.astype(np.float64), ds.x_test.astype(np.float64)
    # float32 against float64 for 3 epochs on Gaussian data: not chaotic (a 2^-24 perturbation of every param stays
    # < 2e-7 normwise through them), and no pre-activation comes within 120 u sum|x||w| of a kink (u = 2^-24; float32
    # errors here are <= 5 u), so both take the same branches and differ by rounding: <= 2.4e-7 in the loss (400x
    # inside rel 1e-4) and 1.5e-7 of the largest param (the elementwise tolerances are >= 1e-5). One example's
    # prediction may differ: the nearest top-two gaps are 6 u|y| (ReLU-L2, train) and 10 u|y| (ReLU-L2 code, test).
    for e in range(3):
        p, loss, acc = reference.sgd_step(spec, p, x, ds.y_train, 0.05, form)
        record_margin("train loss vs float64", max_rel(m.train_loss[e], loss), 1e-4)
        assert float(m.train_loss[e]) == pytest.approx(loss, rel=1e-4)     # loss before epoch e's update
        assert float(m.train_acc[e]) == pytest.approx(acc, abs=1.5 / len(x))
        assert float(m.test_acc[e]) == pytest.approx(reference.accuracy(spec, p, xt, ds.y_test, form),
                                                     abs=1.5 / len(xt))   # after the update
    got = jax.tree.map(np.asarray, params)
    record_margin("params |a-b| / (atol + rtol|b|), largest", max(
        np.max(np.abs(a - b) / (1e-5 + 2e-4 * np.abs(b))) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(p))), 1.0)
    chex.assert_trees_all_close(got, p, rtol=2e-4, atol=1e-5)


def test_evaluate_gives_initial_metrics():
    ds = small_data()
    model = models.get("Abs2", hidden=16)
    lane = protocol.lane(model, input_dim=ds.dim)
    p0 = lane.init(jax.random.PRNGKey(0))
    m0 = lane.evaluate(p0, trainer.to_device(ds))
    _, loss, acc = reference.sgd_step(models.REGISTRY["Abs2"], reference.to64(p0), ds.x_train.astype(np.float64),
                                      ds.y_train, 0.05)
    assert float(m0.train_loss) == pytest.approx(loss, rel=1e-5) and float(m0.train_acc) == pytest.approx(acc)


def test_vmapped_seeds_equal_a_loop_over_single_seeds():
    ds = small_data()
    d = trainer.to_device(ds)
    train = trainer.make_train(models.get("ReLU2-Neg", hidden=16), eval_every=2, input_dim=ds.dim)
    hp = trainer.Hyper.of(0.05)
    keys = trainer.seed_keys(5, 3)
    params_S, _, m_S = train.run(train.init(keys, hp), hp, d, 6)
    assert m_S.test_acc.shape == (3, 3)
    # vmapped and looped sum in different orders: <= 2 u apart in the params per epoch (u = 2^-24, normwise; 1.1 u
    # measured), growing <= 1.25x over these 6 epochs (a 2^-24 perturbation of every param, in float64): bound
    # 6 x 2 u x 1.25 = 15 u = 9e-7 in the params, less in the loss. Accuracies exactly: ReLU2-Neg's top-two ties
    # are logits held at exactly 0 by the clamp, decided alike while the outputs keep their signs (the nearest output
    # is 82 u sum|h||W2| from the clamp); the nearest other gap is 3.5e5 u|y|.
    for i in range(3):
        params_i, _, m_i = jax.jit(train.lane.run, static_argnums=4)(train.lane.init(keys[i]), True, at(0.05), d, 6)
        assert_leaves_close(jax.tree.map(lambda a: a[i], params_S), params_i, 4e-6)
        assert_metrics_close(jax.tree.map(lambda a: a[i], m_S), m_i, 4e-6, len(ds.x_train), len(ds.x_test), 0)


def test_seed_keys_do_not_depend_on_num_seeds():
    np.testing.assert_array_equal(trainer.seed_keys(0, 5)[:2], trainer.seed_keys(0, 2))
    assert not np.array_equal(trainer.seed_keys(0, 2), trainer.seed_keys(1, 2))


def test_variants_with_the_same_parameters_share_one_init_program_and_its_exact_values():
    """The trainer's init comes from the variant's param_twin (one compiled program for the six main variants);
    it must equal the program each variant compiled for itself bit for bit. One variant per twin, each as far
    from its twin as variants go (other activations, Neg, output bias, the other OffsetL2 form)."""
    keys = trainer.seed_keys(4, 3)
    for name, form in [("Abs2-Neg", "paper"), ("Abs2-Neg-Bias", "paper"), ("Abs-L2-Neg", "code")]:
        model = models.get(name, hidden=16, offsetl2_form=form)
        params = trainer.make_train(model, input_dim=20).init(keys, trainer.Hyper.of(1e-3))
        own = jax.jit(jax.vmap(lambda k: model.init(k, np.zeros((1, 20), np.float32))["params"]))(keys)
        chex.assert_trees_all_equal(params, own)
    twins = {models.param_twin(models.get(n)) for n in models.MAIN}
    assert len(twins) == 1


# Split and plain are two float32 programs whose sums run in different orders (K = 3 x 100 terms against 100): one
# epoch from the same params puts them <= 4.4 u apart in the params (u = 2^-24, normwise; measured at 4 ISA levels and
# one core); the bounds below take 8 u per epoch, times the largest growth of a 2^-24 perturbation of every param
# followed in float64 along these trajectories (params, loss): ReLU x3.0, x3.4 over 3 epochs; Abs2-Neg x30, x15 over
# 2; Abs-L2 x1.8, x8.3 over 8. Raw pixels make the first two chaotic: Abs2-Neg's perturbation reaches 1e-3 of the
# params by epoch 3 (seed 1), and ReLU's and Abs2-Neg's later epochs bring a first-layer pre-activation within 13 u and
# 0.1 u sum|x||W1| of the kink, close enough to the float32 error (up to 10.6 u at these shapes, largest of 691,200
# measured) for one program to take the other branch in its gradient, which moves the params by ~6e-4 at once. Before
# those epochs nothing is within 21 u of a kink. Abs-L2 has one pre-activation 4.5-9.7 u from its kink in each seed;
# flipping all three would move the params by 5e-6 and the loss by 1e-7.
# Bounds, params: ReLU 3 x 8 u x 3.0 = 4.3e-6, Abs2-Neg 2 x 8 u x 30 = 2.9e-5, Abs-L2 8 x 8 u x 1.8 + 5e-6 = 1.2e-5;
# loss: 3 x 8 u x 3.4 = 4.9e-6, 2 x 8 u x 15 = 1.4e-5, 8 x 8 u x 8.3 = 3.2e-5. Tolerances: 2x the largest.
PARAMS_RTOL = 6e-5
LOSS_RTOL = 6e-5
# A test prediction can differ only where the top two logits are closer than twice what separates the two programs'
# logits (computed below from their params) plus float32 rounding of the logits, tie_rtol * max|logit|: float32 logits
# of these nets differ from float64 ones at the same params by <= 2.3e-6 max|logit| for ReLU and Abs2-Neg (the first
# layer's rounding carried through W2) and <= 2.8e-7 for Abs-L2 (distances: sums of squares), measured over their 8
# epochs x 3 seeds at 2 ISA levels; tie_rtol is 4x that. Those examples may count either way.
@pytest.mark.parametrize("variant, epochs, tie_rtol", [("ReLU", 3, 1e-5), ("Abs2-Neg", 2, 1e-5), ("Abs-L2", 8, 1e-6)])
def test_training_with_split_inputs_matches_the_plain_first_layer(variant, epochs, tie_rtol):
    ds = tiny_dataset()
    model = models.get(variant, hidden=32)
    train, hp = trainer.make_train(model, input_dim=ds.dim), trainer.Hyper.of(1e-3)
    plain, split = trainer.to_device(ds, transposed=False), trainer.to_device(ds, split_kind="bf16", parts=3)
    p_plain = p_split = train.init(trainer.seed_keys(0, 3), hp)
    with jax.default_matmul_precision("highest"):
        for epoch in range(epochs):
            p_plain, _, m_plain = train.run(p_plain, hp, plain, 1)
            p_split, _, m_split = train.run(p_split, hp, split, 1)
            record_margin("train loss, largest relative difference", max_rel(m_split.train_loss, m_plain.train_loss),
                          LOSS_RTOL)
            np.testing.assert_allclose(m_split.train_loss, m_plain.train_loss, rtol=LOSS_RTOL)
            logits = [jax.vmap(lambda p: model.apply({"params": p}, plain.x_test))(p) for p in (p_plain, p_split)]
            flips = np.round(np.abs(m_split.test_acc - m_plain.test_acc)[:, 0] * len(ds.y_test))
            ties = near_ties(logits[0], tie_rtol, other=logits[1])
            worst = np.argmax(flips - ties)
            record_margin("test predictions apart (limit: near ties)", flips[worst], ties[worst])
            assert np.all(flips <= ties), (epoch, flips)
    assert_leaves_close(p_split, p_plain, PARAMS_RTOL)


def gpu_program(ds, split):
    """The StableHLO the trainer's run program lowers to for CUDA (lowered here, no GPU needed)."""
    d = trainer.to_device(ds, split_kind="bf16" if split else "off", parts=split, transposed=False)
    return cuda_dots(models.get("ReLU", hidden=32), ds, d)


def cuda_dots(model, ds, d):
    """The dot_general lines of the trainer's run program of 2 seeds, 2 epochs, exported for CUDA."""
    train, hp = trainer.make_train(model, input_dim=ds.dim), trainer.Hyper.of(1e-3)
    _, args = train.lower(train.init(trainer.seed_keys(0, 2), hp), hp, d, 2)
    exported = jax.export.export(train.run_program, platforms=["cuda"])(*args, 2)
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


@needs_float16
def test_on_gpu_the_fp16_split_is_float16_matmuls_with_float32_accumulation():
    ds = tiny_dataset()
    d = trainer.to_device(ds, split_kind="fp16", parts=2)
    dots = cuda_dots(models.get("ReLU", hidden=32), ds, d)
    f16 = [d for d in dots if "xf16>" in d]
    assert sum("(tensor<600x200xf16>, tensor<2x200x32xf16>) -> tensor<600x2x32xf32>" in d for d in f16) == 1
    assert sum("(tensor<200x200xf16>, tensor<2x200x32xf16>) -> tensor<200x2x32xf32>" in d for d in f16) == 1
    assert sum("(tensor<100x600xf16>, tensor<2x600x32xf16>) -> tensor<100x2x32xf32>" in d for d in f16) == 2
    assert len(f16) == 4


def _trainer(name="ReLU", epochs=4):
    ds = data.gaussians(128, 64, dim=24, classes=10, seed=1)
    model = models.get(name, hidden=16)
    return trainer.make_train(model, input_dim=ds.dim), trainer.to_device(ds)


def _dots(jaxpr):
    """Every dot_general equation, nested scans and jits included."""
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            yield eqn
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            yield from _dots(sub)


def test_first_layer_of_all_seeds_is_one_wide_matmul():
    """vmap over seeds with the data unbatched lowers x @ W_s to ONE dot of x (N x D) with the seeds'
    weights side by side (D x S*H) -- the wide GEMM -- and likewise the weight gradient x^T @ dZ; neither
    is a batched (per-seed) product."""
    train, d = _trainer()
    S, hp = 8, trainer.Hyper.of(0.05)
    _, args = train.lower(train.init(trainer.seed_keys(0, S), hp), hp, d, 1)
    closed = jax.make_jaxpr(train.run_program, static_argnums=3)(*args, 1)
    data_shapes = {d.x_train.shape, d.x_test.shape}
    layer1 = [e for e in _dots(closed.jaxpr) if any(tuple(v.aval.shape) in data_shapes for v in e.invars)]
    assert len(layer1) == 3                                  # train forward, weight gradient, test forward
    for e in layer1:
        (_, _), (batch_lhs, batch_rhs) = e.params["dimension_numbers"]
        assert batch_lhs == () and batch_rhs == ()           # no per-seed batch dimension
        assert S in e.outvars[0].aval.shape                   # the seeds sit side by side in one product


# A fast path and the plain one batch the same arithmetic differently (seed chunks, devices, input layout), so their
# sums run in different orders. One epoch from the same params leaves them <= 2 u apart in the params (u = 2^-24,
# normwise per leaf: the update's own rounding, 1 u, plus lr x the gradient's; 1.2 u measured), and on these Gaussian
# tasks a difference grows at most 2.5x over 4 epochs (a 2^-24 perturbation of every param, followed in float64) and
# 1.7x over the smoke run's 20. Bound: 4 x 2 u x 2.5 = 20 u = 1.2e-6 (4 epochs), 20 x 2 u x 1.7 = 68 u = 4e-6 (smoke).
# The loss moves less than the params (<= 0.7x here) plus its own rounding (a few u).
RTOL_4_EPOCHS = 4e-6
RTOL_SMOKE = 1e-5
def test_chunked_seeds_equal_all_at_once():
    whole, d = _trainer("Abs2-Neg")
    keys, hp = trainer.seed_keys(3, 5), trainer.Hyper.of(0.05)
    p_all, _, m_all = whole.run(whole.init(keys, hp), hp, d, 4)
    chunked = trainer.make_train(models.get("Abs2-Neg", hidden=16), input_dim=d.x_train.shape[1], seed_chunk=2)
    p_chunk, _, m_chunk = chunked.run(chunked.init(keys, hp), hp, d, 4)             # chunks of 2, 2, 1
    assert m_chunk.test_acc.shape == (5, 4)
    assert_leaves_close(p_chunk, p_all, RTOL_4_EPOCHS)
    assert_metrics_close(m_chunk, m_all, RTOL_4_EPOCHS, 128, 64)
    assert_metrics_close(chunked.evaluate(p_chunk, d), whole.evaluate(p_all, d), RTOL_4_EPOCHS, 128, 64)


SHARDED = r"""
import sys, jax, numpy as np
sys.path.insert(0, sys.argv[1])
from distnet import data
from distnet.nn import models
from distnet.run import trainer
assert len(jax.devices()) == 4, jax.devices()
ds = data.gaussians(128, 64, dim=24, classes=10, seed=1)
d = trainer.to_device(ds)
model, hp = models.get("ReLU-L2", hidden=16), trainer.Hyper.of(0.05)
keys = trainer.seed_keys(0, 8)
one = trainer.make_train(model, input_dim=ds.dim, devices=jax.devices()[:1])
four = trainer.make_train(model, input_dim=ds.dim)
p1, _, m1 = one.run(one.init(keys, hp), hp, d, 4)
p4, _, m4 = four.run(four.init(keys, hp), hp, d, 4)
leaf = jax.tree.leaves(p4)[0]
assert len(leaf.sharding.device_set) == 4, leaf.sharding
np.savez(sys.argv[2], *[np.asarray(a) for a in jax.tree.leaves((p1, m1, p4, m4))])
print("sharded ok")
"""


def test_seeds_sharded_over_four_devices_equal_one_device(tmp_path):
    # the 4 devices on top of the caller's XLA_FLAGS (an --xla_cpu_max_isa, say), not instead of them
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4".strip()
    env = {**os.environ, "XLA_FLAGS": flags, "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SHARDED, str(SRC), str(tmp_path / "out.npz")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "sharded ok" in r.stdout, r.stderr[-2000:]
    with np.load(tmp_path / "out.npz") as f:
        leaves = [f[f"arr_{i}"] for i in range(len(f.files))]
    half = len(leaves) // 2                           # (params, metrics) on one device, then on four
    one, four = leaves[:half], leaves[half:]
    assert_leaves_close(four[:-3], one[:-3], RTOL_4_EPOCHS)
    assert_metrics_close(trainer.Metrics(*four[-3:]), trainer.Metrics(*one[-3:]), RTOL_4_EPOCHS, 128, 64)


def _compiled_bytes(name: str, seeds: int) -> int:
    """XLA's memory accounting for one epoch-chunk of the paper's main study shapes (60k x 784, 10k test)."""
    model = models.get(name)
    train, hp = trainer.make_train(model, input_dim=784), trainer.Hyper.of(1e-3)
    params = jax.eval_shape(lambda k: train.init(k, hp), trainer.seed_keys(0, seeds))
    f32, i32 = jnp.float32, jnp.int32
    d = trainer.Data(jax.ShapeDtypeStruct((60000, 784), f32), jax.ShapeDtypeStruct((60000,), i32),
                      jax.ShapeDtypeStruct((10000, 784), f32), jax.ShapeDtypeStruct((10000,), i32))
    m = train.lower(params, hp, d, 10)[0].compile().memory_analysis()
    return m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes


def test_paper_main_study_fits_6_gib_and_seed_chunks_shrink_it():
    for name in ("ReLU", "Abs2-Neg-Bias", "Abs-L2"):
        full = _compiled_bytes(name, 20)
        assert full < 5 * 2 ** 30, (name, full / 2 ** 30)           # + Python, JAX and the data copy < 6 GiB
    assert _compiled_bytes("ReLU", 5) < 0.5 * _compiled_bytes("ReLU", 20)


def test_column_major_inputs_equal_row_major():
    ds = data.gaussians(128, 64, dim=24, classes=10, seed=1)
    train, hp = trainer.make_train(models.get("Abs2-Neg-Bias", hidden=16), input_dim=ds.dim), trainer.Hyper.of(0.05)
    col, row = trainer.to_device(ds, transposed=True), trainer.to_device(ds, transposed=False)
    assert col.x_train_stored.shape == (24, 128) and row.x_train_stored.shape == (128, 24)
    np.testing.assert_array_equal(col.x_train, row.x_train)
    evaluate, params = train.evaluate, train.init(trainer.seed_keys(0, 3), hp)
    (p_col, _, m_col), (p_row, _, m_row) = train.run(params, hp, col, 4), train.run(params, hp, row, 4)
    assert_leaves_close(p_col, p_row, RTOL_4_EPOCHS)
    assert_metrics_close(m_col, m_row, RTOL_4_EPOCHS, 128, 64, examples=0)
    assert_metrics_close(evaluate(params, col), evaluate(params, row), RTOL_4_EPOCHS, 128, 64, examples=0)


def _optax_run(model, lr, eval_every):
    """The trainer's epoch loop as it was before sweeps: optax.sgd with lr baked in, no masking (the reference of
    "a single-value run keeps today's numbers")."""
    import optax
    tx = optax.sgd(lr)

    def loss_and_logits(params, x, y):
        logits = model.apply({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), logits

    def run(params, data, n_epochs):
        def epoch(carry, _):
            params, opt_state = carry
            (loss, logits), grads = jax.value_and_grad(loss_and_logits, has_aux=True)(params, data.x_train, data.y_train)
            updates, opt_state = tx.update(grads, opt_state, params)
            acc = jnp.mean(jnp.argmax(logits, -1) == data.y_train)
            return (optax.apply_updates(params, updates), opt_state), (loss, acc)

        def block(carry, _):
            carry, (loss_E, acc_E) = jax.lax.scan(epoch, carry, None, length=eval_every)
            test = jnp.mean(jnp.argmax(model.apply({"params": carry[0]}, data.x_test), -1) == data.y_test)
            return carry, trainer.Metrics(loss_E[-1], acc_E[-1], test)

        (params, _), m = jax.lax.scan(block, (params, tx.init(params)), None, length=n_epochs // eval_every)
        return params, m
    return jax.jit(jax.vmap(run, in_axes=(0, None, None)), static_argnums=2)


@pytest.mark.parametrize("name", ["ReLU", "Abs2-Neg", "ReLU-L2"])
def test_a_single_point_sweep_is_optax_sgd_to_the_bit(name):
    """lr as a traced argument, weight decay 0, init scale 1 and the NaN mask change no bit of the numbers: the
    update p + (-lr) g - (lr wd) p leaves XLA's FMA contraction of p + (-lr) g as optax's."""
    ds = small_data()
    d = trainer.to_device(ds)
    model = models.get(name, hidden=16)
    train = trainer.make_train(model, eval_every=2, input_dim=ds.dim)
    hp = trainer.hyper([{"lr": 0.05, "init_scale": 1.0, "weight_decay": 0.0}])
    keys = trainer.seed_keys(1, 3)
    p0 = train.init(keys, hp)
    ref = _optax_run(model, 0.05, 2)(p0, d, 6)
    params, went_bad, m = train.run(p0, hp, d, 6)
    assert not np.asarray(went_bad).any()
    for x, y in zip(jax.tree.leaves((params, m)), jax.tree.leaves(ref), strict=True):
        np.testing.assert_array_equal(np.asarray(x).view(np.uint32), np.asarray(y).view(np.uint32))


def test_init_scale_multiplies_every_linear_layer_and_leaves_offsetl2_alone():
    train = trainer.make_train(models.get("ReLU-L2", hidden=8), input_dim=6)
    hp = trainer.hyper([{"lr": 0.05, "init_scale": s, "weight_decay": 0.0} for s in (1.0, 2.5)])
    p = train.init(trainer.seed_keys(0, 2), hp)        # lanes: (scale 1, seed 0), (1, 1), (2.5, 0), (2.5, 1)
    np.testing.assert_array_equal(p["hidden"]["kernel"][2:], 2.5 * p["hidden"]["kernel"][:2])
    np.testing.assert_array_equal(p["hidden"]["bias"][2:], 2.5 * p["hidden"]["bias"][:2])
    for k in ("mu", "alpha"):
        np.testing.assert_array_equal(p["output"][k][2:], p["output"][k][:2])
    bound = 1 / np.sqrt(6)                              # PyTorch's default bound, now 2.5 times it
    scaled = np.abs(p["hidden"]["kernel"][2:])
    assert scaled.max() <= 2.5 * bound and scaled.max() > 2 / 3 * 2.5 * bound   # 96 draws: all under 2/3 has p < 1e-16


def test_weight_decay_is_sgd_on_the_l2_penalised_loss():
    """One epoch with wd equals one plain SGD epoch on cross-entropy + wd/2 ||params||^2 (autodiff of the
    penalty). The two round differently: (g + wd p) and lr x it against lr g and (lr wd) p, each rounding <= 1 u
    of the largest param or of lr |g| (u = 2^-24), so <= 4 u = 2.4e-7 normwise per leaf; 1e-6 is 4x that."""
    import optax
    ds = small_data()
    d = trainer.to_device(ds, transposed=False)
    model = models.get("Abs2", hidden=16)
    lane = protocol.lane(model, input_dim=ds.dim)
    p0 = lane.init(jax.random.PRNGKey(0))
    lr, wd = np.float32(0.05), np.float32(0.3)
    got, _, _ = lane.run(p0, True, trainer.Hyper(lr, wd, np.float32(1)), d, 1)

    def penalised(p):
        logits = model.apply({"params": p}, d.x_train)
        return (optax.softmax_cross_entropy_with_integer_labels(logits, d.y_train).mean()
                + wd / 2 * sum(jnp.sum(a * a) for a in jax.tree.leaves(p)))
    want = jax.tree.map(lambda p, g: p - lr * g, p0, jax.grad(penalised)(p0))
    assert_leaves_close(got, want, 1e-6)
    moved = [float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in
             zip(jax.tree.leaves(got), jax.tree.leaves(lane.run(p0, True, trainer.Hyper(lr, np.float32(0), np.float32(1)), d, 1)[0]))]
    assert min(moved) > 1e-4                            # and the decay does act (lr wd = 0.015 of each param)
