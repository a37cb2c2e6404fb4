"""Checks on the run folder before anything trains: writable, room enough, and holding the same experiment.

All three fail with one sentence naming the fix (WorkdirError, or ConfigError for a different config).
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import jax
import numpy as np

from distnet import config
from distnet.nn import models
from distnet.run import hosts, folder

MARGIN = 1.5            # free space wanted, as a multiple of the estimate (Orbax metadata, tmp copies)
SLACK = 16 * 2 ** 20    # plus this much for config/summary files and filesystem overhead


class WorkdirError(Exception):
    """The work folder cannot hold the run (not writable, or too little free space)."""


def check_writable(workdir) -> None:
    """Create `workdir` and write, fsync and delete a probe file in it."""
    workdir = Path(workdir)
    probe = workdir / f".distnet-write-probe-{socket.gethostname()}-{os.getpid()}"   # one per process
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"probe")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        raise WorkdirError(f"cannot write to the work folder {workdir} ({e.strerror or e}); "
                           f"choose a writable folder with --workdir") from None


def params_bytes(cfg, variant: str, classes: int, dim: int) -> int:
    """Bytes of one seed's params (shapes only; nothing is computed)."""
    model = models.from_config(cfg, classes, variant)
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jax.ShapeDtypeStruct((1, dim), np.float32))
    return sum(int(np.prod(s.shape)) * s.dtype.itemsize for s in jax.tree_util.tree_leaves(shapes))


def estimate_bytes(cfg, variants, classes: int, dim: int) -> int:
    """Rough size of what the run writes: checkpoints (params x seeds x checkpoints) plus metrics."""
    n_ckpt = cfg.epochs // cfg.checkpoint_every + 2          # epoch 0, every checkpoint_every, the end
    metrics = 4 * len(folder.METRICS) * cfg.num_seeds * (cfg.epochs // cfg.eval_every + 1)
    return sum(params_bytes(cfg, v, classes, dim) * cfg.num_seeds * n_ckpt + metrics for v in variants)


def check_space(workdir, need: int) -> None:
    free = shutil.disk_usage(workdir).free
    want = int(need * MARGIN) + SLACK
    if free < want:
        raise WorkdirError(f"the work folder {workdir} has {free / 2**20:.0f} MiB free but this run needs about "
                           f"{want / 2**20:.0f} MiB; free some space or choose another --workdir")


def check_folder(cfg, workdir, variants, overwrite: bool = False, log=print) -> None:
    """Refuse (or, with overwrite, delete) variant folders holding a run with a different protocol."""
    current = config.protocol(cfg)
    for v in variants:
        vdir = folder.variant_dir(workdir, v)
        if not (vdir / "config.json").exists():
            continue
        changed = config.diff(folder.read_config(vdir)["protocol"], current)
        if not changed:
            continue
        if not overwrite:
            raise config.ConfigError(f"{vdir} holds a run with a different config ({'; '.join(changed)}); "
                                     f"use another --workdir, or pass --overwrite to delete it and start over")
        if hosts.primary():    # the other processes wait for it at the barrier after the checks
            log(f"{v}: --overwrite: deleting {vdir}, which holds a run with a different config")
            remove_variant(vdir)


DELETING = ".deleting-"


def remove_variant(vdir) -> None:
    """Delete a variant folder so that a kill midway can never leave part of the old run under its name
    (an old summary.json beside a new config.json would pass the old result off as the new one's): rename
    it aside first (one atomic step), then delete the renamed folder."""
    vdir = Path(vdir)
    aside = vdir.with_name(f"{vdir.name}{DELETING}{os.getpid()}")
    os.replace(vdir, aside)
    shutil.rmtree(aside)


def remove_leftovers(workdir) -> None:
    """Finish deleting variant folders that an earlier --overwrite renamed aside but was killed removing."""
    if not hosts.primary():
        return
    for p in Path(workdir).glob(f"*{DELETING}*"):
        shutil.rmtree(p, ignore_errors=True)


def check(cfg, workdir, variants, classes: int, dim: int, overwrite: bool = False, log=print) -> None:
    """Every check, in order, before the first compile."""
    check_writable(workdir)
    remove_leftovers(workdir)
    check_folder(cfg, workdir, variants, overwrite, log)
    check_space(workdir, estimate_bytes(cfg, variants, classes, dim))
