"""Shared fixtures. Real-data tests use $DISTNET_DATA_DIR (CI sets it to ../shared/data) and skip without it."""
from __future__ import annotations

import os
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
    """A finished smoke run folder (configs/smoke.py), trained once per test session."""
    from distnet import experiment

    workdir = tmp_path_factory.mktemp("smoke_run")
    experiment.run_all(load_config("smoke"), workdir, log=lambda *a: None)
    return workdir
