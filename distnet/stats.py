"""Distance statistics of trained networks: pure functions of (model, params, data), vmapped over seeds.

Every function takes params with a leading seed axis S and returns arrays with a leading seed axis.
Layer values come from `models.intermediates` (the model's own forward pass). Inputs go through the
network in fixed-size batches, zero-padded and masked so one compiled program serves every batch and memory
grows with the batch, not with the dataset.

Analysis compiles a handful of small programs per variant, so compiling is most of its cost on a GPU: the
programs skip XLA's GEMM autotuning and Triton GEMMs (`_jit`), batches are large on accelerators, every clamp of a perturbation
probe runs in one program, and the small arithmetic on results is numpy's (no device program per operation).

Layers are named as the model sows them: hidden_pre, hidden_post, output_pre, output_post (before Neg).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from distnet import models, training

ACTIVE = 1e-6                 # |a| above this counts as active (the paper's dead-node threshold)
RARE = {"rare_1pct": 0.01, "rare_5pct": 0.05}
BATCH = 4096                  # inputs per batch on CPU; accelerators take ACCELERATOR_BATCH
ACCELERATOR_BATCH = 20000     # 20 seeds x 20,000 inputs x 128 units of float32: 205 MB per layer value
POST = ("hidden_post", "output_post")
FRACTIONS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
NOISE_SCALES = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)   # noise sizes as multiples of the inputs' std


# Analysis programs are small and many: compiling them quickly matters more than their last few percent of speed.
_jit = functools.partial(jax.jit, compiler_options=training.QUICK_COMPILE)


def default_batch() -> int:
    return BATCH if jax.default_backend() == "cpu" else ACCELERATOR_BATCH


def _reduce_batches(fn, params_S, arrays, batch=None, combine=None):
    """Combine fn(params_S, *batch_arrays, mask_B) over fixed-size, zero-padded batches (default: sum)."""
    combine = combine or (lambda a, b: jax.tree_util.tree_map(jnp.add, a, b))
    n = len(arrays[0])
    batch = min(batch or default_batch(), n)
    total = None
    for start in range(0, n, batch):
        parts = [np.asarray(a[start:start + batch]) for a in arrays]
        m = len(parts[0])
        mask_B = (np.arange(batch) < m).astype(np.float32)
        parts = [np.pad(p, [(0, batch - m)] + [(0, 0)] * (p.ndim - 1)) for p in parts]
        out = fn(params_S, *parts, mask_B)
        total = out if total is None else combine(total, out)
    return jax.tree_util.tree_map(np.asarray, total)


def _layers(model, params, x_BxD):
    return models.intermediates(model, {"params": params}, x_BxD)


# --- unit activity ------------------------------------------------------------------------------------

@functools.partial(_jit, static_argnums=0)
def _active_sums(model, params_S, x_BxD, mask_B):
    def one(params):
        _, inter = _layers(model, params, x_BxD)
        return {l: mask_B @ (jnp.abs(inter[l]) > ACTIVE).astype(jnp.float32) for l in POST}
    return jax.vmap(one)(params_S)


def unit_activity(model, params_S, x_NxD, batch=None) -> dict:
    """{hidden_post, output_post: (S, units)}: fraction of inputs for which each unit's output is non-zero."""
    sums = _reduce_batches(functools.partial(_active_sums, model), params_S, (x_NxD,), batch)
    return {l: v / len(x_NxD) for l, v in sums.items()}


def activity_counts(frac_SxU) -> dict:
    """Per seed: dead units (never active) and rarely active ones (active for < 1% / < 5%, dead included)."""
    frac_SxU = np.asarray(frac_SxU)
    out = {"dead": np.sum(frac_SxU == 0, axis=-1)}
    out.update({k: np.sum(frac_SxU < cut, axis=-1) for k, cut in RARE.items()})
    return out


# --- class distributions along units ------------------------------------------------------------------

@functools.partial(_jit, static_argnums=(0, 1, 2, 3))
def _class_sums(model, layer, classes, power, params_S, center_SxCxU, x_BxD, y_B, mask_B):
    def one(params, center_CxU):
        _, inter = _layers(model, params, x_BxD)
        d_BxU = inter[layer] - center_CxU[y_B]
        onehot_BxC = jax.nn.one_hot(y_B, classes) * mask_B[:, None]
        return {"n": onehot_BxC.sum(0), **{f"s{p}": onehot_BxC.T @ d_BxU ** p for p in range(1, power + 1)}}
    return jax.vmap(one)(params_S, center_SxCxU)


def _sums(model, params_S, x, y, classes, layer, power, center_SxCxU, batch):
    fn = lambda p, xb, yb, mb: _class_sums(model, layer, classes, power, p, center_SxCxU, xb, yb, mb)
    return _reduce_batches(fn, params_S, (x, y), batch)


