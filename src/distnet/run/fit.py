"""The study's protocol on your own arrays, from Python: `fit` trains one variant for many seeds at once and
returns params and metrics with a leading seed axis; `apply` runs such params (or a run folder's checkpoint)
on inputs.

    from distnet.run import fit
    result = fit.fit("Abs2-Neg", x_train, y_train, x_test, y_test, seeds=5, epochs=100)
    logits_SxNxC = fit.apply(result.model, result.params, x_test)         # every seed
    model, params_S = fit.load("runs/default/Abs2-Neg")                      # a trained run folder's variant

Nothing is written to disk; for checkpoints, resume and a report, run a study with train.py.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import numpy as np

from distnet import data
from distnet.config import ConfigError
from distnet.nn import models
from distnet.run import folder, trainer


class Fit(NamedTuple):
    """What `fit` returns. params: the variant's params, every leaf with a leading seed axis (S, ...);
    metrics: {"epoch": (E,), "train_loss"/"train_acc"/"test_acc": (S, E)}, epoch 0 = the initial params;
    model: the flax Module (for `apply`)."""
    model: object
    params: dict
    metrics: dict


def _labels(y, name: str, classes: int | None) -> np.ndarray:
    """Integer labels (N,) from integer labels or one-hot / probability rows (N, C)."""
    y = np.asarray(y)
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(f"{name} must be integer labels (N,) or one-hot rows (N, classes); got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name} holds non-integer labels such as {y[y != np.round(y)][0]!r}")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or (classes is not None and y.max() >= classes)):
        raise ValueError(f"{name} holds labels outside 0..{(classes or y.max() + 1) - 1}: min {y.min()}, "
                         f"max {y.max()}")
    return y.astype(np.int32)


def _inputs(x, name: str) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if x.ndim < 2:
        raise ValueError(f"{name} must hold one example per row, (N, features...); got shape {x.shape}")
    x = x.reshape(len(x), -1)        # images (N, 28, 28) or (N, 28, 28, 1) are flattened as the study does
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or Inf")
    return x


def fit(variant: str, x_train, y_train, x_test, y_test, *, seeds: int = 5, epochs: int = 100, lr: float = 1e-3,
        hidden: int = 128, eval_every: int = 1, seed: int = 0, classes: int | None = None,
        offsetl2_form: str = "paper", seed_chunk: int = 0) -> Fit:
    """Train `variant` (a name of distnet.nn.models, e.g. "ReLU" or "Abs2-Neg") on your arrays under the study's
    protocol: full-batch SGD at `lr` on softmax cross-entropy, one step per epoch, `seeds` seeds at once (seed i
    starts from fold_in(PRNGKey(seed), i), as in train.py).

    x_*: (N, D) or images (N, ...), any float; y_*: integer labels (N,) or one-hot rows (N, C). classes
    defaults to the largest label + 1. Inputs are used as given (no scaling: the paper trains on raw pixels).
    Returns a Fit with params and metrics carrying a leading seed axis."""
    models.check_names([variant])
    for name, value in (("seeds", seeds), ("epochs", epochs), ("hidden", hidden), ("eval_every", eval_every)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name}={value!r} must be a positive integer")
    if epochs % eval_every:
        raise ConfigError(f"eval_every={eval_every} must divide epochs={epochs}")
    x_tr, x_te = _inputs(x_train, "x_train"), _inputs(x_test, "x_test")
    if x_tr.shape[1] != x_te.shape[1]:
        raise ValueError(f"x_train has {x_tr.shape[1]} features per example but x_test has {x_te.shape[1]}")
    y_tr, y_te = _labels(y_train, "y_train", classes), _labels(y_test, "y_test", classes)
    for x, y, split in ((x_tr, y_tr, "train"), (x_te, y_te, "test")):
        if len(x) != len(y):
            raise ValueError(f"x_{split} has {len(x)} examples but y_{split} has {len(y)} labels")
    classes = classes or int(max(y_tr.max(), y_te.max())) + 1
    dataset = data.Dataset(x_tr, y_tr, x_te, y_te, classes, info={"source": "arrays"})
    model = models.get(variant, hidden=hidden, classes=classes, offsetl2_form=offsetl2_form)
    program = trainer.make_train(model, lr, epochs, eval_every, input_dim=x_tr.shape[1])
    init, run, evaluate = program.vmapped(seed_chunk=seed_chunk)
    device_data = trainer.to_device(dataset)
    params = init(trainer.seed_keys(seed, seeds))
    first = trainer.to_host(evaluate(params, device_data))
    params, metrics = run(params, device_data, epochs)
    metrics = trainer.to_host(metrics)
    out = {"epoch": np.arange(0, epochs + 1, eval_every)}
    for k in folder.METRICS:
        out[k] = np.concatenate([np.asarray(getattr(first, k))[:, None], np.asarray(getattr(metrics, k))], axis=1)
    return Fit(model, trainer.to_host(params), out)


def apply(model, params, x, seed: int | None = None) -> np.ndarray:
    """The model's outputs (logits) on inputs x (N, D) or images (N, ...): (S, N, C) for params with a leading
    seed axis (what `fit` and `load` return), or (N, C) for one seed's params or with seed=i."""
    x = _inputs(x, "x")
    kernel = params["hidden"]["kernel"]
    has_seed_axis = np.ndim(kernel) == 3
    if seed is not None:
        if not has_seed_axis:
            raise ValueError("seed= picks one seed of params with a leading seed axis; these params have none")
        params, has_seed_axis = jax.tree_util.tree_map(lambda a: a[seed], params), False
    if np.shape(kernel)[-2] != x.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features per example; the model was trained on {np.shape(kernel)[-2]}")
    one = lambda p: model.apply({"params": p}, x)
    out = jax.jit(jax.vmap(one) if has_seed_axis else one)(params)
    return np.asarray(out)


def load(vdir, step: int | None = None):
    """(model, params with a leading seed axis) of a run folder's variant folder, at its newest checkpoint or at
    epoch `step`: ready for `apply`."""
    return folder.load_model(vdir), folder.load_params(vdir, step)
