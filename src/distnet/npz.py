"""A user's own dataset as one .npz file (data.name=npz, data.path=FILE): x_train, y_train, x_test, y_test.

    np.savez("mine.npz", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)
    python train.py --config.data.name=npz --config.data.path=mine.npz --config.data.n_train=0

x_*: real numbers, (N, D) or images (N, ...) flattened to (N, D) as fit does; y_*: integer class indices (N,)
(integral floats are taken). The class count is the largest label + 1, and every class 0..C-1 must occur in
y_train or y_test, C >= 2 (the rules of distnet.run.fit). Every problem is refused, before anything is written, in
one sentence naming the file and the fix. The file is read without pickle and recorded by its SHA-256.
"""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from distnet.sources import DataError, Dataset

KEYS = ("x_train", "y_train", "x_test", "y_test")
SAVE = "np.savez(FILE, x_train=..., y_train=..., x_test=..., y_test=...)"
RELABEL = "np.unique(y, return_inverse=True)[1] maps any labels to 0..C-1"


def load_npz(path: str | os.PathLike) -> Dataset:
    """The four arrays of the .npz file at `path`, checked, as a Dataset (x float32 (N, D), y int32 (N,))."""
    path = Path(path).expanduser()
    raw = _read(path)
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a NumPy .npz archive ({type(e).__name__}); write it with {SAVE}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds one bare array, not an .npz archive of four; write it with {SAVE}")
    with archive:
        missing = [k for k in KEYS if k not in archive.files]
        if missing:
            raise DataError(f"{path}: has no {', '.join(missing)} (it holds {', '.join(archive.files) or 'nothing'}); "
                            f"write all four with {SAVE}")
        arrays = {k: _array(archive, k, path) for k in KEYS}
    x_train, x_test = _inputs(arrays["x_train"], "x_train", path), _inputs(arrays["x_test"], "x_test", path)
    if x_train.shape[1] != x_test.shape[1]:
        raise DataError(f"{path}: x_train has {x_train.shape[1]} features per example but x_test has "
                        f"{x_test.shape[1]}; give both splits the same features")
    y_train, y_test = _labels(arrays["y_train"], "y_train", path), _labels(arrays["y_test"], "y_test", path)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if len(x) != len(y):
            raise DataError(f"{path}: x_{split} has {len(x)} examples but y_{split} has {len(y)} labels; "
                            f"give one label per example")
    classes = _classes(y_train, y_test, path)
    y_train, y_test = y_train.astype(np.int32), y_test.astype(np.int32)
    info = {"source": "npz", "path": str(path.resolve()),
            "files": {path.name: {"sha256": hashlib.sha256(raw).hexdigest()}}}
    return Dataset(x_train, y_train, x_test, y_test, classes, info=info)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; set data.path to an .npz file written with {SAVE}") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder; set data.path to an .npz file written with {SAVE}") from None
    except PermissionError:
        raise DataError(f"{path}: permission denied; give this user read access to it (chmod/chown), or point "
                        f"data.path at a readable copy") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e}); check the file, or point data.path at "
                        f"a copy") from None


def _array(archive, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as e:
        if "allow_pickle" in str(e):
            kind = "np.float32" if key.startswith("x") else "np.int64"
            raise DataError(f"{path}: {key} is an array of Python objects, which is never unpickled (unsafe); save "
                            f"it as numbers, e.g. np.asarray({key}, dtype={kind})") from None
        raise DataError(f"{path}: {key} cannot be read ({e}); write the file again with {SAVE}") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise DataError(f"{path}: {key} is truncated or corrupt ({type(e).__name__}); write the file again with "
                        f"{SAVE}") from None


def _kind(a: np.ndarray) -> str:
    return {"c": "complex numbers", "U": "strings", "S": "bytes", "b": "booleans", "O": "objects",
            "M": "dates", "m": "time spans", "V": "records"}.get(a.dtype.kind, f"{a.dtype} values")


def _inputs(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    if x.dtype.kind not in "iuf":
        raise DataError(f"{path}: {key} holds {_kind(x)}, not real numbers; save it as a float or integer array "
                        f"(e.g. np.asarray({key}, dtype=np.float32))")
    if x.ndim < 2 or x.shape[0] == 0 or x[0].size == 0:
        raise DataError(f"{path}: {key} has shape {x.shape}; give one example per row, (N, features) or images "
                        f"(N, ...), with N >= 1 and at least one feature")
    with np.errstate(over="ignore"):                       # values beyond float32 become Inf, refused below
        x = x.reshape(len(x), -1).astype(np.float32)       # images (N, 28, 28) are flattened as fit does
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise DataError(f"{path}: {key} holds {int(bad.sum())} NaN or Inf value(s) as float32, the first in row "
                        f"{row}; fill or drop them (values beyond +/-3.4e38 overflow float32: rescale those)")
    return x


def _labels(y: np.ndarray, key: str, path: Path) -> np.ndarray:
    if y.dtype.kind not in "iuf":
        raise DataError(f"{path}: {key} holds {_kind(y)}, not class indices; save integers 0..C-1 ({RELABEL})")
    if y.ndim != 1:
        fix = f"{key}.argmax(axis=1) of one-hot rows" if y.ndim == 2 and y.shape[1] > 1 else f"{key}.reshape(-1)"
        raise DataError(f"{path}: {key} has shape {y.shape}, not one label per example (N,); save {fix}")
    if y.size == 0:
        raise DataError(f"{path}: {key} is empty; give at least one labelled example in each split")
    if y.dtype.kind == "f":
        off = ~np.isfinite(y) | (y != np.round(y))
        if off.any():
            raise DataError(f"{path}: {key} holds non-integer labels such as {y[off][0].item()!r}; save integer class "
                            f"indices 0..C-1 ({RELABEL})")
    if y.min() < 0 or y.max() >= 2 ** 31:
        label = y.min() if y.min() < 0 else y.max()
        raise DataError(f"{path}: {key} holds the label {label.item()!r}, not a class index; save class indices "
                        f"0..C-1 ({RELABEL})")
    return y.astype(np.int64)     # int32 once _classes has bounded it


def _classes(y_train: np.ndarray, y_test: np.ndarray, path: Path) -> int:
    """The largest label + 1, when every label below it occurs in one split or the other (as distnet.run.fit)."""
    classes = int(max(y_train.max(), y_test.max())) + 1
    if classes < 2:
        raise DataError(f"{path}: every label is 0, one class only; a classifier needs labels of at least two "
                        f"classes 0..C-1")
    some, _ = unseen(classes, y_train, y_test)
    if some:
        raise DataError(f"{path}: y_train and y_test have no label {some} although their largest is {classes - 1}, "
                        f"so the network would have classes never seen; relabel to 0..C-1 ({RELABEL})")
    return classes


def unseen(classes: int, *ys) -> tuple[str, int]:
    """The labels 0..classes-1 that none of `ys` (labels in that range) holds: the first five as text ("1, 3, ..."
    when there are more; "" when none is missing) and how many there are."""
    present = np.unique(np.concatenate([np.ravel(y) for y in ys]))
    # the first missing labels lie below len(present) + 5, however large the labels (10**12 too)
    first = np.setdiff1d(np.arange(min(classes, len(present) + 5)), present)[:5].tolist()
    n = classes - len(present)
    return ", ".join(map(str, first)) + (", ..." if n > len(first) else ""), n
