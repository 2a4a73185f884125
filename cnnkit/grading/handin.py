"""The verdict on one graded part, computed in the grader's process from plain data.

A hidden test hands back a payload (``cnnkit.grading.probe``): the values the student's code
produced on hidden inputs, the forbidden calls it made, the error that stopped it. ``verdict``
compares it with the payload of the reference solution on the same inputs (decoded the same
way: JSON, arrays from ``.npy`` bytes with ``allow_pickle=False``) and returns whether the part
scores and one line of feedback that never shows an expected value.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Verdict", "decode", "verdict", "PROPERTIES"]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str


def decode(data: Any) -> Any:
    """The inverse of ``probe.encode``; raises ``ValueError`` on anything else."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if not isinstance(data, dict) or len(data) != 1:
        raise ValueError(f"not a hand-in value: {str(data)[:80]}")
    (tag, body), = data.items()
    if tag == "npy":
        return np.load(io.BytesIO(base64.b64decode(body, validate=True)), allow_pickle=False)
    if tag == "list":
        return [decode(v) for v in body]
    if tag == "dict":
        return {str(k): decode(v) for k, v in body}
    if tag == "unsupported":
        return _Unsupported(str(body))
    raise ValueError(f"unknown hand-in tag {tag!r}")


@dataclass(frozen=True)
class _Unsupported:
    type_name: str


def _numeric(x: Any) -> np.ndarray | None:
    """x as a numeric array (lists of numbers included), or None."""
    if isinstance(x, (bool, str)) or x is None or isinstance(x, (dict, _Unsupported)):
        return None
    try:
        array = np.asarray(x)
    except (ValueError, TypeError):
        return None
    return array if array.dtype.kind in "biuf" else None


def _differs_dict(got: Any, want: dict, rtol: float, atol: float, where: str) -> str | None:
    if not isinstance(got, dict) or set(got) != set(want):
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        return f"{where}: expected the keys {sorted(want)}; got {keys}"
    for key in want:
        why = _differs(got[key], want[key], rtol, atol, f"{where}[{key!r}]")
        if why:
            return why
    return None


def _differs_list(got: Any, want: list, rtol: float, atol: float, where: str) -> str | None:
    if isinstance(got, np.ndarray) and got.ndim:
        got = list(got)
    if not isinstance(got, list) or len(got) != len(want):
        size = len(got) if isinstance(got, list) else type(got).__name__
        return f"{where}: expected {len(want)} items; got {size}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        why = _differs(g, w, rtol, atol, f"{where}[{i}]")
        if why:
            return why
    return None


def _differs(got: Any, want: Any, rtol: float, atol: float, where: str) -> str | None:
    """Why ``got`` is not ``want`` (without showing ``want``), or None when it matches."""
    if isinstance(got, _Unsupported):
        return f"{where}: a {got.type_name} cannot be graded; return numbers, arrays or tensors"
    if isinstance(want, dict):
        return _differs_dict(got, want, rtol, atol, where)
    if isinstance(want, list):
        return _differs_list(got, want, rtol, atol, where)
    w = _numeric(want)
    if w is None:  # strings, None, booleans: exact
        same = type(got) is type(want) or (isinstance(want, bool) and isinstance(got, np.bool_))
        return None if same and got == want else f"{where}: wrong value ({type(got).__name__})"
    g = _numeric(got)
    if g is None:
        return f"{where}: expected numbers; got {type(got).__name__}"
    if g.shape != w.shape:
        return f"{where}: shape {g.shape}, expected {w.shape}"
    if w.dtype.kind in "biu":
        return None if np.array_equal(g, w) else f"{where}: wrong values"
    if not np.allclose(g.astype(float), w.astype(float), rtol=rtol, atol=atol, equal_nan=True):
        return f"{where}: wrong values"
    return None


def _crop_flip(value: Any) -> str | None:
    """``{"x": (N, C, H, W), "out": (N, C, H, W)}``: every out[i] is an H x W crop of x[i]
    padded by 4 zeros, maybe mirrored left-right, and the crops and flips vary per sample."""
    if not isinstance(value, dict) or {"x", "out"} - set(value):
        return "expected the input and output of the augmentation"
    x, out = _numeric(value["x"]), _numeric(value["out"])
    if x is None or out is None or x.ndim != 4 or out.shape != x.shape:
        return f"the output must have the input's shape {getattr(x, 'shape', '?')}"
    _, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    choices = []
    for i in range(len(x)):
        found = [(top, left, flip) for top in range(9) for left in range(9) for flip in (0, 1)
                 if np.array_equal(out[i], (lambda c: c[..., ::-1] if flip else c)(
                     padded[i, :, top:top + h, left:left + w]))]
        if not found:
            return f"image {i}: not a crop of the 4-zero-padded image (flipped or not)"
        choices.append(found[0])
    if len({c[:2] for c in choices}) < 2 or len({c[2] for c in choices}) < 2:
        return "every image got the same crop or the same flip: draw them per image"
    return None


PROPERTIES: dict[str, Callable[[Any], str | None]] = {"crop_flip": _crop_flip}


def _problems(payload: dict | None, what: str) -> str | None:
    """Why a payload cannot score at all, or None."""
    if payload is None:
        return f"{what} did not run"
    if payload.get("error"):
        return f"{what} stopped: {payload['error']}"
    if payload.get("forbidden"):
        calls = ", ".join(str(c).rsplit("/", 1)[-1] for c in payload["forbidden"])
        return f"{what} called code this part forbids ({calls}): write it yourself"
    if payload.get("tampered"):
        return f"{what}: {'; '.join(map(str, payload['tampered']))}"
    return None


def verdict(got: dict | None, reference: dict) -> Verdict:
    """Compare a student's payload with the reference payload for the same part and inputs."""
    problem = _problems(reference, "the reference solution")
    if problem:
        raise RuntimeError(problem)
    problem = _problems(got, "your code, on the hidden inputs,")
    if problem:
        return Verdict(False, problem)
    want, values = reference["values"], got.get("values")
    if not isinstance(values, list) or len(values) != len(want):
        return Verdict(False, f"expected {len(want)} outputs from the hidden tests; got "
                              f"{len(values) if isinstance(values, list) else 'none'}")
    for k, ((name, want_data, meta), entry) in enumerate(zip(want, values, strict=True)):
        where = f"hidden case {k + 1} ({name})"
        try:
            value = decode(entry[1])
        except (ValueError, TypeError, IndexError) as err:
            return Verdict(False, f"{where}: unreadable ({err})")
        check = meta.get("check")
        why = (PROPERTIES[check](value) if check else
               _differs(value, decode(want_data), meta["rtol"], meta["atol"], where))
        if why:
            return Verdict(False, why if why.startswith(where) else f"{where}: {why}")
    return Verdict(True, f"right on all {len(want)} hidden outputs")
