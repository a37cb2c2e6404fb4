"""The feature-space atlas's figures (numbers: distnet.analysis.atlas): one figure per variant with its hidden and
output layers side by side, and one grid per layer across variants. `figures` computes the atlases of gathered
records for plots.all_figures and writes their numbers to figures/atlas.json beside the PNGs."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from distnet import data
from distnet.analysis import atlas as atlas_
from distnet.analysis.plots_common import LAYER_NAMES
from distnet.run import files, folder

GRID_COLUMNS = 4
# what is marked, in the order drawn: (key in the atlas layer, legend text, scatter style, name when they coincide)
MARKS = (("class_means", "class mean (training inputs)", dict(marker="X", s=130, edgecolors="k", linewidths=1.2),
          "class means"),
         ("centres", "learned centre (output layer's mu)", dict(marker="*", s=230, edgecolors="k", linewidths=1.0),
          "learned centres"),
         ("prototypes", "input-space prototype, mapped", dict(marker="D", s=70, edgecolors="k", linewidths=1.6),
          "prototypes"),
         ("truth_means", "true class mean, mapped", dict(marker="s", s=110, linewidths=2.2), "true means"))
COINCIDE = 0.01             # marks of one kind all within this share of the frame's diagonal are said to coincide
HOLLOW = ("truth_means",)   # drawn as an outline in the class colour: the class mean beneath shows through
FRAME_PAD = 0.08            # the frame: the drawn inputs and class means, padded by this share of its size


def class_colours(classes: int):
    cmap = plt.get_cmap("tab10" if classes <= 10 else "tab20")
    return np.array([cmap(c % cmap.N) for c in range(classes)])


def percent(share: float) -> str:
    """A variance share as a percentage that never reads 0% or 100% unless it is: 14%, 0.31%, 99.96%."""
    p = 100 * float(share)
    return f"{p:.0f}%" if 10 <= p < 99 else f"{p:.4g}%" if p >= 99 else f"{p:.2g}%"


def agreement_text(g: dict) -> str:
    if g["seeds"] < 2:
        return "one seed: no seed agreement"
    return (f"seed agreement ({g['seeds']} seeds): layout {g['layout']:.2f} (worst pair {g['layout_worst']:.2f}), "
            f"distances r = {g['distances']:.2f}")


def _frame(L):
    """(lo (2,), hi (2,)) of the drawn inputs and class means, padded: marks beyond it sit on its edge."""
    pts = np.concatenate([L["train"], L["missed"], L["class_means"]])
    pts = pts[np.isfinite(pts).all(-1)]
    lo, hi = pts.min(0), pts.max(0)
    pad = FRAME_PAD * np.maximum(hi - lo, 1e-9)
    return lo - pad, hi + pad


def panel(ax, a: dict, layer: str, title: str | None = None):
    """One layer of one atlas on `ax`: training inputs (dots, class colours), misclassified test inputs (ringed
    in black, filled with their true class), the marks present, the true principal axes as curves. The frame
    holds the inputs and class means; a mark beyond it is drawn on its edge, and the panel says how many."""
    L, col = a["layers"][layer], class_colours(a["classes"])
    lo, hi = _frame(L)
    ax.scatter(*L["train"].T, c=col[a["train_y"]], s=7, alpha=0.45, linewidths=0, rasterized=True)
    if len(L["missed"]):
        ax.scatter(*L["missed"].T, c=col[a["missed_y"]], s=18, edgecolors="k", linewidths=0.7, zorder=3)
    for c, axes in enumerate(L.get("truth_axes", [])):
        for curve in axes:
            ax.plot(*curve.T, color="k", lw=2.6, zorder=4, solid_capstyle="round")
            ax.plot(*curve.T, color=col[c], lw=1.4, zorder=4, solid_capstyle="round")
    beyond = 0
    notes = []
    for key, _, style, plural in MARKS:
        if key in L:
            xy = np.asarray(L[key], float)
            out = ((xy < lo) | (xy > hi)).any(-1)
            beyond += int(out.sum())
            if len(xy) > 1 and np.ptp(xy, 0).max() < COINCIDE * np.linalg.norm(hi - lo):
                notes.append(f"all {len(xy)} {plural} at one place")
            colours = {"facecolors": "none", "edgecolors": col[:len(xy)]} if key in HOLLOW else {"c": col[:len(xy)]}
            ax.scatter(*np.clip(xy, lo, hi).T, zorder=5, clip_on=False, **colours, **style)
    for c, (x, y) in enumerate(L["class_means"]):
        if np.isfinite(x) and np.isfinite(y):
            ax.annotate(str(c), (x, y), xytext=(6, 5), textcoords="offset points", fontsize=8, weight="bold",
                        zorder=6)
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]))
    if beyond:
        notes.append(f"{beyond} mark(s) beyond the frame, on its edge")
    if notes:
        ax.text(0.01, 0.01, "\n".join(notes), transform=ax.transAxes,
                fontsize=7, va="bottom", color="0.3", zorder=7,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
    share = L["shares"]
    ax.set_xlabel(f"PC1 ({percent(share[0])} of the variance)", fontsize=8)
    ax.set_ylabel(f"PC2 ({percent(share[1])} of the variance)" if len(share) > 1 else "", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(title or f"{LAYER_NAMES[layer]}\n{agreement_text(L['agreement'])}", fontsize=8)


def legend(fig, atlases, ncol=1):
    """Classes by colour, then each kind of mark that some atlas holds, to the right of the figure."""
    classes = max(a["classes"] for a in atlases)
    col = class_colours(classes)
    present = {k for a in atlases for L in a["layers"].values() for k in L}
    h = [Line2D([], [], ls="", marker="o", color=col[c], label=f"class {c}") for c in range(classes)]
    if any(len(L["missed"]) for a in atlases for L in a["layers"].values()):
        h.append(Line2D([], [], ls="", marker="o", mfc="0.6", mec="k", label="misclassified test input (true class)"))
    h += [Line2D([], [], ls="", marker=s["marker"], mfc="none" if k in HOLLOW else "0.6",
                 mec="0.4" if k in HOLLOW else "k", mew=2 if k in HOLLOW else 1, ms=8, label=text)
          for k, text, s, _ in MARKS if k in present]
    if "truth_axes" in present:
        h.append(Line2D([], [], color="0.6", lw=1.6,
                        label=f"true principal axes 1-{atlas_.AXES_SHOWN}, +-{atlas_.AXIS_SPAN:g} std, mapped"))
    fig.legend(handles=h, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, ncol=ncol, frameon=False)


def _seed_words(a: dict) -> str:
    moved = f" (seed {a['asked_seed']} went NaN/Inf)" if a["seed"] != a["asked_seed"] else ""
    return f"seed {a['seed']} of {a['seeds']}{moved}, test accuracy {a['accuracy']:.1%}"


def variant_figure(a: dict):
    """A variant's atlas: hidden and output layer of one seed, PCA fitted on every training input."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, layer in zip(axes, atlas_.LAYERS):
        panel(ax, a, layer)
    fig.suptitle(f"{a['name']}: feature-space atlas, {_seed_words(a)}; 2-D PCA of each layer's values on every "
                 f"training input ({len(a['train_y'])} shown)", fontsize=9)
    legend(fig, [a])
    fig.tight_layout()
    return fig


