"""Geometry of trained networks scored against a known truth (synthetic Gaussians, data.gaussians).

Pure functions of (params with a leading seed axis S, truth), numpy float64 on the host: the arithmetic is
small (S x H x C, or S x H x C*D for the alignment) and one scipy matching per seed cannot be vmapped anyway.

First-layer unit j is the hyperplane w_j . x + b_j = 0 (kernel column j, bias j). Against class k, with mean
mu_k and covariance Sigma_k, its score is the signed distance from mu_k to the hyperplane in units of the class's
standard deviation along the unit's normal:

    z_jk = (w_j . mu_k + b_j) / sqrt(w_j^T Sigma_k w_j)

so |z_jk| < TAU says the hyperplane passes through class k's mean. Alignment: |cos| between unit normals and the
true covariance eigenvectors (all classes pooled, C*D of them), one-to-one matched to maximise the total
(scipy's linear_sum_assignment); the mean matched |cos| is 1 for the analytic network and, because the truth's
rotations are Haar-random, exactly what random directions score for a network that never saw the data
(`chance_alignment`). With more units than eigenvectors the matching saturates (random directions score ~1 in
D = 2), so `axis_alignment` also scores every unit against the principal axes of the class whose mean its
hyperplane is nearest.

The analytic Mahalanobis network (the companion paper's construction) is an "Abs-L2-Neg" variant:
hidden = C*D Abs units, class c's block W_c = L_c^(-1/2) V_c^T, b_c = -W_c mu_c; OffsetL2 head with centre
mu_c = h(mu_c) and alpha_c = 1 on block c, 0 elsewhere, so output c is exactly ||W_c (x - mu_c)||_2, the
Mahalanobis distance to class c.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize

from distnet.nn import models
from distnet.run import files, summary

TAU = 0.1   # "passes through a mean": within a tenth of the class's std along the normal (4% of its mass between)
ALIGNED = 0.9   # a matched |cos| above this counts as an aligned unit (within 26 degrees)


def _np(a):
    return np.asarray(a, np.float64)


def first_layer(params_S):
    """(kernel (S, D, H), bias (S, H)) of the first layer as float64."""
    return _np(params_S["hidden"]["kernel"]), _np(params_S["hidden"]["bias"])


def hyperplane_z(kernel_SxDxH, bias_SxH, truth) -> np.ndarray:
    """(S, H, C): signed distance from each true class mean to each unit's hyperplane, in that class's std
    along the unit's normal. Uses the eigenform w^T Sigma w = sum_i lam_i (v_i . w)^2 (no D x D products)."""
    means_CxD, v_CxDxD, lam_CxD = _np(truth["means"]), _np(truth["eigenvectors"]), _np(truth["eigenvalues"])
    num_SxHxC = np.einsum("sdh,cd->shc", kernel_SxDxH, means_CxD) + bias_SxH[:, :, None]
    proj_SxCxDxH = np.einsum("cdi,sdh->scih", v_CxDxD, kernel_SxDxH)
    var_SxHxC = np.einsum("ci,scih->shc", lam_CxD, proj_SxCxDxH ** 2)
    return num_SxHxC / np.sqrt(np.maximum(var_SxHxC, np.finfo(np.float64).tiny))


def unit_scores(params_S, truth) -> dict:
    """Per seed and first-layer unit: z (S, H, C), the class whose mean is nearest the hyperplane (S, H), its
    |z| (S, H), and whether the hyperplane passes through it (|z| < TAU)."""
    z_SxHxC = hyperplane_z(*first_layer(params_S), truth)
    nearest_SxH = np.argmin(np.abs(z_SxHxC), axis=-1)
    min_SxH = np.take_along_axis(np.abs(z_SxHxC), nearest_SxH[..., None], -1)[..., 0]
    return {"z": z_SxHxC, "nearest_class": nearest_SxH, "min_abs_z": min_SxH, "passes": min_SxH < TAU}


def matched_cosines(kernel_SxDxH, eigvecs_CxDxD) -> np.ndarray:
    """(S, min(H, C*D)): |cos| of unit normals and true eigenvectors (all classes pooled) in the one-to-one
    matching that maximises their sum, per seed."""
    v_DxK = np.concatenate(list(_np(eigvecs_CxDxD)), axis=1)                       # K = C*D unit columns
    n_SxDxH = kernel_SxDxH / np.maximum(np.linalg.norm(kernel_SxDxH, axis=1, keepdims=True), 1e-300)
    out = []
    for n_DxH in n_SxDxH:            # one seed's H x K cosines at a time: memory does not grow with the seeds
        cos_HxK = np.abs(n_DxH.T @ v_DxK)
        rows, cols = optimize.linear_sum_assignment(cos_HxK, maximize=True)
        out.append(cos_HxK[rows, cols])
    return np.stack(out)


