"""One variant, all seeds, chunk by chunk: progress, checkpoints, resume and the NaN check.

The order of writes makes a kill at any point resumable: metrics.npz (atomic) is written before the
checkpoint of the same epoch, so on resume the metrics always reach the latest checkpoint and are cut back to
it; summary.json is written last and is the mark of a finished variant. SIGINT/SIGTERM stop after the current
chunk with a checkpoint at that epoch (distnet.faults); a NaN/Inf in the loss or the params ends the variant
as "diverged" and the next variant still runs.
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

from distnet import checkpoint, config, data as data_lib, faults, hosts, layers, models, preflight, runs, stats, training


def versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform(),
           "backend": jax.default_backend(), "devices": [d.device_kind for d in jax.devices()]}
    for pkg in ("distnet", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "ml_collections"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


class Stopwatch:
    """Seconds spent per phase of a variant (summary.json's "timing"): where a study's wall time goes."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0


class Progress:
    """Variant, epoch, test accuracy over seeds (mean and range) and time left; in place on a TTY."""

    def __init__(self, variant: str, total: int, start: int, stream=sys.stdout):
        self.variant, self.total, self.start, self.stream = variant, total, start, stream
        self.t0 = time.perf_counter()
        self.tty = stream.isatty()

    def __call__(self, epoch: int, test_acc: np.ndarray, final: bool = False) -> None:
        elapsed = time.perf_counter() - self.t0
        done = epoch - self.start
        left = elapsed / done * (self.total - epoch) if done > 0 else float("nan")
        line = (f"{self.variant:>14}  epoch {epoch:>6}/{self.total}  test acc {100 * test_acc.mean():6.2f}% "
                f"[{100 * test_acc.min():.2f}, {100 * test_acc.max():.2f}]  "
                f"{elapsed:6.0f}s elapsed, {left:5.0f}s left")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


@jax.jit
def _finite_params(params) -> jax.Array:
    """(seeds,) bool: every parameter of that seed is finite (reduced on the device)."""
    leaves = jax.tree_util.tree_leaves(params)
    return jnp.stack([jnp.isfinite(x).reshape(x.shape[0], -1).all(axis=1) for x in leaves]).all(axis=0)


def nonfinite_seeds(params, recent_losses: np.ndarray) -> np.ndarray:
    """Indices of the seeds whose recent losses (seeds, k) or current params hold a NaN or Inf."""
    ok = np.isfinite(recent_losses).all(axis=1) & np.asarray(training.to_host(_finite_params(params)))
    return np.flatnonzero(~ok)


def _append(metrics: dict, new: training.Metrics) -> dict:
    new = training.to_host(new)
    return {k: np.concatenate([metrics[k], np.asarray(getattr(new, k)).reshape(len(metrics[k]), -1)], axis=1)
            for k in runs.METRICS}


def run_variant(cfg, variant: str, ds, data: training.Data, workdir, log=print) -> dict:
    """Train (or resume, or skip if finished) one variant for all seeds; returns its summary."""
    vdir = runs.variant_dir(workdir, variant)
    record = {"variant": variant, "protocol": config.protocol(cfg), "config": cfg.to_dict(),
              "first_layer": data.first_layer, "data": ds.info, "versions": versions()}
    record["config"]["variants"] = variant
    preflight.check_folder(cfg, workdir, [variant])
    if not (vdir / "config.json").exists():
        runs.write_json(vdir / "config.json", record)
    runs.remove_tmp(vdir)
    checkpoint.remove_partial(vdir)
    if runs.is_complete(vdir):
        log(f"{variant}: finished earlier, skipping ({vdir / 'summary.json'})")
        return runs.read_json(vdir / "summary.json")

    model = models.from_config(cfg, ds.classes, variant)
    trainer = training.make_train(model, cfg.lr, cfg.epochs, cfg.eval_every, input_dim=ds.dim)
    init, run, evaluate = trainer.vmapped(seed_chunk=cfg.seed_chunk)
    length = training.chunk_length(cfg.epochs, cfg.checkpoint_every, cfg.eval_every, cfg.chunk_epochs)

    clock = Stopwatch()
    with jax.default_matmul_precision(cfg.matmul_precision):
        done = checkpoint.steps(vdir)
        if done:
            epoch = done[-1]
            if (cfg.epochs - epoch) % length:
                raise config.ConfigError(f"{vdir}: its checkpoint at epoch {epoch} is not on a chunk boundary of this "
                                         f"config (chunk of {length} epochs); rerun with the chunk_epochs and "
                                         f"checkpoint_every recorded in its config.json")
            params = checkpoint.restore(vdir, epoch)
            saved = runs.load_metrics(vdir)
            keep = saved["epoch"] <= epoch
            metrics = {k: saved[k][:, keep] for k in runs.METRICS}
            epochs_seen = saved["epoch"][keep]
            wall = checkpoint.meta(vdir, epoch).get("wall_time_s", 0.0)
            log(f"{variant}: resuming from the checkpoint at epoch {epoch}")
        else:
            epoch, wall = 0, 0.0
            with clock("init_and_epoch0_s"):   # compiles included
                params = init(training.seed_keys(cfg.seed, cfg.num_seeds))
                m0 = evaluate(params, data)
                metrics = {k: np.asarray(getattr(training.to_host(m0), k))[:, None] for k in runs.METRICS}
            epochs_seen = np.array([0])
            runs.save_metrics(vdir, epochs_seen, metrics)
            with clock("checkpoint_s"):
                checkpoint.save(vdir, 0, params, {"wall_time_s": 0.0})

        progress = Progress(variant, cfg.epochs, epoch) if hosts.primary() else lambda *a, **k: None
        t0 = time.perf_counter() - wall
        while epoch < cfg.epochs:
            with clock("first_chunk_s" if "first_chunk_s" not in clock.seconds else "chunks_s"):
                params, new = run(params, data, length)   # the first chunk includes compiling the program
                metrics = _append(metrics, new)
            epoch += length
            epochs_seen = np.concatenate([epochs_seen, np.arange(epoch - length + cfg.eval_every, epoch + 1,
                                                                 cfg.eval_every)])
            runs.save_metrics(vdir, epochs_seen, metrics)
            faults.point("chunk_done")
            bad = nonfinite_seeds(params, metrics["train_loss"][:, -(length // cfg.eval_every):])
            if bad.size:
                return _diverged(vdir, variant, metrics, epochs_seen, bad, epoch, cfg, t0, log)
            progress(epoch, metrics["test_acc"][:, -1], final=epoch == cfg.epochs)
            stop = hosts.agree_max(faults.requested())   # every process stops at the same chunk
            if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs or stop:
                with clock("checkpoint_s"):
                    checkpoint.save(vdir, epoch, params, {"wall_time_s": time.perf_counter() - t0})
            if stop and epoch < cfg.epochs:
                raise faults.Interrupted(f"interrupted at epoch {epoch} of {variant}; rerun the same command "
                                         f"to resume", stop)

        with clock("stats_s"):   # unit activity and output geometry of the final params
            cheap_stats = stats.cheap(model, training.to_host(params), ds)
    summary = runs.variant_summary(variant, {"epoch": epochs_seen, **metrics}, time.perf_counter() - t0,
                                   seeds=cfg.num_seeds, seed=cfg.seed, stats=cheap_stats,
                                   timing={k: round(v, 3) for k, v in clock.seconds.items()})
    runs.write_json(vdir / "summary.json", summary)
    return summary


def _diverged(vdir, variant, metrics, epochs_seen, seeds, epoch, cfg, t0, log) -> dict:
    """Record a NaN/Inf loss or params: name the seeds and the first bad epoch; other variants still run."""
    finite = np.isfinite(metrics["train_loss"][seeds]).all(axis=0)
    first = int(epochs_seen[np.argmin(finite)]) if not finite.all() else epoch   # params only: seen at `epoch`
    log(f"{variant}: loss or parameters became NaN/Inf for seed(s) {seeds.tolist()} by epoch {first}; "
        f"stopping this variant (lr={cfg.lr} may be too large for data.preprocess={cfg.data.preprocess!r})")
    summary = runs.variant_summary(variant, {"epoch": epochs_seen, **metrics}, time.perf_counter() - t0,
                                   seeds=cfg.num_seeds, seed=cfg.seed)
    summary.update(status="diverged", diverged_seeds=seeds.tolist(), diverged_epoch=first)
    runs.write_json(vdir / "summary.json", summary)
    return summary


def run_all(cfg, workdir, log=print, overwrite: bool = False) -> str:
    """Validate, load data once, train every variant of `cfg` into `workdir`; returns the summary table.

    overwrite: delete variant folders holding a different config instead of refusing to run."""
    variants = config.validate(cfg)
    if cfg.distributed:
        hosts.initialize()   # before anything touches a device
        check_seed_split(cfg)
    if not hosts.primary():
        log = lambda *a, **k: None   # process 0 speaks for all
    ds = data_lib.load(cfg.data)
    preflight.check(cfg, workdir, variants, ds.classes, ds.dim, overwrite=overwrite, log=log)
    log(f"distnet: {len(variants)} variant(s) x {cfg.num_seeds} seed(s) x {cfg.epochs} epochs on "
        f"{cfg.data.name} ({len(ds.x_train)} train / {len(ds.x_test)} test, {cfg.data.preprocess}) -> {workdir}")
    hosts.barrier("preflight")
    split = training.resolve_split(cfg.split, cfg.matmul_precision,
                                   all(layers.exact_in(x, "fp16") and layers.exact_in(x, "bf16")
                                       for x in (ds.x_train, ds.x_test)))
    parts = training.split_parts(split, cfg.matmul_precision)
    try:
        device_data = training.to_device(ds, split=split, parts=parts)
    except ValueError as e:
        raise config.ConfigError(f"config.split={cfg.split!r} with data.preprocess={cfg.data.preprocess!r}: {e}") from None
    log("first layer: " + (f"{split} split, {parts} parts" if parts else "plain float32 matmul"))
    with faults.stopping():
        for v in variants:
            if stop := hosts.agree_max(faults.requested()):
                raise faults.Interrupted(f"interrupted before {v} started; rerun the same command to resume", stop)
            hosts.barrier(f"start {v}")   # no process reads a folder while another still writes it
            run_variant(cfg, v, ds, device_data, workdir, log=log)
            faults.point("variant_done")
    hosts.barrier("summaries")
    return runs.write_run_summary(workdir, variants)


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
