"""Argument validation shared by every module: ints that are not bools, pairs, choices, arrays.

Every error names the argument, what was given and what was expected, so a student who passes
a 3-D image to a 4-D function reads *why* it failed instead of a numpy broadcasting trace.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def is_int(value) -> bool:
    """True for an integer that is not a ``bool`` (``True`` is an ``int`` in Python)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int``; raise naming ``name`` if it is not an int in range.

    minimum, maximum: inclusive bounds, ``None`` for unbounded.
    """
    if not is_int(value):
        raise TypeError(f"{name} must be an int; got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value!r}")
    return int(value)


def check_real(value, name: str, minimum: float | None = None, maximum: float | None = None,
               finite: bool = True) -> float:
    """Return ``value`` as a ``float``; raise naming ``name`` unless a real in range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r} ({type(value).__name__})")
    value = float(value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}; got {value!r}")
    return value


def check_choice(value, name: str, choices):
    """Return ``value`` if it is one of ``choices``; else raise naming ``name`` and the choices."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def as_pair(value, name: str, minimum: int) -> tuple[int, int]:
    """Return ``value`` as a pair of ints ``(along H, along W)``.

    value: an int, or a pair (tuple/list) of two ints, each >= ``minimum``.
    name: the argument's name, used in the error message.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(
            f"{name} must be an int or a pair of ints (along H, along W); got {value!r}"
        )
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}")
    return pair


def as_float_array(x, name: str, ndim: int, layout: str) -> np.ndarray:
    """Return ``x`` as a floating-point numpy array with ``ndim`` dimensions.

    layout: the expected layout for the message, e.g. ``"(N, C, H, W)"``.
    Integer and boolean inputs are converted to float64; float16/32/64 keep their dtype.
    """
    try:
        arr = np.asarray(x)
    except Exception as exc:  # e.g. a tensor that requires grad
        raise TypeError(f"{name} must be array-like {layout}; got {type(x).__name__}") from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must hold numbers; got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real; got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(
            f"{name} must be {ndim}-D {layout}; got shape {tuple(arr.shape)} ({arr.ndim}-D)"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    return arr


def common_dtype(*arrays: np.ndarray) -> np.dtype:
    """The floating dtype the result of combining ``arrays`` should have."""
    return np.result_type(*[a.dtype for a in arrays if a is not None])
