"""Input-space prototypes and nearest-prototype explanations: pure functions of (model, params_S, data).

The prototype of class c is the input the network places at its class-c prototype, by the variant's reading
of output unit c (output_post, before Neg):
- distance-coded variants (the -Neg families) and OffsetL2 heads: the input that MINIMISES unit c. For an
  OffsetL2 head unit c is ||alpha_c * (h(x) - mu_c)||, so this is the input whose hidden image is closest to
  the centre mu_c in the head's own metric (for ReLU-L2 / Abs-L2 without Neg the network predicts the class
  whose centre is FARTHEST, so there this is an anti-prototype; `definition` says so);
- intensity-coded variants (ReLU2, Abs2) and the linear-output controls (ReLU, Abs, -Bias), whose softmax reads
  a large unit c as class c: the input that MAXIMISES unit c.

Search: minimise  sign * y_c(x) / sd_c + lam * mean_d ((x_d - xbar_d) / s_d)^2  over the box of the training
data's per-dimension range [lo_d, hi_d] (pixels stay pixels; always-zero MNIST border pixels stay zero), with
projected Adam in box coordinates u = (x - lo) / (hi - lo) in [0, 1]^D, cosine-decayed to step 0, in one
lax.scan vmapped over classes and seeds. sd_c is unit c's std over training inputs and s_d the data's per-
dimension std, so both terms are unitless and one lam serves every variant. lam only breaks ties: a distance
unit's minimum set (y_c = 0) is a whole surface for ReLU2-Neg / Abs2-Neg, and lam picks its point nearest the
data mean; an intensity unit is unbounded in its direction, and lam stops it at the box edge only where the gain
is worth less than the distance from typical data. At a sharp minimum (an OffsetL2 or Abs distance, which grows
linearly away from its zero) a small lam does not move the minimiser at all (see tests/test_prototypes.py).
LAM = 0.1 was chosen on the D = 2 Gaussian study (an earlier 2,000-epoch run of configs/geometry_gaussians.py:2): of 0.01, 0.1 and 1 it is the largest that
leaves the analytic network's prototypes on the true means (0.00 Mahalanobis units; 0.24 at lam = 1), and the
distance-coded variants' mean prototype error changed by at most 0.12 units between 0.01 and 0.1.
"""
from __future__ import annotations

import functools
import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import optax

from distnet.analysis import stats
from distnet.nn import models
from distnet.run import files

LAM = 0.1         # regulariser weight: the largest of 0.01, 0.1, 1 that leaves sharp minima exactly in place (below)
STEPS = 1000
LR = 0.05         # initial Adam step in box coordinates (5% of each dimension's range)
SD_SAMPLE = 4096  # training inputs used to measure each unit's spread


def sign(spec: models.Spec) -> float:
    """+1 when the prototype minimises unit c (distance reading), -1 when it maximises it (intensity)."""
    return 1.0 if spec.neg or spec.head in ("offsetl2", "md") else -1.0   # an RBF logit is already a similarity


def definition(spec: models.Spec) -> str:
    """One line saying which input the variant's class-c prototype is."""
    if spec.head in ("offsetl2", "md"):
        tail = "" if spec.neg else " (this variant predicts the FARTHEST centre: an anti-prototype)"
        metric = "alpha" if spec.head == "offsetl2" else "P_c"
        return f"argmin_x unit c: hidden image closest to centre mu_c in the head's {metric} metric" + tail
    if spec.head == "rbf":
        return "argmax_x unit c: hidden image closest to centre mu_c in the head's precision metric (the RBF logit)"
    if spec.neg:
        return "argmin_x unit c (distance-coded: the network reads small unit c as class c)"
    return "argmax_x unit c (intensity-coded: the network reads large unit c as class c)"


def box(x_NxD):
    """Per-dimension search box, centre and scale of the training data: (lo, hi, mean, std), each (D,)."""
    x = np.asarray(x_NxD, np.float64)
    std = x.std(0)
    return x.min(0), x.max(0), x.mean(0), np.maximum(std, 1e-6 * max(float(std.max()), 1e-30))


def _units(model, params, x_BxD):
    return models.intermediates(model, {"params": params}, x_BxD)[1]["output_post"]


@functools.partial(jax.jit, static_argnums=0)
def _seed_units(model, params_S, x_BxD):
    return jax.vmap(lambda p: _units(model, p, x_BxD))(params_S)


