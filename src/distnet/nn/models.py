"""The variant registry: the paper's 16 model names and six distance heads -> flax.linen Modules.

Every variant is `hidden Linear -> act -> output layer [-> act] [-> Neg]` on D inputs (784 for MNIST).
Parameter names are public API:
params["hidden"]["kernel"] (D x H), params["hidden"]["bias"] (H,), params["output"]["kernel"] (H x C),
params["output"]["bias"] (-Bias variants), params["output"]["mu"] and ["alpha"] (C x H, OffsetL2 variants),
["mu"] and ["log_precision"] (C x H, RBF variants), ["mu"] (C x H) and ["P"] (C x R x H, MD variants; heads.py).

Layer values are sown into the "intermediates" collection, so
`model.apply(variables, x, mutable=["intermediates"])` also returns every layer's pre- and
post-activation values from the one forward pass:
hidden_pre, hidden_post, output_pre, output_post (after the output activation, before Neg).
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from distnet.config import ConfigError
from distnet.nn import heads, layers
from distnet.nn.names import BIAS, HEADS, MAIN, NAMES, OFFSETL2, PAPER, WIDTH, split  # noqa: F401 (the registry's names)

ACTIVATIONS = {"relu": jax.nn.relu, "abs": layers.abs_act}


@dataclasses.dataclass(frozen=True)
class Spec:
    act: str                 # first-layer activation: relu | abs
    head: str = "linear"     # output layer: linear | offsetl2 | rbf | md (heads.py)
    out_act: str | None = None  # activation after the output layer (ReLU2/Abs2 families)
    neg: bool = False        # negate the final output (the -Neg families)
    out_bias: bool = False   # bias on the output Linear (the -Bias families)


def _registry() -> dict[str, Spec]:
    reg = {}
    for act, A in (("relu", "ReLU"), ("abs", "Abs")):
        for bias, suffix in ((False, ""), (True, "-Bias")):
            reg[f"{A}{suffix}"] = Spec(act, out_bias=bias)
            reg[f"{A}2{suffix}"] = Spec(act, out_act=act, out_bias=bias)
            reg[f"{A}2-Neg{suffix}"] = Spec(act, out_act=act, neg=True, out_bias=bias)
        reg[f"{A}-L2"] = Spec(act, head="offsetl2")
        reg[f"{A}-L2-Neg"] = Spec(act, head="offsetl2", neg=True)
        reg[f"{A}-RBF"] = Spec(act, head="rbf")    # its logit is already a log-similarity: no -Neg twin
        reg[f"{A}-MD"] = Spec(act, head="md")
        reg[f"{A}-MD-Neg"] = Spec(act, head="md", neg=True)
    return reg


REGISTRY: dict[str, Spec] = _registry()


class MLP(nn.Module):
    """D -> hidden -> classes network described by a Spec."""

    spec: Spec
    hidden: int = 128
    classes: int = 10
    offsetl2_form: str = "paper"
    md_rank: int = 0         # rows of each MD head's P_c (0 = hidden, full rank)

    @nn.compact
    def __call__(self, x_BxD, clamp=None):
        """clamp (perturbation probes only): {"hidden_post" | "output_post": (lo, hi)} clips that layer's values."""
        s = self.spec
        act = ACTIVATIONS[s.act]
        clip = lambda name, v: jnp.clip(v, *clamp[name]) if clamp and name in clamp else v
        h_pre = layers.Linear(self.hidden, use_bias=True, name="hidden")(x_BxD)
        h_post = clip("hidden_post", act(h_pre))
        if s.head == "offsetl2":
            o_pre = layers.OffsetL2(self.classes, form=self.offsetl2_form, name="output")(h_post)
        elif s.head == "rbf":
            o_pre = heads.RBF(self.classes, name="output")(h_post)
        elif s.head == "md":
            o_pre = heads.MD(self.classes, rank=self.md_rank, name="output")(h_post)
        else:
            o_pre = layers.Linear(self.classes, use_bias=s.out_bias, name="output")(h_post)
        o_post = clip("output_post", ACTIVATIONS[s.out_act](o_pre) if s.out_act else o_pre)
        for name, value in (("hidden_pre", h_pre), ("hidden_post", h_post),
                            ("output_pre", o_pre), ("output_post", o_post)):
            self.sow("intermediates", name, value)
        return layers.neg(o_post) if s.neg else o_post


