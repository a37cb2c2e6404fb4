"""The feature-space atlas: one seed's hidden and output layers in 2-D, and how far the other seeds agree.

For each layer (hidden_post, output_post: after the activation, before Neg) a PCA is fitted on the layer's values
of every training input (one batched pass of class sums and the centred second moment; memory bounded by the
folder's seed_chunk like every analysis pass). The atlas of one seed holds, in that seed's 2-D PCA coordinates:
a fixed-rng subsample of the training inputs (coloured by class when drawn), the misclassified test inputs, the
class means, the output layer's learned centres where the head has them (OffsetL2, RBF, MD `mu`: they live in
hidden space), the images of analyze's input-space prototypes (DIR/<variant>/prototypes.npz, when it was computed
from the same checkpoint) and, where the folder records a truth (Gaussians), the true class means and the first
principal axes of each class (mean +- AXIS_SPAN std along each) mapped through the network.

Seed agreement, so one seed's picture is not mistaken for the rule (every pair of seeds that finished):
  layout:    1 - Procrustes disparity between two seeds' 2-D class-mean layouts (each centred, scaled to unit
             norm, then optimally rotated or reflected onto the other): 1 = the same picture up to rotation,
             reflection and scale; the mean over pairs and the worst pair.
  distances: Pearson correlation of two seeds' pairwise class-mean distances in the full layer (no PCA), mean
             over pairs.
Pure numpy/JAX; the figures are distnet.analysis.plots_atlas's.
"""
from __future__ import annotations

import functools
import itertools
from pathlib import Path

import jax
import numpy as np

from distnet import data
from distnet.analysis import stats
from distnet.lanes import Lanes
from distnet.nn import models
from distnet.run import folder

LAYERS = ("hidden_post", "output_post")
MAX_POINTS = 3000     # training inputs drawn per atlas (a fixed-rng subsample)
MAX_MISSED = 300      # misclassified test inputs drawn at most (more hide the classes beneath)
AXES_SHOWN = 2        # true principal axes drawn per class (the largest)
AXIS_SPAN = 2.0       # each drawn from mean - AXIS_SPAN std to mean + AXIS_SPAN std
AXIS_STEPS = 9        # points along each axis (the network bends it)


@functools.partial(stats.quick_jit, static_argnums=(0, 1))
def _sums(model, classes, params_S, shift_S, x_BxD, y_B, mask_B):
    def one(params, shift):
        _, inter = stats.layer_values(model, params, x_BxD)
        onehot_BxC = jax.nn.one_hot(y_B, classes) * mask_B[:, None]
        out = {"n": onehot_BxC.sum(0)}
        for l in LAYERS:
            d_BxU = (inter[l] - shift[l]) * mask_B[:, None]     # shifted near the mean: little cancellation
            out[l] = {"class_sum": onehot_BxC.T @ d_BxU, "outer": d_BxU.T @ d_BxU}
        return out
    return jax.vmap(one)(params_S, shift_S)


@functools.partial(stats.quick_jit, static_argnums=0)
def _values(model, params_S, x_BxD):
    def one(params):
        out, inter = stats.layer_values(model, params, x_BxD)
        return {**{l: inter[l] for l in LAYERS}, "logits": out}
    return jax.vmap(one)(params_S)


def values(model, params_S, x_NxD, batch=None) -> dict:
    """{hidden_post, output_post, logits}: (S, N, units) of every input, in batches."""
    return stats.map_batches(lambda p, xb, mb: _values(model, p, xb), params_S, (np.asarray(x_NxD, np.float32),),
                             batch)


def moments(model, params_S, x_NxD, y_N, classes, batch=None) -> dict:
    """Per layer, per seed (float64): class means (S, C, U; NaN for a class with no input), the mean (S, U) and
    the covariance (S, U, U) of the layer's values over every input."""
    shift = {l: v[:, 0] for l, v in values(model, params_S, np.mean(x_NxD, 0, keepdims=True)).items() if l in LAYERS}
    s = stats.reduce_batches(lambda p, xb, yb, mb: _sums(model, classes, p, shift, xb, yb, mb), params_S,
                             (x_NxD, np.asarray(y_N)), batch)
    n_SxC = np.asarray(s["n"], np.float64)
    total_S = n_SxC.sum(-1)
    out = {}
    for l in LAYERS:
        csum = np.asarray(s[l]["class_sum"], np.float64)
        d_SxU = csum.sum(1) / total_S[:, None]
        cov = np.asarray(s[l]["outer"], np.float64) / total_S[:, None, None] - d_SxU[:, :, None] * d_SxU[:, None, :]
        base = np.asarray(shift[l], np.float64)
        means = np.where(n_SxC[..., None] > 0, base[:, None] + csum / np.maximum(n_SxC, 1)[..., None], np.nan)
        out[l] = {"class_means": means, "mean": base + d_SxU, "cov": (cov + cov.transpose(0, 2, 1)) / 2}
    return out


