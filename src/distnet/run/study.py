"""A study: every variant of a config, all seeds at once, chunk by chunk into a run folder.

The chunk loop is the protocol: train a chunk, record its metrics and the lanes (seeds, or a sweep's points x
seeds) that went NaN/Inf (the program masks them; the other lanes go on, and a variant stops only when every lane
has), report progress, checkpoint when due. Where a variant starts is distnet.run.resume's; what the config derives,
plan's; every file, folder's; memory, memory's. SIGINT/SIGTERM stop after the current chunk (distnet.run.faults).
"""
from __future__ import annotations

import contextlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from distnet import config, data
from distnet.lanes import Lanes
from distnet.nn import models
from distnet.run import (faults, files, folder, formats, hosts, memory, plan as plans, preflight, resume, summary,
                         tensorboard, trainer)
from distnet.run.progress import Progress, Stopwatch


@jax.jit
def _finite_params(params) -> jax.Array:
    """(lanes,) bool: every parameter of that lane is finite (reduced on the device)."""
    leaves = jax.tree_util.tree_leaves(params)
    return jnp.stack([jnp.isfinite(x).reshape(x.shape[0], -1).all(axis=1) for x in leaves]).all(axis=0)


def run_variant(cfg, plan: plans.Plan, variant: str, dataset: data.Dataset, device_data: trainer.Data, workdir,
                log=print, summarize=None, later_epochs: int = 0) -> dict:
    """Train (or resume, or skip if finished) one variant for all seeds; returns its summary: prepare, then the
    chunk loop, then finish.

    summarize(model, params, dataset, seed_chunk=...) -> dict, if given, adds statistics of the final params.
    later_epochs: epochs the variants after this one still train (for the whole run's time left)."""
    vdir = folder.variant_dir(workdir, variant)
    finished = prepare(vdir, formats.record(cfg, variant, dataset.info, device_data.first_layer), dataset.truth, plan, log)
    if finished is not None:
        return finished
    model, lanes = models.from_config(cfg, dataset.classes, variant), Lanes.from_config(cfg)
    train = trainer.make_train(model, input_dim=dataset.dim, eval_every=plan.eval_every, seed_chunk=cfg.seed_chunk)
    hp, clock = trainer.hyper(lanes.points), Stopwatch()
    with jax.default_matmul_precision(cfg.matmul_precision):
        state = resume.from_checkpoint(vdir, plan, log)
        if state is not None:
            log(f"{variant}: resuming from the checkpoint at epoch {state.epoch}")
            if state.epoch and (why := resume.first_problem(vdir)):    # analyze reads it: the untrained network
                log(f"{variant}: {why}; recomputing it from the seeds")
                params = train.init(trainer.seed_keys(cfg.seed, cfg.num_seeds), hp)
                resume.refirst(vdir, params, train.evaluate(params, device_data, lanes.n_points))
        else:
            with clock("init_and_epoch0_s"):   # compiles and the first checkpoint included
                params = train.init(trainer.seed_keys(cfg.seed, cfg.num_seeds), hp)
                state = resume.fresh(vdir, params, train.evaluate(params, device_data, lanes.n_points))
        hooks = Hooks(vdir, variant, lanes, plan, clock, state, later_epochs, cfg.tensorboard, log)
        while state.epoch < plan.epochs:
            with clock("first_chunk_s" if "first_chunk_s" not in clock.seconds else "chunks_s"):
                start = state.epoch   # the first chunk compiles the program
                params, went_bad, new = train.run(state.params, hp, device_data, plan.chunk, state.diverged == 0)
                state.advance(params, new, plan)
                newly = mark_diverged(state, start, went_bad)
            if not hooks.after_chunk(state, newly):
                return finish(vdir, variant, lanes, state, hooks.wall_s(), cfg.seed, log, preprocess=cfg.data.preprocess)
        extra = {}
        if summarize is not None:
            with clock("stats_s"):
                extra = statistics(lanes, state, lambda p: summarize(model, p, dataset, seed_chunk=cfg.seed_chunk))
    return finish(vdir, variant, lanes, state, hooks.wall_s(), cfg.seed, timing=clock.rounded(), **extra)