def class_means(model, params_S, x_NxD, y_N, classes, layer="hidden_post", batch=None):
    """(S, classes, units): each class's mean value of each unit of `layer`; NaN for a class with no input
    (a subset can miss one; a mean of 0 would pass for a real value)."""
    one_seed = jax.tree_util.tree_map(lambda a: a[0], params_S)
    width = jax.eval_shape(lambda p, x: _layers(model, p, x)[1][layer], one_seed, x_NxD[:1]).shape[-1]
    zero = np.zeros((jax.tree_util.tree_leaves(params_S)[0].shape[0], classes, width), np.float32)
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


@functools.partial(_jit, static_argnums=(0, 1))
def _unit_values(model, layer, params_S, unit_S, x_BxD):
    return jax.vmap(lambda p, u: _layers(model, p, x_BxD)[1][layer][:, u])(params_S, unit_S)


@functools.partial(_jit, static_argnums=(2, 3))
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
    values = lambda p, xb, mb: _unit_values(model, layer, p, unit_S, xb)
    v_SxN = _reduce_batches(values, params_S, (x_NxD,), batch,
                            combine=lambda a, b: np.concatenate([np.asarray(a), np.asarray(b)], axis=1))
    counts, edges = histogram(v_SxN[:, :len(x_NxD)], np.asarray(y_N), classes, bins)   # padding cut off
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
    OffsetL2 heads: Euclidean distance of centre mu_c to m_k, (S, unit c, class k), and the nearest class.
    """
    m_SxCxH = class_means(model, params_S, x_NxD, y_N, classes, "hidden_post", batch)
    out = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), params_S["output"])
    if model.spec.head == "offsetl2":
        d_SxCxK = np.linalg.norm(out["mu"][:, :, None, :] - m_SxCxH[:, None, :, :], axis=-1)
        nearest = np.argmin(np.where(np.isnan(d_SxCxK), np.inf, d_SxCxK), axis=-1)   # absent classes: NaN
        return {"centre_distance": d_SxCxK, "nearest_class": nearest,
                "centre_on_own_class": (nearest == np.arange(classes)).mean(-1)}
    w_SxHxC = out["kernel"]
    b_SxC = out.get("bias", np.zeros(w_SxHxC.shape[::2], np.float32))
    signed_SxKxC = (np.einsum("skh,shc->skc", m_SxCxH, w_SxHxC) + b_SxC[:, None, :]) / \
        np.linalg.norm(w_SxHxC, axis=1)[:, None, :]
    return {"hyperplane_distance": signed_SxKxC}


# --- perturbation probes and input noise -----------------------------------------------------------------

@functools.partial(_jit, static_argnums=(0, 1))
def _range(model, layer, params_S, x_BxD, mask_B):
    def one(params):
        v_BxU = _layers(model, params, x_BxD)[1][layer]
        keep = mask_B[:, None] > 0
        return jnp.where(keep, v_BxU, jnp.inf).min(0), jnp.where(keep, v_BxU, -jnp.inf).max(0)
    return jax.vmap(one)(params_S)


def layer_range(model, params_S, x_NxD, layer, batch=None):
    """(lo, hi), each (S, U): the smallest and largest value of each unit of `layer` over the inputs."""
    both = lambda a, b: (jnp.minimum(a[0], b[0]), jnp.maximum(a[1], b[1]))
    return _reduce_batches(functools.partial(_range, model, layer), params_S, (x_NxD,), batch, both)


@functools.partial(_jit, static_argnums=(0, 1))
def _clamped_correct(model, layer, params_S, lo_KxSxU, hi_KxSxU, x_BxD, y_B, mask_B):
    """(S, K) correct answers in the batch under each of K clamps of `layer`, one clamp after another."""
    def one(params, lo, hi):
        out_BxC = model.apply({"params": params}, x_BxD, clamp={layer: (lo, hi)})
        return mask_B @ (jnp.argmax(out_BxC, -1) == y_B).astype(jnp.float32)
    return jax.lax.map(lambda b: jax.vmap(one)(params_S, *b), (lo_KxSxU, hi_KxSxU)).T


def perturbation(model, params_S, x_NxD, y_N, layer="hidden_post", fractions=FRACTIONS, batch=None) -> dict:
    """Accuracy (S, F) when `layer` (hidden_post | output_post) is clamped from below (floor raised to
    lo + f * range) and from above (ceiling lowered to hi - f * range), per unit's observed range."""
    lo, hi = layer_range(model, params_S, x_NxD, layer, batch)
    span, inf = hi - lo, np.full_like(lo, np.inf)
    # clamp 0 is the observed range, which clamps nothing from either side: one unperturbed pass serves both;
    # then one clamp from below and one from above per non-zero fraction
    bounds, below, above = [(lo, hi)], [], []
    for f in map(np.float32, fractions):
        if f == 0:
            below.append(0)
            above.append(0)
        else:
            below.append(len(bounds))
            above.append(len(bounds) + 1)
            bounds += [(lo + f * span, inf), (-inf, hi - f * span)]
    lo_KxSxU, hi_KxSxU = (np.stack(b) for b in zip(*bounds))
    fn = lambda p, xb, yb, mb: _clamped_correct(model, layer, p, lo_KxSxU, hi_KxSxU, xb, yb, mb)
    acc_SxK = _reduce_batches(fn, params_S, (x_NxD, y_N), batch) / len(x_NxD)
    return {"fractions": np.asarray(fractions), "below": acc_SxK[:, below], "above": acc_SxK[:, above]}


