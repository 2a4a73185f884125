"""Pooling by hand: max and average pooling, their backward passes, unpooling, LeNet's subsampling.

A pooling layer slides a window over every channel separately (no weights, no mixing of
channels) and keeps one number per window: the largest (max pooling) or the mean (average
pooling). Everything here matches ``torch.nn.functional`` (``max_pool2d``, ``avg_pool2d``,
``max_unpool2d``, ``adaptive_avg_pool2d``, ``adaptive_max_pool2d``) with its default
``ceil_mode=False``.

Shapes follow PyTorch and CS231n:

- x: (N, C, H, W) a batch of N images with C channels, H rows and W columns
- out: (N, C, Ho, Wo) with Ho = output_size(H, kh, sh, ph), Wo = output_size(W, kw, sw, pw),
  the convolution formula (``cnnkit.conv.output_size``) with dilation 1
- indices: (N, C, Ho, Wo) int64, for each output the position of its maximum in its own
  unpadded (H, W) plane, flattened row-major: ``row * W + column``

``kernel_size``, ``stride`` and ``padding`` accept an int or a pair ``(along H, along W)``;
``stride=None`` means ``stride = kernel_size`` (non-overlapping windows). Like torch,
``padding`` must be at most ``kernel_size // 2`` along each axis. Max pooling pads with -inf
(a padded cell never wins), average pooling with zeros that *count* in the mean (torch's
default ``count_include_pad=True``: every window divides by kh*kw).

Tie rule (max pooling): among equal maxima the *first* one in row-major window order wins
(top row first, left to right), for ``indices`` and for the gradient routed by
``max_pool2d_backward`` (the whole gradient goes to that one cell, none to the other ties).
A NaN in a window makes the output NaN and its index is the *last* NaN of the window; a window
whose cells are all -inf returns -inf and its first in-bounds cell. This is exactly the rule of
torch's CPU kernel (``if (val > maxval || isnan(val))`` in window order); the tests check the
indices and the gradients against torch on integer-valued inputs full of ties.

Everything except ``Subsampling`` is numpy in, numpy out; float dtypes are kept, integer and
boolean inputs become float64. ``Subsampling`` is a ``torch.nn.Module`` (LeNet-5's S2/S4).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from cnnkit._validate import as_float_array, as_pair, common_dtype, is_int
from cnnkit.conv import _window_slices, output_size

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
    "Subsampling",
]

_NO_DILATION = (1, 1)


def _prepare(x, kernel_size, stride, padding):
    """Validate the pooling arguments; return x, the pairs k, s, p and the output size (Ho, Wo)."""
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    if min(x.shape) < 1:
        raise ValueError(f"x must be a non-empty (N, C, H, W) array; got shape {tuple(x.shape)}")
    k = as_pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else as_pair(stride, "stride", 1)
    p = as_pair(padding, "padding", 0)
    for axis, kk, pp in zip(("height", "width"), k, p, strict=True):
        if pp > kk // 2:
            raise ValueError(
                f"padding must be at most half the window (padding <= kernel_size // 2, as in "
                f"torch); got padding={padding!r} with kernel_size={kernel_size!r} "
                f"({axis}: {pp} > {kk} // 2 = {kk // 2})"
            )
    sizes = []
    for axis, n, kk, ss, pp in zip(("height", "width"), x.shape[2:], k, s, p, strict=True):
        try:
            sizes.append(output_size(n, kk, ss, pp))
        except ValueError as err:
            raise ValueError(
                f"kernel_size: window {axis} {kk} does not fit x of shape {tuple(x.shape)} "
                f"with padding={padding!r} ({err})"
            ) from None
    return x, k, s, p, tuple(sizes)


def _pad(x: np.ndarray, p: tuple[int, int], value: float) -> np.ndarray:
    """Pad the two spatial axes of x with ``value``: (N, C, H, W) -> (N, C, H + 2ph, W + 2pw)."""
    if p == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=value)


def _offset(u: int, v: int, s, sizes) -> tuple[slice, slice, slice, slice]:
    """Index of the padded cells that window offset (u, v) meets, one per output pixel.

    ``xp[_offset(u, v, s, (Ho, Wo))]`` is (N, C, Ho, Wo): cell (u, v) of every window.
    """
    return (slice(None), slice(None), *_window_slices(u, v, s, _NO_DILATION, *sizes))


def _check_dout(dout, x: np.ndarray, sizes: tuple[int, int]) -> np.ndarray:
    dout = as_float_array(dout, "dout", 4, "(N, C, Ho, Wo)")
    expected = (*x.shape[:2], *sizes)
    if dout.shape != expected:
        raise ValueError(
            f"dout must have the shape of the forward output (N, C, Ho, Wo) = {expected} "
            f"for x of shape {tuple(x.shape)}; got {tuple(dout.shape)}"
        )
    return dout


def max_pool2d_loops(x, kernel_size, stride=None, padding=0, return_indices=False):
    """Max pooling written as plain loops to be read (``max_pool2d`` is the fast version).

    x: (N, C, H, W)
    Returns out: (N, C, Ho, Wo), and indices: (N, C, Ho, Wo) int64 if ``return_indices``.

    Each window is scanned row by row; a cell replaces the current best only if it is strictly
    larger (or NaN), so the first of several equal maxima wins (see the module docstring).
    Padded cells are skipped, which is the same as padding with -inf.
    """
    x, (kh, kw), (sh, sw), (ph, pw), (Ho, Wo) = _prepare(x, kernel_size, stride, padding)
    N, C, H, W = x.shape
    out = np.empty((N, C, Ho, Wo), dtype=x.dtype)
    indices = np.empty((N, C, Ho, Wo), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    best, where = -np.inf, None
                    for r in range(i * sh - ph, i * sh - ph + kh):  # window rows, unpadded
                        for q in range(j * sw - pw, j * sw - pw + kw):  # window columns
                            if not (0 <= r < H and 0 <= q < W):
                                continue  # a padded cell
                            value = x[n, c, r, q]
                            if where is None or value > best or np.isnan(value):
                                best, where = value, r * W + q
                    out[n, c, i, j], indices[n, c, i, j] = best, where
    return (out, indices) if return_indices else out


def _max_pool_offsets(x, k, s, p, sizes):
    """Vectorised max pooling; also returns which window offset won, u*kw + v per output.

    Loops over the kh*kw window offsets (u, v) in row-major order, each one a strided view of
    the padded input (as ``conv._im2col``), and keeps a running maximum: an offset takes over
    where it is strictly larger than the best so far, or NaN (the tie rule of torch's CPU kernel).
    The running best starts at -inf on the first in-bounds cell of each window, so a window of
    -inf values reports that cell, not a padded one.
    """
    (kh, kw), (Ho, Wo) = k, sizes
    xp = _pad(x, p, -np.inf)
    first_u = np.maximum(p[0] - s[0] * np.arange(Ho), 0)  # first in-bounds row of each window
    first_v = np.maximum(p[1] - s[1] * np.arange(Wo), 0)
    best = np.full((*x.shape[:2], Ho, Wo), -np.inf, dtype=x.dtype)
    arg = np.broadcast_to(first_u[:, None] * kw + first_v[None, :], best.shape).copy()
    for u in range(kh):
        for v in range(kw):
            window_cells = xp[_offset(u, v, s, sizes)]
            take = (window_cells > best) | np.isnan(window_cells)
            np.copyto(best, window_cells, where=take)
            np.copyto(arg, u * kw + v, where=take)
    return best, arg


def max_pool2d(x, kernel_size, stride=None, padding=0, return_indices=False):
    """Max pooling layer, equal to ``torch.nn.functional.max_pool2d`` (ceil_mode=False).

    x: (N, C, H, W)
    kernel_size, stride (None: = kernel_size), padding: int or pair (along H, along W);
    padding <= kernel_size // 2, padded with -inf. Windows may overlap (stride < kernel_size)
    and H, W need not be multiples of the stride (the last partial windows are dropped).
    Returns out: (N, C, Ho, Wo), and if ``return_indices`` also indices: (N, C, Ho, Wo) int64,
    the flat position ``row * W + column`` of each maximum in its unpadded (H, W) plane,
    torch's convention (what ``max_unpool2d`` consumes).
    Ties: the first maximum in row-major window order wins; NaN wins (the last NaN).
    """
    x, k, s, p, sizes = _prepare(x, kernel_size, stride, padding)
    out, arg = _max_pool_offsets(x, k, s, p, sizes)
    if not return_indices:
        return out
    kw, W = k[1], x.shape[3]
    Ho, Wo = sizes
    rows = (s[0] * np.arange(Ho) - p[0])[:, None] + arg // kw  # unpadded row of each maximum
    cols = (s[1] * np.arange(Wo) - p[1])[None, :] + arg % kw
    return out, (rows * W + cols).astype(np.int64)


def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0) -> np.ndarray:
    """Backward pass of ``max_pool2d``: dx = dL/dx for a scalar loss L.

    dout: (N, C, Ho, Wo) = dL/dout   x: (N, C, H, W), the forward input
    Returns dx: (N, C, H, W).

    Only the cell that was the maximum of a window influenced its output, with slope 1, so
    each dout value goes entirely to that cell (the first maximum on ties, as in the forward);
    every other cell gets 0. With overlapping windows a cell that wins several windows
    collects the sum of their gradients. Equal to torch's autograd.
    """
    x, k, s, p, sizes = _prepare(x, kernel_size, stride, padding)
    dout = _check_dout(dout, x, sizes)
    N, C, H, W = x.shape
    _, arg = _max_pool_offsets(x, k, s, p, sizes)
    dtype = common_dtype(dout, x)
    dxp = np.zeros((N, C, H + 2 * p[0], W + 2 * p[1]), dtype=dtype)
    for u in range(k[0]):  # scatter-add each window offset's share back
        for v in range(k[1]):
            dxp[_offset(u, v, s, sizes)] += np.where(arg == u * k[1] + v, dout, 0)
    # a padded cell never wins, so nothing is lost by cropping the padding
    return np.ascontiguousarray(dxp[:, :, p[0] : p[0] + H, p[1] : p[1] + W])


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> np.ndarray:
    """Average pooling layer, equal to ``torch.nn.functional.avg_pool2d`` (its defaults).

    x: (N, C, H, W)
    kernel_size, stride (None: = kernel_size), padding: int or pair; padding <= kernel_size // 2.
    Returns out: (N, C, Ho, Wo), the mean of each kh x kw window of the zero-padded input; the
    padded zeros count (``count_include_pad=True``), so every window divides by kh*kw.
    """
    x, (kh, kw), s, p, (Ho, Wo) = _prepare(x, kernel_size, stride, padding)
    xp = _pad(x, p, 0.0)
    total = np.zeros((*x.shape[:2], Ho, Wo), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            total += xp[_offset(u, v, s, (Ho, Wo))]
    return total / np.asarray(kh * kw, dtype=x.dtype)


def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0) -> np.ndarray:
    """Backward pass of ``avg_pool2d``: dx = dL/dx for a scalar loss L.

    dout: (N, C, Ho, Wo) = dL/dout   x: (N, C, H, W), the forward input (only its shape is used)
    Returns dx: (N, C, H, W).

    Each output is the mean of kh*kw cells, so each cell of a window receives dout / (kh*kw);
    overlapping windows add up; the share that falls on padding is dropped.
    """
    x, (kh, kw), s, p, sizes = _prepare(x, kernel_size, stride, padding)
    dout = _check_dout(dout, x, sizes)
    N, C, H, W = x.shape
    dtype = common_dtype(dout, x)
    share = dout.astype(dtype, copy=False) / np.asarray(kh * kw, dtype=dtype)
    dxp = np.zeros((N, C, H + 2 * p[0], W + 2 * p[1]), dtype=dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[_offset(u, v, s, sizes)] += share
    return np.ascontiguousarray(dxp[:, :, p[0] : p[0] + H, p[1] : p[1] + W])


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

    x: (N, C, Hi, Wi) pooled values   indices: (N, C, Hi, Wi) ints, from
    ``max_pool2d(..., return_indices=True)``: flat positions in each (H, W) output plane.
    kernel_size, stride (None: = kernel_size), padding: int or pair; they only fix the default
    output size ``H = (Hi - 1)*stride - 2*padding + kernel_size`` (and likewise W).
    output_size: None, (H, W) or (N, C, H, W) (N and C must then match x); as in torch each of
    H, W must lie strictly within ``stride`` of the default (the sizes a max_pool2d with these
    arguments could have come from).
    Returns out: (N, C, H, W), zero everywhere except, in every plane, ``out[n, c].flat[i] =
    x[n, c].flat[k]`` with ``i = indices[n, c].flat[k]``: every maximum goes back where it
    came from. An index outside 0 .. H*W - 1 is a ValueError (torch: RuntimeError).

    Differences from torch, both where torch's result is not well defined:
    - repeated indices in a plane (overlapping windows that found the same maximum): the last
      entry in row-major order is written; torch documents its order as unspecified (on CPU it
      varies from call to call). For the output of ``max_pool2d`` the entries are equal anyway.
    - an empty default output size (e.g. Hi = 1 with padding > (kernel_size - 1) / 2) is a
      ValueError; torch returns an empty tensor.
    """
    x = as_float_array(x, "x", 4, "(N, C, Hi, Wi)")
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
    if idx.shape != x.shape:
        raise ValueError(
            f"indices must have the shape of x (N, C, Hi, Wi) = {tuple(x.shape)}; "
            f"got {tuple(idx.shape)}"
        )
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
    return out.reshape(N, C, H, W)


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


def _as_images(x, name: str = "x") -> tuple[np.ndarray, bool]:
    """x as a float (N, C, H, W) array, and whether it came unbatched (C, H, W)."""
    ndim = getattr(x, "ndim", None)
    if ndim is None:
        try:
            ndim = np.ndim(x)
        except Exception:  # as_float_array names what is wrong
            ndim = None
    if ndim == 3:
        arr = as_float_array(x, name, 3, "(C, H, W)")[None]
    else:
        arr = as_float_array(x, name, 4, "(N, C, H, W) or (C, H, W)")
    if min(arr.shape[1:]) < 1:
        raise ValueError(
            f"{name} must have non-empty C, H, W: (N, C, H, W) or (C, H, W); got shape "
            f"{tuple(arr.shape[1:]) if ndim == 3 else tuple(arr.shape)}"
        )
    return arr, ndim == 3


def adaptive_avg_pool2d(x, output_size) -> np.ndarray:
    """Adaptive average pooling, equal to ``torch.nn.functional.adaptive_avg_pool2d``.

    x: (N, C, H, W) or unbatched (C, H, W).
    output_size: Ho (then Wo = Ho) or a pair (Ho, Wo); an entry None keeps the input's size.
    Returns (N, C, Ho, Wo) (or (C, Ho, Wo)): output (i, j) is the mean of rows
    ``adaptive_windows(H, Ho)[i]`` and columns ``adaptive_windows(W, Wo)[j]``: windows of
    unequal sizes that cover the whole input, whatever its size. (torch also accepts an
    output size of 0 and returns an empty array; here it is a ValueError.)
    """
    x, unbatched = _as_images(x)
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
    x, unbatched = _as_images(x)
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


_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "identity": lambda t: t,
}


