"""Whose a run folder's files are. Every checkpoint, summary.json and stats.json a study writes carries its owner
(the variant, the config fields that change the numbers as config.identity names them, the data's SHA-256), and
checkpoints and summary.json carry the digest of the metrics they go with; distnet.run.folder checks them on every
read, so a file moved, swapped, renamed or copied in from another variant or another run is named, not used.
Files written before owners were recorded are checked by what they hold (the variant, the seed, the final
accuracies against metrics.npz; a checkpoint by its metrics digest).

Also here: the variant folders a run folder holds that cannot be listed (unreadable, or without config.json), so
that no reader leaves a variant out without saying so.
"""
from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np

from distnet import config
from distnet.nn import models
from distnet.run import checkpoint, files

METRICS = ("train_loss", "train_acc", "test_acc")
# what a variant folder holds besides config.json: one of these without it is a variant that cannot be read
RUN_FILES = ("metrics.npz", "summary.json", "checkpoints", "stats.json", "truth.npz", "metrics.csv")
STAMPS = ("owner", "metrics_sha256")        # what a file carries to say whose it is; left out on read
SUMMARY_FIX = ("delete it and rerun the train.py command that wrote the folder: it rewrites it from the final "
               "checkpoint")


class Foreign(checkpoint.Damaged):
    """A checkpoint that verifies but belongs to another variant or run (its owner or metrics digest differ)."""


def owner(variant: str, config_dict: dict, data_info: dict) -> dict:
    """Whose a file is: the variant, config.identity of its config and the SHA-256 of the data's arrays."""
    return {"variant": variant, "config": config.identity(config_dict),
            "data_sha256": data_info.get("array_sha256")}


def owner_of(record: dict) -> dict:
    """The owner of a variant folder, from its config.json `record`."""
    return owner(record["variant"], record["config"], record["data"])


def _differ(a, b, label: str, name: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):     # fields only one side knows are left out (other versions)
        return [d for k in sorted(set(a) & set(b)) for d in _differ(a[k], b[k], label, f"{name}{k}.")]
    return [] if a == b else [f"{name.rstrip('.')} {a!r} ({label}: {b!r})"]


def differences(stamp: dict, want: dict, label: str = "this folder") -> list[str]:
    """How the owner `stamp` a file carries differs from `want` (the folder's, called `label`), as "field value
    (label: value)" texts; [] when the same."""
    return _differ({k: stamp.get(k) for k in want}, want, label)


