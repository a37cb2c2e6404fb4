"""The report's figures: each function takes gathered variant records and returns a matplotlib Figure.

A record is what `distnet.analysis.compare.gather` returns: {"name", "metrics", "stats" (or None), ...}. Here: the
training curves, final accuracies, sweeps and prototypes, and all_figures; the figures of analyze's probes live in
plots_probes (re-exported here), the feature-space atlas's in plots_atlas, the pieces they share in
plots_common.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from distnet.analysis.plots_common import (CLAMP_NAMES, LAYER_NAMES, band, error_pct, legend_outside,  # noqa: F401
                                           log_ticks, value_ticks)
from distnet.analysis.plots_probes import class_distributions, dead_units, noise, ood_auroc, perturbation  # noqa: F401
from distnet.analysis import plots_atlas, plots_geometry, plots_prototypes, report_files
from distnet.analysis.prototypes import image_side  # noqa: F401 (the notebooks call plots.image_side)
from distnet.run import folder


def learning_curves(records):
    """Test error % over epochs on a log axis: seed mean of the log error with a band of one std over seeds (the
    paper's figure)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.set_yscale("log")
    for r in records:
        band(ax, r["metrics"]["epoch"], error_pct(r["metrics"]["test_acc"]), r["name"], log=True)
    log_ticks(ax)
    ax.set(xlabel="epoch", ylabel="test error % (log scale)",
           title="Test error (mean +/- 1 std over seeds, taken on the log)")
    ax.grid(alpha=0.3)
    legend_outside(fig, ax)
    return fig


def training_curves(records):
    """Training error % and training loss over epochs, log axes, seed mean +/- 1 std in log (the paper's other
    curves)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax in (a1, a2):
        ax.set_yscale("log")
    for r in records:
        m = r["metrics"]
        band(a1, m["epoch"], error_pct(m["train_acc"]), r["name"], log=True)
        band(a2, m["epoch"], np.maximum(np.asarray(m["train_loss"], float), 1e-8), r["name"], log=True)
    for ax in (a1, a2):
        log_ticks(ax)
        ax.grid(alpha=0.3)
    a1.set(xlabel="epoch", ylabel="training error % (log scale)",
           title="Training error (mean +/- 1 std over seeds, taken on the log)")
    a2.set(xlabel="epoch", ylabel="training loss, cross-entropy (log scale)", title="Training loss")
    legend_outside(fig, a1)
    return fig


def _diverged(ax, x, color, text="diverged", nth=0):
    """Mark a point whose every seed diverged: a dashed line at `x` (no value: it has none) and `text` along it
    from the top, the nth such mark at one x set beside the others."""
    ax.axvline(x, color=color, ls="--", lw=1, alpha=0.7, zorder=1)
    ax.annotate(text, (x, 0.98), xycoords=ax.get_xaxis_transform(), xytext=(3 + 11 * nth, 0),
                textcoords="offset points", rotation=90, ha="left", va="top", fontsize=8, color=color,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})


def final_accuracy(records):
    """The distribution of final test accuracies: a box per variant (quartiles, whiskers to 1.5 IQR) with every
    seed as a point on it; a variant or point that diverged is marked "diverged" (no box), one where some seeds
    did says how many under its name."""
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(records)), 4.4))
    accs = [100 * np.asarray(r["metrics"]["test_acc"])[:, -1] for r in records]
    done = [i for i, r in enumerate(records) if r["status"] != "diverged"]
    ax.boxplot([accs[i] for i in done], positions=done, widths=0.5, showfliers=False,
               medianprops={"color": "k"}, boxprops={"color": "0.5"}, whiskerprops={"color": "0.5"},
               capprops={"color": "0.5"})
    for i, acc in enumerate(accs):
        ok = np.isfinite(acc)                 # a diverged point's seeds that still recorded a value keep it
        ax.scatter((i + np.linspace(-0.12, 0.12, len(acc)))[ok], acc[ok], s=14, zorder=3, color=f"C{i % 10}")
        if i not in done:
            _diverged(ax, i, f"C{i % 10}")
    names = [r["name"] + (f"\n({k} of {k + len(acc)} seeds diverged)" if i in done and k else "")
             for i, (r, acc) in enumerate(zip(records, accs)) for k in [r.get("diverged_lanes", 0)]]
    ax.set_xticks(range(len(records)), names, rotation=30, ha="right")
    seeds = max((len(a) for a in accs), default=0)
    ax.set(ylabel="final test accuracy %", xlim=(-0.6, len(records) - 0.4),
           title=f"Final test accuracy: every seed, with quartiles ({seeds} seeds)" if accs else "")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


IMAGE_DATA = ("mnist", "fashion_mnist")   # data whose inputs are square images (prototype grids)


def prototype_grid(records, seed=0):
    """Rows: each variant's input-space prototypes of seed `seed` (classes across; title: class -> predicted,
    red when not its class), each over the nearest training image; greys on the training data's range."""
    rows = [(r, folder.load_prototypes(r["dir"])) for r in records]
    rows = [(r, p) for r, p in rows if p is not None and r["stats"] and "input_prototypes" in r["stats"]]
    classes, dim = rows[0][1]["x"].shape[1:]
    side = image_side(dim)
    lo = min(float(p["nearest"].min()) for _, p in rows)
    hi = max(float(p["nearest"].max()) for _, p in rows)
    height = 2.0 * len(rows) + 0.4
    fig, axes = plt.subplots(2 * len(rows), classes, figsize=(0.9 * classes + 2.0, height), squeeze=False)
    for i, (r, p) in enumerate(rows):
        predicted = np.asarray(r["stats"]["input_prototypes"]["predicted"])
        for c in range(classes):
            for j, img in enumerate((p["x"][seed, c], p["nearest"][seed, c])):
                ax = axes[2 * i + j, c]
                ax.imshow(img.reshape(side, side), cmap="gray", vmin=lo, vmax=hi)
                ax.set_xticks([]), ax.set_yticks([])
                if j == 0:
                    pred = predicted[seed, c]
                    ax.set_title(f"{c}->{pred}", fontsize=9, color="k" if pred == c else "r")
        axes[2 * i, 0].set_ylabel(r["name"], fontsize=10, rotation=0, ha="right", va="center")
        axes[2 * i + 1, 0].set_ylabel("nearest", fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle(f"Input-space prototypes (seed {seed}; title: class -> predicted, red = not its class) "
                 f"over the nearest training image", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / height))    # the title above the first row's
    return fig


