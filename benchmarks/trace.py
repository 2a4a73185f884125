"""Tracing benchmark: ``cnnkit.inspect.trace`` on the meta device vs a real forward pass.

ResNet-152 on a batch of shape [10, 3, 224, 224], the case of issue 8: the trace runs every
module on empty meta tensors (shapes only, no arithmetic, no memory for activations), the real
forward pass computes everything on the CPU (eval mode, ``torch.no_grad``). Both are measured in
this one process, interleaved, and reported as a ratio (machines are shared and noisy; absolute
times are printed for context only). Run with ``make bench``.

The real pass needs the weights (60 million floats, 240 MB) and, at batch 10, a few hundred MB
of activations; the trace needs neither.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from cnnkit.inspect import trace
from cnnkit.models import resnet


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=152, help="ResNet depth (default 152)")
    parser.add_argument("--batch", type=int, default=10, help="images per batch (default 10)")
    parser.add_argument("--size", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many (default 3)")
    args = parser.parse_args(argv)
    shape = (args.batch, 3, args.size, args.size)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads; "
          f"ResNet-{args.depth}, input {list(shape)}, best of {args.rounds}")

    with torch.device("meta"):
        shell = resnet(args.depth)  # structure only: tracing needs no weights
    model = resnet(args.depth).eval()
    x = torch.randn(shape)
    t = trace(shell, shape)
    with torch.no_grad():
        y = model(x)  # warm-up, and the shapes the trace must predict
    assert t[-1].output_shape == tuple(y.shape), (t[-1].output_shape, tuple(y.shape))
    rss_after_forward = _peak_rss_mb()

    best_trace = best_forward = float("inf")
    for _ in range(args.rounds):  # interleaved: a change in machine load hits both alike
        best_trace = min(best_trace, _seconds(lambda: trace(shell, shape)))
        with torch.no_grad():
            best_forward = min(best_forward, _seconds(lambda: model(x)))

    print(f"trace (meta device):       {best_trace * 1000:9.1f} ms  "
          f"({len(t)} module calls, {t.totals.macs * args.batch / 1e9:.1f} GMACs not computed)")
    print(f"forward pass (CPU, no_grad): {best_forward * 1000:7.1f} ms")
    print(f"ratio forward / trace: {best_forward / best_trace:.1f}x")
    print(f"peak resident memory of this process after the forward pass: "
          f"{rss_after_forward:.0f} MB")


if __name__ == "__main__":
    main()
