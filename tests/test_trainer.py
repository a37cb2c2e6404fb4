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
from distnet.run import trainer

import reference
from helpers import ROOT, small_data, tiny_dataset


@pytest.mark.parametrize("name,form", [(n, "paper") for n in models.NAMES] + [("Abs-L2-Neg", "code"), ("ReLU-L2", "code")])
def test_three_sgd_steps_of_every_variant_match_float64_numpy(name, form):
    ds = small_data()
    model = models.get(name, hidden=16, offsetl2_form=form)
    program = trainer.make_train(model, lr=0.05, eval_every=1, input_dim=ds.dim)
    p0 = program.init(jax.random.PRNGKey(3))
    params, m = jax.jit(program.run, static_argnums=2)(p0, trainer.to_device(ds), 3)

    spec, p = models.REGISTRY[name], reference.to64(p0)
    x, xt = ds.x_train.astype(np.float64), ds.x_test.astype(np.float64)
    for e in range(3):
        p, loss, acc = reference.sgd_step(spec, p, x, ds.y_train, 0.05, form)
        assert float(m.train_loss[e]) == pytest.approx(loss, rel=1e-4)     # loss before epoch e's update
        assert float(m.train_acc[e]) == pytest.approx(acc, abs=1.5 / len(x))
        assert float(m.test_acc[e]) == pytest.approx(reference.accuracy(spec, p, xt, ds.y_test, form),
                                                     abs=1.5 / len(xt))   # after the update
    chex.assert_trees_all_close(jax.tree.map(np.asarray, params), p, rtol=2e-4, atol=1e-5)


def test_evaluate_gives_initial_metrics():
    ds = small_data()
    model = models.get("Abs2", hidden=16)
    program = trainer.make_train(model, lr=0.05, input_dim=ds.dim)
    p0 = program.init(jax.random.PRNGKey(0))
    m0 = program.evaluate(p0, trainer.to_device(ds))
    _, loss, acc = reference.sgd_step(models.REGISTRY["Abs2"], reference.to64(p0), ds.x_train.astype(np.float64),
                                      ds.y_train, 0.05)
    assert float(m0.train_loss) == pytest.approx(loss, rel=1e-5) and float(m0.train_acc) == pytest.approx(acc)


def test_vmapped_seeds_equal_a_loop_over_single_seeds():
    ds = small_data()
    d = trainer.to_device(ds)
    program = trainer.make_train(models.get("ReLU2-Neg", hidden=16), lr=0.05, epochs=6, eval_every=2,
                                  input_dim=ds.dim)
    init, run, _ = program.vmapped()
    keys = trainer.seed_keys(5, 3)
    params_S, m_S = run(init(keys), d, 6)
    assert m_S.test_acc.shape == (3, 3)
    for i in range(3):
        params_i, m_i = program.train(keys[i], d)
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], params_S), params_i, rtol=1e-5, atol=1e-6)
        chex.assert_trees_all_close(jax.tree.map(lambda a: a[i], m_S), m_i, rtol=1e-5, atol=1e-6)


def test_seed_keys_do_not_depend_on_num_seeds():
    np.testing.assert_array_equal(trainer.seed_keys(0, 5)[:2], trainer.seed_keys(0, 2))
    assert not np.array_equal(trainer.seed_keys(0, 2), trainer.seed_keys(1, 2))


@pytest.mark.parametrize("epochs,ckpt,ev,target,want", [
    (5000, 1000, 1, 100, 100), (200, 100, 1, 50, 50), (20, 10, 2, 100, 10), (21, 7, 7, 5, 7), (30, 12, 3, 100, 6)])
def test_chunk_length_is_the_largest_multiple_of_eval_every_dividing_epochs_and_checkpoints(epochs, ckpt, ev, target, want):
    got = trainer.chunk_length(epochs, ckpt, ev, target)
    assert got == want and epochs % got == 0 and ckpt % got == 0 and got % ev == 0