def unit_spread(model, params_S, x_NxD) -> np.ndarray:
    """(S, C): std of each output unit over (up to SD_SAMPLE) training inputs, floored away from zero."""
    y_SxNxC = stats.map_batches(lambda p, xb, mb: _seed_units(model, p, xb), params_S,
                                (np.asarray(x_NxD[:SD_SAMPLE]),), SD_SAMPLE)   # seed_chunk bounds the batch
    sd = np.asarray(y_SxNxC, np.float64).std(1)
    return np.maximum(sd, 1e-6 * np.maximum(sd.max(-1, keepdims=True), 1e-30))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4))
def _search(model, steps, sgn, prior_steps, side, params_S, sd_SxC, lo, hi, mean, std, lam, lr, prior):
    """The box search of every class and seed, then (prior_steps > 0) the image-prior one, in one program so that
    they share one compilation; `prior`: {start (C, D), basis (D, rank), scale, lam_tv, lam_pca, distance, lr}."""
    span = hi - lo
    classes = sd_SxC.shape[1]

    def objective(u, params, c, sd):
        x = lo + u * span
        y = _units(model, params, x[None])[0, c]
        return sgn * y / sd + lam * jnp.mean(jnp.square((x - mean) / std))

    def prior_objective(u, params, c, sd):
        x = lo + u * span
        logits, inter = models.intermediates(model, {"params": params}, x[None])
        others = jnp.where(jnp.arange(classes) == c, -jnp.inf, logits[0])
        read = jnp.where(prior["distance"], inter["output_post"][0, c], jax.nn.logsumexp(others) - logits[0, c])
        scale, img = prior["scale"], x.reshape(side, side)
        r = (x - prior["mean"]) - prior["basis"] @ (prior["basis"].T @ (x - prior["mean"]))
        tv = jnp.mean(jnp.sqrt(jnp.diff(img, axis=0)[:, :-1] ** 2 + jnp.diff(img, axis=1)[:-1] ** 2 + 1e-8 * scale ** 2))
        return read / sd + prior["lam_tv"] * tv / scale + prior["lam_pca"] * jnp.mean(jnp.square(r)) / scale ** 2

    def descend(fn, n, rate, params, c, sd, start):
        opt = optax.adam(optax.cosine_decay_schedule(rate, n))
        u0 = jnp.where(span > 0, (start - lo) / jnp.where(span > 0, span, 1.0), 0.0)

        def step(carry, _):
            u, state = carry
            upd, state = opt.update(jax.grad(fn)(u, params, c, sd), state, u)
            return (jnp.clip(u + upd, 0.0, 1.0), state), None

        (u, _), _ = jax.lax.scan(step, (u0, opt.init(u0)), None, length=n)
        return lo + u * span, fn(u, params, c, sd)

    def one_seed(params, sd_C):
        cs = jnp.arange(classes)
        box_rows = jax.vmap(lambda c: descend(objective, steps, lr, params, c, sd_C[c], mean))(cs)
        if not prior_steps:
            return box_rows, None
        return box_rows, jax.vmap(lambda c: descend(prior_objective, prior_steps, prior["lr"], params, c, sd_C[c],
                                                    prior["start"][c])[0])(cs)

    return jax.vmap(one_seed)(params_S, sd_SxC)


def _read(model, params_S, x_SxCxD):
    """(output units (S, C, C), predicted class (S, C)) at each seed's prototypes, from one forward pass."""
    logits, inter = jax.vmap(lambda p, x: models.intermediates(model, {"params": p}, x))(params_S, x_SxCxD)
    return np.asarray(inter["output_post"]), np.asarray(jnp.argmax(logits, -1))


def find(model, params_S, x_train_NxD, lam: float = LAM, steps: int = STEPS, lr: float = LR,
         y_train_N=None) -> dict:
    """Input-space prototypes of every class and seed: x (S, C, D), the objective there (S, C), unit values
    at the prototypes (S, C, C), the predicted class of each prototype (S, C) and the definition used. Given
    y_train_N and square-image inputs, also "prior": the image-prior search's (below), in the same program."""
    x_train = np.asarray(x_train_NxD, np.float32)
    lo, hi, mean, std = box(x_train)
    sd_SxC = unit_spread(model, params_S, x_train)
    side = image_side(x_train.shape[1]) if y_train_N is not None else None
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    prior = _prior_inputs(model.spec, x_train, np.asarray(y_train_N), sd_SxC.shape[1]) if side else {}
    (x_SxCxD, obj_SxC), prior_x = _search(
        model, steps, sign(model.spec), PRIOR_STEPS if side else 0, side, params_S, f32(sd_SxC), f32(lo), f32(hi),
        f32(mean), f32(std), f32(lam), f32(lr), jax.tree.map(f32, prior))
    x_SxCxD = np.asarray(x_SxCxD)
    units, predicted = _read(model, params_S, x_SxCxD)
    out = {"x": x_SxCxD, "objective": np.asarray(obj_SxC), "units": units, "predicted": predicted,
           "definition": definition(model.spec), "lam": lam, "steps": steps, "lr": lr}
    if side:
        out["prior"] = _prior_result(model, params_S, np.asarray(prior_x), prior)
    return out


