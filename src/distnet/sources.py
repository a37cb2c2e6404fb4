"""Where MNIST-format data comes from: folders of the four gzip IDX files, and tensorflow-datasets.

Both return a distnet.data.Dataset with provenance (`info`: source, files and their SHA-256); distnet.data.load is the
entry point that picks one from the config. Offline, a tfds download is refused in seconds (`unreachable`), not after
minutes of retries.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import struct
import zlib
from pathlib import Path

import numpy as np

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
ENV_DIR = "DISTNET_DATA_DIR"


class DataError(Exception):
    """A problem with the data a user can fix; the message names the file and the fix."""


@dataclasses.dataclass
class Dataset:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    info: dict                      # JSON-safe provenance, recorded in every run's config.json
    truth: dict | None = None       # known generating parameters (synthetic data only)

    @property
    def dim(self) -> int:
        return self.x_train.shape[1]


# --- IDX files --------------------------------------------------------------------------------------

def _denied(path: Path) -> DataError:
    """Permission denied is not corruption: the file may be fine, this user just may not read it."""
    return DataError(f"{path}: permission denied; give this user read access to it (chmod/chown), or point "
                     f"data.dir / ${ENV_DIR} at a readable copy")


def _read_gz(path: Path) -> bytes:
    try:
        if not path.exists():
            raise DataError(f"{path}: file not found; put the four MNIST-format .gz IDX files there, or point "
                            f"data.dir at a folder holding them (or ${ENV_DIR} at the folder holding mnist/)")
        with gzip.open(path, "rb") as f:
            return f.read()
    except PermissionError:
        raise _denied(path) from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: not a readable gzip file ({e}); the file is truncated or corrupt, "
                        f"download it again") from None


def parse_idx(raw: bytes, name: str, expect_ndim: int) -> np.ndarray:
    """Decode IDX bytes (big-endian header: 0, 0, dtype 0x08, ndim; then dims) into a uint8 array."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08 or raw[3] != expect_ndim:
        magic = raw[:4].hex() if len(raw) >= 4 else raw.hex()
        raise DataError(f"{name}: wrong IDX magic number 0x{magic} (expected 0x0000080{expect_ndim}); "
                        f"this is not an unsigned-byte {expect_ndim}-d IDX file, check you have the right file")
    header = 4 + 4 * expect_ndim
    if len(raw) < header:
        raise DataError(f"{name}: IDX header cut short; the file is truncated, download it again")
    dims = struct.unpack(f">{expect_ndim}I", raw[4:header])
    count = int(np.prod(dims))
    if len(raw) - header != count:
        raise DataError(f"{name}: header promises shape {dims} ({count} bytes) but the file holds "
                        f"{len(raw) - header}; the file is truncated or corrupt, download it again")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims)


def _read_sums(folder: Path) -> dict[str, str]:
    sums = {}
    f = folder / "SHA256SUMS"
    try:
        text = f.read_text() if f.exists() else ""
    except PermissionError:
        raise _denied(f) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{f}: unreadable ({e}); replace it, or delete it to skip the check") from None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            sums[parts[1].lstrip("*")] = parts[0].lower()
    return sums


