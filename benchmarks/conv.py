"""Convolution benchmark: loops vs vectorised (im2col) vs torch.nn.functional.conv2d.

Everything is measured in this one process and reported as ratios (machines are shared and
noisy; absolute times are printed for context only). Run with ``make bench``.

Fairness: with glibc's default malloc every fresh multi-megabyte buffer is mmap'ed and
page-faulted on first touch, which dominates small kernels (F.conv2d on the first case: ~3.8 ms
by default vs ~0.6 ms without). This script therefore re-executes itself once with
MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ raised (so freed buffers are reused), for both
sides alike. The loop version is timed on a slice of the batch and scaled (its cost is exactly
linear in N); both libraries use the same number of threads.
"""

from __future__ import annotations

import os
import sys
import time

_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "1000000000"}
if __name__ == "__main__" and any(os.environ.get(k) != v for k, v in _MALLOC.items()):
    os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **_MALLOC})

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnnkit.conv import conv2d, conv2d_loops  # noqa: E402

CASES = {
    # name: (x shape, w shape, padding)
    "CIFAR-sized  x(64,3,32,32) w(16,3,3,3) p=1": ((64, 3, 32, 32), (16, 3, 3, 3), 1),
    "LeNet C1     x(64,1,28,28) w(6,1,5,5)  p=2": ((64, 1, 28, 28), (6, 1, 5, 5), 2),
    "LeNet C3     x(64,6,14,14) w(16,6,5,5) p=0": ((64, 6, 14, 14), (16, 6, 5, 5), 0),
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


def measure(rng, xs, ws, pad: int, loop_images: int = 2) -> tuple[float, float, float]:
    """Seconds per call of (loops, vectorised, torch) for x of shape xs, w of shape ws.

    The loops are timed on ``loop_images`` images and scaled to the batch (exactly linear in N).
    """
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    np.testing.assert_allclose(conv2d(x, w, padding=pad), F.conv2d(xt, wt, padding=pad).numpy(),
                               rtol=1e-4, atol=1e-3)
    t = best_of({"torch": lambda: F.conv2d(xt, wt, padding=pad),
                 "vec": lambda: conv2d(x, w, padding=pad)})
    t_loops = best_of({"loops": lambda: conv2d_loops(x[:loop_images], w, padding=pad)},
                      rounds=1, min_seconds=0)["loops"] * (xs[0] / loop_images)
    return t_loops, t["vec"], t["torch"]


def main() -> None:
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, numpy {np.__version__}, {threads} torch threads, "
          f"malloc thresholds raised: {all(os.environ.get(k) == v for k, v in _MALLOC.items())}")
    rng = np.random.default_rng(0)
    header = f"{'case':<44} {'loops':>10} {'vectorised':>11} {'F.conv2d':>10}  " \
             f"{'loops/vec':>9} {'vec/torch':>9}"
    print(header)
    print("-" * len(header))
    for name, (xs, ws, pad) in CASES.items():
        t_loops, t_vec, t_torch = measure(rng, xs, ws, pad)
        print(f"{name:<44} {t_loops * 1e3:8.0f}ms {t_vec * 1e3:9.2f}ms {t_torch * 1e3:8.2f}ms  "
              f"{t_loops / t_vec:8.0f}x {t_vec / t_torch:8.1f}x")
    print("targets: loops/vec >= 100x; vec/torch <= 3x (im2col copies each pixel kh*kw times; "
          "torch does not)")


if __name__ == "__main__":
    main()
