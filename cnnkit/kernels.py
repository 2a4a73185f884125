"""Named classic image kernels: what hand-designed filters do before a CNN learns its own.

Each kernel is a small float64 array (kh, kw) with a one-line meaning. Look one up with
``get(name)`` (a fresh copy, safe to edit); ``names()`` lists them in teaching order and
``table()`` prints them. Apply them with ``cnnkit.conv.correlate2d`` (what a CNN layer computes).

>>> get("sharpen")
array([[ 0., -1.,  0.],
       [-1.,  5., -1.],
       [ 0., -1.,  0.]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NamedKernel", "KERNELS", "names", "get", "meaning", "table"]


@dataclass(frozen=True)
class NamedKernel:
    """A classic kernel: ``values`` (kh, kw) float64 and what it does."""

    name: str
    values: np.ndarray
    meaning: str


def _k(name: str, rows, meaning: str, scale: float = 1.0) -> NamedKernel:
    values = np.asarray(rows, dtype=np.float64) * scale
    values.setflags(write=False)  # the registry is read-only; get() hands out copies
    return NamedKernel(name, values, meaning)


KERNELS: dict[str, NamedKernel] = {
    k.name: k
    for k in [
        _k("identity", [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
           "copies the image: the output pixel is the input pixel"),
        _k("edge_detect", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
           "8 x (the pixel minus the mean of its 8 neighbours): responds where a pixel "
           "differs from the mean of its neighbours; flat regions give 0"),
        _k("sharpen", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
           "identity plus a 4-neighbour edge term: boosts local contrast"),
        _k("box_blur", [[1, 1, 1], [1, 1, 1], [1, 1, 1]],
           "mean of the 3x3 neighbourhood: smooths, weights sum to 1", 1 / 9),
        _k("gaussian_blur_3x3", [[1, 2, 1], [2, 4, 2], [1, 2, 1]],
           "binomial approximation of a Gaussian: smooths, nearer pixels weigh more", 1 / 16),
        _k("gaussian_blur_5x5",
           [[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4],
            [1, 4, 6, 4, 1]],
           "wider binomial Gaussian: stronger smoothing", 1 / 256),
        _k("sobel_x", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
           "horizontal intensity gradient (correlated): positive where it gets brighter "
           "to the right; finds vertical edges"),
        _k("sobel_y", [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
           "vertical intensity gradient (correlated): positive where it gets brighter "
           "downwards; finds horizontal edges"),
        _k("laplacian", [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
           "discrete second derivative (4-neighbour): zero on flat and linear ramps, "
           "large at edges and corners"),
    ]
}


def names() -> list[str]:
    """The kernel names, in teaching order."""
    return list(KERNELS)


def _lookup(name: str) -> NamedKernel:
    if not isinstance(name, str):
        raise TypeError(f"name must be a kernel name (str); got {type(name).__name__}")
    try:
        return KERNELS[name]
    except KeyError:
        raise KeyError(
            f"unknown kernel {name!r}; valid names: {', '.join(KERNELS)}"
        ) from None


def get(name: str) -> np.ndarray:
    """A fresh, writable float64 copy of the named kernel, shape (kh, kw).

    Raises KeyError listing the valid names for an unknown name.
    """
    return _lookup(name).values.copy()


def meaning(name: str) -> str:
    """One line saying what the named kernel does."""
    return _lookup(name).meaning


def _format_value(v: float) -> str:
    """Show exact small fractions (1/9, 6/256) rather than 0.1111."""
    from fractions import Fraction

    frac = Fraction(v).limit_denominator(256)
    return str(frac) if abs(float(frac) - v) < 1e-12 else f"{v:.4g}"


def table(selected: list[str] | None = None) -> str:
    """Plain-text table of kernels: name, shape, sum of weights, values, meaning.

    The sum of the weights says what a kernel does to a flat region: 1 keeps its brightness
    (identity, sharpen, blurs), 0 maps it to black (edge and gradient detectors).
    """
    lines = []
    for name in selected or names():
        k = _lookup(name)
        rows = [" ".join(f"{_format_value(v):>6}" for v in row) for row in k.values]
        total = _format_value(float(k.values.sum().round(12)))
        head = f"{name} {k.values.shape[0]}x{k.values.shape[1]}, sum {total}: {k.meaning}"
        lines.append(head)
        lines.extend("    " + r for r in rows)
    return "\n".join(lines)
