"""``trace`` and ``layer_table``: one forward pass of a shadow copy, recorded module by module
(forward hooks) and operation by operation (a ``TorchFunctionMode``, which follows the
receptive field through the functions called between modules and records which parameters
the forward reads)."""

from __future__ import annotations

import copy
import itertools
import numbers
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from cnnkit.inspect import fields as F_
from cnnkit.inspect.fields import Field
from cnnkit.inspect.parameters import count_fixed_buffers, count_parameters, fixed_buffers
from cnnkit.inspect.rules import rule_for
from cnnkit.inspect.table import LAYER_COLUMNS, TRACE_COLUMNS, Row, Totals, Trace, format_shape

__all__ = ["TraceError", "trace", "layer_table"]


class TraceError(ValueError):
    """The model rejected the input size. ``module`` is the qualified name of the module that
    failed ("" for the model's own forward), ``module_type`` its class, ``input_shapes`` the
    shapes it was given, ``input_size`` the size traced."""

    def __init__(self, message: str, module: str, module_type: str, input_shapes, input_size):
        super().__init__(message)
        self.module, self.module_type = module, module_type
        self.input_shapes, self.input_size = input_shapes, input_size


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
    field_in: Field
    output_shape: tuple | None = None
    connections: int | None = 0
    macs: int | None = 0
    field_out: Field | None = None
    done: bool = False
    children_unknown: bool = False
    ancestors: list = field(default_factory=list)
    frames: int = 0  # the Python stack depth of its pre-hook


class _Unbatched(Exception):
    """A module with a fixed number of spatial axes got an input with one axis too few."""

    def __init__(self, call: _Call, dims: int):
        super().__init__(f"{type(call.module).__name__} takes (N, C, {dims} spatial axes)")
        self.call, self.dims = call, dims


class _Failed(Exception):
    """A traced forward pass raised ``error``; ``calls`` ran or started, ``open`` had not
    returned (the innermost last)."""

    def __init__(self, error: BaseException, calls: list, open_calls: list):
        super().__init__(str(error))
        self.error, self.calls, self.open = error, calls, open_calls


def _stack_depth() -> int:
    """How many Python frames are running (to tell a module still running from one that raised)."""
    frame, n = sys._getframe(1), 0
    while frame is not None:
        frame, n = frame.f_back, n + 1
    return n


def _tensors(obj, depth: int = 3) -> Iterator[torch.Tensor]:
    """The tensors in a function's arguments or output (nested tuples, lists, dicts)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif depth > 0 and isinstance(obj, (tuple, list)):
        for item in obj:
            yield from _tensors(item, depth - 1)
    elif depth > 0 and isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item, depth - 1)


def _module_inputs(args, kwargs) -> list[torch.Tensor]:
    """A module call's tensor arguments (one level of tuples, lists, dicts), in order."""
    return [t for a in (*args, *kwargs.values()) for t in _tensors(a, depth=1)]


