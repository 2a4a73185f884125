"""The hand-written layers inside real networks: torch layers whose forward and backward run
``cnnkit.conv`` and ``cnnkit.pool`` (numpy).

The one call a lesson needs::

    from cnnkit.models import LeNet5
    from cnnkit.nn import use_handwritten

    model = LeNet5()
    mine = use_handwritten(model)  # a copy of model: every nn.Conv2d, nn.MaxPool2d and
    print(mine)                    # nn.AvgPool2d replaced by cnnkit.nn's, weights shared
    loss = F.cross_entropy(mine(x), y); loss.backward()  # conv2d_backward etc. at work

``use_handwritten`` leaves ``model`` unchanged and shares its parameters and buffers (training
``mine`` trains ``model``'s weights; ``model`` still runs torch's kernels).

The layers, each a subclass of torch's with the same constructor arguments and state_dict,
only the computation replaced (their repr says ``cnnkit.nn.Conv2d(...)``):

- ``Conv2d``: ``cnnkit.conv.conv2d`` / ``conv2d_backward`` (``padding_mode="zeros"`` only).
- ``MaxPool2d``: ``cnnkit.pool.max_pool2d`` / ``max_pool2d_backward`` (and ``return_indices``).
- ``AvgPool2d``: ``cnnkit.pool.avg_pool2d`` / ``avg_pool2d_backward``.

And their ``torch.autograd.Function``s (``Conv2dFunction``, ``MaxPool2dFunction``,
``AvgPool2dFunction``), which pass ``torch.autograd.gradcheck`` in float64. Tensors on another
device are computed on the CPU and moved back; gradients of gradients are not supported
(``once_differentiable``). Shapes as torch's: x (N, C, H, W) or (C, H, W).
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from torch import nn
from torch.autograd.function import once_differentiable

from cnnkit import conv, pool

__all__ = [
    "Conv2dFunction",
    "MaxPool2dFunction",
    "AvgPool2dFunction",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "use_handwritten",
]


def _numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().numpy()


def _tensor(a: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=like.device, dtype=like.dtype)


class Conv2dFunction(torch.autograd.Function):
    """``conv2d(x, weight, bias, stride, padding, dilation, groups)`` with numpy's forward and
    backward (arguments as ``torch.nn.functional.conv2d``; bias may be None)."""

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        ctx.args = (stride, padding, dilation, groups)
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = conv.conv2d(_numpy(x), _numpy(weight), _numpy(bias), *ctx.args)
        return _tensor(out, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        x, weight = ctx.saved_tensors
        dx, dw, db = conv.conv2d_backward(_numpy(dout), _numpy(x), _numpy(weight), *ctx.args)
        need = ctx.needs_input_grad
        return (_tensor(dx, x) if need[0] else None, _tensor(dw, weight) if need[1] else None,
                _tensor(db, weight) if ctx.has_bias and need[2] else None,
                None, None, None, None)


class MaxPool2dFunction(torch.autograd.Function):
    """``max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)``
    with numpy's forward and backward; returns out, or (out, indices) whose int64 indices are
    not differentiable. (The forward skips the indices unless asked: the backward finds them.)"""

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                return_indices=False):
        ctx.args = (kernel_size, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(x)
        if not return_indices:
            return _tensor(pool.max_pool2d(_numpy(x), *ctx.args), x)
        out, idx = pool.max_pool2d(_numpy(x), *ctx.args, return_indices=True)
        indices = torch.from_numpy(idx).to(x.device)
        ctx.mark_non_differentiable(indices)
        return _tensor(out, x), indices

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, *_indices):
        (x,) = ctx.saved_tensors
        dx = pool.max_pool2d_backward(_numpy(dout), _numpy(x), *ctx.args)
        return _tensor(dx, x), None, None, None, None, None, None


class AvgPool2dFunction(torch.autograd.Function):
    """``avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
    divisor_override)`` with numpy's forward and backward."""

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        ctx.args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        ctx.shape = tuple(x.shape)
        return _tensor(pool.avg_pool2d(_numpy(x), *ctx.args), x)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        shape_only = np.empty(ctx.shape, dtype=_numpy(dout).dtype)  # only x's shape is used
        dx = pool.avg_pool2d_backward(_numpy(dout), shape_only, *ctx.args)
        return _tensor(dx, dout), None, None, None, None, None, None


