"""Pooling by hand: max, average and adaptive pooling, their backward passes, unpooling.

A pooling layer slides a window over every channel separately (no weights, no mixing of
channels) and keeps one number per window: the largest (max pooling) or the mean (average
pooling). Everything here equals ``torch.nn.functional`` (``max_pool2d``, ``avg_pool2d``,
``max_unpool2d``, ``adaptive_avg_pool2d``, ``adaptive_max_pool2d``) on its whole argument
space: stride, padding, dilation (max), ``ceil_mode``, ``count_include_pad`` and
``divisor_override`` (average), unbatched input.

Shapes follow PyTorch and CS231n:

- x: (N, C, H, W) a batch of N images with C channels, H rows and W columns, or one image
  (C, H, W) (the outputs then have no batch axis either)
- out: (N, C, Ho, Wo) with Ho = floor((H + 2*ph - dh*(kh - 1) - 1) / sh) + 1, the convolution
  formula (``cnnkit.conv.output_size``); with ``ceil_mode`` the ceiling, minus one if the last
  window would start past the input and its left padding (torch's rule)
- indices: (N, C, Ho, Wo) int64, for each output the position of its maximum in its own
  unpadded (H, W) plane, flattened row-major: ``row * W + column``

``kernel_size``, ``stride``, ``padding`` and ``dilation`` accept an int or a pair ``(along H,
along W)``; ``stride=None`` means ``stride = kernel_size`` (non-overlapping windows). Like
torch, ``padding`` must be at most ``kernel_size // 2`` along each axis. Max pooling pads with
-inf (a padded cell never wins), average pooling with zeros that *count* in the mean by default
(``count_include_pad=True``: a window divides by its size clipped to the padded input).

Tie rule (max pooling): among equal maxima the *first* one in row-major window order wins
(top row first, left to right), for ``indices`` and for the gradient routed by
``max_pool2d_backward`` (the whole gradient goes to that one cell, none to the other ties).
A NaN in a window makes the output NaN and its index is the *last* NaN of the window; a window
whose cells are all -inf returns -inf and its first in-bounds cell. This is exactly the rule of
torch's CPU kernel (``if (val > maxval || isnan(val))`` in window order); the tests check the
indices and the gradients against torch on integer-valued inputs full of ties.

Everything is numpy in, numpy out; float dtypes are kept, integer and boolean inputs become
float64. (LeNet-5's trainable ``Subsampling`` layer, a ``torch.nn.Module``, lives in
``cnnkit.models.lenet``; ``cnnkit.pool.Subsampling`` still finds it.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnkit import _windows
from cnnkit._validate import as_float_array, as_pair, check_int, common_dtype, is_int

__all__ = [
    "max_pool2d_loops",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "max_unpool2d",
    "global_avg_pool2d",
    "adaptive_windows",
    "adaptive_avg_pool2d",
    "adaptive_max_pool2d",
]


def __getattr__(name: str):
    # compatibility: Subsampling (an nn.Module) moved to cnnkit.models.lenet, so that importing
    # this numpy module does not import torch
    if name == "Subsampling":
        from cnnkit.models.lenet import Subsampling

        return Subsampling
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class _Pool:
    """A validated pooling layer: x (always batched) and its geometry."""

    x: np.ndarray  # (N, C, H, W)
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    sizes: tuple[int, int]  # (Ho, Wo)
    unbatched: bool  # x came as (C, H, W)

    @property
    def pads(self) -> _windows.Pads:
        """((top, bottom), (left, right)): the padding, plus on the bottom/right what the last
        window of ``ceil_mode`` reaches past it."""
        pads = []
        for n, k, s, p, d, m in zip(self.x.shape[2:], self.kernel, self.stride, self.padding,
                                    self.dilation, self.sizes, strict=True):
            reach = (m - 1) * s + _windows.span(k, d)  # padded cells the windows need
            pads.append((p, max(p, reach - n - p)))
        return tuple(pads)

    def starts(self, axis: int) -> np.ndarray:
        """Unpadded coordinate of each window's first cell along axis 0 (rows) or 1 (columns)."""
        return self.stride[axis] * np.arange(self.sizes[axis]) - self.padding[axis]

    def batched(self, out):
        return out[0] if self.unbatched else out


