"""Per-layer tables and shape tracing: what every module of a network takes, gives, holds, costs.

``trace(model, input_size)`` runs the model once on PyTorch's *meta* device: a meta tensor has a
shape and a dtype but no data, so nothing is computed and no memory is used, yet every layer
checks its input's shape as it would for real. Forward hooks record each module call's input
and output shapes; the rules below count its parameters, connections and multiply-accumulates
(MACs) and follow the receptive field. The model passed in is left untouched: the trace runs
on a copy whose weights are empty meta tensors (no weight data is copied) and the hooks are
put on that copy, in eval mode, without gradients.

``layer_table(model, input_size)`` is the per-layer table of LeCun et al. (1998): one row per
layer with its output shape, trainable and fixed parameters, connections and MACs.

Counting rules (per input sample: the counts of a trace of N samples are divided by N):

- trainable: parameters with ``requires_grad``, counted at the first call of their module;
- fixed: frozen parameters and persistent floating-point buffers (the RBF prototypes,
  BatchNorm's running statistics: what Keras calls non-trainable parameters);
- connections: every input->output link that carries a weight, plus one link per bias. A
  convolution output unit with fan-in f has f + 1 (padding zeros are not inputs, so border
  units have fewer); a ``TableConv2d`` unit has f = (its connected maps) x kh x kw; a
  ``Subsampling`` unit 2x2 + 1 = 5; a linear unit in + 1; an RBF unit one per feature; a
  pooling unit one per window cell inside the input; an affine normalisation 2 per element
  (scale and shift); activations and other parameter-free element-wise or reshaping modules 0
  (the nonlinearity belongs to the unit before it, as in the paper);
- MACs: the multiply-accumulates of the weighted sums as a dense implementation does them:
  (C_in / groups) x kh x kw per convolution output (padded zeros included), ``in`` per linear
  output, f x kh x kw per ``TableConv2d`` output, 4 per ``Subsampling`` output (a 2x2 window
  with one shared weight), ``features`` per RBF unit; 0 for pooling, normalisation and
  activations. For convolutions and linear layers this is ``FlopCounterMode``'s count / 2.
- A module with parameters of its own and no rule gets ``None`` (shown as "?").

Receptive field and jump, per spatial axis, on the path the tensors take. The jump is the
distance in input pixels between neighbouring outputs (the product of the strides so far). A
window layer (convolution, pooling, subsampling) with kernel k, stride s and dilation d turns
(rf, jump) into (rf + d(k-1) jump, jump s); element-wise modules keep them; a module that
removes the spatial axes (flatten, linear on a flattened map) makes each output depend on the
whole map, rf + (size-1) jump, and there is no jump any more ("-"). A module that changes the
spatial size by a rule not listed here gives "?" from there on.
"""

from __future__ import annotations

import copy
import html
import itertools
import math
import numbers
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.pooling import (
    _AdaptiveAvgPoolNd,
    _AdaptiveMaxPoolNd,
    _AvgPoolNd,
    _MaxPoolNd,
)

from cnnkit.models.lenet import EuclideanRBF, TableConv2d
from cnnkit.pool import Subsampling

__all__ = [
    "Row",
    "Totals",
    "Trace",
    "TraceError",
    "trace",
    "layer_table",
    "weights_of",
    "format_shape",
    "format_count",
    "format_axes",
    "format_jump",
]


class TraceError(ValueError):
    """The model rejected the input size. ``module`` is the qualified name of the module that
    failed ("" for the model's own forward), ``module_type`` its class, ``input_shapes`` the
    shapes it was given, ``input_size`` the size traced."""

    def __init__(self, message: str, module: str, module_type: str, input_shapes, input_size):
        super().__init__(message)
        self.module, self.module_type = module, module_type
        self.input_shapes, self.input_size = input_shapes, input_size