def load_idx(folder: str | os.PathLike, classes: int = 10) -> Dataset:
    """Read the four standard gzip IDX files of `folder`, checking SHA256SUMS (uncompressed) when present."""
    folder = Path(folder)
    try:
        if not folder.is_dir():
            raise DataError(f"{folder}: data folder not found; set data.dir or ${ENV_DIR} to an existing folder")
        os.listdir(folder)
    except PermissionError:
        raise _denied(folder) from None
    sums = _read_sums(folder)
    arrays, files = {}, {}
    for key, stem in IDX_FILES.items():
        path = folder / f"{stem}.gz"
        raw = _read_gz(path)
        digest = hashlib.sha256(raw).hexdigest()
        if stem in sums and sums[stem] != digest:
            raise DataError(f"{path}: SHA-256 of the uncompressed file is {digest[:16]}..., but SHA256SUMS says "
                            f"{sums[stem][:16]}...; the file is corrupt or a different version, replace it")
        files[stem] = {"sha256": digest, "checked": stem in sums}
        arrays[key] = parse_idx(raw, str(path), 3 if key.startswith("x") else 1)
    for split in ("train", "test"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if len(x) != len(y):
            raise DataError(f"{folder}: {split} images ({len(x)}) and labels ({len(y)}) differ in count; "
                            f"the files do not belong together, replace them")
        if y.size and y.max() >= classes:
            raise DataError(f"{folder / (IDX_FILES['y_' + split] + '.gz')}: label {int(y.max())} out of range "
                            f"0..{classes - 1}; the labels file is corrupt, replace it")
    if arrays["x_train"].shape[1:] != arrays["x_test"].shape[1:]:
        raise DataError(f"{folder}: train images {arrays['x_train'].shape[1:]} and test images "
                        f"{arrays['x_test'].shape[1:]} differ in shape; the files do not belong together")
    flat = {k: (v.reshape(len(v), -1).astype(np.float32) if k.startswith("x") else v.astype(np.int32))
            for k, v in arrays.items()}
    return Dataset(**flat, classes=classes, info={"source": "idx", "dir": str(folder.resolve()), "files": files})


# --- tensorflow-datasets ----------------------------------------------------------------------------

def load_tfds(name: str, classes: int = 10) -> Dataset:
    """Download (first time) and read a dataset with tensorflow-datasets."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DataError(f"data.source=tfds needs tensorflow-datasets: pip install -e '.[tfds]', or use local "
                        f"IDX files with data.dir=FOLDER or ${ENV_DIR}=FOLDER") from None
    offline = f"without internet, put the four gzip IDX files in FOLDER/{name} and set ${ENV_DIR}=FOLDER"
    if not _prepared(tfds, name) and (why := unreachable(DOWNLOAD_HOSTS.get(name, DOWNLOAD_HOSTS["mnist"]))):
        raise DataError(f"tensorflow-datasets would download {name}, but {why}; {offline}")
    out = {}
    for split in ("train", "test"):
        try:
            x, y = tfds.as_numpy(tfds.load(name, split=split, batch_size=-1, as_supervised=True))
        except Exception as e:   # network, DNS, proxy, a half-written cache: tfds raises many kinds
            # its first line whole: cut mid-word it misleads
            first = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
            raise DataError(f"tensorflow-datasets could not download or read {name} ({type(e).__name__}: {first}); "
                            f"{offline}") from e
        out[f"x_{split}"] = np.asarray(x, np.float32).reshape(len(x), -1)
        out[f"y_{split}"] = np.asarray(y, np.int32)
    return Dataset(**out, classes=classes, info={"source": "tfds", "tfds_version": tfds.__version__})


# where tensorflow-datasets downloads each dataset from (its MNIST builders' URLs)
DOWNLOAD_HOSTS = {"mnist": "storage.googleapis.com",
                  "fashion_mnist": "fashion-mnist.s3-website.eu-central-1.amazonaws.com"}


def _prepared(tfds, name: str) -> bool:
    """tensorflow-datasets already holds `name` locally (no download needed); False when it cannot tell."""
    try:
        return bool(tfds.builder(name).is_prepared())
    except Exception:   # noqa: BLE001 - an unknown builder or cache state: let tfds.load say what it is
        return False


def unreachable(host: str, port: int = 443, timeout: float = 5.0) -> str | None:
    """Why `host` cannot be reached within `timeout` seconds (name lookup included), or None when it can. tfds
    retries a failed download for minutes; this answers in seconds. The lookup runs in a daemon thread, since
    getaddrinfo itself takes no timeout."""
    import socket
    import threading

    result = []

    def connect():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as e:
            result.append(f"{host} cannot be reached ({type(e).__name__}: {e})")

    t = threading.Thread(target=connect, daemon=True)
    t.start()
    t.join(timeout)
    return result[0] if result else f"{host} did not answer within {timeout:.0f} s"
