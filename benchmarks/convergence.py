"""How far each variant of a run folder is from converged: the share of its training loss's fall (epoch 0 to the
end) that came in the last tenth of the run, per lane. Below 1% counts as converged (configs/geometry_sweep.py's
rule).

    python benchmarks/convergence.py DIR [--cut 0.01]
"""
from __future__ import annotations

import argparse

import numpy as np

from distnet.run import folder


def last_tenth_share(epoch_E, loss_LxE) -> np.ndarray:
    """(L,): (loss at 90% of the run - final loss) / (loss at epoch 0 - final loss), per lane."""
    k = int(np.searchsorted(epoch_E, 0.9 * epoch_E[-1]))
    fall = loss_LxE[:, 0] - loss_LxE[:, -1]
    return (loss_LxE[:, k] - loss_LxE[:, -1]) / np.where(fall > 0, fall, np.nan)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--cut", type=float, default=0.01)
    args = ap.parse_args(argv)
    total = ok = 0
    print("| variant | lanes | converged | last-tenth share: median | max |\n|---|---|---|---|---|")
    for v in folder.list_variants(args.dir):
        m = folder.load_metrics(folder.variant_dir(args.dir, v))
        r = last_tenth_share(m["epoch"], m["train_loss"])
        good = int(np.sum(r < args.cut))
        total, ok = total + len(r), ok + good
        print(f"| {v} | {len(r)} | {good} | {np.nanmedian(r):.4f} | {np.nanmax(r):.4f} |")
    print(f"\n{ok} of {total} lanes converged (last tenth < {args.cut:.0%} of the fall)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
