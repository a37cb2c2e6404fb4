"""A study: every variant of a config, all seeds at once, chunk by chunk into a run folder.

The chunk loop is the protocol: train a chunk, record its metrics and the lanes (seeds, or a sweep's points x
seeds) that went NaN/Inf (the program masks them; the other lanes go on, and a variant stops only when every lane
has), report progress, checkpoint when due. Where a variant starts is distnet.run.resume's; what the config derives,
plan's; every file, folder's; memory, memory's. SIGINT/SIGTERM stop after the current chunk (distnet.run.faults).
"""
from __future__ import annotations

import contextlib
import importlib.metadata
import platform
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
from distnet.run.sweep import Sweep


@jax.jit
def _finite_params(params) -> jax.Array:
    """(lanes,) bool: every parameter of that lane is finite (reduced on the device)."""
    leaves = jax.tree_util.tree_leaves(params)
    return jnp.stack([jnp.isfinite(x).reshape(x.shape[0], -1).all(axis=1) for x in leaves]).all(axis=0)


def versions() -> dict:
    """Python, platform, JAX backend and devices, and the versions of the libraries that compute the numbers."""
    import jax
    out = {"python": sys.version.split()[0], "platform": platform.platform(),
           "backend": jax.default_backend(), "devices": [d.device_kind for d in jax.devices()]}
    for pkg in ("distnet", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "ml_collections"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def config_record(cfg, variant: str, dataset: data.Dataset, device_data: trainer.Data) -> dict:
    """What config.json records: the config as this variant ran it, its protocol, the first layer that ran,
    the data's provenance and the library versions."""
    record = {"format_version": formats.CURRENT, "variant": variant, "protocol": config.protocol(cfg),
              "config": cfg.to_dict(), "first_layer": device_data.first_layer, "data": dataset.info,
              "versions": versions(), "lanes": Lanes.from_config(cfg).record()}
    record["config"]["variants"] = variant
    return record


def run_variant(cfg, plan: plans.Plan, variant: str, dataset: data.Dataset, device_data: trainer.Data, workdir,
                log=print, summarize=None, later_epochs: int = 0) -> dict:
    """Train (or resume, or skip if finished) one variant for all seeds; returns its summary.

    summarize(model, params, dataset, seed_chunk=...) -> dict, if given, adds statistics of the final params.
    later_epochs: epochs the variants after this one still train (for the whole run's time left)."""
    vdir = folder.variant_dir(workdir, variant)
    folder.write_config(vdir, config_record(cfg, variant, dataset, device_data))
    if dataset.truth is not None:
        folder.write_truth(vdir, dataset.truth)   # analysis reads the truth, never regenerates it
    folder.tidy(vdir)
    if folder.is_complete(vdir):
        resume.require_digests(vdir)            # a folder an older distnet finished is refused as it is
        problem = resume.finished_problem(vdir, plan)
        if problem is None:
            log(f"{variant}: finished earlier, skipping ({vdir / 'summary.json'})")
            return folder.read_summary(vdir)
        log(f"{variant}: finished earlier, but its newest checkpoint or metrics.npz does not verify; training it "
            f"again from the newest checkpoint that does")
        if hosts.primary():
            folder.unfinish(vdir)

    model, lanes = models.from_config(cfg, dataset.classes, variant), Lanes.from_config(cfg)
    sweep = Sweep(trainer.make_train(model, cfg.lr, cfg.epochs, cfg.eval_every, input_dim=dataset.dim),
                  trainer.hyper(lanes.points), seed_chunk=cfg.seed_chunk)
    init, run, evaluate = sweep.init, sweep.run, sweep.evaluate
    clock = Stopwatch()
    with jax.default_matmul_precision(cfg.matmul_precision):
        state = resume.from_checkpoint(vdir, plan, log)
        if state is not None:
            log(f"{variant}: resuming from the checkpoint at epoch {state.epoch}")
        else:
            with clock("init_and_epoch0_s"):   # compiles and the first checkpoint included
                state = resume.fresh(vdir, plan, cfg, init, evaluate, device_data)

        progress = (Progress(variant, plan.epochs, state.epoch, later_epochs=later_epochs) if hosts.primary()
                    else lambda *a, **k: None)
        t0 = time.perf_counter() - state.wall_s
        board = tensorboard.Writer(vdir / "tensorboard") if cfg.tensorboard and hosts.primary() else None
        if board is not None and state.epoch == 0:
            board.metrics(state.epochs, state.metrics)
        while state.epoch < plan.epochs:
            with clock("first_chunk_s" if "first_chunk_s" not in clock.seconds else "chunks_s"):
                start = state.epoch   # the first chunk compiles the program
                params, went_bad, new = run(state.params, state.diverged == 0, device_data, plan.chunk)
                state.advance(params, new, plan)
                newly = mark_diverged(state, start, went_bad)
            folder.save_metrics(vdir, state.epochs, {**state.metrics, "diverged_epoch": state.diverged})
            if board is not None:
                fresh = plan.chunk // plan.eval_every
                board.metrics(state.epochs[-fresh:], {k: v[:, -fresh:] for k, v in state.metrics.items()})
            faults.point("chunk_done")
            if newly.size:
                log_diverged(log, variant, lanes, state, newly)
            if state.diverged.all():
                return _diverged(vdir, variant, state, np.flatnonzero(state.diverged), cfg,
                                 time.perf_counter() - t0, log)
            progress(state.epoch, state.metrics["test_acc"][state.diverged == 0, -1],
                     final=state.epoch == plan.epochs)
            stop = hosts.agree_max(faults.requested())   # every process stops at the same chunk
            if plan.checkpoint_due(state.epoch) or stop:
                with clock("checkpoint_s"):
                    folder.save_checkpoint(vdir, state.epoch, state.params, time.perf_counter() - t0, state.epochs,
                                           state.metrics)
            if stop and state.epoch < plan.epochs:
                raise faults.Interrupted(f"interrupted at epoch {state.epoch} of {variant}; rerun the same command "
                                         f"to resume", stop)

        extra = summary.lanes_summary(lanes, state.metrics, state.diverged)
        if summarize is not None:
            with clock("stats_s"):
                add_statistics(extra, lanes, state,
                               lambda p: summarize(model, p, dataset, seed_chunk=cfg.seed_chunk))
    result = summary.variant_summary(variant, {"epoch": state.epochs, **state.metrics}, time.perf_counter() - t0,
                                     seeds=cfg.num_seeds, seed=cfg.seed, **extra,
                                     timing={k: round(v, 3) for k, v in clock.seconds.items()})
    folder.write_summary(vdir, result)
    return result


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


def add_statistics(extra: dict, lanes: Lanes, state: resume.State, summarize) -> None:
    """The summary statistics of the final params, over the lanes that finished: per point for a sweep; for a
    single point, extra["stats"] as always (with "stats_lanes" naming the lanes when some diverged)."""
    params = trainer.to_host(state.params)
    for i in range(lanes.n_points):
        keep = lanes.alive_of_point(i, state.diverged)
        if not keep:
            continue
        stats = summarize(params if len(keep) == len(state.diverged) else
                          jax.tree.map(lambda a: np.asarray(a)[keep], params))
        if lanes.is_sweep:
            extra["points"][i].update(stats=stats, stats_lanes=keep)
        else:
            extra["stats"] = stats
            if len(keep) < lanes.seeds:
                extra["stats_lanes"] = keep


def _diverged(vdir, variant: str, state: resume.State, seeds: np.ndarray, cfg, wall_s: float, log) -> dict:
    """Record a NaN/Inf loss or params: name the seeds and the first bad epoch; other variants still run."""
    first = int(state.diverged[seeds].min())
    lrs = config.sweep_axes(cfg)["lr"]
    log(f"{variant}: loss or parameters became NaN/Inf for seed(s) {seeds.tolist()} by epoch {first}; every lane "
        f"has, so this variant stops (lr={lrs[0] if len(lrs) == 1 else lrs} may be too large for "
        f"data.preprocess={cfg.data.preprocess!r})")
    result = summary.variant_summary(variant, {"epoch": state.epochs, **state.metrics}, wall_s,
                                     seeds=cfg.num_seeds, seed=cfg.seed,
                                     **summary.lanes_summary(Lanes.from_config(cfg), state.metrics, state.diverged))
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
            except files.Busy as e:
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
