"""Training every lane of a variant at once: `make_train(model, ...)` returns a Trainer whose init, run and evaluate
each run ONE compiled program over all lanes (every sweep point x every seed; a plain run is one point).

    train = trainer.make_train(model, input_dim=784)
    hp = trainer.Hyper.of(lr=1e-3)                       # or trainer.hyper(config.sweep_points(cfg))
    params = train.init(trainer.seed_keys(0, 20), hp)    # lanes on the leading axis: points x seeds, point-major
    params, went_bad, metrics = train.run(params, hp, data, 100)

The hyperparameters are always arguments of the compiled programs, so one compilation serves every point. The
pure single-lane functions it is built of are distnet.run.protocol's (`train.lane`).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from distnet.lanes import Lanes
from distnet.nn import models
from distnet.run import protocol
# the protocol's values and helpers, so callers need one import (distnet.run.protocol defines them)
from distnet.run.protocol import (QUICK_COMPILE, Data, Hyper, Lane, Metrics, hyper, seed_keys,  # noqa: F401
                                  to_device, to_host)


class Trainer:
    """A variant's lanes, one compiled program per function (init, run, evaluate).

    Outside, arrays hold the lanes flat (L = points x seeds, point-major: distnet.lanes), as run folders store
    them. Inside, each program runs the points one after another (lax.map) and vmaps each point's
    seeds: every point's block is then the very computation of a run of that point alone with the same seeds,
    equal to it bit for bit. (Vmapping the points too would put them beside the seeds in the first layer's wide
    GEMM, whose blocking on XLA:CPU depends on its width: every lane's last bits would change with the sweep's
    size, measured.) Memory is that of the seeds alone, whatever the number of points; seed_chunk > 0 runs at
    most that many seeds at once and devices (default: every device JAX sees) shards each chunk's seeds over a
    `seeds` mesh axis (SeedSpread). Seeds never interact, so neither changes any seed's numbers beyond float
    reassociation in the matmuls (tests bound it)."""

    def __init__(self, lane: Lane, init_seeds, seed_chunk: int = 0, devices=None):
        self.lane = lane      # its eval_every is the Trainer's
        spread = SeedSpread(seed_chunk, devices, axis=1)
        run_seeds = jax.vmap(lane.run, in_axes=(0, 0, None, None, None))
        eval_seeds = jax.vmap(lane.evaluate, in_axes=(0, None))

        def run(state_PxS, hp_P, data, n_epochs):
            params_PxS, alive_PxS = state_PxS
            return _over_points(lambda x: run_seeds(x[0], x[1], x[2], data, n_epochs), (params_PxS, alive_PxS, hp_P))

        def evaluate(params_PxS, data):
            return _over_points(lambda p: eval_seeds(p, data), params_PxS)

        # the run program itself, on the (points, seeds) grid, unchunked (`.lower()` and jax.export work on it):
        # run_program((params, alive), hp, data, n_epochs)
        self.run_program = jax.jit(run, static_argnums=3)
        self._run = spread(self.run_program)
        self._evaluate = spread(jax.jit(evaluate, compiler_options=QUICK_COMPILE))
        self._init = SeedSpread(seed_chunk, devices)(init_seeds)

    def init(self, keys_S, hp: Hyper):
        """Initial params of every lane (L = points x seeds): each seed's draw times its point's init_scale."""
        return _flat(_scaled_points(self._init(keys_S), jnp.asarray(_points(hp).init_scale)))

    def run(self, params_L, hp: Hyper, data: Data, n_epochs: int, alive_L=None):
        """n_epochs of every lane -> (params_L, went_bad_L, Metrics (L, n_epochs // eval_every)); see
        protocol.lane. alive_L (default: every lane) marks lanes that went NaN/Inf earlier: they stay stopped."""
        return _flat(self._run(*_arguments(params_L, hp, alive_L), data, n_epochs))

    def lower(self, params_L, hp: Hyper, data: Data, n_epochs: int):
        """(run_program lowered for these lanes and shapes, unchunked; the arguments it takes): for XLA's memory
        analysis, and for timing `lowered.compile()(*args)`, which returns run's outputs on the (points, seeds)
        grid. params_L may be jax.ShapeDtypeStructs."""
        args = (*_arguments(params_L, hp, None), data)
        return self.run_program.lower(*args, n_epochs), args

    def evaluate(self, params_L, data: Data, points: int = 1) -> Metrics:
        """Metrics (L,) of every lane at params_L; `points`, the number of sweep points among the lanes, keeps each
        point's arithmetic that of its run alone (any value gives the same numbers up to float reassociation)."""
        return _flat(self._evaluate(_grid(params_L, points), data))


def make_train(model, *, input_dim: int, eval_every: int = 1, seed_chunk: int = 0, devices=None) -> Trainer:
    """The Trainer of `model` (a flax Module) under the paper's protocol: input_dim is the number of input features
    (784 for MNIST); metrics every `eval_every` epochs; seed_chunk / devices as in Trainer. init is compiled once
    per process for every variant with the same parameters (models.param_twin)."""
    return Trainer(protocol.lane(model, input_dim=input_dim, eval_every=eval_every),
                   _init_program(models.param_twin(model), input_dim), seed_chunk, devices)


def _points(hp: Hyper) -> Hyper:
    return Hyper(*(np.asarray(h, np.float32).reshape(-1) for h in hp))


def _arguments(params_L, hp: Hyper, alive_L):
    """The run program's (params, alive) on the (points, seeds) grid and its Hyper, from flat lanes."""
    hp = _points(hp)
    n_lanes = jax.tree.leaves(params_L)[0].shape[0]
    if n_lanes % len(hp.lr):
        raise ValueError(f"{n_lanes} lanes cannot be {len(hp.lr)} sweep points x seeds")
    alive_L = np.ones(n_lanes, bool) if alive_L is None else alive_L
    return _grid((params_L, jnp.asarray(alive_L, bool)), len(hp.lr)), Hyper(*map(jnp.asarray, hp))


def _over_points(f, per_point):
    """f over the leading point axis of `per_point`: lax.map, or a plain call for a single point."""
    if jax.tree.leaves(per_point)[0].shape[0] == 1:
        return jax.tree.map(lambda a: a[None], f(jax.tree.map(lambda a: a[0], per_point)))
    return jax.lax.map(f, per_point)


def _grid(tree, points: int):
    return jax.tree.map(lambda a: Lanes.to_grid(a, points), tree)


def _flat(tree):
    return jax.tree.map(Lanes.to_flat, tree)


@functools.lru_cache(maxsize=None)
def _init_program(model, input_dim: int):
    """jit(vmap(key -> params of `model`)), one per (module, input width) for the whole process: XLA:CPU takes
    seconds to compile the random draws of 20 seeds, and the six main variants share their parameters' twin."""
    return jax.jit(jax.vmap(lambda key: model.init(key, jnp.zeros((1, input_dim), jnp.float32))["params"]))


@jax.jit
def _scaled_points(params_S, scale_P):
    """(P, S, ...) params: the seeds' draws once per point, each point's Linear layers times its scale."""
    return jax.vmap(lambda s: scale_init(params_S, s))(scale_P)


def scale_init(params, scale):
    """params with every Linear's kernel and bias times `scale`: PyTorch's default bound 1/sqrt(fan_in) times it
    (OffsetL2's mu and alpha are not PyTorch draws and stay as drawn). scale 1.0 leaves every bit as it was."""
    def scaled(path, a):
        return a * scale if getattr(path[-1], "key", None) in ("kernel", "bias") else a
    return jax.tree_util.tree_map_with_path(scaled, params)


class SeedSpread:
    """Runs a seed-vmapped function chunk by chunk, each chunk sharded over the devices' `seeds` axis (the
    first argument's axis `axis`: 0, or 1 under the leading point axis)."""

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
