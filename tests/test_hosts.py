"""distnet.run.hosts in a single process: every function is the identity or a no-op (the multi-process path
runs in tests/integration/test_multiprocess.py)."""
from __future__ import annotations

from distnet.run import hosts


def test_a_single_process_writes_and_never_waits():
    assert not hosts.multiprocess()
    assert hosts.primary()
    hosts.barrier("anything")            # returns at once: nobody to wait for
    assert hosts.agree_max(0) == 0 and hosts.agree_max(15) == 15


def test_gather_in_a_single_process_is_every_leaf_as_numpy():
    import jax.numpy as jnp
    import numpy as np
    out = hosts.gather({"a": jnp.arange(3.0), "b": [np.ones(2), 1.5]})
    assert isinstance(out["a"], np.ndarray) and out["a"].tolist() == [0.0, 1.0, 2.0]
    assert isinstance(out["b"][1], np.ndarray) and out["b"][1] == 1.5
