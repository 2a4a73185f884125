"""Convolution by hand: output size, a loop version, a vectorised version, the backward pass.

Deep-learning "convolution" layers compute a *cross-correlation*: the kernel slides over the
input without being flipped. ``correlate2d`` and ``convolve2d`` show the difference on plain
2-D arrays; ``conv2d_loops`` and ``conv2d`` implement the layer, equal to
``torch.nn.functional.conv2d`` on its whole argument space (stride, padding including "same"
and "valid", dilation, groups, unbatched input, rectangular everything).

Shapes follow PyTorch and CS231n:

- x: (N, C, H, W) a batch of N images with C channels, H rows and W columns, or one image
  (C, H, W) (the output then has no batch axis either)
- w: (F, C // groups, kh, kw) F filters; filter f sees the C // groups input channels of its
  group ``f // (F // groups)``
- b: (F,) one bias per filter
- out: (N, F, Ho, Wo) with Ho = output_size(H, kh, ...), Wo = output_size(W, kw, ...)

``stride``, ``padding`` and ``dilation`` accept an int or a pair ``(along H, along W)``;
``padding`` also "valid" (no padding) or "same" (stride 1 only: the output keeps the input's
size; the total padding ``dilation*(k - 1)`` is split with the odd cell at the bottom/right,
torch's rule). Padding is with zeros. Everything here is numpy in, numpy out; float dtypes are
kept, integer and boolean inputs become float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnkit import _windows
from cnnkit._validate import as_float_array, as_pair, check_int, common_dtype

__all__ = [
    "output_size",
    "conv2d_loops",
    "conv2d",
    "conv2d_backward",
    "correlate2d",
    "convolve2d",
]


def output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Number of positions a kernel takes along one axis.

    ``floor((n + 2*padding - dilation*(k - 1) - 1) / stride) + 1``

    Why each term: the input is ``n + 2*padding`` long once padded; a dilated kernel spans
    ``dilation*(k - 1) + 1`` cells; it fits at ``n + 2p - span + 1`` start positions, and a
    stride of ``s`` keeps every s-th of them (the first one always).

    n: input length (pixels), >= 1.   k: kernel length, >= 1.
    stride >= 1, padding >= 0, dilation >= 1 (all ints).
    Returns the output length (>= 1). Raises ValueError, naming the argument, when an argument
    is out of range or the (dilated) kernel is longer than the padded input.

    >>> output_size(32, 5)            # LeNet's C1: 32x32 -> 28x28
    28
    >>> output_size(224, 7, stride=2, padding=3)   # ResNet stem
    112
    """
    n = check_int(n, "n", 1)
    k = check_int(k, "k", 1)
    stride = check_int(stride, "stride", 1)
    padding = check_int(padding, "padding", 0)
    dilation = check_int(dilation, "dilation", 1)
    span = _windows.span(k, dilation)
    if span > n + 2 * padding:
        raise ValueError(
            f"k: the kernel spans {span} cells (k={k}, dilation={dilation}) but the padded input "
            f"is only n + 2*padding = {n} + 2*{padding} = {n + 2 * padding} long; "
            "use a smaller kernel or more padding"
        )
    return _windows.out_length(n, k, stride, padding, padding, dilation)


@dataclass(frozen=True)
class _Layer:
    """A validated convolution: arrays (x always batched) and its geometry."""

    x: np.ndarray  # (N, C, H, W)
    w: np.ndarray  # (F, C // groups, kh, kw)
    b: np.ndarray | None  # (F,)
    stride: tuple[int, int]
    pads: _windows.Pads  # ((top, bottom), (left, right))
    dilation: tuple[int, int]
    groups: int
    sizes: tuple[int, int]  # (Ho, Wo)
    unbatched: bool  # x came as (C, H, W)

    @property
    def kernel(self) -> tuple[int, int]:
        return self.w.shape[2], self.w.shape[3]

    def padded(self, dtype) -> np.ndarray:
        """x zero-padded, (N, C, Hp, Wp), in ``dtype``."""
        return _windows.pad(self.x, self.pads).astype(dtype, copy=False)


