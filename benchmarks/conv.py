"""Convolution and pooling benchmark: cnnkit's numpy layers vs torch.nn.functional, as ratios.

Everything is measured in this one process and reported as ratios (machines are shared and
noisy; absolute times are printed for context only). Run with ``make bench``.

- Forward convolution: loops vs vectorised (im2col) vs ``F.conv2d``, and the *bound* of the
  im2col design: the time of its one strided copy plus its one matrix product, measured alone
  (``bound/torch``: no im2col code can beat it; ``vec/bound`` says how close the code is).
- Backward convolution: ``conv2d_backward`` (dx, dw, db) vs torch's autograd backward of the
  same layer (the graph is built once; only the backward is timed).
- Pooling, forward and backward: ``max_pool2d``/``avg_pool2d`` vs torch.

Fairness: with glibc's default malloc every fresh multi-megabyte buffer is mmap'ed and
page-faulted on first touch, which dominates small kernels (F.conv2d on the first case: ~3.8 ms
by default vs ~0.6 ms without). This script therefore re-executes itself once with
MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ raised (so freed buffers are reused), for both
sides alike, and with both libraries on the same number of threads (``--threads``, default 1:
on a shared machine spinning BLAS/OpenMP threads make the timings of both sides erratic).
The loop version is timed on a slice of the batch and scaled (its cost is exactly linear in N).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _threads_argument(argv) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of numpy's BLAS and of torch (default 1)")
    parser.add_argument("--no-loops", action="store_true", help="skip the slow loop version")
    return parser.parse_args(argv)


if __name__ == "__main__":
    _ARGS = _threads_argument(sys.argv[1:])
    _ENV = {**_MALLOC, **dict.fromkeys(_THREAD_VARS, str(_ARGS.threads))}
    if any(os.environ.get(k) != v for k, v in _ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_ENV})

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnnkit import _windows  # noqa: E402
from cnnkit.conv import conv2d, conv2d_backward, conv2d_loops  # noqa: E402
from cnnkit.pool import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward  # noqa: E402

CASES = {
    # name: (x shape, w shape, padding)
    "CIFAR-sized  x(64,3,32,32) w(16,3,3,3) p=1": ((64, 3, 32, 32), (16, 3, 3, 3), 1),
    "LeNet C1     x(64,1,28,28) w(6,1,5,5)  p=2": ((64, 1, 28, 28), (6, 1, 5, 5), 2),
    "LeNet C3     x(64,6,14,14) w(16,6,5,5) p=0": ((64, 6, 14, 14), (16, 6, 5, 5), 0),
}
# the targets for vec/torch (forward) and backward/torch
FORWARD_TARGET = {"CIFAR-sized": 2.0, "LeNet C1": 2.0, "LeNet C3": 3.5}
BACKWARD_TARGET = 3.0

POOL_CASES = {
    # name: (x shape, kernel_size, stride)
    "max 2x2 after C1  x(64,6,28,28)": ("max", (64, 6, 28, 28), 2, None),
    "max 2x2 after C3  x(64,16,10,10)": ("max", (64, 16, 10, 10), 2, None),
    "max 3x3 s2 ResNet x(16,64,56,56)": ("max", (16, 64, 56, 56), 3, 2),
    "avg 2x2           x(64,6,28,28)": ("avg", (64, 6, 28, 28), 2, None),
}


def _per_call(fn, min_seconds: float) -> float:
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls


def best_of(fns: dict, rounds: int = 7, min_seconds: float = 0.1) -> dict:
    """Best time per call (seconds) of each function, rounds interleaved so that a change in
    machine load hits every function alike."""
    for fn in fns.values():
        fn()  # warm up
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], _per_call(fn, min_seconds))
    return best


def _bound_parts(x, w, pad):
    """The im2col design's two unavoidable steps, alone: the strided copy, the product."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    F_, C, kh, kw = w.shape
    Ho, Wo = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    windows = _windows.strided_windows(xp, (kh, kw), (1, 1), (1, 1), (Ho, Wo))
    cols = np.ascontiguousarray(windows).reshape(x.shape[0], C * kh * kw, Ho * Wo)
    w_mat = w.reshape(F_, -1)
    out = np.empty((x.shape[0], F_, Ho * Wo), dtype=x.dtype)
    return (lambda: np.ascontiguousarray(windows)), (lambda: np.matmul(w_mat, cols, out=out))