def prepare(vdir, record: dict, truth: dict | None, plan: plans.Plan, log) -> dict | None:
    """Write the variant's config.json (and the truth of synthetic data: analysis reads it, never regenerates it)
    and tidy its folder; the summary of a finished variant that verifies, else None (a finished one that does not
    verify is reopened and trains again from its newest checkpoint that does)."""
    folder.write_config(vdir, record)
    if truth is not None:
        folder.write_truth(vdir, truth)
    folder.tidy(vdir)
    if not folder.is_complete(vdir):
        return None
    resume.require_digests(vdir)            # a folder an older distnet finished is refused as it is
    if resume.finished_problem(vdir, plan) is None:
        log(f"{record['variant']}: finished earlier, skipping ({vdir / 'summary.json'})")
        if not (vdir / "metrics.csv").is_file() or not (vdir / "metrics.csv").stat().st_size:
            folder.write_metrics_csv(vdir)      # missing or empty: rewritten from metrics.npz
        return folder.read_summary(vdir)
    log(f"{record['variant']}: finished earlier, but its newest checkpoint or metrics.npz does not verify; training "
        f"it again from the newest checkpoint that does")
    if hosts.primary():
        folder.unfinish(vdir)
    return None


class Hooks:
    """What happens after each chunk, in order: metrics.npz (and TensorBoard) written, lanes that went NaN/Inf
    named, progress shown, a checkpoint when due or when a stop was asked for (then faults.Interrupted)."""

    def __init__(self, vdir, variant: str, lanes: Lanes, plan: plans.Plan, clock: Stopwatch, state: resume.State,
                 later_epochs: int, tensorboard_on: bool, log):
        self.vdir, self.variant, self.lanes, self.plan, self.clock, self.log = vdir, variant, lanes, plan, clock, log
        self.t0 = time.perf_counter() - state.wall_s
        primary = hosts.primary()
        self.progress = (Progress(variant, plan.epochs, state.epoch, later_epochs=later_epochs) if primary
                         else lambda *a, **k: None)
        self.board = tensorboard.Writer(vdir / "tensorboard") if tensorboard_on and primary else None
        if self.board is not None and state.epoch == 0:
            self.board.metrics(state.epochs, state.metrics)

    def wall_s(self) -> float:
        return time.perf_counter() - self.t0

    def after_chunk(self, state: resume.State, newly: np.ndarray) -> bool:
        """Run the hooks; False when every lane has gone NaN/Inf (the variant stops)."""
        self.record(state)
        faults.point("chunk_done")
        if newly.size:
            log_diverged(self.log, self.variant, self.lanes, state, newly)
        if state.diverged.all():
            return False
        self.progress(state.epoch, state.metrics["test_acc"][state.diverged == 0, -1],
                      final=state.epoch == self.plan.epochs)
        self.checkpoint(state)
        return True

    def record(self, state: resume.State) -> None:
        folder.save_metrics(self.vdir, state.epochs, {**state.metrics, "diverged_epoch": state.diverged})
        if self.board is not None:
            fresh = self.plan.chunk // self.plan.eval_every
            self.board.metrics(state.epochs[-fresh:], {k: v[:, -fresh:] for k, v in state.metrics.items()})

    def checkpoint(self, state: resume.State) -> None:
        stop = hosts.agree_max(faults.requested())   # every process stops at the same chunk
        if self.plan.checkpoint_due(state.epoch) or stop:
            with self.clock("checkpoint_s"):
                folder.save_checkpoint(self.vdir, state.epoch, state.params, self.wall_s(), state.epochs,
                                       state.metrics)
        if stop and state.epoch < self.plan.epochs:
            raise faults.Interrupted(f"interrupted at epoch {state.epoch} of {self.variant}; rerun the same command "
                                     f"to resume", stop)


