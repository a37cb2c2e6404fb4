"""distnet.run.resume: a fresh start saves epoch 0 at once; a resume takes the newest checkpoint and cuts the
metrics back to it."""
from __future__ import annotations

import numpy as np
import pytest

from distnet import config, data
from distnet.nn import models
from distnet.run import folder, plan, resume, trainer


@pytest.fixture
def setup(smoke_cfg):
    ds = data.load(smoke_cfg.data)
    p = plan.make(smoke_cfg, ds, backend="cpu")
    program = trainer.make_train(models.get("ReLU", hidden=smoke_cfg.hidden), smoke_cfg.lr, smoke_cfg.epochs,
                                 input_dim=ds.dim)
    init, run, evaluate = program.vmapped()
    return smoke_cfg, p, init, run, evaluate, trainer.to_device(ds)


def test_a_fresh_state_is_saved_as_epoch_0(setup, tmp_path):
    cfg, p, init, run, evaluate, d = setup
    state = resume.fresh(tmp_path, p, cfg, init, evaluate, d)
    assert state.epoch == 0 and folder.checkpoint_steps(tmp_path) == [0]
    saved = folder.load_metrics(tmp_path)
    np.testing.assert_array_equal(saved["epoch"], [0])
    np.testing.assert_array_equal(saved["test_acc"], state.metrics["test_acc"])
    assert saved["test_acc"].shape == (cfg.num_seeds, 1)


def test_from_checkpoint_cuts_metrics_past_the_newest_checkpoint(setup, tmp_path):
    cfg, p, init, run, evaluate, d = setup
    state = resume.fresh(tmp_path, p, cfg, init, evaluate, d)
    for _ in range(3):                                   # epochs 5, 10, 15; checkpoint only at 10
        params, new = run(state.params, d, p.chunk)
        state.advance(params, new, p)
        folder.save_metrics(tmp_path, state.epochs, state.metrics)
        if state.epoch == 10:
            folder.save_checkpoint(tmp_path, 10, state.params, 1.5)
            at_10 = {k: v.copy() for k, v in state.metrics.items()}
    back = resume.from_checkpoint(tmp_path, p)
    assert back.epoch == 10 and back.wall_s == 1.5 and back.epochs[-1] == 10 and len(back.epochs) == 11
    for k in folder.METRICS:
        np.testing.assert_array_equal(back.metrics[k], at_10[k])


def test_a_checkpoint_off_the_chunk_boundaries_is_refused(setup, tmp_path):
    cfg, p, init, run, evaluate, d = setup
    resume.fresh(tmp_path, p, cfg, init, evaluate, d)
    folder.save_checkpoint(tmp_path, 7, init(trainer.seed_keys(0, cfg.num_seeds)), 0.0)
    with pytest.raises(config.ConfigError, match="epoch 7 is not on a chunk boundary"):
        resume.from_checkpoint(tmp_path, p)
