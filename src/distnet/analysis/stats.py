"""Distance statistics of trained networks: unit activity, class distributions along units, output geometry and
prototypes. Pure functions of (model, params, data), vmapped over seeds; the probes that perturb a network
are in distnet.analysis.probes.

Every function takes params with a leading seed axis S and returns arrays with a leading seed axis.
Layer values come from `models.intermediates` (the model's own forward pass). Inputs go through the
network in fixed-size batches, zero-padded and masked so one compiled program serves every batch and memory
grows with the batch, not with the dataset.

Analysis compiles a handful of small programs per variant, so compiling is most of its cost on a GPU: the
programs skip XLA's GEMM autotuning and Triton GEMMs (`quick_jit`), batches are large on accelerators, every clamp of a perturbation
probe runs in one program, and the small arithmetic on results is numpy's (no device program per operation).

Layers are named as the model sows them: hidden_pre, hidden_post, output_pre, output_post (before Neg).
"""
from __future__ import annotations

import contextlib
import contextvars
import functools

import jax
import jax.numpy as jnp
import numpy as np

from distnet.nn import models
from distnet.run import trainer

ACTIVE = 1e-6                 # |a| above this counts as active (the paper's dead-node threshold)
RARE = {"rare_1pct": 0.01, "rare_5pct": 0.05}
BATCH = 4096                  # inputs per batch on CPU; accelerators take ACCELERATOR_BATCH
ACCELERATOR_BATCH = 20000     # 20 seeds x 20,000 inputs x 128 units of float32: 205 MB per layer value
POST = ("hidden_post", "output_post")


# Analysis programs are small and many: compiling them quickly matters more than their last few percent of speed.
quick_jit = functools.partial(jax.jit, compiler_options=trainer.QUICK_COMPILE)


def default_batch() -> int:
    return BATCH if jax.default_backend() == "cpu" else ACCELERATOR_BATCH


_SEED_CHUNK = contextvars.ContextVar("seed_chunk", default=0)


@contextlib.contextmanager
def bounded(seed_chunk: int):
    """Inside the block, a batched pass over more than seed_chunk seeds holds at most the (seed, input) rows that
    seed_chunk seeds hold at the default batch (batch_rows): config.seed_chunk bounds analysis memory as it bounds
    training's (0: no bound)."""
    token = _SEED_CHUNK.set(int(seed_chunk or 0))
    try:
        yield
    finally:
        _SEED_CHUNK.reset(token)


