"""What a finished variant's seeds say: mean, spread and a 95% interval of their final accuracies, and the
markdown table train.py prints at the end of a run (and the report reuses).

Comparisons between variants (tests of significance) are the analysis's: distnet.analysis.significance.
"""
from __future__ import annotations

import math

import numpy as np

from distnet.lanes import SHORT, point_label, swept  # noqa: F401 (the sweep's names, used by every table)


ACCURACY = (0.0, 1.0)   # the range of an accuracy, for describe's interval


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile: scipy.stats.t.ppf's own routine (scipy.special.stdtrit, the same value), imported
    here because scipy.stats costs every train.py process about a second of import time on CPU."""
    from scipy.special import stdtrit
    return float(stdtrit(df, p))


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
    half = float(t_quantile(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else float("nan")
    lo, hi = mean - half, mean + half
    if bounds is not None and n > 1:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return {"n": n, "mean": mean, "std": std, "ci95": [lo, hi], "min": float(v.min()), "max": float(v.max())}


def finals(metrics: dict, lanes=None) -> dict:
    """describe() of the final test and train accuracy and train loss over `lanes` (default all) that ended
    finite; over all of them (NaN) when none did."""
    rows = slice(None) if lanes is None else np.asarray(lanes)
    out = {}
    for key, metric, bounds in (("test_acc", "test_acc", ACCURACY), ("final_train_acc", "train_acc", ACCURACY),
                                ("final_train_loss", "train_loss", None)):
        v = np.asarray(metrics[metric])[rows, -1]
        out[key] = describe(v[np.isfinite(v)] if np.isfinite(v).any() else v, bounds)
    return out


def variant_summary(variant: str, metrics: dict, wall_time_s: float, **extra) -> dict:
    """summary.json of a variant from its metrics ({"epoch": (E,), "test_acc": (lanes, E), ...}): the statistics
    are over the lanes that finished (a lane that went NaN/Inf has NaN finals: extra names it)."""
    final = metrics["test_acc"][:, -1]
    return {"variant": variant, "status": "complete", "epochs": int(metrics["epoch"][-1]),
            "final_test_acc": [float(a) for a in final], **finals(metrics),
            "wall_time_s": wall_time_s, **extra}


def lanes_summary(lanes, metrics: dict, diverged) -> dict:
    """What summary.json adds for the lanes (a distnet.lanes.Lanes): "diverged_lanes" (lane, seed, point values,
    epoch) when any lane went NaN/Inf, and for a sweep "points": each point's values, its lanes and the
    statistics over its seeds that finished."""
    out, diverged = {}, np.asarray(diverged)
    bad = np.flatnonzero(diverged)
    if bad.size:
        out["diverged_lanes"] = [{"lane": int(i), "seed": lanes.seed(i), **lanes.points[lanes.point(i)],
                                  "epoch": int(diverged[i])} for i in bad]
    if lanes.is_sweep:
        out["lanes_per_point"] = lanes.seeds
        out["points"] = [{**p, "lanes": [lanes.of_point(i).start, lanes.of_point(i).stop],
                          "diverged_seeds": [lanes.seed(j) for j in lanes.diverged_of_point(i, diverged)],
                          **finals(metrics, lanes.of_point(i))}
                         for i, p in enumerate(lanes.points)]
    return out


def pct(x) -> str:
    """A fraction as a percentage with two decimals; "n/a" for None or NaN (a diverged seed)."""
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.2f}"


ACC_HEAD = "test acc % mean +/- std | 95% CI | min | max | train acc %"


def acc_cells(test: dict, train: dict) -> str:
    """The accuracy cells of a table row (see ACC_HEAD) from two `describe` dicts; shared by every table."""
    return (f"{pct(test['mean'])} +/- {pct(test['std'])} | [{pct(test['ci95'][0])}, {pct(test['ci95'][1])}] | "
            f"{pct(test['min'])} | {pct(test['max'])} | {pct(train['mean'])}")


def summary_table(rows: list[dict]) -> str:
    """Markdown table of variant summaries (accuracies in %): one row per variant, or per sweep point."""
    lines = [f"| variant | status | seeds | epochs | {ACC_HEAD} | wall s |", "|" + "---|" * 10]
    for r in rows:
        for name, p in ([(r["variant"], r)] if "points" not in r else
                        [(f"{r['variant']} {point_label(p, swept(r['points']))}", p) for p in r["points"]]):
            status, bad = r.get("status"), len(p.get("diverged_seeds", ()))
            if status == "complete" and bad:
                status = "diverged" if "points" in r and bad == r["lanes_per_point"] else f"complete ({bad} diverged)"
            lines.append(f"| {name} | {status} | {p['test_acc']['n']} | {r['epochs']} | "
                         f"{acc_cells(p['test_acc'], p['final_train_acc'])} | {r['wall_time_s']:.0f} |")
    return "\n".join(lines) + "\n"
