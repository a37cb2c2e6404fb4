"""The report's figures: each function takes gathered variant records and returns a matplotlib Figure.

A record is what `distnet.analysis.compare.gather` returns: {"name", "metrics", "stats" (or None), ...}.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from distnet.run import folder


LAYER_NAMES = {"hidden_post": "hidden layer (after its activation)", "output_post": "output layer (the logits)"}
CLAMP_NAMES = {"below": "from below: each unit's values under min + f x range raised to it",
               "above": "from above: each unit's values over max - f x range lowered to it"}


def _legend_outside(fig, ax, ncol=1):
    """One legend to the right of the axes, never on the curves."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, ncol=ncol, frameon=False)
    fig.tight_layout()


def _band(ax, x, values_SxE, label, log10=False):
    """Seed mean as a line with a band of one std over seeds."""
    v = np.log10(values_SxE) if log10 else values_SxE
    mean, std = v.mean(0), v.std(0)
    line, = ax.plot(x, mean, label=label)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, lw=0)


def _error(acc_SxE):
    """Error rate kept inside [1e-4, 1] so a perfect seed does not send the log to -inf."""
    return np.clip(1.0 - np.asarray(acc_SxE), 1e-4, 1.0)


def learning_curves(records):
    """Test error over epochs on a log axis, seed mean with a band of one std over seeds (the paper's figure)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in records:
        _band(ax, r["metrics"]["epoch"], _error(r["metrics"]["test_acc"]), r["name"], log10=True)
    ax.set(xlabel="epoch", ylabel="log10 test error", title="Test error (mean +/- 1 std over seeds)")
    _legend_outside(fig, ax)
    return fig


def training_curves(records):
    """Training error and training loss over epochs, log axes, seed mean +/- 1 std (the paper's other curves)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for r in records:
        m = r["metrics"]
        _band(a1, m["epoch"], _error(m["train_acc"]), r["name"], log10=True)
        _band(a2, m["epoch"], np.maximum(np.asarray(m["train_loss"]), 1e-8), r["name"], log10=True)
    a1.set(xlabel="epoch", ylabel="log10 training error", title="Training error (mean +/- 1 std over seeds)")
    a2.set(xlabel="epoch", ylabel="log10 training loss (cross-entropy)", title="Training loss")
    _legend_outside(fig, a1)
    return fig


def final_accuracy(records):
    """The distribution of final test accuracies: a box per variant (quartiles, whiskers to 1.5 IQR) with every
    seed as a point on it."""
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(records)), 4.2))
    accs = [100 * np.asarray(r["metrics"]["test_acc"])[:, -1] for r in records]
    ax.boxplot(accs, positions=range(len(records)), widths=0.5, showfliers=False,
               medianprops={"color": "k"}, boxprops={"color": "0.5"}, whiskerprops={"color": "0.5"},
               capprops={"color": "0.5"})
    for i, acc in enumerate(accs):
        ax.scatter(i + np.linspace(-0.12, 0.12, len(acc)), acc, s=14, zorder=3)
    ax.set_xticks(range(len(records)), [r["name"] for r in records], rotation=30, ha="right")
    ax.set(ylabel="final test accuracy %",
           title=f"Final test accuracy: every seed, with quartiles ({len(accs[0])} seeds)" if accs else "")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def dead_units(records):
    """Dead and rarely active units per layer (train split): bars are the seed mean, points each seed, the
    number on a bar its mean count."""
    rows = [r for r in records if r["stats"] and "summary" in r["stats"]]
    kinds = (("dead", "dead (never active)"), ("rare_1pct", "active on < 1% of inputs"),
             ("rare_5pct", "active on < 5% of inputs"))
    fig, axes = plt.subplots(1, 2, figsize=(max(9, 2.0 * len(rows)), 4.2))
    width, x = 0.27, np.arange(len(rows))
    for ax, layer in zip(axes, ("hidden_post", "output_post")):
        units = rows[0]["stats"]["summary"]["activity"]["train"][layer]["units"] if rows else 0
        top = 0.0
        for j, (kind, label) in enumerate(kinds):
            counts = [np.asarray(r["stats"]["summary"]["activity"]["train"][layer].get(kind, [np.nan]), float)
                      for r in rows]
            means = [c.mean() for c in counts]
            top = max([top] + [float(np.nanmax(c)) for c in counts])
            bars = ax.bar(x + (j - 1) * width, means, width, label=label, alpha=0.75)
            for i, c in enumerate(counts):
                ax.scatter(np.full(len(c), i + (j - 1) * width), c, s=8, color="k", zorder=3)
            ax.bar_label(bars, labels=[f"{m:.1f}" for m in means], fontsize=6, padding=2)
        ax.set_xticks(x, [r["name"] for r in rows], rotation=30, ha="right")
        ax.set(ylabel=f"units (of {units} in the layer)", title=LAYER_NAMES[layer], ylim=(0, max(top, 1) * 1.2))
    fig.suptitle("Dead and rarely active units, train split (bar: seed mean; dots: seeds)")
    _legend_outside(fig, axes[1])
    return fig