def _pads(padding, w_shape, s, d) -> _windows.Pads:
    """((top, bottom), (left, right)) for an int, a pair, "valid" or "same"."""
    if not isinstance(padding, str):
        p = as_pair(padding, "padding", 0)
        return (p[0], p[0]), (p[1], p[1])
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding != "same":
        raise ValueError(f'padding must be an int, a pair, "valid" or "same"; got {padding!r}')
    if s != (1, 1):
        raise ValueError(f'padding="same" needs stride 1 (as in torch: a strided output cannot '
                         f"keep the input's size); got stride={s}")
    totals = (d[0] * (w_shape[2] - 1), d[1] * (w_shape[3] - 1))
    return tuple((t // 2, t - t // 2) for t in totals)


def _check_channels(x_shape, w_shape, groups: int) -> None:
    F, Cg = w_shape[:2]
    if F % groups:
        raise ValueError(f"w has F={F} filters (shape {w_shape}), not divisible by "
                         f"groups={groups}: each group needs F // groups filters")
    if x_shape[1] != Cg * groups:
        raise ValueError(
            f"x has {x_shape[1]} channels (shape {x_shape}) but w expects "
            f"C={Cg * groups} (shape {w_shape}, groups={groups}: w is (F, C // groups, kh, kw)): "
            f"x must be (N, {Cg * groups}, H, W)"
        )


def _prepare(x, w, b, stride, padding, dilation, groups=1) -> _Layer:
    """Validate the layer arguments, torch's rules; raise naming the argument at fault."""
    x, unbatched = _windows.as_images(x, "x")
    w = as_float_array(w, "w", 4, "(F, C // groups, kh, kw)")
    groups = check_int(groups, "groups", 1)
    if min(w.shape) < 1:
        raise ValueError(f"empty input: x {tuple(x.shape)}, w {tuple(w.shape)}")
    _check_channels(tuple(x.shape), tuple(w.shape), groups)
    if b is not None:
        b = as_float_array(b, "b", 1, "(F,)")
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},), one bias per filter; "
                             f"got {tuple(b.shape)}")
    s = as_pair(stride, "stride", 1)
    d = as_pair(dilation, "dilation", 1)
    pads = _pads(padding, w.shape, s, d)
    sizes = []
    for axis, n, k, ss, (lo, hi), dd in zip(("height", "width"), x.shape[2:], w.shape[2:], s,
                                            pads, d, strict=True):
        if _windows.span(k, dd) > n + lo + hi:
            raise ValueError(
                f"w: kernel {axis} {k} does not fit x of shape {tuple(x.shape)} with "
                f"padding={padding!r}, dilation={dilation!r} (the kernel spans "
                f"{_windows.span(k, dd)} cells, the padded input is {n + lo + hi} long)"
            )
        sizes.append(_windows.out_length(n, k, ss, lo, hi, dd))
    return _Layer(x, w, b, s, pads, d, groups, tuple(sizes), unbatched)


