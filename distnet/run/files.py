"""Atomic file writes and strict JSON: the primitives every file of a run folder is written with.

A file is written to `<name>.tmp`, fsynced and renamed over `<name>`, so a reader (or a resumed run) never sees
half a file; in a multi-process run only process 0 writes.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from distnet.run import faults, hosts


def atomic_write(path, write) -> None:
    """Call write(f) on a fresh `<path>.tmp`, fsync it and rename it over `path` (process 0 only)."""
    if not hosts.primary():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    faults.point(f"{path.name}_tmp_written")
    os.replace(tmp, path)


def remove_tmp(folder) -> None:
    """Delete temporary files a killed writer left behind (never read; removed only to keep folders tidy)."""
    if not hosts.primary():
        return
    for p in Path(folder).glob("*.tmp"):
        p.unlink(missing_ok=True)


def plain(o):
    """JSON-ready copy of `o`: numpy and JAX arrays and scalars become lists and numbers, and every NaN or
    Inf becomes None (null), because bare NaN is not JSON and most parsers other than Python's reject it."""
    if isinstance(o, dict):
        return {k: plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [plain(v) for v in o]
    if hasattr(o, "__array__") and not isinstance(o, (str, bytes)):
        o = np.asarray(o)
        return plain(o.tolist()) if o.ndim else plain(o.item())
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def write_json(path, obj) -> None:
    """Atomically write `obj` as strict JSON (non-finite numbers as null, see `plain`)."""
    atomic_write(path, lambda f: f.write(json.dumps(plain(obj), indent=1, allow_nan=False).encode()))


def write_text(path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())
