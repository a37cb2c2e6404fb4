"""The report's figures: each function takes gathered variant records and returns a matplotlib Figure.

A record is what `distnet.analysis.compare.gather` returns: {"name", "metrics", "stats" (or None), ...}.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from distnet.run import folder


def learning_curves(records):
    """log test error over epochs, seed mean with a band of one std over seeds (the paper's figure)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in records:
        m = r["metrics"]
        log_err_SxE = np.log10(np.clip(1.0 - m["test_acc"], 1e-4, 1.0))
        mean, std = log_err_SxE.mean(0), log_err_SxE.std(0)
        line, = ax.plot(m["epoch"], mean, label=r["name"])
        ax.fill_between(m["epoch"], mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="epoch", ylabel="log10 test error", title="Test error (mean +/- 1 std over seeds)")
    ax.legend(fontsize=8)
    return fig


def final_accuracy(records):
    """Final test accuracy of every seed, one column per variant."""
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(records)), 4))
    for i, r in enumerate(records):
        acc = 100 * r["metrics"]["test_acc"][:, -1]
        ax.scatter(np.full(len(acc), i) + np.linspace(-0.15, 0.15, len(acc)), acc, s=14)
        ax.hlines(acc.mean(), i - 0.3, i + 0.3, color="k")
    ax.set_xticks(range(len(records)), [r["name"] for r in records], rotation=30, ha="right")
    ax.set(ylabel="final test accuracy %", title="Final test accuracy per seed (bar = mean)")
    fig.tight_layout()
    return fig


def dead_units(records):
    """Share of dead and rarely active (<1%) units per layer (train split, mean over seeds)."""
    rows = [r for r in records if r["stats"] and "summary" in r["stats"]]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 4))
    width, x = 0.2, np.arange(len(rows))
    for j, (layer, kind) in enumerate([(l, k) for l in ("hidden_post", "output_post") for k in ("dead", "rare_1pct")]):
        share = [100 * np.mean(r["stats"]["summary"]["activity"]["train"][layer][kind]) /
                 r["stats"]["summary"]["activity"]["train"][layer]["units"] for r in rows]
        ax.bar(x + (j - 1.5) * width, share, width, label=f"{layer.split('_')[0]} {kind.replace('_1pct', ' (<1%)')}")
    ax.set_xticks(x, [r["name"] for r in rows], rotation=30, ha="right")
    ax.set(ylabel="% of the layer's units", title="Dead and rarely active units (train split)")
    ax.legend(fontsize=8)
    fig.tight_layout()
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
    ax.legend(title="class", fontsize=7, ncol=2)
    return fig


def perturbation(records):
    """Test accuracy against clamp fraction, per layer and direction, seed mean per variant."""
    rows = [r for r in records if r["stats"] and "perturbation" in r["stats"]]
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True, sharey=True)
    for i, layer in enumerate(("hidden_post", "output_post")):
        for j, way in enumerate(("below", "above")):
            ax = axes[i, j]
            for r in rows:
                p = r["stats"]["perturbation"][layer]
                ax.plot(p["fractions"], 100 * np.mean(p[way], axis=0), marker=".", label=r["name"])
            ax.set(title=f"{layer}: clamp from {way}", xlabel="fraction of the unit's range",
                   ylabel="test accuracy %")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def noise(records):
    """Test accuracy and mean output change against Gaussian input noise (in units of the inputs' std)."""
    rows = [r for r in records if r["stats"] and "noise" in r["stats"]]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    for r in rows:
        n = r["stats"]["noise"]
        x = np.asarray(n["scale_of_inputs_std"])
        a1.plot(x, 100 * np.mean(n["accuracy"], axis=0), marker=".", label=r["name"])
        a2.plot(x, np.mean(n["output_shift"], axis=0), marker=".", label=r["name"])
    a1.set(xscale="symlog", xlabel="noise std / input std", ylabel="test accuracy %", title="Accuracy under input noise")
    a2.set(xscale="symlog", yscale="symlog", xlabel="noise std / input std", ylabel="mean ||output change||",
           title="How far the output moves")
    a1.legend(fontsize=7)
    fig.tight_layout()
    return fig


def all_figures(records, out, log=print) -> list[Path]:
    """Draw every figure the records allow into OUT/figures (through the run folder's atomic writer); returns
    the PNG paths."""
    todo = [("learning_curves", learning_curves, records), ("final_accuracy", final_accuracy, records)]
    with_stats = [r for r in records if r["stats"]]
    if any("summary" in r["stats"] for r in with_stats):
        todo.append(("dead_units", dead_units, records))
    full = [r for r in with_stats if "histogram" in r["stats"]]
    if full:
        todo += [("perturbation", perturbation, records), ("noise", noise, records)]
        todo += [(f"class_distributions_{r['name'].replace(' ', '_')}", class_distributions, r) for r in full]
    paths = []
    for name, fn, arg in todo:
        fig = fn(arg)
        path = folder.save_figure(out, name, fig)
        plt.close(fig)
        log(f"  figure {path}")
        paths.append(path)
    return paths
