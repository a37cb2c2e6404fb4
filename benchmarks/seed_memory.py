"""Peak resident memory of train.py and analyze against the seed count, at a fixed config.seed_chunk.

Measured (2-core AMD EPYC CPU shared with other work, 2026-12-04, `--data gaussians`): train 800 MB at 50 seeds,
843 MB at 400 (x1.05); analyze 1,001 MB and 1,328 MB (x1.33).

    python benchmarks/seed_memory.py [--seeds 50,400] [--seed-chunk 50] [--data gaussians|mnist] [--out /tmp/seedmem]

Each command runs in its own process; its peak RSS is the kernel's (os.wait4). With seed_chunk fixed, the memory that
grows with inputs x units (activations: training's chunks, every analysis pass) must not grow with the seed count;
what still grows is the state itself (every seed's parameters, held once per copy), which this prints beside it.
gaussians: 5,000 points in 16-d, 128 hidden units (activations dominate: 2.5 MB per seed, parameters 13 KB);
mnist: 1,000 MNIST images, 784-128-10 (parameters dominate: 0.4 MB per seed, needs $DISTNET_DATA_DIR).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = {
    "gaussians": ["--config", str(ROOT / "configs" / "smoke.py"), "--config.variants=ReLU", "--config.hidden=128",
                  "--config.data.n_train=5000", "--config.data.n_test=1000", "--config.epochs=4",
                  "--config.checkpoint_every=4", "--config.chunk_epochs=4"],
    "mnist": ["--config.variants=ReLU", "--config.data.n_train=1000", "--config.data.n_test=500", "--config.epochs=4",
              "--config.checkpoint_every=4", "--config.chunk_epochs=4"],
}


def peak(cmd: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one command, which must succeed."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"failed ({status}): {' '.join(cmd)}\n{p.stderr.read().decode()[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="50,400")
    ap.add_argument("--seed-chunk", type=int, default=50)
    ap.add_argument("--data", choices=sorted(DATA), default="gaussians")
    ap.add_argument("--out", default="/tmp/seedmem")
    args = ap.parse_args()
    rows = []
    for s in (int(v) for v in args.seeds.split(",")):
        work = Path(args.out) / f"{args.data}_{s}"
        shutil.rmtree(work, ignore_errors=True)
        train = peak([sys.executable, "train.py", *DATA[args.data], f"--config.num_seeds={s}",
                      f"--config.seed_chunk={args.seed_chunk}", "--workdir", str(work)])
        analyze = peak([sys.executable, "-m", "distnet.analysis.analyze", str(work)])
        rows.append((s, train, analyze))
        print(f"{args.data}: {s} seeds, seed_chunk {args.seed_chunk}: train {train[0]:.0f} MB ({train[1]:.0f} s), "
              f"analyze {analyze[0]:.0f} MB ({analyze[1]:.0f} s)", flush=True)
    (s0, t0, a0) = rows[0]
    for s, t, a in rows[1:]:
        print(f"{s} vs {s0} seeds: train x{t[0] / t0[0]:.2f}, analyze x{a[0] / a0[0]:.2f}")


if __name__ == "__main__":
    main()
