"""The run-folder layout: write and read configs, metrics and summaries (notebooks read only through this).

    DIR/summary.json, DIR/summary.md      one row per variant
    DIR/<variant>/config.json             resolved config, library versions, data provenance
    DIR/<variant>/metrics.npz             epoch (E,), train_loss / train_acc / test_acc (seeds, E)
    DIR/<variant>/summary.json            final accuracies and their statistics; written last ("complete")
    DIR/<variant>/checkpoints/<epoch>/    Orbax params with a leading seed axis (see distnet.checkpoint)

Every file is written to a temporary name and renamed, so a reader never sees half a file.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
from scipy import stats as sps

from distnet import faults

METRICS = ("train_loss", "train_acc", "test_acc")


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    faults.point(f"{path.name}_tmp_written")
    os.replace(tmp, path)


def remove_tmp(folder) -> None:
    """Delete temporary files a killed writer left behind (never read; removed only to keep folders tidy)."""
    for p in Path(folder).glob("*.tmp"):
        p.unlink(missing_ok=True)


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o)}")


def write_json(path, obj) -> None:
    _atomic(path, lambda f: f.write(json.dumps(obj, indent=1, default=_jsonable, allow_nan=True).encode()))


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def write_text(path, text: str) -> None:
    _atomic(path, lambda f: f.write(text.encode()))


def variant_dir(workdir, variant: str) -> Path:
    return Path(workdir) / variant


def save_metrics(vdir, epoch: np.ndarray, metrics: dict) -> None:
    arrays = {"epoch": np.asarray(epoch, np.int64), **{k: np.asarray(metrics[k], np.float32) for k in METRICS}}
    _atomic(Path(vdir) / "metrics.npz", lambda f: np.savez(f, **arrays))


def load_metrics(vdir) -> dict[str, np.ndarray]:
    """{"epoch": (E,), "train_loss"/"train_acc"/"test_acc": (seeds, E)}."""
    with np.load(Path(vdir) / "metrics.npz") as z:
        return {k: z[k] for k in z.files}


def is_complete(vdir) -> bool:
    p = Path(vdir) / "summary.json"
    return p.exists() and read_json(p).get("status") in ("complete", "diverged")


def describe(values) -> dict:
    """mean, std (ddof=1), 95% t interval, min, max of per-seed values."""
    v = np.asarray(values, np.float64)
    n = len(v)
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = float(sps.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half],
            "min": float(v.min()), "max": float(v.max())}


def variant_summary(variant: str, metrics: dict, wall_time_s: float, **extra) -> dict:
    final = metrics["test_acc"][:, -1]
    return {"variant": variant, "status": "complete", "epochs": int(metrics["epoch"][-1]),
            "final_test_acc": [float(a) for a in final], "test_acc": describe(final),
            "final_train_acc": describe(metrics["train_acc"][:, -1]),
            "final_train_loss": describe(metrics["train_loss"][:, -1]),
            "wall_time_s": wall_time_s, **extra}


def summary_table(rows: list[dict]) -> str:
    """Markdown table of variant summaries (accuracies in %)."""
    lines = ["| variant | seeds | epochs | test acc % mean +/- std | 95% CI | min | max | train acc % | wall s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["test_acc"]
        status = "" if r.get("status") == "complete" else f" ({r.get('status')})"
        lines.append(f"| {r['variant']}{status} | {t['n']} | {r['epochs']} | {100 * t['mean']:.2f} +/- "
                     f"{100 * t['std']:.2f} | [{100 * t['ci95'][0]:.2f}, {100 * t['ci95'][1]:.2f}] | "
                     f"{100 * t['min']:.2f} | {100 * t['max']:.2f} | {100 * r['final_train_acc']['mean']:.2f} | "
                     f"{r['wall_time_s']:.0f} |")
    return "\n".join(lines) + "\n"


def write_run_summary(workdir, variants: list[str]) -> str:
    """DIR/summary.json and DIR/summary.md from the finished variants' summaries; returns the markdown."""
    rows = [read_json(variant_dir(workdir, v) / "summary.json") for v in variants
            if is_complete(variant_dir(workdir, v))]
    md = summary_table(rows)
    write_json(Path(workdir) / "summary.json", {"variants": rows})
    write_text(Path(workdir) / "summary.md", md)
    return md


def list_variants(workdir) -> list[str]:
    """Variants in a run folder (those with a config.json), in folder order."""
    return sorted(p.parent.name for p in Path(workdir).glob("*/config.json"))


def load(workdir) -> dict[str, dict]:
    """Everything a notebook needs, per variant: {"config", "summary" (None if unfinished), "metrics"}."""
    out = {}
    for v in list_variants(workdir):
        vdir = variant_dir(workdir, v)
        out[v] = {"config": read_json(vdir / "config.json"),
                  "summary": read_json(vdir / "summary.json") if (vdir / "summary.json").exists() else None,
                  "metrics": load_metrics(vdir) if (vdir / "metrics.npz").exists() else None,
                  "dir": vdir}
    return out


# --- reading what a notebook or the report needs beyond the metrics ------------------------------------

STATS_FILE = "stats.json"


def is_run_folder(workdir) -> bool:
    """True when `workdir` holds at least one variant folder with a config.json."""
    return Path(workdir).is_dir() and bool(list_variants(workdir))


def load_stats(vdir) -> dict | None:
    """The variant's statistics: stats.json written by `python -m distnet.analyze` (everything), else the
    cheap ones training wrote into summary.json as {"cheap": ...}, else None."""
    vdir = Path(vdir)
    if (vdir / STATS_FILE).exists():
        return read_json(vdir / STATS_FILE)
    if (vdir / "summary.json").exists() and "stats" in read_json(vdir / "summary.json"):
        return {"cheap": read_json(vdir / "summary.json")["stats"]}
    return None


def load_model(vdir):
    """The flax Module a variant folder was trained with."""
    from distnet import models

    cfg = read_json(Path(vdir) / "config.json")
    c = cfg["config"]
    classes = 10 if c["data"]["name"] != "gaussians" else c["data"].get("classes", 10)
    return models.get(cfg["variant"], hidden=c["hidden"], classes=classes, offsetl2_form=c["offsetl2_form"])


def load_params(vdir, step: int | None = None):
    """Params (leading seed axis) of the checkpoint at epoch `step`, the latest when None."""
    from distnet import checkpoint

    return checkpoint.restore(vdir, step)


def load_data(vdir):
    """The dataset a variant folder was trained on, through distnet.data.load (honours $DISTNET_DATA_DIR)."""
    import ml_collections

    from distnet import data

    return data.load(ml_collections.ConfigDict(read_json(Path(vdir) / "config.json")["config"]["data"]))
