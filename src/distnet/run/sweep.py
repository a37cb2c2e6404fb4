"""A sweep: every sweep point of a variant (lr, weight decay, init scale) x every seed as lanes of one compiled
program per function, built on the single-seed functions of distnet.run.trainer: Sweep(make_train(...), hyper(points)).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from distnet.lanes import Lanes
from distnet.run.trainer import QUICK_COMPILE, Data, Hyper, Metrics, SeedSpread, Trainer


class Sweep:
    """A variant's lanes: every sweep point x every seed, one compiled program per function (init, run, evaluate).

    Outside, arrays hold the lanes flat (L = points x seeds, point-major: distnet.lanes), as run folders store
    them. Inside, each program runs the points one after another (lax.map) and vmaps each point's
    seeds: every point's block is then the very computation of a run of that point alone with the same seeds,
    equal to it bit for bit. (Vmapping the points too would put them beside the seeds in the first layer's wide
    GEMM, whose blocking on XLA:CPU depends on its width: every lane's last bits would change with the sweep's
    size, measured.) Memory is that of the seeds alone, whatever the number of points; seed_chunk and devices
    chunk and shard the seeds axis as for a single point (SeedSpread)."""

    def __init__(self, trainer: Trainer, hp: Hyper, seed_chunk: int = 0, devices=None):
        self.hyper = Hyper(*(np.asarray(h, np.float32).reshape(-1) for h in hp))
        self.points = len(self.hyper.lr)
        spread = SeedSpread(seed_chunk, devices, axis=1)
        run_seeds = jax.vmap(trainer.run_lane, in_axes=(0, 0, None, None, None))
        eval_seeds = jax.vmap(trainer.evaluate, in_axes=(0, None))

        def run(state_PxS, hp_P, data, n_epochs):
            params, alive = state_PxS
            return self._over_points(lambda x: run_seeds(x[0], x[1], x[2], data, n_epochs), (params, alive, hp_P))

        def evaluate(params_PxS, data):
            return self._over_points(lambda p: eval_seeds(p, data), params_PxS)

        self._run = spread(jax.jit(run, static_argnums=3))
        self._evaluate = spread(jax.jit(evaluate, compiler_options=QUICK_COMPILE))
        self._init = SeedSpread(seed_chunk, devices)(trainer.init_seeds)

    def _over_points(self, f, per_point):
        """f over the leading point axis of `per_point`: lax.map, or a plain call for a single point."""
        if self.points == 1:
            return jax.tree.map(lambda a: a[None], f(jax.tree.map(lambda a: a[0], per_point)))
        return jax.lax.map(f, per_point)

    def _split(self, tree):
        return jax.tree.map(lambda a: Lanes.to_grid(a, self.points), tree)

    @staticmethod
    def _flat(tree):
        return jax.tree.map(Lanes.to_flat, tree)

    def init(self, keys_S):
        """Initial params of every lane (L = points x seeds): each seed's draw times its point's init_scale."""
        return self._flat(_scaled_points(self._init(keys_S), jnp.asarray(self.hyper.init_scale)))

    def run(self, params_L, alive_L, data: Data, n_epochs: int):
        """n_epochs of every lane -> (params_L, went_bad_L, Metrics (L, n_epochs // eval_every)); see run_lane."""
        out = self._run(self._split((params_L, jnp.asarray(alive_L, bool))),
                        Hyper(*map(jnp.asarray, self.hyper)), data, n_epochs)
        return self._flat(out)

    def evaluate(self, params_L, data: Data) -> Metrics:
        return self._flat(self._evaluate(self._split(params_L), data))


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
