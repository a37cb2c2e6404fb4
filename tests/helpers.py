"""Helpers shared by test modules (import this, not conftest: tests/integration has a conftest of its own)."""
from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"           # the package lives in src/ (src layout); tests import this checkout's code
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from distnet import data  # noqa: E402  (needs SRC on sys.path)
from distnet.nn import models  # noqa: E402


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
    full["PYTHONPATH"] = str(SRC)
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


# --- small datasets and networks shared by test modules ---------------------------------------------------

def raw_pixels(n, d, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, d)).astype(np.float32)


def tiny_dataset(n_train=600, n_test=200, dim=100, classes=10):
    x = raw_pixels(n_train + n_test, dim, seed=2)
    teacher = np.random.default_rng(3).standard_normal((dim, classes))
    y = np.argmax((x - 128) @ teacher, axis=1).astype(np.int32)
    return data.Dataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], classes, info={})


def small_data(n=96, dim=20, seed=0, scale=3.0):
    ds = data.gaussians(n, 48, dim=dim, classes=10, seed=seed)
    ds.x_train *= scale
    ds.x_test *= scale
    return ds


def stack_params(*trees):
    return jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(x, jnp.float32) for x in a]), *trees)


def trained_like(seed=0, d=6, n=120):
    """A random ReLU2 network and data labelled by its own predictions (so it is 100% accurate)."""
    model = models.get("ReLU2", hidden=8, classes=3)
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
    params_S = jax.vmap(lambda k: model.init(k, jnp.zeros((1, d)))["params"])(jax.random.split(k1, 2))
    x = np.asarray(jax.random.normal(k2, (n, d)))
    y = np.asarray(jnp.argmax(model.apply({"params": jax.tree_util.tree_map(lambda a: a[0], params_S)}, x), -1))
    return model, params_S, x, y


PAPER_PROTOCOL = {"epochs": 5000, "seeds": 20, "seed": 0, "data": "mnist", "preprocess": "raw", "n_train": 60000,
                  "n_test": 10000, "lr": 1e-3, "hidden": 128}


def compare_record(protocol, accs, variant="ReLU", status="complete"):
    """A record as distnet.analysis.compare.gather returns one, with per-seed final accuracies `accs`."""
    acc = np.asarray(accs, np.float64)
    m = {"epoch": np.array([0, protocol["epochs"]]), "test_acc": np.stack([acc * 0, acc], 1),
         "train_acc": np.stack([acc * 0, acc], 1), "train_loss": np.stack([acc * 0 + 2, acc * 0 + 1], 1)}
    return {"name": variant, "variant": variant, "dir": "x", "status": status, "protocol": protocol,
            "summary": {"status": status, "epochs": protocol["epochs"]}, "metrics": m, "stats": None}


def strict_json(text):
    """json.loads that refuses bare NaN/Infinity (what other JSON parsers refuse)."""
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")
    return json.loads(text, parse_constant=refuse)


# --- damaged IDX folders: one per way a data folder goes bad -----------------------------------------------

STEMS = data.IDX_FILES   # key -> file stem


def _write(folder, key, raw: bytes) -> None:
    (folder / f"{STEMS[key]}.gz").write_bytes(gzip.compress(raw, mtime=0))


def make_idx_folder(folder):
    """A small valid MNIST-format folder (30 train, 10 test 4x4 images) with a SHA256SUMS file."""
    write_idx_folder(folder, n_train=30, n_test=10)
    return folder


def _truncate(f, key):
    p = f / f"{STEMS[key]}.gz"
    p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2])


def _flip(f, key):
    p = f / f"{STEMS[key]}.gz"
    b = bytearray(p.read_bytes())
    for i in range(12, len(b) - 8, 7):      # scramble the deflate stream, keep the gzip header
        b[i] ^= 0x5A
    p.write_bytes(bytes(b))


# case -> (corrupt the folder, text the message must contain, file named in the message or None for folder)
DATA_CASES = {
    "missing file": (lambda f: (f / f"{STEMS['y_test']}.gz").unlink(), "file not found", "y_test"),
    "truncated gzip": (lambda f: _truncate(f, "x_train"), "truncated or corrupt", "x_train"),
    "corrupt gzip": (lambda f: _flip(f, "x_test"), "truncated or corrupt", "x_test"),
    "wrong magic": (lambda f: _write(f, "y_train", idx_bytes(np.zeros((30, 1)), magic_ndim=2)),
                    "wrong IDX magic number", "y_train"),
    "shape cut short": (lambda f: _write(f, "x_test", idx_bytes(np.zeros((10, 4, 4)))[:-5]),
                        "header promises shape", "x_test"),
    "images/labels count": (lambda f: _write(f, "y_train", idx_bytes(np.zeros(29))), "differ in count", None),
    "image shapes differ": (lambda f: _write(f, "x_test", idx_bytes(np.zeros((10, 5, 5)))), "differ in shape", None),
    "label out of range": (lambda f: _write(f, "y_test", idx_bytes(np.full(10, 10))), "out of range 0..9", "y_test"),
    "checksum mismatch": (lambda f: (f / "SHA256SUMS").write_text(
        (f / "SHA256SUMS").read_text().replace((f / "SHA256SUMS").read_text()[:8], "deadbeef", 1)),
        "SHA256SUMS says", "x_train"),
}


FIXES = ("download it again", "replace", "check you have the right file", "point data.dir", "belong together")


def bad_folder(tmp_path, case):
    folder = make_idx_folder(tmp_path / case.replace(" ", "_") / "mnist")
    if (f := folder / "SHA256SUMS").exists() and case not in ("checksum mismatch",):
        f.unlink()      # checked by its own case; the others must fail on their own defect
    DATA_CASES[case][0](folder)
    return folder


