"""distnet.run.resume: a fresh start saves epoch 0 at once; a resume takes the newest checkpoint that verifies and
that metrics.npz matches, cuts the metrics back to it, and discards newer checkpoints, saying so."""
from __future__ import annotations

import json

import numpy as np
import pytest

from distnet import config, data
from distnet.nn import models
from distnet.run import folder, plan, resume, trainer


@pytest.fixture
def setup(smoke_cfg):
    ds = data.load(smoke_cfg.data)
    p = plan.make(smoke_cfg, ds, backend="cpu")
    train = trainer.make_train(models.get("ReLU", hidden=smoke_cfg.hidden), input_dim=ds.dim)
    hp = trainer.Hyper.of(smoke_cfg.lr)
    init = lambda keys: train.init(keys, hp)
    run = lambda params, d, n: train.run(params, hp, d, n)[::2]     # (params, metrics)
    return smoke_cfg, p, init, run, train.evaluate, trainer.to_device(ds)


def _fresh(vdir, cfg, init, evaluate, d):
    params = init(trainer.seed_keys(cfg.seed, cfg.num_seeds))
    return resume.fresh(vdir, params, evaluate(params, d))


def test_a_fresh_state_is_saved_as_epoch_0(setup, tmp_path):
    cfg, p, init, run, evaluate, d = setup
    state = _fresh(tmp_path, cfg, init, evaluate, d)
    assert state.epoch == 0 and folder.checkpoint_steps(tmp_path) == [0]
    saved = folder.load_metrics(tmp_path)
    np.testing.assert_array_equal(saved["epoch"], [0])
    np.testing.assert_array_equal(saved["test_acc"], state.metrics["test_acc"])
    assert saved["test_acc"].shape == (cfg.num_seeds, 1)


def test_from_checkpoint_cuts_metrics_past_the_newest_checkpoint(setup, tmp_path):
    cfg, p, init, run, evaluate, d = setup
    state = _fresh(tmp_path, cfg, init, evaluate, d)
    for _ in range(3):                                   # epochs 5, 10, 15; checkpoint only at 10
        params, new = run(state.params, d, p.chunk)
        state.advance(params, new, p)
        folder.save_metrics(tmp_path, state.epochs, state.metrics)
        if state.epoch == 10:
            folder.save_checkpoint(tmp_path, 10, state.params, 1.5, state.epochs, state.metrics)
            at_10 = {k: v.copy() for k, v in state.metrics.items()}
    back = resume.from_checkpoint(tmp_path, p)
    assert back.epoch == 10 and back.wall_s == 1.5 and back.epochs[-1] == 10 and len(back.epochs) == 11
    for k in folder.METRICS:
        np.testing.assert_array_equal(back.metrics[k], at_10[k])


def test_a_checkpoint_off_the_chunk_boundaries_is_refused(setup, tmp_path):
    cfg, p, init, run, evaluate, d = setup
    _fresh(tmp_path, cfg, init, evaluate, d)
    folder.save_checkpoint(tmp_path, 7, init(trainer.seed_keys(0, cfg.num_seeds)), 0.0, np.arange(8),
                          {k: np.zeros((2, 8)) for k in folder.METRICS})
    with pytest.raises(config.ConfigError, match="epoch 7 is not on a chunk boundary"):
        resume.from_checkpoint(tmp_path, p)


# --- what a kill cannot explain: a damaged checkpoint, metrics that do not match it --------------------------

@pytest.fixture
def trained(setup, tmp_path):
    """A variant folder with checkpoints at epochs 0 and 10 and metrics to epoch 15 (a kill after epoch 15)."""
    cfg, p, init, run, evaluate, d = setup
    state = _fresh(tmp_path, cfg, init, evaluate, d)
    for _ in range(3):
        params, new = run(state.params, d, p.chunk)
        state.advance(params, new, p)
        folder.save_metrics(tmp_path, state.epochs, state.metrics)
        if state.epoch == 10:
            folder.save_checkpoint(tmp_path, 10, state.params, 1.5, state.epochs, state.metrics)
    return tmp_path, p, folder.load_metrics(tmp_path)


