"""Shared fixtures. Real-data tests use $DISTNET_DATA_DIR (CI sets it to ../shared/data) and skip without it."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import load_config

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
