"""What a study derives from its config, checked and computed once: the variants, the chunk length, which
epochs get checkpoints, and the first layer that runs on this backend and data.

`validate(cfg)` runs every check of every field (each lives next to what it checks) before anything loads or
compiles; `make(cfg, dataset)` builds the frozen Plan the study loop reads.
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np

from distnet import config, data
from distnet.nn import heads, layers, models, split
from distnet.run import precision


@dataclasses.dataclass(frozen=True)
class Plan:
    variants: tuple[str, ...]
    epochs: int
    eval_every: int
    checkpoint_every: int
    chunk: int          # epochs per compiled scan: every chunk has one static length, so a run compiles once
    split: str          # the first layer that runs: off | bf16 | fp16 (config.split resolved)
    parts: int          # 16-bit parts per first-layer operand (0 for off)

    def checkpoint_due(self, epoch: int) -> bool:
        """A checkpoint is written every checkpoint_every epochs and at the end (and on a requested stop)."""
        return epoch % self.checkpoint_every == 0 or epoch == self.epochs

    def recorded_epochs(self, end: int) -> np.ndarray:
        """The epochs whose metrics the chunk ending at epoch `end` records."""
        return np.arange(end - self.chunk + self.eval_every, end + 1, self.eval_every)

    def resumable_from(self, epoch: int) -> bool:
        """A checkpoint at `epoch` lies on this plan's chunk boundaries (else the rest cannot be chunked the same)."""
        return (self.epochs - epoch) % self.chunk == 0


def chunk_length(epochs: int, checkpoint_every: int, eval_every: int, target: int) -> int:
    """Epochs per compiled scan: the largest multiple of eval_every dividing both `epochs` and
    `checkpoint_every` that is at most `target` (at least eval_every), so every chunk has one static length
    and a run compiles once."""
    g = np.gcd(epochs, checkpoint_every)
    best = eval_every
    for d in range(eval_every, min(g, max(target, eval_every)) + 1, eval_every):
        if g % d == 0:
            best = d
    return best


def validate(cfg) -> list[str]:
    """Check every field of `cfg` (ConfigError naming the first bad one); returns the variant list."""
    variants = config.variant_list(cfg)
    models.check_names(variants)
    config.check(cfg)
    precision.check(cfg.matmul_precision, cfg.split)
    layers.check_form(cfg.offsetl2_form)
    heads.check_rank(cfg.md_rank, cfg.hidden)
    data.check_config(cfg.data)
    return variants


def make(cfg, dataset: data.Dataset, backend: str | None = None) -> Plan:
    """The plan of a validated config on the loaded dataset (whose inputs decide whether a split is exact)."""
    exact = all(split.exact_in(x, kind) for x in (dataset.x_train, dataset.x_test) for kind in split.DTYPES)
    split_kind = precision.resolve_split(cfg.split, cfg.matmul_precision, exact, backend)
    here = backend in (None, jax.default_backend())            # the probe compiles on the default backend
    if split_kind != "off" and here and not split.converts(split_kind):
        raise config.ConfigError(
            f"config.split={cfg.split!r} runs the first layer in {split_kind} parts, but XLA cannot compile a "
            f"conversion to {split.DTYPES[split_kind].dtype.name} on this {jax.default_backend().upper()} (no F16C, "
            f"or XLA_FLAGS limits the instruction set); use --config.split=off (or bf16)")
    return Plan(variants=tuple(config.variant_list(cfg)), epochs=cfg.epochs, eval_every=cfg.eval_every,
                checkpoint_every=cfg.checkpoint_every,
                chunk=chunk_length(cfg.epochs, cfg.checkpoint_every, cfg.eval_every, cfg.chunk_epochs),
                split=split_kind, parts=precision.split_parts(split_kind, cfg.matmul_precision))
