"""Dataset prototypes: the training images a network reads most strongly as each class, and those at and far from
each of a few hidden units' hyperplanes. Pure functions of (model, params_S, data), for every seed, in one pass
over the training data in batches that seed_chunk bounds (stats.batch_rows), keeping only the best k per seed and
class (or unit) between batches.

Class c's reading, as the network reads it (`reading`):
- "distance" for the -Neg families (linear, ReLU2/Abs2, OffsetL2 and MD heads): the network predicts the
  SMALLEST output unit, so the strongest class-c reading is the smallest unit c (output_post, before Neg). Exact
  ties (ReLU2-Neg's unit c is 0 for many inputs) go to the larger gap between unit c and the next-smallest unit.
- "margin" for every other variant (ReLU, Abs, ReLU2, Abs2, -Bias, RBF, and the OffsetL2/MD heads without Neg,
  which predict the FARTHEST centre): the network predicts the largest logit, and a large unit c alone says
  little (a bright image raises every unit of ReLU), so the strongest class-c reading is the largest margin of
  logit c over the best other logit.
Ties left after that go to the lower training index. `flip=True` reads the outputs the wrong way round (every
unit negated): the check that each class's prototypes carry their own label must then fail.

Hidden unit u (hidden_pre z_u = w_u . x + b_u, at signed distance z_u / |w_u| from its hyperplane): the k
training images nearest the hyperplane (smallest |z_u|) and the k farthest on its positive and negative sides.
"""
from __future__ import annotations

import functools
from pathlib import Path

import jax
import numpy as np

from distnet.analysis import prototypes, stats
from distnet.nn import models
from distnet.run import files

K = 8        # images per class and per hidden unit list
UNITS = 4    # hidden units shown: the most class-separating (Fisher ratio on hidden_pre) when known
SIDES = ("nearest", "positive", "negative")


reading = prototypes.reading     # (defined beside sign: the image-prior search reads units the same way)


def definition(spec: models.Spec, k: int = K) -> str:
    if reading(spec) == "distance":
        return (f"the {k} training images with the smallest unit c (distance reading; ties to the larger gap to the "
                f"next-smallest unit)")
    tail = " (this variant predicts the FARTHEST centre)" if spec.head in ("offsetl2", "md") else ""
    return f"the {k} training images with the largest margin of logit c over the best other logit{tail}"