class Subsampling(nn.Module):
    """LeNet-5's trainable subsampling layer (S2 and S4 in LeCun et al., 1998).

    Each map c sums its non-overlapping 2x2 windows, scales the sum by a trainable weight,
    adds a trainable bias and applies the activation:

        out[n, c, i, j] = activation(weight[c] * (x[n, c, 2i, 2j] + x[n, c, 2i, 2j+1]
                                                  + x[n, c, 2i+1, 2j] + x[n, c, 2i+1, 2j+1])
                                     + bias[c])

    Exactly 2 trainable parameters per map: ``weight`` (C,) and ``bias`` (C,); 12 for S2's
    6 maps, 32 for S4's 16. (Modern average pooling is the special case weight = 1/4,
    bias = 0, identity activation, with nothing to learn.)

    channels: C, the number of maps.
    activation: "sigmoid" (default, the sigmoidal squashing of the paper's description),
        "tanh", "identity" or None (no activation), or any callable tensor -> tensor
        (e.g. LeNet's scaled tanh ``lambda a: 1.7159 * torch.tanh(2 * a / 3)``, or an
        ``nn.Module``, which is then registered as a submodule).
    Input (N, C, H, W) -> output (N, C, H // 2, W // 2); with an odd H or W the last row or
    column is dropped, as by ``avg_pool2d(x, 2)``. H and W must be >= 2.

    Initialisation (``reset_parameters``): torch's default for a layer with fan-in 4 (each
    output sees 4 inputs through one weight), as ``nn.Linear(4, 1)`` would do it: weight and
    bias uniform in [-1/sqrt(4), 1/sqrt(4)] = [-0.5, 0.5]. (The paper draws weights in
    [-2.4/F, 2.4/F] with F the fan-in, i.e. [-0.6, 0.6]: nearly the same range.)
    """

    def __init__(self, channels: int, activation="sigmoid"):
        super().__init__()
        if not isinstance(channels, int) or isinstance(channels, bool):
            raise TypeError(f"channels must be an int; got {channels!r}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1; got {channels}")
        self.channels = channels
        if activation is None or (isinstance(activation, str) and activation in _ACTIVATIONS):
            self.activation_name = "identity" if activation is None else activation
            self.activation = _ACTIVATIONS[self.activation_name]
        elif isinstance(activation, str):
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, None or a callable; "
                f"got {activation!r}"
            )
        elif callable(activation):
            self.activation_name = getattr(activation, "__name__", type(activation).__name__)
            self.activation = activation
        else:
            raise TypeError(
                f"activation must be a name ({sorted(_ACTIVATIONS)}), None or a callable; "
                f"got {activation!r}"
            )
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight and bias uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)] with fan_in = 4."""
        bound = 1 / math.sqrt(4)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C, H // 2, W // 2)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor (N, C, H, W); got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[2] < 2 or x.shape[3] < 2:
            raise ValueError(
                f"x must be (N, {self.channels}, H, W) with H, W >= 2 for "
                f"Subsampling({self.channels}); got shape {tuple(x.shape)}"
            )
        N, C, H, W = x.shape
        Ho, Wo = H // 2, W // 2
        windows = x[:, :, : 2 * Ho, : 2 * Wo].reshape(N, C, Ho, 2, Wo, 2)
        sums = windows.sum(dim=(3, 5))  # (N, C, Ho, Wo): each 2x2 window summed
        return self.activation(sums * self.weight.view(1, C, 1, 1) + self.bias.view(1, C, 1, 1))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, activation={self.activation_name}"
