"""Will the seeds fit in memory? Checked before anything is allocated, so too many seeds at once is one sentence
naming config.seed_chunk and a value that fits, not an out-of-memory traceback minutes in.

What training holds: every lane's parameters (STATE_COPIES copies: the state, the chunk's output, the host copy a
checkpoint writes, the finite check) plus, for the seeds of one chunk (config.seed_chunk, else all), what XLA's own
memory analysis says one seed's training program needs beyond its inputs (activations, gradients, the scan's
carry). That program is compiled for one seed only when a generous upper bound (UPPER_FACTOR) might not fit, so the
common run compiles nothing extra. The statistics after training and analyze hold at most seed_chunk seeds' worth
of rows at once (distnet.analysis.stats.bounded), below training's full-batch activations.
"""
from __future__ import annotations

import os
import resource

import jax
import numpy as np

from distnet import config
from distnet.lanes import Lanes
from distnet.nn import models
from distnet.run import trainer

STATE_COPIES = 4        # parameter copies per lane held at once (measured: 400 vs 50 MNIST-shaped seeds, +3.8 copies)
USABLE = 0.8            # share of the available memory a run may plan to use (allocator slack, fragmentation)
UPPER_FACTOR = 64       # float32 values per (input x activation column) no head's training program exceeds (XLA's
#                         analysis on CPU, 2,000 + 500 inputs, H = 128: Linear 2.2, OffsetL2 3.6, MD 1.5 per input
#                         x (H + C) columns, H + C R for MD; tests/test_memory.py holds the bound above it)


def available_bytes() -> int | None:
    """Memory this process may still allocate on the default device: the GPU/TPU's free memory, or on a CPU the
    least of the system's available memory, the address-space limit (ulimit -v) less what the process maps
    already, and the cgroup's limit less its usage. None when nothing can be read."""
    dev = jax.devices()[0]
    if dev.platform != "cpu":
        stats = dev.memory_stats() or {}
        return stats["bytes_limit"] - stats.get("bytes_in_use", 0) if "bytes_limit" in stats else None
    found = []
    meminfo = _read_kb("/proc/meminfo", "MemAvailable:")
    if meminfo is not None:
        found.append(meminfo)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    mapped = _read_kb("/proc/self/status", "VmSize:")
    if soft != resource.RLIM_INFINITY and mapped is not None:
        found.append(soft - mapped)
    try:
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        if limit != "max":
            found.append(int(limit) - int(open("/sys/fs/cgroup/memory.current").read()))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _read_kb(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            line = next((line for line in f if line.startswith(key)), None)
    except OSError:
        return None
    return int(line.split()[1]) * 1024 if line else None


def _width(model) -> int:
    """Float32 columns per input of the widest activations: hidden units plus the head's (MD: class x rank)."""
    return model.hidden + model.classes * ((model.md_rank or model.hidden) if model.spec.head == "md" else 1)


def seed_bytes(model, data: trainer.Data, chunk_epochs: int, exact: bool) -> int:
    """Bytes one seed's training program needs beyond its shared inputs: XLA's memory analysis of the program
    compiled for one seed (exact), else the upper bound UPPER_FACTOR x inputs x width."""
    n = data.y_train.shape[0] + data.y_test.shape[0]
    if not exact:
        return UPPER_FACTOR * n * _width(model) * 4
    train, hp = trainer.make_train(model, input_dim=data.x_train.shape[1]), trainer.Hyper.of(1.0)
    params = jax.eval_shape(lambda keys: train.init(keys, hp), jax.ShapeDtypeStruct((1, 2), np.uint32))
    memory = train.lower(params, hp, data, chunk_epochs)[0].compile().memory_analysis()
    if memory is None:    # a backend without the analysis: the bound stands in
        return UPPER_FACTOR * n * _width(model) * 4
    return int(memory.temp_size_in_bytes + 2 * memory.output_size_in_bytes)


def check(cfg, variants, classes: int, data: trainer.Data, chunk_epochs: int, available: int | None = None) -> None:
    """ConfigError, before anything is allocated, when a variant's seeds would not fit in memory: one sentence
    naming config.seed_chunk and the largest value that fits (or, when the parameters of every seed alone do not
    fit, config.num_seeds)."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    budget = USABLE * available
    lanes = Lanes.from_config(cfg)
    at_once = min(cfg.seed_chunk or cfg.num_seeds, cfg.num_seeds)
    # a chunk's seeds are sharded over the accelerators (CPU "devices" share one memory)
    devices = jax.local_device_count() if jax.default_backend() != "cpu" else 1
    for variant in variants:
        model = models.from_config(cfg, classes, variant)
        state = STATE_COPIES * lanes.n * models.params_bytes(model, data.x_train.shape[1])
        if state + -(-at_once // devices) * seed_bytes(model, data, chunk_epochs, exact=False) <= budget:
            continue
        per_seed = seed_bytes(model, data, chunk_epochs, exact=True)
        need = state + -(-at_once // devices) * per_seed
        if need <= budget:
            continue
        gib = lambda b: f"{b / 2 ** 30:.1f} GiB"
        where = f"{jax.default_backend()} ({gib(available)} available)"
        fits = int((budget - state) // per_seed) * devices
        per_lane = STATE_COPIES * models.params_bytes(model, data.x_train.shape[1]) * lanes.n_points
        if per_lane + per_seed > budget:     # not even one seed: fewer seeds cannot help
            raise config.ConfigError(
                f"one seed of {variant} at config.hidden={cfg.hidden} needs about {gib(per_lane + per_seed)} on this "
                f"{where}; reduce config.hidden (or the data) until one seed fits")
        if fits < 1:   # the parameters alone: fewer seeds per run (one at a time)
            raise config.ConfigError(
                f"config.num_seeds={cfg.num_seeds}: the parameters of {variant}'s {lanes.n} lanes alone need about "
                f"{gib(state)} on this {where}; train at most {max(1, int((budget - per_seed) // per_lane))} seeds "
                f"per run (config.num_seeds)")
        raise config.ConfigError(
            f"{variant} would train {at_once} seeds at once, needing about {gib(need)} on this {where}; set "
            f"config.seed_chunk={min(fits, cfg.num_seeds)} (or less) to train them that many at a time")