@dataclass(frozen=True)
class Row:
    """One module call.

    name: qualified name (``"C3"``, ``"layer1.0.conv1"``); type: class name; depth: nesting
    (1 for the model's children); call: 1 for a module's first call, 2 for its second...;
    leaf: no child modules; layer: a unit of computation whose counts enter the totals (a module
    with a counting rule, a leaf, or one with parameters of its own, not inside another layer);
    in_layer: a part of such a layer (e.g. the activation module inside a ``Subsampling``).
    input_shapes: the shape of each tensor argument; output_shape: the (first) output tensor's.
    weight_shape: the shape of the module's ``weight`` parameter, or None.
    trainable, fixed: parameter counts of the module and its children (first call only).
    connections, macs: per sample (None when unknown); for a container, its children's sum.
    rf, jump: receptive field and jump of the output along each spatial axis (None: unknown;
    ``()`` for rf: the input has no spatial axes; None for jump: no longer a spatial map).
    """

    name: str
    type: str
    depth: int
    call: int
    leaf: bool
    layer: bool
    in_layer: bool
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...] | None
    weight_shape: tuple[int, ...] | None
    trainable: int
    fixed: int
    connections: int | None
    macs: int | None
    rf: tuple[int, ...] | None
    jump: tuple[int, ...] | None


@dataclass(frozen=True)
class Totals:
    """Whole-model counts: every parameter once; connections and MACs summed over the counted
    module calls (None if one of them is unknown)."""

    trainable: int
    fixed: int
    connections: int | None
    macs: int | None


# ---------------------------------------------------------------------------------------------
# Counting rules
# ---------------------------------------------------------------------------------------------


def _tuple(value, n: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def _window(module: nn.Module, n: int):
    """(kernel, stride, padding, dilation) per spatial axis of a sliding-window module, or None."""
    if isinstance(module, _ConvNd) and not module.transposed:
        k, d = _tuple(module.kernel_size, n), _tuple(module.dilation, n)
        if isinstance(module.padding, str):  # "valid" or "same" (stride 1): left padding
            p = (0,) * n if module.padding == "valid" else tuple(
                dd * (kk - 1) // 2 for kk, dd in zip(k, d, strict=True))
        else:
            p = _tuple(module.padding, n)
        return k, _tuple(module.stride, n), p, d
    if isinstance(module, (_MaxPoolNd, _AvgPoolNd)):
        k = _tuple(module.kernel_size, n)
        s = _tuple(module.stride if module.stride else module.kernel_size, n)
        d = _tuple(getattr(module, "dilation", 1), n)
        return k, s, _tuple(module.padding, n), d
    if isinstance(module, Subsampling):
        return (2,) * n, (2,) * n, (0,) * n, (1,) * n
    if isinstance(module, TableConv2d):
        return module.kernel_size, (1, 1), (0, 0), (1, 1)
    return None


def _links(n_in: int, n_out: int, k: int, s: int, p: int, d: int) -> int:
    """Along one axis: the window taps that land inside the input, summed over the outputs."""
    return sum(1 for o in range(n_out) for t in range(k) if 0 <= o * s - p + t * d < n_in)


def _adaptive_windows(n_in: int, n_out: int) -> list[int]:
    """Window lengths of adaptive pooling along one axis (PyTorch's start/end rule)."""
    return [math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out)]


def _has_own_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters(recurse=False))


def _has_rule(module: nn.Module) -> bool:
    return isinstance(module, (_ConvNd, nn.Linear, _MaxPoolNd, _AvgPoolNd, _AdaptiveAvgPoolNd,
                               _AdaptiveMaxPoolNd, Subsampling, TableConv2d, EuclideanRBF,
                               _NormBase, nn.GroupNorm, nn.LayerNorm))


