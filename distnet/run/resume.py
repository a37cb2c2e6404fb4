"""Where a variant's training starts: fresh (initial params and epoch-0 metrics, both saved at once) or from
its newest checkpoint, with the metrics cut back to that epoch.

The study loop's writes keep this consistent after a kill at any moment: metrics.npz (atomic) is written
before the checkpoint of the same epoch, so the metrics always reach the newest checkpoint; anything after it
is dropped and recomputed, bit for bit, by the same compiled program.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from distnet import config
from distnet.run import folder, trainer
from distnet.run.plan import Plan


@dataclasses.dataclass
class State:
    """A variant's training so far: at `epoch`, its params (leading seed axis), every recorded metric (seeds, E)
    with the epochs they belong to (E,), and the seconds trained before this process took over."""
    epoch: int
    params: object
    metrics: dict[str, np.ndarray]
    epochs: np.ndarray
    wall_s: float

    def advance(self, params, new: trainer.Metrics, plan: Plan) -> None:
        """Take one chunk's params and metrics (seeds, chunk // eval_every)."""
        new = trainer.to_host(new)
        self.metrics = {k: np.concatenate([self.metrics[k], np.asarray(getattr(new, k)).reshape(
            len(self.metrics[k]), -1)], axis=1) for k in folder.METRICS}
        self.epoch += plan.chunk
        self.epochs = np.concatenate([self.epochs, plan.recorded_epochs(self.epoch)])
        self.params = params


def fresh(vdir, plan: Plan, cfg, init, evaluate, device_data) -> State:
    """Initial params of every seed and their epoch-0 metrics, saved as metrics.npz and checkpoint 0."""
    params = init(trainer.seed_keys(cfg.seed, cfg.num_seeds))
    m0 = trainer.to_host(evaluate(params, device_data))
    state = State(0, params, {k: np.asarray(getattr(m0, k))[:, None] for k in folder.METRICS}, np.array([0]), 0.0)
    folder.save_metrics(vdir, state.epochs, state.metrics)
    folder.save_checkpoint(vdir, 0, params, 0.0)
    return state


def from_checkpoint(vdir, plan: Plan) -> State:
    """The newest checkpoint's params with the metrics up to its epoch (ConfigError when it does not lie on this
    config's chunk boundaries)."""
    epoch = folder.checkpoint_steps(vdir)[-1]
    if not plan.resumable_from(epoch):
        raise config.ConfigError(f"{vdir}: its checkpoint at epoch {epoch} is not on a chunk boundary of this "
                                 f"config (chunk of {plan.chunk} epochs); rerun with the chunk_epochs and "
                                 f"checkpoint_every recorded in its config.json")
    saved = folder.load_metrics(vdir)
    keep = saved["epoch"] <= epoch
    return State(epoch, folder.load_params(vdir, epoch), {k: saved[k][:, keep] for k in folder.METRICS},
                 saved["epoch"][keep], folder.checkpoint_wall_time(vdir, epoch))
