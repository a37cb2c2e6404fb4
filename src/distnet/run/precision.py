"""The matmul precision and the first layer's split: which values config.matmul_precision and config.split take,
whether they fit together, and what split "auto" stands for on a backend. distnet.run.plan checks and resolves a
config with these; trainer places the inputs as they say.
"""
from __future__ import annotations

import jax

from distnet.config import ConfigError

PRECISIONS = ("default", "high", "highest", "float32", "bfloat16", "tensorfloat32")
# config.split: how the first layer runs (split.matmul). "auto" picks per backend (resolve_split).
SPLITS = ("auto", "off", "bf16", "fp16")
# bfloat16 parts per first-layer operand at each precision: 3 carry float32 exactly, 2 give bf16x3's value
SPLIT_PARTS = {"highest": 3, "high": 2}


def split_parts(split_kind: str, precision: str) -> int:
    """Parts per first-layer operand for an explicit split ("bf16" | "fp16") at `precision`; 0 for "off"."""
    if split_kind == "off":
        return 0
    return 2 if split_kind == "fp16" else SPLIT_PARTS[precision]


def check(precision: str, split_kind: str) -> None:
    """ConfigError unless config.matmul_precision and config.split are valid and fit together."""
    if precision not in PRECISIONS:
        raise ConfigError(f"config.matmul_precision={precision!r}; choose one of {', '.join(PRECISIONS)}")
    if split_kind not in SPLITS:
        raise ConfigError(f"config.split={split_kind!r}; choose one of {', '.join(SPLITS)}")
    if split_kind in ("bf16", "fp16") and precision not in SPLIT_PARTS:
        raise ConfigError(f"config.split={split_kind!r} needs config.matmul_precision "
                          f"{' or '.join(SPLIT_PARTS)} (it reproduces those precisions), not {precision!r}")


def resolve_split(split_kind: str, precision: str, exact_inputs: bool, backend: str | None = None) -> str:
    """The split "auto" stands for: "fp16" on GPUs (two float16 parts, W carried to 2^-23, at two thirds of
    the bfloat16 split's tensor-core work: the fastest measured), "bf16" on TPUs (bfloat16 is their matmul
    format), "off" on CPUs (no 16-bit matmul units: a split only multiplies the work), and "off" wherever the
    inputs are not exact in 16 bits or the precision is not highest/high. An explicit choice is returned
    unchanged."""
    if split_kind != "auto":
        return split_kind
    backend = backend or jax.default_backend()
    if not exact_inputs or precision not in SPLIT_PARTS or backend == "cpu":
        return "off"
    return "bf16" if backend == "tpu" else "fp16"
