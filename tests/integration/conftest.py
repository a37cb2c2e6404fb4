"""Fixtures of the end-to-end tests: run train.py in a subprocess, compare two run folders bit for bit.

Subprocesses share a JAX persistent compilation cache (one per test session) so each costs an import and a
cache load rather than a compile; the cache stores the same executables, so results are unchanged.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import train_process
from runcheck import SMOKE


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("jax_cache")


@pytest.fixture(scope="session")
def cli(jax_cache):
    """cli(workdir, *flags, fault=None, wait=True) -> CompletedProcess (or Popen when wait=False)."""
    def run(workdir, *flags, fault: str | None = None, wait: bool = True):
        env = dict(JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(jax_cache),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
                   DISTNET_FAULT=fault)
        return train_process(*SMOKE, f"--workdir={workdir}", *flags, env=env, wait=wait)
    return run


@pytest.fixture(scope="session")
def reference(cli, tmp_path_factory) -> Path:
    """An uninterrupted run of the smoke command, shared by every comparison."""
    workdir = tmp_path_factory.mktemp("reference")
    r = cli(workdir)
    assert r.returncode == 0, r.stderr
    return workdir
