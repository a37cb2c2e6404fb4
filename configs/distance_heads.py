"""Every distance output head at the main study's length: the four OffsetL2 variants, RBF and Mahalanobis (MD).

Command:  python train.py --config configs/distance_heads.py
          (--config.md_rank=R bounds each MD head's P_c to R rows; default: full, R = hidden)
Protocol: as configs/paper_table1.py (raw MNIST, PyTorch-default first layer, SGD lr 1e-3, full batch, 20 seeds,
          5,000 epochs); output layers from distnet.nn.heads and distnet.nn.layers.OffsetL2.
          10 x 20 x 5,000 = 1,000,000 model-epochs.
Measured: one NVIDIA H200, 10 seeds x 5,000 epochs (2026-11), test accuracy % (mean +/- std): ReLU-L2 95.98 +/-
          0.12, ReLU-L2-Neg 96.00 +/- 0.12, Abs-L2 96.37 +/- 0.11, Abs-L2-Neg 96.35 +/- 0.14, ReLU-RBF 95.19 +/- 0.17,
          Abs-RBF 95.31 +/- 0.14, ReLU-MD 97.39 +/- 0.11; ReLU-MD-Neg, Abs-MD and Abs-MD-Neg did not finish in the
          lease (ReLU-MD took 127 s, 7x an OffsetL2 head). The 20-seed run has not been made.
Cost:     Per model-epoch against a Linear head:
          benchmarks/heads_cost.py (rows in benchmarks/RESULTS.md). A short check on the 2-core CPU, shared with
          other work (2026-11-27): 3 seeds, 300 epochs, the first 3,000 training and 2,000 test images
            python train.py --config configs/distance_heads.py --config.num_seeds=3 --config.epochs=300 \
              --config.eval_every=10 --config.checkpoint_every=300 --config.chunk_epochs=100 \
              --config.data.n_train=3000 --config.data.n_test=2000
          took 1,191 s wall (447 s of CPU): about 60 s per OffsetL2/RBF variant and 180-215 s per MD variant.
Expected: at full length, the measured figures above. The short check above (test accuracy %, mean +/- std over 3 seeds; the main
          study's Linear heads under the same short settings: ReLU 79.87, Abs 79.48):
            ReLU-L2 82.90 +/- 0.25, ReLU-L2-Neg 82.92 +/- 0.38, Abs-L2 83.87 +/- 0.70, Abs-L2-Neg 83.93 +/- 0.50,
            ReLU-RBF 79.22 +/- 0.46, Abs-RBF 77.77 +/- 0.40, ReLU-MD 86.20 +/- 0.91, ReLU-MD-Neg 89.35 +/- 0.48,
            Abs-MD 82.77 +/- 0.45, Abs-MD-Neg 86.98 +/- 0.90.
Inits:    which initialisations train under the protocol (benchmarks/head_inits.py; 5,000 training images, all
          10,000 test images, 3 seeds, 300 epochs; test accuracy % at epoch 300, mean; 2-core CPU, 2026-11-27, run
          before the package's restructuring with the same head code):
            yardsticks: ReLU 86.2, ReLU-L2-Neg 87.4, Abs 86.2, Abs-L2-Neg 88.2.
            RBF, p = 1/49^2 and mu ~ N(0, 49^2) (the default): ReLU 86.0, Abs 85.1. With OffsetL2's
              mu ~ N(0, 0.1^2) it stalls (ReLU 50.9, loss 2.27 -> 1.86; Abs 61.8): while p is uniform the first
              layer gets almost no gradient (dL/dh = p sum_c g_c mu_c, and sum_c g_c = 0). p = 1 diverges (NaN in
              2 of 3 ReLU seeds, 3 of 3 Abs seeds): d logit / d log p = -0.5 p (h - mu)^2 is hundreds at init.
              p = 1/(128 * 49^2), logits O(1) at init: no learning in 300 epochs (12.5).
            MD, P ~ U(+-1/sqrt(H)) / 49 (the default): ReLU-MD 90.9, ReLU-MD-Neg 93.2, Abs-MD 89.2, Abs-MD-Neg 92.1.
              Unscaled P ~ U(+-1/sqrt(H)) fits the training set far sooner (loss 0.003-0.03) and generalises
              worse (83.7-85.0); P = I (OffsetL2 with alpha = 1): ReLU-MD 92.3, ReLU-MD-Neg 92.4.
"""
from distnet.config import base
from distnet.nn.names import HEADS, OFFSETL2


def get_config():
    c = base()
    c.variants = ",".join(OFFSETL2 + HEADS)
    return c