def _counts(module: nn.Module, x_shape, y_shape) -> tuple[int | None, int | None]:
    """(connections, MACs) per sample of one call of a counted module (see the module doc)."""
    if x_shape is None or y_shape is None:
        return (0, 0) if not any(True for _ in module.parameters()) else (None, None)
    units = math.prod(y_shape[1:])  # outputs per sample
    sp_in, sp_out = x_shape[2:], y_shape[2:]
    if isinstance(module, _ConvNd) and not module.transposed:
        n = len(sp_out)
        cin = module.in_channels // module.groups
        k, s, p, d = _window(module, n)
        macs = units * cin * math.prod(k)
        if module.padding_mode == "zeros":
            links = math.prod(_links(*args) for args in zip(sp_in, sp_out, k, s, p, d, strict=True))
        else:  # reflect / replicate / circular padding repeats real inputs
            links = math.prod(k) * math.prod(sp_out)
        bias = units if module.bias is not None else 0
        return y_shape[1] * cin * links + bias, macs
    if isinstance(module, nn.Linear):
        return units * (module.in_features + (module.bias is not None)), units * module.in_features
    if isinstance(module, (_MaxPoolNd, _AvgPoolNd)):
        k, s, p, d = _window(module, len(sp_out))
        links = math.prod(_links(*args) for args in zip(sp_in, sp_out, k, s, p, d, strict=True))
        return y_shape[1] * links, 0
    if isinstance(module, (_AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd)):
        links = math.prod(sum(_adaptive_windows(a, b)) for a, b in zip(sp_in, sp_out, strict=True))
        return y_shape[1] * links, 0
    if isinstance(module, Subsampling):
        return 5 * units, 4 * units
    if isinstance(module, TableConv2d):
        per_map = math.prod(sp_out)
        macs = len(module.source) * math.prod(module.kernel_size) * per_map
        return macs + module.out_channels * per_map, macs
    if isinstance(module, EuclideanRBF):
        return module.classes * module.features, module.classes * module.features
    if isinstance(module, (_NormBase, nn.GroupNorm, nn.LayerNorm)):
        affine = sum(getattr(module, a, None) is not None for a in ("weight", "bias"))
        return units * affine, 0
    if not any(True for _ in module.parameters()):
        return 0, 0  # activations, dropout, flatten, identity...
    return None, None


@dataclass(frozen=True)
class _Field:
    """Receptive field and jump of a tensor, and the spatial size of the map they describe."""

    rf: tuple[int, ...] | None
    jump: tuple[int, ...] | None
    size: tuple[int, ...] | None


def _collapse(f: _Field, size) -> _Field:
    """Every output now depends on the whole map of ``size``: no spatial axes any more."""
    if f.rf is None or f.jump is None or not f.rf:
        return _Field(f.rf, None, None)
    size = size if size is not None and len(size) == len(f.rf) else f.size
    if size is None:
        return _Field(None, None, None)
    return _Field(tuple(r + (n - 1) * j for r, n, j in zip(f.rf, size, f.jump, strict=True)),
                  None, None)


