"""Cost of a sweep: seconds per model-epoch of a P-point x S-seed sweep (one compiled program) against S seeds
alone, measured in the same process, interleaved, on the same data.

    python benchmarks/sweep_cost.py [--points 4] [--seeds 8] [--epochs 10] [--repeats 5] [--variant ReLU]
                                    [--n-train 10000] [--json FILE]

A model-epoch is one full-batch training step of one lane plus its test-set forward (benchmarks/throughput.py).
The sweep's points are learning rates 1e-4 .. 3e-3 (they do not change the arithmetic's cost). Each repeat times
one chunk of --epochs epochs of the sweep and one of the seeds alone, back to back, so load from other processes
falls on both; the median of the repeats is reported, and the ratio sweep / alone per model-epoch (target <= 1.1:
a sweep point costs what its seeds cost alone). Compilation is timed apart. Data: real MNIST from
$DISTNET_DATA_DIR/mnist when present (the first --n-train examples and all 10,000 test), else uniform 0..255 noise.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=4)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--variant", default="ReLU")
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv)

    import jax
    from distnet import data
    from distnet.nn import models
    from distnet.run import trainer
    from throughput import machine

    if os.environ.get(data.ENV_DIR) and (Path(os.environ[data.ENV_DIR]) / "mnist").is_dir():
        import ml_collections
        cfg = ml_collections.ConfigDict({"name": "mnist", "source": "auto", "dir": "", "preprocess": "raw",
                                         "n_train": args.n_train, "n_test": 0, "dim": 784, "seed": 0})
        ds, source = data.load(cfg), "MNIST"
    else:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (args.n_train + 10000, 784)).astype(np.float32)
        y = rng.integers(0, 10, len(x)).astype(np.int32)
        ds, source = data.Dataset(x[:args.n_train], y[:args.n_train], x[args.n_train:], y[args.n_train:], 10, {}), "noise"
    d = trainer.to_device(ds)
    train = trainer.make_train(models.get(args.variant), input_dim=ds.dim)
    lrs = np.geomspace(1e-4, 3e-3, args.points)
    keys = trainer.seed_keys(0, args.seeds)
    runs = {"sweep": trainer.hyper([{"lr": lr, "init_scale": 1.0, "weight_decay": 0.0} for lr in lrs]),
            "alone": trainer.Hyper.of(1e-3)}
    state, compile_s, times = {}, {}, {k: [] for k in runs}
    for k, hp in runs.items():
        p = train.init(keys, hp)
        t0 = time.perf_counter()
        jax.block_until_ready(train.run(p, hp, d, args.epochs))
        compile_s[k] = time.perf_counter() - t0          # compile + one chunk
        state[k] = p
    for _ in range(args.repeats):
        for k, hp in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(train.run(state[k], hp, d, args.epochs))
            times[k].append(time.perf_counter() - t0)
    lanes = {"sweep": args.points * args.seeds, "alone": args.seeds}
    per = {k: statistics.median(times[k]) / (lanes[k] * args.epochs) for k in runs}
    out = {"machine": machine(), "data": source, "n_train": len(ds.x_train), "n_test": len(ds.x_test),
           "variant": args.variant, "points": args.points, "seeds": args.seeds, "epochs": args.epochs,
           "repeats": args.repeats, "seconds": times, "first_call_s": compile_s,
           "per_model_epoch_ms": {k: 1e3 * v for k, v in per.items()}, "ratio": per["sweep"] / per["alone"]}
    print(f"{args.variant}, {source} {len(ds.x_train)} train / {len(ds.x_test)} test, {args.epochs} epochs per "
          f"chunk, median of {args.repeats}:")
    for k in runs:
        print(f"  {k:>5}: {lanes[k]:>3} lanes  {1e3 * per[k]:8.2f} ms per model-epoch  "
              f"(chunks {', '.join(f'{t:.2f}' for t in times[k])} s; first call {compile_s[k]:.1f} s)")
    print(f"  ratio sweep / alone per model-epoch: {out['ratio']:.3f} (target <= 1.1)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
