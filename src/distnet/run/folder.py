"""The run folder: every file a study writes, and the only way the rest of distnet reads or writes them.

    DIR/.distnet-lock                     the folder's lock: held by the one process writing it (train.py,
                                          analyze, report), and naming it, so a second one is refused
    DIR/summary.json, summary.md          one row per finished variant (train.py prints the table at the end)
    DIR/<variant>/config.json             the config as resolved, its protocol fields, the first layer that ran,
                                          the data's provenance (source, files, SHA-256s) and library versions
    DIR/<variant>/truth.npz               the data's known generating parameters (synthetic Gaussians only)
    DIR/<variant>/metrics.npz             epoch (E,), train_loss / train_acc / test_acc (lanes, E), and
                                          diverged_epoch (lanes,) if a lane went NaN/Inf (NaN metrics from it on).
                                          Lanes are a sweep's points x seeds (distnet.lanes; config.json's
                                          "lanes" names each lane's values)
    DIR/<variant>/metrics.csv             the same as a tidy table (variant, seed, epoch, metrics), written
                                          with summary.json when the variant ends
    DIR/<variant>/tensorboard/            TensorBoard event files, when config.tensorboard (distnet.run.tensorboard)
    DIR/<variant>/checkpoints/<epoch>/    Orbax params with a leading seed axis (distnet.run.checkpoint), at
                                          epoch 0, every checkpoint_every epochs and the end; each records the
                                          SHA-256 of its params and of the metrics up to its epoch
    DIR/<variant>/checkpoints/<epoch>.json   the checkpoint's sidecar: wall time spent up to it
    DIR/<variant>/summary.json            final accuracies and their statistics, where the wall time went, the
                                          summary statistics; written last, so it marks a finished variant
    DIR/<variant>/stats.json              every distance statistic (python -m distnet.analysis.analyze DIR)
    DIR/<variant>/prototypes.npz          input-space prototypes x (seeds, classes, D) and the nearest training
                                          input to each, nearest (seeds, classes, D) (analyze)
    DIR/geometry_reference.json           the analytic network scored against the truth (analyze; Gaussians only)
    OUT/report -> OUT/.report-<time>-<pid>/   report.md, report.json, report.tex, figures/*.png (python -m
                                          distnet.analysis.report DIR; OUT = DIR unless --out says otherwise;
                                          written by distnet.analysis.report_files)

Every file is written atomically (distnet.run.files), so a reader never sees half a file, and the report's
files are replaced together (a new folder, then one rename of the `report` link). Every reader here checks what
it reads and names the file and the fix when it is missing, damaged or unreadable (files.RunFileError).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from distnet.lanes import Lanes
from distnet.nn import models
from distnet.run import checkpoint, files, formats, provenance, summary

METRICS = provenance.METRICS
STATS_FILE = "stats.json"
LOCK_FILE = ".distnet-lock"
RunFileError = files.RunFileError
TRUTH_FILE, PROTOTYPES_FILE = "truth.npz", "prototypes.npz"
REFERENCE_FILE = "geometry_reference.json"
read_json = files.read_json


# --- one variant ---------------------------------------------------------------------------------------

def variant_dir(workdir, variant: str) -> Path:
    return Path(workdir) / variant


def write_config(vdir, record: dict) -> None:
    """config.json, once: a resumed run keeps the record of the run that started the folder."""
    if not (Path(vdir) / "config.json").exists():
        files.write_json(Path(vdir) / "config.json", record)


def read_config(vdir) -> dict:
    """config.json in the current format, whichever distnet wrote it (formats.migrate)."""
    path = Path(vdir) / "config.json"
    return provenance.check_name(formats.migrate(read_json(
        path, keys=("variant", "protocol", "config", "first_layer", "data"),
        fix="restore it from a copy, or rerun train.py with --overwrite to start this variant over"), path), path)


def write_truth(vdir, truth: dict) -> None:
    """Record a dataset's known truth (data.Dataset.truth: name -> array) beside config.json, once."""
    if not (Path(vdir) / TRUTH_FILE).exists():
        arrays = {k: np.asarray(v) for k, v in truth.items()}
        files.atomic_write(Path(vdir) / TRUTH_FILE, lambda f: np.savez(f, **arrays))


