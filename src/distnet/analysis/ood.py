"""Out-of-distribution scores and AUROC: pure functions of (model, params_S, inputs), vmapped over seeds.

Two scores per input, both "higher = more like the training data":
- msp: the maximum softmax probability of the network's outputs;
- reading: the network's own distance reading, minus the smallest output unit (output_post, before Neg) for
  distance-coded variants (-Neg families, OffsetL2 heads: minus the distance to the nearest prototype or
  centre); intensity-coded variants have no distance reading, and for them it is the largest output unit
  (for ReLU, Abs, ReLU2, Abs2 that is the maximum logit). The sign convention is prototypes.sign's.

AUROC: the probability that an in-distribution input scores above an outlier, ties counted half (the
Mann-Whitney U statistic over n_in * n_out), from ranks in O(n log n).
"""
from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats as sps

from distnet import data as data_lib
from distnet.analysis import prototypes, stats
from distnet.nn import models
from distnet.run import files, summary

BATCH = 4096
SCORES = ("msp", "reading")
NOISE = ("uniform", "gaussian")


@functools.partial(jax.jit, static_argnums=(0, 1))
def _batch_scores(model, sgn, params_S, x_BxD):
    def one(params):
        logits, inter = models.intermediates(model, {"params": params}, x_BxD)
        return {"msp": jnp.max(jax.nn.softmax(logits, -1), -1),
                "reading": jnp.max(-sgn * inter["output_post"], -1)}
    return jax.vmap(one)(params_S)


def scores(model, params_S, x_NxD, batch: int = BATCH) -> dict:
    """{"msp", "reading"}: (S, N) OOD scores of every input for every seed (higher = more in-distribution)."""
    sgn = prototypes.sign(model.spec)
    return stats.map_batches(lambda p, xb, mb: _batch_scores(model, sgn, p, xb), params_S,
                             (np.asarray(x_NxD, np.float32),), batch)


def auroc(score_in_SxN, score_out_SxM) -> np.ndarray:
    """(S,) AUROC of separating in-distribution (positive) from outliers by the score, ties counted half."""
    a, b = np.atleast_2d(score_in_SxN), np.atleast_2d(score_out_SxM)
    n, m = a.shape[1], b.shape[1]
    ranks = sps.rankdata(np.concatenate([a, b], axis=1), axis=1)        # average ranks share ties
    u = ranks[:, :n].sum(1) - n * (n + 1) / 2
    return u / (n * m)


def noise_images(x_train_NxD, n: int, seed: int = 0) -> dict:
    """Outlier inputs of the training data's shape and range: "uniform" (each dimension uniform on its observed
    [min, max]) and "gaussian" (per-dimension mean and std of the data, clipped to that range)."""
    x = np.asarray(x_train_NxD, np.float64)
    lo, hi, mean, std = x.min(0), x.max(0), x.mean(0), x.std(0)
    rng = np.random.default_rng(seed)
    uniform = lo + rng.random((n, x.shape[1])) * (hi - lo)
    gaussian = np.clip(mean + std * rng.normal(size=(n, x.shape[1])), lo, hi)
    return {"uniform": uniform.astype(np.float32), "gaussian": gaussian.astype(np.float32)}


def outlier_sets(dcfg, ds, n_noise: int | None = None, seed: int = 0, log=print) -> dict:
    """The outlier sets for a model trained on `ds` (as distnet.data.reload read it back: its `info`
    says where from) with the data block `dcfg`: Fashion-MNIST's test images (subset-free, with the SAME
    preprocessing as the training data and its statistics) and the two noise sets, as {name: (N, D)}. Every
    file comes from where the run's own data came from, never from $DISTNET_DATA_DIR's say-so alone."""
    out = {}
    if dcfg["name"] == "mnist":
        fashion = fashion_images(dcfg, ds.info, log)
        if fashion is not None:
            raw = data_lib.load(_same_source(dcfg, ds.info, preprocess="raw"))
            # preprocess with the training data's statistics: pair FMNIST's test images with MNIST's train split
            mixed = dataclasses.replace(raw, x_test=fashion, y_test=np.zeros(len(fashion), np.int32), truth=None)
            out["fashion_mnist"] = data_lib.preprocess(mixed, dcfg["preprocess"]).x_test
    out.update(noise_images(ds.x_train, n_noise or len(ds.x_test), seed))
    return out


def _same_source(dcfg, info: dict, **fields):
    """`dcfg` with `fields`, reading the IDX folder `info` records (when the data came from one)."""
    import ml_collections

    where = {"source": "idx", "dir": info["dir"]} if info.get("source") == "idx" else {}
    return ml_collections.ConfigDict({**dict(dcfg), **where, **fields})


def fashion_images(dcfg, info: dict, log=print) -> np.ndarray | None:
    """Fashion-MNIST's raw test images for a run on MNIST read from `info`'s source: the fashion_mnist/ folder
    beside the MNIST files it read (else in $DISTNET_DATA_DIR), or tensorflow-datasets when MNIST came from
    there. None, said in `log` with the way to add it, when there is none."""
    fields = {"name": "fashion_mnist", "n_train": 0, "n_test": 0, "preprocess": "raw"}
    if info.get("source") != "idx":
        try:
            return data_lib.load(_same_source(dcfg, info, **fields)).x_test
        except data_lib.DataError as e:
            log(f"  no Fashion-MNIST outlier set: {e}")
            return None
    places = [Path(info["dir"]).parent / "fashion_mnist"]
    if os.environ.get(data_lib.ENV_DIR):
        places.append(Path(os.environ[data_lib.ENV_DIR]).expanduser() / "fashion_mnist")
    for place in places:
        if place.is_dir():
            return data_lib.load(_same_source(dcfg, {"source": "idx", "dir": str(place)}, **fields)).x_test
    log(f"  no Fashion-MNIST outlier set: no fashion_mnist/ folder in {' or '.join(map(str, places))}; put its "
        f"four gzip IDX files in {places[0]} and run analyze again with --force to add it")
    return None


def ood_summary(model, params_S, x_in_NxD, outliers: dict) -> dict:
    """JSON-ready AUROC per outlier set and score: per seed and its summary over seeds (mean, std, 95% t
    interval), plus the mean score of each set."""
    s_in = scores(model, params_S, x_in_NxD)
    out = {"reading_kind": "distance" if prototypes.sign(model.spec) > 0 else "intensity (no distance reading)",
           "sets": {}}
    for name, x in outliers.items():
        s_out = scores(model, params_S, x)
        out["sets"][name] = {}
        for k in SCORES:
            a = auroc(s_in[k], s_out[k])
            out["sets"][name][k] = {"auroc": a, "summary": summary.describe(a, (0.0, 1.0)),
                                    "mean_score_in": s_in[k].mean(-1), "mean_score_out": s_out[k].mean(-1)}
    return files.plain(out)
