"""Fast paths equal plain ones: the wide first-layer GEMM, chunked seeds, sharded seeds (4 host devices)."""
import os
import subprocess
import sys

import chex
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from distnet import data, experiment, models, runs, training

from helpers import ROOT, load_config


def _trainer(name="ReLU", epochs=4):
    ds = data.gaussians(128, 64, dim=24, classes=10, seed=1)
    model = models.get(name, hidden=16)
    return training.make_train(model, 0.05, epochs, input_dim=ds.dim), training.to_device(ds)


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
    trainer, d = _trainer()
    S = 8
    params = jax.vmap(trainer.init)(training.seed_keys(0, S))
    closed = jax.make_jaxpr(jax.vmap(trainer.run, in_axes=(0, None, None)), static_argnums=2)(params, d, 1)
    data_shapes = {d.train_x.shape, d.test_x.shape}
    layer1 = [e for e in _dots(closed.jaxpr) if any(tuple(v.aval.shape) in data_shapes for v in e.invars)]
    assert len(layer1) == 3                                  # train forward, weight gradient, test forward
    for e in layer1:
        (_, _), (batch_lhs, batch_rhs) = e.params["dimension_numbers"]
        assert batch_lhs == () and batch_rhs == ()           # no per-seed batch dimension
        assert S in e.outvars[0].aval.shape                   # the seeds sit side by side in one product


def test_chunked_seeds_equal_all_at_once():
    trainer, d = _trainer("Abs2-Neg")
    keys = training.seed_keys(3, 5)
    init, run, evaluate = trainer.vmapped()
    p_all, m_all = run(init(keys), d, 4)
    init_c, run_c, evaluate_c = trainer.vmapped(seed_chunk=2)          # chunks of 2, 2, 1
    p_chunk, m_chunk = run_c(init_c(keys), d, 4)
    assert m_chunk.test_acc.shape == (5, 4)
    chex.assert_trees_all_close(p_all, p_chunk, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(m_all, m_chunk, rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(evaluate(p_all, d), evaluate_c(p_chunk, d), rtol=1e-6)


def test_seed_chunk_config_gives_the_same_run(smoke_run, tmp_path):
    cfg = load_config("smoke")
    cfg.seed_chunk = 1
    experiment.run_all(cfg, tmp_path, log=lambda *a: None)
    for v in cfg.variants.split(","):
        a, b = runs.load_metrics(smoke_run / v), runs.load_metrics(tmp_path / v)
        for k in runs.METRICS:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)


SHARDED = r"""
import sys, jax, numpy as np
sys.path.insert(0, sys.argv[1])
from distnet import data, models, training
assert len(jax.devices()) == 4, jax.devices()
ds = data.gaussians(128, 64, dim=24, classes=10, seed=1)
d = training.to_device(ds)
trainer = training.make_train(models.get("ReLU-L2", hidden=16), 0.05, 4, input_dim=ds.dim)
keys = training.seed_keys(0, 8)
one = trainer.vmapped(devices=jax.devices()[:1])
four = trainer.vmapped()
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
    trainer = training.make_train(model, 1e-3, input_dim=784)
    run = trainer.jitted()[1]
    params = jax.eval_shape(jax.vmap(trainer.init), training.seed_keys(0, seeds))
    f32, i32 = jnp.float32, jnp.int32
    d = training.Data(jax.ShapeDtypeStruct((60000, 784), f32), jax.ShapeDtypeStruct((60000,), i32),
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
    trainer = training.make_train(models.get("Abs2-Neg-Bias", hidden=16), 0.05, 4, input_dim=ds.dim)
    col, row = training.to_device(ds, transposed=True), training.to_device(ds, transposed=False)
    assert col.x_train.shape == (24, 128) and row.x_train.shape == (128, 24)
    np.testing.assert_array_equal(col.train_x, row.train_x)
    init, run, evaluate = trainer.vmapped()
    params = init(training.seed_keys(0, 3))
    chex.assert_trees_all_close(run(params, col, 4), run(params, row, 4), rtol=1e-6, atol=1e-7)
    chex.assert_trees_all_close(evaluate(params, col), evaluate(params, row), rtol=1e-6)
