"""Checkpoints of a run folder: Orbax behind save and restore of params (leading seed axis) by epoch, each with
a content digest verified on every restore, plus a JSON sidecar. distnet.run.folder owns the folder; this module
owns its checkpoints/ subfolder.

Checkpoints live in `<variant_dir>/checkpoints/<epoch>/`. Orbax writes each step to a temporary folder and
renames it when complete, so a save cut short is never listed as a step and is ignored on resume
(`remove_partial` deletes such leftovers). The digest (`digest`: SHA-256 over every leaf's path, dtype, shape and
bytes) goes into the step's own `_CHECKPOINT_METADATA` (Orbax's custom metadata), so it is committed in the
same rename as the arrays, together with whatever `record` the caller adds (the run folder adds the digest of
the metrics up to the step). The sidecar is written after the step, so a step may lack one; `meta` then
returns {}.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from distnet.run import faults, files, hosts

DIGEST = "params_sha256"
RECOVER = ("rerun the train.py command that wrote it: training resumes from the newest checkpoint that verifies "
           "and recomputes this one")


class Damaged(files.RunFileError):
    """A checkpoint that cannot be restored, or whose params do not match the digest saved with them."""


class Unverifiable(Damaged):
    """A checkpoint without a digest: its metadata is gone, or an older distnet wrote it."""


def _manager(variant_dir, create: bool = False) -> ocp.CheckpointManager:
    path = Path(variant_dir).absolute() / "checkpoints"
    opts = ocp.CheckpointManagerOptions(create=create, enable_async_checkpointing=False)
    return ocp.CheckpointManager(path, options=opts, item_handlers=ocp.StandardCheckpointHandler())


@contextlib.contextmanager
def _quiet():
    """Orbax logs a failed write or read at ERROR with a traceback before raising it; the error is reported once,
    by whoever catches it (train.py: one sentence, the traceback with --debug)."""
    log = logging.getLogger("absl")
    drop = lambda record: "orbax" not in record.pathname
    log.addFilter(drop)
    try:
        yield
    finally:
        log.removeFilter(drop)


def digest(params) -> str:
    """SHA-256 over every leaf of `params` in path order: path, dtype, shape, then the C-order bytes."""
    h = hashlib.sha256()
    leaves = jax.tree_util.tree_flatten_with_path(hosts.gather(params))[0]
    for path, leaf in sorted(leaves, key=lambda kv: jax.tree_util.keystr(kv[0])):
        a = np.ascontiguousarray(np.asarray(leaf))
        h.update(f"{jax.tree_util.keystr(path)}|{a.dtype.str}|{a.shape}\n".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def steps(variant_dir) -> list[int]:
    """Epochs with a complete checkpoint, ascending ([] when none)."""
    if not (Path(variant_dir) / "checkpoints").is_dir():
        return []
    with _manager(variant_dir) as m:
        return sorted(m.all_steps())


def save(variant_dir, step: int, params, meta: dict | None = None, record: dict | None = None) -> None:
    """Write params (leading seed axis) at `step` with their digest and `record` inside the step, then a sidecar
    `checkpoints/<step>.json` with `meta`. A full disk or a file-size limit inside Orbax's write is raised as
    the OSError behind it, named after the step."""
    sidecar = Path(variant_dir) / "checkpoints" / f"{step}.json"
    custom = {DIGEST: digest(params), **(record or {})}
    with _manager(variant_dir, create=True) as m:
        # a rerun reaching the same epoch keeps the existing, identical step, but still writes a sidecar a
        # kill between the step and its sidecar left missing
        have = m.all_steps()
        if step not in have:
            try:
                with _quiet():
                    m.save(step, args=ocp.args.StandardSave(params), custom_metadata=custom,
                           force=step < max(have, default=-1))    # a step rewritten below the newest
                    m.wait_until_finished()
            except Exception as e:
                code = files.os_errno(e)
                if code is None:
                    raise
                raise OSError(code, f"{e.strerror if isinstance(e, OSError) else 'write failed'}",
                              str(Path(variant_dir) / "checkpoints" / str(step))) from e
            faults.point("checkpoint_saved")
        elif sidecar.exists():
            return
    files.write_json(sidecar, {"step": step, **(meta or {})})


def meta(variant_dir, step: int) -> dict:
    """The sidecar of `step` ({} when a kill came between the Orbax step and its sidecar, or it is unreadable:
    it holds only the wall time)."""
    sidecar = Path(variant_dir) / "checkpoints" / f"{step}.json"
    try:
        return json.loads(files.read_bytes(sidecar)) if sidecar.exists() else {}
    except (OSError, ValueError, RecursionError):
        return {}


def remove_partial(variant_dir) -> None:
    """Delete what a save cut short left behind: Orbax tmp folders and sidecar tmp files."""
    if not hosts.primary():
        return
    folder = Path(variant_dir) / "checkpoints"
    for p in folder.glob("*.orbax-checkpoint-tmp*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in folder.glob("*.json.tmp"):
        p.unlink(missing_ok=True)


def discard(variant_dir, drop: list[int]) -> None:
    """Delete the checkpoints at epochs `drop` and their sidecars (process 0, once every process has read them)."""
    hosts.barrier(f"read {variant_dir}")
    if hosts.primary():
        folder = Path(variant_dir) / "checkpoints"
        for step in drop:
            aside = folder / f"{step}.orbax-checkpoint-tmp-discarded"     # one rename: never listed half-deleted
            if (folder / str(step)).exists():
                (folder / str(step)).rename(aside)
                shutil.rmtree(aside)
            (folder / f"{step}.json").unlink(missing_ok=True)
    hosts.barrier(f"discard {variant_dir}")


def _available(variant_dir, step: int | None) -> int:
    available = steps(variant_dir)
    if not available:
        raise FileNotFoundError(f"{variant_dir}: no checkpoints found")
    if step is None:
        return available[-1]
    if step not in available:
        raise FileNotFoundError(f"{variant_dir}: no checkpoint at step {step}; available: {available}")
    return step


def _reading(path, fix: str = RECOVER):
    """Turn whatever Orbax or TensorStore raise on reading a step into Damaged (or permission denied)."""
    @contextlib.contextmanager
    def block():
        try:
            with _quiet():
                yield
        except files.RunFileError:
            raise
        except Exception as e:
            err = files.unreadable(path, e, fix, name=f"checkpoint {path}")
            raise (err if err.permission else Damaged(err.what, fix)) from e
    return block()


def recorded(variant_dir, step: int, fix: str = RECOVER) -> dict:
    """What was saved with the step: {"params_sha256": ..., **record} (Damaged when it is unreadable or lacks
    the digest)."""
    path = Path(variant_dir) / "checkpoints" / str(step)
    with _reading(path, fix), _manager(variant_dir) as m:
        custom = dict(m.metadata(step).custom_metadata or {})
    if DIGEST not in custom:
        raise Unverifiable(f"checkpoint {path} records no parameter digest (its _CHECKPOINT_METADATA is missing "
                           f"or damaged, or an older distnet wrote it)", f"{fix} (if an older distnet wrote it, use "
                           f"that version)")
    return custom


def restore(variant_dir, step: int | None = None, fix: str = RECOVER):
    """Params pytree (leading seed axis) saved at epoch `step`, or at the latest one when step is None, on this
    process's first device, after checking them against the digest saved with them (Damaged otherwise)."""
    step = _available(variant_dir, step)
    path = Path(variant_dir) / "checkpoints" / str(step)
    want = recorded(variant_dir, step, fix)[DIGEST]
    # Onto this process's first device, whatever devices saved it: a run sharded over 4 GPUs or 2 hosts
    # restores on a laptop, and a resumed multi-process run re-shards the seeds itself (SeedSpread).
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    with _reading(path, fix), _manager(variant_dir) as m:
        saved = m.item_metadata(step)
        if saved is None:
            raise Damaged(f"checkpoint {path} is damaged (its array metadata, default/_METADATA, is missing)", fix)
        target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), saved.tree)
        params = m.restore(step, args=ocp.args.StandardRestore(target))
    got = digest(params)
    if got != want:
        raise Damaged(f"checkpoint {path} is damaged (its params hash to {got[:16]}..., saved as {want[:16]}...)",
                      fix)
    return params