def mark_diverged(state: resume.State, start: int, went_bad) -> np.ndarray:
    """Record in state.diverged the lanes that went NaN/Inf in the chunk from epoch `start`: those the program
    masked (went_bad, counted from 1 in the chunk) and, as a last net, any whose params are not finite now (marked
    at the chunk's end). Returns the lanes newly marked."""
    went_bad = np.asarray(trainer.to_host(went_bad))
    fresh = state.diverged == 0
    at = np.where(went_bad > 0, start + went_bad, 0)
    at = np.where((at == 0) & ~np.asarray(trainer.to_host(_finite_params(state.params))), state.epoch, at)
    newly = np.flatnonzero(fresh & (at > 0))
    state.diverged[newly] = at[newly]
    return newly


def log_diverged(log, variant: str, lanes: Lanes, state: resume.State, newly: np.ndarray) -> None:
    where = ", ".join(f"{lanes.label(i)} (epoch {state.diverged[i]})" for i in newly)
    left = int((state.diverged == 0).sum())
    log(f"{variant}: loss or parameters became NaN/Inf for {where}; masked: "
        + (f"the other {left} lane(s) go on" if left else "no lane is left"))


def statistics(lanes: Lanes, state: resume.State, summarize) -> dict:
    """The summary statistics of the final params, over the lanes that finished, as variant_summary takes them:
    per point for a sweep ("point_stats"); for a single point "stats" (with "stats_lanes" naming the lanes when
    some diverged)."""
    params, out = trainer.to_host(state.params), {}
    for i in range(lanes.n_points):
        keep = lanes.alive_of_point(i, state.diverged)
        if not keep:
            continue
        stats = summarize(params if len(keep) == len(state.diverged) else
                          jax.tree.map(lambda a: np.asarray(a)[keep], params))
        if lanes.is_sweep:
            out.setdefault("point_stats", {})[i] = {"stats": stats, "stats_lanes": keep}
        else:
            out["stats"] = stats
            if len(keep) < lanes.seeds:
                out["stats_lanes"] = keep
    return out


def finish(vdir, variant: str, lanes: Lanes, state: resume.State, wall_s: float, seed: int, log=print,
           timing: dict | None = None, preprocess: str = "", **stats) -> dict:
    """Write and return summary.json: the metrics' summary, the lanes (diverged ones named; a sweep's points) and
    `stats` (see statistics). A variant whose every lane went NaN/Inf is recorded as "diverged": its seeds and
    first bad epoch named (other variants still run)."""
    extra = summary.lanes_summary(lanes, state.metrics, state.diverged)
    for i, point in stats.pop("point_stats", {}).items():
        extra["points"][i].update(point)
    result = summary.variant_summary(variant, {"epoch": state.epochs, **state.metrics}, wall_s, seeds=lanes.seeds,
                                     seed=seed, **extra, **stats, **({} if timing is None else {"timing": timing}))
    if state.diverged.all():
        seeds, first = np.flatnonzero(state.diverged), int(state.diverged.min())
        lrs = sorted({p["lr"] for p in lanes.points})
        log(f"{variant}: loss or parameters became NaN/Inf for seed(s) {seeds.tolist()} by epoch {first}; every "
            f"lane has, so this variant stops (lr={lrs[0] if len(lrs) == 1 else lrs} may be too large for "
            f"data.preprocess={preprocess!r})")
        result.update(status="diverged", diverged_seeds=seeds.tolist(), diverged_epoch=first)
    folder.write_summary(vdir, result)
    return result


