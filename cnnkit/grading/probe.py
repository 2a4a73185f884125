"""Hand a graded part's outputs back to the grader: the only grading code that runs in the
student's kernel (hidden tests import it; it decides nothing).

A hidden test runs the student's code on inputs drawn from ``probe.rng`` (seeded by the grader
from its secret) and hands every output back as plain data::

    with Probe("conv_single", forbid=NUMPY_ONLY) as probe:
        for _ in range(4):
            image = probe.rng.standard_normal((7, 5))
            probe.hand_in("out", probe.call(conv2d_single, image, np.ones((2, 2))))

``call`` runs the student's function under a profiler hook (``sys.setprofile``) that records
every call into a forbidden package (Python code objects by file, C functions by module), by
what is actually called, whatever name it was imported under. At the end of the block the
probe publishes one display output of type ``MIME``: JSON with the values (arrays as ``.npy``
bytes in base64, never pickle), the forbidden calls seen and the error that stopped it, if any.
The trusted grader decodes it (``cnnkit.grading.handin``), compares it with what the reference
solution handed in for the same inputs, and decides the points.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import sys
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MIME", "SEED_ENV", "NUMPY_ONLY", "Probe", "encode", "part_seed"]

MIME = "application/vnd.cnnkit.handin+json"
SEED_ENV = "CNNKIT_GRADING_SEED"
# What a "plain Python and numpy" part may not call: the references it is compared with.
NUMPY_ONLY = ("cnnkit", "torch", "torchvision", "scipy", "sklearn")
_THIS_FILE = os.path.abspath(__file__)
_MAX_RECORDED = 5


def part_seed(part: str, seed: int | str | None = None) -> int:
    """The seed of a part's hidden inputs: from ``seed`` (default: ``$CNNKIT_GRADING_SEED``,
    set by the grader; 0 outside grading) and the part's name, so parts draw different inputs."""
    base = os.environ.get(SEED_ENV, "0") if seed is None else seed
    digest = hashlib.sha256(f"{base}:{part}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _locations(module: str) -> tuple[list[str], str | None]:
    """(source files or folders, module name) of an importable module; ([], None) if absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return [], None
    if spec is None:
        return [], None
    places = [str(Path(p).resolve()) + os.sep for p in spec.submodule_search_locations or ()]
    if not places and spec.origin:
        places = [str(Path(spec.origin).resolve())]
    return places, module


class _Forbidden:
    """What a part forbids: Python code under some files/folders, C functions of some modules."""

    def __init__(self, modules: Iterable[str]):
        prefixes, names = [], []
        for module in modules:
            places, name = _locations(module)
            prefixes += places
            if name:
                names.append(name)
        self.prefixes = tuple(prefixes)
        self.modules = tuple(names)

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.modules)

    def python(self, code: types.CodeType) -> bool:
        filename = code.co_filename
        return filename.startswith(self.prefixes) and filename != _THIS_FILE

    def c_function(self, fn: Any) -> str | None:
        module = getattr(fn, "__module__", None)
        if not module:
            owner = getattr(fn, "__self__", None)
            if isinstance(owner, types.ModuleType):
                module = owner.__name__
            elif owner is not None:
                module = type(owner).__module__
        if module and any(module == m or module.startswith(m + ".") for m in self.modules):
            return f"{module}.{getattr(fn, '__name__', '?')}"
        return None


def encode(value: Any) -> Any:
    """Plain JSON data for a value: numbers, strings, None as they are; arrays and tensors as
    ``{"npy": base64 of np.save}``; lists, tuples, ``torch.Size`` as ``{"list": [...]}``; dicts
    as ``{"dict": [[key, value], ...]}`` (keys as strings). Anything else: its type's name."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"unsupported": "object array"}
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(value), allow_pickle=False)
        return {"npy": base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(value, dict):
        return {"dict": [[str(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return {"list": [encode(v) for v in value]}
    return {"unsupported": type(value).__qualname__}


class Probe:
    """One graded part's hand-in: a context manager (see the module docstring).

    part: the test cell's grade_id. forbid: importable modules (packages included) whose code
    the student's code may not call while ``call`` runs it. sink: where the payload goes
    (default: a display output in IPython, else one JSON line on stdout).
    """

    def __init__(self, part: str, forbid: Iterable[str] = (), *, sink: Callable | None = None):
        self.part = part
        self.seed = part_seed(part)
        self.rng = np.random.default_rng(self.seed)
        self.values: list[list[Any]] = []
        self.forbidden: list[str] = []
        self.tampered: list[str] = []
        self.forbid = tuple(forbid)
        self._forbid = _Forbidden(self.forbid)
        self._sink = sink

    def torch_generator(self):
        """A ``torch.Generator`` seeded like ``rng``."""
        import torch

        return torch.Generator().manual_seed(self.seed)

    def _hook(self, frame, event, arg) -> None:
        if event == "call":
            if self._forbid.python(frame.f_code):
                self._record(f"{frame.f_code.co_filename}:{frame.f_code.co_qualname}")
        elif event == "c_call":
            found = self._forbid.c_function(arg)
            if found:
                self._record(found)

    def _record(self, what: str) -> None:
        if len(self.forbidden) < _MAX_RECORDED and what not in self.forbidden:
            self.forbidden.append(what)

    def call(self, fn: Callable, *args, **kwargs) -> Any:
        """``fn(*args, **kwargs)``, watched for forbidden calls."""
        if not self._forbid:
            return fn(*args, **kwargs)
        hook = self._hook
        previous = sys.getprofile()
        sys.setprofile(hook)
        try:
            return fn(*args, **kwargs)
        finally:
            current = sys.getprofile()
            sys.setprofile(previous)
            if current is not hook:
                self.tampered.append("the profiler hook was replaced while the answer ran")

    def hand_in(self, name: str, value: Any, *, rtol: float = 1e-5, atol: float = 1e-8,
                check: str | None = None) -> None:
        """Record one output. rtol/atol: float tolerance; check: a named property the grader
        tests instead of equality (``cnnkit.grading.handin.PROPERTIES``). Only the reference
        run's tolerances and checks count."""
        self.values.append([name, encode(value), {"rtol": rtol, "atol": atol, "check": check}])

    def payload(self, error: str | None = None) -> dict:
        return {"part": self.part, "forbid": list(self.forbid), "values": self.values,
                "forbidden": self.forbidden, "tampered": self.tampered, "error": error}

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        error = None if kind is None else f"{kind.__name__}: {exc}"[:300]
        self._publish(self.payload(error))
        return False

    def _publish(self, payload: dict) -> None:
        if self._sink is not None:
            self._sink(payload)
            return
        try:
            from IPython import get_ipython
            from IPython.display import publish_display_data
        except ImportError:
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            publish_display_data({MIME: payload})
        else:
            import json

            print(json.dumps({MIME: payload}))