class _Recorder(TorchFunctionMode):
    """Records module calls (``calls``), the field of every tensor that depends on the input
    (``fields``, by id; the tensors are kept alive so that ids stay unique) and the ids of
    the tensors the forward's operations read (``read``)."""

    def __init__(self, names: dict, x: torch.Tensor, start: Field):
        super().__init__()
        self.names, self.calls, self.stack, self.input_ndim = names, [], [], x.ndim
        self.fields: dict[int, Field] = {id(x): start}
        self.alive, self.read, self.n_calls = [x], set(), {}
        self.last = start

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outs = list(_tensors(out))
        if not outs:
            return out
        inputs = list(_tensors((args, kwargs)))
        self.read.update(id(t) for t in inputs)
        known = [self.fields[id(t)] for t in inputs if id(t) in self.fields]
        first = args[0] if args else kwargs.get("input")
        main = self.fields.get(id(first)) if isinstance(first, torch.Tensor) else None
        for o in outs:
            f = F_.after_function(func, args, kwargs, known, main, tuple(o.shape))
            if f is not None:
                self.fields[id(o)] = f
                self.alive.append(o)
        return out

    def pre_hook(self, module, args, kwargs):
        frames = _stack_depth()
        while self.stack and self.calls[self.stack[-1]].frames >= frames:  # raised, was caught
            self.stack.pop()
        tensors = _module_inputs(args, kwargs)
        first = tensors[0] if tensors else None
        nested = any(self.calls[i].counted or self.calls[i].nested for i in self.stack)
        leaf = next(iter(module.children()), None) is None
        rule = rule_for(module)
        self.n_calls[module] = self.n_calls.get(module, 0) + 1
        name = self.names.get(module, "?")
        own = any(True for _ in module.parameters(recurse=False))
        call = _Call(
            module=module, name=name, depth=name.count(".") + 1 if name else 0,
            call=self.n_calls[module], counted=not nested and (rule is not None or leaf or own),
            nested=nested, input_shapes=tuple(tuple(t.shape) for t in tensors),
            x_shape=tuple(first.shape) if first is not None else None,
            field_in=self.fields.get(id(first), F_.UNKNOWN) if first is not None else self.last,
            ancestors=list(self.stack), frames=frames)
        self.calls.append(call)
        self.stack.append(len(self.calls) - 1)
        dims = rule.spatial_dims(module) if rule is not None else None
        if (dims is not None and call.x_shape is not None and len(call.x_shape) == dims + 1
                and self.input_ndim == dims + 1):  # the traced input itself has no batch
            raise _Unbatched(call, dims)

    def hook(self, module, args, kwargs, output):
        while self.calls[self.stack[-1]].module is not module:  # a call that raised, was caught
            self.stack.pop()
        rec = self.calls[self.stack.pop()]
        out = next(_tensors(output), None)
        rec.output_shape = tuple(out.shape) if out is not None else None
        tracked = self.fields.get(id(out), F_.UNKNOWN) if out is not None else self.last
        rec.field_out = _field_after(module, rec, tracked)
        if rec.counted or rec.nested:
            rec.connections, rec.macs = _counts(module, rec.x_shape, rec.output_shape)
        elif rec.children_unknown:
            rec.connections = rec.macs = None
        if rec.counted:
            for i in rec.ancestors:
                anc = self.calls[i]
                if rec.connections is None or anc.connections is None:
                    anc.children_unknown = True
                else:
                    anc.connections += rec.connections
                    anc.macs += rec.macs
        if out is not None:
            self.fields[id(out)] = rec.field_out
            self.alive.append(out)
        self.last = rec.field_out
        rec.done = True


def _counts(module: nn.Module, x_shape, y_shape) -> tuple[int | None, int | None]:
    """(connections, MACs) per sample of one call: its rule's, 0 without parameters, None for
    a module with parameters and no rule (or no tensor in or out, or an input without the
    batch axis its rule expects)."""
    rule = rule_for(module)
    if x_shape is not None and y_shape is not None and rule is not None and rule.counts:
        dims = rule.spatial_dims(module)
        if dims is None or len(x_shape) == len(y_shape) == dims + 2:
            return rule.counts(module, x_shape, y_shape)
        return None, None  # e.g. one sample at a time inside the forward: no batch axis
    if not any(True for _ in module.parameters()):
        return 0, 0  # activations, dropout, flatten, identity...
    return None, None


def _field_after(module: nn.Module, rec: _Call, tracked: Field) -> Field:
    """The field of a module's output: its window rule applied to its input's field, else the
    field its operations left on the output tensor (``tracked``)."""
    rule = rule_for(module)
    sp_in, sp_out = F_.spatial(rec.x_shape), F_.spatial(rec.output_shape)
    if (rule is None or rule.window is None or sp_in is None or sp_out is None
            or len(sp_in) != len(sp_out) or rec.field_in.rf == ()):
        return tracked
    return F_.step(rec.field_in, rule.window(module, sp_in, sp_out), sp_out)


