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

import jax
import jax.numpy as jnp
import numpy as np
import optax

from distnet.analysis import stats
from distnet.nn import models
from distnet.run import files, folder

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


def unit_spread(model, params_S, x_NxD) -> np.ndarray:
    """(S, C): std of each output unit over (up to SD_SAMPLE) training inputs, floored away from zero."""
    fn = jax.jit(jax.vmap(lambda p, x: _units(model, p, x), in_axes=(0, None)))
    x = np.asarray(x_NxD[:SD_SAMPLE])
    rows = min(stats.batch_rows(stats.n_seeds(params_S), SD_SAMPLE), len(x))    # seed_chunk bounds the batch
    y_SxNxC = np.concatenate([np.asarray(fn(params_S, x[i:i + rows])) for i in range(0, len(x), rows)], axis=1)
    sd = np.asarray(y_SxNxC, np.float64).std(1)
    return np.maximum(sd, 1e-6 * np.maximum(sd.max(-1, keepdims=True), 1e-30))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _search(model, steps, sgn, params_S, sd_SxC, lo, hi, mean, std, lam, lr):
    span = hi - lo
    opt = optax.adam(optax.cosine_decay_schedule(lr, steps))
    classes = sd_SxC.shape[1]

    def objective(u, params, c, sd):
        x = lo + u * span
        y = _units(model, params, x[None])[0, c]
        return sgn * y / sd + lam * jnp.mean(jnp.square((x - mean) / std))

    def one(params, c, sd):
        u0 = jnp.where(span > 0, (mean - lo) / jnp.where(span > 0, span, 1.0), 0.0)   # start at the data mean

        def step(carry, _):
            u, state = carry
            g = jax.grad(objective)(u, params, c, sd)
            upd, state = opt.update(g, state, u)
            return (jnp.clip(u + upd, 0.0, 1.0), state), None

        (u, _), _ = jax.lax.scan(step, (u0, opt.init(u0)), None, length=steps)
        return lo + u * span, objective(u, params, c, sd)

    per_class = jax.vmap(one, in_axes=(None, 0, 0))
    return jax.vmap(lambda p, sd: per_class(p, jnp.arange(classes), sd))(params_S, sd_SxC)


def find(model, params_S, x_train_NxD, lam: float = LAM, steps: int = STEPS, lr: float = LR) -> dict:
    """Input-space prototypes of every class and seed: x (S, C, D), the objective there (S, C), unit values
    at the prototypes (S, C, C), the predicted class of each prototype (S, C) and the definition used."""
    lo, hi, mean, std = box(x_train_NxD)
    sd_SxC = unit_spread(model, params_S, np.asarray(x_train_NxD, np.float32))
    f32 = lambda a: jnp.asarray(a, jnp.float32)
    x_SxCxD, obj_SxC = _search(model, steps, sign(model.spec), params_S, f32(sd_SxC), f32(lo), f32(hi), f32(mean),
                               f32(std), f32(lam), f32(lr))
    x_SxCxD = np.asarray(x_SxCxD)
    units = jax.vmap(lambda p, x: _units(model, p, x))(params_S, x_SxCxD)
    logits = jax.vmap(lambda p, x: model.apply({"params": p}, x))(params_S, x_SxCxD)
    return {"x": x_SxCxD, "objective": np.asarray(obj_SxC), "units": np.asarray(units),
            "predicted": np.asarray(jnp.argmax(logits, -1)), "definition": definition(model.spec),
            "lam": lam, "steps": steps, "lr": lr}


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


def explain_checkpoint(vdir, x_D, seed: int = 0, step: int | None = None, prototypes_CxD=None, scale_D=None) -> dict:
    """`explain` for seed `seed` of a variant folder's checkpoint at `step` (the latest when None)."""
    model = models.from_record(folder.read_config(vdir))
    params = jax.tree_util.tree_map(lambda a: a[seed], folder.load_params(vdir, step))
    return explain(model, params, x_D, prototypes_CxD, scale_D)
