"""Receptive field and jump of the tensors of a traced forward pass, per spatial axis.

A ``Field`` describes a map of spatial ``size``: output unit o along an axis depends on the
input pixels ``start + o * jump`` to ``start + o * jump + rf - 1`` (input pixel units;
``start`` < 0 when padding reaches outside the input). A window (kernel k, stride s, left
padding p, dilation d) turns (rf, jump, start) into (rf + d(k-1) jump, jump s, start - p jump);
element-wise operations and concatenation take the union of their inputs' intervals (the
smallest interval holding them all, what autograd finds), a broadcast value (a 1x1 map, as
squeeze-and-excitation's scales) counting with the same interval for every output; an
operation that removes the spatial axes (flatten, mean over them) makes every output depend on
the whole map: rf + (size - 1) jump, and there is no jump any more (None). Basic slicing
(``x[:, :, ::2, ::2]``) and ``F.pad`` move the field like a 1x1 window. Anything else that
changes the spatial size gives an unknown field (rf None) from there on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cnnkit.inspect.rules import Window, adaptive_window, conv_padding

__all__ = ["Field", "input_field", "step", "union", "after_function", "spatial"]


@dataclass(frozen=True)
class Field:
    """rf, jump, start: per spatial axis (rf None: unknown; rf (): the model's input has no
    spatial axes; jump None: no longer a spatial map). size: the map's spatial size."""

    rf: tuple[int, ...] | None
    jump: tuple[int, ...] | None
    size: tuple[int, ...] | None
    start: tuple[int, ...] | None = None


UNKNOWN = Field(None, None, None)


def spatial(shape) -> tuple[int, ...] | None:
    """The spatial axes of a (N, C, ...) shape, or None for fewer than 3 dimensions."""
    return tuple(shape[2:]) if shape is not None and len(shape) >= 3 else None


def input_field(input_size: tuple[int, ...]) -> Field:
    """The field of the model's input: every pixel sees itself."""
    n = len(input_size) - 2
    if n < 1:
        return Field((), None, None)
    return Field((1,) * n, (1,) * n, tuple(input_size[2:]), (0,) * n)


def _known_map(f: Field) -> bool:
    return f.rf is not None and f.jump is not None and f.start is not None and bool(f.rf)


def collapse(f: Field) -> Field:
    """Every output depends on the whole map: no spatial axes any more."""
    if f.rf is None or f.rf == () or f.jump is None:
        return Field(f.rf, None, None, f.start)
    if f.size is None or f.start is None:
        return UNKNOWN
    rf = tuple(r + (n - 1) * j for r, n, j in zip(f.rf, f.size, f.jump, strict=True))
    return Field(rf, None, None, f.start)


def step(f: Field, w: Window, sp_out) -> Field:
    """The field after a sliding window ``w`` producing a map of spatial size ``sp_out``."""
    if f.rf == ():
        return f
    sp_out = tuple(sp_out)
    if not _known_map(f) or not (len(f.rf) == len(w.kernel) == len(sp_out)):
        return Field(None, None, sp_out)
    rf = tuple(r + d * (k - 1) * j for r, k, d, j in zip(f.rf, w.kernel, w.dilation, f.jump,
                                                          strict=True))
    jump = tuple(j * s for j, s in zip(f.jump, w.stride, strict=True))
    start = tuple(a - p * j for a, p, j in zip(f.start, w.padding, f.jump, strict=True))
    return Field(rf, jump, sp_out, start)


def union(fields: list[Field], sp_out) -> Field | None:
    """The field of an element-wise combination (or concatenation) of maps of size ``sp_out``.

    None when no input depends on the model's input (constants)."""
    if not fields:
        return None
    if any(f.rf == () for f in fields):
        return fields[0]
    sp_out = tuple(sp_out) if sp_out is not None else None
    if any(f.rf is None or f.start is None for f in fields):
        return Field(None, None, sp_out)
    same_map = all(f.jump is not None and f.size == sp_out for f in fields)
    collapsed = sp_out is None and all(f.jump is None for f in fields)
    if not (same_map or collapsed):
        return _broadcast_union(fields, sp_out)
    if any(f.jump != fields[0].jump for f in fields):
        return Field(None, None, sp_out)
    first = fields[0]
    starts = tuple(min(axis) for axis in zip(*(f.start for f in fields), strict=True))
    ends = tuple(max(axis) for axis in zip(*(tuple(a + r for a, r in zip(f.start, f.rf,
                                                                          strict=True))
                                              for f in fields), strict=True))
    rf = tuple(e - a for a, e in zip(starts, ends, strict=True))
    return Field(rf, first.jump, first.size, starts)


