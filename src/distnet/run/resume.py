"""Where a variant's training starts: fresh (initial params and epoch-0 metrics, both saved at once) or from
the newest checkpoint that can be trusted, with the metrics cut back to that epoch.

The study loop's writes keep this consistent after a kill at any moment: metrics.npz (atomic) is written
before the checkpoint of the same epoch, so the metrics always reach the newest checkpoint; anything after it
is dropped and recomputed, bit for bit, by the same compiled program. What a kill cannot explain is checked
too: a checkpoint is used only if its params match the digest saved with them and metrics.npz holds, up to its
epoch, exactly the metrics whose digest was saved with it. Otherwise the next older checkpoint is tried, and the
newer ones are discarded (the run recomputes them); each step of that is said aloud.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from distnet import config
from distnet.run import checkpoint, folder, provenance, trainer
from distnet.run.plan import Plan


@dataclasses.dataclass
class State:
    """A variant's training so far: at `epoch`, its params (leading lane axis: the seeds, or a sweep's points x
    seeds), every recorded metric (lanes, E) with the epochs they belong to (E,), the seconds trained before this
    process took over, and per lane the epoch it went NaN/Inf (0: still training; such a lane is masked)."""
    epoch: int
    params: object
    metrics: dict[str, np.ndarray]
    epochs: np.ndarray
    wall_s: float
    diverged: np.ndarray | None = None

    def __post_init__(self):
        if self.diverged is None:
            self.diverged = np.zeros(len(self.metrics[folder.METRICS[0]]), np.int64)

    def advance(self, params, new: trainer.Metrics, plan: Plan) -> None:
        """Take one chunk's params and metrics (seeds, chunk // eval_every)."""
        new = trainer.to_host(new)
        self.metrics = {k: np.concatenate([self.metrics[k], np.asarray(getattr(new, k)).reshape(
            len(self.metrics[k]), -1)], axis=1) for k in folder.METRICS}
        self.epoch += plan.chunk
        self.epochs = np.concatenate([self.epochs, plan.recorded_epochs(self.epoch)])
        self.params = params


def fresh(vdir, params, m0: trainer.Metrics) -> State:
    """The state at epoch 0 from every lane's initial params and their metrics, saved as metrics.npz and
    checkpoint 0."""
    m0 = trainer.to_host(m0)
    state = State(0, params, {k: np.asarray(getattr(m0, k))[:, None] for k in folder.METRICS}, np.array([0]), 0.0)
    folder.save_metrics(vdir, state.epochs, state.metrics)
    folder.save_checkpoint(vdir, 0, params, 0.0, state.epochs, state.metrics)
    return state


def _at(vdir, saved: dict, step: int, eval_every: int) -> State:
    """The state at checkpoint `step`: its verified params and the saved metrics up to it (checkpoint.Damaged
    when the params or the metrics do not match what was saved with the checkpoint)."""
    epochs, metrics = provenance.up_to(saved, step)
    record = provenance.check_owner(vdir, step, checkpoint.recorded(vdir, step), folder.read_config(vdir) if (
        Path(vdir) / "config.json").exists() else None)                # another variant's or run's checkpoint
    if not np.array_equal(epochs, np.arange(0, step + 1, eval_every)):
        raise checkpoint.Damaged(f"{Path(vdir) / 'metrics.npz'} does not hold every epoch up to the checkpoint at "
                                 f"epoch {step} (it ends at epoch {saved['epoch'][-1]}: an older copy?)")
    if folder.metrics_digest(epochs, metrics) != record.get("metrics_sha256"):
        raise checkpoint.Damaged(f"{Path(vdir) / 'metrics.npz'} up to epoch {step} is not the record saved with "
                                 f"the checkpoint at epoch {step} (a copy from another run?)")
    diverged = saved.get("diverged_epoch")
    if diverged is not None:
        diverged = np.where(diverged <= step, diverged, 0)   # lanes that went bad later are recomputed
    # the owner and the metrics digest are checked above: folder.load_params would read and check them again
    return State(step, checkpoint.restore(vdir, step), metrics, epochs, folder.checkpoint_wall_time(vdir, step),
                 diverged)


