"""The variants' names, in the paper's order, as plain data: config files read them without importing JAX
(distnet.nn.models builds the networks they name)."""
from distnet.config import WIDTH   # NAME@W: the variant NAME at W hidden units (config.widths), e.g. "ReLU@10"

MAIN = ("ReLU", "Abs", "ReLU2", "Abs2", "ReLU2-Neg", "Abs2-Neg")
BIAS = tuple(f"{n}-Bias" for n in MAIN)
OFFSETL2 = ("ReLU-L2", "ReLU-L2-Neg", "Abs-L2", "Abs-L2-Neg")
HEADS = ("ReLU-RBF", "Abs-RBF", "ReLU-MD", "ReLU-MD-Neg", "Abs-MD", "Abs-MD-Neg")   # not trained in the paper
PAPER = MAIN + BIAS + OFFSETL2      # the variants the paper trains and publishes numbers for
NAMES = PAPER + HEADS


def split(name: str) -> tuple[str, int | None]:
    """(the registered name, its width or None) of a variant name: "ReLU@10" -> ("ReLU", 10); "ReLU" -> ("ReLU",
    None); a width that is not a positive integer gives 0 (which no check accepts)."""
    base, sep, width = name.partition(WIDTH)
    if not sep:
        return name, None
    return base, int(width) if width.isdigit() and int(width) > 0 else 0
