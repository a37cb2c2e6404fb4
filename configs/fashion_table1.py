"""The main study (configs/paper_table1.py) on Fashion-MNIST: six variants without output bias, 20 seeds, 5,000
full-batch epochs.

Command:  python train.py --config configs/fashion_table1.py
Data:     $DISTNET_DATA_DIR/fashion_mnist (the four gzip IDX files, e.g. DISTNET_DATA_DIR=../shared/data), else
          tensorflow-datasets.
Protocol: as configs/paper_table1.py (raw 0..255 inputs, PyTorch-default init, plain SGD lr 1e-3, full batch, test
          accuracy every epoch, fp32 matmuls) on Fashion-MNIST 60k/10k. 6 x 20 x 5,000 = 600,000 model-epochs.
Runtime:  a GPU study, not run yet (the shapes of configs/paper_table1.py, whose full run took 148 s on one H200).
          Short-run checks on a 2-core CPU shared with other work (2026-12-04):
            python train.py --config configs/fashion_table1.py --config.num_seeds=3 --config.epochs=200 \
              --config.checkpoint_every=100 --config.chunk_epochs=50 --config.data.n_train=10000 --workdir /tmp/fash
          (configs/default.py's sizes; all 10,000 test images) took 242 s wall, 0.96 GB peak memory; with
          --config.num_seeds=2 --config.data.n_train=2000 --config.data.n_test=1000 instead, 31 s.
Expected: full length: not run yet. The short checks above, test accuracy % (mean +/- std over the seeds):
            10,000 images, 3 seeds: ReLU 71.70 +/- 1.40, Abs 10.00 +/- 0.00, ReLU2 38.46 +/- 27.97, Abs2 diverged
              (NaN/Inf in every seed by epoch 125-129), ReLU2-Neg 10.20 +/- 0.40, Abs2-Neg 8.54 +/- 5.38
              (configs/default.py on MNIST: ReLU 86.94, Abs 88.80, Abs2 89.51, Abs2-Neg 75.95).
            2,000 images, 2 seeds: ReLU 65.15 +/- 9.55, Abs 8.45 +/- 1.48, ReLU2 36.15 +/- 27.37, Abs2 diverged
              (epochs 121 and 141), ReLU2-Neg 15.60 +/- 5.23, Abs2-Neg 12.85 +/- 2.47.
          So MNIST's protocol (raw 0..255 pixels, lr 1e-3) does not carry over as it is: every variant but ReLU and
          ReLU2 ends at or near chance (10%) or diverges, where on MNIST Abs, Abs2 and Abs2-Neg train. Fashion-MNIST's
          training images are brighter (mean pixel 72.9 against MNIST's 33.3; 50% of pixels nonzero against 19%).
          Whether these variants train at full length, or need a smaller lr or data.preprocess=unit, is not
          measured yet.
"""
from distnet.config import base


def get_config():
    c = base()
    c.variants = "ReLU,Abs,ReLU2,Abs2,ReLU2-Neg,Abs2-Neg"
    c.data.name = "fashion_mnist"
    return c
