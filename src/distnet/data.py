"""Datasets as in-memory numpy arrays: local gzip IDX folders and tensorflow-datasets (read in distnet.sources),
a user's .npz file (distnet.npz), synthetic Gaussians.

`load(cfg.data)` returns a Dataset with x_* float32 (N, D) and y_* int32 (N,), preprocessed as configured,
plus provenance (`info`: source, files and their SHA-256) to record with every run.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from pathlib import Path

import numpy as np

from distnet.config import ConfigError, is_int
from distnet.npz import load_npz
from distnet.sources import (ENV_DIR, IDX_FILES, DataError, Dataset, load_idx, load_tfds,  # noqa: F401 (the API)
                             parse_idx)

NAMES = ("mnist", "fashion_mnist", "gaussians", "npz")
SOURCES = ("auto", "idx", "tfds")
PREPROCESS = ("raw", "standardize", "unit")
# generator fields a gaussians config may add (configs/geometry_gaussians.py). They are not in config.base(), so
# the recorded protocol of run folders written before them stays unchanged.
GAUSSIAN_DEFAULTS = {"classes": 10, "separation": 3.0, "spread": 10.0}


# --- synthetic --------------------------------------------------------------------------------------

def random_rotation(rng: np.random.Generator, dim: int) -> np.ndarray:
    """A Haar-random orthogonal (dim, dim) matrix: QR of a Gaussian matrix with R's diagonal made positive
    (without the sign fix QR's convention biases the distribution)."""
    q, r = np.linalg.qr(rng.normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


def gaussians(n_train=2000, n_test=1000, dim=784, classes=10, seed=0, separation=3.0, spread=10.0) -> Dataset:
    """Classes drawn from Gaussians whose parameters are known; `truth` holds them (float64):
    means (C, D), covariances (C, D, D), eigenvectors (C, D, D; column i of class c goes with eigenvalue i)
    and eigenvalues (C, D; descending).

    Means ~ N(0, separation^2 I). Class c's covariance is V_c diag(L) V_c^T with V_c a random rotation and
    L log-spaced from 1 down to 1 / spread (spread = largest / smallest eigenvalue; the largest std is 1).
    Samples are mean + V_c sqrt(L) z, one factor per class: memory O(N D + C D^2), never a per-sample matrix.
    Labels cycle 0, 1, ..., C - 1, so every split holds every class (n >= C).
    """
    if spread < 1:
        raise DataError(f"data.spread={spread} must be >= 1 (the ratio of the largest to the smallest eigenvalue)")
    rng = np.random.default_rng(seed)
    means_CxD = rng.normal(0.0, separation, (classes, dim))
    eigvecs_CxDxD = np.stack([random_rotation(rng, dim) for _ in range(classes)])
    eigvals_D = spread ** -np.linspace(0.0, 1.0, dim) if dim > 1 else np.ones(1)
    eigvals_CxD = np.broadcast_to(eigvals_D, (classes, dim)).copy()
    factors_CxDxD = eigvecs_CxDxD * np.sqrt(eigvals_CxD)[:, None, :]     # V sqrt(L): x = mu + factor @ z

    def draw(n):
        y_N = (np.arange(n) % classes).astype(np.int32)
        x_NxD = np.empty((n, dim), np.float32)
        for c in range(classes):
            rows = np.flatnonzero(y_N == c)
            x_NxD[rows] = means_CxD[c] + rng.normal(size=(len(rows), dim)) @ factors_CxDxD[c].T
        return x_NxD, y_N

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    covs_CxDxD = np.einsum("cij,ckj->cik", factors_CxDxD, factors_CxDxD)
    info = {"source": "synthetic", "seed": seed, "separation": separation, "spread": spread}
    truth = {"means": means_CxD, "covariances": covs_CxDxD, "eigenvectors": eigvecs_CxDxD, "eigenvalues": eigvals_CxD}
    return Dataset(x_train, y_train, x_test, y_test, classes, info=info, truth=truth)


def affine_truth(truth: dict, shift: float, scale: float) -> dict:
    """The truth of data mapped x -> (x - shift) / scale: means move, covariances and eigenvalues shrink
    by scale^2, eigenvectors stay."""
    return {**truth, "means": (truth["means"] - shift) / scale, "covariances": truth["covariances"] / scale ** 2,
            "eigenvalues": truth["eigenvalues"] / scale ** 2}


# --- the config entry point -------------------------------------------------------------------------

def check_config(dcfg) -> None:
    """Every field of a config's `data` block is in range (ConfigError naming the field otherwise)."""
    for field, choices in (("name", NAMES), ("source", SOURCES), ("preprocess", PREPROCESS)):
        if dcfg[field] not in choices:
            raise ConfigError(f"config.data.{field}={dcfg[field]!r}; choose one of {', '.join(choices)}")
    for field in ("n_train", "n_test"):
        if not is_int(dcfg[field]) or dcfg[field] < 0:
            raise ConfigError(f"config.data.{field}={dcfg[field]!r} must be an integer >= 0 (0 = all)")
    path = dcfg.get("path", "")     # run folders written before data.path have none
    if dcfg.name == "npz" and (not isinstance(path, str) or not path):
        raise ConfigError(f"config.data.name=npz needs config.data.path=FILE.npz, a file holding x_train, y_train, "
                          f"x_test and y_test (got {path!r})")
    if dcfg.name != "npz" and path:
        raise ConfigError(f"config.data.path={path!r} is read only with config.data.name=npz (this is "
                          f"{dcfg.name!r}); set data.name=npz, or drop data.path")
    if dcfg.name == "gaussians" and (not is_int(dcfg.dim) or dcfg.dim < 1):
        raise ConfigError(f"config.data.dim={dcfg.dim!r} must be a positive integer (>= 1)")
    if not is_int(dcfg.seed) or not 0 <= dcfg.seed < 2 ** 32:
        raise ConfigError(f"config.data.seed={dcfg.seed!r} must be an integer in 0..{2 ** 32 - 1}")
    if dcfg.name == "gaussians":   # generator fields a study config adds (configs/geometry_gaussians.py)
        classes, sep, spread = (dcfg.get(k, GAUSSIAN_DEFAULTS[k]) for k in ("classes", "separation", "spread"))
        if not is_int(classes) or classes < 2:
            raise ConfigError(f"config.data.classes={classes!r} must be an integer >= 2")
        if not isinstance(sep, (int, float)) or not math.isfinite(sep) or sep <= 0:
            raise ConfigError(f"config.data.separation={sep!r} must be a finite number > 0")
        if not isinstance(spread, (int, float)) or not math.isfinite(spread) or spread < 1:
            raise ConfigError(f"config.data.spread={spread!r} must be a finite number >= 1 "
                              f"(largest over smallest covariance eigenvalue)")


def resolve_dir(dcfg) -> Path | None:
    """The IDX folder the config names: data.dir, else $DISTNET_DATA_DIR/<name>, else None."""
    if dcfg.get("dir"):   # the folder with the files, or the one holding <name>/ as $DISTNET_DATA_DIR does
        folder = Path(dcfg.dir).expanduser()
        return folder / dcfg.name if not _has_idx(folder) and _has_idx(folder / dcfg.name) else folder
    env = os.environ.get(ENV_DIR)
    if env:
        folder = Path(env).expanduser()
        if not _has_idx(folder / dcfg.name) and _has_idx(folder):
            raise DataError(f"${ENV_DIR}={env} holds the IDX files themselves, but it names the folder above them "
                            f"(holding {dcfg.name}/): did you mean {ENV_DIR}={folder.parent}, or data.dir={env}?")
        return folder / dcfg.name
    return None


def _has_idx(folder: Path) -> bool:
    return (folder / f"{IDX_FILES['x_train']}.gz").is_file()


def preprocess(ds: Dataset, how: str, scale: float = 255.0) -> Dataset:
    """raw: as stored (0..255 pixels); unit: divide by `scale`; standardize: (x - mean) / std of train.
    A known truth is mapped along, so it always describes the arrays the network sees."""
    if how == "raw":
        return ds
    if how == "unit":
        shift, div = 0.0, float(scale)
    else:   # standardize (check_config admits no other value)
        shift, div = float(ds.x_train.mean()), float(ds.x_train.std())
    f = lambda x: ((x - np.float32(shift)) / np.float32(div)).astype(np.float32)
    truth = affine_truth(ds.truth, shift, div) if ds.truth is not None else None
    return dataclasses.replace(ds, x_train=f(ds.x_train), x_test=f(ds.x_test), truth=truth)


def array_digest(ds: Dataset) -> str:
    """SHA-256 over the final arrays: identical digests mean identical training data."""
    h = hashlib.sha256()
    for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def load(dcfg) -> Dataset:
    """Load, subset and preprocess the dataset a config's `data` block describes."""
    check_config(dcfg)
    n_train, n_test = dcfg.n_train, dcfg.n_test
    if dcfg.name == "gaussians":
        ds = gaussians(n_train or 2000, n_test or 1000, dim=dcfg.dim, seed=dcfg.seed,
                       **{k: dcfg.get(k, v) for k, v in GAUSSIAN_DEFAULTS.items()})
        scale = float(np.abs(ds.x_train).max())
    elif dcfg.name == "npz":
        ds = load_npz(dcfg.path)
        scale = float(np.abs(ds.x_train).max()) or 1.0     # unit: the largest |x| of the training split
    else:
        folder = resolve_dir(dcfg)
        source = dcfg.source
        if source == "idx" or (source == "auto" and folder is not None):
            if folder is None:
                raise DataError(f"data.source=idx needs a folder: set data.dir=FOLDER or ${ENV_DIR}=FOLDER")
            ds = load_idx(folder)
        else:
            ds = load_tfds(dcfg.name)
        scale = 255.0
    for split, n in (("train", n_train), ("test", n_test)):
        if n > len(getattr(ds, f"x_{split}")):
            raise DataError(f"config.data.n_{split}={n} is larger than the {len(getattr(ds, f'x_{split}'))} "
                            f"{split} examples of {dcfg.name}; use at most that many, or 0 for all")
    if n_train:
        ds = dataclasses.replace(ds, x_train=ds.x_train[:n_train], y_train=ds.y_train[:n_train])
    if n_test:
        ds = dataclasses.replace(ds, x_test=ds.x_test[:n_test], y_test=ds.y_test[:n_test])
    ds = preprocess(ds, dcfg.preprocess, scale)
    ds.info = {**ds.info, "name": dcfg.name, "classes": ds.classes, "n_train": len(ds.x_train),
               "n_test": len(ds.x_test), "array_sha256": array_digest(ds)}
    return ds


# --- a run's data, read back -------------------------------------------------------------------

def data_difference(trained: dict, now: dict) -> str | None:
    """How the data `now` (a Dataset.info) differs from the data a variant `trained` on (its config.json's
    "data"), naming the files and both SHA-256s; None when the arrays are identical."""
    a, b = trained.get("array_sha256"), now.get("array_sha256")
    if a == b:
        return None
    old, new = trained.get("files", {}), now.get("files", {})

    def where(stem):   # an npz source is one file, recorded under its name
        return now["path"] if now.get("source") == "npz" else f"{stem}.gz in {now.get('dir')}"
    changed = [f"{where(stem)} has SHA-256 {new[stem]['sha256'][:16]}... but the run trained on "
               f"{old[stem]['sha256'][:16]}..." for stem in sorted(old) if stem in new
               and old[stem]["sha256"] != new[stem]["sha256"]]
    return "; ".join(changed or [f"its arrays hash to {str(b)[:16]}... but the run trained on arrays hashing to "
                                 f"{str(a)[:16]}..."])


def reload(record: dict, vdir) -> Dataset:
    """The dataset a variant folder `vdir` was trained on (`record`: its config.json), from where it was read then
    (config.json records the folder, or the .npz file, and the SHA-256 of every array), so analysis needs no
    $DISTNET_DATA_DIR; only when an IDX folder is gone does it go through load() as the config says (data.dir,
    $DISTNET_DATA_DIR, tfds). A DataError when the data found is not what the run trained on, or when nothing is
    found (naming where it was)."""
    import ml_collections
    dcfg = ml_collections.ConfigDict(record["config"]["data"])
    source = record["data"].get("source")
    was = record["data"].get({"idx": "dir", "npz": "path"}.get(source, ""))
    if source == "npz":   # the file it read, by its absolute path: the config's may be relative to another folder
        dcfg.path = was
    elif was:    # never fall through to a download: the run read local files
        dcfg.source = "idx"
        if Path(was).is_dir():
            dcfg.dir = was
    # the run's own data.dir is read before $DISTNET_DATA_DIR: with one, the variable cannot point elsewhere
    named = record["config"]["data"].get("dir")
    try:
        ds = load(dcfg)
    except DataError as e:
        if not was:
            raise
        if source == "npz":
            raise DataError(f"{vdir} was trained on {was}, which cannot be read now ({e}); put that file back "
                            f"there") from None
        fix = (f"put them back in {was} (the run's data.dir={named} is read before ${ENV_DIR}, so only that folder "
               f"counts)" if named else f"point ${ENV_DIR} (or data.dir) at a folder holding them")
        raise DataError(f"{vdir} was trained on the files in {was}, which are gone, and none were found "
                        f"instead ({e}); {fix}") from None
    differs = data_difference(record["data"], ds.info)
    if differs:
        back = (f"the original file back at {was}" if source == "npz" else
                f"the original data back in {was} (the run's data.dir={named} is read before ${ENV_DIR})" if named
                else f"the original data back (or point data.dir / ${ENV_DIR} at it)")
        raise DataError(f"{vdir} was trained on other data: {differs}; put {back}")
    return ds
