"""The report's figures of what analyze measured inside the networks: dead units, class distributions along a
unit, perturbation and noise probes, outlier AUROC. Each takes gathered variant records (distnet.analysis.compare)
and returns a matplotlib Figure; distnet.analysis.plots re-exports them."""
from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np

from distnet.analysis.plots_common import CLAMP_NAMES, LAYER_NAMES, band, legend_outside, log_ticks, value_ticks

FEW_SEEDS = 5   # below this many seeds a 95% t interval spans most of [0, 1]: the seeds themselves are drawn


def dead_units(records):
    """Dead and rarely active units per layer (train split): bars are the seed mean, points each seed, the
    number above a bar (and above its seeds, never under them) its mean count."""
    rows = [r for r in records if r["stats"] and "summary" in r["stats"]]
    kinds = (("dead", "dead (never active)"), ("rare_1pct", "active on < 1% of inputs"),
             ("rare_5pct", "active on < 5% of inputs"))
    width, x = 0.27, np.arange(len(rows))
    upright = len(rows) > 3                  # three labels per variant: side by side they collide past three
    if len(rows) > 5:                        # the layers one above the other: a figure as wide as it is legible
        fig, axes = plt.subplots(2, 1, figsize=(max(9, 1.1 * len(rows) + 1.5), 8.5))
    else:
        fig, axes = plt.subplots(1, 2, figsize=(max(9, 2.0 * len(rows)), 4.6))
    for ax, layer in zip(axes, ("hidden_post", "output_post")):
        units = rows[0]["stats"]["summary"]["activity"]["train"][layer]["units"] if rows else 0
        top = 0.0
        for j, (kind, label) in enumerate(kinds):
            counts = [np.asarray(r["stats"]["summary"]["activity"]["train"][layer].get(kind, [np.nan]), float)
                      for r in rows]
            means = [c.mean() for c in counts]
            top = max([top] + [float(np.nanmax(c)) for c in counts])
            ax.bar(x + (j - 1) * width, means, width, label=label, alpha=0.75)
            for i, c in enumerate(counts):
                ax.scatter(np.full(len(c), i + (j - 1) * width), c, s=8, color="k", zorder=3)
                ax.annotate(f"{means[i]:.1f}", (i + (j - 1) * width, np.nanmax([means[i], *c])), xytext=(0, 3),
                            textcoords="offset points", ha="center", va="bottom", fontsize=8,
                            rotation=90 if upright else 0)
        ax.set_xticks(x, [r["name"] for r in rows], rotation=30, ha="right")
        ax.set(ylabel=f"units (of {units} in the layer)", title=LAYER_NAMES[layer],
               ylim=(0, max(top, 1) * (1.3 if upright else 1.2)))
    fig.suptitle("Dead and rarely active units, train split (bar and number: seed mean; dots: seeds)")
    legend_outside(fig, axes[1])
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


COLOURS = [f"C{k}" for k in (0, 1, 2, 3, 4, 5, 6, 8, 9)]   # tab10 less its grey, which the other variants wear
PANELS = [(layer, way) for layer in ("hidden_post", "output_post") for way in ("below", "above")]


def perturbation(records):
    """Test accuracy against clamp fraction as small multiples: a row per variant (its seed mean +/- 1 std, in its
    colour), a column per layer and clamp direction; every other variant's seed mean in grey behind it."""
    rows = [r for r in records if r["stats"] and "perturbation" in r["stats"]]
    height = 1.2 + 1.7 * len(rows)
    fig, axes = plt.subplots(len(rows), 4, figsize=(12, height), sharex=True, sharey=True, squeeze=False)
    curves = [{(layer, way): (np.asarray(r["stats"]["perturbation"][layer]["fractions"], float),
                              100 * np.asarray(r["stats"]["perturbation"][layer][way], float))
               for layer, way in PANELS} for r in rows]
    for i, r in enumerate(rows):
        for j, panel in enumerate(PANELS):
            ax = axes[i, j]
            for k, other in enumerate(curves):
                if k != i:
                    ax.plot(other[panel][0], other[panel][1].mean(0), color="0.75", lw=0.8, zorder=1)
            band(ax, *curves[i][panel], r["name"], color=COLOURS[i % len(COLOURS)], zorder=2)
            ax.grid(alpha=0.3)
            if i == 0:
                layer, way = panel
                ax.set_title(textwrap.fill(f"{LAYER_NAMES[layer]}, clamped {CLAMP_NAMES[way]}", 42), fontsize=8)
        axes[i, 0].set_ylabel(f"{r['name']}\ntest acc %", fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("f (fraction of the unit's\nobserved range)", fontsize=8)
    fig.suptitle("Perturbation probes: a row per variant (seed mean +/- 1 std), the other variants in grey")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / height))       # the title above the column headings
    return fig