# --- the same search with an image prior ------------------------------------------------------------------
# For image data the box alone lets an intensity unit run to the box's corners (saturated noise) and leaves a
# distance unit's zero set to the data mean (one blurred digit for every class). The image-prior rows of `find`
# (given y_train_N) start each class at its training images' mean, read unit c as the network does
# (dataset_prototypes.reading: the smallest unit c for the -Neg families; for the rest the largest soft margin of
# logit c over the others, logit_c - logsumexp_{k != c} logit_k) and add two priors in units of the data's
# pixel scale s (RMS of the per-pixel stds): total variation (mean |grad x| / s over neighbouring pixels) and the
# squared distance from the top-PCA_RANK principal subspace of the training images (mean residual^2 / s^2).
# The weights were picked on a 100-epoch, 2,000-image raw-MNIST run of the six main variants, from (TV, subspace)
# = (0.3, 3), (3, 30), (30, 300), (1, 30), (0.3, 100): the one whose Abs, Abs2 and ReLU prototypes look most like
# strokes of their digit; more TV blanks the image, a weaker subspace term leaves the box search's noise. The
# search still moves each image 0.7-0.9 s from its class mean for intensity variants ("moved" in prior_summary;
# 0.2 for Abs2-Neg, whose unit c reaches 0 near its class mean).
PCA_RANK = 50
PCA_SAMPLE = 10000    # training images the principal subspace is fitted on
LAM_TV, LAM_PCA = 0.3, 100.0
PRIOR_STEPS, PRIOR_LR = 300, 0.02   # from the class mean: fewer steps than the box search's


def image_side(dim: int) -> int | None:
    """The side of a square image of `dim` pixels (28 for MNIST), or None when the inputs are not images."""
    side = int(round(dim ** 0.5))
    return side if side * side == dim and side >= 8 else None


_SUBSPACE: dict = {}   # one entry: every variant of a folder shares its training data's subspace


def principal_subspace(x_NxD, rank: int = PCA_RANK) -> tuple[np.ndarray, np.ndarray]:
    """(mean (D,), basis (D, rank)): the top principal directions of (up to PCA_SAMPLE) training inputs, by
    subspace iteration on their covariance (6 rounds from a fixed start; LAPACK's full eigh was slower)."""
    x = np.asarray(x_NxD[:PCA_SAMPLE], np.float64)
    key = (x.shape, rank, hashlib.blake2b(x.tobytes(), digest_size=16).hexdigest())
    if key not in _SUBSPACE:
        mean = x.mean(0)
        cov = (x - mean).T @ (x - mean)
        q = np.random.default_rng(0).standard_normal((x.shape[1], min(rank + 10, x.shape[1])))
        for _ in range(6):
            q = np.linalg.qr(cov @ q)[0]
        _, vec = np.linalg.eigh(q.T @ cov @ q)
        _SUBSPACE.clear()
        _SUBSPACE[key] = (mean, q @ vec[:, ::-1][:, :min(rank, x.shape[1])])
    return _SUBSPACE[key]


def reading(spec: models.Spec) -> str:
    """"distance" when the network reads a small unit c as class c (it minimises unit c: sign > 0, and its logits
    are the units negated), else "margin" (it reads the largest logit)."""
    return "distance" if sign(spec) > 0 and spec.neg else "margin"


def _prior_inputs(spec, x_NxD, y_N, classes) -> dict:
    """The image-prior search's inputs: class-mean starts (C, D), the principal subspace, scale and weights."""
    start = np.stack([x_NxD[y_N == c].mean(0) if np.any(y_N == c) else x_NxD.mean(0) for c in range(classes)])
    mean, basis = principal_subspace(x_NxD)
    return {"start": start, "mean": mean, "basis": basis, "scale": float(np.sqrt(np.mean(np.var(x_NxD, 0)))),
            "lam_tv": LAM_TV, "lam_pca": LAM_PCA, "lr": PRIOR_LR,
            "distance": float(reading(spec) == "distance")}