def batch_rows(n_seeds: int, batch: int | None = None) -> int:
    """Inputs per batch for n_seeds seeds: `batch` (default_batch()), shrunk by seed_chunk / n_seeds inside a
    seed_chunk block, so the largest array of a pass (seeds x inputs x units) never grows with the seed count."""
    batch = batch or default_batch()
    chunk = _SEED_CHUNK.get()
    return max(1, batch * chunk // n_seeds) if 0 < chunk < n_seeds else batch


def n_seeds(params_S) -> int:
    return jax.tree_util.tree_leaves(params_S)[0].shape[0]


def padded_batches(params_S, arrays, batch=None):
    """(start, rows, batch_arrays, mask_B) of each batch of batch_rows(seeds, batch) inputs (at most all of them),
    the last zero-padded to that size: one compiled shape serves every batch."""
    n = len(arrays[0])
    batch = min(batch_rows(n_seeds(params_S), batch), n)
    for start in range(0, n, batch):
        parts = [np.asarray(a[start:start + batch]) for a in arrays]
        m = len(parts[0])
        mask_B = (np.arange(batch) < m).astype(np.float32)
        yield start, m, [np.pad(p, [(0, batch - m)] + [(0, 0)] * (p.ndim - 1)) for p in parts], mask_B


def reduce_batches(fn, params_S, arrays, batch=None, combine=None):
    """Combine fn(params_S, *batch_arrays, mask_B) over fixed-size, zero-padded batches (default: sum)."""
    combine = combine or (lambda a, b: jax.tree_util.tree_map(jnp.add, a, b))
    total = None
    for _, _, parts, mask_B in padded_batches(params_S, arrays, batch):
        out = fn(params_S, *parts, mask_B)
        total = out if total is None else combine(total, out)
    return jax.tree_util.tree_map(np.asarray, total)


def map_batches(fn, params_S, arrays, batch=None):
    """fn(params_S, *batch_arrays, mask_B)'s per-input values (a pytree of (S, batch, ...)) for every input, as
    numpy (S, N, ...): the padding cut off, the batches joined once."""
    outs = [jax.tree_util.tree_map(lambda v, m=m: np.asarray(v)[:, :m], fn(params_S, *parts, mask_B))
            for _, m, parts, mask_B in padded_batches(params_S, arrays, batch)]
    return jax.tree_util.tree_map(lambda *v: np.concatenate(v, axis=1), *outs)


def layer_values(model, params, x_BxD):
    return models.intermediates(model, {"params": params}, x_BxD)


# --- unit activity ------------------------------------------------------------------------------------

@functools.partial(quick_jit, static_argnums=0)
def _active_sums(model, params_S, x_BxD, mask_B):
    def one(params):
        _, inter = layer_values(model, params, x_BxD)
        return {l: mask_B @ (jnp.abs(inter[l]) > ACTIVE).astype(jnp.float32) for l in POST}
    return jax.vmap(one)(params_S)


def unit_activity(model, params_S, x_NxD, batch=None) -> dict:
    """{hidden_post, output_post: (S, units)}: fraction of inputs for which each unit's output is non-zero."""
    sums = reduce_batches(functools.partial(_active_sums, model), params_S, (x_NxD,), batch)
    return {l: v / len(x_NxD) for l, v in sums.items()}


def activity_counts(frac_SxU) -> dict:
    """Per seed: dead units (never active) and rarely active ones (active for < 1% / < 5%, dead included)."""
    frac_SxU = np.asarray(frac_SxU)
    out = {"dead": np.sum(frac_SxU == 0, axis=-1)}
    out.update({k: np.sum(frac_SxU < cut, axis=-1) for k, cut in RARE.items()})
    return out


# --- class distributions along units ------------------------------------------------------------------

@functools.partial(quick_jit, static_argnums=(0, 1, 2, 3))
def _class_sums(model, layer, classes, power, params_S, center_SxCxU, x_BxD, y_B, mask_B):
    def one(params, center_CxU):
        _, inter = layer_values(model, params, x_BxD)
        d_BxU = inter[layer] - center_CxU[y_B]
        onehot_BxC = jax.nn.one_hot(y_B, classes) * mask_B[:, None]
        return {"n": onehot_BxC.sum(0), **{f"s{p}": onehot_BxC.T @ d_BxU ** p for p in range(1, power + 1)}}
    return jax.vmap(one)(params_S, center_SxCxU)


def _sums(model, params_S, x, y, classes, layer, power, center_SxCxU, batch):
    fn = lambda p, xb, yb, mb: _class_sums(model, layer, classes, power, p, center_SxCxU, xb, yb, mb)
    return reduce_batches(fn, params_S, (x, y), batch)


def class_means(model, params_S, x_NxD, y_N, classes, layer="hidden_post", batch=None):
    """(S, classes, units): each class's mean value of each unit of `layer`; NaN for a class with no input
    (a subset can miss one; a mean of 0 would pass for a real value)."""
    one_seed = jax.tree_util.tree_map(lambda a: a[0], params_S)
    width = jax.eval_shape(lambda p, x: layer_values(model, p, x)[1][layer], one_seed, x_NxD[:1]).shape[-1]
    zero = np.zeros((n_seeds(params_S), classes, width), np.float32)
    s = _sums(model, params_S, x_NxD, y_N, classes, layer, 1, zero, batch)
    return np.where(s["n"][..., None] > 0, s["s1"] / np.maximum(s["n"], 1)[..., None], np.float32(np.nan))


def class_moments(model, params_S, x_NxD, y_N, classes, layer="hidden_pre", batch=None) -> dict:
    """Per class and unit: count (S, C), mean, std and skew (S, C, U) of `layer` (two passes, centred)."""
    mean = class_means(model, params_S, x_NxD, y_N, classes, layer, batch)
    # centre absent classes at 0: padded rows carry label 0, and NaN * 0 would poison the sums
    s = _sums(model, params_S, x_NxD, y_N, classes, layer, 3, np.nan_to_num(mean), batch)
    present = s["n"][..., None] > 0
    n = np.maximum(s["n"], 1)[..., None]
    m2, m3 = s["s2"] / n, s["s3"] / n
    std = np.where(present, np.sqrt(m2), np.float32(np.nan))
    return {"count": s["n"], "mean": mean, "std": std, "skew": m3 / np.maximum(std, np.float32(1e-12)) ** 3}


def separation(moments: dict):
    """(S, U) Fisher ratio per unit: variance of the class means over the mean within-class variance, over
    the classes present (NaN moments of absent classes are left out)."""
    between = np.nanvar(moments["mean"], axis=1)
    within = np.nanmean(np.square(moments["std"]), axis=1)
    return between / np.maximum(within, np.float32(1e-12))


@functools.partial(quick_jit, static_argnums=(0, 1))
def _unit_values(model, layer, params_S, unit_S, x_BxD):
    return jax.vmap(lambda p, u: layer_values(model, p, x_BxD)[1][layer][:, u])(params_S, unit_S)


@functools.partial(quick_jit, static_argnums=(2, 3))
def histogram(v_SxN, y_N, classes, bins):
    """Per seed, per class counts (S, C, bins) of values on `bins` equal bins spanning that seed's range."""
    def one(v_N):
        edges = jnp.linspace(v_N.min(), v_N.max(), bins + 1)
        idx_N = jnp.clip(jnp.searchsorted(edges, v_N, side="right") - 1, 0, bins - 1)
        return jax.nn.one_hot(y_N, classes).T @ jax.nn.one_hot(idx_N, bins), edges
    return jax.vmap(one)(v_SxN)


def unit_histogram(model, params_S, x_NxD, y_N, unit_S, classes, bins=40, layer="hidden_pre", batch=None):
    """Histogram data of unit unit_S[s] of `layer` for every class: counts (S, C, bins), edges (S, bins + 1)."""
    unit_S = np.asarray(unit_S)
    v_SxN = map_batches(lambda p, xb, mb: _unit_values(model, layer, p, unit_S, xb), params_S, (x_NxD,), batch)
    counts, edges = histogram(v_SxN, np.asarray(y_N), classes, bins)
    return {"unit": unit_S, "counts": np.asarray(counts), "edges": np.asarray(edges)}


# --- output geometry and prototypes ---------------------------------------------------------------------

def output_geometry(model, params_S, x_NxD, y_N, classes, batch=None) -> dict:
    """Distance or intensity reading of each output unit c (output_post, before Neg): a distance code when
    class c has the strictly smallest mean value of unit c, an intensity code when it has the strictly largest.
    Only classes present in the inputs count: a unit whose own class is absent is neither code and is left out
    of the shares, and absent classes are not compared against."""
    means_SxCxC = class_means(model, params_S, x_NxD, y_N, classes, "output_post", batch)  # [s, class, unit]
    own_SxC = np.diagonal(means_SxCxC, axis1=1, axis2=2)
    other = ~np.eye(classes, dtype=bool) & ~np.isnan(means_SxCxC)
    present_SxC = ~np.isnan(own_SxC)
    # strict: a unit with tied class means (a dead unit reads 0 for every class) is neither code
    distance = present_SxC & (own_SxC < np.where(other, means_SxCxC, np.inf).min(axis=1))
    intensity = present_SxC & (own_SxC > np.where(other, means_SxCxC, -np.inf).max(axis=1))
    n = np.maximum(present_SxC.sum(-1), 1)
    return {"class_means": means_SxCxC, "distance_code": distance, "intensity_code": intensity,
            "distance_share": distance.sum(-1) / n, "intensity_share": intensity.sum(-1) / n}


def prototype_geometry(model, params_S, x_NxD, y_N, classes, batch=None) -> dict:
    """Where each class sits relative to the output layer, in hidden space (hidden_post class means m_k).

    Linear heads: signed distance of m_k to output hyperplane c, (S, class k, unit c).
    Centred heads (OffsetL2, RBF, MD): Euclidean distance of centre mu_c to m_k, (S, unit c, class k), and the
    nearest class.
    """
    m_SxCxH = class_means(model, params_S, x_NxD, y_N, classes, "hidden_post", batch)
    out = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), params_S["output"])
    if "mu" in out:
        d_SxCxK = np.linalg.norm(out["mu"][:, :, None, :] - m_SxCxH[:, None, :, :], axis=-1)
        nearest = np.argmin(np.where(np.isnan(d_SxCxK), np.inf, d_SxCxK), axis=-1)   # absent classes: NaN
        return {"centre_distance": d_SxCxK, "nearest_class": nearest,
                "centre_on_own_class": (nearest == np.arange(classes)).mean(-1)}
    w_SxHxC = out["kernel"]
    b_SxC = out.get("bias", np.zeros(w_SxHxC.shape[::2], np.float32))
    signed_SxKxC = (np.einsum("skh,shc->skc", m_SxCxH, w_SxHxC) + b_SxC[:, None, :]) / \
        np.linalg.norm(w_SxHxC, axis=1)[:, None, :]
    return {"hyperplane_distance": signed_SxKxC}


