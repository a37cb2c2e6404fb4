"""Where a training epoch's time goes: one compiled chunk of epochs traced with jax.profiler, per kernel.

    python benchmarks/profile_epoch.py [--layouts auto,bf16,fp16] [--seeds 20] [--epochs 20] [--variant ReLU]
                                       [--precision highest] [--out DIR]

For each first-layer layout (as in throughput.py) it compiles the trainer's chunk program for --epochs epochs,
runs it once to warm up, then traces one more call and sums the device's kernel time by kernel name. Printed per
layout: wall ms per epoch, device-busy ms per epoch, the top kernels (ms per epoch, share, calls per epoch), and
the sums of three classes of kernels: matrix products (cuBLAS/CUTLASS/Triton GEMMs), reductions and the rest
(elementwise fusions, copies, transposes). With --out, the optimized HLO of each program (gzipped) and the
tables as JSON are written there: kernel names like `loop_multiply_fusion_3` are the HLO's fusion names.
On a CPU the trace has no device kernels; the script then reports XLA:CPU's own op events where it finds them.
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import tempfile
import time
from types import SimpleNamespace


from throughput import SPLITS, load_data

GEMM = re.compile(r"gemm|xmma|cutlass|sm\d\d_|triton_gemm|dot|matmul|wgmma|ampere|hopper", re.I)
REDUCE = re.compile(r"reduce|reduction", re.I)


def _device_events(trace_dir: str) -> tuple[list[dict], str]:
    """(complete events on accelerator tracks, what was found) from the perfetto trace under trace_dir."""
    path = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True)
    if not path:
        return [], "no perfetto trace"
    with gzip.open(path[0]) as f:
        doc = json.load(f)
    events = doc["traceEvents"] if isinstance(doc, dict) else doc
    names = {e["pid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "process_name"}
    device = {pid for pid, n in names.items() if "GPU" in n or "TPU" in n or "/device:" in n}
    if device:
        return [e for e in events if e.get("ph") == "X" and e["pid"] in device], "device kernels"
    threads = {(e["pid"], e.get("tid")): e["args"]["name"] for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"}
    xla = {k for k, n in threads.items() if "XLA" in n or "Eigen" in n}
    return [e for e in events if e.get("ph") == "X" and (e["pid"], e.get("tid")) in xla], "host XLA threads"


def profile(arrays, layout: str, seeds: int, epochs: int, variant: str, precision: str, top: int = 15) -> dict:
    import jax
    from distnet.nn import models
    from distnet.run import precision as precisions, trainer
    train, hp = trainer.make_train(models.get(variant), input_dim=arrays[0].shape[1]), trainer.Hyper.of(1e-3)
    ds = SimpleNamespace(**dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)))
    if layout in SPLITS:
        d = trainer.to_device(ds, split_kind=layout, parts=precisions.split_parts(layout, precision))
    else:
        d = trainer.to_device(ds, transposed=layout == "col" if layout in ("row", "col") else None)
    with jax.default_matmul_precision(precision):
        lowered, run_args = train.lower(train.init(trainer.seed_keys(0, seeds), hp), hp, d, epochs)
        compiled = lowered.compile()
        jax.block_until_ready(compiled(*run_args))      # the same start each call: only the time is wanted
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*run_args))
        untraced = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as tmp:
            with jax.profiler.trace(tmp, create_perfetto_trace=True):
                jax.block_until_ready(compiled(*run_args))
            events, found = _device_events(tmp)
    by_name = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        by_name[e["name"]][0] += e.get("dur", 0.0)
        by_name[e["name"]][1] += 1
    busy_us = sum(v[0] for v in by_name.values())
    classes = collections.Counter()
    for name, (us, _) in by_name.items():
        classes["matmul" if GEMM.search(name) else "reduce" if REDUCE.search(name) else "other"] += us
    rows = sorted(by_name.items(), key=lambda kv: -kv[1][0])[:top]
    return {"layout": layout, "seeds": seeds, "epochs": epochs, "variant": variant, "precision": precision,
            "found": found, "wall_ms_per_epoch": 1e3 * untraced / epochs, "busy_ms_per_epoch": busy_us / 1e3 / epochs,
            "classes_ms_per_epoch": {k: v / 1e3 / epochs for k, v in classes.items()},
            "kernels": [{"name": n, "ms_per_epoch": us / 1e3 / epochs, "share": us / busy_us if busy_us else 0,
                         "calls_per_epoch": c / epochs} for n, (us, c) in rows],
            "hlo": compiled.as_text()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layouts", default="auto,bf16,fp16")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--variant", default="ReLU")
    ap.add_argument("--precision", default="highest")
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    *arrays, source = load_data(args.n_train)
    results = []
    for layout in args.layouts.split(","):
        r = profile(arrays, layout, args.seeds, args.epochs, args.variant, args.precision, args.top)
        results.append(r)
        print(f"\n## {layout}: {args.variant}, {args.seeds} seeds, {source}, precision {args.precision} ({r['found']})")
        print(f"wall {r['wall_ms_per_epoch']:.3f} ms/epoch untraced; kernels busy {r['busy_ms_per_epoch']:.3f} "
              f"ms/epoch: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(r["classes_ms_per_epoch"].items())))
        print("| kernel | ms / epoch | share | calls / epoch |\n|---|---|---|---|")
        for k in r["kernels"]:
            print(f"| {k['name'][:90]} | {k['ms_per_epoch']:.4f} | {100 * k['share']:.1f}% | {k['calls_per_epoch']:.1f} |")
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with gzip.open(os.path.join(args.out, f"hlo_{layout}.txt.gz"), "wt") as f:
                f.write(r["hlo"])
    if args.out:
        with open(os.path.join(args.out, "profile.json"), "w") as f:
            json.dump([{k: v for k, v in r.items() if k != "hlo"} for r in results], f, indent=1)


if __name__ == "__main__":
    main()
