"""The config schema (field names are stable CLI API), its defaults, the checks that need nothing else, and the
loading of a config file (PATH or PATH:ARG) with the check of the field names a command line overrides.

Configs are ml_collections ConfigDicts built by `configs/*.py:get_config()` on top of `base()`; they are read,
never mutated, after validation. This module imports no JAX (nor do configs/*.py: variant groups come from
distnet.nn.names), so a config file loads in milliseconds.

A value checked against what it names lives next to that thing: variant names in the registry (distnet.nn.models),
the OffsetL2 form in its layer, the MD rank in its head, the precision and the split in the trainer, the data
fields in distnet.data. `distnet.run.plan.validate` runs every check before anything compiles, and
`distnet.run.plan.Plan` holds what a study derives from its config.
"""
from __future__ import annotations

import difflib
import importlib.machinery
import importlib.util
import inspect
import itertools
import math

import ml_collections

# Fields that define the experiment: resuming a run folder with a different value is refused.
PROTOCOL_FIELDS = ("seed", "num_seeds", "epochs", "lr", "hidden", "eval_every", "matmul_precision",
                   "offsetl2_form", "data")
# Fields that change the computed numbers without changing the experiment, also refused on resume: seed_chunk
# changes the width of the vmapped program and with it float reassociation (close, not bit-identical:
# tests/test_study.py).
PROGRAM_FIELDS = ("seed_chunk",)
# Where the data is read from, not compared: the data itself is compared by its SHA-256 (distnet.run.folder).
LOCATION_FIELDS = ("dir", "source", "path")     # of config.data
# Every other field, and why a resume need not compare it (tests/test_preflight.py checks that this list and the
# two above cover every field of base()).
UNCOMPARED_FIELDS = {
    "variants": "each variant has its own folder",
    "checkpoint_every": "leaves every number bit-identical (tests/test_study.py)",
    "chunk_epochs": "leaves every number bit-identical (tests/test_study.py)",
    "split": "compared as it resolves, config.json's first_layer (distnet.run.preflight)",
    "distributed": "says where seeds run; another backend or device count is said aloud (distnet.run.preflight)",
    "tensorboard": "only adds event files beside the run (tests/test_study.py: numbers unchanged)",
    "widths": "each width is its own variant folder, NAME@W, whose name holds the width",
}


# The schema: (dotted name, default, what it means), in the order --help lists them. base() builds its ConfigDict
# from these rows and --help prints them, so the help cannot drift from the defaults.
SCHEMA = (
    ("variants", "ReLU,Abs,ReLU2,Abs2,ReLU2-Neg,Abs2-Neg", "comma list of variant names (the paper's main six)"),
    ("seed", 0, "seed index i trains from fold_in(PRNGKey(seed), i)"),
    ("num_seeds", 20, "seeds trained at once, each from its own key"),
    ("epochs", 5000, "full-batch epochs (one SGD step each)"),
    ("lr", 1e-3, "plain SGD learning rate (when lrs is empty)"),
    ("lrs", (), "learning rates swept as lanes beside the seeds, e.g. (1e-4, 1e-3); () = (lr,)"),
    ("init_scales", (1.0,), "multipliers of every Linear's PyTorch-default init bound, swept as lanes"),
    ("weight_decays", (0.0,), "L2 coefficients (SGD on loss + wd/2 ||params||^2), swept as lanes"),
    ("hidden", 128, "first-layer units"),
    ("widths", (), "hidden widths to train every variant at, each its own variant NAME@W, e.g. (4, 10, 32)"),
    ("eval_every", 1, "record train loss/acc and test acc every this many epochs"),
    ("checkpoint_every", 1000, "epochs between checkpoints (also at step 0 and at the end)"),
    ("chunk_epochs", 100, "epochs per compiled scan: progress and NaN checks happen between"),
    ("seed_chunk", 0, "at most this many seeds at once (0 = all): bounds memory (sweep points run in turn)"),
    ("distributed", False, "multi-host: call jax.distributed.initialize(), shard seeds over all hosts"),
    ("matmul_precision", "highest", "full fp32: on GPU the default (TF32/bf16) changes results"),
    ("split", "auto", "first layer as exact 16-bit parts on matmul units: auto|off|bf16|fp16"),
    ("offsetl2_form", "paper", "paper: ||alpha*(x-mu)||; code: sqrt(sum alpha*(x-mu)^2)"),
    ("tensorboard", False, "also write TensorBoard scalars to <variant>/tensorboard/ (no TF needed)"),
    ("md_rank", 0, "rows of each MD head's P_c (*-MD variants); 0 = hidden (full rank)"),
    ("data.name", "mnist", "mnist | fashion_mnist | gaussians | npz (your arrays: data.path)"),
    ("data.source", "auto", "auto: data.dir or $DISTNET_DATA_DIR if set, else tfds"),
    ("data.dir", "", "a folder with the four gzip IDX files (else $DISTNET_DATA_DIR/<name>)"),
    ("data.path", "", "npz only: a .npz file holding x_train, y_train, x_test, y_test"),
    ("data.preprocess", "raw", "the released code trains on raw 0..255 pixels"),
    ("data.n_train", 0, "0 = the whole training set"),
    ("data.n_test", 0, "0 = the whole test set"),
    ("data.dim", 784, "gaussians only"),
    ("data.seed", 0, "gaussians only"),
)


