"""Quick study: the six main variants, 3 seeds, 10,000 MNIST training images, 200 epochs, raw inputs.

Command:  python train.py                  (same as --config configs/default.py; writes runs/default)
Data:     $DISTNET_DATA_DIR/mnist if set (e.g. DISTNET_DATA_DIR=../shared/data), else tensorflow-datasets.
Runtime:  2 min 38 s on a 2-core AMD EPYC CPU (2026-11-27), 1.0 GB peak memory.
Expected: test accuracy % (mean +/- std over 3 seeds) measured then: ReLU 86.94 +/- 0.47, Abs 88.81 +/- 0.76,
          ReLU2 18.58 +/- 7.98, Abs2 89.48 +/- 0.29, ReLU2-Neg 47.81 +/- 14.34, Abs2-Neg 73.84 +/- 7.46. ReLU2 lags
          far behind, as in the paper's curves at 200 epochs.
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
