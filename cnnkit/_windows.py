"""Window arithmetic shared by ``cnnkit.conv`` and ``cnnkit.pool`` (private).

A layer that slides a window of kh x kw taps (dilation d, stride s) over a padded input meets,
at kernel tap (u, v), the padded cells ``window_slices(u, v, ...)``: one per output pixel.
Everything here is index arithmetic and copies; no layer semantics.

Shapes: x (N, C, H, W); padded xp (N, C, Hp, Wp); out (N, C or F, Ho, Wo).
Padding is a pair of (before, after) pairs: ``((top, bottom), (left, right))``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnnkit._validate import as_float_array

Pads = tuple[tuple[int, int], tuple[int, int]]


def span(k: int, d: int) -> int:
    """Cells covered by a kernel of k taps with dilation d: ``d*(k - 1) + 1``."""
    return d * (k - 1) + 1


def out_length(n: int, k: int, s: int, before: int, after: int, d: int = 1,
               ceil_mode: bool = False) -> int:
    """Windows along one axis of length n padded by (before, after); may be <= 0 (no fit).

    ``floor((n + before + after - span) / s) + 1``, or with ``ceil_mode`` the ceiling, minus one
    if the last window would then start past the input and its left padding (torch's pooling
    rule: every window starts inside the input or the left padding).
    """
    room = n + before + after - span(k, d)
    if room < 0:
        return 0
    if not ceil_mode:
        return room // s + 1
    count = -(-room // s) + 1
    if (count - 1) * s >= n + before:
        count -= 1
    return count


def as_images(x, name: str, channels: str = "C") -> tuple[np.ndarray, bool]:
    """x as a float (N, C, H, W) array, and whether it came unbatched (C, H, W).

    Raises naming ``name`` for anything but a 3-D or 4-D numeric array with non-empty
    C, H, W. ``channels`` names the channel axis in the messages (e.g. "F" for dout).
    """
    ndim = getattr(x, "ndim", None)
    if ndim is None:
        try:
            ndim = np.ndim(x)
        except Exception:  # as_float_array names what is wrong
            ndim = None
    layout = f"(N, {channels}, H, W) or ({channels}, H, W)"
    if ndim == 3:
        arr = as_float_array(x, name, 3, f"({channels}, H, W)")[None]
    else:
        arr = as_float_array(x, name, 4, layout)
    if min(arr.shape[1:]) < 1:
        shape = tuple(arr.shape[1:]) if ndim == 3 else tuple(arr.shape)
        raise ValueError(
            f"{name} must have non-empty {channels}, H, W: {layout}; got shape {shape}"
        )
    return arr, ndim == 3


def pad(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the two trailing axes of x with ``value``: (..., H, W) -> (..., H + t + b, W + l + r)."""
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0),) * (x.ndim - 2) + tuple(pads), constant_values=value)


def crop(xp: np.ndarray, pads: Pads, H: int, W: int) -> np.ndarray:
    """Inverse of ``pad``: the (H, W) input region of a padded array, made contiguous."""
    (top, _), (left, _) = pads
    return np.ascontiguousarray(xp[..., top : top + H, left : left + W])


def window_slices(u: int, v: int, s, d, Ho: int, Wo: int) -> tuple[slice, slice]:
    """Rows and columns of the padded input met by kernel tap (u, v), one per output pixel."""
    return (slice(u * d[0], u * d[0] + s[0] * (Ho - 1) + 1, s[0]),
            slice(v * d[1], v * d[1] + s[1] * (Wo - 1) + 1, s[1]))


def strided_windows(xp: np.ndarray, k, s, d, sizes) -> np.ndarray:
    """Read-only view (N, C, kh, kw, Ho, Wo) of every window: element (n, c, u, v, i, j) is
    ``xp[n, c, i*sh + u*dh, j*sw + v*dw]``, the cell tap (u, v) meets at output (i, j)."""
    N, C = xp.shape[:2]
    sN, sC, sH, sW = xp.strides
    return as_strided(xp, shape=(N, C, *k, *sizes),
                      strides=(sN, sC, sH * d[0], sW * d[1], sH * s[0], sW * s[1]),
                      writeable=False)


def add_windows(dxp: np.ndarray, per_tap, k, s, d, sizes) -> np.ndarray:
    """Scatter-add ("col2im"): ``dxp[..., window_slices(u, v)] += per_tap(u, v)`` for every tap.

    dxp: (N, C, Hp, Wp), modified in place and returned. per_tap(u, v): (N, C, Ho, Wo).
    Windows that overlap add up.
    """
    for u in range(k[0]):
        for v in range(k[1]):
            rows, cols = window_slices(u, v, s, d, *sizes)
            dxp[:, :, rows, cols] += per_tap(u, v)
    return dxp
