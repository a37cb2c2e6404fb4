"""The formats of a variant's config.json, and the one place that knows the older ones: `migrate` brings a record
any earlier distnet wrote forward to the current format, so every reader of a folder (through
distnet.run.folder.read_config) sees one shape and needs no fallbacks of its own.

    format 1  no "format_version" (folders written before the field). The oldest of them, written before sweeps,
              lack "lanes" and the sweep fields (lrs, init_scales, weight_decays) of "config"; those written before
              MD heads took a rank lack config.md_rank (their MD heads are full rank: 0), and those written before
              seed chunks lack config.seed_chunk (0: every seed at once).
    format 2  "format_version": 2, "lanes" (distnet.lanes.Lanes.record) and every config field present.

A folder of a newer format than this distnet reads is refused: its fields may mean what this version cannot know.
The file itself is never rewritten (a resumed run keeps the config.json that started the folder).
"""
from __future__ import annotations

import importlib.metadata
import platform
import sys
from pathlib import Path

from distnet import config
from distnet.lanes import Lanes
from distnet.run import files

CURRENT = 2


def version(record: dict, path) -> int:
    """The record's format (1 when it names none); RunFileError when it is not a format this distnet reads."""
    v = record.get("format_version", 1)
    if not config.is_int(v) or v < 1:
        raise files.RunFileError(f"{path} is damaged (format_version {v!r} is not a positive integer)", "restore it "
                                 "from a copy, or rerun train.py with --overwrite to start this variant over")
    if v > CURRENT:
        raise files.RunFileError(f"{Path(path).parent} was written by a newer distnet (config.json format_version {v}, "
                                 f"this one reads up to {CURRENT}); upgrade distnet to read it")
    return v


def migrate(record: dict, path) -> dict:
    """config.json's `record` (read from `path`) in the current format: a new dict, `record` is left as it is."""
    if version(record, path) == 1:
        cfg = dict(record["config"])
        cfg.setdefault("md_rank", 0)                              # before the field: full-rank MD heads
        cfg.setdefault("seed_chunk", 0)                           # before the field: every seed at once
        for field, default in config.SWEEP_DEFAULTS.items():    # before sweeps: the single-value defaults
            cfg.setdefault(field, list(default))
        record = {**record, "config": cfg}
        record.setdefault("lanes", Lanes.from_config(cfg).record())
        record["format_version"] = 2
    return record


def versions() -> dict:
    """Python, platform, JAX backend and devices, and the versions of the libraries that compute the numbers."""
    import jax   # the JAX backend and devices (this module is read by code that needs no JAX)
    out = {"python": sys.version.split()[0], "platform": platform.platform(),
           "backend": jax.default_backend(), "devices": [d.device_kind for d in jax.devices()]}
    for pkg in ("distnet", "jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "ml_collections"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def record(cfg, variant: str, data_info: dict, first_layer: dict) -> dict:
    """What config.json records: the config as this variant ran it, its protocol, the first layer that ran,
    the data's provenance and the library versions."""
    out = {"format_version": CURRENT, "variant": variant, "protocol": config.protocol(cfg),
           "config": cfg.to_dict(), "first_layer": first_layer, "data": data_info,
           "versions": versions(), "lanes": Lanes.from_config(cfg).record()}
    out["config"]["variants"] = variant
    return out
