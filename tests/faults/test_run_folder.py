"""Divergence (NaN/Inf in the loss or the params), the work-folder checks, and resuming with another config."""
from __future__ import annotations

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from runcheck import VARIANTS

from distnet import config, experiment, preflight, runs, training


def test_nan_loss_stops_that_variant_only(smoke_cfg, tmp_path):
    """lr=1000 blows ReLU up; ReLU2 collapses to chance with finite numbers, which must be kept as complete."""
    smoke_cfg.lr, smoke_cfg.variants = 1000.0, "ReLU,ReLU2"
    logs = []
    experiment.run_all(smoke_cfg, tmp_path, log=logs.append)
    relu, relu2 = runs.read_json(tmp_path / "ReLU" / "summary.json"), runs.read_json(tmp_path / "ReLU2" / "summary.json")
    assert relu["status"] == "diverged" and relu["diverged_seeds"] == [0, 1]
    msg = next(m for m in logs if "NaN/Inf" in m)
    assert msg.startswith("ReLU:") and "seed(s) [0, 1]" in msg and f"by epoch {relu['diverged_epoch']}" in msg
    assert relu2["status"] == "complete" and relu2["epochs"] == 20
    assert np.isfinite(runs.load_metrics(tmp_path / "ReLU2")["train_loss"]).all()
    assert [r["status"] for r in runs.read_json(tmp_path / "summary.json")["variants"]] == ["diverged", "complete"]


def test_nan_params_with_finite_loss_is_caught(smoke_cfg, tmp_path, monkeypatch):
    """Params can turn NaN in a chunk's last update while every recorded loss is still finite."""
    real = training.make_train

    def poisoned(*a, **k):
        t = real(*a, **k)
        def run(params, data, n):
            p, m = t.run(params, data, n)
            return jax.tree_util.tree_map(lambda x: x * jnp.nan, p), m
        return t._replace(run=run)

    monkeypatch.setattr(training, "make_train", poisoned)
    smoke_cfg.variants = "ReLU"
    logs = []
    experiment.run_all(smoke_cfg, tmp_path, log=logs.append)
    s = runs.read_json(tmp_path / "ReLU" / "summary.json")
    assert (s["status"], s["diverged_epoch"], s["diverged_seeds"]) == ("diverged", 5, [0, 1])
    assert np.isfinite(runs.load_metrics(tmp_path / "ReLU")["train_loss"]).all()
    assert any("by epoch 5" in m for m in logs)


def test_nonfinite_seeds():
    params = {"w": jnp.ones((3, 4, 2)), "b": jnp.ones((3, 2)).at[2, 1].set(jnp.inf)}
    losses = np.ones((3, 5))
    assert experiment.nonfinite_seeds(params, losses).tolist() == [2]
    losses[0, 3] = np.nan
    assert experiment.nonfinite_seeds(params, losses).tolist() == [0, 2]


def test_unwritable_workdir_refused_before_training(smoke_cfg, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(preflight.WorkdirError, match="cannot write to the work folder .*choose a writable"):
        experiment.run_all(smoke_cfg, tmp_path / "file" / "run", log=lambda *a: None)


def test_full_disk_refused_before_training(smoke_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**12, 10**12, 2**20))
    with pytest.raises(preflight.WorkdirError, match=r"has 1 MiB free but this run needs about \d+ MiB"):
        experiment.run_all(smoke_cfg, tmp_path, log=lambda *a: None)
    assert not any(p.is_dir() for p in tmp_path.iterdir())


def test_estimate_counts_checkpoints(smoke_cfg):
    one = preflight.params_bytes(smoke_cfg, "ReLU", 10, 16)
    assert one > 0
    assert preflight.estimate_bytes(smoke_cfg, ["ReLU"], 10, 16) >= one * 2 * 3


def test_other_config_refused_then_overwritten(cli, reference, smoke_cfg, tmp_path):
    w = tmp_path / "run"
    shutil.copytree(reference, w)
    before = {p: p.stat().st_mtime_ns for p in w.rglob("*") if p.is_file()}
    smoke_cfg.seed = 1
    with pytest.raises(config.ConfigError, match=r"different config \(seed \(folder: 0, now: 1\)\).*--overwrite"):
        experiment.run_all(smoke_cfg, w, log=lambda *a: None)
    assert before == {p: p.stat().st_mtime_ns for p in w.rglob("*") if p.is_file()}

    r = cli(w, "--config.seed=1", "--overwrite")
    assert r.returncode == 0, r.stderr
    for v in VARIANTS:
        assert runs.read_json(w / v / "config.json")["protocol"]["seed"] == 1
        assert not np.array_equal(runs.load_metrics(w / v)["test_acc"], runs.load_metrics(reference / v)["test_acc"])


def test_overwrite_deletes_only_differing_variants(reference, smoke_cfg, tmp_path):
    w = tmp_path / "run"
    shutil.copytree(reference, w)
    rec = runs.read_json(w / "Abs2-Neg" / "config.json")
    rec["protocol"]["lr"] = 0.5
    runs.write_json(w / "Abs2-Neg" / "config.json", rec)
    logs = []
    preflight.check_folder(smoke_cfg, w, list(VARIANTS), overwrite=True, log=logs.append)
    assert (w / "ReLU" / "summary.json").exists() and not (w / "Abs2-Neg").exists()
    assert "Abs2-Neg: --overwrite: deleting" in logs[0]
