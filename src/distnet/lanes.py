"""A variant's lanes: every sweep point x every seed, trained side by side and stored flat in the run folder.

The layout is point-major: lane = point * seeds + seed index, so every point's seeds are one contiguous block and
a plain run is a sweep of one point (lane = seed index). This module is the only place that knows it: training,
the summaries, the run folder and the analysis all ask a `Lanes` (built from the config, or from a folder's
config.json record) which lanes belong to which point and seed. It imports no JAX.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from distnet import config

ORDER = "lane = point * seeds + seed index"
SHORT = {"lr": "lr", "init_scale": "init", "weight_decay": "wd"}


def swept(points: list[dict]) -> list[str]:
    """The axes (lr, init_scale, weight_decay) that take more than one value among `points`."""
    return [k for k in SHORT if len({p[k] for p in points}) > 1]


def point_label(point: dict, axes=None) -> str:
    """A sweep point in a few characters, its values on `axes` (default all): "lr=0.0003 wd=0.0001"."""
    return " ".join(f"{SHORT[k]}={point[k]:g}" for k in (axes or SHORT))


@dataclasses.dataclass(frozen=True, eq=False)
class Lanes:
    """points x seeds lanes, point-major. points: {"lr", "init_scale", "weight_decay"} dicts in lane order (the
    cross product of axes, lr-major: config.sweep_points); axes: each axis's values (config.sweep_axes)."""
    points: tuple
    seeds: int
    axes: dict

    @classmethod
    def from_config(cls, cfg) -> Lanes:
        """The lanes a config trains (a ConfigDict or its to_dict(), e.g. config.json's "config")."""
        return cls(tuple(config.sweep_points(cfg)), int(cfg["num_seeds"]), config.sweep_axes(cfg))

    @classmethod
    def from_record(cls, record: dict) -> Lanes:
        """The lanes a variant folder holds, from its config.json record (distnet.run.folder.read_config, which
        brings older records forward, so "lanes" is always there)."""
        lanes = record["lanes"]
        return cls(tuple(lanes["points"]), int(lanes["seeds"]), dict(lanes["axes"]))

    # --- the layout ---------------------------------------------------------------------------------------
    @property
    def n_points(self) -> int:
        return len(self.points)

    @property
    def n(self) -> int:
        """Every lane: points x seeds."""
        return self.n_points * self.seeds

    @property
    def is_sweep(self) -> bool:
        """More than one point (a plain run is a sweep of one point)."""
        return self.n_points > 1

    def lane(self, point: int, seed: int) -> int:
        return point * self.seeds + seed

    def point(self, lane: int) -> int:
        """The index of the sweep point lane `lane` trains."""
        return int(lane) // self.seeds

    def seed(self, lane: int) -> int:
        """The seed index (0..seeds-1 within its point) lane `lane` starts from."""
        return int(lane) % self.seeds

    def of_point(self, i: int) -> range:
        """The lanes of point i."""
        return range(self.lane(i, 0), self.lane(i + 1, 0))

    @property
    def seed_index(self) -> list[int]:
        """Each lane's seed index."""
        return [self.seed(lane) for lane in range(self.n)]

    def values(self, axis: str) -> list[float]:
        """Each lane's value of `axis` (lr, init_scale or weight_decay)."""
        return [self.points[self.point(lane)][axis] for lane in range(self.n)]

    # --- lanes that went NaN/Inf --------------------------------------------------------------------------
    def diverged(self, metrics: dict) -> np.ndarray:
        """(n,) the epoch each lane went NaN/Inf (0: never) from a metrics record (metrics.npz stores it only
        when some lane did)."""
        return np.asarray(metrics.get("diverged_epoch", np.zeros(self.n, np.int64)))

    def alive(self, diverged) -> np.ndarray:
        """(n,) bool: the lanes still finite, from the diverged epochs."""
        return np.asarray(diverged) == 0

    def alive_of_point(self, i: int, diverged) -> list[int]:
        """The lanes of point i that never went NaN/Inf."""
        return [lane for lane in self.of_point(i) if not diverged[lane]]

    def diverged_of_point(self, i: int, diverged) -> list[int]:
        """The lanes of point i that went NaN/Inf."""
        return [lane for lane in self.of_point(i) if diverged[lane]]

    # --- names --------------------------------------------------------------------------------------------
    @property
    def swept(self) -> list[str]:
        """The axes that take more than one value (none for a plain run)."""
        return swept(list(self.points))

    def point_label(self, i: int) -> str:
        """Point i by its swept values: "lr=0.001 wd=0.0001"."""
        return point_label(self.points[i], self.swept)

    def label(self, lane: int) -> str:
        """"seed 1", or in a sweep "seed 1 at lr=0.001"."""
        return f"seed {self.seed(lane)}" + (f" at {self.point_label(self.point(lane))}" if self.is_sweep else "")

    def record(self) -> dict:
        """What config.json records of the lanes: the axes, the points, the seeds and each lane's values."""
        return {"axes": self.axes, "points": list(self.points), "seeds": self.seeds, "order": ORDER,
                **{k: self.values(k) for k in self.points[0]}, "seed_index": self.seed_index}

    # --- arrays holding the lanes flat ------------------------------------------------------------------
    @staticmethod
    def to_grid(a, n_points: int):
        """(n, ...) -> (points, seeds, ...): an array (NumPy or JAX) of every lane as each point's block; a shape
        without data (jax.ShapeDtypeStruct) gives the same with the new shape."""
        shape = (n_points, a.shape[0] // n_points) + tuple(a.shape[1:])
        return a.reshape(shape) if hasattr(a, "reshape") else type(a)(shape, a.dtype)

    @staticmethod
    def to_flat(a):
        """(points, seeds, ...) -> (n, ...): the inverse of to_grid."""
        return a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])