def class_distributions(record, seed=0):
    """Per-class histograms of the pre-activation along the best-separating first-layer unit of one seed."""
    h = record["stats"]["histogram"]
    counts_CxB, edges = np.asarray(h["counts"][seed]), np.asarray(h["edges"][seed])
    centres = (edges[:-1] + edges[1:]) / 2
    fig, ax = plt.subplots(figsize=(7, 4))
    for c, counts in enumerate(counts_CxB):
        ax.plot(centres, counts, label=str(c))
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="pre-activation (signed distance to the hyperplane, up to scale)", ylabel="inputs",
           title=f"{record['name']} seed {seed}: classes along hidden unit {h['unit'][seed]}")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, title="class", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7,
               frameon=False)
    fig.tight_layout()
    return fig


def perturbation(records):
    """Test accuracy against clamp fraction, per layer and direction, seed mean +/- 1 std per variant."""
    rows = [r for r in records if r["stats"] and "perturbation" in r["stats"]]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True, sharey=True)
    for i, layer in enumerate(("hidden_post", "output_post")):
        for j, way in enumerate(("below", "above")):
            ax = axes[i, j]
            for r in rows:
                p = r["stats"]["perturbation"][layer]
                _band(ax, p["fractions"], 100 * np.asarray(p[way], float), r["name"])
            ax.set_title(f"{LAYER_NAMES[layer]}\nclamped {CLAMP_NAMES[way]}", fontsize=9)
            ax.set(xlabel="f (fraction of the unit's observed range)" if i else "",
                   ylabel="test accuracy %" if j == 0 else "")
            ax.grid(alpha=0.3)
    fig.suptitle("Perturbation probes (mean +/- 1 std over seeds)")
    _legend_outside(fig, axes[0, 1])
    return fig


def noise(records):
    """Test accuracy and mean output change against Gaussian input noise (in units of the inputs' std)."""
    rows = [r for r in records if r["stats"] and "noise" in r["stats"]]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    scales, shifts = np.array([]), []
    for r in rows:
        n = r["stats"]["noise"]
        scales = np.asarray(n["scale_of_inputs_std"], float)
        shift = np.mean(n["output_shift"], axis=0)
        shifts.append(shift)
        _band(a1, scales, 100 * np.asarray(n["accuracy"], float), r["name"])
        a2.plot(scales, shift, marker=".", label=r["name"])
    positive = scales[scales > 0] if len(scales) else np.array([0.01])
    for ax in (a1, a2):
        # linear below the smallest non-zero scale so 0 sits one decade left of it, log above; a tick per scale
        ax.set_xscale("symlog", linthresh=positive.min(), linscale=0.5)
        ax.set_xticks(scales, [f"{s:g}" for s in scales])
        ax.grid(alpha=0.3)
    a1.set(xlabel="noise std / input std", ylabel="test accuracy %", title="Accuracy under input noise")
    shifts = np.concatenate(shifts) if shifts else np.ones(1)
    a2.set_yscale("symlog", linthresh=max(float(shifts[shifts > 0].min()) if (shifts > 0).any() else 1.0, 1e-6))
    a2.set_ylim(bottom=0)                                     # an output change is a norm: never negative
    a2.set(xlabel="noise std / input std", ylabel="mean ||output change|| (seed mean)",
           title="How far the output moves")
    _legend_outside(fig, a1)
    return fig


IMAGE_DATA = ("mnist", "fashion_mnist")   # data whose inputs are square images (prototype grids)


def image_side(dim: int) -> int | None:
    """The side of a square image of `dim` pixels (28 for MNIST), or None when the inputs are not images."""
    side = int(round(dim ** 0.5))
    return side if side * side == dim and side >= 8 else None


def prototype_grid(records, seed=0):
    """Rows: each variant's input-space prototypes of seed `seed` (classes across; title: class -> predicted,
    red when not its class), each over the nearest training image; greys on the training data's range."""
    rows = [(r, folder.load_prototypes(r["dir"])) for r in records]
    rows = [(r, p) for r, p in rows if p is not None and r["stats"] and "input_prototypes" in r["stats"]]
    classes, dim = rows[0][1]["x"].shape[1:]
    side = image_side(dim)
    lo = min(float(p["nearest"].min()) for _, p in rows)
    hi = max(float(p["nearest"].max()) for _, p in rows)
    fig, axes = plt.subplots(2 * len(rows), classes, figsize=(0.9 * classes + 1.6, 1.9 * len(rows)), squeeze=False)
    for i, (r, p) in enumerate(rows):
        predicted = np.asarray(r["stats"]["input_prototypes"]["predicted"])
        for c in range(classes):
            for j, img in enumerate((p["x"][seed, c], p["nearest"][seed, c])):
                ax = axes[2 * i + j, c]
                ax.imshow(img.reshape(side, side), cmap="gray", vmin=lo, vmax=hi)
                ax.set_xticks([]), ax.set_yticks([])
                if j == 0:
                    pred = predicted[seed, c]
                    ax.set_title(f"{c}->{pred}", fontsize=7, color="k" if pred == c else "r")
        axes[2 * i, 0].set_ylabel(r["name"], fontsize=7, rotation=0, ha="right")
        axes[2 * i + 1, 0].set_ylabel("nearest", fontsize=6, rotation=0, ha="right")
    fig.suptitle(f"Input-space prototypes (seed {seed}; title: class -> predicted, red = not its class) "
                 f"over the nearest training image", fontsize=9)
    fig.tight_layout()
    return fig


