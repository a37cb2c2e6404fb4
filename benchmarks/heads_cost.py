"""Cost of the distance heads against a Linear head: seconds per model-epoch (interleaved), FLOPs, memory.

    python benchmarks/heads_cost.py [--variants ReLU,ReLU-RBF,ReLU-L2] [--seeds 20] [--epochs 2] [--reps 3]
                                    [--md-rank 0] [--n-train 60000] [--memory-seeds 20] [--memory-n-train 60000]

A variant name may end in @FORM to run its MD head through another formulation of the same distance:
@project (heads.md_distance, what the MD head runs) or @gram (heads.md_distance_gram), e.g.
--variants ReLU,ReLU-MD,ReLU-MD@gram.

Times the trainer's compiled epoch program (the protocol's full-batch step plus the test-set forward, as
benchmarks/throughput.py does) of each variant, one variant after another, `reps` rounds, so a machine shared
with other work slows every variant alike; each round's time is also given as a ratio to the first variant's
in the same round. FLOPs per model-epoch are counted by hand (below). Memory is XLA's own accounting of the
compiled program (temporaries; arguments and outputs apart) at --memory-seeds seeds on --memory-n-train training
images (default: all of MNIST): it compiles, never runs, so it also answers for sizes this machine could not hold.
"""
from __future__ import annotations

import argparse
import time
from types import SimpleNamespace

import jax
import numpy as np

from distnet.nn import heads, models
from distnet.run import trainer

D, C, N_TEST = 784, 10, 10000
MD_FORMS = {"project": heads.md_distance, "gram": heads.md_distance_gram}


def head_flops(spec, n: int, n_test: int, H: int, R: int, form: str = "project") -> float:
    """FLOPs of the output layer per model-epoch (train step + test forward), multiply-adds counted as 2."""
    if spec.head == "md" and form == "gram":   # w = h @ M, then G = a^T @ h: two B x H x (C H) matmuls
        return 2 * 2 * n * H * C * H + 2 * n_test * H * C * H
    if spec.head == "md":          # h @ P^T, then dh = u @ P and dP = u^T @ h: three B x H x (C R) matmuls
        return 3 * 2 * n * H * C * R + 2 * n_test * H * C * R
    if spec.head in ("offsetl2", "rbf"):   # fused (h - mu)^2 w: 3 per term; backward four B x C x H matmuls
        return 3 * n * C * H + 4 * 2 * n * C * H + 3 * n_test * C * H
    return 3 * 2 * n * H * C + 2 * n_test * H * C


def first_layer_flops(n: int, n_test: int, H: int) -> float:
    """Forward and weight gradient (no input gradient) of the first layer, and its test forward."""
    return 2 * 2 * n * D * H + 2 * n_test * D * H


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default="ReLU,ReLU-RBF,ReLU-L2")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--md-rank", type=int, default=0)
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--memory-seeds", type=int, default=20)
    ap.add_argument("--memory-n-train", type=int, default=60000)
    args = ap.parse_args()
    import throughput                                     # this folder's data loader and machine description
    x, y, xt, yt, source = throughput.load_data(args.n_train)
    ds = SimpleNamespace(x_train=x, y_train=y, x_test=xt, y_test=yt)
    d = trainer.to_device(ds)
    m = args.memory_n_train                           # zeros of the full shapes: only compiled, never run
    d_mem = trainer.to_device(SimpleNamespace(x_train=np.zeros((m, D), np.float32), y_train=np.zeros(m, np.int32),
                                              x_test=np.zeros((N_TEST, D), np.float32), y_test=np.zeros(N_TEST, np.int32)))
    n, nt, H = len(x), len(xt), 128
    print("machine: " + ", ".join(f"{k}={v}" for k, v in throughput.machine().items()))
    print(f"data: {source} {n} train / {nt} test; {args.seeds} seeds x {args.epochs} epochs per timed call, "
          f"{args.reps} interleaved rounds; md_rank {args.md_rank or H}; date {time.strftime('%Y-%m-%d %H:%M')}")
    programs, rows = {}, []
    for v in args.variants.split(","):
        name, _, form = v.partition("@")
        model = models.get(name, md_rank=args.md_rank)
        train, hp = trainer.make_train(model, input_dim=D), trainer.Hyper.of(1e-3)
        params = train.init(trainer.seed_keys(0, args.seeds), hp)
        heads.md_distance = MD_FORMS[form or "project"]     # read by heads.MD when the programs are traced
        try:
            t0 = time.perf_counter()
            lowered, run_args = train.lower(params, hp, d, args.epochs)
            programs[v] = (lowered.compile(), run_args)
            compile_s = time.perf_counter() - t0
            big = jax.eval_shape(lambda k: train.init(k, hp), trainer.seed_keys(0, args.memory_seeds))
            mem = train.lower(big, hp, d_mem, args.epochs)[0].compile().memory_analysis()
        finally:
            heads.md_distance = MD_FORMS["project"]
        R = args.md_rank or H
        flops = first_layer_flops(n, nt, H) + head_flops(models.REGISTRY[name], n, nt, H, R, form or "project")
        rows.append({"variant": v, "compile_s": compile_s, "temp_gib": mem.temp_size_in_bytes / 2 ** 30,
                     "args_gib": mem.argument_size_in_bytes / 2 ** 30, "gflop": flops / 1e9, "times": []})
        print(f"  compiled {v}: {compile_s:.1f}s; at {args.memory_seeds} seeds x {m} images XLA temp "
              f"{rows[-1]['temp_gib']:.2f} GiB, arguments {rows[-1]['args_gib']:.2f} GiB", flush=True)
    for rep in range(args.reps + 1):                        # round 0 warms every program up and is not kept
        for r in rows:
            compiled, run_args = programs[r["variant"]]
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(*run_args))
            if rep:
                r["times"].append((time.perf_counter() - t0) / (args.seeds * args.epochs))
        if rep:
            print(f"  round {rep}: " + ", ".join(f"{r['variant']} {r['times'][-1]:.4f}" for r in rows), flush=True)
    base = np.array(rows[0]["times"])
    print(f"\n| variant | s / model-epoch, median [min, max] of {args.reps} | ratio to {rows[0]['variant']} "
          f"(per round: median [min, max]) | GFLOP / model-epoch | XLA temp at {args.memory_seeds} seeds x {m} images, GiB |")
    print("|---|---|---|---|---|")
    for r in rows:
        t = np.array(r["times"])
        ratio = t / base
        print(f"| {r['variant']} | {np.median(t):.4f} [{t.min():.4f}, {t.max():.4f}] | {np.median(ratio):.2f} "
              f"[{ratio.min():.2f}, {ratio.max():.2f}] | {r['gflop']:.2f} | {r['temp_gib']:.2f} |")


if __name__ == "__main__":
    main()
