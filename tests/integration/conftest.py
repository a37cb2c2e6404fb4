"""Fixtures of the end-to-end tests: run train.py in a subprocess, compare two run folders bit for bit.

Subprocesses share the session's JAX persistent compilation cache (tests/conftest.py) so each costs an import and a
cache load rather than a compile; the cache stores the same executables, so results are unchanged.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import train_process
from runcheck import SMOKE


@pytest.fixture(scope="session")
def cli():
    """cli(workdir, *flags, fault=None, wait=True) -> CompletedProcess (or Popen when wait=False)."""
    def run(workdir, *flags, fault: str | None = None, wait: bool = True):
        env = dict(JAX_PLATFORMS="cpu", DISTNET_FAULT=fault)
        return train_process(*SMOKE, f"--workdir={workdir}", *flags, env=env, wait=wait)
    return run


@pytest.fixture(scope="session")
def reference(cli, tmp_path_factory) -> Path:
    """An uninterrupted run of the smoke command, shared by every comparison."""
    workdir = tmp_path_factory.mktemp("reference")
    r = cli(workdir)
    assert r.returncode == 0, r.stderr
    return workdir
