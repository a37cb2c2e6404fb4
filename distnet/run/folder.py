"""The run folder: every file a study writes, and the only way the rest of distnet reads or writes them.

    DIR/summary.json, summary.md          one row per finished variant (train.py prints the table at the end)
    DIR/<variant>/config.json             the config as resolved, its protocol fields, the first layer that ran,
                                          the data's provenance (source, files, SHA-256s) and library versions
    DIR/<variant>/truth.npz               the data's known generating parameters (synthetic Gaussians only)
    DIR/<variant>/metrics.npz             epoch (E,), train_loss / train_acc / test_acc (seeds, E)
    DIR/<variant>/checkpoints/<epoch>/    Orbax params with a leading seed axis (distnet.run.checkpoint), at
                                          epoch 0, every checkpoint_every epochs and the end
    DIR/<variant>/checkpoints/<epoch>.json   the checkpoint's sidecar: wall time spent up to it
    DIR/<variant>/summary.json            final accuracies and their statistics, where the wall time went, the
                                          summary statistics; written last, so it marks a finished variant
    DIR/<variant>/stats.json              every distance statistic (python -m distnet.analysis.analyze DIR)
    DIR/<variant>/prototypes.npz          input-space prototypes x (seeds, classes, D) and the nearest training
                                          input to each, nearest (seeds, classes, D) (analyze)
    DIR/geometry_reference.json           the analytic network scored against the truth (analyze; Gaussians only)
    OUT/report.md, report.json, report.tex, figures/*.png   (python -m distnet.analysis.report DIR; OUT = DIR
                                          unless --out says otherwise)

Every file is written atomically (distnet.run.files), so a reader never sees half a file.
"""
from __future__ import annotations

import importlib.metadata
import platform
import sys
import zipfile
from pathlib import Path

import numpy as np

from distnet import data
from distnet.nn import models
from distnet.run import checkpoint, files, summary

METRICS = ("train_loss", "train_acc", "test_acc")
STATS_FILE = "stats.json"
TRUTH_FILE = "truth.npz"
PROTOTYPES_FILE = "prototypes.npz"
REFERENCE_FILE = "geometry_reference.json"
read_json = files.read_json


# --- one variant ---------------------------------------------------------------------------------------

def variant_dir(workdir, variant: str) -> Path:
    return Path(workdir) / variant


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


def write_config(vdir, record: dict) -> None:
    """config.json, once: a resumed run keeps the record of the run that started the folder."""
    if not (Path(vdir) / "config.json").exists():
        files.write_json(Path(vdir) / "config.json", record)


def read_config(vdir) -> dict:
    return read_json(Path(vdir) / "config.json")


def write_truth(vdir, truth: dict) -> None:
    """Record a dataset's known truth (data.Dataset.truth: name -> array) beside config.json, once."""
    if not (Path(vdir) / TRUTH_FILE).exists():
        arrays = {k: np.asarray(v) for k, v in truth.items()}
        files.atomic_write(Path(vdir) / TRUTH_FILE, lambda f: np.savez(f, **arrays))


def load_truth(vdir) -> dict | None:
    """The truth a variant folder's data was generated from (means, covariances, eigenvectors, eigenvalues, as
    the network saw the data: after preprocessing), or None when the data has none (MNIST)."""
    f = Path(vdir) / TRUTH_FILE
    if not f.exists():
        return None
    with np.load(f) as z:
        return {k: z[k] for k in z.files}


def save_metrics(vdir, epoch_E: np.ndarray, metrics: dict) -> None:
    arrays = {"epoch": np.asarray(epoch_E, np.int64), **{k: np.asarray(metrics[k], np.float32) for k in METRICS}}
    files.atomic_write(Path(vdir) / "metrics.npz", lambda f: np.savez(f, **arrays))


def load_metrics(vdir) -> dict[str, np.ndarray]:
    """{"epoch": (E,), "train_loss"/"train_acc"/"test_acc": (seeds, E)}."""
    with np.load(Path(vdir) / "metrics.npz") as z:
        return {k: z[k] for k in z.files}


def write_summary(vdir, variant_summary: dict) -> None:
    files.write_json(Path(vdir) / "summary.json", variant_summary)


def read_summary(vdir) -> dict | None:
    p = Path(vdir) / "summary.json"
    return read_json(p) if p.exists() else None


def is_complete(vdir) -> bool:
    s = read_summary(vdir)
    return s is not None and s.get("status") in ("complete", "diverged")


def write_stats(vdir, stats: dict) -> None:
    files.write_json(Path(vdir) / STATS_FILE, stats)


def load_stats(vdir) -> dict | None:
    """The variant's statistics: stats.json written by analyze (everything), else the summary statistics
    training wrote into summary.json, as {"summary": ...}, else None."""
    vdir = Path(vdir)
    if (vdir / STATS_FILE).exists():
        return read_json(vdir / STATS_FILE)
    s = read_summary(vdir)
    return {"summary": s["stats"]} if s and "stats" in s else None


