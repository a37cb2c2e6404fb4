"""The paper's OffsetL2 study (Table 3): four OffsetL2-output variants, 20 seeds, 50,000 epochs.

Command:  python train.py --config configs/paper_offsetl2.py
          (--config.offsetl2_form=code uses the released code's sqrt(sum alpha*(x-mu)^2) instead of the
          published ||alpha*(x-mu)||_2)
Protocol: as configs/paper_table1.py but 50,000 epochs. 4 x 20 x 50,000 = 4,000,000 model-epochs.
Runtime:  not run yet. Estimate from measured per-model-epoch costs (benchmarks/RESULTS.md): 2-core CPU
          0.19 s x 4,000,000, about 9 days; one H200 with float16 parts (the GPU default) 0.283 ms x 4,000,000,
          about 19 minutes; plain float32 (--config.split=off) 0.746 ms, about 50 minutes.
          Longer than one 10-minute device lease, so run it in pieces, each cut by a time limit:
Pieces:   SIGTERM (what `timeout` sends) stops the run after the current chunk (500 epochs) with a checkpoint at
          that epoch; rerunning the same command on the folder resumes there. Resuming needs, per variant,
          config.json, metrics.npz, the LATEST checkpoint (+ its <epoch>.json) and, once finished, summary.json;
          older checkpoints may be deleted. Checked on CPU (2026-11-27, before the package's restructuring; 20
          seeds, 600 epochs on 1,000 images): cut by SIGTERM inside the second variant, copied to another folder,
          every checkpoint but each variant's latest deleted, resumed: metrics and final params bit-identical to an
          uncut run. Rechecked on the current layout (2026-11-27; configs/smoke.py with --config.epochs=400
          --config.checkpoint_every=50 --config.chunk_epochs=5, stopped at epoch 155 of the second variant,
          pruned, moved, resumed): both variants' metrics and final params bit-identical to an uncut run.
          Sizes at 20 seeds (measured; they do not depend on the data): one checkpoint 7.6 MB (7,581,054 bytes);
          metrics.npz 248 bytes per epoch, 12.4 MB per variant at 50,000 epochs. Checkpoints are kept at epoch 0
          and every checkpoint_every = 5,000 epochs: 11 per variant, 44 in all, 334 MB; the whole folder at the
          end is about 383 MB. What resuming needs is at most 4 x (7.6 + 12.4) = 80 MB, and at most 44 MB as
          tar.xz (xz keeps checkpoints at 100% and metrics at 26%, measured on a 20-seed 5,001-epoch metrics.npz),
          under the device tool's 64 MiB carry limit. One piece:
            [ -f carry/l2.tar.xz ] && tar -xJf carry/l2.tar.xz                # from the previous piece, if any
            timeout -s TERM 520 python train.py --config configs/paper_offsetl2.py --workdir runs/l2
            for c in runs/l2/*/checkpoints; do ls $c | grep -E '^[0-9]+$' | sort -n | head -n -1 |
              while read s; do rm -rf $c/$s $c/$s.json; done; done            # keep the latest checkpoint
            tar --exclude=metrics.csv -cJf $OUT/l2.tar.xz runs/l2              # carry this into the next piece
          metrics.csv, which a variant writes when it finishes, is a text copy of metrics.npz (56.7 MB per variant
          at 20 seeds x 50,001 epochs, measured on a synthetic metrics.npz of that shape, 2026-11-27): nothing
          reads it back, so it stays out of the carry; after the last piece
          `python -c "from distnet.run import folder; folder.write_metrics_csv('runs/l2/ReLU-L2')"` (per variant)
          writes it again.
          At 0.283 ms per model-epoch (H200, measured by the speed work, not by this check) 520 s trains about
          92,000 of the 200,000 20-seed epochs, so three pieces, plus compiling in each.
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