def class_keys(y_SxBxC, spec: models.Spec, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(primary, secondary) sort keys of every input for every class (S, B, C), smallest = strongest reading."""
    y = -np.asarray(y_SxBxC, np.float64) if flip else np.asarray(y_SxBxC, np.float64)
    logit = -y if spec.neg else y
    top = np.sort(logit, -1)
    best_other = np.where(logit == top[..., -1:], top[..., -2:-1], top[..., -1:])
    margin = logit - best_other
    return (y, -margin) if reading(spec) == "distance" else (-margin, np.zeros_like(margin))


def merge(best: tuple | None, keys: tuple, index_B: np.ndarray, k: int) -> tuple:
    """Keep the k smallest (primary, secondary, index) along the last axis of `best` and this batch's `keys`
    ((..., B) each) together."""
    idx = np.broadcast_to(index_B, keys[0].shape)
    cand = (*keys, idx) if best is None else tuple(np.concatenate([b, c], -1) for b, c in zip(best, (*keys, idx)))
    order = np.lexsort(cand[::-1], axis=-1)[..., :k]
    return tuple(np.take_along_axis(c, order, -1) for c in cand)


@functools.partial(stats.quick_jit, static_argnums=0)
def _values(model, params_S, unit_SxU, x_BxD):
    def one(p, u):
        _, inter = stats.layer_values(model, p, x_BxD)
        return inter["output_post"], inter["hidden_pre"][:, u]
    return jax.vmap(one)(params_S, unit_SxU)


def find(model, params_S, x_NxD, units_SxU=None, k: int = K, flip: bool = False, batch: int | None = None) -> dict:
    """Indices into x_NxD: "class_index" (S, C, k), strongest class-c reading first, with its primary key
    "class_key" (S, C, k); per hidden unit of units_SxU (default: the first UNITS) "nearest", "positive",
    "negative" (S, U, k) with their signed distances to the hyperplane under "offset_<side>"."""
    n, s = len(x_NxD), stats.n_seeds(params_S)
    w_norm = np.linalg.norm(np.asarray(params_S["hidden"]["kernel"], np.float64), axis=1)       # (S, H)
    first = np.tile(np.arange(min(UNITS, w_norm.shape[1])), (s, 1))
    units = np.asarray(first if units_SxU is None else units_SxU, np.int32)
    w_SxU = np.take_along_axis(w_norm, units, 1)
    k = min(k, n)
    best_c, best_u = None, {side: None for side in SIDES}
    for start, m, (xb,), _ in stats.padded_batches(params_S, (x_NxD,), batch):
        y, z = _values(model, params_S, units, np.asarray(xb, np.float32))
        y, d = np.asarray(y)[:, :m], np.asarray(z, np.float64)[:, :m] / w_SxU[:, None, :]   # (S, m, C), (S, m, U)
        index = np.arange(start, start + m)
        best_c = merge(best_c, tuple(a.transpose(0, 2, 1) for a in class_keys(y, model.spec, flip)), index, k)
        d = d.transpose(0, 2, 1)
        for side, key in zip(SIDES, (np.abs(d), -d, d)):
            best_u[side] = merge(best_u[side], (key, d), index, k)
    out = {"class_index": best_c[2], "class_key": best_c[0], "units": units}
    for side in SIDES:
        out[side], out[f"offset_{side}"] = best_u[side][2], best_u[side][1]
    return out


def summary(model, params_S, x_NxD, y_N, separation_SxU=None, k: int = K, flip: bool = False) -> dict:
    """JSON-ready for stats.json: `find` with the UNITS most class-separating hidden units of each seed (the first
    UNITS without separation_SxU), the labels of each class's prototypes, their own-label rate per seed
    (S,) and per class (S, C), the reading and its definition."""
    units = None if separation_SxU is None else \
        np.argsort(-np.nan_to_num(np.asarray(separation_SxU, np.float64), nan=-np.inf), -1, kind="stable")[:, :UNITS]
    out = find(model, params_S, x_NxD, units, k, flip)
    labels = np.asarray(y_N)[out["class_index"]]                                 # (S, C, k)
    own = labels == np.arange(labels.shape[1])[:, None]
    return files.plain({**out, "labels": labels, "own_label_rate": own.mean((1, 2)),
                        "own_label_by_class": own.mean(-1), "k": k, "reading": reading(model.spec),
                        "definition": definition(model.spec, k)})


def images(summ: dict, x_NxD, seed: int = 0) -> dict:
    """The images of one seed's dataset prototypes: "dataset" (C, k, D) and each hidden-unit list (U, k, D)."""
    x = np.asarray(x_NxD, np.float32)
    return {"dataset": x[np.asarray(summ["class_index"])[seed]],
            **{f"unit_{side}": x[np.asarray(summ[side])[seed]] for side in SIDES}}


IMAGES_FILE = "prototype_images.npz"   # DIR/<variant>/: the figures' pixels (one seed's dataset prototypes, priors)


def record(vdir, model, params_S, ds, prior: dict | None, separation_SxU=None, seed: int = 0) -> dict:
    """analyze's part: stats.json's "dataset_prototypes" (and "prior_prototypes" given find's image-prior result)
    and vdir/IMAGES_FILE with seed `seed`'s dataset-prototype images and every seed's image-prior prototypes."""
    summ = summary(model, params_S, ds.x_train, ds.y_train, separation_SxU)
    arrays = {k: np.asarray(v, np.float32) for k, v in images(summ, ds.x_train, seed).items()}
    out = {"dataset_prototypes": {**summ, "image_seed": seed}}
    if prior is not None:
        arrays.update(prior=np.asarray(prior["x"], np.float32), prior_start=np.asarray(prior["start"], np.float32))
        out["prior_prototypes"] = prototypes.prior_summary(prior)
    files.atomic_write(Path(vdir) / IMAGES_FILE, lambda f: np.savez(f, **arrays))
    return out


def load_images(vdir) -> dict | None:
    """IMAGES_FILE's arrays ({"dataset", "unit_<side>", and "prior", "prior_start" for image data}), or None."""
    f = Path(vdir) / IMAGES_FILE
    if not f.exists():
        return None
    with np.load(f) as z:
        return {k: z[k] for k in z.files}
