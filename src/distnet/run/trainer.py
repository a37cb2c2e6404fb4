"""The protocol as pure functions: full-batch SGD on softmax cross-entropy, one step per epoch.

`make_train` returns functions of ONE seed; the caller runs them under `jax.jit(jax.vmap(...))` so every
seed trains at once (`Trainer.vmapped` does this). Everything swept with seeds (keys, params) is an
argument, never a constant baked into the closure, so one compiled program serves the whole run.

Metric conventions (those of the paper's released scripts): at epoch e (1-based), `train_loss` and
`train_acc` come from the forward pass that computes epoch e's gradient (params before the update), and
`test_acc` from the params after it. Epoch 0 holds all three at the initial params.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from distnet.nn import models, split
from distnet.run import hosts
from distnet.run.precision import split_parts  # noqa: F401 (benchmarks import it from here)

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


class Trainer(NamedTuple):
    """A variant's training functions, each of ONE seed (what make_train returns); `jitted()` / `vmapped()` give
    them as jit(vmap(...)) over a leading seed axis. Data is a `Data` (see to_device). To train on your own
    arrays without building these pieces, use distnet.run.fit.fit."""
    init: Callable          # key -> params
    run: Callable           # (params, data, n_epochs) -> (params, Metrics of shape (n_epochs // eval_every,))
    evaluate: Callable      # (params, data) -> Metrics of scalars (train loss/acc and test acc at params)
    train: Callable         # (key, data) -> (params, Metrics): init + the whole run, one seed
    eval_every: int
    init_seeds: Callable    # keys (S, 2) -> params with a leading seed axis: jit(vmap(init)), shared (see jitted)
    run_lane: Callable      # (params, alive, Hyper, data, n_epochs) -> (params, went_bad, Metrics): one lane

    def jitted(self):
        """(init, run, evaluate) as jit(vmap(...)) over a leading seed axis, data shared by all seeds: the
        programs themselves (`.lower()` works on them), without vmapped()'s chunking and sharding. init is
        compiled once per process for every variant with the same parameters (models.param_twin); evaluate,
        which runs once per variant, is compiled with QUICK_COMPILE."""
        return (self.init_seeds,
                jax.jit(jax.vmap(self.run, in_axes=(0, None, None)), static_argnums=2),
                jax.jit(jax.vmap(self.evaluate, in_axes=(0, None)), compiler_options=QUICK_COMPILE))

    def vmapped(self, seed_chunk: int = 0, devices=None):
        """(init, run, evaluate) of `jitted()`, run chunk by chunk and sharded over devices.

        seed_chunk > 0 runs at most that many seeds at once (bounding memory); devices (default: every
        device JAX sees) shards each chunk's seeds over a `seeds` mesh axis. Seeds never interact, so
        neither changes any seed's numbers beyond float reassociation in the matmuls (tests bound it)."""
        spread = SeedSpread(seed_chunk, devices)
        return tuple(spread(f) for f in self.jitted())


class SeedSpread:
    """Runs a seed-vmapped function chunk by chunk, each chunk sharded over the devices' `seeds` axis (the
    first argument's axis `axis`: 0, or 1 under a Sweep's leading point axis)."""

    def __init__(self, seed_chunk: int = 0, devices=None, axis: int = 0):
        self.seed_chunk, self.axis = seed_chunk, axis
        self.devices = list(devices if devices is not None else jax.devices())

    def sharding(self, n_seeds: int):
        """NamedSharding of n_seeds over the most devices that divide it (None on one device)."""
        n_dev = max(d for d in range(1, len(self.devices) + 1) if n_seeds % d == 0)
        if n_dev == 1:
            return None
        mesh = jax.sharding.Mesh(np.array(self.devices[:n_dev]), ("seeds",))
        return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(*[None] * self.axis, "seeds"))

    def __call__(self, f):
        ax = self.axis

        def spread(seeded, *args):
            n = jax.tree.leaves(seeded)[0].shape[ax]
            size = self.seed_chunk or n
            if size >= n and self.sharding(n) is None:      # the common case: no slicing, no placement
                return f(seeded, *args)
            outs = []
            for lo in range(0, n, size):
                chunk = jax.tree.map(lambda a: a[(slice(None),) * ax + (slice(lo, lo + size),)], seeded)
                sharding = self.sharding(jax.tree.leaves(chunk)[0].shape[ax])
                if sharding is not None:
                    chunk = jax.tree.map(lambda x: _place(x, sharding), chunk)
                outs.append(f(chunk, *args))
            if len(outs) == 1:
                return outs[0]
            return jax.tree.map(lambda *parts: jnp.concatenate(parts, axis=ax), *outs)
        return spread


def _place(x, sharding):
    """device_put onto `sharding`; a sharding over other processes' devices too (multi-process runs) takes a
    host array that every process holds in full (a restored checkpoint), or an array already spread over it."""
    if sharding.is_fully_addressable or (isinstance(x, jax.Array) and not x.is_fully_addressable):
        return jax.device_put(x, sharding)
    return jax.device_put(np.asarray(x), sharding)


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


@functools.lru_cache(maxsize=None)
def _init_program(model, input_dim: int):
    """jit(vmap(key -> params of `model`)), one per (module, input width) for the whole process: XLA:CPU takes
    seconds to compile the random draws of 20 seeds, and the six main variants share their parameters' twin."""
    return jax.jit(jax.vmap(lambda key: model.init(key, jnp.zeros((1, input_dim), jnp.float32))["params"]))


class Hyper(NamedTuple):
    """The values one sweep point trains with (float32 scalars; a leading point axis in a Sweep)."""
    lr: jax.Array
    weight_decay: jax.Array
    init_scale: jax.Array


def hyper(points) -> Hyper:
    """Hyper with a leading point axis from config.sweep_points(cfg) ({"lr", "init_scale", "weight_decay"} dicts)."""
    return Hyper(*(np.asarray([p[k] for p in points], np.float32) for k in Hyper._fields))


def _all_finite(tree) -> jax.Array:
    return jnp.stack([jnp.isfinite(x).all() for x in jax.tree_util.tree_leaves(tree)]).all()


def make_train(model, lr: float, epochs: int = 0, eval_every: int = 1, *, input_dim: int,
               weight_decay: float = 0.0) -> Trainer:
    """Pure single-seed training functions for `model` (a flax Module) under the paper's protocol; input_dim is
    the number of input features (784 for MNIST), which init needs to shape the first layer.

    `run_lane` takes the lr and weight decay as (traced) arguments, so one compiled program trains every sweep
    point; `run` and `train` are it at this lr and weight decay."""
    default = Hyper(np.float32(lr), np.float32(weight_decay), np.float32(1.0))

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

    def run_lane(params, alive, hp: Hyper, data: Data, n_epochs: int):
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

    def run(params, data: Data, n_epochs: int):
        params, _, metrics = run_lane(params, True, default, data, n_epochs)
        return params, metrics

    def train(key, data: Data):
        return run(init(key), data, epochs)

    return Trainer(init, run, evaluate, train, eval_every, _init_program(models.param_twin(model), input_dim),
                   run_lane)
