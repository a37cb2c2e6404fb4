"""The variants' names, in the paper's order, as plain data: config files read them without importing JAX
(distnet.nn.models builds the networks they name)."""

MAIN = ("ReLU", "Abs", "ReLU2", "Abs2", "ReLU2-Neg", "Abs2-Neg")
BIAS = tuple(f"{n}-Bias" for n in MAIN)
OFFSETL2 = ("ReLU-L2", "ReLU-L2-Neg", "Abs-L2", "Abs-L2-Neg")
HEADS = ("ReLU-RBF", "Abs-RBF", "ReLU-MD", "ReLU-MD-Neg", "Abs-MD", "Abs-MD-Neg")   # not trained in the paper
PAPER = MAIN + BIAS + OFFSETL2      # the variants the paper trains and publishes numbers for
NAMES = PAPER + HEADS