def sweep(records, axis: str):
    """Final test accuracy against the swept value on `axis`: mean over the seeds that finished with its 95% t
    interval, one line per variant (and per value of any other swept axis); a point whose seeds all diverged is
    marked "diverged" at the foot of the axes, one where some did says how many. A tick at every swept value."""
    from distnet.analysis import compare
    from distnet.run import summary

    table = compare.sweep_table(records)
    others = [a for a in table["axes"] if a != axis]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    marks = []                                   # x of each diverged mark so far
    for variant, cells in table["rows"].items():
        lines = {}
        for c in cells.values():
            key = summary.point_label(c["point"], others) if others else ""
            lines.setdefault(key, []).append((c["point"][axis], c))
        for key, pts in lines.items():
            pts = sorted(pts, key=lambda p: p[0])
            good = [(x, c) for x, c in pts if c["status"] != "diverged" and np.isfinite(c["mean"])]
            x = np.array([p[0] for p in good], float)
            mean = np.array([100 * p[1]["mean"] for p in good], float)
            ci = np.array([[100 * (c["mean"] - c["ci95"][0]), 100 * (c["ci95"][1] - c["mean"])]
                           for _, c in good], float).reshape(-1, 2).T
            bars = ax.errorbar(x, mean, yerr=np.nan_to_num(ci), marker="o", capsize=3,
                               label=f"{variant} {key}".strip())
            color = bars.lines[0].get_color()
            for px, c in pts:
                if c["status"] == "diverged" or not np.isfinite(c["mean"]):
                    _diverged(ax, px, color, f"{variant} {key}".strip() + " diverged", marks.count(px))
                    marks.append(px)
                elif c.get("diverged"):
                    ax.annotate(f"{c['diverged']} of {c['diverged'] + c['n']} seeds diverged", (px, 100 * c["mean"]),
                                xytext=(5, -10), textcoords="offset points", fontsize=7, color=color)
    values = [c["point"][axis] for cells in table["rows"].values() for c in cells.values()]
    if min(values) > 0 and max(values) / min(values) >= 10:
        ax.set_xscale("log")
    elif min(values) == 0 and max(values) > 0:
        ax.set_xscale("symlog", linthresh=min(v for v in values if v > 0))
    value_ticks(ax.xaxis, values)
    ax.set(xlabel=axis, ylabel="final test accuracy %",
           title=f"Final test accuracy against {axis} (mean, 95% interval over seeds)")
    ax.grid(alpha=0.3)
    legend_outside(fig, ax)
    return fig


def all_figures(records, into, log=print, shown_as=None) -> list[Path]:
    """Draw every figure the records allow into `into`/figures (a folder from report_files.new_report, through the
    run folder's atomic writer); returns the PNG paths. Each is logged as it will be named once `into` becomes
    `shown_as` (default: where it is written)."""
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
    todo += plots_prototypes.figures(with_stats, IMAGE_DATA)   # by method; hidden units' training images
    todo += plots_geometry.figures(records)          # known-answer geometry along training and against swept values
    todo += plots_atlas.figures(records, into, log)   # the feature-space atlas; its numbers in figures/atlas.json
    paths = []
    for name, fn, arg in todo:
        fig = fn(arg)
        path = report_files.save_figure(into, name, fig)
        plt.close(fig)
        log(f"  figure {Path(shown_as or into) / path.relative_to(into)}")
        paths.append(path)
    return paths