def _shadow_copy(model: nn.Module, device: torch.device) -> nn.Module:
    """A copy of ``model`` on ``device`` whose floating-point weights hold no copied data.

    Every parameter and buffer is replaced in the deepcopy memo by an empty tensor (meta) or a
    zero tensor (cpu/cuda) of the same shape, dtype and ``requires_grad``, so deepcopy copies
    only the structure; integer buffers (e.g. index tables) keep their values. In eval mode.
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


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


@dataclass
class _Run:
    """What one traced forward pass leaves: its calls, the copy it ran, what it read."""

    calls: list[_Call]
    clone: nn.Module
    read: set[int]
    device: torch.device


def _run(model: nn.Module, input_size: tuple[int, ...], device: torch.device) -> _Run:
    """Trace one forward pass of a shadow copy on ``device``. Raises ``_Failed`` when the
    forward pass raises."""
    try:
        clone = _shadow_copy(model, device)
    except Exception as err:
        raise TypeError(f"trace copies the model (copy.deepcopy, without its weights' data) "
                        f"and could not copy this {type(model).__name__}: {_first_line(err)}"
                        ) from err
    dtype = next((p.dtype for p in clone.parameters() if p.is_floating_point()), torch.float32)
    x = (torch.empty(input_size, dtype=dtype, device=device) if device.type == "meta"
         else torch.zeros(input_size, dtype=dtype, device=device))
    rec = _Recorder({m: name for name, m in clone.named_modules()}, x,
                    F_.input_field(input_size))
    for m in clone.modules():
        m.register_forward_pre_hook(rec.pre_hook, with_kwargs=True)
        m.register_forward_hook(rec.hook, with_kwargs=True)
    try:
        with torch.no_grad(), rec:
            clone(x)
    except Exception as err:
        raise _Failed(err, rec.calls, [rec.calls[i] for i in rec.stack]) from err
    return _Run(rec.calls, clone, rec.read, device)


def _trace_error(model, input_size, failed: _Failed) -> TraceError:
    err, calls, open_calls = failed.error, failed.calls, failed.open
    if isinstance(err, _Unbatched):
        c = err.call
        return TraceError(
            f"{type(model).__name__} cannot take input_size {format_shape(input_size)}: it has "
            f"no batch dimension (module '{c.name or '(model)'}' ({type(c.module).__name__}) "
            f"takes (N, C) and {err.dims} spatial axes, and got {format_shape(c.x_shape)}); "
            f"trace expects the batch first, e.g. input_size {(1, *input_size)}",
            c.name, type(c.module).__name__, c.input_shapes, tuple(input_size))
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


def _unused_modules(clone: nn.Module, unused: set[int]) -> tuple[str, ...]:
    """The outermost modules all of whose parameters and fixed buffers are in ``unused``."""
    names: list[str] = []
    for name, m in clone.named_modules():
        if any(name.startswith(n + ".") for n in names):
            continue
        held = [id(t) for t in itertools.chain(m.parameters(), fixed_buffers(m))]
        if held and all(i in unused for i in held):
            names.append(name or "(model)")
    return tuple(names)


def _totals(run: _Run) -> Totals:
    """Every parameter and fixed buffer of the model once; connections and MACs of the
    counted calls; what the forward did not read, apart."""
    params = list(run.clone.parameters())
    buffers = list(fixed_buffers(run.clone))
    unused = {id(t) for t in itertools.chain(params, buffers) if id(t) not in run.read}
    unused_trainable = sum(p.numel() for p in params if p.requires_grad and id(p) in unused)
    unused_fixed = sum(t.numel() for t in itertools.chain(params, buffers)
                       if not t.requires_grad and id(t) in unused)
    counted = [c for c in run.calls if c.counted and c.done]
    unknown = any(c.connections is None for c in counted)
    return Totals(
        count_parameters(run.clone, trainable=True),
        count_parameters(run.clone, trainable=False) + count_fixed_buffers(run.clone),
        None if unknown else sum(c.connections for c in counted),
        None if unknown else sum(c.macs for c in counted),
        unused_trainable, unused_fixed, _unused_modules(run.clone, unused) if unused else ())


def _to_row(c: _Call) -> Row:
    if c.call == 1:
        trainable = count_parameters(c.module, trainable=True)
        fixed = count_parameters(c.module, trainable=False) + count_fixed_buffers(c.module)
    else:
        trainable = fixed = 0
    weight = getattr(c.module, "weight", None)
    f = c.field_out or F_.UNKNOWN
    return Row(
        name=c.name, type=type(c.module).__name__, depth=c.depth, call=c.call,
        leaf=next(iter(c.module.children()), None) is None, layer=c.counted, in_layer=c.nested,
        input_shapes=c.input_shapes, output_shape=c.output_shape,
        weight_shape=tuple(weight.shape) if isinstance(weight, torch.Tensor) else None,
        trainable=trainable, fixed=fixed, connections=c.connections, macs=c.macs,
        rf=f.rf, jump=f.jump if f.rf is not None else None)


def _run_with_fallback(model: nn.Module, input_size, dev: torch.device) -> _Run:
    """``_run`` on ``dev``; on the CPU (with a warning) if the meta device cannot run it."""
    try:
        return _run(model, input_size, dev)
    except _Failed as failed:
        err, open_calls = failed.error, failed.open
        meta_problem = isinstance(err, NotImplementedError) or "meta" in str(err).lower()
        if dev.type != "meta" or not meta_problem:
            raise _trace_error(model, input_size, failed) from err
        where = (f"module '{open_calls[-1].name}' ({type(open_calls[-1].module).__name__})"
                 if open_calls and open_calls[-1].name else type(model).__name__)
        warnings.warn(f"trace: {where} cannot run on the meta device ({_first_line(err)}); "
                      "traced on the CPU instead", RuntimeWarning, stacklevel=3)
    try:
        return _run(model, input_size, torch.device("cpu"))
    except _Failed as failed_again:
        raise _trace_error(model, input_size, failed_again) from failed_again.error


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

    Returns a ``Trace``: the rows (see ``Row``; counts per sample), the totals (every parameter
    of the model, and apart those the forward did not use), and a text (``str``) and HTML
    rendering. Raises ``TraceError`` (a ValueError) naming the module that rejected the input,
    its input shapes and the last module that ran, or saying that the input has no batch
    dimension.
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
    run = _run_with_fallback(model, input_size, dev)
    # the model itself is a row only when it is a single layer (trace(nn.Conv2d(...), ...))
    # calls that raised (and whose error the model caught) are left out
    rows = [_to_row(c) for c in run.calls
            if c.done and (c.name or (c.counted and c.depth == 0))]
    if depth is not None:
        rows = [r for r in rows if not r.in_layer
                and (r.depth == depth or (r.depth < depth and (r.leaf or r.layer)))]
    return Trace(rows, _totals(run), type(model).__name__, input_size, str(run.device),
                 TRACE_COLUMNS)


def layer_table(model: nn.Module, input_size, depth: int | None = None,
                device="meta") -> Trace:
    """The per-layer table of LeCun et al. (1998) for any model: one row per layer.

    Columns: layer (qualified name), type, output shape, trainable parameters, fixed
    parameters, connections, MACs (per sample; the rules are in ``cnnkit.inspect``'s
    docstring). A layer is a module with a counting rule or without children (``Row.layer``;
    its parts, like the activation module of a ``Subsampling``, are not rows), or with
    ``depth`` the modules down to that depth (see ``trace``). For ``LeNet5Classic`` and input
    (1, 1, 32, 32) the rows are the paper's table, 60,000 trainable parameters and 340,908
    connections in all (the rows are not printed here: counting them is an exercise).

    Returns a ``Trace`` (a sequence of ``Row``) that prints as a text table and shows as HTML.
    Raises ``TraceError`` naming the layer and the shapes when the model rejects the input.
    """
    t = trace(model, input_size, device=device, depth=depth)
    rows = [r for r in t.rows if r.layer] if depth is None else t.rows
    return Trace(rows, t.totals, t.model_name, t.input_size, t.device, LAYER_COLUMNS)
