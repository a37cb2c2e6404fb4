"""Geometry with a known answer: the main, OffsetL2 and distance-head variants on synthetic Gaussians whose
means and covariances are recorded (DIR/<variant>/truth.npz), so analysis scores each network against the truth.

Command (one problem per run folder; the argument after ':' is the input dimension, 2, 10 or 100):
          for d in 2 10 100; do
            python train.py --config configs/geometry_gaussians.py:$d --workdir runs/geometry_d$d
            python -m distnet.analysis.analyze runs/geometry_d$d && python -m distnet.analysis.report runs/geometry_d$d
          done
Problem:  4 classes; means ~ N(0, s^2 I) with s = 2 / sqrt(2 D), so two class means lie about 2 of the largest
          class std apart in any dimension; covariances with Haar-random rotations and eigenvalues log-spaced
          from 1 to 1/10. The covariances matter: the Mahalanobis classifier (the analytic network) beats
          nearest-mean, so a network has a reason to learn them. 2,000 train / 1,000 test points, raw coordinates.
Variants: 16: the six main ones, the four OffsetL2 ones and the six distance heads of distnet.nn.heads (ReLU-RBF,
          Abs-RBF, ReLU-MD, ReLU-MD-Neg, Abs-MD, Abs-MD-Neg; an MD head learns a metric of the truth's form, one
          precision matrix per class). Without the heads, at a quarter (D = 2) to two fifths (D = 100) of the
          training time below:
          --config.variants=ReLU,Abs,ReLU2,Abs2,ReLU2-Neg,Abs2-Neg,ReLU-L2,ReLU-L2-Neg,Abs-L2,Abs-L2-Neg
Training: the paper's full-batch SGD, but lr 0.1 (unit-scale inputs, not 0..255 pixels), 5 seeds, 128 hidden
          units; EPOCHS epochs, recorded every 10.
Runtime:  the loop above, D = 2 and D = 100 timed on a 2-core AMD EPYC CPU shared with other jobs (2026-12-04; load
          average 10 during D = 2, 6-7 during D = 100), so wall times are upper bounds; CPU time (user + sys) is what
          the work itself took. Wall / CPU seconds:
            D = 2:   train 930 / 272, analyze 323 / 112, report 60 / 25
            D = 100: train 474 / 308, analyze 125 / 108, report 16 / 15
          D = 10 was not timed; the dimension changes only the first layer and the analysis, so expect figures
          between these.
          The four MD variants took 70% (D = 2) and 49% (D = 100) of the training wall time (per variant:
          summary.md).
          Peak memory 0.8 GB training, 2.5 GB analyzing D = 100.
"""
from distnet.config import ConfigError, base
from distnet.nn.names import HEADS, MAIN, OFFSETL2

DIMS = (2, 10, 100)
EPOCHS = 500


def get_config(arg: str = "10"):
    """`arg`: what follows ':' on the command line, the input dimension D (a positive integer)."""
    try:
        dim = int(arg)
    except ValueError:
        dim = 0
    if dim < 1:
        raise ConfigError(f"configs/geometry_gaussians.py takes the input dimension after ':', a positive integer "
                          f"such as {', '.join(map(str, DIMS[:-1]))} or {DIMS[-1]} (got {str(arg)!r})")
    c = base()
    c.variants = ",".join(MAIN + OFFSETL2 + HEADS)
    c.num_seeds = 5
    c.epochs = EPOCHS
    c.eval_every = 10
    c.lr = 0.1
    c.checkpoint_every = EPOCHS
    c.chunk_epochs = 250
    c.data.name = "gaussians"
    c.data.n_train = 2000
    c.data.n_test = 1000
    c.data.dim = dim
    c.data.seed = 0
    c.data.classes = 4
    c.data.separation = 2.0 / (2 * dim) ** 0.5
    c.data.spread = 10.0
    return c