def load_truth(vdir) -> dict | None:
    """The truth a variant folder's data was generated from (means, covariances, eigenvectors, eigenvalues, as
    the network saw the data: after preprocessing), or None when the data has none (MNIST)."""
    f = Path(vdir) / TRUTH_FILE
    return files.read_npz(f, "restore it from a copy, or rerun train.py with --overwrite to start this variant "
                             "over") if f.exists() else None


def save_metrics(vdir, epoch_E: np.ndarray, metrics: dict) -> None:
    """metrics: METRICS (lanes, E), and optionally "diverged_epoch" (lanes,), written only when a lane diverged."""
    arrays = {"epoch": np.asarray(epoch_E, np.int64), **{k: np.asarray(metrics[k], np.float32) for k in METRICS}}
    if np.any(metrics.get("diverged_epoch", 0)):
        arrays["diverged_epoch"] = np.asarray(metrics["diverged_epoch"], np.int64)
    files.atomic_write(Path(vdir) / "metrics.npz", lambda f: np.savez(f, **arrays))


def load_metrics(vdir) -> dict[str, np.ndarray]:
    """{"epoch": (E,), "train_loss"/"train_acc"/"test_acc": (lanes, E)[, "diverged_epoch": (lanes,)]} (RunFileError
    unless it is exactly that)."""
    path = Path(vdir) / "metrics.npz"
    fix = f"restore it from a copy, or delete {Path(vdir)} and rerun train.py to train this variant again"
    out = files.read_npz(path, fix)
    epochs = out.get("epoch")
    shapes = {k: getattr(out.get(k), "shape", None) for k in ("epoch", *METRICS)}
    if (epochs is None or epochs.ndim != 1 or any(s is None or len(s) != 2 or s[1] != len(epochs)
                                                  for s in (shapes[k] for k in METRICS))
            or len(set(shapes[k] for k in METRICS)) != 1 or np.any(np.diff(epochs) <= 0)):
        raise RunFileError(f"{path} is damaged (arrays {shapes} do not form a metrics record)", fix)
    return out


metrics_digest = provenance.metrics_digest


def write_summary(vdir, variant_summary: dict) -> None:
    """summary.json, after metrics.csv: a finished variant has both; it records whose it is (provenance)."""
    write_metrics_csv(vdir)
    m = load_metrics(vdir)
    files.write_json(Path(vdir) / "summary.json", {**variant_summary, "owner": provenance.owner_of(read_config(
        vdir)), "metrics_sha256": metrics_digest(m["epoch"], m)})


TIDY_COLUMNS = ("variant", "seed", "epoch") + METRICS


def metrics_rows(vdir) -> dict[str, np.ndarray]:
    """metrics.npz as a tidy table: one row per (lane, recorded epoch), columns TIDY_COLUMNS; a sweep's folder
    adds each swept axis (of more than one value) as a column after "seed" (then the seed index within its
    point), from config.json's lanes."""
    m = load_metrics(vdir)
    n, evals = m["test_acc"].shape
    lanes = Lanes.from_record(read_config(vdir)) if (Path(vdir) / "config.json").exists() else None
    seed = np.asarray(lanes.seed_index) if lanes else np.arange(n)
    swept = {axis: np.repeat(np.asarray(lanes.values(axis), np.float64), evals)
             for axis in (lanes.swept if lanes else ())}
    return {"variant": np.full(n * evals, Path(vdir).name), "seed": np.repeat(seed, evals), **swept,
            "epoch": np.tile(m["epoch"], n), **{k: m[k].reshape(-1) for k in METRICS}}