def grid_figure(atlases, layer: str):
    """One layer of every variant's atlas, a panel each, with its seed agreement in the panel's title."""
    n = len(atlases)
    cols = min(GRID_COLUMNS, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows + 0.5), squeeze=False)
    for ax, a in zip(axes.flat, atlases):
        g = a["layers"][layer]["agreement"]
        agree = (f"layout {g['layout']:.2f}, distances r {g['distances']:.2f} ({g['seeds']} seeds)"
                 if g["seeds"] > 1 else "one seed")
        panel(ax, a, layer, title=f"{a['name']} (seed {a['seed']}, {a['accuracy']:.1%})\nagreement: {agree}")
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.suptitle(f"Feature-space atlas, {LAYER_NAMES[layer]}: one seed per variant, 2-D PCA\n(agreement: how "
                 f"alike the seeds' class-mean layouts are, 1 = the same)", fontsize=10)
    legend(fig, atlases)
    fig.tight_layout()
    return fig


def compute(records, seed: int = 0, log=print) -> list[dict]:
    """The atlas of seed `seed` of every record that finished (a plain run's, not a sweep's), named as the record
    is; data loaded once per distinct data config. A folder whose data cannot be loaded is logged and left out."""
    out, cache = [], {}
    for r in records:
        if r["status"] == "diverged":
            continue
        record = folder.read_config(r["dir"])
        key = json.dumps(record["config"]["data"], sort_keys=True)
        try:
            if key not in cache:
                cache[key] = data.reload(record, r["dir"])
        except data.DataError as e:
            log(f"  atlas: {r['name']} left out: its data cannot be loaded ({e})")
            continue
        a = atlas_.variant_atlas(r["dir"], cache[key], seed)
        if a is not None:
            out.append({**a, "name": r["name"]})
    return out


def figures(records, into, log=print, seed: int = 0) -> list[tuple]:
    """(figure name, function, argument) of the atlas figures for plots.all_figures, after computing the atlases
    and writing their numbers (atlas.summary per variant) to `into`/figures/atlas.json."""
    log(f"  atlas: each variant's layers in 2-D (seed {seed}) and the seeds' agreement")
    atlases = compute(records, seed, log)
    if not atlases:
        return []
    files.write_json(Path(into) / "figures" / "atlas.json", {a["name"]: atlas_.summary(a) for a in atlases})
    todo = [(f"feature_atlas_grid_{layer.split('_')[0]}", lambda xs, l=layer: grid_figure(xs, l), atlases)
            for layer in atlas_.LAYERS]
    return todo + [(f"feature_atlas_{a['name'].replace(' ', '_')}", variant_figure, a) for a in atlases]
