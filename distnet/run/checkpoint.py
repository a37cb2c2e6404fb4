"""Checkpoints of a run folder: Orbax behind save and restore of params (leading seed axis) by epoch, plus a
JSON sidecar. distnet.run.folder owns the folder; this module owns its checkpoints/ subfolder.

Checkpoints live in `<variant_dir>/checkpoints/<epoch>/`. Orbax writes each step to a temporary folder and
renames it when complete, so a save cut short is never listed as a step and is ignored on resume
(`remove_partial` deletes such leftovers). The sidecar is written after the step, so a step may lack one;
`meta` then returns {}.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from distnet.run import faults, files, hosts


def _manager(variant_dir, create: bool = False) -> ocp.CheckpointManager:
    path = Path(variant_dir).absolute() / "checkpoints"
    opts = ocp.CheckpointManagerOptions(create=create, enable_async_checkpointing=False)
    return ocp.CheckpointManager(path, options=opts, item_handlers=ocp.StandardCheckpointHandler())


def steps(variant_dir) -> list[int]:
    """Epochs with a complete checkpoint, ascending ([] when none)."""
    if not (Path(variant_dir) / "checkpoints").is_dir():
        return []
    with _manager(variant_dir) as m:
        return sorted(m.all_steps())


def save(variant_dir, step: int, params, meta: dict | None = None) -> None:
    """Write params (leading seed axis) at `step` and a sidecar `checkpoints/<step>.json` with `meta`."""
    sidecar = Path(variant_dir) / "checkpoints" / f"{step}.json"
    with _manager(variant_dir, create=True) as m:
        # a rerun reaching the same epoch keeps the existing, identical step, but still writes a sidecar a
        # kill between the step and its sidecar left missing
        if step not in m.all_steps():
            m.save(step, args=ocp.args.StandardSave(params))
            m.wait_until_finished()
            faults.point("checkpoint_saved")
        elif sidecar.exists():
            return
    files.write_json(sidecar, {"step": step, **(meta or {})})


def meta(variant_dir, step: int) -> dict:
    """The sidecar of `step` ({} when a kill came between the Orbax step and its sidecar)."""
    sidecar = Path(variant_dir) / "checkpoints" / f"{step}.json"
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}


def remove_partial(variant_dir) -> None:
    """Delete what a save cut short left behind: Orbax tmp folders and sidecar tmp files."""
    if not hosts.primary():
        return
    folder = Path(variant_dir) / "checkpoints"
    for p in folder.glob("*.orbax-checkpoint-tmp*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in folder.glob("*.json.tmp"):
        p.unlink(missing_ok=True)


def restore(variant_dir, step: int | None = None):
    """Params pytree (leading seed axis) saved at epoch `step`, or at the latest one when step is None,
    on this process's first device."""
    available = steps(variant_dir)
    if not available:
        raise FileNotFoundError(f"{variant_dir}: no checkpoints found")
    if step is None:
        step = available[-1]
    if step not in available:
        raise FileNotFoundError(f"{variant_dir}: no checkpoint at step {step}; available: {available}")
    # Onto this process's first device, whatever devices saved it: a run sharded over 4 GPUs or 2 hosts
    # restores on a laptop, and a resumed multi-process run re-shards the seeds itself (SeedSpread).
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    with _manager(variant_dir) as m:
        target = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device),
                              m.item_metadata(step).tree)
        return m.restore(step, args=ocp.args.StandardRestore(target))
