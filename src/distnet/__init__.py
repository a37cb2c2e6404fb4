"""distnet: distance-based representations in neural networks (JAX/Flax).

Reproduces Oursland, "Neural Networks Learn Distance Metrics" (arXiv:2502.02103). The package is laid out as
the data flows:

    config.py, lanes.py  what a study is: its config schema and its lanes (sweep points x seeds)
    data.py, sources.py  its datasets (sources.py: gzip IDX folders and tensorflow-datasets)
    npz.py               a dataset of your own arrays in one .npz file (data.name=npz)
    nn/                  the networks: layers, the exact 16-bit first layer, the variant registry
    run/                 running a study: the pure trainer, the plan, the study loop, the run folder
    analysis/            analysing a study: statistics, probes, comparisons, report, figures

Each part imports only the parts before it. Entry points: `python train.py`,
`python -m distnet.analysis.analyze DIR`, `python -m distnet.analysis.report DIR`; from Python,
`distnet.nn.models.get`, `distnet.run.trainer.make_train`, `distnet.run.folder.load`.
"""

__version__ = "0.1.0"
