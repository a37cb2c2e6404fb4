"""One variant, all seeds, chunk by chunk: progress, checkpoints, resume and the NaN check.

The order of writes makes a kill at any point resumable: metrics.npz (atomic) is written before the
checkpoint of the same epoch, so on resume the metrics always reach the latest checkpoint and are cut back to
it; summary.json is written last and is the mark of a finished variant.
"""
from __future__ import annotations

import importlib.metadata
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

from distnet import checkpoint, config, data as data_lib, models, runs, stats, training


class Diverged(Exception):
    pass


def versions() -> dict:
    out = {"python": sys.version.split()[0], "platform": platform.platform(),
           "backend": jax.default_backend(), "devices": [d.device_kind for d in jax.devices()]}
    for pkg in ("distnet", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "ml_collections"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


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


def _append(metrics: dict, new: training.Metrics) -> dict:
    return {k: np.concatenate([metrics[k], np.asarray(getattr(new, k)).reshape(len(metrics[k]), -1)], axis=1)
            for k in runs.METRICS}


def run_variant(cfg, variant: str, ds, data: training.Data, workdir, log=print) -> dict:
    """Train (or resume, or skip if finished) one variant for all seeds; returns its summary."""
    vdir = runs.variant_dir(workdir, variant)
    if runs.is_complete(vdir):
        log(f"{variant}: finished earlier, skipping ({vdir / 'summary.json'})")
        return runs.read_json(vdir / "summary.json")
    record = {"variant": variant, "protocol": config.protocol(cfg), "config": cfg.to_dict(),
              "data": ds.info, "versions": versions()}
    record["config"]["variants"] = variant
    if (vdir / "config.json").exists():
        changed = config.diff(runs.read_json(vdir / "config.json")["protocol"], record["protocol"])
        if changed:
            raise config.ConfigError(f"{vdir} holds a run with a different config ({'; '.join(changed)}); "
                                     f"use another --workdir, or delete that folder to start over")
    else:
        runs.write_json(vdir / "config.json", record)

    model = models.get(variant, hidden=cfg.hidden, classes=ds.classes, offsetl2_form=cfg.offsetl2_form)
    trainer = training.make_train(model, cfg.lr, cfg.epochs, cfg.eval_every, input_dim=ds.dim)
    init, run, evaluate = trainer.vmapped()
    length = training.chunk_length(cfg.epochs, cfg.checkpoint_every, cfg.eval_every, cfg.chunk_epochs)

    with jax.default_matmul_precision(cfg.matmul_precision):
        done = checkpoint.steps(vdir)
        if done:
            epoch = done[-1]
            params = checkpoint.restore(vdir, epoch)
            saved = runs.load_metrics(vdir)
            keep = saved["epoch"] <= epoch
            metrics = {k: saved[k][:, keep] for k in runs.METRICS}
            epochs_seen = saved["epoch"][keep]
            wall = runs.read_json(vdir / "checkpoints" / f"{epoch}.json").get("wall_time_s", 0.0)
            log(f"{variant}: resuming from the checkpoint at epoch {epoch}")
        else:
            epoch, wall = 0, 0.0
            params = init(training.seed_keys(cfg.seed, cfg.num_seeds))
            m0 = evaluate(params, data)
            metrics = {k: np.asarray(getattr(m0, k))[:, None] for k in runs.METRICS}
            epochs_seen = np.array([0])
            runs.save_metrics(vdir, epochs_seen, metrics)
            checkpoint.save(vdir, 0, params, {"wall_time_s": 0.0})

        progress = Progress(variant, cfg.epochs, epoch)
        t0 = time.perf_counter() - wall
        while epoch < cfg.epochs:
            params, new = run(params, data, length)
            metrics = _append(metrics, new)
            epoch += length
            epochs_seen = np.concatenate([epochs_seen, np.arange(epoch - length + cfg.eval_every, epoch + 1,
                                                                 cfg.eval_every)])
            runs.save_metrics(vdir, epochs_seen, metrics)
            bad = ~np.isfinite(metrics["train_loss"][:, -(length // cfg.eval_every):]).all(axis=1)
            if bad.any():
                return _diverged(vdir, variant, metrics, epochs_seen, np.flatnonzero(bad), length, cfg, t0, log)
            progress(epoch, metrics["test_acc"][:, -1], final=epoch == cfg.epochs)
            if epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs:
                checkpoint.save(vdir, epoch, params, {"wall_time_s": time.perf_counter() - t0})

        cheap_stats = stats.cheap(model, params, ds)   # unit activity and output geometry of the final params
    summary = runs.variant_summary(variant, {"epoch": epochs_seen, **metrics}, time.perf_counter() - t0,
                                   seeds=cfg.num_seeds, seed=cfg.seed, stats=cheap_stats)
    runs.write_json(vdir / "summary.json", summary)
    return summary


def _diverged(vdir, variant, metrics, epochs_seen, seeds, length, cfg, t0, log) -> dict:
    """Record a NaN/Inf loss: name the seeds and the first bad epoch; other variants still run."""
    losses = metrics["train_loss"][seeds]
    first = int(epochs_seen[np.argmax(~np.isfinite(losses).all(axis=0))])
    log(f"{variant}: loss became NaN/Inf for seed(s) {seeds.tolist()} by epoch {first}; "
        f"stopping this variant (lr={cfg.lr} may be too large for data.preprocess={cfg.data.preprocess!r})")
    summary = runs.variant_summary(variant, {"epoch": epochs_seen, **metrics}, time.perf_counter() - t0,
                                   seeds=cfg.num_seeds, seed=cfg.seed)
    summary.update(status="diverged", diverged_seeds=seeds.tolist(), diverged_epoch=first)
    runs.write_json(vdir / "summary.json", summary)
    return summary


def run_all(cfg, workdir, log=print) -> str:
    """Validate, load data once, train every variant of `cfg` into `workdir`; returns the summary table."""
    variants = config.validate(cfg)
    ds = data_lib.load(cfg.data)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    log(f"distnet: {len(variants)} variant(s) x {cfg.num_seeds} seed(s) x {cfg.epochs} epochs on "
        f"{cfg.data.name} ({len(ds.x_train)} train / {len(ds.x_test)} test, {cfg.data.preprocess}) -> {workdir}")
    device_data = training.to_device(ds)
    for v in variants:
        run_variant(cfg, v, ds, device_data, workdir, log=log)
    return runs.write_run_summary(workdir, variants)