def base() -> ml_collections.ConfigDict:
    """A ConfigDict holding every field of SCHEMA at its default."""
    c = ml_collections.ConfigDict()
    for name, default, _ in SCHEMA:
        *parents, leaf = name.split(".")
        node = c
        for part in parents:
            if part not in node:
                node[part] = ml_collections.ConfigDict()
            node = node[part]
        node[leaf] = default
    return c


def fields() -> list[tuple[str, object, str]]:
    """(dotted name, default, what it means) of every field of base(), in SCHEMA's order (--help lists them)."""
    return list(SCHEMA)


class ConfigError(ValueError):
    """A config value a user can fix; the message names the field and the valid range."""


# --- config files and the fields a command line names -------------------------------------------------------

def load_file(spec: str) -> ml_collections.ConfigDict:
    """get_config() of a config file named as --config takes it, PATH or PATH:ARG (as ml_collections does,
    everything after the first ':' is get_config's one argument). ConfigError, naming the file and the fix, when
    the file cannot be read or compiled, defines no get_config, or is given an argument its get_config does not
    take (or not given one it needs); a config validates its argument itself and raises ConfigError."""
    path, *arg = spec.split(":", 1)
    loader = importlib.machinery.SourceFileLoader("distnet_config_file", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    try:
        loader.exec_module(module)
    except OSError as e:
        raise ConfigError(f"cannot load the config file {path} ({e.strerror or e}); give an existing file such "
                          f"as --config configs/default.py") from e
    except SyntaxError as e:
        raise ConfigError(f"cannot load the config file {path} ({e.msg}, line {e.lineno}); fix it, or give "
                          f"another such as --config configs/default.py") from e
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"the config file {path} defines no get_config(); a config file returns its ConfigDict "
                          f"from get_config(), as configs/default.py does")
    try:
        inspect.signature(get_config).bind(*arg)
    except TypeError:
        raise ConfigError(f"{path} takes no argument after ':' (got {arg[0]!r}); give --config {path}" if arg else
                          f"{path} needs an argument, --config {path}:ARG; its docstring says which") from None
    return get_config(*arg)


def field_names(cfg, prefix: str = "") -> list[str]:
    """Dotted names of every field of a ConfigDict, nested ConfigDicts and their fields alike."""
    out = []
    for key, value in cfg.items():
        out.append(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):
            out += field_names(value, f"{prefix}{key}.")
    return out