def metrics_digest(epoch_E, metrics: dict) -> str:
    """SHA-256 of metrics as metrics.npz stores them (int64 epochs, float32 (seeds, E) arrays)."""
    h = hashlib.sha256(np.ascontiguousarray(np.asarray(epoch_E, np.int64)).tobytes())
    for k in METRICS:
        a = np.ascontiguousarray(np.asarray(metrics[k], np.float32))
        h.update(f"{k}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def up_to(metrics: dict, step: int) -> tuple[np.ndarray, dict]:
    """metrics.npz's (epochs, metrics) up to epoch `step`."""
    keep = metrics["epoch"] <= step
    return metrics["epoch"][keep], {k: metrics[k][:, keep] for k in METRICS}


def check_checkpoint(vdir, step: int, record: dict | None, metrics: dict | None) -> dict:
    """What checkpoint `step` of `vdir` recorded ({"params_sha256", "metrics_sha256", "owner"}), after checking that
    it is this folder's: its owner is that of config.json's `record` and metrics.npz's `metrics` up to `step` hash
    to its metrics digest (each when recorded; None: the file is not there). Foreign otherwise."""
    path = Path(vdir) / "checkpoints" / str(step)
    saved = check_owner(vdir, step, checkpoint.recorded(vdir, step), record)
    if "metrics_sha256" in saved:
        if metrics is None:
            raise files.RunFileError(f"{Path(vdir) / 'metrics.npz'} is missing", "restore it from a copy")
        if metrics_digest(*up_to(metrics, step)) != saved["metrics_sha256"]:
            raise Foreign(f"checkpoint {path} does not go with {Path(vdir) / 'metrics.npz'} (the metrics saved "
                          f"with it differ: another variant's or run's checkpoint, or an older metrics.npz)",
                          checkpoint.RECOVER)
    return saved


def check_owner(vdir, step: int, saved: dict, record: dict | None) -> dict:
    """`saved` (what checkpoint `step` of `vdir` recorded) if its owner, where recorded, is that of config.json's
    `record` (None: config.json is missing, an error then); Foreign otherwise."""
    if "owner" in saved:
        if record is None:
            raise files.RunFileError(f"{Path(vdir) / 'config.json'} is missing", "restore it from a copy, or "
                                     "rerun train.py with --overwrite to start this variant over")
        changed = differences(saved["owner"], owner_of(record))
        if changed:
            raise Foreign(f"checkpoint {Path(vdir) / 'checkpoints' / str(step)} belongs to another run or variant "
                          f"({'; '.join(changed)})", checkpoint.RECOVER)
    return saved


def _final(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def check_summary(s: dict, record: dict, metrics: dict, path) -> dict:
    """summary.json `s` (read from `path`), after checking that it is the summary of config.json's `record` and
    metrics.npz's `metrics`: its owner and metrics digest where recorded, else its variant, seed, epochs and final
    accuracies (RunFileError naming what differs)."""
    want = owner_of(record)
    changed = [f"variant {s.get('variant')!r} (this folder: {want['variant']!r})"] \
        if s.get("variant") != want["variant"] else []
    if "owner" in s:
        changed += differences(s["owner"], want)
    elif s.get("seed", record["config"]["seed"]) != record["config"]["seed"]:
        changed.append(f"seed {s['seed']!r} (this folder: {record['config']['seed']!r})")
    if "metrics_sha256" in s:
        if s["metrics_sha256"] != metrics_digest(metrics["epoch"], metrics):
            changed.append("its metrics digest is not that of metrics.npz")
    elif (s.get("epochs") != int(metrics["epoch"][-1])
          or s.get("final_test_acc") != [_final(a) for a in metrics["test_acc"][:, -1]]):
        changed.append("its epochs or final accuracies are not those metrics.npz records")
    if changed:
        raise files.RunFileError(f"{path} is not the summary of this folder's run ({'; '.join(changed)})",
                                 SUMMARY_FIX)
    return {k: v for k, v in s.items() if k not in STAMPS}     # the summary as it always read


def check_stats(s: dict, record: dict, path) -> dict:
    """stats.json `s`, after checking that it is this folder's (its variant and, where recorded, its owner)."""
    want = owner_of(record)
    changed = differences(s.get("owner", {"variant": s.get("variant")}), want)
    if changed:
        raise files.RunFileError(f"{path} holds another run's or variant's statistics ({'; '.join(changed)})",
                                 f"rerun python -m distnet.analysis.analyze {Path(path).parent.parent} --force")
    return {k: v for k, v in s.items() if k not in STAMPS}


def check_name(record: dict, path) -> dict:
    """config.json's `record` (read from `path`) if it names the folder it lies in (RunFileError otherwise: a
    renamed or swapped variant folder)."""
    name = Path(path).parent.name
    if record["variant"] != name:
        raise files.RunFileError(f"{path} records the variant {record['variant']!r} but lies in the folder "
                                 f"{name!r} (renamed or swapped?)", f"rename the folder back to {record['variant']}")
    return record


def unlisted(workdir, listed) -> list[str]:
    """Variant folders of `workdir` missing from `listed` (folder.list_variants): "NAME (why)" for each folder that
    cannot be read, or holds run files without a config.json."""
    out = []
    for p in sorted(Path(workdir).iterdir()) if Path(workdir).is_dir() else ():
        if p.name in listed or p.name.startswith(".") or p.name == "report" or ".deleting-" in p.name \
                or not p.is_dir():
            continue
        try:
            held = set(os.listdir(p))
        except OSError as e:
            if models.is_name(p.name):     # NAME or NAME@W
                out.append(f"{p} ({e.strerror or e})")
            continue
        if held & set(RUN_FILES):
            out.append(f"{p} (it has no readable config.json)")
    return out


def require_listed(workdir, listed) -> None:
    """RunFileError when a variant folder of `workdir` cannot be listed (see unlisted): a reader would leave it
    out."""
    missing = unlisted(workdir, listed)
    if missing:
        raise files.RunFileError(f"variant folder(s) of {workdir} cannot be read: {'; '.join(missing)}",
                                 "restore its config.json or give this user access to it, or move the folder out "
                                 "of the run folder to leave it out")
