"""Every distance output head (configs/distance_heads.py) on Fashion-MNIST: the four OffsetL2 variants, RBF and
Mahalanobis (MD), 20 seeds, 5,000 full-batch epochs.

Command:  python train.py --config configs/fashion_heads.py
          (--config.md_rank=R bounds each MD head's P_c to R rows; default: full, R = hidden)
Data:     $DISTNET_DATA_DIR/fashion_mnist (the four gzip IDX files), else tensorflow-datasets.
Protocol: as configs/distance_heads.py (raw inputs, PyTorch-default first layer, SGD lr 1e-3, full batch) on
          Fashion-MNIST 60k/10k. 10 x 20 x 5,000 = 1,000,000 model-epochs.
Runtime:  a GPU study, not run yet (on MNIST an MD head took 7x an OffsetL2 head: configs/distance_heads.py).
          Short-run check on a 2-core CPU shared with other work (2026-12-04):
            python train.py --config configs/fashion_heads.py --config.num_seeds=2 --config.epochs=200 \
              --config.checkpoint_every=100 --config.chunk_epochs=50 --config.data.n_train=2000 \
              --config.data.n_test=1000 --workdir /tmp/fash_heads
          took 119 s wall, 0.93 GB peak memory (6-8 s per OffsetL2/RBF variant, 15-20 s per MD variant).
Expected: full length: not run yet. The short check above, test accuracy % (mean +/- std over 2 seeds):
            ReLU-L2 77.55 +/- 0.49, ReLU-L2-Neg 77.70 +/- 0.14, Abs-L2 78.35 +/- 0.07, Abs-L2-Neg 78.20 +/- 0.00,
            ReLU-RBF 73.20 +/- 1.13, Abs-RBF 73.65 +/- 3.32, ReLU-MD 80.05 +/- 1.06, ReLU-MD-Neg 81.20 +/- 1.27,
            Abs-MD diverged (NaN/Inf at epochs 83 and 104), Abs-MD-Neg 79.95 +/- 0.21.
          The main study's Linear heads under the same short settings (configs/fashion_table1.py's docstring):
          ReLU 65.15, Abs 8.45: every distance head but Abs-MD trains where Abs with a Linear head stays at chance.
"""
from distnet.config import base
from distnet.nn.names import HEADS, OFFSETL2


def get_config():
    c = base()
    c.variants = ",".join(OFFSETL2 + HEADS)
    c.data.name = "fashion_mnist"
    return c