# --- what every run records --------------------------------------------------------------------------------

def activity_and_geometry(model, params_S, ds) -> tuple[dict, dict, dict]:
    """(summary_statistics' JSON-ready dict, unit_activity per split, output_geometry of the train split): one
    pass for both training's summary and analyze, which keeps the raw arrays."""
    out, activity = {"activity": {}}, {}
    for split, x in (("train", ds.x_train), ("test", ds.x_test)):
        frac = activity[split] = unit_activity(model, params_S, x)
        out["activity"][split] = {l: {"units": int(f.shape[-1]), **{k: np.asarray(v).tolist() for k, v in
                                                                    activity_counts(f).items()}}
                                  for l, f in frac.items()}
    g = output_geometry(model, params_S, ds.x_train, ds.y_train, ds.classes)
    out["output_geometry"] = {k: np.asarray(g[k]).tolist() for k in ("distance_share", "intensity_share")}
    return out, activity, g


def summary_statistics(model, params_S, ds, seed_chunk: int = 0) -> dict:
    """JSON-ready unit-activity counts (train and test, per layer) and output-geometry shares, per seed: what
    every variant's summary.json records at the end of training, in the memory of `seed_chunk` seeds."""
    with bounded(seed_chunk):
        return activity_and_geometry(model, params_S, ds)[0]