def ood_auroc(records):
    """AUROC of test inputs against each outlier set, per variant and score, mean with its 95% interval."""
    rows = [r for r in records if r["stats"] and "ood" in r["stats"]]
    sets = list(rows[0]["stats"]["ood"]["sets"])
    scores = list(rows[0]["stats"]["ood"]["sets"][sets[0]])
    fig, axes = plt.subplots(1, len(scores), figsize=(6 * len(scores), 4), sharey=True, squeeze=False)
    for ax, score in zip(axes[0], scores):
        for k, st in enumerate(sets):
            s = [r["stats"]["ood"]["sets"][st][score]["summary"] for r in rows]
            m = np.array([x["mean"] for x in s])
            lo = np.array([x["ci95"][0] if x["ci95"][0] is not None else x["mean"] for x in s])
            hi = np.array([x["ci95"][1] if x["ci95"][1] is not None else x["mean"] for x in s])
            xs = np.arange(len(rows)) + (k - (len(sets) - 1) / 2) * 0.2
            ax.errorbar(xs, m, yerr=[m - lo, hi - m], fmt="o", ms=4, capsize=2, label=st)
        ax.axhline(0.5, color="gray", lw=0.8, ls=":")
        ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=35, ha="right", fontsize=8)
        ax.set(title=f"score: {score}", ylabel="AUROC, test inputs vs outliers (95% CI over seeds)", ylim=(0, 1.02))
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sweep(records, axis: str):
    """Final test accuracy against the swept value on `axis`: mean over the seeds that finished with its 95% t
    interval, one line per variant (and per value of any other swept axis)."""
    from distnet.analysis import compare
    from distnet.run import summary

    table = compare.sweep_table(records)
    others = [a for a in table["axes"] if a != axis]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for variant, cells in table["rows"].items():
        lines = {}
        for c in cells.values():
            key = summary.point_label(c["point"], others) if others else ""
            lines.setdefault(key, []).append((c["point"][axis], c))
        for key, pts in lines.items():
            pts = sorted((x, c) for x, c in pts if c["status"] != "diverged" and np.isfinite(c["mean"]))
            if not pts:
                continue
            x = np.array([p[0] for p in pts])
            mean = np.array([100 * p[1]["mean"] for p in pts])
            ci = np.array([[100 * (p[1]["mean"] - p[1]["ci95"][0]), 100 * (p[1]["ci95"][1] - p[1]["mean"])]
                           for p in pts]).T
            ax.errorbar(x, mean, yerr=np.nan_to_num(ci), marker="o", capsize=3,
                        label=f"{variant} {key}".strip())
    values = [c["point"][axis] for cells in table["rows"].values() for c in cells.values()]
    if min(values) > 0 and max(values) / min(values) >= 10:
        ax.set_xscale("log")
    elif min(values) == 0 and max(values) > 0:
        ax.set_xscale("symlog", linthresh=min(v for v in values if v > 0))
    ax.set(xlabel=axis, ylabel="final test accuracy %",
           title=f"Final test accuracy against {axis} (mean, 95% interval over seeds)")
    ax.grid(alpha=0.3)
    _legend_outside(fig, ax)
    return fig


def all_figures(records, into, log=print) -> list[Path]:
    """Draw every figure the records allow into `into`/figures (a folder from folder.new_report, through the
    run folder's atomic writer); returns the PNG paths."""
    todo = [("learning_curves", learning_curves, records), ("training_curves", training_curves, records),
            ("final_accuracy", final_accuracy, records)]
    with_stats = [r for r in records if r["stats"]]
    if any("summary" in r["stats"] for r in with_stats):
        todo.append(("dead_units", dead_units, records))
    from distnet.analysis import compare
    table = compare.sweep_table(records)
    todo += [(f"sweep_{axis}", lambda rs, a=axis: sweep(rs, a), records) for axis in (table or {}).get("axes", [])]
    full = [r for r in with_stats if "histogram" in r["stats"]]
    if full:
        todo += [("perturbation", perturbation, records), ("noise", noise, records)]
        todo += [(f"class_distributions_{r['name'].replace(' ', '_')}", class_distributions, r) for r in full]
    if any("ood" in r["stats"] for r in with_stats):
        todo.append(("ood_auroc", ood_auroc, records))
    with_protos = [r for r in with_stats if "input_prototypes" in r["stats"]]
    images = [r for r in with_protos if r["protocol"]["data"] in IMAGE_DATA and folder.load_prototypes(r["dir"])]
    if images:
        todo.append(("prototypes", prototype_grid, images))
    paths = []
    for name, fn, arg in todo:
        fig = fn(arg)
        path = folder.save_figure(into, name, fig)
        plt.close(fig)
        log(f"  figure {path}")
        paths.append(path)
    return paths
