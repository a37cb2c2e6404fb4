"""The prototype figures beside plots.prototype_grid: each variant's class prototypes by three methods (one row
each, the method named on the left) and the training images at and far from a few hidden units' hyperplanes.
Pixels come from DIR/<variant>/prototypes.npz and dataset_prototypes.IMAGES_FILE, labels from stats.json."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from distnet.analysis import dataset_prototypes, prototypes
from distnet.run import folder

METHODS = ("optimised (box)", "optimised (image prior)", "dataset: strongest reading")
SIDE_NAMES = {"nearest": "dataset: nearest\nits hyperplane", "positive": "dataset: farthest\non + side",
              "negative": "dataset: farthest\non - side"}


def montage(images_KxD, side: int, rows: int = 2) -> np.ndarray:
    """k images of side x side pixels tiled `rows` high (missing tiles left at the images' minimum)."""
    k = len(images_KxD)
    cols = -(-k // rows)
    tiles = np.full((rows * cols, side, side), float(np.min(images_KxD)))
    tiles[:k] = np.asarray(images_KxD, float).reshape(k, side, side)
    return tiles.reshape(rows, cols, side, side).transpose(0, 2, 1, 3).reshape(rows * side, cols * side)


def _rows(records):
    out = []
    for r in records:
        imgs = dataset_prototypes.load_images(r["dir"])
        if imgs is not None and r["stats"] and "dataset_prototypes" in r["stats"]:
            out.append((r, imgs, folder.load_prototypes(r["dir"])))
    return out


def _show(ax, img, lo, hi, title=None, color="k"):
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
    ax.set_xticks([]), ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=8, color=color)


def _frame(records):
    """(rows of _rows, the seed whose images were kept, the images' side, one grey scale's low and high for all)."""
    rows = _rows(records)
    side = prototypes.image_side(rows[0][1]["dataset"].shape[-1])
    lo = min(float(i["dataset"].min()) for _, i, _ in rows)
    hi = max(float(i["dataset"].max()) for _, i, _ in rows)
    return rows, rows[0][0]["stats"]["dataset_prototypes"]["image_seed"], side, lo, hi


def methods_grid(records):
    """Per variant, one row per method (left label), classes across: the box search's and the image-prior search's
    prototype of the seed the dataset prototypes' images were kept for (title: class -> predicted, red when not
    its class) and that seed's k training images with the strongest class reading (title: how many carry the
    class's own label)."""
    rows, seed, side, lo, hi = _frame(records)
    classes, k, _ = rows[0][1]["dataset"].shape
    n = len(rows) * len(METHODS)
    fig, axes = plt.subplots(n, classes, figsize=(1.1 * classes + 2.4, 1.15 * n + 0.6), squeeze=False)
    for i, (r, imgs, box) in enumerate(rows):
        s = r["stats"]
        labels = np.asarray(s["dataset_prototypes"]["labels"])[seed]
        searched = ((None if box is None else box["x"], "input_prototypes"), (imgs.get("prior"), "prior_prototypes"))
        for c in range(classes):
            cells = []
            for pixels, key in searched:
                if pixels is None or key not in s:
                    cells.append((None, "none", True))
                    continue
                pred = np.asarray(s[key]["predicted"])[seed, c]
                cells.append((pixels[seed, c].reshape(side, side), f"{c}->{pred}", pred == c))
            own = int(np.sum(labels[c] == c))
            cells.append((montage(imgs["dataset"][c], side), f"{c}: {own}/{k} own", own == k))
            for j, (img, title, ok) in enumerate(cells):
                ax = axes[len(METHODS) * i + j, c]
                if img is None:
                    ax.axis("off")
                    continue
                _show(ax, img, lo, hi, title, "k" if ok else "r")
        for j, m in enumerate(METHODS):
            axes[len(METHODS) * i + j, 0].set_ylabel(f"{r['name']}\n{m}" if j == 0 else m, fontsize=8, rotation=0,
                                                     ha="right", va="center")
    fig.suptitle(f"Class prototypes by method (seed {seed}; red title = not its class).\nDataset: the {k} training "
                 f"images the network reads most strongly as the class", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / (1.15 * n + 0.6)))
    return fig


def unit_grid(records):
    """Per variant, the same hidden units (the most class-separating of the kept seed) in columns and one row per
    list: the k training images nearest the unit's hyperplane and the k farthest on either side (title: unit and
    the labels' most common class, with its count)."""
    rows, seed, side, lo, hi = _frame(records)
    units, k, _ = rows[0][1]["unit_nearest"].shape
    n = len(rows) * len(SIDE_NAMES)
    fig, axes = plt.subplots(n, units, figsize=(2.2 * units + 2.4, 1.25 * n + 0.6), squeeze=False)
    for i, (r, imgs, _) in enumerate(rows):
        dp = r["stats"]["dataset_prototypes"]
        unit_ids = np.asarray(dp["units"])[seed]
        for j, side_name in enumerate(SIDE_NAMES):
            offsets = np.asarray(dp[f"offset_{side_name}"])[seed]
            for u in range(units):
                ax = axes[len(SIDE_NAMES) * i + j, u]
                _show(ax, montage(imgs[f"unit_{side_name}"][u], side), lo, hi,
                      f"unit {unit_ids[u]}: {np.median(offsets[u]):+.3g}")
            axes[len(SIDE_NAMES) * i + j, 0].set_ylabel(
                (f"{r['name']}\n" if j == 0 else "") + SIDE_NAMES[side_name], fontsize=8, rotation=0, ha="right",
                va="center")
    fig.suptitle(f"Hidden units (seed {seed}; the most class-separating): the {k} training images nearest each\n"
                 f"unit's hyperplane and farthest on either side (title: median signed distance)", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / (1.25 * n + 0.6)))
    return fig


def figures(records, image_data) -> list:
    """all_figures' entries (name, function, records) for the records with dataset prototypes of image data."""
    rows = [r for r in records if r["stats"] and "dataset_prototypes" in r["stats"]
            and r["protocol"]["data"] in image_data and dataset_prototypes.load_images(r["dir"]) is not None]
    return [("prototypes_by_method", methods_grid, rows), ("hidden_unit_images", unit_grid, rows)] if rows else []