def _redigest(vdir, step, new):
    f = vdir / "checkpoints" / str(step) / "_CHECKPOINT_METADATA"
    rec = json.loads(f.read_text())
    rec["custom_metadata"]["params_sha256"] = new
    f.write_text(json.dumps(rec))


def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_that_verifies(trained):
    vdir, p, saved = trained
    _redigest(vdir, 10, "0" * 64)
    logs = []
    state = resume.from_checkpoint(vdir, p, logs.append)
    assert state.epoch == 0 and state.epochs.tolist() == [0] and folder.checkpoint_steps(vdir) == [0]
    assert logs[0].startswith(f"{vdir.name}: checkpoint {vdir / 'checkpoints' / '10'} is damaged (its params hash to")
    assert logs[0].endswith("; trying an older checkpoint")
    assert logs[1] == (f"{vdir.name}: discarding the checkpoints at [10], newer than the newest one that verifies "
                       f"(epoch 0); training recomputes them")
    np.testing.assert_array_equal(state.metrics["test_acc"], saved["test_acc"][:, :1])


def test_metrics_older_than_the_checkpoint_resume_from_the_newest_checkpoint_they_reach(trained):
    """metrics.npz replaced by an older copy (epochs 0-5) while checkpoint 10 is newer: never resume at 10 with
    epochs 6-10 missing."""
    vdir, p, saved = trained
    keep = saved["epoch"] <= 5
    folder.save_metrics(vdir, saved["epoch"][keep], {k: saved[k][:, keep] for k in folder.METRICS})
    logs = []
    state = resume.from_checkpoint(vdir, p, logs.append)
    assert state.epoch == 0 and folder.checkpoint_steps(vdir) == [0]
    assert "metrics.npz does not hold every epoch up to the checkpoint at epoch 10 (it ends at epoch 5" in logs[0]


def test_metrics_of_another_run_match_no_checkpoint_and_the_variant_starts_over(trained):
    vdir, p, saved = trained
    folder.save_metrics(vdir, saved["epoch"], {k: saved[k] + 0.25 for k in folder.METRICS})
    logs = []
    assert resume.from_checkpoint(vdir, p, logs.append) is None
    assert folder.checkpoint_steps(vdir) == []
    assert "metrics.npz up to epoch 10 is not the record saved with the checkpoint at epoch 10" in logs[0]
    assert logs[-1] == f"{vdir.name}: no checkpoint of it can be trusted; training it again from epoch 0"


def test_checkpoints_without_any_digest_are_refused_not_restarted(trained):
    vdir, p, _ = trained
    for step in (0, 10):
        (vdir / "checkpoints" / str(step) / "_CHECKPOINT_METADATA").unlink()
    with pytest.raises(folder.RunFileError, match="none of the checkpoints of .* records a digest"):
        resume.from_checkpoint(vdir, p, lambda *a: None)
    assert folder.checkpoint_steps(vdir) == [0, 10]


def test_an_unreadable_metrics_file_is_refused_before_anything_is_discarded(trained):
    vdir, p, _ = trained
    (vdir / "metrics.npz").write_bytes(b"garbage")
    with pytest.raises(folder.RunFileError, match="metrics.npz is damaged"):
        resume.from_checkpoint(vdir, p, lambda *a: None)
    assert folder.checkpoint_steps(vdir) == [0, 10]


def test_finished_problem_names_a_damaged_final_checkpoint(trained):
    vdir, p, _ = trained
    assert resume.finished_problem(vdir, p) is None
    _redigest(vdir, 10, "0" * 64)
    assert resume.finished_problem(vdir, p).startswith(f"checkpoint {vdir / 'checkpoints' / '10'} is damaged")
