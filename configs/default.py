"""Quick study: the six main variants, 3 seeds, 10,000 MNIST training images, 200 epochs, raw inputs.

Command:  python train.py                  (same as --config configs/default.py; writes runs/default)
Data:     $DISTNET_DATA_DIR/mnist if set (e.g. DISTNET_DATA_DIR=../shared/data), else tensorflow-datasets.
Runtime:  2 min 38 s on a 2-core AMD EPYC CPU (2026-11-27), 1.0 GB peak memory.
Expected: test accuracy % (mean +/- std over 3 seeds), measured on a 2-core AMD EPYC CPU with FMA, 2026-12-04:
          ReLU 86.94 +/- 0.47, Abs 88.80 +/- 0.74, ReLU2 18.59 +/- 7.99, Abs2 89.51 +/- 0.28, ReLU2-Neg 47.83 +/-
          14.36, Abs2-Neg 75.95 +/- 2.29. ReLU2 lags far behind, as in the paper's curves at 200 epochs. Abs2-Neg's
          seeds are chaotic: without FMA (xla_cpu_max_isa=AVX) or on one core they end 0.5-2 points apart per seed
          (75.26 +/- 3.29); the README's default-run section has the table.
"""
from distnet.config import base


def get_config():
    c = base()
    c.num_seeds = 3
    c.epochs = 200
    c.checkpoint_every = 100
    c.chunk_epochs = 50
    c.data.n_train = 10000
    return c