def _next_field(module: nn.Module, f: _Field, x_shape, y_shape) -> _Field:
    """The receptive field after one call of a counted module (see the module doc)."""
    if f.rf == ():
        return f  # the model's input had no spatial axes
    sp_in = tuple(x_shape[2:]) if x_shape is not None and len(x_shape) >= 3 else None
    sp_out = tuple(y_shape[2:]) if y_shape is not None and len(y_shape) >= 3 else None
    if sp_in is None and f.jump is not None:
        f = _collapse(f, None)  # flattened by a function between modules
    if sp_out is None:
        return _collapse(f, sp_in)
    if f.rf is None or f.jump is None or len(f.jump) != len(sp_out):
        return _Field(None, None, sp_out)
    window = _window(module, len(sp_out))
    if window is not None:
        k, s, _, d = window
        rf = tuple(r + dd * (kk - 1) * j for r, kk, dd, j in zip(f.rf, k, d, f.jump, strict=True))
        return _Field(rf, tuple(j * ss for j, ss in zip(f.jump, s, strict=True)), sp_out)
    if isinstance(module, (_AdaptiveAvgPoolNd, _AdaptiveMaxPoolNd)) and sp_in is not None:
        k = tuple(max(_adaptive_windows(a, b)) for a, b in zip(sp_in, sp_out, strict=True))
        s = tuple(max(1, a // b) for a, b in zip(sp_in, sp_out, strict=True))  # exact if b | a
        rf = tuple(r + (kk - 1) * j for r, kk, j in zip(f.rf, k, f.jump, strict=True))
        return _Field(rf, tuple(j * ss for j, ss in zip(f.jump, s, strict=True)), sp_out)
    if sp_in == sp_out:
        return _Field(f.rf, f.jump, sp_out)
    return _Field(None, None, sp_out)


# ---------------------------------------------------------------------------------------------
# Tracing
# ---------------------------------------------------------------------------------------------


@dataclass
class _Call:
    module: nn.Module
    name: str
    depth: int
    call: int
    counted: bool  # its counts go into the totals (a rule, a leaf, or parameters of its own)
    nested: bool  # inside a counted call: shown, not added up
    input_shapes: tuple
    x_shape: tuple | None
    field_in: _Field
    output_shape: tuple | None = None
    connections: int | None = 0
    macs: int | None = 0
    field_out: _Field | None = None
    done: bool = False
    children_unknown: bool = False
    ancestors: list = field(default_factory=list)
    frames: int = 0  # the Python stack depth of its pre-hook


def _stack_depth() -> int:
    """How many Python frames are running (to tell a module still running from one that raised)."""
    frame, n = sys._getframe(1), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


def _tensors(obj) -> Iterator[torch.Tensor]:
    """The tensors in a module's arguments or output (one level of tuples, lists, dicts)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            if isinstance(item, torch.Tensor):
                yield item
    elif isinstance(obj, dict):
        for item in obj.values():
            if isinstance(item, torch.Tensor):
                yield item


def _shadow_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """A copy of ``model`` on ``device`` whose floating-point weights hold no copied data.

    Parameters and floating buffers become empty (meta) or zero tensors of the same shape;
    integer buffers (indices, counters) are copied, as they may describe the structure.
    """
    memo: dict[int, torch.Tensor] = {}
    for t in itertools.chain(model.parameters(), model.buffers()):
        if id(t) in memo:
            continue
        if t.is_floating_point() or t.is_complex():
            new = (torch.empty_like(t, device=device) if device.type == "meta"
                   else torch.zeros_like(t, device=device))
        else:
            new = t.detach().to(device, copy=True)
        if isinstance(t, nn.Parameter):
            new = nn.Parameter(new, requires_grad=t.requires_grad)
        memo[id(t)] = new
    clone = copy.deepcopy(model, memo)
    return clone.eval()


def _check_input_size(input_size) -> tuple[int, ...]:
    if isinstance(input_size, torch.Size):
        input_size = tuple(input_size)
    if (not isinstance(input_size, (tuple, list)) or not input_size
            or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                       for v in input_size)):
        raise TypeError(f"input_size must be a tuple of ints including the batch, e.g. "
                        f"(1, 1, 32, 32); got {input_size!r}")
    if min(input_size) < 1:
        raise ValueError(f"input_size must hold sizes >= 1; got {tuple(input_size)}")
    return tuple(int(v) for v in input_size)


def format_shape(shape) -> str:
    """(1, 6, 28, 28) -> "[1, 6, 28, 28]"; None -> "-"."""
    return "-" if shape is None else "[" + ", ".join(str(v) for v in shape) + "]"


class _Failed(Exception):
    """A traced forward pass raised ``error``; ``calls`` ran or started, ``open`` had not
    returned (the innermost last)."""

    def __init__(self, error: BaseException, calls: list, open_calls: list):
        super().__init__(str(error))
        self.error, self.calls, self.open = error, calls, open_calls


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def _run(model: nn.Module, input_size: tuple[int, ...], device: torch.device) -> list[_Call]:
    """Trace one forward pass of a shadow copy on ``device``: its calls, in call order.

    Raises ``_Failed`` when the forward pass raises.
    """
    try:
        clone = _shadow_copy(model, device)
    except Exception as err:
        raise TypeError(f"trace copies the model (copy.deepcopy, without its weights' data) "
                        f"and could not copy this {type(model).__name__}: {_first_line(err)}"
                        ) from err
    names = {m: name for name, m in clone.named_modules()}
    dtype = next((p.dtype for p in clone.parameters() if p.is_floating_point()), torch.float32)
    x = (torch.empty(input_size, dtype=dtype, device=device) if device.type == "meta"
         else torch.zeros(input_size, dtype=dtype, device=device))
    n_spatial = len(input_size) - 2
    start = _Field((1,) * n_spatial, (1,) * n_spatial, input_size[2:]) if n_spatial >= 1 \
        else _Field((), None, None)
    calls: list[_Call] = []
    stack: list[int] = []
    fields: dict[int, _Field] = {id(x): start}
    alive = [x]  # keep traced tensors alive so that their ids stay unique
    last = [start]
    n_calls: dict[nn.Module, int] = {}

    def pre_hook(module, args, kwargs):
        frames = _stack_depth()
        while stack and calls[stack[-1]].frames >= frames:  # it raised, and the model caught it
            stack.pop()
        tensors = list(_tensors(args)) + list(_tensors(kwargs))
        first = tensors[0] if tensors else None
        nested = any(calls[i].counted or calls[i].nested for i in stack)
        leaf = next(iter(module.children()), None) is None
        n_calls[module] = n_calls.get(module, 0) + 1
        name = names.get(module, "?")
        calls.append(_Call(
            module=module, name=name, depth=name.count(".") + 1 if name else 0,
            call=n_calls[module],
            counted=not nested and (_has_rule(module) or leaf or _has_own_params(module)),
            nested=nested, input_shapes=tuple(tuple(t.shape) for t in tensors),
            x_shape=tuple(first.shape) if first is not None else None,
            field_in=fields.get(id(first), last[0]) if first is not None else last[0],
            ancestors=list(stack), frames=frames))
        stack.append(len(calls) - 1)

    def hook(module, args, kwargs, output):
        while calls[stack[-1]].module is not module:  # a call that raised, caught by the model
            stack.pop()
        rec = calls[stack.pop()]
        out = next(_tensors(output), None)
        rec.output_shape = tuple(out.shape) if out is not None else None
        if rec.counted or rec.nested:
            rec.connections, rec.macs = _counts(module, rec.x_shape, rec.output_shape)
            rec.field_out = _next_field(module, rec.field_in, rec.x_shape, rec.output_shape)
        else:  # a container: the field of its output tensor, as its children left it
            rec.field_out = fields.get(id(out), last[0]) if out is not None else last[0]
            if rec.children_unknown:
                rec.connections = rec.macs = None
        if rec.counted:
            for i in rec.ancestors:
                anc = calls[i]
                if rec.connections is None or anc.connections is None:
                    anc.children_unknown = True
                else:
                    anc.connections += rec.connections
                    anc.macs += rec.macs
        if out is not None:
            fields[id(out)] = rec.field_out
            alive.append(out)
        last[0] = rec.field_out
        rec.done = True

    for m in clone.modules():
        m.register_forward_pre_hook(pre_hook, with_kwargs=True)
        m.register_forward_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            clone(x)
    except Exception as err:
        raise _Failed(err, calls, [calls[i] for i in stack]) from err
    return calls


def _trace_error(model, input_size, failed: _Failed) -> TraceError:
    err, calls, open_calls = failed.error, failed.calls, failed.open
    culprit = open_calls[-1] if open_calls else None
    name = culprit.name if culprit else ""
    mtype = type(culprit.module).__name__ if culprit else type(model).__name__
    shapes = culprit.input_shapes if culprit else (tuple(input_size),)
    where = f"module '{name}' ({mtype})" if name else f"the forward of {mtype} itself"
    msg = (f"{type(model).__name__} cannot take input_size {format_shape(input_size)}: {where} "
           f"got input {', '.join(format_shape(s) for s in shapes)} and raised "
           f"{_first_line(err)}")
    done = [c for c in calls if c.done and c.name]
    if done:
        c = done[-1]
        msg += (f" (the last module that ran: '{c.name}' ({type(c.module).__name__}) -> "
                f"{format_shape(c.output_shape)})")
    return TraceError(msg, name, mtype, shapes, tuple(input_size))


def _totals(calls: list[_Call]) -> Totals:
    trainable = fixed = 0
    seen: set[int] = set()
    for c in calls:
        if c.call != 1:
            continue
        for p in c.module.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                trainable += p.numel() if p.requires_grad else 0
                fixed += 0 if p.requires_grad else p.numel()
        fixed += _fixed_buffers(c.module, recurse=False)
    counted = [c for c in calls if c.counted and c.done]
    unknown = any(c.connections is None for c in counted)
    return Totals(trainable, fixed,
                  None if unknown else sum(c.connections for c in counted),
                  None if unknown else sum(c.macs for c in counted))


def _fixed_buffers(module: nn.Module, recurse: bool) -> int:
    """Persistent floating-point buffers (fixed weights, running statistics) of ``module``."""
    mods = module.modules() if recurse else [module]
    total = 0
    for m in mods:
        for name, b in m.named_buffers(recurse=False):
            if name not in m._non_persistent_buffers_set and b.is_floating_point():
                total += b.numel()
    return total


def _params(module: nn.Module) -> tuple[int, int]:
    """(trainable, frozen parameters + fixed buffers) of a module and its children."""
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    return trainable, frozen + _fixed_buffers(module, recurse=True)


def _to_row(c: _Call) -> Row:
    trainable, fixed = _params(c.module) if c.call == 1 else (0, 0)
    weight = getattr(c.module, "weight", None)
    f = c.field_out or _Field(None, None, None)
    return Row(
        name=c.name, type=type(c.module).__name__, depth=c.depth, call=c.call,
        leaf=next(iter(c.module.children()), None) is None, layer=c.counted, in_layer=c.nested,
        input_shapes=c.input_shapes, output_shape=c.output_shape,
        weight_shape=tuple(weight.shape) if isinstance(weight, torch.Tensor) else None,
        trainable=trainable, fixed=fixed, connections=c.connections, macs=c.macs,
        rf=f.rf, jump=f.jump)


def trace(model: nn.Module, input_size, device="meta", depth: int | None = None) -> Trace:
    """Trace ``model`` on an input of ``input_size`` without computing it: one row per module call.

    model: any ``nn.Module``; it is not modified (no hooks are left on it and its weights stay
        where they are): a copy with empty weights is traced.
    input_size: the full input shape including the batch, e.g. ``(1, 1, 32, 32)``.
    device: "meta" (default: shapes only, no memory, no arithmetic), or "cpu"/"cuda" (the copy
        gets zero weights there). If a module cannot run on the meta device (an operation
        without a meta implementation, a tensor attribute that is not a buffer, ``.item()``),
        the trace falls back to the CPU with a ``RuntimeWarning`` saying which module.
    depth: None for every module; d >= 1 to show modules down to depth d (1 = the model's
        children), a module at depth d standing for all its children (counts summed).

    Returns a ``Trace``: the rows (see ``Row``; counts per sample), the totals, and a text
    (``str``) and HTML rendering. Raises ``TraceError`` (a ValueError) naming the module that
    rejected the input, its input shapes and the last module that ran.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    input_size = _check_input_size(input_size)
    if depth is not None and (not isinstance(depth, int) or isinstance(depth, bool) or depth < 1):
        raise ValueError(f"depth must be None or an int >= 1; got {depth!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'meta', 'cpu' or 'cuda'; got {device!r}") from err
    try:
        calls = _run(model, input_size, dev)
    except _Failed as failed:
        err, open_calls = failed.error, failed.open
        meta_problem = isinstance(err, NotImplementedError) or "meta" in str(err).lower()
        if dev.type != "meta" or not meta_problem:
            raise _trace_error(model, input_size, failed) from err
        where = (f"module '{open_calls[-1].name}' ({type(open_calls[-1].module).__name__})"
                 if open_calls and open_calls[-1].name else type(model).__name__)
        warnings.warn(f"trace: {where} cannot run on the meta device ({_first_line(err)}); "
                      "traced on the CPU instead", RuntimeWarning, stacklevel=2)
        dev = torch.device("cpu")
        try:
            calls = _run(model, input_size, dev)
        except _Failed as failed_again:
            raise _trace_error(model, input_size, failed_again) from failed_again.error
    # the model itself is a row only when it is a single layer (trace(nn.Conv2d(...), ...))
    # calls that raised (and whose error the model caught) are left out
    rows = [_to_row(c) for c in calls if c.done and (c.name or (c.counted and c.depth == 0))]
    if depth is not None:
        rows = [r for r in rows if not r.in_layer
                and (r.depth == depth or (r.depth < depth and (r.leaf or r.layer)))]
    return Trace(rows, _totals(calls), type(model).__name__, input_size,
                 str(dev), TRACE_COLUMNS)


def layer_table(model: nn.Module, input_size, depth: int | None = None,
                device="meta") -> Trace:
    """The per-layer table of LeCun et al. (1998) for any model: one row per layer.

    Columns: layer (qualified name), type, output shape, trainable parameters, fixed
    parameters, connections, MACs (per sample; the rules are in the module docstring).
    A layer is a module with a counting rule or without children (``Row.layer``; its parts,
    like the activation module of a ``Subsampling``, are not rows), or with ``depth`` the
    modules down to that depth (see ``trace``). For ``LeNet5Classic`` and input (1, 1, 32, 32)
    the rows are C1 156 / 122,304, S2 12 / 5,880, C3 1,516 / 151,600, S4 32 / 2,000,
    C5 48,120 / 48,120, F6 10,164 / 10,164, output 840 fixed / 840: 60,000 trainable,
    340,908 connections.

    Returns a ``Trace`` (a sequence of ``Row``) that prints as a text table and shows as HTML.
    Raises ``TraceError`` naming the layer and the shapes when the model rejects the input.
    """
    t = trace(model, input_size, device=device, depth=depth)
    rows = [r for r in t.rows if r.layer] if depth is None else t.rows
    return Trace(rows, t.totals, t.model_name, t.input_size, t.device, LAYER_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def format_count(v) -> str:
    """1234567 -> "1,234,567"; None (unknown) -> "?"."""
    return "?" if v is None else f"{v:,}"


def format_axes(v) -> str:
    """A per-axis size: (5, 5) -> "5", (5, 7) -> "5x7", () -> "-", None (unknown) -> "?"."""
    if v is None:
        return "?"
    if not v:
        return "-"
    return str(v[0]) if len(set(v)) == 1 else "x".join(str(a) for a in v)


def format_jump(row: Row) -> str:
    """A row's jump: as ``format_axes``, "-" once the map is flattened, "?" when unknown."""
    if row.rf is None:
        return "?"
    return "-" if row.jump is None else format_axes(row.jump)


def _name(row: Row) -> str:
    return (row.name or "(model)") + (f"#{row.call}" if row.call > 1 else "")


# (header, value of a row, value of the totals or "", right-aligned)
TRACE_COLUMNS = (
    ("module", _name, "total", False),
    ("type", lambda r: r.type, "", False),
    ("input", lambda r: ", ".join(format_shape(s) for s in r.input_shapes), "", False),
    ("output", lambda r: format_shape(r.output_shape), "", False),
    ("weight", lambda r: format_shape(r.weight_shape) if r.weight_shape else "", "", False),
    ("params", lambda r: format_count(r.trainable), lambda t: format_count(t.trainable), True),
    ("MACs", lambda r: format_count(r.macs), lambda t: format_count(t.macs), True),
    ("rf", lambda r: format_axes(r.rf), "", True),
    ("jump", format_jump, "", True),
)
LAYER_COLUMNS = (
    ("layer", _name, "total", False),
    ("type", lambda r: r.type, "", False),
    ("output", lambda r: format_shape(r.output_shape), "", False),
    ("trainable", lambda r: format_count(r.trainable), lambda t: format_count(t.trainable), True),
    ("fixed", lambda r: format_count(r.fixed), lambda t: format_count(t.fixed), True),
    ("connections", lambda r: format_count(r.connections), lambda t: format_count(t.connections),
     True),
    ("MACs", lambda r: format_count(r.macs), lambda t: format_count(t.macs), True),
)


class Trace(Sequence):
    """The rows of a trace or layer table, their totals, and text / HTML renderings.

    A sequence of ``Row``: ``t[0]``, ``t["C3"]`` (the first call of a module by name),
    ``len(t)``, iteration. ``t.totals`` (``Totals``), ``t.input_size``, ``t.device`` (where it
    was traced), ``t.model_name``. ``str(t)`` / ``print(t)``: a fixed-width text table, the
    same on every machine (what the notebooks' checked cells compare); ``as_dicts()`` for
    pandas.
    """

    def __init__(self, rows, totals: Totals, model_name: str, input_size, device: str,
                 columns=TRACE_COLUMNS):
        self.rows, self.totals, self.model_name = list(rows), totals, model_name
        self.input_size, self.device, self.columns = tuple(input_size), device, columns

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            for row in self.rows:
                if row.name == key:
                    return row
            raise KeyError(f"no row named {key!r}; rows: {[r.name for r in self.rows]}")
        return self.rows[key]

    def names(self) -> list[str]:
        """The rows' names, in call order."""
        return [r.name for r in self.rows]

    def as_dicts(self) -> list[dict]:
        """The rows as dicts (e.g. ``pandas.DataFrame(t.as_dicts())``)."""
        return [asdict(r) for r in self.rows]

    def _cells(self):
        header = [c[0] for c in self.columns]
        body = [[c[1](r) for c in self.columns] for r in self.rows]
        totals = [c[2](self.totals) if callable(c[2]) else c[2] for c in self.columns]
        return header, body, totals

    def title(self) -> str:
        return f"{self.model_name}, input {format_shape(self.input_size)} (counts per sample)"

    def to_text(self) -> str:
        header, body, totals = self._cells()
        indent = [max(0, r.depth - min((x.depth for x in self.rows), default=1))
                  for r in self.rows]
        body = [[" " * 2 * ind + cells[0], *cells[1:]] for ind, cells in zip(indent, body,
                                                                             strict=True)]
        widths = [max(len(line[i]) for line in [header, totals, *body])
                  for i in range(len(header))]
        right = [c[3] for c in self.columns]

        def line(cells):
            return "  ".join(cell.rjust(w) if r else cell.ljust(w)
                             for cell, w, r in zip(cells, widths, right, strict=True)).rstrip()

        rule = "-" * len(line(["-" * w for w in widths]))
        return "\n".join([self.title(), line(header), rule, *map(line, body), rule, line(totals)])

    def __str__(self) -> str:
        return self.to_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        header, body, totals = self._cells()
        right = [c[3] for c in self.columns]

        def tr(cells, tag="td"):
            return "<tr>" + "".join(
                f"<{tag} style='text-align:{'right' if r else 'left'}'>{html.escape(c)}</{tag}>"
                for c, r in zip(cells, right, strict=True)) + "</tr>"

        return ("<table class='cnnkit-trace'>"
                f"<caption style='text-align:left'>{html.escape(self.title())}</caption>"
                f"<thead>{tr(header, 'th')}</thead><tbody>{''.join(tr(b) for b in body)}"
                f"</tbody><tfoot>{tr(totals, 'th')}</tfoot></table>")


# ---------------------------------------------------------------------------------------------
# Weights, for figures
# ---------------------------------------------------------------------------------------------


def weights_of(module: nn.Module) -> tuple[str, np.ndarray] | None:
    """What a layer has learnt (or was given), as (kind, float64 array) to draw, or None.

    - "kernels" (F, C, kh, kw): a 2-D convolution's kernels; for ``TableConv2d`` the missing
      links are NaN (drawn as gaps);
    - "matrix" (out, in): a linear layer's weights;
    - "per-map" (2, C): ``Subsampling``'s weight (row 0) and bias (row 1) of every map;
    - "prototypes" (classes, rows, columns): ``EuclideanRBF``'s fixed bitmaps;
    - None: nothing to show (activations, pooling, ...).
    """
    with torch.no_grad():
        if isinstance(module, TableConv2d):
            return "kernels", module.dense_weight(fill=float("nan")).double().cpu().numpy()
        if isinstance(module, nn.Conv2d):
            return "kernels", module.weight.detach().double().cpu().numpy()
        if isinstance(module, nn.Linear):
            return "matrix", module.weight.detach().double().cpu().numpy()
        if isinstance(module, Subsampling):
            return "per-map", torch.stack([module.weight, module.bias]).double().cpu().numpy()
        if isinstance(module, EuclideanRBF) and module.image_shape is not None:
            return "prototypes", module.prototype_images().double().cpu().numpy()
    return None
