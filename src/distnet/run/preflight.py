"""Checks on the run folder before anything trains: writable, room enough, and holding the same run: the same
config fields that change the numbers, the same first layer, the same data.

All fail with one sentence naming the fix (WorkdirError, ConfigError for a different run, RunFileError for a
damaged config.json).
"""
from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import jax

from distnet import config, data
from distnet.lanes import Lanes
from distnet.nn import models
from distnet.run import checkpoint, files, folder, formats, hosts, provenance

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
        with os.fdopen(files.create(probe), "wb") as f:     # never through a link planted at its name
            f.write(b"probe")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        raise WorkdirError(f"cannot write to the work folder {workdir} ({e.strerror or e}); "
                           f"choose a writable folder with --workdir") from None


def estimate_bytes(cfg, variants, classes: int, dim: int) -> int:
    """Rough size of what the run writes: checkpoints (params x seeds x checkpoints) plus metrics."""
    n_ckpt = cfg.epochs // cfg.checkpoint_every + 2          # epoch 0, every checkpoint_every, the end
    lanes = Lanes.from_config(cfg).n    # a sweep stores every point's seeds
    metrics = 4 * len(folder.METRICS) * lanes * (cfg.epochs // cfg.eval_every + 1)
    return sum(models.params_bytes(models.from_config(cfg, classes, v), dim) * lanes * n_ckpt + metrics
               for v in variants)


def check_space(workdir, need: int) -> None:
    free = shutil.disk_usage(workdir).free
    want = int(need * MARGIN) + SLACK
    if free < want:
        raise WorkdirError(f"the work folder {workdir} has {free / 2**20:.0f} MiB free but this run needs about "
                           f"{want / 2**20:.0f} MiB; free some space or choose another --workdir")


def differences(record: dict, cfg, info: dict, first_layer: dict) -> list[str]:
    """What differs between the run a variant's config.json `record` holds and this one: config fields that
    change the numbers (config.identity), the first layer as config.split resolves here, and the data itself
    (its files and arrays by SHA-256)."""
    out = config.diff(config.identity(record["config"]), config.identity(cfg.to_dict()))
    if record["first_layer"] != first_layer:
        out.append(f"first layer (folder: {record['first_layer']}, now: {first_layer}; config.split={cfg.split!r} "
                   f"resolves per backend)")
    data_changed = data.data_difference(record["data"], info)
    if data_changed:
        out.append(f"data: {data_changed}")
    return out


def check_one_study(cfg, workdir, variants) -> None:
    """A run folder is one study: variants added to it must share the protocol of those already there
    (config.PROTOCOL_FIELDS), so its summary and report compare like with like. --overwrite does not lift this
    (it replaces the variants being run, never the others)."""
    for v in folder.list_variants(workdir):
        if v in variants:
            continue
        changed = config.diff(folder.read_config(folder.variant_dir(workdir, v))["protocol"], config.protocol(cfg))
        if changed:
            raise config.ConfigError(
                f"{workdir} is one study and already holds {v}, run with other settings ({'; '.join(changed)}); "
                f"give these settings their own --workdir, or keep the folder's settings to add variants to it")


def check_folder(cfg, workdir, variants, info: dict, first_layer: dict, overwrite: bool = False, log=print) -> None:
    """Refuse (or, with overwrite, delete) variant folders holding another run (see `differences`), or whose
    config.json is damaged; say so when the folder was started on other devices."""
    check_one_study(cfg, workdir, variants)
    for v in variants:
        vdir = folder.variant_dir(workdir, v)
        try:
            if not (vdir / "config.json").exists():
                changed = without_config(vdir, provenance.owner(v, cfg.to_dict(), info))
            else:
                record = folder.read_config(vdir)
                changed = differences(record, cfg, info, first_layer)
                _say_if_other_devices(record, v, log)
        except folder.RunFileError as e:
            if not overwrite or e.permission:
                raise
            changed = [e.what]
        if not changed:
            continue
        if not overwrite:
            raise config.ConfigError(f"{vdir} holds a run with a different config ({'; '.join(changed)}); "
                                     f"use another --workdir, or pass --overwrite to delete it and start over")
        if hosts.primary():    # the other processes wait for it at the barrier after the checks
            log(f"{v}: --overwrite: deleting {vdir}, which holds a run with a different config")
            remove_variant(vdir)


def without_config(vdir, owner: dict) -> list[str]:
    """What differs between this run (its `owner`, provenance.owner) and what a variant folder without config.json
    holds: its newest checkpoint's owner; a folder holding run files whose owner cannot be read is refused too
    (config.json is written before anything else, so only a deletion leaves them without one)."""
    vdir = Path(vdir)
    if not vdir.is_dir() or not {"metrics.npz", "summary.json", "checkpoints"} & set(os.listdir(vdir)):
        return []
    steps = folder.checkpoint_steps(vdir)
    try:
        saved = checkpoint.recorded(vdir, steps[-1]) if steps else {}
    except checkpoint.Damaged as e:
        return [f"it has no config.json, and {e.what}"]
    if "owner" not in saved:
        return ["it has no config.json and no checkpoint recording whose run it holds"]
    changed = provenance.differences(saved["owner"], owner, "now")
    return [f"it has no config.json, and its checkpoint at epoch {steps[-1]} is another run's: {c}" for c in changed]


def _say_if_other_devices(record: dict, variant: str, log) -> None:
    """A run resumed on another backend or device count (not config fields: a run may move between machines)
    goes on, but not bit for bit as it would have on either; say so."""
    was = record.get("versions", {})
    then = (was.get("backend"), len(was.get("devices", ())))
    now = (jax.default_backend(), jax.device_count())
    if then != now:
        log(f"{variant}: started on {then[1]} {then[0]} device(s), now on {now[1]} {now[0]} device(s); if it "
            f"resumes, its numbers will not be bit-identical to an uninterrupted run on either")
    libraries = {k: v for k, v in formats.versions().items() if k in LIBRARIES and was.get(k, v) != v}
    if libraries:
        log(f"{variant}: started with {', '.join(f'{k} {was[k]}' for k in libraries)}, now "
            f"{', '.join(f'{k} {v}' for k, v in libraries.items())}; if it resumes, its numbers may not be "
            f"bit-identical to an uninterrupted run")


DELETING = ".deleting-"
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "numpy")     # the versions that compute the numbers