def _prepare(x, kernel_size, stride, padding, dilation=1, ceil_mode=False) -> _Pool:
    """Validate the pooling arguments (torch's rules); raise naming the argument at fault."""
    x, unbatched = _windows.as_images(x, "x")
    k = as_pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else as_pair(stride, "stride", 1)
    p = as_pair(padding, "padding", 0)
    d = as_pair(dilation, "dilation", 1)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode must be a bool; got {ceil_mode!r}")
    for axis, kk, pp in zip(("height", "width"), k, p, strict=True):
        if pp > kk // 2:
            raise ValueError(
                f"padding must be at most half the window (padding <= kernel_size // 2, as in "
                f"torch); got padding={padding!r} with kernel_size={kernel_size!r} "
                f"({axis}: {pp} > {kk} // 2 = {kk // 2})"
            )
    sizes = []
    for axis, n, kk, ss, pp, dd in zip(("height", "width"), x.shape[2:], k, s, p, d, strict=True):
        m = _windows.out_length(n, kk, ss, pp, pp, dd, bool(ceil_mode))
        if m < 1:
            raise ValueError(
                f"kernel_size: window {axis} {kk} does not fit x of shape {tuple(x.shape)} with "
                f"padding={padding!r} (it spans {_windows.span(kk, dd)} cells with dilation "
                f"{dd}; the padded input is {n + 2 * pp} long)"
            )
        sizes.append(m)
    return _Pool(x, k, s, p, d, tuple(sizes), unbatched)


def _check_dout(dout, pool: _Pool) -> np.ndarray:
    expected = (*pool.x.shape[:2], *pool.sizes)
    if pool.unbatched:
        dout = as_float_array(dout, "dout", 3, "(C, Ho, Wo), like the unbatched output")[None]
    else:
        dout = as_float_array(dout, "dout", 4, "(N, C, Ho, Wo)")
    if dout.shape != expected:
        shown, got = (expected[1:], dout.shape[1:]) if pool.unbatched else (expected, dout.shape)
        raise ValueError(
            f"dout must have the shape of the forward output {shown} for x of shape "
            f"{tuple(pool.x.shape[1:] if pool.unbatched else pool.x.shape)}; got {tuple(got)}"
        )
    return dout


def _window_cells(pool: _Pool, u: int, v: int):
    """(rows, columns) index of the padded cells tap (u, v) meets, one per output pixel."""
    return (slice(None), slice(None),
            *_windows.window_slices(u, v, pool.stride, pool.dilation, *pool.sizes))