def write_metrics_csv(vdir) -> None:
    """DIR/<variant>/metrics.csv from metrics.npz (float32 values printed exactly: 9 significant digits)."""
    rows = metrics_rows(vdir)
    text = {k: v.astype(str) if v.dtype.kind in "iuU" else np.char.mod("%.9g", v) for k, v in rows.items()}
    lines = [",".join(rows)] + [",".join(r) for r in zip(*text.values())]
    files.write_text(Path(vdir) / "metrics.csv", "\n".join(lines) + "\n")


def to_dataframe(workdir):
    """Every variant's metrics in one pandas DataFrame (columns TIDY_COLUMNS); needs pandas installed."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("to_dataframe needs pandas (pip install pandas); without it read "
                          "<variant>/metrics.csv or folder.metrics_rows(vdir)") from None
    require_listed(workdir)
    frames = [pd.DataFrame(metrics_rows(variant_dir(workdir, v))) for v in list_variants(workdir)
              if (variant_dir(workdir, v) / "metrics.npz").exists()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(TIDY_COLUMNS))


def read_summary(vdir) -> dict | None:
    """summary.json, checked to be the summary of this folder's config.json and metrics.npz (provenance)."""
    p = Path(vdir) / "summary.json"
    return provenance.check_summary(read_json(p, keys=("status",), fix=provenance.SUMMARY_FIX), read_config(vdir),
                                    load_metrics(vdir), p) if p.exists() else None


def is_complete(vdir) -> bool:
    return _finished(read_summary(vdir))


def _finished(s: dict | None) -> bool:
    return s is not None and s.get("status") in ("complete", "diverged")


def unfinish(vdir) -> None:
    """Mark a finished variant unfinished again (its summary and statistics go; training rewrites them)."""
    for name in ("summary.json", STATS_FILE):
        (Path(vdir) / name).unlink(missing_ok=True)


def write_stats(vdir, stats: dict) -> None:
    files.write_json(Path(vdir) / STATS_FILE, {**stats, "owner": provenance.owner_of(read_config(vdir))})


def load_stats(vdir) -> dict | None:
    """The variant's statistics: stats.json written by analyze (everything), else the summary statistics
    training wrote into summary.json, as {"summary": ...}, else None."""
    vdir = Path(vdir)
    if (vdir / STATS_FILE).exists():
        return provenance.check_stats(read_json(vdir / STATS_FILE, fix=f"rerun python -m distnet.analysis.analyze "
                                                f"{vdir.parent} --force"), read_config(vdir), vdir / STATS_FILE)
    s = read_summary(vdir)
    return {"summary": s["stats"]} if s and "stats" in s else None


def write_prototypes(vdir, x_SxCxD, nearest_SxCxD) -> None:
    arrays = {"x": np.asarray(x_SxCxD, np.float32), "nearest": np.asarray(nearest_SxCxD, np.float32)}
    files.atomic_write(Path(vdir) / PROTOTYPES_FILE, lambda f: np.savez(f, **arrays))


def load_prototypes(vdir) -> dict | None:
    """{"x", "nearest"}: (seeds, classes, D) input-space prototypes and their nearest training inputs, or None."""
    f = Path(vdir) / PROTOTYPES_FILE
    return files.read_npz(f, f"rerun python -m distnet.analysis.analyze {Path(vdir).parent} --force") \
        if f.exists() else None


def write_reference(workdir, reference: dict) -> None:
    files.write_json(Path(workdir) / REFERENCE_FILE, reference)


def load_reference(workdir) -> dict | None:
    """The analytic network's geometry against the folder's truth (analyze writes it), or None."""
    p = Path(workdir) / REFERENCE_FILE
    return read_json(p) if p.exists() else None


def checkpoint_steps(vdir) -> list[int]:
    """Epochs with a complete checkpoint, ascending."""
    return checkpoint.steps(vdir)