def axis_alignment(kernel_SxDxH, eigvecs_CxDxD, class_SxH) -> np.ndarray:
    """(S, H): for each unit, the largest |cos| of its normal with a principal axis (eigenvector) of ONE class,
    class_SxH[s, j] (e.g. the class whose mean its hyperplane is nearest): 1 when the unit measures distance
    along that class's axis, as the analytic network's units do. Unlike the matching it does not saturate when
    units outnumber eigenvectors."""
    n_SxDxH = kernel_SxDxH / np.maximum(np.linalg.norm(kernel_SxDxH, axis=1, keepdims=True), 1e-300)
    out_SxH = np.zeros(np.shape(class_SxH))
    for c, v_DxD in enumerate(_np(eigvecs_CxDxD)):   # a class at a time: S x H x D, never S x H x D x D per unit
        units = np.asarray(class_SxH) == c
        if units.any():
            out_SxH[units] = np.abs(np.einsum("sdh,di->shi", n_SxDxH, v_DxD)).max(-1)[units]
    return out_SxH


def chance_alignment(hidden: int, truth, draws: int = 200, seed: int = 0) -> dict:
    """What a network whose first layer knows nothing of the data scores, over `draws` draws of `hidden`
    isotropic random directions: the mean matched |cos| against the truth's eigenvectors (mean, std), and the
    mean axis alignment (`axis_alignment` with any class: by rotation invariance its law does not depend on
    which)."""
    rng = np.random.default_rng(seed)
    dim = np.shape(truth["means"])[1]
    k = rng.normal(size=(draws, dim, hidden))
    scores = matched_cosines(k, truth["eigenvectors"]).mean(-1)
    axis = axis_alignment(k, truth["eigenvectors"], np.zeros((draws, hidden), int)).mean(-1)
    return {"mean": float(scores.mean()), "std": float(scores.std(ddof=1)), "draws": draws,
            "axis_mean": float(axis.mean()), "axis_std": float(axis.std(ddof=1))}


def chance_at(reference: dict, width: int) -> dict:
    """The chance alignment of `width` random units (geometry_reference.json's, per width where it holds several)."""
    return (reference.get("chance_by_width") or {}).get(str(width), reference["chance_alignment"])


def hidden_image(model, params_S, x_NxD) -> np.ndarray:
    """(S, N, H): hidden_post of each seed's network at inputs x."""
    import jax

    fn = jax.vmap(lambda p: models.intermediates(model, {"params": p}, x_NxD)[1]["hidden_post"])
    return _np(fn(params_S))


def centre_scores(model, params_S, truth) -> dict:
    """OffsetL2 heads: where each learned centre mu_c sits relative to the hidden images h(mu_k) of the true
    class means. reading (S, C, K): the head's own distance y_c at x = mu_k; nearest_mean (S, C): the k that
    unit c reads as closest; offset (S, C): ||mu_c - h(mu_c)|| over the distance from h(mu_c) to the nearest
    other image h(mu_k) (0: on its own class's image; around 1 or more: no closer to it than to another's)."""
    import jax

    means = np.asarray(truth["means"], np.float32)
    h_SxKxH = hidden_image(model, params_S, means)
    reading_SxKxC = _np(jax.vmap(lambda p: models.intermediates(model, {"params": p}, means)[1]["output_pre"])(params_S))
    mu_SxCxH = _np(params_S["output"]["mu"])
    own = np.linalg.norm(mu_SxCxH - h_SxKxH, axis=-1)                                     # (S, C): h(mu_c)
    gaps_SxKxK = np.linalg.norm(h_SxKxH[:, :, None] - h_SxKxH[:, None], axis=-1)
    k = gaps_SxKxK.shape[-1]
    nearest_other = np.where(np.eye(k, dtype=bool), np.inf, gaps_SxKxK).min(-1)
    reading_SxCxK = np.swapaxes(reading_SxKxC, 1, 2)
    return {"reading": reading_SxCxK, "nearest_mean": np.argmin(reading_SxCxK, -1),
            "offset": own / np.maximum(nearest_other, 1e-300)}