def check_overrides(cfg, names, absent: dict[str, str] | None = None) -> None:
    """ConfigError for the first dotted name (--config.NAME=VALUE) that is no field of cfg, naming the closest
    field; absent: {name: the message} for fields that some config files add and cfg does not have."""
    known = field_names(cfg)
    for name in names:
        if name.split("[")[0] in known:        # ml_collections also takes an element: --config.lrs[0]=1e-4
            continue
        if absent and name in absent:
            raise ConfigError(absent[name])
        close = difflib.get_close_matches(name, known, n=1)
        raise ConfigError(f"unknown config field {name!r}{f' (did you mean {close[0]!r}?)' if close else ''} on the "
                          f"command line; `python train.py --help` lists every field with its default")


WIDTH = "@"     # NAME@W: the variant NAME at W hidden units (config.widths; distnet.nn.names.split reads it)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def variant_list(cfg) -> list[str]:
    """config.variants as a list: non-empty, no name twice (whether each name exists is the registry's check)."""
    names = [v.strip() for v in str(cfg.variants).split(",") if v.strip()]
    if not names:
        raise ConfigError("config.variants is empty; give a comma list such as ReLU,Abs2-Neg")
    if len(set(names)) != len(names):
        raise ConfigError(f"config.variants lists a variant twice: {cfg.variants}")
    widths = list(cfg.get("widths", ()))
    if any(not is_int(w) or w < 1 for w in widths) or len(set(widths)) != len(widths):
        raise ConfigError(f"config.widths={tuple(widths)!r} must be distinct positive integers, e.g. '(4,10,32)'")
    if widths and any(WIDTH in n for n in names):
        raise ConfigError(f"config.widths and a variant named NAME{WIDTH}W both set a width; use one of them")
    return [f"{n}{WIDTH}{w}" for n in names for w in widths] if widths else names


def check(cfg) -> None:
    """The fields whose valid range needs no other module: counts, epochs and their divisibility, lr, seeds."""
    for field in ("num_seeds", "epochs", "hidden", "eval_every", "checkpoint_every", "chunk_epochs"):
        v = cfg[field]
        if not is_int(v) or v < 1:
            raise ConfigError(f"config.{field}={v!r} must be a positive integer (>= 1)")
    if not is_int(cfg.seed_chunk) or cfg.seed_chunk < 0:
        raise ConfigError(f"config.seed_chunk={cfg.seed_chunk!r} must be an integer >= 0 (0 = all seeds at once)")
    if not isinstance(cfg.lr, (int, float)) or not math.isfinite(cfg.lr) or cfg.lr <= 0:
        raise ConfigError(f"config.lr={cfg.lr!r} must be a finite number > 0")
    check_sweep(cfg)
    if cfg.epochs % cfg.eval_every:
        raise ConfigError(f"config.eval_every={cfg.eval_every} must divide config.epochs={cfg.epochs}")
    if cfg.checkpoint_every % cfg.eval_every:
        raise ConfigError(f"config.checkpoint_every={cfg.checkpoint_every} must be a multiple of "
                          f"config.eval_every={cfg.eval_every}")
    if cfg.checkpoint_every < cfg.epochs and cfg.epochs % cfg.checkpoint_every:
        raise ConfigError(f"config.checkpoint_every={cfg.checkpoint_every} must divide config.epochs={cfg.epochs} "
                          f"(or be >= it: a checkpoint is always written at the end)")
    if not is_int(cfg.seed) or not 0 <= cfg.seed < 2 ** 32:
        raise ConfigError(f"config.seed={cfg.seed!r} must be an integer in 0..{2 ** 32 - 1}")


