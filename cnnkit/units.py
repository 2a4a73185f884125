"""What one output unit of a convolution or pooling layer sees and computes (no ipywidgets, no
matplotlib): the arithmetic behind the widgets' "click an output pixel" panels.

- ``window``: the input cells under the kernel of output unit (i, j), with their coordinates
  (padding and dilation gaps included);
- ``conv_unit``: that window, the weights that meet it, their products, the sum, the bias and
  the result (optionally after ReLU) — equal to ``cnnkit.conv.conv2d``'s output at (i, j);
- ``pool_unit``: a pooling window, the value it keeps (max: the argmax cell) — equal to
  ``cnnkit.pool``'s output;
- ``shift_right`` and ``unchanged_fraction``: the pooling lesson's shift experiment.

Shapes: an input x is (C, H, W) or (H, W); kernels are (C, kh, kw) or (kh, kw).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnkit import conv
from cnnkit._validate import as_pair, check_choice, check_int, check_real

__all__ = ["Window", "ConvUnit", "PoolUnit", "window", "conv_unit", "pool_unit", "shift_right",
           "unchanged_fraction"]


@dataclass(frozen=True)
class Window:
    """The kh x kw taps of one output unit.

    rows (kh,), cols (kw,): the input row/column of each tap (negative or >= H/W: padding);
    values (C, kh, kw): the input there (``fill`` in the padding); inside (kh, kw): taps on
    real input pixels.
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    inside: np.ndarray


def _as_chw(x, name: str = "x") -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or 0 in arr.shape:
        raise ValueError(f"{name} must be (H, W) or (C, H, W); got shape {arr.shape}")
    return arr


def window(x, i: int, j: int, kernel_size, stride=1, padding=0, dilation=1,
           fill: float = 0.0) -> Window:
    """The window of output unit (i, j) of a layer with this geometry.

    x: (C, H, W) or (H, W). kernel_size, stride, padding, dilation: int or (along H, along W).
    Raises ValueError (naming the argument) when (i, j) is not an output unit.
    """
    x = _as_chw(x)
    (kh, kw), (sh, sw) = as_pair(kernel_size, "kernel_size", 1), as_pair(stride, "stride", 1)
    (ph, pw), (dh, dw) = as_pair(padding, "padding", 0), as_pair(dilation, "dilation", 1)
    _, H, W = x.shape
    Ho = conv.output_size(H, kh, sh, ph, dh)
    Wo = conv.output_size(W, kw, sw, pw, dw)
    i, j = check_int(i, "i", 0, Ho - 1), check_int(j, "j", 0, Wo - 1)
    rows = i * sh - ph + dh * np.arange(kh)
    cols = j * sw - pw + dw * np.arange(kw)
    inside = ((rows >= 0) & (rows < H))[:, None] & ((cols >= 0) & (cols < W))[None, :]
    values = np.full((x.shape[0], kh, kw), float(fill))
    r, c = np.meshgrid(rows, cols, indexing="ij")
    values[:, inside] = x[:, r[inside], c[inside]]
    return Window(rows, cols, values, inside)


@dataclass(frozen=True)
class ConvUnit:
    """One output unit of a convolution layer, term by term.

    window: its ``Window``. weights (C, kh, kw): the weights that meet the window (the kernel
    turned 180 degrees for a true convolution). products = window.values * weights.
    total: products.sum(). bias. pre_activation = total + bias. value: the unit's output
    (``max(0, pre_activation)`` with ReLU).
    """

    window: Window
    weights: np.ndarray
    products: np.ndarray
    total: float
    bias: float
    pre_activation: float
    value: float


def conv_unit(x, w, i: int, j: int, bias: float = 0.0, stride=1, padding=0, dilation=1,
              flip: bool = False, relu: bool = False) -> ConvUnit:
    """Output unit (i, j) of one filter w over x, written out term by term.

    x: (C, H, W) or (H, W). w: (C, kh, kw) or (kh, kw) (C must match). flip: True for a
    convolution (the kernel turned 180 degrees before sliding), False for the cross-correlation
    deep-learning layers compute. relu: apply max(0, .) after the bias.
    The result equals ``cnnkit.conv.conv2d(x[None], w[None], [bias], ...)[0, 0, i, j]``
    (with ``w`` flipped when ``flip``).
    """
    x, w = _as_chw(x), _as_chw(w, "w")
    if w.shape[0] != x.shape[0]:
        raise ValueError(f"w has {w.shape[0]} channels but x has {x.shape[0]}")
    bias = check_real(bias, "bias")
    weights = w[:, ::-1, ::-1].copy() if flip else w
    win = window(x, i, j, w.shape[1:], stride, padding, dilation)
    products = win.values * weights
    total = float(products.sum())
    pre = total + bias
    return ConvUnit(win, weights, products, total, bias, pre, max(pre, 0.0) if relu else pre)


@dataclass(frozen=True)
class PoolUnit:
    """One output unit of a pooling layer.

    window: its ``Window`` (padding cells -inf for max, 0 for average). value: the output.
    argmax: (row, col) of the input cell max pooling kept (the first of equal maxima in
    reading order), None for average pooling.
    """

    window: Window
    value: float
    argmax: tuple[int, int] | None


def pool_unit(x, i: int, j: int, kernel_size, stride=None, padding=0,
              mode: str = "max") -> PoolUnit:
    """Output unit (i, j) of max or average pooling of one (H, W) plane.

    Average pooling divides by the whole window (padded zeros count, as ``cnnkit.pool``'s
    default); max pooling never picks a padded cell. Equals ``cnnkit.pool.max_pool2d`` /
    ``avg_pool2d`` at (i, j); ``argmax`` is where ``max_pool2d(..., return_indices=True)``
    points.
    """
    mode = check_choice(mode, "mode", ("max", "avg"))
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be one (H, W) plane; got shape {x.shape}")
    stride = kernel_size if stride is None else stride
    win = window(x, i, j, kernel_size, stride, padding,
                 fill=-np.inf if mode == "max" else 0.0)
    if mode == "avg":
        return PoolUnit(win, float(win.values.mean()), None)
    flat = int(np.argmax(win.values[0]))  # first maximum in reading order
    u, v = divmod(flat, win.values.shape[2])
    return PoolUnit(win, float(win.values[0, u, v]), (int(win.rows[u]), int(win.cols[v])))


def shift_right(x, pixels: int) -> np.ndarray:
    """(..., H, W) moved ``pixels`` columns to the right; zeros enter on the left (nothing
    wraps round)."""
    x = np.asarray(x)
    pixels = check_int(pixels, "pixels", 0)
    out = np.zeros_like(x)
    if pixels < x.shape[-1]:
        out[..., pixels:] = x[..., : x.shape[-1] - pixels]
    return out


def unchanged_fraction(a, b, atol: float = 1e-6) -> float:
    """Share of the positions where two same-shape maps agree (to ``atol``)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    return float(np.isclose(a, b, rtol=0.0, atol=atol).mean()) if a.size else 1.0