def write_prototypes(vdir, x_SxCxD, nearest_SxCxD) -> None:
    arrays = {"x": np.asarray(x_SxCxD, np.float32), "nearest": np.asarray(nearest_SxCxD, np.float32)}
    files.atomic_write(Path(vdir) / PROTOTYPES_FILE, lambda f: np.savez(f, **arrays))


def load_prototypes(vdir) -> dict | None:
    """{"x", "nearest"}: (seeds, classes, D) input-space prototypes and their nearest training inputs, or None."""
    f = Path(vdir) / PROTOTYPES_FILE
    if not f.exists():
        return None
    with np.load(f) as z:
        return {k: z[k] for k in z.files}


def write_reference(workdir, reference: dict) -> None:
    files.write_json(Path(workdir) / REFERENCE_FILE, reference)


def load_reference(workdir) -> dict | None:
    """The analytic network's geometry against the folder's truth (analyze writes it), or None."""
    p = Path(workdir) / REFERENCE_FILE
    return read_json(p) if p.exists() else None


def load_model(vdir):
    """The flax Module a variant folder was trained with."""
    record = read_config(vdir)
    return models.from_config(record["config"], record["data"]["classes"], record["variant"])


def checkpoint_steps(vdir) -> list[int]:
    """Epochs with a complete checkpoint, ascending."""
    return checkpoint.steps(vdir)


def save_checkpoint(vdir, epoch: int, params, wall_time_s: float) -> None:
    checkpoint.save(vdir, epoch, params, {"wall_time_s": wall_time_s})


def checkpoint_wall_time(vdir, epoch: int) -> float:
    """Seconds of training up to the checkpoint at `epoch` (0 when a kill left it without its sidecar)."""
    return checkpoint.meta(vdir, epoch).get("wall_time_s", 0.0)


def load_params(vdir, step: int | None = None):
    """Params (leading seed axis) of the checkpoint at epoch `step`, the latest when None."""
    return checkpoint.restore(vdir, step)


def tidy(vdir) -> None:
    """Remove what a killed writer left in a variant folder: tmp files and partial checkpoints."""
    files.remove_tmp(vdir)
    checkpoint.remove_partial(vdir)


def load_data(vdir) -> data.Dataset:
    """The dataset a variant folder was trained on, through distnet.data.load (honours $DISTNET_DATA_DIR)."""
    import ml_collections
    return data.load(ml_collections.ConfigDict(read_config(vdir)["config"]["data"]))


# --- the whole folder -------------------------------------------------------------------------------------

def list_variants(workdir) -> list[str]:
    """Variants in a run folder (those with a config.json), in the paper's order (models.NAMES)."""
    return models.in_paper_order(p.parent.name for p in Path(workdir).glob("*/config.json"))


def is_run_folder(workdir) -> bool:
    """True when `workdir` holds at least one variant folder with a config.json."""
    return Path(workdir).is_dir() and bool(list_variants(workdir))


def write_run_summary(workdir, variants: list[str]) -> str:
    """DIR/summary.json and DIR/summary.md from the finished variants' summaries; returns the markdown."""
    rows = [read_summary(variant_dir(workdir, v)) for v in models.in_paper_order(variants)
            if is_complete(variant_dir(workdir, v))]
    md = summary.summary_table(rows)
    files.write_json(Path(workdir) / "summary.json", {"variants": rows})
    files.write_text(Path(workdir) / "summary.md", md)
    return md


def load(workdir) -> dict[str, dict]:
    """Everything a notebook needs, per variant: {"config", "summary" (None if unfinished), "metrics", "dir"}."""
    out = {}
    for v in list_variants(workdir):
        vdir = variant_dir(workdir, v)
        out[v] = {"config": read_config(vdir), "summary": read_summary(vdir),
                  "metrics": load_metrics(vdir) if (vdir / "metrics.npz").exists() else None, "dir": vdir}
    return out


def write_report(out, markdown: str, report: dict, latex: str) -> None:
    """OUT/report.json, report.tex and report.md (the file people open, written last)."""
    files.write_json(Path(out) / "report.json", report)
    files.write_text(Path(out) / "report.tex", latex)
    files.write_text(Path(out) / "report.md", markdown)


def save_figure(out, name: str, fig, dpi: int = 110) -> Path:
    """OUT/figures/<name>.png, written atomically; returns its path."""
    path = Path(out) / "figures" / f"{name}.png"
    files.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
    return path


def error_text(e: Exception) -> str:
    """One line for a CLI's "error: ..." from what reading a run folder can raise."""
    if isinstance(e, KeyError):
        return f"a run file lacks the field {e}; was it written by another version of distnet?"
    if isinstance(e, (OSError, zipfile.BadZipFile)):
        return f"{e} (a run file is missing, damaged or unreadable)"
    return str(e)
