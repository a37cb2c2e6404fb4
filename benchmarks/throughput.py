"""Seconds per model-epoch of the protocol: distnet's trainer (S seeds at once) vs numpy vs a PyTorch loop.

    python benchmarks/throughput.py [--seeds 1,8,20] [--epochs 10] [--variant ReLU] [--n-train 60000]
                                    [--precision highest] [--layout auto,row,col,bf16,fp16] [--torch batched,loop]
                                    [--json FILE]

Layouts: auto (what train.py runs for config.split=auto at --precision on these inputs, resolved by
distnet.run.plan: fp16 parts on GPUs, bf16 on TPUs, plain column-major inputs on CPUs; the row names what it
resolved to), row, col, and the first layer's exact 16-bit splits (config.split): bf16 (3 bfloat16 parts at
"highest", 2 at "high") and fp16 (2 scaled float16 parts); for tensor cores, slow on CPU. With a split, the first
layer's error against float64 is printed for the plain and every split product on this device.

PyTorch peers (float32, TF32 off): "loop", the paper's scripts (one model at a time); "batched", the seeds
stacked with torch.func.stack_module_state and trained under torch.func.vmap, as a PyTorch user would write it
for many seeds.

A model-epoch is one full-batch training step (forward, weight gradients, no input gradient for the first
layer, SGD update) plus the test-set forward the protocol does every epoch. Compile time is reported apart.
Peak memory is the process's resident set sampled every 5 ms during each measurement. Data: real MNIST
from $DISTNET_DATA_DIR/mnist when present, else uniform 0..255 noise of the same shape (timings do not
depend on the values of a dense network).
"""
from __future__ import annotations

import argparse
import os
import platform
import threading
import time
from types import SimpleNamespace

import numpy as np

D, H, C, N_TEST = 784, 128, 10, 10000


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled from /proc)."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) * 1024
    return 0


def flops_per_model_epoch(n: int, n_test: int) -> float:
    """Forward of both layers, weight gradients of both, input gradient of layer 2 only, test forward, for a
    Linear output layer (an OffsetL2 head's extra work is left out: its GFLOP/s read as Linear-equivalent)."""
    l1, l2 = 2 * n * D * H, 2 * n * H * C
    train = l1 + l2 + l1 + 2 * l2                 # fwd, dW1, dW2 + dh
    return train + 2 * n_test * D * H + 2 * n_test * H * C


def machine() -> dict:
    import jax
    cpu = "?"
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "jax": jax.__version__, "backend": jax.default_backend(),
            "devices": ", ".join(d.device_kind for d in jax.devices()), "numpy": np.__version__}


def load_data(n_train: int):
    """MNIST through distnet.data (the first n_train training images) when $DISTNET_DATA_DIR/mnist exists."""
    from distnet import config, data
    dcfg = config.base().data
    dcfg.source, dcfg.n_train = "idx", n_train
    folder = data.resolve_dir(dcfg)
    if folder is not None and folder.is_dir():
        ds = data.load(dcfg)
        return ds.x_train, ds.y_train, ds.x_test, ds.y_test, "mnist"
    rng = np.random.default_rng(0)
    return (rng.integers(0, 256, (n_train, D)).astype(np.float32), rng.integers(0, 10, n_train).astype(np.int32),
            rng.integers(0, 256, (N_TEST, D)).astype(np.float32), rng.integers(0, 10, N_TEST).astype(np.int32),
            "noise")


SPLITS = ("bf16", "fp16")


def resolve_auto(arrays, precision: str) -> str:
    """The first layer train.py runs for config.split=auto at `precision` on these inputs: the split the study's
    plan resolves (distnet.run.plan.make: fp16 on GPUs, bf16 on TPUs, off on CPUs or for inputs not exact in 16
    bits), or for "off" the trainer's default storage of the inputs ("col" on CPUs, "row" elsewhere)."""
    import jax
    from distnet import config
    from distnet.run import plan
    cfg = config.base()
    cfg.split, cfg.matmul_precision = "auto", precision
    kind = plan.make(cfg, SimpleNamespace(x_train=arrays[0], x_test=arrays[2])).split
    if kind != "off":
        return kind
    return "col" if jax.default_backend() == "cpu" else "row"