class Conv2d(nn.Conv2d):
    """``torch.nn.Conv2d`` (same arguments, parameters, initialisation) computed by
    ``cnnkit.conv``. ``padding_mode`` must be "zeros", the only mode ``conv2d`` has."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros":
            raise ValueError(f'padding_mode must be "zeros" (cnnkit.conv pads with zeros); '
                             f"got {self.padding_mode!r}")

    def _get_name(self) -> str:
        return "cnnkit.nn.Conv2d"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Conv2dFunction.apply(x, self.weight, self.bias, self.stride, self.padding,
                                    self.dilation, self.groups)


class MaxPool2d(nn.MaxPool2d):
    """``torch.nn.MaxPool2d`` (same arguments) computed by ``cnnkit.pool``."""

    def _get_name(self) -> str:
        return "cnnkit.nn.MaxPool2d"

    def forward(self, x: torch.Tensor):
        return MaxPool2dFunction.apply(x, self.kernel_size, self.stride, self.padding,
                                       self.dilation, self.ceil_mode, self.return_indices)


class AvgPool2d(nn.AvgPool2d):
    """``torch.nn.AvgPool2d`` (same arguments) computed by ``cnnkit.pool``."""

    def _get_name(self) -> str:
        return "cnnkit.nn.AvgPool2d"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return AvgPool2dFunction.apply(x, self.kernel_size, self.stride, self.padding,
                                       self.ceil_mode, self.count_include_pad,
                                       self.divisor_override)


def _conv_from(layer: nn.Conv2d) -> nn.Module:
    if layer.padding_mode != "zeros":
        warnings.warn(f"use_handwritten: {layer} keeps torch's kernel (padding_mode="
                      f"{layer.padding_mode!r}; cnnkit.conv pads with zeros)", stacklevel=3)
        return layer
    mine = Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                  layer.padding, layer.dilation, layer.groups, layer.bias is not None,
                  device="meta")  # no initialisation, no random numbers drawn
    mine.weight, mine.bias = layer.weight, layer.bias  # the same Parameter objects
    mine.train(layer.training)
    return mine


def _max_pool_from(layer: nn.MaxPool2d) -> nn.Module:
    return MaxPool2d(layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                     layer.return_indices, layer.ceil_mode)


def _avg_pool_from(layer: nn.AvgPool2d) -> nn.Module:
    return AvgPool2d(layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode,
                     layer.count_include_pad, layer.divisor_override)


# exactly these types are replaced (a subclass may have its own forward: it is left alone)
_REPLACEMENTS = {nn.Conv2d: _conv_from, nn.MaxPool2d: _max_pool_from,
                 nn.AvgPool2d: _avg_pool_from}


def use_handwritten(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose ``nn.Conv2d``, ``nn.MaxPool2d`` and ``nn.AvgPool2d`` layers are
    this module's (numpy forward and backward), sharing ``model``'s parameters and buffers.

    model: any ``nn.Module`` (a single layer too). ``model`` itself is not modified. Layers of
    exactly those three types are replaced (subclasses are kept: they may compute something
    else); a ``Conv2d`` with a ``padding_mode`` other than "zeros" is kept with a warning.
    Returns the copy, in ``model``'s training mode. Forward hooks on replaced layers are not
    carried over.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    shared = {id(t): t for t in (*model.parameters(), *model.buffers())}
    copied = copy.deepcopy(model, memo=shared)  # new modules, the same tensors
    if type(copied) in _REPLACEMENTS:
        return _REPLACEMENTS[type(copied)](copied)
    for module in list(copied.modules()):
        for name, child in list(module.named_children()):
            if type(child) in _REPLACEMENTS:
                setattr(module, name, _REPLACEMENTS[type(child)](child))
    return copied