def pca(cov_SxUxU, k: int = 2):
    """(components (S, k, U), variance shares of every component (S, U), descending) of each seed's covariance.
    Each component's sign makes its largest-magnitude loading positive (a stable picture)."""
    eig_SxU, vec_SxUxU = np.linalg.eigh(np.asarray(cov_SxUxU, np.float64))
    eig_SxU, vec_SxUxU = np.maximum(eig_SxU[:, ::-1], 0), vec_SxUxU[:, :, ::-1]
    comps = np.swapaxes(vec_SxUxU[:, :, :k], 1, 2)
    big = np.take_along_axis(comps, np.argmax(np.abs(comps), -1)[..., None], -1)
    comps = comps * np.where(big < 0, -1.0, 1.0)
    shares = eig_SxU / np.maximum(eig_SxU.sum(-1, keepdims=True), np.finfo(np.float64).tiny)
    return comps, shares


def _pairs(n):
    return list(itertools.combinations(range(n), 2))


def procrustes_agreement(a_Cx2, b_Cx2) -> float:
    """1 - Procrustes disparity of two point layouts (centred, unit Frobenius norm, b rotated/reflected onto a):
    1 for the same layout up to rotation, reflection, scale and shift; 0 for nothing in common."""
    a, b = (np.asarray(m, np.float64) - np.mean(m, 0) for m in (a_Cx2, b_Cx2))
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    return float(np.clip(np.linalg.svd((a / na).T @ (b / nb), compute_uv=False).sum() ** 2, 0, 1))


def seed_agreement(means_SxCxU, layout_SxCx2) -> dict:
    """Agreement between every pair of seeds (module docstring); classes absent in any seed are left out. NaN
    with fewer than two seeds."""
    keep = ~np.isnan(means_SxCxU).any(axis=(0, 2))
    means, layout = np.asarray(means_SxCxU)[:, keep], np.asarray(layout_SxCx2)[:, keep]
    iu = np.triu_indices(means.shape[1], 1)
    dist = [np.linalg.norm(m[:, None] - m[None], axis=-1)[iu] for m in means]
    lay = [procrustes_agreement(layout[i], layout[j]) for i, j in _pairs(len(means))]
    cor = [float(np.corrcoef(dist[i], dist[j])[0, 1]) if np.std(dist[i]) > 0 and np.std(dist[j]) > 0
           else float("nan") for i, j in _pairs(len(means))]
    nan = float("nan")
    return {"seeds": len(means), "pairs": len(lay), "layout": float(np.mean(lay)) if lay else nan,
            "layout_worst": float(np.min(lay)) if lay else nan, "distances": float(np.mean(cor)) if cor else nan}


def _take(params, idx):
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[np.asarray(idx)], params)


def truth_marks(truth: dict, axes: int = AXES_SHOWN) -> dict:
    """Input-space points of the truth: means (C, D) and each class's first `axes` principal axes, sampled from
    mean - AXIS_SPAN std to mean + AXIS_SPAN std (C, axes, AXIS_STEPS, D)."""
    means, vec, lam = (np.asarray(truth[k], np.float64) for k in ("means", "eigenvectors", "eigenvalues"))
    a = min(axes, lam.shape[1])
    t = np.linspace(-AXIS_SPAN, AXIS_SPAN, AXIS_STEPS)
    dirs_CxAxD = np.swapaxes(vec[:, :, :a], 1, 2) * np.sqrt(lam[:, :a])[..., None]
    return {"means": means, "axes": means[:, None, None] + t[None, None, :, None] * dirs_CxAxD[:, :, None]}


