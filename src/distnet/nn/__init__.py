"""The networks: PyTorch-compatible layers and the OffsetL2 distance layer (layers), the first layer on exact
16-bit parts (split), and the paper's variants by name (models)."""