def max_pool2d_loops(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                     return_indices=False):
    """Max pooling written as plain loops to be read (``max_pool2d`` is the fast version).

    x: (N, C, H, W) or (C, H, W); same arguments and results as ``max_pool2d``.
    Returns out: (N, C, Ho, Wo), and indices: (N, C, Ho, Wo) int64 if ``return_indices``.

    Each window is scanned row by row; a cell replaces the current best only if it is strictly
    larger (or NaN), so the first of several equal maxima wins (see the module docstring).
    Cells outside the input (padding, or past its end with ``ceil_mode``) are skipped, which is
    the same as padding with -inf. Left out for readability: a window with no cell inside the
    input (possible only with dilation) is refused here; ``max_pool2d`` follows torch.
    """
    pool = _prepare(x, kernel_size, stride, padding, dilation, ceil_mode)
    x, (kh, kw), (dh, dw), (Ho, Wo) = pool.x, pool.kernel, pool.dilation, pool.sizes
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    indices = np.empty((N, C, Ho, Wo), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i, top in enumerate(pool.starts(0)):
                for j, left in enumerate(pool.starts(1)):
                    best, where = -np.inf, None
                    for r in range(top, top + dh * (kh - 1) + 1, dh):  # window rows, unpadded
                        for q in range(left, left + dw * (kw - 1) + 1, dw):  # window columns
                            if not (0 <= r < H and 0 <= q < W):
                                continue  # outside the input
                            value = x[n, c, r, q]
                            if where is None or value > best or np.isnan(value):
                                best, where = value, r * W + q
                    if where is None:
                        raise ValueError(f"window ({i}, {j}) has no cell inside the input")
                    out[n, c, i, j], indices[n, c, i, j] = best, where
    out, indices = pool.batched(out), pool.batched(indices)
    return (out, indices) if return_indices else out


def _max_values(pool: _Pool) -> np.ndarray:
    """Vectorised max pooling, values only: out (N, C, Ho, Wo).

    One ``np.maximum`` per window tap (u, v), each tap a strided view of the -inf-padded input;
    ``np.maximum`` propagates NaN, so a window holding a NaN gives NaN, as in torch.
    """
    xp = _windows.pad(pool.x, pool.pads, -np.inf)
    best = np.full((*pool.x.shape[:2], *pool.sizes), -np.inf, dtype=pool.x.dtype)
    for u in range(pool.kernel[0]):
        for v in range(pool.kernel[1]):
            np.maximum(best, xp[_window_cells(pool, u, v)], out=best)
    return best


def _first_taps(pool: _Pool) -> tuple[np.ndarray, np.ndarray]:
    """Per output row and per output column: the first window tap that lies inside the input
    (torch's starting point), as (u (Ho, 1), v (1, Wo)); may be >= the kernel size when a
    dilated window has no cell inside the input."""
    (dh, dw) = pool.dilation
    u = -(-np.maximum(-pool.starts(0), 0) // dh)  # ceil(cells before the input / dilation)
    v = -(-np.maximum(-pool.starts(1), 0) // dw)
    return u[:, None], v[None, :]


def _max_taps(pool: _Pool) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised max pooling with the winner: (out, tap), both (N, C, Ho, Wo); tap = u*kw + v
    of the winning window tap, -1 for a window with no cell inside the input.

    Loops over the kh*kw window taps (u, v) in row-major order, each one a strided view of the
    -inf-padded input, and keeps a running maximum: a tap takes over where it is strictly
    larger than the best so far, or NaN (the tie rule of torch's CPU kernel). The winner
    starts as the first in-bounds tap of each window (torch's start), so a window of -inf
    values reports that cell, not a padded one.
    """
    (kh, kw) = pool.kernel
    xp = _windows.pad(pool.x, pool.pads, -np.inf)
    best = np.full((*pool.x.shape[:2], *pool.sizes), -np.inf, dtype=pool.x.dtype)
    u0, v0 = _first_taps(pool)
    tap = np.empty(best.shape, dtype=np.int32)
    tap[...] = np.where((u0 < kh) & (v0 < kw), u0 * kw + v0, -1)
    has_nan = bool(np.isnan(pool.x).any())  # one pass here instead of one per tap
    for u in range(kh):
        for v in range(kw):
            cells = xp[_window_cells(pool, u, v)]
            take = cells > best
            if has_nan:
                take |= np.isnan(cells)
            np.copyto(tap, u * kw + v, where=take)
            np.maximum(best, cells, out=best)  # the same values (NaN propagates), faster
    return best, tap


def _flat_indices(pool: _Pool, tap: np.ndarray) -> np.ndarray:
    """torch's indices: the flat position ``row * W + column`` of each winning tap in its
    unpadded plane; for a window with no cell inside the input (tap -1), torch's start cell."""
    (kw, (dh, dw), W) = pool.kernel[1], pool.dilation, pool.x.shape[3]
    rows, cols = pool.starts(0)[:, None], pool.starts(1)[None, :]
    u0, v0 = _first_taps(pool)
    idx = (rows + tap // kw * dh) * W + cols + tap % kw * dw
    return np.where(tap < 0, (rows + u0 * dh) * W + cols + v0 * dw, idx).astype(np.int64)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling layer, equal to ``torch.nn.functional.max_pool2d`` (same arguments).

    x: (N, C, H, W) or (C, H, W)
    kernel_size, stride (None: = kernel_size), padding, dilation: int or pair (along H, along
    W); padding <= kernel_size // 2, padded with -inf. Windows may overlap (stride <
    kernel_size); with ``ceil_mode`` a last partial window is kept when it starts inside the
    input or its left padding, otherwise the last partial windows are dropped.
    Returns out: (N, C, Ho, Wo) (or (C, Ho, Wo)), and if ``return_indices`` also indices of
    the same shape, int64: the flat position ``row * W + column`` of each maximum in its
    unpadded (H, W) plane, torch's convention (what ``max_unpool2d`` consumes).
    Ties: the first maximum in row-major window order wins; NaN wins (the last NaN).
    """
    pool = _prepare(x, kernel_size, stride, padding, dilation, ceil_mode)
    if not return_indices:
        return pool.batched(_max_values(pool))
    out, tap = _max_taps(pool)
    return pool.batched(out), pool.batched(_flat_indices(pool, tap))


def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False) -> np.ndarray:
    """Backward pass of ``max_pool2d``: dx = dL/dx for a scalar loss L.

    dout: (N, C, Ho, Wo) = dL/dout   x: (N, C, H, W), the forward input (or both unbatched).
    Returns dx: the shape of x.

    Only the cell that was the maximum of a window influenced its output, with slope 1, so
    each dout value goes entirely to that cell (the first maximum on ties, as in the forward);
    every other cell gets 0. With overlapping windows a cell that wins several windows
    collects the sum of their gradients. Equal to torch's autograd, except for a dilated window
    with no cell inside the input (output -inf): its gradient is dropped, where torch adds it
    past the plane, into the next plane's memory.
    """
    pool = _prepare(x, kernel_size, stride, padding, dilation, ceil_mode)
    dout = _check_dout(dout, pool)
    _, tap = _max_taps(pool)
    N, C, H, W = pool.x.shape
    (top, bottom), (left, right) = pads = pool.pads
    dxp = np.zeros((N, C, H + top + bottom, W + left + right), dtype=common_dtype(dout, pool.x))
    kw = pool.kernel[1]
    zero = dxp.dtype.type(0)
    _windows.add_windows(dxp, lambda u, v: np.where(tap == u * kw + v, dout, zero), pool.kernel,
                         pool.stride, pool.dilation, pool.sizes)
    # a padded cell never wins, so nothing is lost by cropping the padding
    return pool.batched(_windows.crop(dxp, pads, H, W))


def _avg_divisor(pool: _Pool, count_include_pad: bool, divisor_override) -> np.ndarray:
    """(Ho, Wo) divisor of each window, torch's: its size clipped to the padded input (or to
    the input without ``count_include_pad``), or ``divisor_override``; 0 where a window holds no
    input cell (its output is 0)."""
    lengths = []
    for axis, n in enumerate(pool.x.shape[2:]):
        start = pool.starts(axis)
        end_padded = np.minimum(start + pool.kernel[axis], n + pool.padding[axis])
        inside = np.minimum(end_padded, n) - np.maximum(start, 0)
        lengths.append((end_padded - start if count_include_pad else inside, inside > 0))
    (rows, rows_ok), (cols, cols_ok) = lengths
    divisor = rows[:, None] * cols[None, :] if divisor_override is None else np.full(
        pool.sizes, divisor_override)
    return np.where(rows_ok[:, None] & cols_ok[None, :], divisor, 0)


def _avg_arguments(count_include_pad, divisor_override):
    if not isinstance(count_include_pad, (bool, np.bool_)):
        raise TypeError(f"count_include_pad must be a bool; got {count_include_pad!r}")
    if divisor_override is not None:
        check_int(divisor_override, "divisor_override")
        if divisor_override == 0:
            raise ValueError("divisor_override must not be zero")
    return bool(count_include_pad), divisor_override


def _divide(total: np.ndarray, divisor: np.ndarray) -> np.ndarray:
    """total / divisor, 0 where the divisor is 0 (an empty window)."""
    safe = np.where(divisor == 0, 1, divisor).astype(total.dtype)
    return np.where(divisor == 0, 0, total / safe).astype(total.dtype, copy=False)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None) -> np.ndarray:
    """Average pooling layer, equal to ``torch.nn.functional.avg_pool2d`` (same arguments).

    x: (N, C, H, W) or (C, H, W)
    kernel_size, stride (None: = kernel_size), padding: int or pair; padding <= kernel_size // 2.
    ceil_mode: as in ``max_pool2d``.
    Returns out: (N, C, Ho, Wo) (or (C, Ho, Wo)): the sum of each window of the zero-padded
    input divided by, per window: ``divisor_override`` if given; else its kh*kw cells clipped to
    the padded input (``count_include_pad=True``, the default: padded zeros count) or only its
    cells inside the input (``count_include_pad=False``). A window with no input cell gives 0.
    """
    pool = _prepare(x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = _avg_arguments(count_include_pad, divisor_override)
    xp = _windows.pad(pool.x, pool.pads, 0.0)
    total = np.zeros((*pool.x.shape[:2], *pool.sizes), dtype=pool.x.dtype)
    for u in range(pool.kernel[0]):
        for v in range(pool.kernel[1]):
            total += xp[_window_cells(pool, u, v)]
    return pool.batched(_divide(total, _avg_divisor(pool, count_include_pad, divisor_override)))


def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None) -> np.ndarray:
    """Backward pass of ``avg_pool2d``: dx = dL/dx for a scalar loss L.

    dout: (N, C, Ho, Wo) = dL/dout   x: (N, C, H, W), the forward input (only its shape is
    used), or both unbatched. Returns dx: the shape of x.

    Each output is its window's sum divided by the window's divisor, so each cell of a window
    receives dout / divisor; overlapping windows add up; the share that falls on padding is
    dropped.
    """
    pool = _prepare(x, kernel_size, stride, padding, 1, ceil_mode)
    count_include_pad, divisor_override = _avg_arguments(count_include_pad, divisor_override)
    dout = _check_dout(dout, pool)
    N, C, H, W = pool.x.shape
    dtype = common_dtype(dout, pool.x)
    share = _divide(dout.astype(dtype, copy=False),
                    _avg_divisor(pool, count_include_pad, divisor_override))
    (top, bottom), (left, right) = pads = pool.pads
    dxp = np.zeros((N, C, H + top + bottom, W + left + right), dtype=dtype)
    _windows.add_windows(dxp, lambda u, v: share, pool.kernel, pool.stride, pool.dilation,
                         pool.sizes)
    return pool.batched(_windows.crop(dxp, pads, H, W))


def _unpool_size(x_shape, k, s, p, output_size_arg):
    """The (H, W) that ``max_unpool2d`` produces, checked as torch checks it."""
    default = tuple(
        (n - 1) * ss - 2 * pp + kk for n, kk, ss, pp in zip(x_shape[2:], k, s, p, strict=True)
    )
    if output_size_arg is None:
        if min(default) < 1:
            raise ValueError(
                f"padding: the default output size (H_in - 1)*stride - 2*padding + kernel_size "
                f"= {default} for x of shape {tuple(x_shape)} is empty; reduce padding or pass "
                "output_size"
            )
        return default
    given = output_size_arg
    if isinstance(given, np.ndarray):
        given = tuple(given.tolist())
    if not isinstance(given, (tuple, list)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in given
    ):
        raise TypeError(
            f"output_size must be None or a tuple of ints (H, W) or (N, C, H, W); got {given!r}"
        )
    given = tuple(int(v) for v in given)
    if len(given) == 4:
        if given[:2] != tuple(x_shape[:2]):
            raise ValueError(
                f"output_size {given} has (N, C) = {given[:2]} but x of shape {tuple(x_shape)} "
                f"has (N, C) = {tuple(x_shape[:2])}"
            )
        given = given[2:]
    elif len(given) != 2:
        raise ValueError(f"output_size must have 2 (H, W) or 4 (N, C, H, W) entries; got {given}")
    for axis, g, d, ss in zip(("H", "W"), given, default, s, strict=True):
        if not d - ss < g < d + ss:
            raise ValueError(
                f"output_size: {axis} = {g} is not reachable from x of shape {tuple(x_shape)}: "
                f"with stride {ss} it must lie strictly between {d - ss} and {d + ss} "
                f"(default {d}); got output_size={output_size_arg!r}"
            )
    return given


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of ``max_pool2d``, equal to ``torch.nn.functional.max_unpool2d``.

    x: (N, C, Hi, Wi) pooled values, or unbatched (C, Hi, Wi)   indices: ints of x's shape, from
    ``max_pool2d(..., return_indices=True)``: flat positions in each (H, W) output plane.
    kernel_size, stride (None: = kernel_size), padding: int or pair; they only fix the default
    output size ``H = (Hi - 1)*stride - 2*padding + kernel_size`` (and likewise W).
    output_size: None, (H, W) or (N, C, H, W) (N and C must then match x); as in torch each of
    H, W must lie strictly within ``stride`` of the default (the sizes a max_pool2d with these
    arguments could have come from).
    Returns out: (N, C, H, W) (or (C, H, W)), zero everywhere except, in every plane,
    ``out[n, c].flat[i] = x[n, c].flat[k]`` with ``i = indices[n, c].flat[k]``: every maximum
    goes back where it came from. An index outside 0 .. H*W - 1 is a ValueError (torch:
    RuntimeError).

    Differences from torch, both where torch's result is not well defined:
    - repeated indices in a plane (overlapping windows that found the same maximum): the last
      entry in row-major order is written; torch documents its order as unspecified (on CPU it
      varies from call to call). For the output of ``max_pool2d`` the entries are equal anyway.
    - an empty default output size (e.g. Hi = 1 with padding > (kernel_size - 1) / 2) is a
      ValueError; torch returns an empty tensor.
    """
    x, unbatched = _windows.as_images(x, "x")
    shape = x.shape[1:] if unbatched else x.shape
    k = as_pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else as_pair(stride, "stride", 1)
    p = as_pair(padding, "padding", 0)
    try:
        idx = np.asarray(indices)
    except Exception as exc:
        raise TypeError(f"indices must be an integer array (N, C, Hi, Wi); got "
                        f"{type(indices).__name__}") from exc
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"indices must hold integers (e.g. int64); got dtype {idx.dtype}")
    if idx.shape != tuple(shape):
        raise ValueError(
            f"indices must have the shape of x {tuple(shape)}; got {tuple(idx.shape)}"
        )
    idx = idx.reshape(x.shape)
    H, W = _unpool_size(x.shape, k, s, p, output_size)
    N, C = x.shape[:2]
    if idx.size and (idx.min() < 0 or idx.max() >= H * W):
        bad = idx[(idx < 0) | (idx >= H * W)].flat[0]
        raise ValueError(
            f"indices: found {bad}, outside the output plane of {H}x{W} = {H * W} cells "
            f"(valid: 0 .. {H * W - 1}); check kernel_size, stride, padding and output_size"
        )
    out = np.zeros((N * C, H * W), dtype=x.dtype)
    planes = np.arange(N * C)[:, None]
    out[planes, idx.reshape(N * C, -1)] = x.reshape(N * C, -1)
    out = out.reshape(N, C, H, W)
    return out[0] if unbatched else out


def global_avg_pool2d(x) -> np.ndarray:
    """Global average pooling: one number per channel, the mean of its whole (H, W) map.

    x: (N, C, H, W)   Returns out: (N, C), equal to
    ``torch.nn.functional.adaptive_avg_pool2d(x, 1)`` with its two trailing 1s dropped.
    Used by ResNet/GoogLeNet heads instead of flattening: no weights, any input size.
    """
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"x must have H, W >= 1 (N, C, H, W); got shape {tuple(x.shape)}")
    return x.mean(axis=(2, 3))


def _adaptive_size(output_size, x_shape) -> tuple[int, int]:
    """``output_size`` (int, or pair of int/None) as (Ho, Wo); None keeps that input size."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != 2:
            raise ValueError(
                f"output_size must be an int or a pair (Ho, Wo); got {output_size!r} "
                f"({len(output_size)} entries)"
            )
        pair = output_size
    else:
        pair = (output_size, output_size)
    sizes = []
    for axis, given, n in zip(("Ho", "Wo"), pair, x_shape[-2:], strict=True):
        if given is None:
            sizes.append(n)
            continue
        if not is_int(given):
            raise TypeError(
                f"output_size must be an int or a pair of ints or None (Ho, Wo); got "
                f"{output_size!r}"
            )
        if given < 1:
            raise ValueError(f"output_size: {axis} must be >= 1; got {output_size!r}")
        sizes.append(int(given))
    return sizes[0], sizes[1]


def adaptive_windows(n: int, n_out: int) -> list[tuple[int, int]]:
    """The [start, end) of each of the ``n_out`` adaptive windows along an axis of length ``n``.

    Window i covers ``floor(i*n/n_out)`` to ``ceil((i+1)*n/n_out)`` (exclusive), torch's rule:
    the windows cover the axis, neighbours overlap by at most one cell, and when ``n_out``
    divides ``n`` they are the non-overlapping windows of ``avg_pool2d(x, n // n_out)``.

    >>> adaptive_windows(5, 3)
    [(0, 2), (1, 4), (3, 5)]
    """
    return [(i * n // n_out, -(-(i + 1) * n // n_out)) for i in range(n_out)]


def adaptive_avg_pool2d(x, output_size) -> np.ndarray:
    """Adaptive average pooling, equal to ``torch.nn.functional.adaptive_avg_pool2d``.

    x: (N, C, H, W) or unbatched (C, H, W).
    output_size: Ho (then Wo = Ho) or a pair (Ho, Wo); an entry None keeps the input's size.
    Returns (N, C, Ho, Wo) (or (C, Ho, Wo)): output (i, j) is the mean of rows
    ``adaptive_windows(H, Ho)[i]`` and columns ``adaptive_windows(W, Wo)[j]``: windows of
    unequal sizes that cover the whole input, whatever its size. (torch also accepts an
    output size of 0 and returns an empty array; here it is a ValueError.)
    """
    x, unbatched = _windows.as_images(x, "x")
    Ho, Wo = _adaptive_size(output_size, x.shape)
    H, W = x.shape[2:]
    # a rectangle's mean is the mean over its rows of the mean over its columns
    cols = np.stack([x[..., a:b].mean(axis=3) for a, b in adaptive_windows(W, Wo)], axis=-1)
    out = np.stack([cols[:, :, a:b].mean(axis=2) for a, b in adaptive_windows(H, Ho)], axis=2)
    return out[0] if unbatched else out


def _first_max(cells: np.ndarray, axis: int) -> np.ndarray:
    """Index along ``axis`` of the winning cell: the first maximum, or the last NaN if any."""
    first = np.argmax(cells, axis=axis)  # NaN-free: the first of equal maxima
    nan = np.isnan(cells)
    last_nan = cells.shape[axis] - 1 - np.argmax(np.flip(nan, axis=axis), axis=axis)
    return np.where(nan.any(axis=axis), last_nan, first)


def adaptive_max_pool2d(x, output_size, return_indices=False):
    """Adaptive max pooling, equal to ``torch.nn.functional.adaptive_max_pool2d``.

    x: (N, C, H, W) or unbatched (C, H, W).  output_size: as in ``adaptive_avg_pool2d``.
    Returns out (N, C, Ho, Wo) (or (C, Ho, Wo)): the maximum of each adaptive window
    (``adaptive_windows``), and if ``return_indices`` also the flat positions ``row * W + col``
    of the maxima, int64, same shape. Ties: the first maximum in row-major window order; a NaN
    wins (the last NaN); as ``max_pool2d`` and torch's CPU kernel.
    """
    x, unbatched = _windows.as_images(x, "x")
    Ho, Wo = _adaptive_size(output_size, x.shape)
    H, W = x.shape[2:]
    # columns first: per row, the winning column of each column window ...
    col_val, col_arg = [], []
    for a, b in adaptive_windows(W, Wo):
        win = _first_max(x[..., a:b], axis=3)[..., None]
        col_val.append(np.take_along_axis(x[..., a:b], win, axis=3)[..., 0])
        col_arg.append(win[..., 0] + a)
    col_val, col_arg = np.stack(col_val, axis=-1), np.stack(col_arg, axis=-1)  # (N, C, H, Wo)
    # ... then rows: the first row holding the maximum keeps its first column (row-major order)
    out, idx = [], []
    for a, b in adaptive_windows(H, Ho):
        row = _first_max(col_val[:, :, a:b], axis=2)[:, :, None]
        out.append(np.take_along_axis(col_val[:, :, a:b], row, axis=2)[:, :, 0])
        idx.append((row[:, :, 0] + a) * W + np.take_along_axis(col_arg[:, :, a:b], row, 2)[:, :, 0])
    out, idx = np.stack(out, axis=2), np.stack(idx, axis=2).astype(np.int64)
    if unbatched:
        out, idx = out[0], idx[0]
    return (out, idx) if return_indices else out