def from_checkpoint(vdir, plan: Plan, log=print) -> State | None:
    """The newest checkpoint that verifies, lies on this config's chunk boundaries and that metrics.npz matches,
    with the metrics up to its epoch; newer checkpoints are discarded. None (start afresh) when there is none.

    ConfigError when the newest checkpoint does not lie on this config's chunk boundaries; files.RunFileError,
    before anything is discarded, when metrics.npz is unreadable or no checkpoint records a digest (an older
    distnet wrote them)."""
    steps = folder.checkpoint_steps(vdir)
    if not steps:
        return None
    if not plan.resumable_from(steps[-1]):
        raise config.ConfigError(f"{vdir}: its checkpoint at epoch {steps[-1]} is not on a chunk boundary of this "
                                 f"config (chunk of {plan.chunk} epochs); rerun with the chunk_epochs and "
                                 f"checkpoint_every recorded in its config.json")
    require_digests(vdir)
    saved, name = folder.load_metrics(vdir), Path(vdir).name
    for step in reversed(steps):
        if not plan.resumable_from(step):
            continue
        try:
            state = _at(vdir, saved, step, plan.eval_every)
        except checkpoint.Damaged as e:
            log(f"{name}: {e.what}; trying an older checkpoint")
            continue
        newer = [s for s in steps if s > step]
        if newer:
            log(f"{name}: discarding the checkpoints at {newer}, newer than the newest one that verifies "
                f"(epoch {step}); training recomputes them")
            checkpoint.discard(vdir, newer)
        return state
    log(f"{name}: no checkpoint of it can be trusted; training it again from epoch 0")
    checkpoint.discard(vdir, steps)
    return None


def require_digests(vdir) -> None:
    """RunFileError unless at least one checkpoint of `vdir` records a digest: checkpoints an older distnet wrote
    cannot be verified, and are neither used nor discarded (the folder is left as it is)."""
    steps = folder.checkpoint_steps(vdir)
    for step in steps:
        try:
            checkpoint.recorded(vdir, step)
            return
        except checkpoint.Unverifiable:
            continue
        except checkpoint.Damaged:      # damaged, not old: the resume falls back past it
            return
    if steps:
        raise folder.RunFileError(f"none of the checkpoints of {vdir} records a digest (an older distnet wrote "
                                  f"them)", "finish or analyze the run with that version, or use another --workdir")


def finished_problem(vdir, plan: Plan) -> str | None:
    """Why a finished variant's files cannot stand as they are (its newest checkpoint does not verify or does not
    match metrics.npz, or its epoch-0 checkpoint, which analyze reads, is missing or does not verify); None when
    they can."""
    steps = folder.checkpoint_steps(vdir)
    if not steps:
        return f"{vdir} has no checkpoint"
    try:
        _at(vdir, folder.load_metrics(vdir), steps[-1], plan.eval_every)
    except checkpoint.Damaged as e:
        return e.what
    return first_problem(vdir)


def first_problem(vdir) -> str | None:
    """Why the epoch-0 checkpoint (the untrained network analyze compares with) cannot be used: missing, damaged or
    another run's; None when it verifies."""
    if 0 not in folder.checkpoint_steps(vdir):
        return f"its checkpoint at epoch 0 ({Path(vdir) / 'checkpoints' / '0'}) is missing"
    try:
        folder.load_params(vdir, 0)
    except checkpoint.Damaged as e:
        return e.what
    return None


def refirst(vdir, params, m0: trainer.Metrics) -> None:
    """Write the epoch-0 checkpoint again from `params`, the initial params recomputed from the seeds, once their
    metrics `m0` are checked to be exactly those metrics.npz records at epoch 0 (RunFileError otherwise)."""
    m0 = trainer.to_host(m0)
    epochs, saved = provenance.up_to(folder.load_metrics(vdir), 0)
    metrics = {k: np.asarray(getattr(m0, k))[:, None] for k in folder.METRICS}
    if folder.metrics_digest(epochs, metrics) != folder.metrics_digest(epochs, saved):
        raise folder.RunFileError(f"the initial params of {vdir}, recomputed from the seeds, do not give the "
                                  f"metrics its metrics.npz records at epoch 0 (another machine or library "
                                  f"version?)", "rerun train.py with --overwrite to train this variant again")
    checkpoint.discard(vdir, [0])
    folder.save_checkpoint(vdir, 0, params, 0.0, epochs, metrics)
