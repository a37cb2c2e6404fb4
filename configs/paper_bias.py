"""The paper's bias study (Table 2): the six main variants with a bias on the output Linear.

Command:  python train.py --config configs/paper_bias.py
Protocol: as configs/paper_table1.py (20 seeds, 5,000 epochs, raw MNIST, SGD lr 1e-3, full batch).
Runtime:  not measured on its own; same shapes and epochs as configs/paper_table1.py, so expect its runtime.
Expected: published (mean +/- std %): Abs-Bias 95.23 +/- 0.16, ReLU-Bias 95.69 +/- 0.17, Abs2-Bias 95.38 +/- 0.17,
          Abs2-Neg-Bias 90.53 +/- 2.36, ReLU2-Bias 39.94 +/- 18.84, ReLU2-Neg-Bias 94.92 +/- 0.18.
Measured: one NVIDIA H200, 20 seeds x 5,000 epochs (2026-11): ReLU-Bias 95.72 +/- 0.18, Abs-Bias 95.32 +/- 0.16,
          ReLU2-Bias 43.99 +/- 17.73, Abs2-Bias 95.44 +/- 0.19, ReLU2-Neg-Bias 94.91 +/- 0.27, Abs2-Neg-Bias 90.98
          +/- 2.97: all six inside the published mean +/- 2 std.
"""
from distnet.config import base


def get_config():
    c = base()
    c.variants = "ReLU-Bias,Abs-Bias,ReLU2-Bias,Abs2-Bias,ReLU2-Neg-Bias,Abs2-Neg-Bias"
    return c