def analytic_network(truth, classes: int | None = None):
    """(model, params with a leading seed axis of 1): the exact Mahalanobis classifier as an Abs-L2-Neg
    network, logit c = -||L_c^(-1/2) V_c^T (x - mu_c)||_2."""
    means_CxD, v_CxDxD, lam_CxD = _np(truth["means"]), _np(truth["eigenvectors"]), _np(truth["eigenvalues"])
    c_n, dim = means_CxD.shape
    kernel_DxH = np.concatenate([v_CxDxD[c] / np.sqrt(lam_CxD[c]) for c in range(c_n)], axis=1)   # W_c^T blocks
    bias_H = -np.concatenate([means_CxD[c] @ (v_CxDxD[c] / np.sqrt(lam_CxD[c])) for c in range(c_n)])
    image_CxH = np.abs(means_CxD @ kernel_DxH + bias_H)                    # h(mu_c): zero on block c
    alpha_CxH = np.kron(np.eye(c_n), np.ones((1, dim)))
    model = models.get("Abs-L2-Neg", hidden=c_n * dim, classes=classes or c_n)
    params = {"hidden": {"kernel": kernel_DxH, "bias": bias_H}, "output": {"mu": image_CxH, "alpha": alpha_CxH}}
    return model, {layer: {k: np.asarray(v, np.float32)[None] for k, v in p.items()} for layer, p in params.items()}


def mahalanobis(x_SxCxD, truth) -> np.ndarray:
    """(S, C): Mahalanobis distance of point x[s, c] from class c's true mean under its covariance."""
    d_SxCxD = _np(x_SxCxD) - _np(truth["means"])
    proj = np.einsum("scd,cdi->sci", d_SxCxD, _np(truth["eigenvectors"]))
    return np.sqrt(np.sum(proj ** 2 / _np(truth["eigenvalues"]), axis=-1))


UNIT_RANGE = ("pass_fraction", "classes_passed", "alignment", "aligned_fraction", "axis_alignment",
              "centre_on_own_mean", "test_acc", "prototype_own_class")   # quantities in [0, 1]: intervals stay there


def _describe(name, values) -> dict:
    v = np.asarray(values, np.float64).ravel()
    if len(v) < 2:
        return {"n": len(v), "mean": float(v[0]) if len(v) else None}
    return summary.describe(v, (0.0, 1.0) if name in UNIT_RANGE else None)


def geometry_summary(model, params_S, truth, ds=None, prototypes: dict | None = None, chance: bool = True) -> dict:
    """JSON-ready geometry of one variant's networks against the truth: per-seed values and their summaries
    (mean, std, 95% t interval over seeds). `prototypes` (prototypes.find's output) adds the Mahalanobis error
    of each class's input-space prototype; `ds` adds test accuracy of the params given."""
    kernel, bias = first_layer(params_S)
    u = unit_scores(params_S, truth)
    cos_SxM = matched_cosines(kernel, truth["eigenvectors"])
    per_seed = {"pass_fraction": u["passes"].mean(-1), "median_min_abs_z": np.median(u["min_abs_z"], -1),
                "classes_passed": np.stack([np.isin(np.arange(np.shape(truth["means"])[0]), n[p]).mean()
                                            for n, p in zip(u["nearest_class"], u["passes"])]),
                "alignment": cos_SxM.mean(-1), "aligned_fraction": (cos_SxM > ALIGNED).mean(-1),
                "axis_alignment": axis_alignment(kernel, truth["eigenvectors"], u["nearest_class"]).mean(-1)}
    if model.spec.head == "offsetl2":
        cs = centre_scores(model, params_S, truth)
        per_seed["centre_offset"] = np.median(cs["offset"], -1)
        per_seed["centre_on_own_mean"] = (cs["nearest_mean"] == np.arange(cs["offset"].shape[-1])).mean(-1)
    if prototypes is not None:
        per_seed["prototype_error"] = mahalanobis(prototypes["x"], truth).mean(-1)
        per_seed["prototype_own_class"] = (prototypes["predicted"] == np.arange(prototypes["predicted"].shape[-1])).mean(-1)
    if ds is not None:
        import jax

        logits = jax.vmap(lambda p: model.apply({"params": p}, ds.x_test))(params_S)
        per_seed["test_acc"] = (np.argmax(np.asarray(logits), -1) == ds.y_test).mean(-1)
    out = {"per_seed": per_seed, "summary": {k: _describe(k, v) for k, v in per_seed.items()},
           "tau": TAU, "aligned_cut": ALIGNED, "hidden": kernel.shape[-1]}
    if chance:
        out["chance_alignment"] = chance_alignment(kernel.shape[-1], truth)
    return files.plain(out)
