"""The variants of run folders that have not finished (no summary.json: training was stopped, or still runs):
distnet.analysis.compare leaves them out of every table and test, and the report names them with how far each got,
so a variant left out is never left out silently."""
from __future__ import annotations

from pathlib import Path

from distnet.run import folder


def listed(dirs) -> list[dict]:
    """The variants of `dirs` that have not finished, with how far each got: "epoch", the last one metrics.npz
    records (None: none yet); "checkpoint", the latest checkpoint's epoch, where rerunning train.py resumes (None:
    none); "epochs", the epochs its config plans."""
    out = []
    for d in dirs:
        for v in folder.list_variants(d):
            vdir = folder.variant_dir(d, v)
            if folder.read_summary(vdir) is not None:
                continue
            steps = folder.checkpoint_steps(vdir)
            epoch = int(folder.load_metrics(vdir)["epoch"][-1]) if (vdir / "metrics.npz").exists() else None
            out.append({"name": v if len(dirs) == 1 else f"{v} [{Path(d).name}]", "variant": v, "dir": str(vdir),
                        "epoch": epoch, "checkpoint": steps[-1] if steps else None,
                        "epochs": int(folder.read_config(vdir)["config"]["epochs"])})
    return out


def text(u: dict) -> str:
    """How far an unfinished variant got: "Abs (epoch 1200 of 5000; resumes from its checkpoint at epoch 1000)"."""
    done = "no epoch recorded yet" if u["epoch"] is None else f"epoch {u['epoch']}"
    at = "no checkpoint yet: starts over" if u["checkpoint"] is None else \
        f"resumes from its checkpoint at epoch {u['checkpoint']}"
    return f"{u['name']} ({done} of {u['epochs']}; {at})"
