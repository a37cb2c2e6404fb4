"""distnet.run.study: the chunk loop compiles once, resumes to the bit, stops a diverged variant alone, and
follows an independent float64 implementation on real MNIST."""
from __future__ import annotations

import shutil

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from distnet import config, data
from distnet.nn import models
from distnet.run import checkpoint, folder, study, trainer

import reference
from helpers import load_config


def test_no_recompilation_inside_a_run(smoke_cfg, tmp_path, monkeypatch):
    make_train = trainer.make_train

    def counted(*args, **kwargs):
        t = make_train(*args, **kwargs)
        return t._replace(run=chex.assert_max_traces(t.run, n=1))

    monkeypatch.setattr(trainer, "make_train", counted)
    smoke_cfg.variants = "Abs"
    study.run_all(smoke_cfg, tmp_path, log=lambda *a: None)   # 4 chunks of 5 epochs, one trace
    assert folder.load_metrics(tmp_path / "Abs")["epoch"][-1] == 20


def test_real_mnist_trajectory_matches_numpy_from_step0_checkpoint(mnist_dir, smoke_cfg, tmp_path):
    """The protocol on raw MNIST pixels: an independent float64 numpy run started from our step-0
    checkpoint follows our trajectory. Abs2-Neg's first epochs on raw pixels are chaotic (a float32 numpy
    run leaves the float64 one after about 4 epochs, as ours does), so it is held for its first 3 epochs."""
    cfg = smoke_cfg
    cfg.variants, cfg.lr, cfg.hidden, cfg.num_seeds, cfg.epochs = "ReLU,Abs2-Neg", 1e-3, 128, 1, 10
    cfg.checkpoint_every, cfg.chunk_epochs = 10, 10
    cfg.data.name, cfg.data.dir, cfg.data.n_train, cfg.data.n_test = "mnist", str(mnist_dir), 2000, 1000
    study.run_all(cfg, tmp_path, log=lambda *a: None)
    ds = data.load(cfg.data)
    x, xt = ds.x_train.astype(np.float64), ds.x_test.astype(np.float64)
    for name, epochs in (("ReLU", 10), ("Abs2-Neg", 3)):
        p = reference.to64(jax.tree.map(lambda a: np.asarray(a)[0], checkpoint.restore(tmp_path / name, 0)))
        m = folder.load_metrics(tmp_path / name)
        spec = models.REGISTRY[name]
        for e in range(1, epochs + 1):
            p, loss, acc = reference.sgd_step(spec, p, x, ds.y_train, 1e-3)
            assert m["train_loss"][0, e] == pytest.approx(loss, rel=1e-5)
            assert abs(m["test_acc"][0, e] - reference.accuracy(spec, p, xt, ds.y_test)) <= 2e-3


def test_resume_equals_an_uninterrupted_run(smoke_run, tmp_path):
    cfg = load_config("smoke")
    shutil.copytree(smoke_run, tmp_path / "run")
    vdir = tmp_path / "run" / "ReLU"
    # what a kill after epoch 10's checkpoint leaves: no final checkpoint, no summary, metrics past 10
    shutil.rmtree(vdir / "checkpoints" / "20")
    (vdir / "checkpoints" / "20.json").unlink()
    (vdir / "summary.json").unlink()
    logs = []
    study.run_all(cfg, tmp_path / "run", log=logs.append)
    assert any("resuming from the checkpoint at epoch 10" in line for line in logs)
    a, b = folder.load_metrics(smoke_run / "ReLU"), folder.load_metrics(vdir)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    for x, y in zip(jax.tree.leaves(checkpoint.restore(smoke_run / "ReLU")), jax.tree.leaves(checkpoint.restore(vdir)), strict=True):
        np.testing.assert_array_equal(x, y)


def test_seed_chunk_config_gives_the_same_run(smoke_run, tmp_path):
    cfg = load_config("smoke")
    cfg.seed_chunk = 1
    study.run_all(cfg, tmp_path, log=lambda *a: None)
    for v in cfg.variants.split(","):
        a, b = folder.load_metrics(smoke_run / v), folder.load_metrics(tmp_path / v)
        for k in folder.METRICS:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_nan_loss_stops_that_variant_only(smoke_cfg, tmp_path):
    """lr=1000 blows ReLU up; ReLU2 collapses to chance with finite numbers, which must be kept as complete."""
    smoke_cfg.lr, smoke_cfg.variants = 1000.0, "ReLU,ReLU2"
    logs = []
    study.run_all(smoke_cfg, tmp_path, log=logs.append)
    relu, relu2 = folder.read_json(tmp_path / "ReLU" / "summary.json"), folder.read_json(tmp_path / "ReLU2" / "summary.json")
    assert relu["status"] == "diverged" and relu["diverged_seeds"] == [0, 1]
    msg = next(m for m in logs if "NaN/Inf" in m)
    assert msg.startswith("ReLU:") and "seed(s) [0, 1]" in msg and f"by epoch {relu['diverged_epoch']}" in msg
    assert relu2["status"] == "complete" and relu2["epochs"] == 20
    assert np.isfinite(folder.load_metrics(tmp_path / "ReLU2")["train_loss"]).all()
    assert [r["status"] for r in folder.read_json(tmp_path / "summary.json")["variants"]] == ["diverged", "complete"]


def test_nan_params_with_finite_loss_is_caught(smoke_cfg, tmp_path, monkeypatch):
    """Params can turn NaN in a chunk's last update while every recorded loss is still finite."""
    real = trainer.make_train

    def poisoned(*a, **k):
        t = real(*a, **k)
        def run(params, data, n):
            p, m = t.run(params, data, n)
            return jax.tree_util.tree_map(lambda x: x * jnp.nan, p), m
        return t._replace(run=run)

    monkeypatch.setattr(trainer, "make_train", poisoned)
    smoke_cfg.variants = "ReLU"
    logs = []
    study.run_all(smoke_cfg, tmp_path, log=logs.append)
    s = folder.read_json(tmp_path / "ReLU" / "summary.json")
    assert (s["status"], s["diverged_epoch"], s["diverged_seeds"]) == ("diverged", 5, [0, 1])
    assert np.isfinite(folder.load_metrics(tmp_path / "ReLU")["train_loss"]).all()
    assert any("by epoch 5" in m for m in logs)


def test_nonfinite_seeds_are_found_in_losses_and_in_params():
    params = {"w": jnp.ones((3, 4, 2)), "b": jnp.ones((3, 2)).at[2, 1].set(jnp.inf)}
    losses = np.ones((3, 5))
    assert study.nonfinite_seeds(params, losses).tolist() == [2]
    losses[0, 3] = np.nan
    assert study.nonfinite_seeds(params, losses).tolist() == [0, 2]


def test_a_bad_config_is_refused_before_anything_is_written_or_compiled(smoke_cfg, tmp_path):
    smoke_cfg.variants = "ReLU,Nope"
    with pytest.raises(config.ConfigError, match="unknown variant 'Nope'"):
        study.run_all(smoke_cfg, tmp_path / "w", log=lambda *a: None)
    assert not (tmp_path / "w").exists()
