"""Tiny synthetic run used by the tests: two variants, 2 seeds, 20 epochs on 200 Gaussian points in 16-d.

Command:  python train.py --config configs/smoke.py --workdir /tmp/smoke
Runtime:  a few seconds, most of it compilation.
Expected: well-separated Gaussians, so test accuracy climbs far above chance (10%) within 20 epochs.
"""
from distnet.config import base


def get_config():
    c = base()
    c.variants = "ReLU,Abs2-Neg"
    c.lr = 0.05                       # unit-scale Gaussian inputs need a larger step than raw pixels
    c.num_seeds = 2
    c.epochs = 20
    c.eval_every = 1
    c.checkpoint_every = 10
    c.chunk_epochs = 5
    c.hidden = 16
    c.data.name = "gaussians"
    c.data.n_train = 200
    c.data.n_test = 100
    c.data.dim = 16
    return c
