"""The rule registry: how ``cnnkit.inspect`` counts, and follows the receptive field of, a module.

``register_rule(module_type, counts=..., window=..., weights=..., dims=...)`` gives a module type
its rules; a module uses the rule of the nearest class in its method resolution order (so
``nn.LazyConv2d`` uses ``nn.Conv2d``'s), and a later registration replaces an earlier one. This
module registers torch's standard layers; the course's own layers register themselves where
they are defined (``cnnkit.models.lenet``). A rule is:

- ``counts(module, x_shape, y_shape) -> (connections, macs)``: per input sample, for one call
  whose first input tensor has shape ``x_shape`` and whose output has ``y_shape`` (both with
  the batch first, e.g. (N, C, H, W));
- ``window(module, sp_in, sp_out) -> Window``: the sliding window that maps the input's spatial
  axes ``sp_in`` (e.g. (H, W)) to the output's ``sp_out`` (receptive-field arithmetic);
- ``weights(module) -> (kind, float64 array) | None``: what to draw (see ``weights_of``);
- ``dims``: the number of spatial axes the module expects after (N, C), an int or a function of
  the module; an input with one axis fewer is reported as unbatched.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

__all__ = ["Window", "LayerRule", "register_rule", "rule_for", "weights_of", "adaptive_windows"]


@dataclass(frozen=True)
class Window:
    """A sliding window per spatial axis: kernel, stride, left padding and dilation (ints)."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]


@dataclass(frozen=True)
class LayerRule:
    """The rules of one module type (see the module docstring); None: no such rule."""

    counts: Callable | None = None
    window: Callable | None = None
    weights: Callable | None = None
    dims: int | Callable | None = None

    def spatial_dims(self, module: nn.Module) -> int | None:
        """How many spatial axes ``module`` expects after (N, C), or None if any number."""
        return self.dims(module) if callable(self.dims) else self.dims


_RULES: dict[type, LayerRule] = {}
_RESOLVED: dict[type, LayerRule | None] = {}  # rule_for's answers, per module class


def register_rule(module_type: type, *, counts: Callable | None = None,
                  window: Callable | None = None, weights: Callable | None = None,
                  dims: int | Callable | None = None) -> None:
    """Give ``module_type`` (an ``nn.Module`` subclass) its counting / window / weights rules.

    Subclasses without a rule of their own use it. Registering a type again replaces its rule.
    """
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"module_type must be a subclass of torch.nn.Module; got {module_type!r}")
    for name, fn in (("counts", counts), ("window", window), ("weights", weights)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable or None; got {fn!r}")
    if counts is None and window is None and weights is None:
        raise ValueError(f"register_rule({module_type.__name__}) needs at least one of counts, "
                         "window, weights")
    if dims is not None and not callable(dims) and (not isinstance(dims, int)
                                                    or isinstance(dims, bool) or dims < 1):
        raise ValueError(f"dims must be None, an int >= 1 or a function; got {dims!r}")
    _RULES[module_type] = LayerRule(counts, window, weights, dims)
    _RESOLVED.clear()


def rule_for(module: nn.Module) -> LayerRule | None:
    """The rule of the nearest registered class of ``module`` (None if there is none)."""
    cls = type(module)
    if cls not in _RESOLVED:
        _RESOLVED[cls] = next((_RULES[c] for c in cls.__mro__ if c in _RULES), None)
    return _RESOLVED[cls]


def weights_of(module: nn.Module) -> tuple[str, np.ndarray] | None:
    """What a layer has learnt (or was given), as (kind, float64 array) to draw, or None.

    - "kernels" (F, C, kh, kw): a 2-D convolution's kernels (a ``TableConv2d``'s missing links
      are NaN, drawn as gaps);
    - "matrix" (out, in): a linear layer's weights;
    - "per-map" (2, C): ``Subsampling``'s weight (row 0) and bias (row 1) of every map;
    - "prototypes" (classes, rows, columns): ``EuclideanRBF``'s fixed bitmaps;
    - None: nothing to show (activations, pooling, ...).
    """
    rule = rule_for(module)
    if rule is None or rule.weights is None:
        return None
    with torch.no_grad():
        return rule.weights(module)


# ---------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def links(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> int:
    """Along one axis: the window taps that land inside the input, summed over the outputs."""
    return sum(1 for o in range(n_out) for t in range(k) if 0 <= o * s - p + t * d < n_in)


def adaptive_windows(n_in: int, n_out: int) -> list[int]:
    """Window lengths of adaptive pooling along one axis (PyTorch's start/end rule)."""
    return [math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out)]