def noise(records):
    """Test accuracy and output change against Gaussian input noise (in units of the inputs' std) on a log axis at
    the noise levels measured, seed mean +/- 1 std over seeds; the noise-free accuracy as a dashed line (noise 0
    has no place on a log axis, and the output change is 0 there by definition)."""
    rows = [r for r in records if r["stats"] and "noise" in r["stats"]]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.4))
    levels = []
    for r in rows:
        n = r["stats"]["noise"]
        scales = np.asarray(n["scale_of_inputs_std"], float)
        on = scales > 0
        acc = 100 * np.asarray(n["accuracy"], float)
        line = band(a1, scales[on], acc[:, on], r["name"], marker=".")
        if (~on).any():
            a1.axhline(acc[:, ~on].mean(), color=line.get_color(), ls="--", lw=0.8)
        shift = np.maximum(np.asarray(n["output_shift"], float)[:, on], 1e-12)
        band(a2, scales[on], shift, r["name"], log=True, marker=".")
        levels += scales[on].tolist()
    for ax in (a1, a2):
        ax.set_xscale("log")
        value_ticks(ax.xaxis, levels or [1.0])
        ax.set_xlabel("noise std / input std (log scale)")
        ax.grid(alpha=0.3)
    a1.set(ylabel="test accuracy %", title="Accuracy under input noise\n(seed mean +/- 1 std; dashed: no noise)")
    a2.set_yscale("log")
    if rows:
        log_ticks(a2, "y")
    a2.set(ylabel="||output change||, mean over test inputs (log)",
           title="How far the output moves\n(seed mean +/- 1 std, taken on the log)")
    legend_outside(fig, a1)
    return fig


def ood_auroc(records):
    """AUROC of test inputs against each outlier set, per variant and score: with fewer than FEW_SEEDS seeds
    every seed as a dot and their mean as a bar, otherwise the mean with its 95% t interval."""
    rows = [r for r in records if r["stats"] and "ood" in r["stats"]]
    sets = list(rows[0]["stats"]["ood"]["sets"])
    scores = list(rows[0]["stats"]["ood"]["sets"][sets[0]])
    seeds = max(len(np.atleast_1d(r["stats"]["ood"]["sets"][st][sc]["auroc"])) for r in rows for st in sets
                for sc in scores)
    few = seeds < FEW_SEEDS
    width = max(6, 0.3 * len(sets) * len(rows) + 2)
    if len(rows) > 4:                        # one score above the other: a figure as wide as it is legible
        fig, axes = plt.subplots(len(scores), 1, figsize=(width, 3.8 * len(scores)), sharey=True, squeeze=False)
    else:
        fig, axes = plt.subplots(1, len(scores), figsize=(width * len(scores), 4), sharey=True, squeeze=False)
    for ax, score in zip(axes.flat, scores):
        for k, st in enumerate(sets):
            xs = np.arange(len(rows)) + (k - (len(sets) - 1) / 2) * 0.2
            per = [r["stats"]["ood"]["sets"][st][score] for r in rows]
            m = np.array([p["summary"]["mean"] for p in per], float)
            if few:
                for i, (x, p) in enumerate(zip(xs, per)):
                    a = np.atleast_1d(np.asarray(p["auroc"], float))
                    ax.scatter(np.full(len(a), x), a, s=14, color=f"C{k}", alpha=0.8, zorder=3,
                               label=None if i else st)
                ax.scatter(xs, m, marker="_", s=160, color=f"C{k}", zorder=2)
                continue
            lo, hi = np.array([[p["summary"]["mean"] if e is None else e for e in p["summary"]["ci95"]] for p in per],
                              float).T                       # no interval (one seed): none drawn
            ax.errorbar(xs, m, yerr=[m - lo, hi - m], fmt="o", ms=4, capsize=2, color=f"C{k}", label=st)
        ax.axhline(0.5, color="gray", lw=0.8, ls=":")
        ax.set_xticks(range(len(rows)), [r["name"] for r in rows], rotation=35, ha="right", fontsize=9)
        what = f"dots: each of {seeds} seeds, bar: mean" if few else "mean, 95% CI over seeds"
        ax.set(title=f"score: {score}", ylabel=f"AUROC, test inputs vs outliers\n({what})", ylim=(0, 1.02))
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, title="outlier set", title_fontsize=8)
    fig.tight_layout()
    return fig
