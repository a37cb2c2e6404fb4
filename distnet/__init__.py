"""distnet: distance-based representations in neural networks (JAX/Flax).

Reproduces Oursland, "Neural Networks Learn Distance Metrics" (arXiv:2502.02103).
Public entry points: `distnet.models.get`, `distnet.training.make_train`, `distnet.data.load`,
`distnet.checkpoint.restore`, `distnet.runs`.
"""

__version__ = "0.1.0"