def bench_distnet(arrays, seeds: int, epochs: int, variant: str, precision: str, layout: str = "auto"):
    """(s per model-epoch, compile s, peak RSS) of the trainer's epoch program for `layout` (auto: resolve_auto)."""
    import jax
    from distnet.nn import models
    from distnet.run import trainer
    if layout == "auto":
        layout = resolve_auto(arrays, precision)
    model = models.get(variant)
    # the program Trainer.run runs, without its chunking
    train, hp = trainer.make_train(model, input_dim=arrays[0].shape[1]), trainer.Hyper.of(1e-3)
    ds = SimpleNamespace(**dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)))
    if layout in SPLITS:
        d = trainer.to_device(ds, split_kind=layout, parts=trainer.split_parts(layout, precision))
    else:
        d = trainer.to_device(ds, transposed=layout == "col")
    with jax.default_matmul_precision(precision):
        params = train.init(trainer.seed_keys(0, seeds), hp)
        t0 = time.perf_counter()
        lowered, run_args = train.lower(params, hp, d, epochs)
        compiled = lowered.compile()
        compile_s = time.perf_counter() - t0
        jax.block_until_ready(compiled(*run_args))      # warm-up: first execution
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            jax.block_until_ready(compiled(*run_args))
            dt = time.perf_counter() - t0
    return dt / (epochs * seeds), compile_s, mem.peak


def first_layer_error(x, precision: str, n: int = 4000) -> dict:
    """Max error of x @ W and x^T @ G on this device, relative to the largest float64 value: the plain product
    at `precision` and every split (bf16 with SPLIT_PARTS[precision] parts, fp16 with 2)."""
    import jax
    import jax.numpy as jnp
    from distnet.nn import split
    from distnet.run import trainer
    rng = np.random.default_rng(0)
    x = x[:n]
    w = rng.uniform(-1 / 28, 1 / 28, (D, 20 * H)).astype(np.float32)
    g = (rng.standard_normal((len(x), 20 * H)) * 1e-5).astype(np.float32)
    want = x.astype(np.float64) @ w, x.T.astype(np.float64) @ g
    err = lambda got: [float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max()) for a, b in zip(got, want)]
    with jax.default_matmul_precision(precision):
        out = {"plain": err(jax.jit(lambda w, g: (jnp.asarray(x) @ w, jnp.asarray(x).T @ g))(w, g))}
        for kind in SPLITS:
            s = split.split_input(x, trainer.split_parts(kind, precision), kind)
            y, vjp = jax.vjp(lambda w: split.matmul(s, w), jnp.asarray(w))
            out[kind] = err((y, vjp(jnp.asarray(g))[0]))
    return out


