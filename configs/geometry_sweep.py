"""When do networks learn distances? The known-answer Gaussians (configs/geometry_gaussians.py at D = 10) crossed with
init scale, weight decay and hidden width, for the activation families, with the geometry scored at every checkpoint.

Command:  python train.py --config configs/geometry_sweep.py:cpu --workdir runs/geometry_sweep_cpu
          python -m distnet.analysis.analyze runs/geometry_sweep_cpu
          python -m distnet.analysis.report runs/geometry_sweep_cpu    # figures/geometry_vs_*.png, ..._along_training.png
          (":gpu" for the full grid)
Problem:  4 classes in D = 10, means and covariances as in configs/geometry_gaussians.py (recorded per variant in
          truth.npz); 2,000 train / 1,000 test points; lr 0.1, full batch.
Grid:     cpu: ReLU and Abs2-Neg (a control and a forced distance code) x widths 4, 10, 32, 128 (as variants NAME@W)
               x init scales 0.3, 1, 3 x weight decays 0, 1e-3 (lanes) x 3 seeds, 4,000 epochs.
          gpu: ReLU, Abs, ReLU2-Neg, Abs2-Neg, ReLU-L2-Neg, Abs-L2-Neg x widths 4, 10, 32, 128 x init scales 0.1,
               0.3, 1, 3 x weight decays 0, 1e-4, 1e-3, 1e-2 x 10 seeds, 5,000 epochs.
          Checkpoints every tenth of the run: the geometry along training has 11 points, epoch 0 (untrained) included.
Length:   "converged" here: the training loss falls, over the last tenth of the run, by less than 1% of its fall over
          the whole run. On the D = 10 problem (10 variants x 5 seeds, lr 0.1) 500 epochs leave 1.8-8.4% of the fall
          to the last tenth (not converged); the runs below say what 2,000 and 5,000 epochs leave.
Runtime:  see the README's "What we found" for the measured CPU wall times of the three commands.
"""
from distnet.config import ConfigError, base

SIZES = {
    "cpu": {"variants": "ReLU,Abs2-Neg", "widths": (4, 10, 32, 128), "init_scales": (0.3, 1.0, 3.0),
            "weight_decays": (0.0, 1e-3), "num_seeds": 3, "epochs": 4000},
    "gpu": {"variants": "ReLU,Abs,ReLU2-Neg,Abs2-Neg,ReLU-L2-Neg,Abs-L2-Neg", "widths": (4, 10, 32, 128),
            "init_scales": (0.1, 0.3, 1.0, 3.0), "weight_decays": (0.0, 1e-4, 1e-3, 1e-2), "num_seeds": 10,
            "epochs": 5000},
}


def get_config(arg: str = "cpu"):
    """`arg`: what follows ':' on the command line, cpu or gpu."""
    if arg not in SIZES:
        raise ConfigError(f"configs/geometry_sweep.py takes cpu or gpu after ':' (got {arg!r})")
    c = base()
    for k, v in SIZES[arg].items():
        c[k] = v
    c.lr = 0.1
    c.eval_every = c.epochs // 100
    c.checkpoint_every = c.epochs // 10
    c.chunk_epochs = c.epochs // 10
    c.data.name = "gaussians"
    c.data.n_train, c.data.n_test = 2000, 1000
    c.data.dim, c.data.seed = 10, 0
    c.data.classes = 4
    c.data.separation = 2.0 / (2 * c.data.dim) ** 0.5
    c.data.spread = 10.0
    return c