def remove_variant(vdir) -> None:
    """Delete a variant folder so that a kill midway can never leave part of the old run under its name
    (an old summary.json beside a new config.json would pass the old result off as the new one's): rename
    it aside first (one atomic step), then delete the renamed folder. A variant folder that is a link loses the link
    only: what it points to, outside the run folder, is left alone."""
    vdir = Path(vdir)
    aside = vdir.with_name(f"{vdir.name}{DELETING}{os.getpid()}")
    os.replace(vdir, aside)
    _delete(aside)


def _delete(p: Path, ignore_errors: bool = False) -> None:
    p.unlink() if p.is_symlink() else shutil.rmtree(p, ignore_errors=ignore_errors)


def remove_leftovers(workdir) -> None:
    """Finish deleting variant folders that an earlier --overwrite renamed aside but was killed removing."""
    if not hosts.primary():
        return
    for p in Path(workdir).glob(f"*{DELETING}*"):
        _delete(p, ignore_errors=True)


def check(cfg, workdir, variants, dataset, first_layer: dict, overwrite: bool = False, log=print) -> None:
    """Every check of a folder this process holds the lock of (check_writable comes first), before the first
    compile."""
    remove_leftovers(workdir)
    check_folder(cfg, workdir, variants, dataset.info, first_layer, overwrite, log)
    check_space(workdir, estimate_bytes(cfg, variants, dataset.classes, dataset.dim))