def bench_numpy(arrays, epochs: int):
    """A hand-written float32 full-batch step of the ReLU network, plus the test forward."""
    x, y, xt, yt = arrays
    rng = np.random.default_rng(0)
    w1 = rng.uniform(-1 / 28, 1 / 28, (D, H)).astype(np.float32)
    b1 = rng.uniform(-1 / 28, 1 / 28, H).astype(np.float32)
    w2 = rng.uniform(-H ** -0.5, H ** -0.5, (H, C)).astype(np.float32)
    onehot = np.eye(C, dtype=np.float32)[y]
    lr = np.float32(1e-3)

    def epoch():
        nonlocal w1, b1, w2
        z = x @ w1 + b1
        h = np.maximum(z, 0)
        o = h @ w2
        p = np.exp(o - o.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        do = (p - onehot) / np.float32(len(x))
        dw2 = h.T @ do
        dz = (do @ w2.T) * (z > 0)
        dw1 = x.T @ dz
        db1 = dz.sum(0)
        w1 -= lr * dw1; b1 -= lr * db1; w2 -= lr * dw2
        return np.mean(np.argmax(np.maximum(xt @ w1 + b1, 0) @ w2, 1) == yt)

    epoch()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        for _ in range(epochs):
            epoch()
        dt = time.perf_counter() - t0
    return dt / epochs, mem.peak


def bench_numpy_matmul(n: int, seeds: int):
    """GFLOP/s numpy's BLAS reaches on the trainer's big shapes: X @ W_cat and X^T @ dZ with S*H columns."""
    rng = np.random.default_rng(0)
    x = rng.random((n, D), np.float32)
    w = rng.random((D, seeds * H), np.float32)
    dz = rng.random((n, seeds * H), np.float32)
    out = []
    for f in (lambda: x @ w, lambda: x.T @ dz):
        f()
        t0 = time.perf_counter()
        for _ in range(3):
            f()
        out.append(2 * n * D * seeds * H * 3 / (time.perf_counter() - t0) / 1e9)
    return float(np.mean(out))


def _torch_setup(arrays, device: str):
    """Tensors on `device`, float32 matmuls at full precision (no TF32), CPU threads = cores."""
    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    dev = torch.device(device)
    x, y, xt, yt = (torch.as_tensor(a).to(dev) for a in arrays)
    return torch, dev, x, y.long(), xt, yt.long()


def _torch_model(torch, dev):
    return torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, C, bias=False)).to(dev)


def _timed(torch, device, epoch, epochs):
    epoch()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        for _ in range(epochs):
            epoch()
        if device != "cpu":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    return dt, mem.peak


