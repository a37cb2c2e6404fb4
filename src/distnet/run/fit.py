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

import warnings
from typing import NamedTuple

import jax
import numpy as np

import ml_collections

from distnet import config, data, npz
from distnet.config import ConfigError
from distnet.nn import layers
from distnet.nn import models
from distnet.run import folder, trainer


MAX_CLASSES = 2 ** 31 - 1     # labels are int32 on the device


class Fit(NamedTuple):
    """What `fit` returns. params: the variant's params, every leaf with a leading seed axis (S, ...);
    metrics: {"epoch": (E,), "train_loss"/"train_acc"/"test_acc": (S, E)}, epoch 0 = the initial params;
    model: the flax Module (for `apply`)."""
    model: object
    params: dict
    metrics: dict


def _labels(y, name: str, classes: int | None) -> tuple[np.ndarray, int | None]:
    """Integer labels (N,) from integer labels or one-hot / probability rows (N, C), and C for rows (else None)."""
    y = np.asarray(y)
    width = y.shape[1] if y.ndim == 2 else None
    if not (np.issubdtype(y.dtype, np.number) or (y.dtype == bool and y.ndim == 2)):   # bool: one-hot rows only
        kind = {"U": "strings", "S": "bytes", "b": "booleans", "O": "objects"}.get(y.dtype.kind, f"{y.dtype} values")
        example = f" such as {getattr(y.flat[0], 'item', lambda: y.flat[0])()!r}" if y.size else ""
        raise ValueError(f"{name} holds {kind}{example}, not class indices; give integers 0..C-1 (for other "
                         f"labels, np.unique({name}, return_inverse=True)[1] gives them)")
    if y.ndim == 2:
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(f"{name} must be integer labels (N,) or one-hot rows (N, classes); got shape {y.shape}")
    if np.iscomplexobj(y):
        raise ValueError(f"{name} holds complex numbers, not class indices")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name} holds non-integer labels such as {y[y != np.round(y)][0]!r}")
        y = y.astype(np.int64)
    if y.size and (y.min() < 0 or (classes is not None and y.max() >= classes) or y.max() >= MAX_CLASSES):
        raise ValueError(f"{name} holds labels outside 0..{min(classes or y.max() + 1, MAX_CLASSES) - 1}: min "
                         f"{y.min()}, max {y.max()}")
    return y.astype(np.int32), width      # within int32: no label wraps to another


def _classes(y_tr: np.ndarray, y_te: np.ndarray, widths: set) -> int:
    """The class count when `classes` is not given: the width of one-hot rows, else the largest label + 1,
    refused when a label below that occurs in neither split (labels {1, 2} would make 3 classes, one empty)."""
    if len(widths - {None}) > 1:
        raise ValueError(f"y_train and y_test are one-hot rows of different widths {sorted(widths - {None})}; "
                         f"give both the same classes")
    if widths - {None}:
        return (widths - {None}).pop()
    classes = int(max(y_tr.max(initial=0), y_te.max(initial=0))) + 1
    some, n = npz.unseen(classes, y_tr, y_te)
    if some:
        raise ValueError(f"y_train and y_test have no label {some} although their largest is {classes - 1}, so "
                         f"{'that class' if n == 1 else 'those classes'} would never be seen; relabel to "
                         f"0..C-1 (np.unique(y, return_inverse=True)[1]) or pass classes={classes} to train with "
                         f"{'an empty class' if n == 1 else 'empty classes'}")
    return classes