def check_names(names) -> None:
    """ConfigError naming the valid variants when one of `names` is not a registered variant (or one at a width,
    NAME@W with W a positive integer)."""
    for name in names:
        base, width = split(name)
        if base not in REGISTRY:
            raise ConfigError(f"unknown variant {name!r}; valid variants are: {', '.join(NAMES)} (each also as "
                              f"NAME{WIDTH}W at W hidden units, e.g. ReLU{WIDTH}10)")
        if width == 0:
            raise ConfigError(f"variant {name!r}: the width after {WIDTH!r} must be a positive integer, e.g. "
                              f"{base}{WIDTH}10")


def is_name(name: str) -> bool:
    """Whether `name` is a variant this registry builds (NAME or NAME@W)."""
    base, width = split(name)
    return base in REGISTRY and width != 0


def spec_of(name: str) -> Spec | None:
    """The Spec of a variant name (NAME or NAME@W); None for a name the registry does not know."""
    return REGISTRY.get(split(name)[0])


def width(name: str, hidden: int) -> int:
    """The hidden width a variant name trains at: its @W, else `hidden` (config.hidden)."""
    return split(name)[1] or hidden


def get(name: str, hidden: int = 128, classes: int = 10, offsetl2_form: str = "paper", md_rank: int = 0) -> MLP:
    """The flax Module of a variant by its paper name, e.g. get("Abs2-Neg"); "Abs2-Neg@10" has 10 hidden units
    whatever `hidden` says."""
    check_names([name])
    hidden = width(name, hidden)
    layers.check_form(offsetl2_form)
    heads.check_rank(md_rank, hidden)
    return MLP(REGISTRY[split(name)[0]], hidden=hidden, classes=classes, offsetl2_form=offsetl2_form, md_rank=md_rank)


def from_config(cfg, classes: int, variant: str) -> MLP:
    """The Module of `variant` as a config (a ConfigDict or its to_dict(), e.g. config.json's "config") sets
    it up: hidden width, OffsetL2 form and MD rank (absent from folders older than the field: full rank);
    `classes` comes from the data."""
    return get(variant, hidden=cfg["hidden"], classes=classes, offsetl2_form=cfg["offsetl2_form"],
               md_rank=cfg.get("md_rank", 0))


def params_bytes(model, input_dim: int) -> int:
    """Bytes of one seed's params of `model` on inputs of input_dim features (shapes only; nothing is computed)."""
    shapes = jax.eval_shape(model.init, jax.random.PRNGKey(0), jax.ShapeDtypeStruct((1, input_dim), np.float32))
    return sum(int(np.prod(s.shape)) * s.dtype.itemsize for s in jax.tree_util.tree_leaves(shapes))


def from_record(record: dict) -> MLP:
    """The Module a variant folder was trained with, from its config.json record (distnet.run.folder.read_config)."""
    return from_config(record["config"], record["data"]["classes"], record["variant"])


def in_paper_order(names) -> list[str]:
    """`names` sorted as the paper lists its variants (NAMES), each one's widths (NAME@W) after it, narrowest first;
    names it does not know come last, by name."""
    rank = {n: i for i, n in enumerate(NAMES)}
    return sorted(names, key=lambda n: (rank.get(split(n)[0], len(rank)), split(n)[1] or 0, n))


def param_twin(model):
    """The module whose `init` gives exactly `model`'s initial parameters: for a variant, the one with the same
    parameter shapes and no parameter-free choices (activations, Neg, the OffsetL2 form and md_rank outside MD heads draw nothing). The
    trainer compiles one init program per twin, so the six main variants share one."""
    if isinstance(model, MLP):
        return model.clone(spec=Spec("relu", head=model.spec.head, out_bias=model.spec.out_bias),
                           offsetl2_form="paper", md_rank=model.md_rank if model.spec.head == "md" else 0)
    return model


def intermediates(model: MLP, variables, x_BxD):
    """(output, {hidden_pre, hidden_post, output_pre, output_post}) from one forward pass."""
    out, state = model.apply(variables, x_BxD, mutable=["intermediates"])
    return out, {k: v[0] for k, v in state["intermediates"].items()}
