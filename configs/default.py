"""Quick study: the six main variants, 3 seeds, 10,000 MNIST training images, 200 epochs, raw inputs.

Command:  python train.py                  (same as --config configs/default.py; writes runs/default)
Data:     $DISTNET_DATA_DIR/mnist if set (e.g. DISTNET_DATA_DIR=../shared/data), else tensorflow-datasets.
Runtime:  see README "Studies" (measured on a 2-core CPU).
Expected: see README "Studies"; at 200 epochs ReLU2 lags far behind the other five, as in the paper's curves.
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
