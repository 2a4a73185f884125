"""Numerical gradients and relative errors: how to check a hand-written backward pass.

For a function ``out = f(x)`` and an upstream gradient ``dout = dL/dout``, the gradient of
``L = sum(out * dout)`` with respect to each entry of x is estimated with centred differences:
``(L(x + h e_i) - L(x - h e_i)) / 2h``. In float64 with h = 1e-6 the estimate is good to about
1e-8 relative error for smooth functions, so a backward pass with a relative error near 1e-8 or
below is right, and one near 1e-2 has a bug.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["numerical_gradient", "rel_error"]


def numerical_gradient(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-6
) -> np.ndarray:
    """Centred-difference estimate of dL/dx for L = sum(f(x) * dout).

    f: a function of x returning an array of the shape of dout.
    x: any shape, float64 (it is perturbed in place and restored).
    dout: the upstream gradient, shape of f(x).
    Returns an array of the shape of x. Costs 2 calls of f per entry of x: keep x small.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a float array to be perturbed; got dtype {x.dtype}")
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = np.sum(f(x) * dout)
        x[i] = old - h
        minus = np.sum(f(x) * dout)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def rel_error(a, b) -> float:
    """Largest relative error between two arrays: max |a - b| / max(1e-8, |a| + |b|)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))