def idx_cfg(smoke_cfg, folder):
    smoke_cfg.data.name, smoke_cfg.data.source, smoke_cfg.data.dir = "mnist", "idx", str(folder)
    smoke_cfg.data.n_train, smoke_cfg.data.n_test = 0, 0
    return smoke_cfg


# --- comparing two float32 programs (or float32 with float64) ----------------------------------------------
# Rounding bounds are relative to the size of the operands, so a comparison of two programs that sum in different
# orders is normwise: an element that passes near zero carries the same absolute error as its neighbours and an
# unbounded relative one, so an elementwise rtol/atol pair passes or fails with the machine.

U32 = 2.0 ** -24   # float32 unit roundoff
MARGINS_ENV = "DISTNET_TEST_MARGINS"


def record_margin(what: str, observed: float, limit: float) -> None:
    """Append one machine-dependent comparison (what it measured, the value, the tolerance it is held to) to the
    JSON-lines file $DISTNET_TEST_MARGINS names, if set: benchmarks/margins.py gathers the worst of many runs at
    several ISA levels, so a tolerance's note can say how close to it any machine came. Records only; asserts nothing."""
    path = os.environ.get(MARGINS_ENV)
    if path:
        row = {"test": os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" (", 1)[0], "what": what,
               "observed": float(observed), "limit": float(limit), "xla_flags": os.environ.get("XLA_FLAGS", "")}
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


def leaf_errors(a, b) -> list[float]:
    """max|a - b| / max|b| of each pair of leaves (pytrees of one structure)."""
    import jax

    out = []
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        out.append(float(np.max(np.abs(x - y)) / max(float(np.max(np.abs(y))), np.finfo(np.float64).tiny)))
    return out


def assert_leaves_close(a, b, rtol: float) -> None:
    """Every leaf of `a` within rtol * max|leaf of `b`| of `b` (normwise, per leaf)."""
    errors = leaf_errors(a, b)
    record_margin("params max|a-b|/max|b| per leaf", max(errors), rtol)
    assert max(errors) <= rtol, f"max|a - b| / max|b| per leaf: {[f'{e:.3g}' for e in errors]} > {rtol}"


def max_rel(a, b) -> float:
    """max |a - b| / |b|, elementwise, in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), np.finfo(np.float64).tiny)))


def near_ties(logits, rtol: float, other=None) -> np.ndarray:
    """How many rows of `logits` (..., N, C) have an argmax that moving each logit by rtol * max|row| can flip, and,
    given `other` (the same logits from another program), by that plus the row's max|logits - other|: those whose top
    two logits are closer than twice that. Counted over the N rows, per leading index."""
    z = np.asarray(logits, np.float64)
    move = rtol * np.max(np.abs(z), axis=-1)
    if other is not None:
        move = move + np.max(np.abs(z - np.asarray(other, np.float64)), axis=-1)
    top = np.sort(z, axis=-1)
    return np.sum(top[..., -1] - top[..., -2] < 2 * move, axis=-1)


def assert_metrics_close(a, b, loss_rtol: float, n_train: int, n_test: int, examples: int = 1) -> None:
    """Metrics (trainer.Metrics or a metrics dict) of two programs: losses to loss_rtol, accuracies to `examples`
    examples of n_train / n_test (predictions whose top two logits the programs' difference can swap)."""
    a, b = (m._asdict() if hasattr(m, "_asdict") else m for m in (a, b))
    record_margin("train loss, largest relative difference", max_rel(a["train_loss"], b["train_loss"]), loss_rtol)
    for k, n in (("train_acc", n_train), ("test_acc", n_test)):
        record_margin(f"{k}, examples apart", np.max(np.abs(np.asarray(a[k]) - np.asarray(b[k]))) * n, examples)
    np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=loss_rtol)
    np.testing.assert_allclose(a["train_acc"], b["train_acc"], rtol=0, atol=(examples + 0.5) / n_train)
    np.testing.assert_allclose(a["test_acc"], b["test_acc"], rtol=0, atol=(examples + 0.5) / n_test)


# Damaged run-folder files (name: (file, damage, what the one-sentence refusal says)), for the CLIs' tests
DAMAGED_FILES = {
    "metrics.npz garbage": ("metrics.npz", lambda p: p.write_bytes(b"garbage"), "is damaged (BadZipFile"),
    "metrics.npz cut": ("metrics.npz", lambda p: p.write_bytes(p.read_bytes()[:300]), "is damaged ("),
    "metrics.npz missing": ("metrics.npz", lambda p: p.unlink(), "is missing; restore it from a copy"),
    "config.json garbage": ("config.json", lambda p: p.write_text("{garb"), "is damaged (JSONDecodeError"),
    "config.json []": ("config.json", lambda p: p.write_text("[]"), "is damaged (it holds a JSON list"),
    "summary.json garbage": ("summary.json", lambda p: p.write_text(""), "is damaged (JSONDecodeError"),
    "summary.json []": ("summary.json", lambda p: p.write_text("[]"), "is damaged (it holds a JSON list"),
    "stats.json garbage": ("stats.json", lambda p: p.write_text("{"), "is damaged (JSONDecodeError"),
}


def needs_float16(test):
    """Skip where XLA cannot compile a float16 conversion (a CPU without F16C, or XLA_FLAGS=--xla_cpu_max_isa=SSE4_2):
    there config.split=fp16 is refused in one sentence instead (tests/test_plan.py holds that)."""
    import pytest
    from distnet.nn import split
    return pytest.mark.skipif(not split.converts("fp16"), reason="XLA cannot compile float32 -> float16 on this "
                              "CPU (no F16C or a limited xla_cpu_max_isa); config.split=fp16 is refused here")(test)
