"""Helpers shared by test modules (import this, not conftest: tests/faults has a conftest of its own)."""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from distnet import data  # noqa: E402  (needs ROOT on sys.path)


def load_config(name: str):
    """get_config() of configs/<name>.py."""
    spec = importlib.util.spec_from_file_location(f"configs_{name}", ROOT / "configs" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def train_process(*args, env: dict | None = None, wait: bool = True, timeout: float = 300):
    """`python train.py *args` from the repository root: CompletedProcess, or the Popen when wait=False.

    env: variables to set on top of this process's (None as a value removes one); DISTNET_FAULT is never
    inherited, so only a test that asks for a fault gets one."""
    full = {k: v for k, v in os.environ.items() if k != "DISTNET_FAULT"}
    full["PYTHONPATH"] = str(ROOT)
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    argv = [sys.executable, str(ROOT / "train.py"), *map(str, args)]
    if not wait:
        return subprocess.Popen(argv, cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(argv, cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout)


def idx_bytes(a: np.ndarray, magic_ndim: int | None = None) -> bytes:
    """`a` as an uncompressed IDX file (unsigned bytes); magic_ndim overrides the dimension count in the magic."""
    ndim = a.ndim if magic_ndim is None else magic_ndim
    return bytes([0, 0, 8, ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.astype(np.uint8).tobytes()


def write_idx_folder(folder, n_train: int = 12, n_test: int = 6, sums: bool = True) -> dict:
    """A small valid MNIST-format folder (4x4 images), with a SHA256SUMS file unless sums=False; returns the
    arrays written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.integers(0, 256, (n_train, 4, 4)), "y_train": np.arange(n_train) % 10,
              "x_test": rng.integers(0, 256, (n_test, 4, 4)), "y_test": np.arange(n_test) % 10}
    lines = []
    for key, stem in data.IDX_FILES.items():
        raw = idx_bytes(arrays[key])
        (folder / f"{stem}.gz").write_bytes(gzip.compress(raw, mtime=0))
        lines.append(f"{hashlib.sha256(raw).hexdigest()}  {stem}")
    if sums:
        (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return arrays
