"""Perturbation probes: accuracy when a layer is clamped from below or above, and under Gaussian input noise.

Pure functions of (model, params with a leading seed axis, data), batched like distnet.analysis.stats.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from distnet.analysis.stats import quick_jit, layer_values, reduce_batches

FRACTIONS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
NOISE_SCALES = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0)   # noise sizes as multiples of the inputs' std


@functools.partial(quick_jit, static_argnums=(0, 1))
def _range(model, layer, params_S, x_BxD, mask_B):
    def one(params):
        v_BxU = layer_values(model, params, x_BxD)[1][layer]
        keep = mask_B[:, None] > 0
        return jnp.where(keep, v_BxU, jnp.inf).min(0), jnp.where(keep, v_BxU, -jnp.inf).max(0)
    return jax.vmap(one)(params_S)


def layer_range(model, params_S, x_NxD, layer, batch=None):
    """(lo, hi), each (S, U): the smallest and largest value of each unit of `layer` over the inputs."""
    both = lambda a, b: (jnp.minimum(a[0], b[0]), jnp.maximum(a[1], b[1]))
    return reduce_batches(functools.partial(_range, model, layer), params_S, (x_NxD,), batch, both)


@functools.partial(quick_jit, static_argnums=(0, 1))
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
    acc_SxK = reduce_batches(fn, params_S, (x_NxD, y_N), batch) / len(x_NxD)
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


@functools.partial(quick_jit, static_argnums=0)
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
    s = reduce_batches(fn, params_S, (x_NxD, noise_NxD, y_N), batch)
    return {"sigma": np.asarray(sigmas, np.float64), "accuracy": s["correct"] / len(x_NxD),
            "output_shift": s["shift"] / len(x_NxD)}