def conv2d_loops(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """2-D convolution layer (cross-correlation), written as plain loops to be read.

    x: (N, C, H, W) or (C, H, W)   w: (F, C // groups, kh, kw)   b: (F,) or None
    Returns out: (N, F, Ho, Wo) (or (F, Ho, Wo)), where out[n, f, i, j] is the sum over the
    window of x (padded), in the channels of f's group, under filter f, plus b[f].
    Same arguments and results as ``conv2d``.

    Slow on purpose: one numpy dot product per output pixel. ``conv2d`` is the fast version.
    """
    layer = _prepare(x, w, b, stride, padding, dilation, groups)
    (sh, sw), (dh, dw), (Ho, Wo) = layer.stride, layer.dilation, layer.sizes
    w, b = layer.w, layer.b
    N = layer.x.shape[0]
    F, Cg, kh, kw = w.shape
    xp = _windows.pad(layer.x, layer.pads)
    out = np.zeros((N, F, Ho, Wo), dtype=common_dtype(layer.x, w, b))
    for n in range(N):  # every image
        for f in range(F):  # every filter
            group = f // (F // layer.groups)  # its input channels: Cg of them
            for i in range(Ho):  # every output row
                for j in range(Wo):  # every output column
                    top, left = i * sh, j * sw
                    # the kh x kw input cells under the (dilated) kernel, the group's channels
                    window = xp[n, group * Cg : (group + 1) * Cg,
                                top : top + dh * (kh - 1) + 1 : dh,
                                left : left + dw * (kw - 1) + 1 : dw]
                    out[n, f, i, j] = np.sum(window * w[f])
                    if b is not None:
                        out[n, f, i, j] += b[f]
    return out[0] if layer.unbatched else out


def _im2col(xp: np.ndarray, k, s, d, sizes, groups: int) -> np.ndarray:
    """Unfold every kernel window of the padded input into a column ("im2col").

    xp: (N, C, Hp, Wp) padded input.
    Returns cols: (N, groups, C // groups * kh * kw, Ho * Wo); column p of image n, group g,
    holds the window of output pixel p over the group's channels, its rows in (c, u, v) order,
    the order of ``w.reshape(F, -1)``. One copy of a strided view (``_windows.strided_windows``);
    each pixel is copied up to kh*kw times.
    """
    N = xp.shape[0]
    windows = _windows.strided_windows(xp, k, s, d, sizes)
    return np.ascontiguousarray(windows).reshape(N, groups, -1, sizes[0] * sizes[1])


# conv2d unfolds this many bytes of windows at a time so they are still in cache when multiplied
_CHUNK_BYTES = 1 << 20


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """2-D convolution layer (cross-correlation), vectorised with im2col and a matrix product.

    x: (N, C, H, W) or (C, H, W)   w: (F, C // groups, kh, kw)   b: (F,) or None
    Returns out: (N, F, Ho, Wo) (or (F, Ho, Wo)), equal to ``conv2d_loops`` and to
    ``torch.nn.functional.conv2d`` with the same arguments.

    How: the windows of image n become the columns of a matrix ``cols[n]`` (C*kh*kw, Ho*Wo);
    the filters are the rows of ``w_mat`` (F, C*kh*kw); the layer is ``w_mat @ cols[n]``
    (F, Ho*Wo) for every n at once: one (batched) matrix product does all the arithmetic
    (with groups, one product per group, each over its own channels).
    Images are processed in groups of about 1 MB of windows, so each group's ``cols`` is still in
    the CPU cache when it is multiplied (same result, about 1.3x faster on large batches).
    """
    layer = _prepare(x, w, b, stride, padding, dilation, groups)
    out = _forward(layer)
    return out[0] if layer.unbatched else out


def _forward(layer: _Layer) -> np.ndarray:
    """The batched output (N, F, Ho, Wo) of a validated layer."""
    N, G = layer.x.shape[0], layer.groups
    F = layer.w.shape[0]
    Ho, Wo = layer.sizes
    dtype = common_dtype(layer.x, layer.w, layer.b)
    xp = layer.padded(dtype)
    w_mat = layer.w.reshape(G, F // G, -1).astype(dtype, copy=False)  # (G, F/G, C/G*kh*kw)
    out = np.empty((N, G, F // G, Ho * Wo), dtype=dtype)
    step = max(1, _CHUNK_BYTES // (w_mat.shape[2] * G * Ho * Wo * xp.itemsize))  # images/chunk
    for n in range(0, N, step):
        cols = _im2col(xp[n : n + step], layer.kernel, layer.stride, layer.dilation, layer.sizes, G)
        np.matmul(w_mat, cols, out=out[n : n + step])
    out = out.reshape(N, F, Ho, Wo)
    if layer.b is not None:
        out += layer.b.astype(dtype, copy=False)[:, None, None]
    return out


def conv2d_backward(dout, x, w, stride=1, padding=0, dilation=1, groups=1):
    """Backward pass of ``conv2d``: gradients of a scalar loss L.

    dout: (N, F, Ho, Wo) = dL/dout   x: (N, C, H, W)   w: (F, C // groups, kh, kw)
    (or dout (F, Ho, Wo) and x (C, H, W), unbatched). Same layer arguments as ``conv2d``.
    Returns (dx, dw, db) with shapes of x, w and (F,).

    - db[f] sums dout over every image and position (the bias touches every output of f).
    - dw = sum over n of dout[n] @ cols[n]^T: each weight met every window it multiplied.
    - dx: each output gradient flows back to the inputs of its window, weighted by w; windows
      that overlap add up ("col2im"); gradients that land in the padding are dropped.
    """
    layer = _prepare(x, w, None, stride, padding, dilation, groups)
    dout = _check_dout(dout, layer)
    dx, dw, db = _backward(dout, layer)
    return (dx[0] if layer.unbatched else dx), dw, db


def _check_dout(dout, layer: _Layer) -> np.ndarray:
    N, F = layer.x.shape[0], layer.w.shape[0]
    expected = (N, F, *layer.sizes)
    if layer.unbatched:
        dout = as_float_array(dout, "dout", 3, "(F, Ho, Wo), like the unbatched output")[None]
    else:
        dout = as_float_array(dout, "dout", 4, "(N, F, Ho, Wo)")
    if dout.shape != expected:
        shown = expected[1:] if layer.unbatched else expected
        raise ValueError(
            f"dout must have the shape of the forward output {shown}; "
            f"got {tuple(dout.shape[1:] if layer.unbatched else dout.shape)}"
        )
    return dout


def _backward(dout: np.ndarray, layer: _Layer):
    """(dx, dw, db) of a validated layer; dout and dx batched.

    Works channels-first, with the batch folded into the columns, so that every step is one
    matrix product per group over all images at once and col2im adds contiguous blocks:
    cols (G, K, N*L) with K = C/G*kh*kw and L = Ho*Wo, dout (G, F/G, N*L).
    """
    N, C, H, W = layer.x.shape
    G, (Ho, Wo), F = layer.groups, layer.sizes, layer.w.shape[0]
    dtype = common_dtype(dout, layer.x, layer.w)
    dout_mat = dout.astype(dtype, copy=False).reshape(N, G, F // G, Ho * Wo)
    dout_mat = dout_mat.transpose(1, 2, 0, 3).reshape(G, F // G, N * Ho * Wo)
    windows = _windows.strided_windows(layer.padded(dtype), layer.kernel, layer.stride,
                                       layer.dilation, layer.sizes)  # (N, C, kh, kw, Ho, Wo)
    cols = np.ascontiguousarray(windows.transpose(1, 2, 3, 0, 4, 5)).reshape(G, -1, N * Ho * Wo)
    db = dout_mat.sum(axis=2).reshape(F)
    dw = np.matmul(dout_mat, cols.transpose(0, 2, 1)).reshape(layer.w.shape)
    w_mat = layer.w.reshape(G, F // G, -1).astype(dtype, copy=False)
    kh, kw = layer.kernel
    dcols = np.matmul(w_mat.transpose(0, 2, 1), dout_mat).reshape(C, kh, kw, N, Ho, Wo)
    (top, bottom), (left, right) = layer.pads
    dxp = np.zeros((C, N, H + top + bottom, W + left + right), dtype=dtype)  # channels first
    _windows.add_windows(dxp, lambda u, v: dcols[:, u, v], layer.kernel, layer.stride,
                         layer.dilation, layer.sizes)
    dx = dxp[:, :, top : top + H, left : left + W].transpose(1, 0, 2, 3)
    return np.ascontiguousarray(dx), dw, db


_MODES = ("valid", "same", "full")


def _plane_and_kernel(image, kernel, mode):
    image = as_float_array(image, "image", 2, "(H, W)")
    kernel = as_float_array(kernel, "kernel", 2, "(kh, kw)")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}; got {mode!r}")
    if min(image.shape) < 1 or min(kernel.shape) < 1:
        raise ValueError(f"empty input: image {image.shape}, kernel {kernel.shape}")
    if mode == "valid" and (kernel.shape[0] > image.shape[0] or kernel.shape[1] > image.shape[1]):
        raise ValueError(
            f"kernel of shape {kernel.shape} is larger than image of shape {image.shape}: "
            "mode='valid' needs kh <= H and kw <= W (use mode='same' or 'full')"
        )
    return image, kernel


def correlate2d(image, kernel, mode: str = "valid") -> np.ndarray:
    """Cross-correlation of a 2-D image with a 2-D kernel (no flip): what CNN layers compute.

    image: (H, W)   kernel: (kh, kw)
    mode: "valid" (H-kh+1, W-kw+1), only windows fully inside the image;
          "full" (H+kh-1, W+kw-1), every overlap (zero padding);
          "same" (H, W), centred on the "full" result.
    Same conventions as ``scipy.signal.correlate2d`` (whose default mode is "full").
    """
    image, kernel = _plane_and_kernel(image, kernel, mode)
    return _correlate_full_then_crop(image, kernel, mode)


def convolve2d(image, kernel, mode: str = "valid") -> np.ndarray:
    """True 2-D convolution: the kernel is flipped in both axes, then slid (correlated).

    image: (H, W)   kernel: (kh, kw)   mode: "valid" | "same" | "full" as in ``correlate2d``.
    For a symmetric kernel (box blur, Gaussian) both give the same result; for an asymmetric
    one (Sobel) convolution flips the sign or direction of what is detected.
    Same conventions as ``scipy.signal.convolve2d``.
    """
    image, kernel = _plane_and_kernel(image, kernel, mode)
    return _correlate_full_then_crop(image, kernel[::-1, ::-1], mode, flipped=True)


def _correlate_full_then_crop(image, kernel, mode, flipped=False):
    kh, kw = kernel.shape
    H, W = image.shape
    x = image[None, None]
    w = np.ascontiguousarray(kernel)[None, None]
    if mode == "valid":
        return conv2d(x, w)[0, 0]
    full = conv2d(x, w, padding=(kh - 1, kw - 1))[0, 0]  # (H+kh-1, W+kw-1)
    if mode == "full":
        return full
    # "same": the centre of "full". With an even kernel the centre falls between two cells;
    # like scipy, convolution rounds it one way and correlation (a flipped kernel) the other.
    top, left = ((kh - 1) // 2, (kw - 1) // 2) if flipped else (kh // 2, kw // 2)
    return full[top : top + H, left : left + W]