def _broadcast_union(fields: list[Field], sp_out) -> Field:
    """Maps of size ``sp_out`` combined with broadcast values (a 1x1 map, or values with no
    map left, e.g. squeeze-and-excitation's channel scales): each broadcast value depends on
    the same fixed interval for every output, so the width of the union varies along the map;
    the widest (at one end of the map) is the receptive field."""
    maps = [f for f in fields if f.jump is not None and f.size == sp_out]
    fixed = [f for f in fields if f not in maps
             and (f.jump is None or (f.size is not None and set(f.size) == {1}))]
    if (sp_out is None or not maps or len(maps) + len(fixed) != len(fields)
            or any(len(f.rf) != len(sp_out) for f in fields)):
        return Field(None, None, sp_out)
    base = union(maps, sp_out)
    if base.rf is None:
        return base
    rf, start = [], []
    for axis, n in enumerate(sp_out):
        lo = min(f.start[axis] for f in fixed)
        hi = max(f.start[axis] + f.rf[axis] for f in fixed)
        a, r, j = base.start[axis], base.rf[axis], base.jump[axis]
        rf.append(max(max(a + o * j + r, hi) - min(a + o * j, lo) for o in (0, n - 1)))
        start.append(min(a, lo))
    return Field(tuple(rf), base.jump, sp_out, tuple(start))


def after_shape(fields: list[Field], out_shape) -> Field | None:
    """The field of an output of shape ``out_shape`` computed by an operation without a window
    rule from inputs of ``fields``: element-wise (same spatial size), collapsing (no spatial
    axes left), computed from values that already see the whole map, or unknown."""
    if not fields:
        return None
    if all(f.rf is not None and f.jump is None for f in fields):  # no map left: new axes
        return union(list(fields), None)  # made from such values are not spatial either
    sp_out = spatial(out_shape)
    if sp_out is None:  # (N, F) or fewer axes: every output may see the whole map
        return union([collapse(f) for f in fields], None)
    return union(fields, sp_out)


# ---------------------------------------------------------------------------------------------
# Functions with a window (called in a forward between modules, e.g. Inception's branches)
# ---------------------------------------------------------------------------------------------


def _arg(args, kwargs, i: int, name: str, default=None):
    return args[i] if len(args) > i else kwargs.get(name, default)


def _n(value, n: int) -> tuple[int, ...]:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def _conv_fn(args, kwargs, n: int) -> Window:
    k = tuple(_arg(args, kwargs, 1, "weight").shape[2:])
    d = _n(_arg(args, kwargs, 5, "dilation", 1), n)
    return Window(k, _n(_arg(args, kwargs, 3, "stride", 1), n),
                  conv_padding(_arg(args, kwargs, 4, "padding", 0), k, d), d)


def _max_pool_fn(args, kwargs, n: int) -> Window:
    k = _n(_arg(args, kwargs, 1, "kernel_size"), n)
    s = _arg(args, kwargs, 2, "stride", None)
    return Window(k, _n(s, n) if s not in (None, [], ()) else k,
                  _n(_arg(args, kwargs, 3, "padding", 0), n),
                  _n(_arg(args, kwargs, 4, "dilation", 1), n))


def _avg_pool_fn(args, kwargs, n: int) -> Window:
    k = _n(_arg(args, kwargs, 1, "kernel_size"), n)
    s = _arg(args, kwargs, 2, "stride", None)
    return Window(k, _n(s, n) if s not in (None, [], ()) else k,
                  _n(_arg(args, kwargs, 3, "padding", 0), n), (1,) * n)