def save_checkpoint(vdir, epoch: int, params, wall_time_s: float, epoch_E, metrics: dict) -> None:
    """Params at `epoch` with the digest of the metrics recorded up to it (epoch_E ends at `epoch`) and the
    folder's owner (provenance; config.json is written first)."""
    owner = {"owner": provenance.owner_of(read_config(vdir))} if (Path(vdir) / "config.json").exists() else {}
    checkpoint.save(vdir, epoch, params, {"wall_time_s": wall_time_s},
                    record={"metrics_sha256": metrics_digest(epoch_E, metrics), **owner})


def checkpoint_wall_time(vdir, epoch: int) -> float:
    """Seconds of training up to the checkpoint at `epoch` (0 when a kill left it without its sidecar)."""
    return checkpoint.meta(vdir, epoch).get("wall_time_s", 0.0)


def load_params(vdir, step: int | None = None, record: dict | None = None, metrics: dict | None = None):
    """Params (leading seed axis) of the checkpoint at epoch `step`, the latest when None, verified against the
    digest saved with them and checked to be this folder's: its owner that of config.json, its metrics digest
    that of metrics.npz up to `step` (checkpoint.Damaged, or provenance.Foreign, otherwise). record, metrics:
    config.json and metrics.npz as already read, for a caller that reads many checkpoints (None: read here)."""
    steps, vdir = checkpoint_steps(vdir), Path(vdir)
    if step in steps or (step is None and steps):
        provenance.check_checkpoint(vdir, steps[-1] if step is None else step, *(
            known if known is not None else reader(vdir) if (vdir / name).exists() else None
            for known, reader, name in ((record, read_config, "config.json"), (metrics, load_metrics, "metrics.npz"))))
    return checkpoint.restore(vdir, step)


def tidy(vdir) -> None:
    """Remove what a killed writer left in a variant folder: tmp files and partial checkpoints."""
    files.remove_tmp(vdir)
    checkpoint.remove_partial(vdir)


# --- the whole folder -------------------------------------------------------------------------------------

def list_variants(workdir) -> list[str]:
    """Variants in a run folder (those with a config.json), in the paper's order (models.NAMES)."""
    return models.in_paper_order(p.parent.name for p in Path(workdir).glob("*/config.json"))


def require_listed(workdir) -> None:
    """RunFileError naming every variant folder list_variants leaves out although it holds run files (no readable
    config.json) or cannot be read at all: no reader leaves a variant out silently."""
    provenance.require_listed(workdir, list_variants(workdir))


def is_run_folder(workdir) -> bool:
    """True when `workdir` holds at least one variant folder with a config.json."""
    return Path(workdir).is_dir() and bool(list_variants(workdir))


def lock(workdir, who: str, hint: str = "wait for it to finish (or stop it), then rerun"):
    """Context manager: this process is the folder's one writer for the block (files.Busy naming the holder
    otherwise); the lock dies with the process."""
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return files.lock(Path(workdir) / LOCK_FILE, who, hint)


def write_run_summary(workdir, variants: list[str]) -> str:
    """DIR/summary.json and DIR/summary.md from the finished variants' summaries; returns the markdown."""
    rows = [s for s in (read_summary(variant_dir(workdir, v)) for v in models.in_paper_order(variants))
            if _finished(s)]     # each read once: reading checks it against config.json and metrics.npz
    md = summary.summary_table(rows)
    files.write_json(Path(workdir) / "summary.json", {"variants": rows})
    files.write_text(Path(workdir) / "summary.md", md)
    return md


def load(workdir) -> dict[str, dict]:
    """Everything a notebook needs, per variant: {"config", "summary" (None if unfinished), "metrics", "dir"}."""
    out = {}
    require_listed(workdir)
    for v in list_variants(workdir):
        vdir = variant_dir(workdir, v)
        s = read_summary(vdir)
        has = (vdir / "metrics.npz").exists() or s is not None   # a finished variant without metrics is damaged
        out[v] = {"config": read_config(vdir), "summary": s, "metrics": load_metrics(vdir) if has else None,
                  "dir": vdir}
    return out
