"""What a finished variant's seeds say: mean, spread and a 95% interval of their final accuracies, and the
markdown table train.py prints at the end of a run (and the report reuses).

Comparisons between variants (tests of significance) are the analysis's: distnet.analysis.significance.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps


ACCURACY = (0.0, 1.0)   # the range of an accuracy, for describe's interval


def describe(values, bounds: tuple[float, float] | None = None) -> dict:
    """mean, std (ddof=1), 95% t interval, min, max of per-seed values.

    bounds: the range the quantity cannot leave (ACCURACY for accuracies). The t interval of a widely spread
    variable can reach past it (ReLU2's accuracies: [-1.25%, 38.42%] from 3 seeds); it is then cut to the range,
    which keeps its coverage, since the true mean lies in the range whenever it lies in the interval. The paper
    reports t intervals, so this stays one."""
    v = np.asarray(values, np.float64)
    n = len(v)
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = float(sps.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")
    lo, hi = mean - half, mean + half
    if bounds is not None and n > 1:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return {"n": n, "mean": mean, "std": std, "ci95": [lo, hi], "min": float(v.min()), "max": float(v.max())}


def variant_summary(variant: str, metrics: dict, wall_time_s: float, **extra) -> dict:
    """summary.json of a variant from its metrics ({"epoch": (E,), "test_acc": (S, E), ...})."""
    final = metrics["test_acc"][:, -1]
    return {"variant": variant, "status": "complete", "epochs": int(metrics["epoch"][-1]),
            "final_test_acc": [float(a) for a in final], "test_acc": describe(final, ACCURACY),
            "final_train_acc": describe(metrics["train_acc"][:, -1], ACCURACY),
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
