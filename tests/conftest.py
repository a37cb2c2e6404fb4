"""Shared fixtures. Real-data tests use $DISTNET_DATA_DIR (CI sets it to ../shared/data) and skip without it."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# One JAX persistent compilation cache per test session, for this process and every process it starts (train.py,
# notebook kernels): a program the suite builds many times (the smoke run's, above all) compiles once instead of in
# every test, which was most of the suite's time on CPU. The cache holds the executables XLA compiled, so no number
# changes; its key includes XLA_FLAGS, and a fresh folder per session keeps one machine's runs from another's.
_XLA_CACHE = tempfile.mkdtemp(prefix="distnet-tests-xla-cache-")
atexit.register(shutil.rmtree, _XLA_CACHE, True)
os.environ.update(JAX_COMPILATION_CACHE_DIR=_XLA_CACHE, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                  JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")

from helpers import load_config  # noqa: E402  (imports JAX, which reads the cache settings above)

from distnet import data


@pytest.fixture
def smoke_cfg():
    return load_config("smoke")


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    env = os.environ.get(data.ENV_DIR)
    if not env or not (Path(env) / "mnist").is_dir():
        pytest.skip("real MNIST not available: set DISTNET_DATA_DIR to a folder with mnist/ (CI uses ../shared/data)")
    return Path(env) / "mnist"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """A finished smoke run folder (configs/smoke.py), trained once per test session as train.py trains it."""
    from distnet.analysis import stats
    from distnet.run import study

    workdir = tmp_path_factory.mktemp("smoke_run")
    study.run_all(load_config("smoke"), workdir, log=lambda *a: None, summarize=stats.summary_statistics)
    return workdir


@pytest.fixture(scope="session")
def analyzed(smoke_run, tmp_path_factory):
    """An analyzed copy of the smoke run (the session's smoke_run itself stays as training left it)."""
    from distnet.analysis import analyze

    run = tmp_path_factory.mktemp("analyzed") / "smoke"
    shutil.copytree(smoke_run, run)
    assert analyze.main([str(run)]) == 0
    return run
