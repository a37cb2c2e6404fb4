"""Which initialisation of the distance heads trains under the paper's protocol: a short run on real MNIST.

    DISTNET_DATA_DIR=../shared/data python benchmarks/head_inits.py [--n-train 5000] [--epochs 300] [--seeds 3]

Raw 0..255 pixels, PyTorch-default first layer, plain full-batch SGD at lr 1e-3 (the protocol), on the first
n_train training images; test accuracy on the whole test set. Each row starts from the variant's own
initialisation with the output layer's parameters replaced as named, and prints train loss and test accuracy
at a few epochs (mean over seeds, and the worst seed), NaN marking a diverged seed. The Linear and OffsetL2
heads are the yardsticks.
"""
from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from distnet import config, data
from distnet.nn import heads, models
from distnet.run import trainer


def _scaled(name, factor):
    return lambda p, key: {**p, name: p[name] * factor}


def _const(name, value):
    return lambda p, key: {**p, name: jnp.full_like(p[name], value)}


def _normal(name, std):
    return lambda p, key: {**p, name: std * jax.random.normal(key, p[name].shape)}


def _identity_P(p, key):
    C, R, H = p["P"].shape
    return {**p, "P": jnp.broadcast_to(jnp.eye(R, H), (C, R, H))}


def _chain(*fs):
    def f(p, key):
        for i, g in enumerate(fs):
            p = g(p, jax.random.fold_in(key, i))
        return p
    return f


S = heads.SPREAD
H = 128
# (variant, label, transform of params["output"] for one seed); None = the variant's own init
CASES = [
    ("ReLU", "Linear head (yardstick)", None),
    ("ReLU-L2-Neg", "OffsetL2 (yardstick)", None),
    ("ReLU-RBF", f"p = 1/{S:g}^2, mu ~ N(0, {S:g}^2) (default)", None),
    ("ReLU-RBF", f"p = 1/{S:g}^2, mu ~ N(0, 0.1^2) (OffsetL2's mu)", _normal("mu", 0.1)),
    ("ReLU-RBF", "p = 1, mu ~ N(0, 0.1^2) (OffsetL2's mu and alpha = 1)",
     _chain(_normal("mu", 0.1), _const("log_precision", 0.0))),
    ("ReLU-RBF", f"p = 1/(H {S:g}^2), mu ~ N(0, 0.1^2): logits O(1) at init",
     _chain(_normal("mu", 0.1), _const("log_precision", -math.log(H * S * S)))),
    ("ReLU-MD-Neg", f"P ~ U(+-1/sqrt(H)) / {S:g} (default), mu ~ N(0, 0.1^2)", None),
    ("ReLU-MD-Neg", "P ~ U(+-1/sqrt(H)) (PyTorch Linear)", _scaled("P", S)),
    ("ReLU-MD-Neg", "P = I (OffsetL2 with alpha = 1)", _identity_P),
    ("ReLU-MD", f"P ~ U(+-1/sqrt(H)) / {S:g} (default)", None),
    ("ReLU-MD", "P ~ U(+-1/sqrt(H))", _scaled("P", S)),
    ("ReLU-MD", "P = I", _identity_P),
    ("Abs", "Linear head (yardstick)", None),
    ("Abs-L2-Neg", "OffsetL2 (yardstick)", None),
    ("Abs-RBF", f"p = 1/{S:g}^2, mu ~ N(0, {S:g}^2) (default)", None),
    ("Abs-RBF", f"p = 1/{S:g}^2, mu ~ N(0, 0.1^2)", _normal("mu", 0.1)),
    ("Abs-RBF", "p = 1, mu ~ N(0, 0.1^2)", _chain(_normal("mu", 0.1), _const("log_precision", 0.0))),
    ("Abs-MD-Neg", f"P ~ U(+-1/sqrt(H)) / {S:g} (default)", None),
    ("Abs-MD-Neg", "P ~ U(+-1/sqrt(H))", _scaled("P", S)),
    ("Abs-MD", f"P ~ U(+-1/sqrt(H)) / {S:g} (default)", None),
    ("Abs-MD", "P ~ U(+-1/sqrt(H))", _scaled("P", S)),
]


def run_case(variant, transform, d, epochs, seeds, eval_every):
    model = models.get(variant)
    train, hp = trainer.make_train(model, eval_every=eval_every, input_dim=d.x_train.shape[-1]), trainer.Hyper.of(1e-3)
    keys = trainer.seed_keys(0, seeds)
    params = train.init(keys, hp)
    if transform is not None:
        out = jax.vmap(transform)(params["output"], jax.vmap(lambda k: jax.random.fold_in(k, 99))(keys))
        params = {**params, "output": out}
    _, _, m = train.run(params, hp, d, epochs)
    return jax.tree.map(np.asarray, m)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--only", default="", help="comma list of variants to run (default: all)")
    ap.add_argument("--cases", default="", help="comma list of row numbers (0-based) to run (default: all)")
    args = ap.parse_args()
    dcfg = config.base().data
    dcfg.source, dcfg.n_train = "idx", args.n_train
    ds = data.load(dcfg)
    d = trainer.to_device(ds)
    print(f"MNIST raw, {len(ds.x_train)} train / {len(ds.x_test)} test, {args.seeds} seeds, {args.epochs} epochs, "
          f"lr 1e-3 full batch; {jax.devices()[0].device_kind}")
    cols = list(range(args.eval_every, args.epochs + 1, args.eval_every))
    print("| variant | output-layer init | train loss (mean) at " + ", ".join(map(str, cols)) +
          " | test acc % mean [worst seed] at the same epochs | diverged seeds | s |")
    print("|---|---|---|---|---|---|")
    only = [v for v in args.only.split(",") if v]
    cases = [int(i) for i in args.cases.split(",") if i]
    for i, (variant, label, transform) in enumerate(CASES):
        if (only and variant not in only) or (cases and i not in cases):
            continue
        t0 = time.perf_counter()
        m = run_case(variant, transform, d, args.epochs, args.seeds, args.eval_every)
        bad = int((~np.isfinite(m.train_loss).all(axis=1)).sum())
        loss = ", ".join(f"{v:.3g}" for v in np.nanmean(m.train_loss, 0))
        acc = ", ".join(f"{100 * a:.1f} [{100 * w:.1f}]" for a, w in zip(m.test_acc.mean(0), m.test_acc.min(0)))
        print(f"| {variant} | {label} | {loss} | {acc} | {bad} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