def seed_atlas(model, params_1, ds, mom_1: dict, marks: dict, max_points=MAX_POINTS, rng_seed=0) -> dict:
    """The atlas of one seed (params with a seed axis of 1; mom_1 its moments, with their pca): per layer, the
    variance shares and 2-D coordinates of the training subsample, the misclassified test inputs, the class means
    and the input-space `marks` ({name: (..., D)} mapped through the network), plus the seed's test accuracy."""
    rng = np.random.default_rng(rng_seed)
    pick = np.sort(rng.choice(len(ds.x_train), min(len(ds.x_train), max_points), replace=False))
    flat = {k: np.asarray(m, np.float32).reshape(-1, ds.dim) for k, m in marks.items()}
    parts = [ds.x_train[pick], ds.x_test, *flat.values()]     # one pass, one compiled program
    ends = np.cumsum([len(p) for p in parts])
    v = values(model, params_1, np.concatenate(parts))
    train, test, mapped = ({k: a[:, lo:hi] for k, a in v.items()} for lo, hi in
                           ((0, ends[0]), (ends[0], ends[1]), (ends[1], ends[-1])))
    pred = np.argmax(test["logits"][0], -1)
    missed = np.flatnonzero(pred != ds.y_test)
    if len(missed) > MAX_MISSED:
        missed = np.sort(rng.choice(missed, MAX_MISSED, replace=False))
    out = {"accuracy": float(np.mean(pred == ds.y_test)), "train_y": ds.y_train[pick],
           "missed_y": ds.y_test[missed], "missed_pred": pred[missed], "layers": {}}
    for l in LAYERS:
        comps, shares = mom_1[l]["comps"], mom_1[l]["shares"]
        xy = lambda v: (np.asarray(v, np.float64) - mom_1[l]["mean"][0]) @ comps[0].T
        layer = {"shares": shares[0], "train": xy(train[l][0]), "missed": xy(test[l][0][missed]),
                 "class_means": xy(mom_1[l]["class_means"][0])}
        start = 0
        for k, m in marks.items():
            n = len(flat[k])
            layer[k] = xy(mapped[l][0, start:start + n]).reshape(*np.shape(m)[:-1], 2)
            start += n
        if l == "hidden_post" and "mu" in params_1["output"]:
            layer["centres"] = xy(np.asarray(params_1["output"]["mu"])[0])
        out["layers"][l] = layer
    return out


def variant_atlas(vdir, ds=None, seed: int = 0, max_points=MAX_POINTS, rng_seed=0) -> dict | None:
    """The atlas of seed `seed` of a finished variant folder (its latest checkpoint; the first seed that finished
    when `seed` went NaN/Inf) and the seed agreement over every seed that finished; None for a sweep's folder.
    `ds`: the folder's data when already loaded (else data.reload). Never needs analyze to have run."""
    record = folder.read_config(vdir)
    lanes = Lanes.from_record(record)
    if lanes.is_sweep:
        return None
    model = models.from_record(record)
    step = folder.checkpoint_steps(vdir)[-1]
    keep = lanes.alive_of_point(0, lanes.diverged(folder.load_metrics(vdir)))
    if not keep:
        return None
    params_S = _take(folder.load_params(vdir, step), keep)
    ds = ds if ds is not None else data.reload(record, vdir)
    lane = seed if seed in keep else keep[0]
    i = keep.index(lane)
    marks = {}
    protos = folder.load_prototypes(vdir)
    saved = folder.load_stats(vdir) if protos is not None else None
    if saved and saved.get("step") == step and len(protos["x"]) == len(keep):  # analyze's, of these lanes
        marks["prototypes"] = protos["x"][i]
    truth = folder.load_truth(vdir)
    if truth is not None and np.shape(truth["means"])[-1] == ds.dim:
        marks.update({f"truth_{k}": v for k, v in truth_marks(truth).items()})
    cfg = record["config"]
    with jax.default_matmul_precision(cfg["matmul_precision"]), stats.bounded(cfg["seed_chunk"]):
        mom = moments(model, params_S, ds.x_train, ds.y_train, ds.classes)
        for m in mom.values():
            m["comps"], m["shares"] = pca(m["cov"])     # every seed's: the drawn seed's axes, the others' layouts
        one = {l: {k: v[i:i + 1] for k, v in m.items()} for l, m in mom.items()}
        out = seed_atlas(model, _take(params_S, [i]), ds, one, marks, max_points, rng_seed)
    for l in LAYERS:
        layout = np.einsum("scu,sku->sck", mom[l]["class_means"] - mom[l]["mean"][:, None], mom[l]["comps"])
        out["layers"][l]["agreement"] = seed_agreement(mom[l]["class_means"], layout)
    return {"name": Path(vdir).name, "seed": lane, "asked_seed": seed, "seeds": len(keep), "step": step,
            "classes": ds.classes, **out}


def summary(atlas: dict) -> dict:
    """The atlas's numbers, JSON-ready: seed, seeds, accuracy, and per layer the variance share of the two
    drawn components and the seed agreement."""
    return {"seed": atlas["seed"], "seeds": atlas["seeds"], "step": atlas["step"], "accuracy": atlas["accuracy"],
            **{l: {"variance_share": [float(s) for s in a["shares"][:2]], "seed_agreement": a["agreement"]}
               for l, a in atlas["layers"].items()}}
