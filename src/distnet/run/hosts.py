"""Multi-process runs (several hosts, or several processes on one): who writes, and where they agree.

With `config.distributed`, every process runs the same `train.py` command; `jax.distributed.initialize()`
finds the coordinator, the process count and this process's id in the cluster's environment (SLURM, Open MPI,
Kubernetes, Cloud TPU; see JAX's docs). Seeds are sharded over every device of every process, each process
computes its own seeds, metrics are gathered to all of them, and:

- process 0 alone writes JSON, metrics and summaries; Orbax checkpoints are written by all processes together,
  so the work folder must be one folder every process sees (a shared filesystem or a bucket);
- processes meet at `barrier`s where one must not run ahead of another's writes, and take a stop (SIGINT or
  SIGTERM on any of them) together at a chunk boundary (`agree_max`), so none waits forever in a collective.

Every function here is a no-op, or the identity, in a single-process run.
"""
from __future__ import annotations

import jax
import numpy as np


def initialize() -> None:
    """jax.distributed.initialize() from the cluster's environment; must run before anything touches a device."""
    if not jax.distributed.is_initialized():
        jax.distributed.initialize()


def multiprocess() -> bool:
    """True in a run of several processes (never initialises a backend in a single-process one)."""
    return jax.distributed.is_initialized() and jax.process_count() > 1


def primary() -> bool:
    """True on the process that writes files: process 0, or the only one."""
    return not multiprocess() or jax.process_index() == 0


def gather(tree):
    """Every leaf as a numpy array on this process: a device array spread over several processes (seeds sharded
    over hosts) is gathered from all of them (a collective: every process must call this with the same tree)."""
    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            from jax.experimental import multihost_utils
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))
    return jax.tree.map(one, tree)


def barrier(name: str) -> None:
    """Wait until every process reaches the barrier of the same name."""
    if multiprocess():
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(name)


def agree_max(value: int) -> int:
    """The largest of every process's `value` (e.g. a pending signal number, 0 when none)."""
    if not multiprocess():
        return value
    from jax.experimental import multihost_utils
    return int(np.max(multihost_utils.process_allgather(np.array([value], np.int32))))