def bench_torch(arrays, epochs: int, device: str = "cpu"):
    """The paper's scripts: one model at a time, one full-batch step per epoch, test accuracy every epoch."""
    torch, dev, x, y, xt, yt = _torch_setup(arrays, device)
    model = _torch_model(torch, dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        opt.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            acc = (model(xt).argmax(1) == yt).float().mean().item()   # .item(): a host sync, as the scripts do
        return acc

    dt, peak = _timed(torch, device, epoch, epochs)
    return dt / epochs, peak, torch.__version__


def bench_torch_batched(arrays, seeds: int, epochs: int, device: str = "cpu"):
    """Many seeds the way a PyTorch user batches them: parameters stacked with torch.func.stack_module_state,
    loss gradients and test predictions under torch.func.vmap (x shared by all seeds), a plain SGD update of the
    stacked tensors, test accuracy of every seed every epoch (one host sync per epoch)."""
    import copy
    torch, dev, x, y, xt, yt = _torch_setup(arrays, device)
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap
    nets = [_torch_model(torch, dev) for _ in range(seeds)]
    params, buffers = stack_module_state(nets)
    params = {k: v.detach() for k, v in params.items()}
    base = copy.deepcopy(nets[0]).to("meta")

    def loss(p, b, x, y):
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (x,)), y)

    step = vmap(grad_and_value(loss), in_dims=(0, 0, None, None))
    predict = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))

    def epoch():
        grads, _ = step(params, buffers, x, y)
        with torch.no_grad():
            for k in params:
                params[k].sub_(1e-3 * grads[k])
            return (predict(params, buffers, xt).argmax(-1) == yt).float().mean(-1).cpu()   # every seed's

    dt, peak = _timed(torch, device, epoch, epochs)
    return dt / (epochs * seeds), peak, torch.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="1,8,20")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--variant", default="ReLU")
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--precision", default="highest")
    ap.add_argument("--torch-device", default="cpu")
    ap.add_argument("--layout", default="auto,row",
                    help="first layers for distnet: auto (what train.py runs with config.split=auto at --precision: "
                         "resolved as distnet.run.plan does), row, col, bf16, fp16")
    ap.add_argument("--torch", default="loop,batched", help="PyTorch peers: loop, batched (at the largest seed "
                                                          "count), or none")
    ap.add_argument("--numpy", action=argparse.BooleanOptionalAction, default=True,
                    help="the numpy step and matmul rows (CPU)")
    ap.add_argument("--json", default="", help="also write the rows and the machine to this JSON file")
    args = ap.parse_args()
    arrays = load_data(args.n_train)
    *arrays, source = arrays
    n, nt = len(arrays[0]), len(arrays[2])
    gflop = flops_per_model_epoch(n, nt) / 1e9
    info = machine()
    seed_counts = [int(v) for v in args.seeds.split(",")]
    layouts = args.layout.split(",")
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print(f"data: {source} {n} train / {nt} test; variant {args.variant}; {gflop:.2f} GFLOP per model-epoch; "
          f"{args.epochs} timed epochs after compiling and one warm-up call; precision {args.precision}")
    rows, errors = [], None
    if "auto" in layouts:
        print(f"layout auto resolves to {resolve_auto(arrays, args.precision)} here (config.split=auto, "
              f"matmul_precision={args.precision}, as train.py plans it)")
    if any(l in SPLITS or (l == "auto" and resolve_auto(arrays, args.precision) in SPLITS) for l in layouts):
        errors = first_layer_error(arrays[0], args.precision)
        print("first-layer error vs float64 on this device (x @ W, x^T @ G; max error over the largest value): "
              + "; ".join(f"{k} {a:.1e}, {b:.1e}" for k, (a, b) in errors.items()), flush=True)
    for layout in layouts:
        for s in seed_counts:
            per, comp, peak = bench_distnet(arrays, s, args.epochs, args.variant, args.precision, layout)
            name = f"auto = {resolve_auto(arrays, args.precision)}" if layout == "auto" else layout
            rows.append((f"distnet, {s} seed(s), {name}", per, peak, f"compile {comp:.1f}s"))
            print(f"  measured {rows[-1][0]}: {per:.6f} s/model-epoch", flush=True)
    if args.numpy:
        per, peak = bench_numpy(arrays, max(2, args.epochs // 3))
        rows.append(("numpy full-batch step (1 model)", per, peak, ""))
    peers = [p for p in args.torch.split(",") if p and p != "none"]
    try:
        if "loop" in peers:
            per, peak, tv = bench_torch(arrays, args.epochs, args.torch_device)
            rows.append((f"PyTorch {tv} sequential loop ({args.torch_device})", per, peak, ""))
            print(f"  measured {rows[-1][0]}: {per:.6f} s/model-epoch", flush=True)
        if "batched" in peers:
            s = max(seed_counts)
            per, peak, tv = bench_torch_batched(arrays, s, args.epochs, args.torch_device)
            rows.append((f"PyTorch {tv} batched, {s} seeds, torch.func.vmap ({args.torch_device})", per, peak, ""))
            print(f"  measured {rows[-1][0]}: {per:.6f} s/model-epoch", flush=True)
    except ImportError:
        print("  PyTorch not installed: skipping the PyTorch peers (pip install torch)")
    mm = bench_numpy_matmul(n, 8) if args.numpy else None
    loop_row = next((r for r in rows if "sequential loop" in r[0]), None)
    batched_row = next((r for r in rows if "batched" in r[0]), None)
    if mm:
        print(f"\nnumpy matmul on the trainer's shapes (S=8): {mm:.1f} GFLOP/s")
    print("\n| what | s / model-epoch | GFLOP/s | vs PyTorch loop | vs PyTorch batched | vs numpy matmul | "
          "peak RSS GiB | note |")
    print("|---|---|---|---|---|---|---|---|")
    for name, per, peak, note in rows:
        gf = gflop / per
        vs = lambda r: f"{r[1] / per:.2f}x" if r else "n/a"
        print(f"| {name} | {per:.6f} | {gf:.1f} | {vs(loop_row)} | {vs(batched_row)} | "
              f"{f'{100 * gf / mm:.0f}%' if mm else 'n/a'} | {peak / 2 ** 30:.2f} | {note} |")
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump({"machine": info, "args": vars(args), "gflop_per_model_epoch": gflop, "first_layer_error": errors,
                       "rows": [{"what": r[0], "s_per_model_epoch": r[1], "peak_rss": r[2], "note": r[3]}
                                for r in rows]}, f, indent=1)


if __name__ == "__main__":
    main()
