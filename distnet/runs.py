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
import zipfile
from pathlib import Path

import numpy as np
from scipy import stats as sps

from distnet import faults, hosts

METRICS = ("train_loss", "train_acc", "test_acc")


def _atomic(path: Path, write) -> None:
    """Write through a fsynced tmp file and a rename; in a multi-process run only process 0 writes."""
    if not hosts.primary():
        return
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
    if not hosts.primary():
        return
    for p in Path(folder).glob("*.tmp"):
        p.unlink(missing_ok=True)


def plain(o):
    """JSON-ready copy of `o`: numpy and JAX arrays and scalars become lists and numbers, and every NaN or
    Inf becomes None (null), because bare NaN is not JSON and most parsers other than Python's reject it."""
    if isinstance(o, dict):
        return {k: plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    if hasattr(o, "__array__") and not isinstance(o, (str, bytes)):
        o = np.asarray(o)
        return plain(o.tolist()) if o.ndim else plain(o.item())
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def write_json(path, obj) -> None:
    """Atomically write `obj` as strict JSON (non-finite numbers as null, see `plain`)."""
    _atomic(path, lambda f: f.write(json.dumps(plain(obj), indent=1, allow_nan=False).encode()))


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


def pct(x) -> str:
    """A fraction as a percentage with two decimals; "n/a" for None or NaN (a diverged seed)."""
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f}"


ACC_HEAD = "test acc % mean +/- std | 95% CI | min | max | train acc %"


def acc_cells(test: dict, train: dict) -> str:
    """The accuracy cells of a table row (see ACC_HEAD) from two `describe` dicts; shared by every table."""
    return (f"{pct(test['mean'])} +/- {pct(test['std'])} | [{pct(test['ci95'][0])}, {pct(test['ci95'][1])}] | "
            f"{pct(test['min'])} | {pct(test['max'])} | {pct(train['mean'])}")


def summary_table(rows: list[dict]) -> str:
    """Markdown table of variant summaries (accuracies in %)."""
    lines = [f"| variant | status | seeds | epochs | {ACC_HEAD} | wall s |", "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['variant']} | {r.get('status')} | {r['test_acc']['n']} | {r['epochs']} | "
                     f"{acc_cells(r['test_acc'], r['final_train_acc'])} | {r['wall_time_s']:.0f} |")
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


def error_text(e: Exception) -> str:
    """One line for a CLI's "error: ..." from what reading a run folder can raise."""
    if isinstance(e, KeyError):
        return f"a run file lacks the field {e}; was it written by another version of distnet?"
    if isinstance(e, (OSError, zipfile.BadZipFile)):
        return f"{e} (a run file is missing, damaged or unreadable)"
    return str(e)


def load_model(vdir):
    """The flax Module a variant folder was trained with."""
    from distnet import models

    cfg = read_json(Path(vdir) / "config.json")
    return models.from_config(cfg["config"], cfg["config"]["data"].get("classes", 10), cfg["variant"])


def load_params(vdir, step: int | None = None):
    """Params (leading seed axis) of the checkpoint at epoch `step`, the latest when None."""
    from distnet import checkpoint

    return checkpoint.restore(vdir, step)


def load_data(vdir):
    """The dataset a variant folder was trained on, through distnet.data.load (honours $DISTNET_DATA_DIR)."""
    import ml_collections

    from distnet import data

    return data.load(ml_collections.ConfigDict(read_json(Path(vdir) / "config.json")["config"]["data"]))
