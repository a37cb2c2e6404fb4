"""Does the paper's picture survive another learning rate? The six main variants at lr 1e-4, 3e-4, 1e-3 and 3e-3,
20 seeds each, 5,000 full-batch epochs: 4 x 20 = 80 lanes per variant in one compiled program.

Command:  python train.py --config configs/sweep_lr.py
          python -m distnet.analysis.report runs/sweep_lr      # the variant x lr table and figures/sweep_lr.png
Protocol: the paper's (MNIST 60k/10k, raw 0..255 inputs, PyTorch-default init, plain SGD, full batch, fp32), with
          lr swept; every lr trains from the same 20 seeds. 6 x 4 x 20 x 5,000 = 2,400,000 model-epochs.
Runtime:  a GPU study. A sweep costs what its lanes cost run one point after another (the points run in turn
          inside the program, benchmarks/sweep_cost.py), so 4x configs/paper_table1.py: about 10 minutes on one
          H200 (4 x 148 s, from paper_table1's measured time; not run). 2-core CPU: 0.18 s per model-epoch, about
          120 hours.
          Short CPU version, 269 s on the shared 2-core AMD EPYC (2026-11-27; 2 variants x 3 lrs x 3 seeds x 200
          epochs on 5,000 / 2,000 images):
          --config.variants=ReLU2,Abs2-Neg --config.lrs='(3e-4,1e-3,3e-3)' --config.num_seeds=3
          --config.epochs=200 --config.checkpoint_every=200 --config.data.n_train=5000 --config.data.n_test=2000
          It gave (test acc %, mean +/- std over 3 seeds): ReLU2 26.85 +/- 2.83, 13.03 +/- 6.68, 32.65 +/- 41.40;
          Abs2-Neg 29.50 +/- 1.70, 61.75 +/- 3.10, all 3 seeds NaN by epoch 134 at lr 3e-3 (masked).
Expected: at lr 1e-3 the numbers of configs/paper_table1.py (its docstring). At the other rates: not measured yet.
"""
from distnet.config import base


def get_config():
    c = base()
    c.variants = "ReLU,Abs,ReLU2,Abs2,ReLU2-Neg,Abs2-Neg"
    c.lrs = (1e-4, 3e-4, 1e-3, 3e-3)
    c.num_seeds = 20
    c.epochs = 5000
    return c