def _inputs(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise ValueError(f"{name} holds complex numbers; give real inputs (e.g. np.abs or the real part)")
    x = x.astype(np.float32)
    if x.ndim < 2:
        raise ValueError(f"{name} must hold one example per row, (N, features...); got shape {x.shape}")
    if not x.size:
        raise ValueError(f"{name} holds no values (shape {x.shape}): give at least one example with at least one "
                         f"feature")
    x = x.reshape(len(x), -1)        # images (N, 28, 28) or (N, 28, 28, 1) are flattened as the study does
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or Inf")
    return x


def check_settings(**settings) -> None:
    """fit's settings held to the rules train.py holds its config to (config.check and the OffsetL2 form: one
    validation for both doors); ConfigError naming the argument."""
    names = {"seeds": "num_seeds"}
    d = config.base().to_dict()
    d.update({names.get(k, k): v for k, v in settings.items()}, checkpoint_every=settings["epochs"],
             chunk_epochs=settings["epochs"])
    try:
        config.check(ml_collections.ConfigDict(d))
        layers.check_form(d["offsetl2_form"])
    except (ConfigError, TypeError) as e:
        text = str(e).replace("config.num_seeds", "seeds").replace("config.", "")
        raise ConfigError(text) from None


def fit(variant: str, x_train, y_train, x_test, y_test, *, seeds: int = 5, epochs: int = 100, lr: float = 1e-3,
        hidden: int = 128, eval_every: int = 1, seed: int = 0, classes: int | None = None,
        offsetl2_form: str = "paper", seed_chunk: int = 0) -> Fit:
    """Train `variant` (a name of distnet.nn.models, e.g. "ReLU" or "Abs2-Neg") on your arrays under the study's
    protocol: full-batch SGD at `lr` on softmax cross-entropy, one step per epoch, `seeds` seeds at once (seed i
    starts from fold_in(PRNGKey(seed), i), as in train.py).

    x_*: (N, D) or images (N, ...), any float; y_*: integer class indices 0..C-1 (N,) or one-hot rows (N, C);
    other labels (strings, {1, 2}, ...) are refused: np.unique(y, return_inverse=True)[1] maps them to 0..C-1.
    classes defaults to C of one-hot rows, else the largest label + 1, and then every label 0..C-1 must occur in
    y_train or y_test (labels {1, 2} are refused, not trained as 3 classes with an empty class 0; pass classes=
    to train with empty classes). Inputs are used as given (no scaling: the paper trains on raw pixels).
    Returns a Fit with params and metrics carrying a leading seed axis."""
    models.check_names([variant])
    check_settings(seeds=seeds, epochs=epochs, lr=lr, hidden=hidden, eval_every=eval_every, seed=seed,
                   seed_chunk=seed_chunk, offsetl2_form=offsetl2_form)
    x_tr, x_te = _inputs(x_train, "x_train"), _inputs(x_test, "x_test")
    if x_tr.shape[1] != x_te.shape[1]:
        raise ValueError(f"x_train has {x_tr.shape[1]} features per example but x_test has {x_te.shape[1]}")
    (y_tr, w_tr), (y_te, w_te) = _labels(y_train, "y_train", classes), _labels(y_test, "y_test", classes)
    for x, y, split in ((x_tr, y_tr, "train"), (x_te, y_te, "test")):
        if len(x) != len(y):
            raise ValueError(f"x_{split} has {len(x)} examples but y_{split} has {len(y)} labels")
    classes = classes or _classes(y_tr, y_te, {w_tr, w_te})
    dataset = data.Dataset(x_tr, y_tr, x_te, y_te, classes, info={"source": "arrays"})
    model = models.get(variant, hidden=hidden, classes=classes, offsetl2_form=offsetl2_form)
    train = trainer.make_train(model, input_dim=x_tr.shape[1], eval_every=eval_every, seed_chunk=seed_chunk)
    hp, device_data = trainer.Hyper.of(lr), trainer.to_device(dataset)
    params = train.init(trainer.seed_keys(seed, seeds), hp)
    first = trainer.to_host(train.evaluate(params, device_data))
    params, went_bad, metrics = train.run(params, hp, device_data, epochs)
    metrics = trainer.to_host(metrics)
    out = {"epoch": np.arange(0, epochs + 1, eval_every)}
    for k in folder.METRICS:
        out[k] = np.concatenate([np.asarray(getattr(first, k))[:, None], np.asarray(getattr(metrics, k))], axis=1)
    bad = np.asarray(trainer.to_host(went_bad))
    if bad.any():       # as train.py records it: the epoch each seed went NaN/Inf (0: it did not)
        warnings.warn(f"loss or parameters became NaN/Inf for seed(s) {np.flatnonzero(bad).tolist()} (epochs "
                      f"{bad[bad > 0].tolist()}): their metrics are NaN from then on; see metrics['diverged_epoch']")
        out["diverged_epoch"] = bad.astype(np.int64)
    return Fit(model, trainer.to_host(params), out)


def apply(model, params, x, seed: int | None = None) -> np.ndarray:
    """The model's outputs (logits) on inputs x (N, D) or images (N, ...): (S, N, C) for params with a leading
    seed axis (what `fit` and `load` return), or (N, C) for one seed's params or with seed=i (0 <= i < S)."""
    x = _inputs(x, "x")
    kernel = params["hidden"]["kernel"]
    has_seed_axis = np.ndim(kernel) == 3
    if seed is not None:
        if not has_seed_axis:
            raise ValueError("seed= picks one seed of params with a leading seed axis; these params have none")
        seeds = np.shape(kernel)[0]
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < seeds:
            raise ValueError(f"seed={seed!r} must pick one of the params' {seeds} seeds: an integer in "
                             f"0..{seeds - 1} (or seed=None for every seed)")
        params, has_seed_axis = jax.tree_util.tree_map(lambda a: a[seed], params), False
    if np.shape(kernel)[-2] != x.shape[1]:
        raise ValueError(f"x has {x.shape[1]} features per example; the model was trained on {np.shape(kernel)[-2]}")
    one = lambda p: model.apply({"params": p}, x)
    out = jax.jit(jax.vmap(one) if has_seed_axis else one)(params)
    return np.asarray(out)


def load(vdir, step: int | None = None):
    """(model, params with a leading seed axis) of a run folder's variant folder, at its newest checkpoint or at
    epoch `step`: ready for `apply`."""
    return models.from_record(folder.read_config(vdir)), folder.load_params(vdir, step)
