"""Accuracy difference between two run folders of the same study at two matmul precisions (or first-layer modes).

    python benchmarks/compare_precisions.py DIR_A DIR_B

Seeds are shared (same config.seed), so the per-seed difference is a paired comparison.
"""
from __future__ import annotations

import sys

import numpy as np

from distnet.run import folder


def label(run: dict) -> str:
    """The run's matmul precision, with "+bf16x3" etc. for the first-layer split it ran (config.json's
    first_layer)."""
    if not run:
        return "?"
    record = next(iter(run.values()))["config"]
    fl = record.get("first_layer", {"split": "off"})
    return record["config"]["matmul_precision"] + (f"+{fl['split']}x{fl['parts']}" if fl["split"] != "off" else "")


def main(a: str, b: str) -> None:
    ra, rb = folder.load(a), folder.load(b)
    pa, pb = label(ra), label(rb)
    print(f"| variant | epochs | test acc % ({pa}) | test acc % ({pb}) | mean diff (pp) | mean abs per-seed diff (pp) | max abs (pp) |")
    print("|---|---|---|---|---|---|---|")
    for v in ra:
        if v not in rb or ra[v]["metrics"] is None or rb[v]["metrics"] is None:
            continue
        ma, mb = ra[v]["metrics"], rb[v]["metrics"]
        e = min(ma["epoch"][-1], mb["epoch"][-1])            # compare at the last epoch both reached
        ia, ib = int(np.searchsorted(ma["epoch"], e)), int(np.searchsorted(mb["epoch"], e))
        xa, xb = 100 * ma["test_acc"][:, ia], 100 * mb["test_acc"][:, ib]
        d = xb - xa
        print(f"| {v} | {e} | {xa.mean():.2f} +/- {xa.std(ddof=1):.2f} | {xb.mean():.2f} +/- {xb.std(ddof=1):.2f} | "
              f"{d.mean():+.2f} | {np.abs(d).mean():.2f} | {np.abs(d).max():.2f} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
