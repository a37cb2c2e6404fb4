"""The paper's OffsetL2 study (Table 3): four OffsetL2-output variants, 20 seeds, 50,000 epochs.

Command:  python train.py --config configs/paper_offsetl2.py
          (--config.offsetl2_form=code uses the released code's sqrt(sum alpha*(x-mu)^2) instead of the
          published ||alpha*(x-mu)||_2)
Protocol: as configs/paper_table1.py but 50,000 epochs. 4 x 20 x 50,000 = 4,000,000 model-epochs.
Runtime:  not run yet. Estimate from measured per-model-epoch costs (benchmarks/RESULTS.md): 2-core CPU
          0.19 s x 4,000,000, about 9 days; one H200 with float16 parts (the GPU default) 0.283 ms x 4,000,000,
          about 19 minutes; plain float32 (--config.split=off) 0.746 ms, about 50 minutes.
Expected: published (mean +/- std %): ReLU-L2 97.33 +/- 0.13, ReLU-L2-Neg 97.36 +/- 0.14,
          Abs-L2 97.61 +/- 0.07, Abs-L2-Neg 97.56 +/- 0.09.
"""
from distnet.config import base


def get_config():
    c = base()
    c.variants = "ReLU-L2,ReLU-L2-Neg,Abs-L2,Abs-L2-Neg"
    c.epochs = 50000
    c.checkpoint_every = 5000
    c.chunk_epochs = 500
    return c
