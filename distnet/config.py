"""The config schema (field names are stable CLI API), its defaults and validation.

Configs are ml_collections ConfigDicts built by `configs/*.py:get_config()` on top of `base()`. They are
read, never mutated, after validation.
"""
from __future__ import annotations

import math

import ml_collections

from distnet import data, layers, models, training

# Fields that define the experiment: resuming a run folder with a different value is refused.
PROTOCOL_FIELDS = ("seed", "num_seeds", "epochs", "lr", "hidden", "eval_every", "matmul_precision",
                   "offsetl2_form", "data")


def base() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.variants = ",".join(models.MAIN)   # comma list of registry names
    c.seed = 0                           # seed index i trains from fold_in(PRNGKey(seed), i)
    c.num_seeds = 20
    c.epochs = 5000
    c.lr = 1e-3
    c.hidden = 128
    c.eval_every = 1                     # record train loss/acc and test acc every this many epochs
    c.checkpoint_every = 1000            # epochs between checkpoints (also at step 0 and at the end)
    c.chunk_epochs = 100                 # epochs per compiled scan: progress and NaN checks happen between
    c.seed_chunk = 0                     # train at most this many seeds at once (0 = all): bounds memory
    c.distributed = False                # multi-host: call jax.distributed.initialize(), shard seeds over all hosts
    c.matmul_precision = "highest"       # full fp32: on GPU the default (TF32/bf16) changes results
    c.split = "auto"                     # first layer as exact 16-bit parts on matmul units: auto|off|bf16|fp16
    c.offsetl2_form = "paper"            # paper: ||alpha*(x-mu)||; code: sqrt(sum alpha*(x-mu)^2)
    c.data = ml_collections.ConfigDict()
    c.data.name = "mnist"
    c.data.source = "auto"               # auto: data.dir or $DISTNET_DATA_DIR if set, else tfds
    c.data.dir = ""
    c.data.preprocess = "raw"            # the released code trains on raw 0..255 pixels
    c.data.n_train = 0                   # 0 = the whole training set
    c.data.n_test = 0                    # 0 = the whole test set
    c.data.dim = 784                     # gaussians only
    c.data.seed = 0                      # gaussians only
    return c


class ConfigError(ValueError):
    """A config value a user can fix; the message names the field and the valid range."""


def variant_list(cfg) -> list[str]:
    names = [v.strip() for v in str(cfg.variants).split(",") if v.strip()]
    if not names:
        raise ConfigError("config.variants is empty; give a comma list such as ReLU,Abs2-Neg")
    for n in names:
        if n not in models.REGISTRY:
            raise ConfigError(f"unknown variant {n!r} in config.variants; valid variants are: {', '.join(models.NAMES)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"config.variants lists a variant twice: {cfg.variants}")
    return names


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate(cfg) -> list[str]:
    """Check every field before anything compiles; returns the variant list."""
    names = variant_list(cfg)
    for field in ("num_seeds", "epochs", "hidden", "eval_every", "checkpoint_every", "chunk_epochs"):
        v = cfg[field]
        if not _is_int(v) or v < 1:
            raise ConfigError(f"config.{field}={v!r} must be a positive integer (>= 1)")
    if not _is_int(cfg.seed_chunk) or cfg.seed_chunk < 0:
        raise ConfigError(f"config.seed_chunk={cfg.seed_chunk!r} must be an integer >= 0 (0 = all seeds at once)")
    if not isinstance(cfg.lr, (int, float)) or not math.isfinite(cfg.lr) or cfg.lr <= 0:
        raise ConfigError(f"config.lr={cfg.lr!r} must be a finite number > 0")
    if cfg.epochs % cfg.eval_every:
        raise ConfigError(f"config.eval_every={cfg.eval_every} must divide config.epochs={cfg.epochs}")
    if cfg.checkpoint_every % cfg.eval_every:
        raise ConfigError(f"config.checkpoint_every={cfg.checkpoint_every} must be a multiple of "
                          f"config.eval_every={cfg.eval_every}")
    if cfg.checkpoint_every < cfg.epochs and cfg.epochs % cfg.checkpoint_every:
        raise ConfigError(f"config.checkpoint_every={cfg.checkpoint_every} must divide config.epochs={cfg.epochs} "
                          f"(or be >= it: a checkpoint is always written at the end)")
    if cfg.matmul_precision not in training.PRECISIONS:
        raise ConfigError(f"config.matmul_precision={cfg.matmul_precision!r}; choose one of {', '.join(training.PRECISIONS)}")
    if cfg.split not in training.SPLITS:
        raise ConfigError(f"config.split={cfg.split!r}; choose one of {', '.join(training.SPLITS)}")
    if cfg.split in ("bf16", "fp16") and cfg.matmul_precision not in training.SPLIT_PARTS:
        raise ConfigError(f"config.split={cfg.split!r} needs config.matmul_precision "
                          f"{' or '.join(training.SPLIT_PARTS)} (it reproduces those precisions), "
                          f"not {cfg.matmul_precision!r}")
    if cfg.offsetl2_form not in layers.OFFSETL2_FORMS:
        raise ConfigError(f"config.offsetl2_form={cfg.offsetl2_form!r}; choose one of {', '.join(layers.OFFSETL2_FORMS)}")
    d = cfg.data
    for field, choices in (("name", data.NAMES), ("source", data.SOURCES), ("preprocess", data.PREPROCESS)):
        if d[field] not in choices:
            raise ConfigError(f"config.data.{field}={d[field]!r}; choose one of {', '.join(choices)}")
    for field in ("n_train", "n_test"):
        if not _is_int(d[field]) or d[field] < 0:
            raise ConfigError(f"config.data.{field}={d[field]!r} must be an integer >= 0 (0 = all)")
    if d.name == "gaussians" and (not _is_int(d.dim) or d.dim < 1):
        raise ConfigError(f"config.data.dim={d.dim!r} must be a positive integer (>= 1)")
    for name, v in (("seed", cfg.seed), ("data.seed", d.seed)):
        if not _is_int(v) or not 0 <= v < 2 ** 32:
            raise ConfigError(f"config.{name}={v!r} must be an integer in 0..{2 ** 32 - 1}")
    return names


def protocol(cfg) -> dict:
    """The fields that define the experiment, as plain JSON-able values."""
    d = cfg.to_dict()
    return {k: d[k] for k in PROTOCOL_FIELDS}


def diff(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Dotted names of fields whose values differ between two protocol dicts."""
    out = []
    for k in sorted(set(saved) | set(current)):
        a, b = saved.get(k), current.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k} (folder: {a!r}, now: {b!r})")
    return out