def conv_padding(padding, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Left padding per axis of a convolution's ``padding`` (ints, "valid" or "same")."""
    n = len(kernel)
    if padding == "valid":
        return (0,) * n
    if padding == "same":  # stride 1: torch pads d(k-1)//2 on the left
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    return _tuple(padding, n)


# ---------------------------------------------------------------------------------------------
# torch's standard layers
# ---------------------------------------------------------------------------------------------


def _conv_window(m, sp_in, sp_out) -> Window:
    k, d = tuple(m.kernel_size), _tuple(m.dilation, len(m.kernel_size))
    return Window(k, _tuple(m.stride, len(k)), conv_padding(m.padding, k, d), d)


def _conv_counts(m, x_shape, y_shape):
    """Connections: weighted links inside the input (+1 per biased output); MACs: dense."""
    units, cin = math.prod(y_shape[1:]), m.in_channels // m.groups
    w = _conv_window(m, x_shape[2:], y_shape[2:])
    if m.padding_mode == "zeros":
        taps = math.prod(links(*a) for a in zip(x_shape[2:], y_shape[2:], w.kernel, w.stride,
                                                w.padding, w.dilation, strict=True))
    else:  # reflect / replicate / circular padding repeats real inputs
        taps = math.prod(w.kernel) * math.prod(y_shape[2:])
    bias = units if m.bias is not None else 0
    return y_shape[1] * cin * taps + bias, units * cin * math.prod(w.kernel)


def _conv_transpose_counts(m, x_shape, y_shape):
    """Each input unit feeds (C_out/groups) x k outputs; the taps cropped by padding carry no
    link but are multiplied by a dense implementation (as FlopCounterMode counts them)."""
    k, s, d = tuple(m.kernel_size), _tuple(m.stride, len(m.kernel_size)), \
        _tuple(m.dilation, len(m.kernel_size))
    p = _tuple(m.padding, len(k))
    cin = m.in_channels // m.groups
    taps = math.prod(
        sum(1 for i in range(n_in) for t in range(kk) if 0 <= i * ss - pp + t * dd < n_out)
        for n_in, n_out, kk, ss, pp, dd in zip(x_shape[2:], y_shape[2:], k, s, p, d, strict=True))
    bias = math.prod(y_shape[1:]) if m.bias is not None else 0
    macs = m.in_channels * (m.out_channels // m.groups) * math.prod(k) * math.prod(x_shape[2:])
    return y_shape[1] * cin * taps + bias, macs


def _linear_counts(m, x_shape, y_shape):
    units = math.prod(y_shape[1:])
    return units * (m.in_features + (m.bias is not None)), units * m.in_features


def _pool_window(n: int):
    def window(m, sp_in, sp_out) -> Window:
        k = _tuple(m.kernel_size, n)
        return Window(k, _tuple(m.stride if m.stride else m.kernel_size, n),
                      _tuple(m.padding, n), _tuple(getattr(m, "dilation", 1), n))
    return window


def _pool_counts(n: int):
    window = _pool_window(n)

    def counts(m, x_shape, y_shape):
        w = window(m, x_shape[2:], y_shape[2:])
        taps = math.prod(links(*a) for a in zip(x_shape[2:], y_shape[2:], w.kernel, w.stride,
                                                w.padding, w.dilation, strict=True))
        return y_shape[1] * taps, 0
    return counts


def adaptive_window(sp_in, sp_out) -> Window:
    """The widest window of adaptive pooling, and a stride exact when the output divides the
    input (the receptive field is then exact; otherwise an upper bound)."""
    k = tuple(max(adaptive_windows(a, b)) for a, b in zip(sp_in, sp_out, strict=True))
    s = tuple(max(1, a // b) for a, b in zip(sp_in, sp_out, strict=True))
    return Window(k, s, (0,) * len(k), (1,) * len(k))


def _adaptive_counts(m, x_shape, y_shape):
    taps = math.prod(sum(adaptive_windows(a, b))
                     for a, b in zip(x_shape[2:], y_shape[2:], strict=True))
    return y_shape[1] * taps, 0


def _affine_counts(m, x_shape, y_shape):
    """A normalisation's scale and shift: one link each per element, no weighted sum."""
    affine = sum(getattr(m, a, None) is not None for a in ("weight", "bias"))
    return math.prod(y_shape[1:]) * affine, 0


def _register_standard() -> None:
    for n, conv, transposed in ((1, nn.Conv1d, nn.ConvTranspose1d),
                                (2, nn.Conv2d, nn.ConvTranspose2d),
                                (3, nn.Conv3d, nn.ConvTranspose3d)):
        kernels = ((lambda m: ("kernels", m.weight.detach().double().cpu().numpy()))
                   if n == 2 else None)
        register_rule(conv, counts=_conv_counts, window=_conv_window, weights=kernels, dims=n)
        register_rule(transposed, counts=_conv_transpose_counts, dims=n)
    register_rule(nn.Linear, counts=_linear_counts,
                  weights=lambda m: ("matrix", m.weight.detach().double().cpu().numpy()))
    pools = ((1, nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveMaxPool1d, nn.AdaptiveAvgPool1d),
             (2, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d),
             (3, nn.MaxPool3d, nn.AvgPool3d, nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool3d))
    for n, max_pool, avg_pool, adaptive_max, adaptive_avg in pools:
        for cls in (max_pool, avg_pool):
            register_rule(cls, counts=_pool_counts(n), window=_pool_window(n), dims=n)
        for cls in (adaptive_max, adaptive_avg):
            register_rule(cls, counts=_adaptive_counts, dims=n,
                          window=lambda m, sp_in, sp_out: adaptive_window(sp_in, sp_out))
    norms = [nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm,
             nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.GroupNorm, nn.LayerNorm]
    norms += [nn.RMSNorm] if hasattr(nn, "RMSNorm") else []
    for cls in norms:
        register_rule(cls, counts=_affine_counts)


_register_standard()