def half_point(fractions, acc_SxF, clean_S=None):
    """(S,) the fraction where accuracy first falls to half its unperturbed value `clean_S` (linear
    interpolation); NaN where it never does. Without clean_S the first column is taken as unperturbed, which
    needs fractions[0] == 0."""
    fractions, acc_SxF = np.asarray(fractions, np.float64), np.asarray(acc_SxF, np.float64)
    if clean_S is None:
        if fractions[0] != 0:
            raise ValueError(f"half_point: fractions start at {fractions[0]}, not 0, so the first column is not "
                             f"the unperturbed accuracy; pass clean_S")
        clean_S = acc_SxF[:, 0]
    clean_S = np.broadcast_to(np.asarray(clean_S, np.float64), (len(acc_SxF),))
    out = np.full(len(acc_SxF), np.nan)
    for s, acc in enumerate(acc_SxF):
        half = clean_S[s] / 2
        below = np.flatnonzero(acc <= half)
        if below.size:
            i = below[0]
            if i == 0:
                out[s] = fractions[0]
            else:
                t = (acc[i - 1] - half) / (acc[i - 1] - acc[i])
                out[s] = fractions[i - 1] + t * (fractions[i] - fractions[i - 1])
    return out


@functools.partial(_jit, static_argnums=0)
def _noise_sums(model, params_S, sigma_K, x_BxD, noise_BxD, y_B, mask_B):
    def one(params):
        clean_BxC = model.apply({"params": params}, x_BxD)      # once per batch, shared by every size

        out = {"correct": [], "shift": []}
        for k in range(sigma_K.shape[0]):   # unrolled, not vmapped: each noisy pass is the clean pass's program
            noisy_BxC = model.apply({"params": params}, x_BxD + sigma_K[k] * noise_BxD)
            out["correct"].append(mask_B @ (jnp.argmax(noisy_BxC, -1) == y_B).astype(jnp.float32))
            out["shift"].append(mask_B @ jnp.linalg.norm(noisy_BxC - clean_BxC, axis=-1))
        return {name: jnp.stack(v, -1) for name, v in out.items()}
    return jax.vmap(one)(params_S)


def noise_robustness(model, params_S, x_NxD, y_N, sigmas, batch=None) -> dict:
    """Accuracy and mean L2 change of the output (S, K) under Gaussian input noise of each size in `sigmas`.
    Every seed and size sees the same noise draw (scaled), so variants compare pairwise."""
    noise_NxD = np.asarray(jax.random.normal(jax.random.PRNGKey(0), x_NxD.shape, jnp.float32))
    sigma_K = np.asarray(sigmas, np.float32)
    fn = lambda p, xb, nb, yb, mb: _noise_sums(model, p, sigma_K, xb, nb, yb, mb)
    s = _reduce_batches(fn, params_S, (x_NxD, noise_NxD, y_N), batch)
    return {"sigma": np.asarray(sigmas, np.float64), "accuracy": s["correct"] / len(x_NxD),
            "output_shift": s["shift"] / len(x_NxD)}


# --- what every run records --------------------------------------------------------------------------------

def cheap_parts(model, params_S, ds) -> tuple[dict, dict, dict]:
    """(cheap's JSON-ready dict, unit_activity per split, output_geometry of the train split): one pass for
    both training's summary and distnet.analyze, which keeps the raw arrays."""
    out, activity = {"activity": {}}, {}
    for split, x in (("train", ds.x_train), ("test", ds.x_test)):
        frac = activity[split] = unit_activity(model, params_S, x)
        out["activity"][split] = {l: {"units": int(f.shape[-1]), **{k: np.asarray(v).tolist() for k, v in
                                                                    activity_counts(f).items()}}
                                  for l, f in frac.items()}
    g = output_geometry(model, params_S, ds.x_train, ds.y_train, ds.classes)
    out["output_geometry"] = {k: np.asarray(g[k]).tolist() for k in ("distance_share", "intensity_share")}
    return out, activity, g


def cheap(model, params_S, ds) -> dict:
    """JSON-ready unit-activity counts (train and test, per layer) and output-geometry shares, per seed."""
    return cheap_parts(model, params_S, ds)[0]
