"""The protocol as pure functions of ONE lane (a seed at one sweep point): full-batch SGD on softmax
cross-entropy, one step per epoch.

`lane(model, ...)` returns them; distnet.run.trainer.make_train compiles them for every lane at once (jit, vmap
over seeds, the sweep points one after another). Everything that differs between lanes (keys, params, lr, weight
decay) is an argument, never a constant baked into the closure, so one compiled program serves the whole run.

Metric conventions (those of the paper's released scripts): at epoch e (1-based), `train_loss` and
`train_acc` come from the forward pass that computes epoch e's gradient (params before the update), and
`test_acc` from the params after it. Epoch 0 holds all three at the initial params.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from distnet.nn import split
from distnet.run import hosts

# For programs run once or a few times (epoch-0 metrics, analysis): XLA:GPU compiles them several times faster
# without autotuning its matmuls and without Triton GEMM kernels (measured on an H200: benchmarks/RESULTS.md);
# ignored on other backends.
QUICK_COMPILE = {"xla_gpu_autotune_level": 0, "xla_gpu_enable_triton_gemm": False}
@flax.struct.dataclass
class Data:
    """Device-resident arrays; passed as an argument (never closed over) so XLA does not embed them.

    x_train and x_test are the inputs as the network reads them, (N, D). How they are stored is a speed
    matter: with `transposed`, as (D, N) in x_train_stored/x_test_stored (XLA:CPU runs the first layer's x @ W
    faster reading x column-major, benchmarks/RESULTS.md; the transpose folds into the matmul, so no copy is
    made); with a config.split, as split.SplitInput (never transposed), and the first layer runs as 16-bit
    parts."""
    x_train_stored: jax.Array | split.SplitInput
    y_train: jax.Array
    x_test_stored: jax.Array | split.SplitInput
    y_test: jax.Array
    transposed: bool = flax.struct.field(pytree_node=False, default=False)

    @property
    def x_train(self):
        return self.x_train_stored.T if self.transposed else self.x_train_stored

    @property
    def x_test(self):
        return self.x_test_stored.T if self.transposed else self.x_test_stored

    @property
    def first_layer(self) -> dict:
        """How the first layer runs on this data: {"split": off | bf16 | fp16, "parts": n} (recorded per run)."""
        if isinstance(self.x_train_stored, split.SplitInput):
            return {"split": self.x_train_stored.kind, "parts": self.x_train_stored.parts}
        return {"split": "off", "parts": 0}


class Metrics(NamedTuple):
    train_loss: jax.Array
    train_acc: jax.Array
    test_acc: jax.Array


def to_host(tree):
    """Device arrays -> numpy; across processes (multi-host runs) every process gets every seed."""
    return hosts.gather(tree)


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """Key of seed index i = fold_in(PRNGKey(seed), i): independent of num_seeds and of the variant,
    so variants sharing a first layer start from identical first-layer weights."""
    return jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(jnp.arange(num_seeds))


def to_device(dataset, transposed: bool | None = None, split_kind: str = "off", parts: int = 0) -> Data:
    """A dataset's arrays on the default device, once. transposed=None: column-major inputs on CPU only
    (measured faster there; not measured elsewhere). split_kind "bf16" | "fp16": the inputs as
    split.SplitInput of `parts` parts (config.split; ValueError unless every input value is exact in that
    format), never transposed."""
    inputs = (dataset.x_train, dataset.x_test)
    if split_kind != "off":
        xs, transposed = [split.split_input(x_NxD, parts, split_kind) for x_NxD in inputs], False
    else:
        if transposed is None:
            transposed = jax.default_backend() == "cpu"
        xs = [jnp.asarray(np.ascontiguousarray(x_NxD.T) if transposed else x_NxD) for x_NxD in inputs]
    return Data(xs[0], jnp.asarray(dataset.y_train), xs[1], jnp.asarray(dataset.y_test), transposed=transposed)


class Hyper(NamedTuple):
    """The values one sweep point trains with (float32 scalars; a leading point axis for several points)."""
    lr: jax.Array
    weight_decay: jax.Array
    init_scale: jax.Array

    @classmethod
    def of(cls, lr: float, weight_decay: float = 0.0, init_scale: float = 1.0) -> "Hyper":
        """One point, with a leading point axis of 1 (what distnet.run.trainer.Trainer takes)."""
        return hyper([{"lr": lr, "weight_decay": weight_decay, "init_scale": init_scale}])


def hyper(points) -> Hyper:
    """Hyper with a leading point axis from config.sweep_points(cfg) ({"lr", "init_scale", "weight_decay"} dicts)."""
    return Hyper(*(np.asarray([p[k] for p in points], np.float32) for k in Hyper._fields))


def _all_finite(tree) -> jax.Array:
    return jnp.stack([jnp.isfinite(x).all() for x in jax.tree_util.tree_leaves(tree)]).all()


class Lane(NamedTuple):
    """One lane's pure functions (what `lane` returns); jit and vmap them as you like, or let
    distnet.run.trainer.make_train compile them for every lane."""
    init: Callable          # key -> params (init scale 1: PyTorch's default draws)
    run: Callable           # (params, alive, Hyper of scalars, data, n_epochs) -> (params, went_bad, Metrics (E,))
    evaluate: Callable      # (params, data) -> Metrics of scalars (train loss/acc and test acc at params)
    eval_every: int


def lane(model, *, input_dim: int, eval_every: int = 1) -> Lane:
    """The paper's protocol for `model` (a flax Module) as pure functions of one lane; input_dim is the number of
    input features (784 for MNIST), which init needs to shape the first layer. Metrics are recorded every
    `eval_every` epochs: run's Metrics have n_epochs // eval_every entries."""

    def init(key):
        return model.init(key, jnp.zeros((1, input_dim), jnp.float32))["params"]

    def loss_and_logits(params, x_NxD, y_N):
        logits_NxC = model.apply({"params": params}, x_NxD)
        return optax.softmax_cross_entropy_with_integer_labels(logits_NxC, y_N).mean(), logits_NxC

    def accuracy(logits_NxC, y_N):
        return jnp.mean(jnp.argmax(logits_NxC, axis=-1) == y_N)

    def evaluate(params, data: Data) -> Metrics:
        loss, logits_NxC = loss_and_logits(params, data.x_train, data.y_train)
        test_logits_NxC = model.apply({"params": params}, data.x_test)
        return Metrics(loss, accuracy(logits_NxC, data.y_train), accuracy(test_logits_NxC, data.y_test))

    def run(params, alive, hp: Hyper, data: Data, n_epochs: int):
        """n_epochs of one lane from `params` -> (params, went_bad, Metrics of shape (n_epochs // eval_every,)).

        Plain SGD with weight decay: p <- p - lr grad(cross-entropy) - lr wd p, which is SGD on
        cross-entropy + wd/2 ||p||^2 (every parameter) with the recorded loss kept the data's own; at wd = 0 it is
        optax.sgd's update to the bit. A lane whose loss or new params are NaN/Inf at epoch t
        stops updating (its params stay those before t) and records NaN metrics from t on; went_bad is that t,
        counted from 1 within this call (0: still finite). A lane passed in with alive=False stays stopped."""
        if n_epochs % eval_every:
            raise ValueError(f"n_epochs={n_epochs} is not a multiple of eval_every={eval_every}")
        # p + step g first, then the decay: XLA:CPU contracts a multiply feeding an add into one FMA, and this order
        # leaves p + step g contracted as in optax.sgd's update, with the decay's own FMA adding exactly 0 at wd = 0
        # (the form (1 - lr wd) p + step g lets XLA pair p's multiply with the add instead: other last bits)
        step, shrink, nan = -hp.lr, hp.lr * hp.weight_decay, jnp.float32(jnp.nan)

        def epoch(carry, t):
            params, alive, went_bad = carry
            (loss, logits_NxC), grads = jax.value_and_grad(loss_and_logits, has_aux=True)(
                params, data.x_train, data.y_train)
            new = jax.tree.map(lambda p, g: (p + step * g) - shrink * p, params, grads)
            ok = alive & jnp.isfinite(loss) & _all_finite(new)
            params = jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, params)
            went_bad = jnp.where(alive & ~ok, t, went_bad)
            return (params, ok, went_bad), (jnp.where(ok, loss, nan),
                                           jnp.where(ok, accuracy(logits_NxC, data.y_train), nan))

        def block(carry, b):
            carry, (loss_E, acc_E) = jax.lax.scan(epoch, carry, b * eval_every + jnp.arange(1, eval_every + 1))
            test_acc = accuracy(model.apply({"params": carry[0]}, data.x_test), data.y_test)
            return carry, Metrics(loss_E[-1], acc_E[-1], jnp.where(carry[1], test_acc, nan))

        start = (params, jnp.asarray(alive, bool), jnp.int32(0))
        (params, _, went_bad), metrics = jax.lax.scan(block, start, jnp.arange(n_epochs // eval_every))
        return params, went_bad, metrics

    return Lane(init, run, evaluate, eval_every)