_WINDOW_FUNCTIONS = {}
for _dims in (1, 2, 3):
    for _fn in (getattr(torch, f"conv{_dims}d"), getattr(F, f"conv{_dims}d")):
        _WINDOW_FUNCTIONS[_fn] = (_conv_fn, _dims)
    for _fn in (getattr(F, f"max_pool{_dims}d"), getattr(F, f"max_pool{_dims}d_with_indices"),
                getattr(torch, f"max_pool{_dims}d", None)):
        _WINDOW_FUNCTIONS[_fn] = (_max_pool_fn, _dims)
    _WINDOW_FUNCTIONS[getattr(F, f"avg_pool{_dims}d")] = (_avg_pool_fn, _dims)
    for _fn in (getattr(F, f"adaptive_avg_pool{_dims}d"), getattr(F, f"adaptive_max_pool{_dims}d"),
                getattr(F, f"adaptive_max_pool{_dims}d_with_indices")):
        _WINDOW_FUNCTIONS[_fn] = (None, _dims)
_WINDOW_FUNCTIONS.pop(None, None)

_CONSTANT_FUNCTIONS = frozenset(
    getattr(torch.Tensor, name) for name in ("new_zeros", "new_ones", "new_empty", "new_full",
                                             "new_tensor")
) | frozenset((torch.zeros_like, torch.ones_like, torch.empty_like, torch.full_like,
               torch.rand_like, torch.randn_like, torch.randint_like))


def _pad_fn(f: Field, args, kwargs, sp_out) -> Field:
    """``F.pad``: the map grows by the left padding of each axis (pad lists the last axis
    first: (left, right, top, bottom, channel front, channel back, ...))."""
    pad = tuple(_arg(args, kwargs, 1, "pad"))
    n = len(f.rf)
    if not _known_map(f):
        return Field(None, None, tuple(sp_out))
    left = [0] * n
    for i in range(min(n, len(pad) // 2)):
        left[n - 1 - i] = int(pad[2 * i])
    return step(f, Window((1,) * n, (1,) * n, tuple(left), (1,) * n), sp_out)


def _slice_fn(f: Field, index, sp_in, sp_out) -> Field | None:
    """``x[..., a:b:s, c:d:t]``: basic slicing keeps every s-th pixel from a (a window of 1,
    stride s, left padding -a). None when ``index`` is not basic slicing."""
    items = list(index) if isinstance(index, tuple) else [index]
    if not all(isinstance(i, slice) or i is Ellipsis for i in items) or items.count(...) > 1:
        return None
    rank = 2 + len(sp_in)
    if ... in items:
        at = items.index(...)
        items = items[:at] + [slice(None)] * (rank - len(items) + 1) + items[at + 1:]
    items += [slice(None)] * (rank - len(items))
    if len(items) != rank or not _known_map(f) or len(f.rf) != len(sp_in):
        return None
    starts, steps = [], []
    for sl, n in zip(items[2:], sp_in, strict=True):
        start, _, stride = sl.indices(n)
        starts.append(-start)
        steps.append(stride)
    if min(steps) < 1:
        return None
    n = len(sp_in)
    return step(f, Window((1,) * n, tuple(steps), tuple(starts), (1,) * n), sp_out)


def after_function(func, args, kwargs, fields: list[Field], main: Field | None,
                   out_shape) -> Field | None:
    """The field of the output of ``func(*args, **kwargs)``, of ``out_shape``, whose tensor
    inputs have ``fields``; ``main``: the field of the first argument (None if it does not
    depend on the model's input). None for an output that does not depend on the input."""
    if func in _CONSTANT_FUNCTIONS or not fields:
        return None
    sp_out = spatial(out_shape)
    rule = _WINDOW_FUNCTIONS.get(func)
    if rule is not None and sp_out is not None and main is not None:
        window_of, n = rule
        x = args[0] if args else kwargs.get("input")
        sp_in = spatial(tuple(x.shape)) if isinstance(x, torch.Tensor) else None
        if sp_in is None or len(sp_in) != n or len(sp_out) != n:
            return Field(None, None, sp_out)
        w = window_of(args, kwargs, n) if window_of else adaptive_window(sp_in, sp_out)
        return step(main, w, sp_out)
    if func is F.pad and sp_out is not None and main is not None and main.rf:
        return _pad_fn(main, args, kwargs, sp_out)
    if (func is torch.Tensor.__getitem__ and sp_out is not None and main is not None
            and main.rf and len(args) > 1):
        sliced = _slice_fn(main, args[1], spatial(tuple(args[0].shape)), sp_out)
        if sliced is not None:
            return sliced
    return after_shape(fields, out_shape)