def measure_forward(rng, xs, ws, pad: int, loops: bool, loop_images: int = 2) -> dict:
    """Seconds per call of loops (None if skipped), vectorised, torch and the bound."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    np.testing.assert_allclose(conv2d(x, w, padding=pad), F.conv2d(xt, wt, padding=pad).numpy(),
                               rtol=1e-4, atol=1e-3)
    copy, product = _bound_parts(x, w, pad)
    t = best_of({"torch": lambda: F.conv2d(xt, wt, padding=pad),
                 "vec": lambda: conv2d(x, w, padding=pad), "copy": copy, "product": product})
    t["bound"] = t["copy"] + t["product"]
    t["loops"] = None
    if loops:
        t["loops"] = best_of({"loops": lambda: conv2d_loops(x[:loop_images], w, padding=pad)},
                             rounds=1, min_seconds=0)["loops"] * (xs[0] / loop_images)
    return t


def measure_backward(rng, xs, ws, pad: int) -> dict:
    """Seconds per call of conv2d_backward and of torch's backward (dx, dw, db)."""
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.zeros(ws[0], requires_grad=True)
    out = F.conv2d(xt, wt, bt, padding=pad)
    dout = torch.randn_like(out)
    ref = torch.autograd.grad(out, (xt, wt, bt), dout, retain_graph=True)
    ours = conv2d_backward(dout.numpy(), x, w, padding=pad)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-3, atol=1e-2)
    return best_of({"torch": lambda: torch.autograd.grad(out, (xt, wt, bt), dout,
                                                         retain_graph=True),
                    "ours": lambda: conv2d_backward(dout.numpy(), x, w, padding=pad)})


def measure_pool(rng, kind: str, xs, k, s) -> dict:
    """Seconds per call of our/torch's pooling forward and backward."""
    x = rng.standard_normal(xs).astype(np.float32)
    ours, ours_backward, theirs = ((max_pool2d, max_pool2d_backward, F.max_pool2d)
                                   if kind == "max" else
                                   (avg_pool2d, avg_pool2d_backward, F.avg_pool2d))
    xt = torch.from_numpy(x).requires_grad_()
    out = theirs(xt, k, s)
    dout = torch.randn_like(out)
    np.testing.assert_allclose(ours(x, k, s), out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours_backward(dout.numpy(), x, k, s),
                               torch.autograd.grad(out, xt, dout, retain_graph=True)[0].numpy(),
                               rtol=1e-5, atol=1e-5)
    return best_of({
        "torch": lambda: theirs(xt.detach(), k, s),
        "ours": lambda: ours(x, k, s),
        "torch_bwd": lambda: torch.autograd.grad(out, xt, dout, retain_graph=True),
        "ours_bwd": lambda: ours_backward(dout.numpy(), x, k, s),
    })


def _target(name: str) -> float:
    return next(v for k, v in FORWARD_TARGET.items() if name.startswith(k))


def report_convolution(rng, loops: bool) -> None:
    header = (f"{'forward':<44} {'loops':>8} {'vectorised':>10} {'F.conv2d':>9} {'bound':>8}  "
              f"{'loops/vec':>9} {'vec/torch':>9} {'bound/torch':>11} {'target':>6}")
    print(header)
    print("-" * len(header))
    for name, (xs, ws, pad) in CASES.items():
        t = measure_forward(rng, xs, ws, pad, loops)
        loop_ms = f"{t['loops'] * 1e3:6.0f}ms" if t["loops"] else f"{'-':>8}"
        loop_ratio = f"{t['loops'] / t['vec']:8.0f}x" if t["loops"] else f"{'-':>9}"
        print(f"{name:<44} {loop_ms} {t['vec'] * 1e3:8.2f}ms {t['torch'] * 1e3:7.2f}ms "
              f"{t['bound'] * 1e3:6.2f}ms  {loop_ratio} {t['vec'] / t['torch']:8.2f}x "
              f"{t['bound'] / t['torch']:10.2f}x {_target(name):5.1f}x")
    print("bound: the strided copy into (N, C*kh*kw, Ho*Wo) plus the matrix product, timed alone")
    print()
    header = (f"{'backward (dx, dw, db)':<44} {'ours':>8} {'torch':>8}  {'ours/torch':>10} "
              f"{'target':>6}")
    print(header)
    print("-" * len(header))
    for name, (xs, ws, pad) in CASES.items():
        t = measure_backward(rng, xs, ws, pad)
        print(f"{name:<44} {t['ours'] * 1e3:6.2f}ms {t['torch'] * 1e3:6.2f}ms  "
              f"{t['ours'] / t['torch']:9.2f}x {BACKWARD_TARGET:5.1f}x")


def report_pooling(rng) -> None:
    header = (f"{'pooling':<34} {'fwd ours':>9} {'fwd torch':>9} {'ratio':>6}  "
              f"{'bwd ours':>9} {'bwd torch':>9} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for name, (kind, xs, k, s) in POOL_CASES.items():
        t = measure_pool(rng, kind, xs, k, s)
        print(f"{name:<34} {t['ours'] * 1e3:7.2f}ms {t['torch'] * 1e3:7.2f}ms "
              f"{t['ours'] / t['torch']:5.1f}x  {t['ours_bwd'] * 1e3:7.2f}ms "
              f"{t['torch_bwd'] * 1e3:7.2f}ms {t['ours_bwd'] / t['torch_bwd']:5.1f}x")


def main(args) -> None:
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, {torch.get_num_threads()} torch "
          f"thread(s), BLAS threads {os.environ.get('OPENBLAS_NUM_THREADS')}, malloc thresholds "
          f"raised: {all(os.environ.get(k) == v for k, v in _MALLOC.items())}")
    rng = np.random.default_rng(0)
    report_convolution(rng, loops=not args.no_loops)
    print()
    report_pooling(rng)


if __name__ == "__main__":
    main(_ARGS)
