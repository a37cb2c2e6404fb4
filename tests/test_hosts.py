"""distnet.run.hosts in a single process: every function is the identity or a no-op (the multi-process path
runs in tests/integration/test_multiprocess.py)."""
from __future__ import annotations

from distnet.run import hosts


def test_a_single_process_writes_and_never_waits():
    assert not hosts.multiprocess()
    assert hosts.primary()
    hosts.barrier("anything")            # returns at once: nobody to wait for
    assert hosts.agree_max(0) == 0 and hosts.agree_max(15) == 15