def protocol(cfg) -> dict:
    """The fields that define the experiment, as plain JSON-able values. The sweep fields are included only where
    they sweep (differ from their single-value defaults), so a single-value run's protocol is what it always was
    and folders written before sweeps existed still resume."""
    d = cfg.to_dict()
    out = {k: d[k] for k in PROTOCOL_FIELDS}
    if d.get("md_rank", 0):   # recorded only when set, so folders written before the field still resume
        out["md_rank"] = d["md_rank"]
    if not out["data"].get("path"):   # likewise data.path: folders from before it still take new variants
        out["data"] = {k: v for k, v in out["data"].items() if k != "path"}
    for field, default in SWEEP_DEFAULTS.items():
        if tuple(d.get(field, default)) != default:
            out[field] = list(d[field])
    return out


# --- sweeps: lanes beside the seeds ------------------------------------------------------------------------
# A sweep point is one (lr, init_scale, weight_decay) of the cross product of config.lrs x init_scales x
# weight_decays (lr-major). A variant trains every point from the same seeds, each (point, seed) a lane (laid out
# by distnet.lanes.Lanes), so points can be compared seed by seed.

SWEEP_DEFAULTS = {"lrs": (), "init_scales": (1.0,), "weight_decays": (0.0,)}
SWEEP_AXES = (("lr", "lrs"), ("init_scale", "init_scales"), ("weight_decay", "weight_decays"))


def sweep_axes(cfg) -> dict[str, list[float]]:
    """{"lr": [...], "init_scale": [...], "weight_decay": [...]} of a config (a ConfigDict or its to_dict())."""
    return {"lr": [float(v) for v in (cfg["lrs"] if cfg.get("lrs") else (cfg["lr"],))],
            "init_scale": [float(v) for v in cfg.get("init_scales", (1.0,))],
            "weight_decay": [float(v) for v in cfg.get("weight_decays", (0.0,))]}


def sweep_points(cfg) -> list[dict[str, float]]:
    """Every point of the sweep, in lane order (lr-major); one point for a single-value config."""
    axes = sweep_axes(cfg)
    return [dict(zip(axes, values)) for values in itertools.product(*axes.values())]


def check_sweep(cfg) -> None:
    """lrs > 0, init_scales > 0, weight_decays >= 0, all finite, none twice, init_scales and weight_decays not
    empty."""
    for field, low, strict in (("lrs", 0.0, True), ("init_scales", 0.0, True), ("weight_decays", 0.0, False)):
        values = cfg[field]
        if not isinstance(values, (tuple, list)) or (field != "lrs" and not values):
            raise ConfigError(f"config.{field}={values!r} must be a non-empty tuple of numbers, e.g. "
                              f"--config.{field}='{SWEEP_EXAMPLES[field]}'")
        for v in values:
            if (not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v)
                    or (v <= low if strict else v < low)):
                raise ConfigError(f"config.{field}={tuple(values)!r}: every value must be a finite number "
                                  f"{'>' if strict else '>='} {low:g}, not {v!r}")
        if len(set(values)) != len(values):
            raise ConfigError(f"config.{field}={tuple(values)!r} lists a value twice; give each value once")


SWEEP_EXAMPLES = {"lrs": "(1e-4,1e-3)", "init_scales": "(0.5,1.0,2.0)", "weight_decays": "(0.0,1e-4)",
                  "widths": "(4,10,32)"}


def identity(d: dict) -> dict:
    """The fields of a config dict (cfg.to_dict(), or the "config" a run folder's config.json records) that a
    resume must keep: PROTOCOL_FIELDS and PROGRAM_FIELDS, the sweep's fields, without data's LOCATION_FIELDS."""
    out = {k: d[k] for k in PROTOCOL_FIELDS + PROGRAM_FIELDS}
    # the sweep's values, as lists (JSON's form); a folder from before sweeps has the single-value defaults
    out.update({k: [float(v) for v in d.get(k, default)] for k, default in SWEEP_DEFAULTS.items()})
    out["data"] = {k: v for k, v in d["data"].items() if k not in LOCATION_FIELDS}
    out["md_rank"] = d.get("md_rank", 0)   # folders written before the field hold full-rank (0) MD heads
    return out


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
