"""Seconds per model-epoch of the protocol: distnet's trainer (S seeds at once) vs numpy vs a PyTorch loop.

    python benchmarks/throughput.py [--seeds 1,8,20] [--epochs 10] [--variant ReLU] [--n-train 60000]
                                    [--precision highest] [--layout auto,row,col,split]

Layouts: auto (the trainer's choice: column-major inputs on CPU), row, col, and split (config.bf16_split: the
first layer as exact bfloat16 parts, 3 at "highest", 2 at "high"; for tensor cores, slow on CPU). With split,
the first layer's error against float64 is printed for the plain and the split product on this device.

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


def bench_distnet(arrays, seeds: int, epochs: int, variant: str, precision: str, layout: str = "auto"):
    import jax
    from distnet import models, training
    model = models.get(variant)
    trainer = training.make_train(model, 1e-3, eval_every=1)
    init, run, _ = trainer.jitted()   # the programs vmapped() runs, without its chunking
    ds = SimpleNamespace(**dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays)))
    if layout == "split":
        d = training.to_device(ds, split=training.SPLIT_PARTS[precision])
    else:
        d = training.to_device(ds, transposed=layout == "col" if layout != "auto" else None)
    with jax.default_matmul_precision(precision):
        params = init(training.seed_keys(0, seeds))
        t0 = time.perf_counter()
        compiled = run.lower(params, d, epochs).compile()
        compile_s = time.perf_counter() - t0
        params, m = compiled(params, d)                  # warm-up: first execution
        jax.block_until_ready(m)
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            params, m = compiled(params, d)
            jax.block_until_ready(m)
            dt = time.perf_counter() - t0
    return dt / (epochs * seeds), compile_s, mem.peak


def first_layer_error(x, precision: str, n: int = 4000) -> dict:
    """Max error of x @ W and x^T @ G on this device, relative to the largest float64 value: the plain product
    at `precision` and the bf16_split one (SPLIT_PARTS[precision] parts)."""
    import jax
    import jax.numpy as jnp
    from distnet import layers, training
    rng = np.random.default_rng(0)
    x = x[:n]
    w = rng.uniform(-1 / 28, 1 / 28, (D, 20 * H)).astype(np.float32)
    g = (rng.standard_normal((len(x), 20 * H)) * 1e-5).astype(np.float32)
    want = x.astype(np.float64) @ w, x.T.astype(np.float64) @ g
    s = layers.split_input(x, training.SPLIT_PARTS[precision])
    with jax.default_matmul_precision(precision):
        plain = jax.jit(lambda w, g: (jnp.asarray(x) @ w, jnp.asarray(x).T @ g))(w, g)
        y, vjp = jax.vjp(lambda w: layers.split_matmul(s, w), jnp.asarray(w))
        split = y, vjp(jnp.asarray(g))[0]
    err = lambda got: [float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max()) for a, b in zip(got, want)]
    return {"plain": err(plain), "split": err(split)}


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


def bench_torch(arrays, epochs: int, device: str = "cpu"):
    """The paper's scripts: one model at a time, one full-batch step per epoch, test accuracy every epoch."""
    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    dev = torch.device(device)
    x, y, xt, yt = (torch.as_tensor(a).to(dev) for a in arrays)
    y, yt = y.long(), yt.long()
    model = torch.nn.Sequential(torch.nn.Linear(D, H), torch.nn.ReLU(), torch.nn.Linear(H, C, bias=False)).to(dev)
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

    epoch()
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        for _ in range(epochs):
            epoch()
        if device != "cpu":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
    return dt / epochs, mem.peak, torch.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="1,8,20")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--variant", default="ReLU")
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--precision", default="highest")
    ap.add_argument("--torch-device", default="cpu")
    ap.add_argument("--layout", default="auto,row", help="input layouts for distnet: auto (column-major on CPU), row, col")
    args = ap.parse_args()
    arrays = load_data(args.n_train)
    *arrays, source = arrays
    n, nt = len(arrays[0]), len(arrays[2])
    gflop = flops_per_model_epoch(n, nt) / 1e9
    info = machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    print(f"data: {source} {n} train / {nt} test; variant {args.variant}; {gflop:.2f} GFLOP per model-epoch; "
          f"{args.epochs} timed epochs after compiling and one warm-up call; precision {args.precision}")
    rows = []
    if "split" in args.layout.split(","):
        e = first_layer_error(arrays[0], args.precision)
        print(f"first-layer error vs float64 on this device (x @ W, x^T @ G; relative to the largest value): "
              f"plain at {args.precision} {e['plain'][0]:.1e}, {e['plain'][1]:.1e}; "
              f"bf16_split {e['split'][0]:.1e}, {e['split'][1]:.1e}", flush=True)
    for layout in args.layout.split(","):
        for s in [int(v) for v in args.seeds.split(",")]:
            per, comp, peak = bench_distnet(arrays, s, args.epochs, args.variant, args.precision, layout)
            rows.append((f"distnet, {s} seed(s), {layout} inputs", per, peak, f"compile {comp:.1f}s"))
            print(f"  measured {rows[-1][0]}: {per:.5f} s/model-epoch", flush=True)
    per, peak = bench_numpy(arrays, max(2, args.epochs // 3))
    rows.append(("numpy full-batch step (1 model)", per, peak, ""))
    try:
        per, peak, tv = bench_torch(arrays, args.epochs, args.torch_device)
        rows.append((f"PyTorch {tv} sequential loop ({args.torch_device})", per, peak, ""))
    except ImportError:
        print("  PyTorch not installed: skipping the sequential PyTorch loop (pip install torch)")
    mm = bench_numpy_matmul(n, 8)
    torch_row = next((r for r in rows if r[0].startswith("PyTorch")), None)
    print(f"\nnumpy matmul on the trainer's shapes (S=8): {mm:.1f} GFLOP/s\n")
    print("| what | s / model-epoch | GFLOP/s | speed vs PyTorch loop | vs numpy matmul GFLOP/s | peak RSS GiB | note |")
    print("|---|---|---|---|---|---|---|")
    for name, per, peak, note in rows:
        gf = gflop / per
        vs_t = f"{torch_row[1] / per:.2f}x" if torch_row else "n/a"
        print(f"| {name} | {per:.5f} | {gf:.1f} | {vs_t} | {100 * gf / mm:.0f}% | {peak / 2 ** 30:.2f} | {note} |")


if __name__ == "__main__":
    main()