def test_variants_with_the_same_parameters_share_one_init_program_and_its_exact_values():
    """The trainer's init comes from the variant's param_twin (one compiled program for the six main variants);
    it must equal the program each variant compiled for itself bit for bit. One variant per twin, each as far
    from its twin as variants go (other activations, Neg, output bias, the other OffsetL2 form)."""
    keys = trainer.seed_keys(4, 3)
    for name, form in [("Abs2-Neg", "paper"), ("Abs2-Neg-Bias", "paper"), ("Abs-L2-Neg", "code")]:
        model = models.get(name, hidden=16, offsetl2_form=form)
        init = trainer.make_train(model, 1e-3, input_dim=20).jitted()[0]
        own = jax.jit(jax.vmap(lambda k: model.init(k, np.zeros((1, 20), np.float32))["params"]))(keys)
        chex.assert_trees_all_equal(init(keys), own)
    twins = {models.param_twin(models.get(n)) for n in models.MAIN}
    assert len(twins) == 1


# Abs2-Neg on raw pixels is chaotic in its first epochs: a reassociation difference of 1e-7 grows about tenfold
# per epoch (as between any two float32 implementations, tests/test_training.py), so it is compared for 3.
@pytest.mark.parametrize("variant, epochs", [("ReLU", 8), ("Abs2-Neg", 3), ("Abs-L2", 8)])
def test_training_with_split_inputs_matches_the_plain_first_layer(variant, epochs):
    ds = tiny_dataset()
    model = models.get(variant, hidden=32)
    program = trainer.make_train(model, lr=1e-3, input_dim=ds.dim)
    init, run, _ = program.vmapped()
    params0 = init(trainer.seed_keys(0, 3))
    with jax.default_matmul_precision("highest"):
        p_plain, m_plain = run(params0, trainer.to_device(ds, transposed=False), epochs)
        p_split, m_split = run(params0, trainer.to_device(ds, split_kind="bf16", parts=3), epochs)
    np.testing.assert_allclose(m_split.train_loss, m_plain.train_loss, rtol=1e-5)
    np.testing.assert_array_equal(m_split.test_acc, m_plain.test_acc)
    for a, b in zip(jax.tree.leaves(p_split), jax.tree.leaves(p_plain), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def gpu_program(ds, split):
    """The StableHLO the vmapped trainer lowers to for CUDA (lowered here, no GPU needed)."""
    program = trainer.make_train(models.get("ReLU", hidden=32), lr=1e-3, input_dim=ds.dim)
    params = jax.vmap(program.init)(trainer.seed_keys(0, 2))
    run = program.jitted()[1]
    exported = jax.export.export(run, platforms=["cuda"])(params, trainer.to_device(ds, split_kind="bf16" if split else "off", parts=split, transposed=False), 2)
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


def test_on_gpu_the_fp16_split_is_float16_matmuls_with_float32_accumulation():
    ds = tiny_dataset()
    program = trainer.make_train(models.get("ReLU", hidden=32), lr=1e-3, input_dim=ds.dim)
    params = jax.vmap(program.init)(trainer.seed_keys(0, 2))
    d = trainer.to_device(ds, split_kind="fp16", parts=2)
    exported = jax.export.export(program.jitted()[1], platforms=["cuda"])(params, d, 2)
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
    assert trainer.resolve_split("auto", precision, exact, backend) == want
    assert trainer.resolve_split("bf16", precision, exact, backend) == "bf16"


def _trainer(name="ReLU", epochs=4):
    ds = data.gaussians(128, 64, dim=24, classes=10, seed=1)
    model = models.get(name, hidden=16)
    return trainer.make_train(model, 0.05, epochs, input_dim=ds.dim), trainer.to_device(ds)


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
    program, d = _trainer()
    S = 8
    params = jax.vmap(program.init)(trainer.seed_keys(0, S))
    closed = jax.make_jaxpr(jax.vmap(program.run, in_axes=(0, None, None)), static_argnums=2)(params, d, 1)
    data_shapes = {d.x_train.shape, d.x_test.shape}
    layer1 = [e for e in _dots(closed.jaxpr) if any(tuple(v.aval.shape) in data_shapes for v in e.invars)]
    assert len(layer1) == 3                                  # train forward, weight gradient, test forward
    for e in layer1:
        (_, _), (batch_lhs, batch_rhs) = e.params["dimension_numbers"]
        assert batch_lhs == () and batch_rhs == ()           # no per-seed batch dimension
        assert S in e.outvars[0].aval.shape                   # the seeds sit side by side in one product


def test_chunked_seeds_equal_all_at_once():
    program, d = _trainer("Abs2-Neg")
    keys = trainer.seed_keys(3, 5)
    init, run, evaluate = program.vmapped()
    p_all, m_all = run(init(keys), d, 4)
    init_c, run_c, evaluate_c = program.vmapped(seed_chunk=2)          # chunks of 2, 2, 1
    p_chunk, m_chunk = run_c(init_c(keys), d, 4)
    assert m_chunk.test_acc.shape == (5, 4)
    chex.assert_trees_all_close(p_all, p_chunk, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(m_all, m_chunk, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(evaluate(p_all, d), evaluate_c(p_chunk, d), rtol=1e-6)


SHARDED = r"""
import sys, jax, numpy as np
sys.path.insert(0, sys.argv[1])
from distnet import data
from distnet.nn import models
from distnet.run import trainer
assert len(jax.devices()) == 4, jax.devices()
ds = data.gaussians(128, 64, dim=24, classes=10, seed=1)
d = trainer.to_device(ds)
program = trainer.make_train(models.get("ReLU-L2", hidden=16), 0.05, 4, input_dim=ds.dim)
keys = trainer.seed_keys(0, 8)
one = program.vmapped(devices=jax.devices()[:1])
four = program.vmapped()
p1, m1 = one[1](one[0](keys), d, 4)
p4, m4 = four[1](four[0](keys), d, 4)
leaf = jax.tree.leaves(four[0](keys))[0]
assert len(leaf.sharding.device_set) == 4, leaf.sharding
for a, b in zip(jax.tree.leaves((p1, m1)), jax.tree.leaves((p4, m4))):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
print("sharded ok", max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p4))))
"""


def test_seeds_sharded_over_four_devices_equal_one_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", SHARDED, str(ROOT)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "sharded ok" in r.stdout, r.stderr[-2000:]


def _compiled_bytes(name: str, seeds: int) -> int:
    """XLA's memory accounting for one epoch-chunk of the paper's main study shapes (60k x 784, 10k test)."""
    model = models.get(name)
    program = trainer.make_train(model, 1e-3, input_dim=784)
    run = program.jitted()[1]
    params = jax.eval_shape(jax.vmap(program.init), trainer.seed_keys(0, seeds))
    f32, i32 = jnp.float32, jnp.int32
    d = trainer.Data(jax.ShapeDtypeStruct((60000, 784), f32), jax.ShapeDtypeStruct((60000,), i32),
                      jax.ShapeDtypeStruct((10000, 784), f32), jax.ShapeDtypeStruct((10000,), i32))
    m = run.lower(params, d, 10).compile().memory_analysis()
    return m.temp_size_in_bytes + m.argument_size_in_bytes + m.output_size_in_bytes


def test_paper_main_study_fits_6_gib_and_seed_chunks_shrink_it():
    for name in ("ReLU", "Abs2-Neg-Bias", "Abs-L2"):
        full = _compiled_bytes(name, 20)
        assert full < 5 * 2 ** 30, (name, full / 2 ** 30)           # + Python, JAX and the data copy < 6 GiB
    assert _compiled_bytes("ReLU", 5) < 0.5 * _compiled_bytes("ReLU", 20)


def test_column_major_inputs_equal_row_major():
    ds = data.gaussians(128, 64, dim=24, classes=10, seed=1)
    program = trainer.make_train(models.get("Abs2-Neg-Bias", hidden=16), 0.05, 4, input_dim=ds.dim)
    col, row = trainer.to_device(ds, transposed=True), trainer.to_device(ds, transposed=False)
    assert col.x_train_stored.shape == (24, 128) and row.x_train_stored.shape == (128, 24)
    np.testing.assert_array_equal(col.x_train, row.x_train)
    init, run, evaluate = program.vmapped()
    params = init(trainer.seed_keys(0, 3))
    chex.assert_trees_all_close(run(params, col, 4), run(params, row, 4), rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(evaluate(params, col), evaluate(params, row), rtol=1e-6)