def run_all(cfg, workdir, log=print, overwrite: bool = False, summarize=None) -> str:
    """Validate, load data once, train every variant of `cfg` into `workdir`; returns the summary table.

    overwrite: delete variant folders holding a different config instead of refusing to run.
    summarize(model, params, dataset, seed_chunk=...) -> dict: statistics of each variant's final params
    (train.py passes distnet.analysis.stats.summary_statistics)."""
    variants = plans.validate(cfg)
    if cfg.distributed:
        hosts.initialize()   # before anything touches a device
        check_seed_split(cfg)
    if not hosts.primary():
        log = lambda *a, **k: None   # process 0 speaks for all
    dataset = data.load(cfg.data)
    plan = plans.make(cfg, dataset)
    preflight.check_writable(workdir)
    with one_writer(workdir):
        preflight.check(cfg, workdir, variants, dataset, {"split": plan.split, "parts": plan.parts},
                        overwrite=overwrite, log=log)
        lanes = Lanes.from_config(cfg)
        sweep = f"{lanes.n_points} point(s) of {', '.join(lanes.swept)} x " if lanes.is_sweep else ""
        log(f"distnet: {len(variants)} variant(s) x {sweep}{cfg.num_seeds} seed(s) x {cfg.epochs} epochs on "
            f"{cfg.data.name} ({len(dataset.x_train)} train / {len(dataset.x_test)} test, {cfg.data.preprocess}) "
            f"-> {workdir}")
        hosts.barrier("preflight")
        try:
            device_data = trainer.to_device(dataset, split_kind=plan.split, parts=plan.parts)
        except ValueError as e:
            raise config.ConfigError(f"config.split={cfg.split!r} with data.preprocess={cfg.data.preprocess!r}: "
                                     f"{e}") from None
        log("first layer: " + (f"{plan.split} split, {plan.parts} parts" if plan.parts else "plain float32 matmul"))
        memory.check(cfg, variants, dataset.classes, device_data, plan.chunk)   # before any seed is allocated
        with faults.stopping():
            for i, v in enumerate(variants):
                if stop := hosts.agree_max(faults.requested()):
                    raise faults.Interrupted(f"interrupted before {v} started; rerun the same command to resume",
                                             stop)
                hosts.barrier(f"start {v}")   # no process reads a folder while another still writes it
                later = sum(plan.epochs for w in variants[i + 1:]
                            if not folder.is_complete(folder.variant_dir(workdir, w)))
                run_variant(cfg, plan, v, dataset, device_data, workdir, log=log, summarize=summarize,
                            later_epochs=later)
                faults.point("variant_done")
        hosts.barrier("summaries")
        return folder.write_run_summary(workdir, folder.list_variants(workdir))   # every variant of the study


@contextlib.contextmanager
def one_writer(workdir):
    """The folder's lock for the block, taken by process 0 (the one that writes files); every process learns
    whether it was refused, so none waits forever at a barrier for a process 0 that gave up."""
    with contextlib.ExitStack() as held:
        refused = None
        if hosts.primary():
            try:
                held.enter_context(folder.lock(workdir, f"train.py ({' '.join(sys.argv[1:]) or 'no flags'})"))
            except (files.Busy, files.RunFileError) as e:     # held, or a link/folder in the lock's place
                refused = e
        if hosts.agree_max(int(refused is not None)):
            raise refused or files.Busy(f"{workdir} is in use by another process (process 0 could not lock it)")
        yield


def check_seed_split(cfg) -> None:
    """In a multi-process run every seed chunk must shard over all devices, so every process holds seeds."""
    if not hosts.multiprocess():
        return
    n_dev, size = jax.device_count(), cfg.seed_chunk or cfg.num_seeds
    sizes = {min(size, cfg.num_seeds - lo) for lo in range(0, cfg.num_seeds, size)}
    if any(s % n_dev for s in sizes):
        raise config.ConfigError(
            f"config.num_seeds={cfg.num_seeds} with config.seed_chunk={cfg.seed_chunk} gives seed chunks of "
            f"{sorted(sizes)}; a run over {jax.process_count()} processes needs every chunk to split evenly over "
            f"its {n_dev} devices (e.g. num_seeds={-(-cfg.num_seeds // n_dev) * n_dev})")
