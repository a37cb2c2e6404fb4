"""Helpers for the fault tests: run train.py in a subprocess, compare two run folders bit for bit.

Subprocesses share a JAX persistent compilation cache (one per test session) so each costs an import and a
cache load rather than a compile; the cache stores the same executables, so results are unchanged.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ("ReLU", "Abs2-Neg")            # those of configs/smoke.py
SMOKE = ("--config", "configs/smoke.py")


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("jax_cache")


@pytest.fixture(scope="session")
def cli(jax_cache):
    """cli(workdir, *flags, fault=None, wait=True) -> CompletedProcess (or Popen when wait=False)."""
    def run(workdir, *flags, fault: str | None = None, wait: bool = True, timeout: float = 300):
        env = {k: v for k, v in os.environ.items() if k != "DISTNET_FAULT"}
        env.update(PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(jax_cache),
                   JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
        if fault:
            env["DISTNET_FAULT"] = fault
        args = [sys.executable, "train.py", *SMOKE, f"--workdir={workdir}", *flags]
        if not wait:
            return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
        return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    return run


@pytest.fixture(scope="session")
def reference(cli, tmp_path_factory) -> Path:
    """An uninterrupted run of the smoke command, shared by every comparison."""
    workdir = tmp_path_factory.mktemp("reference")
    r = cli(workdir)
    assert r.returncode == 0, r.stderr
    return workdir


def assert_same_run(a: Path, b: Path, variants=VARIANTS) -> None:
    """Every metrics array and every checkpointed param leaf of `a` equals `b`'s exactly."""
    from distnet import checkpoint, runs

    for v in variants:
        ma, mb = runs.load_metrics(a / v), runs.load_metrics(b / v)
        assert sorted(ma) == sorted(mb)
        for k in ma:
            assert np.array_equal(ma[k], mb[k]), f"{v}: metrics {k} differ"
        assert checkpoint.steps(a / v)[-1] == checkpoint.steps(b / v)[-1]
        pa, pb = checkpoint.restore(a / v), checkpoint.restore(b / v)
        assert jax.tree_util.tree_structure(pa) == jax.tree_util.tree_structure(pb)
        for x, y in zip(jax.tree_util.tree_leaves(pa), jax.tree_util.tree_leaves(pb)):
            assert np.array_equal(np.asarray(x), np.asarray(y)), f"{v}: params differ"
        sa, sb = runs.read_json(a / v / "summary.json"), runs.read_json(b / v / "summary.json")
        assert (sa["status"], sa["final_test_acc"]) == (sb["status"], sb["final_test_acc"])
    rows = runs.read_json(a / "summary.json")["variants"]
    assert [r["variant"] for r in rows] == list(variants)
    assert not list(a.rglob("*.tmp")) and not list(a.rglob("*orbax-checkpoint-tmp*"))
