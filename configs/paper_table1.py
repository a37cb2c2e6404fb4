"""The paper's main study (Table 1): six variants without output bias, 20 seeds, 5,000 full-batch epochs.

Command:  python train.py --config configs/paper_table1.py
Protocol: MNIST 60k/10k, raw 0..255 inputs, PyTorch-default init, plain SGD lr 1e-3, full batch, test accuracy
          every epoch, fp32 matmuls. 6 x 20 x 5,000 = 600,000 model-epochs.
Runtime:  CPU-bound at about 0.25-0.3 s per model-epoch on a 2-core CPU (about two days); on a GPU see
          README "Speed". Shorter looks: --config.num_seeds=3 --config.epochs=200.
Expected: published (mean +/- std %): ReLU 96.62/95.64, Abs 95.87/95.26, ReLU2 56.31/47.20 (+/- 12-19),
          Abs2 95.95/95.35, ReLU2-Neg 96.46/94.93, Abs2-Neg 92.25/90.08 (Table 1 / discussion text).
"""
from distnet import models
from distnet.config import base


def get_config():
    c = base()
    c.variants = ",".join(models.MAIN)
    return c