def _prior_result(model, params_S, x_SxCxD, prior: dict) -> dict:
    moved = np.sqrt(np.mean(np.square(x_SxCxD - prior["start"][None]), -1)) / prior["scale"]
    what = "smallest unit c" if prior["distance"] else "largest soft margin of logit c over the others"
    return {"x": x_SxCxD, "start": prior["start"], "predicted": _read(model, params_S, x_SxCxD)[1],
            "moved": moved, "lam_tv": LAM_TV, "lam_pca": LAM_PCA, "steps": PRIOR_STEPS, "lr": PRIOR_LR,
            "definition": f"{what}, from the class-mean image, with total-variation and principal-subspace "
                          f"(top {prior['basis'].shape[1]}) priors"}


def prior_summary(protos: dict) -> dict:
    """JSON-ready: per seed, how often class c's image-prior prototype is classified as c, and how far each moved
    from its class-mean start (RMS, in units of the data's mean pixel std: 0 = the reading changed nothing)."""
    own_SxC = protos["predicted"] == np.arange(protos["predicted"].shape[-1])
    return files.plain({k: protos[k] for k in ("definition", "lam_tv", "lam_pca", "steps", "predicted", "moved")}
                       | {"own_class": own_SxC, "own_class_rate": own_SxC.mean(-1)})


def nearest_examples(protos_SxCxD, x_NxD, batch: int = 4096) -> np.ndarray:
    """(S, C): index of the training input nearest (Euclidean) to each prototype."""
    p = np.asarray(protos_SxCxD, np.float64).reshape(-1, protos_SxCxD.shape[-1])
    best, arg = np.full(len(p), np.inf), np.zeros(len(p), np.int64)
    pp = (p ** 2).sum(-1)
    for start in range(0, len(x_NxD), batch):
        xb = np.asarray(x_NxD[start:start + batch], np.float64)
        d = pp[:, None] - 2 * p @ xb.T + (xb ** 2).sum(-1)[None]
        i = d.argmin(-1)
        better = d[np.arange(len(p)), i] < best
        best[better], arg[better] = d[np.arange(len(p)), i][better], start + i[better]
    return arg.reshape(protos_SxCxD.shape[:2])


def prototype_summary(model, params_S, ds, protos: dict | None = None, **kw) -> dict:
    """JSON-ready: per seed, how often class c's prototype is classified as c; the definition; the index of the
    nearest training image of each prototype. Computes the prototypes unless given."""
    protos = protos or find(model, params_S, ds.x_train, **kw)
    own_SxC = protos["predicted"] == np.arange(protos["predicted"].shape[-1])
    return files.plain({"definition": protos["definition"], "lam": protos["lam"], "own_class": own_SxC,
                       "own_class_rate": own_SxC.mean(-1), "predicted": protos["predicted"],
                       "nearest_train_index": nearest_examples(protos["x"], ds.x_train)})


def explain(model, params, x_D, prototypes_CxD=None, scale_D=None) -> dict:
    """Why one network (params of ONE seed) puts input x where it does: classes ranked by its reading of the
    output units (nearest prototype first for distance readings, strongest unit first for intensity ones), the
    reading itself, the predicted class, and, given input-space prototypes, the distance from x to each (in
    units of scale_D per dimension, e.g. the data's std; Euclidean without) and the nearest one."""
    logits, inter = models.intermediates(model, {"params": params}, jnp.asarray(x_D, jnp.float32)[None])
    reading = np.asarray(inter["output_post"][0], np.float64)
    sgn = sign(model.spec)
    out = {"reading_kind": "distance" if sgn > 0 else "intensity", "reading": reading,
           "ranked": np.argsort(sgn * reading, kind="stable"), "predicted": int(np.argmax(logits[0])),
           "probabilities": np.asarray(jax.nn.softmax(logits[0]), np.float64)}
    out["nearest_prototype"] = int(out["ranked"][0])
    if prototypes_CxD is not None:
        diff = (np.asarray(prototypes_CxD, np.float64) - np.asarray(x_D, np.float64)) / (
            1.0 if scale_D is None else np.asarray(scale_D, np.float64))
        out["input_distance"] = np.sqrt(np.mean(diff ** 2, -1))
        out["nearest_input_prototype"] = int(np.argmin(out["input_distance"]))
    return files.plain(out)
