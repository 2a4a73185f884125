"""A notebook's parameters: read from its ``parameters`` cell, and command-line values converted.

:func:`notebook_parameters` reads the cell tagged ``parameters`` with
``papermill.inspect_notebook``; :func:`convert_value` turns a command-line string into the type
of a parameter's default; :func:`parse_parameter_option` and :func:`split_values` read
``-p NAME=VALUE[,VALUE...]``. Allowed values declared in the cell's comments are read by
:mod:`cnnkit.report.allowed`.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnkit.metrics import _jsonable

__all__ = [
    "NotebookParameter",
    "ParameterError",
    "convert_value",
    "describe",
    "notebook_parameters",
    "parse_parameter_option",
    "split_values",
    "value_text",
]


class ParameterError(ValueError):
    """A parameter option that cannot be used: unknown name, bad value, mismatched ``--zip``.

    Raised before anything has run or been written (the command line reports it as a usage
    error, exit status 2).
    """


NO_DEFAULT: Any = object()  # the default is not a Python literal (e.g. Path("data"))
_TYPES: dict[str, type] = {
    "bool": bool, "int": int, "float": float, "str": str, "list": list, "tuple": tuple,
    "dict": dict,
}
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_INT = re.compile(r"[+-]?\d[\d_]*")
_LITERAL_HINT = " (write it as a Python literal, e.g. [1, 2])"
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell, as papermill infers it.

    ``type`` is the annotation if there is one (``epochs: int = 3``), else the type of the
    default (``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple`` or ``dict``), or
    ``None`` when neither says (values are then read as Python literals, else strings).
    ``default`` is the default as a Python value (absent when it is not a literal),
    ``default_text`` as written in the cell and ``help`` the comment after it.
    """

    name: str
    type: type | None
    default_text: str
    help: str = ""
    default: Any = NO_DEFAULT

    @property
    def has_default(self) -> bool:
        """True if the default is a Python literal (so it can be compared with values)."""
        return self.default is not NO_DEFAULT


def format_escaped(path: Path) -> str:
    """``path`` as a string that survives papermill's ``str.format`` of notebook paths."""
    return str(path).replace("{", "{{").replace("}", "}}")


def literal(text: str) -> Any:
    """``ast.literal_eval(text)``, or :data:`NO_DEFAULT` when ``text`` is not a literal."""
    try:
        return ast.literal_eval(text)
    except _LITERAL_ERRORS:
        return NO_DEFAULT


def _parameter(name: str, info: Mapping[str, Any]) -> NotebookParameter:
    text = str(info.get("default", "")).strip()
    default = literal(text)
    annotation = str(info.get("inferred_type_name") or "None").strip()
    kind = _TYPES.get(annotation.split("[")[0].lower())
    if kind is None and default is not NO_DEFAULT and default is not None:
        kind = type(default) if type(default) in _TYPES.values() else None
    return NotebookParameter(name=name, type=kind, default_text=text,
                             help=str(info.get("help", "") or "").strip(), default=default)


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, NotebookParameter]:
    """The parameters of ``notebook``'s cell tagged ``parameters``, by name, in cell order.

    Uses ``papermill.inspect_notebook``; a notebook without such a cell has none (empty
    dict). Raises ``ParameterError`` if the notebook cannot be read.
    """
    import papermill

    notebook = Path(notebook)
    try:
        inferred = papermill.inspect_notebook(format_escaped(notebook))
    except Exception as exc:  # unreadable JSON, no kernelspec, ...
        raise ParameterError(f"cannot read the parameters of {notebook}: {exc}") from exc
    return {name: _parameter(name, info) for name, info in inferred.items()}


def split_values(text: str, separator: str = ",") -> list[str]:
    """Split ``V1,V2,...`` at the ``separator`` characters outside brackets and quotes.

    ``"[1,2],[3,4]"`` gives two values and ``'"a,b",c'`` gives ``'"a,b"'`` and ``"c"``;
    values are stripped of surrounding blanks.
    """
    values: list[str] = []
    current: list[str] = []
    depth = 0
    quote_char: str | None = None
    for ch in text:
        if quote_char:
            quote_char = None if ch == quote_char else quote_char
        elif ch in "\"'":
            quote_char = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == separator and depth == 0:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    values.append("".join(current).strip())
    return values


def parse_parameter_option(text: str) -> tuple[str, list[str]]:
    """Parse one ``-p NAME=VALUE[,VALUE...]`` option into the name and its value strings.

    Raises ``ValueError`` if there is no ``=`` or the name is not a Python identifier.
    """
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"expected NAME=VALUE[,VALUE...], got {text!r}")
    if not name.isidentifier():
        raise ValueError(f"not a parameter name: {name!r} (in {text!r})")
    return name, split_values(values)


def _unquote(text: str) -> str:
    """``text`` without one pair of matching surrounding quotes, if it has them."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _type_name(kind: type | None) -> str:
    return "value" if kind is None else kind.__name__


def _bad_value(param: NotebookParameter, text: str, notebook: str, why: str = "") -> ParameterError:
    where = f" of {notebook}" if notebook else ""
    name = _type_name(param.type)
    article = "an" if name[0] in "aeiou" else "a"
    return ParameterError(f"parameter {param.name!r}{where}: {text!r} is not {article} {name}"
                          f"{why} (default: {param.default_text})")


def _to_bool(raw: str) -> bool | None:
    if raw.lower() in _TRUE:
        return True
    return False if raw.lower() in _FALSE else None


def _to_number(kind: type, raw: str) -> int | float | None:
    if kind is int:
        return int(raw) if _INT.fullmatch(raw) else None
    try:
        return float(raw)
    except ValueError:
        return None


def _to_container(kind: type, raw: str) -> Any:
    value = literal(raw)
    if kind in (list, tuple) and isinstance(value, (list, tuple)):
        return kind(value)
    if kind is dict and isinstance(value, dict):
        return value
    return NO_DEFAULT


def convert_value(param: NotebookParameter, text: str, notebook: str = "") -> Any:
    """Convert the command-line ``text`` for ``param`` to the type of its default.

    ``bool`` accepts true/false, 1/0, yes/no, on/off (any case); ``int`` whole numbers
    only; ``float`` anything ``float()`` reads; ``str`` the text (surrounding quotes
    removed); ``list``/``tuple``/``dict`` a Python literal of that type (``[1, 2]``).
    Without a known type, a Python literal if ``text`` is one, else the text. Raises
    ``ParameterError`` naming the parameter (and ``notebook``) for a value that does not
    convert.
    """
    kind, raw = param.type, text.strip()
    if kind is bool:
        value = _to_bool(raw)
        if value is None:
            raise _bad_value(param, text, notebook, " (use true/false, yes/no or 1/0)")
        return value
    if kind in (int, float):
        number = _to_number(kind, raw)
        if number is None:
            raise _bad_value(param, text, notebook)
        return number
    if kind is str:
        return _unquote(text)
    if kind in (list, tuple, dict):
        value = _to_container(kind, raw)
        if value is NO_DEFAULT:
            why = "" if literal(raw) is not NO_DEFAULT else _LITERAL_HINT
            raise _bad_value(param, text, notebook, why)
        return value
    value = literal(raw)
    return text if value is NO_DEFAULT else value


def value_text(value: Any) -> str:
    """A short, readable text for a parameter or metric value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    return json.dumps(_jsonable(value, "value"), ensure_ascii=False, separators=(",", ":"))


def describe(parameters: Mapping[str, Any]) -> str:
    """``name=value, ...``, or ``"defaults"`` when there are no parameters."""
    shown = [f"{k}={value_text(v)}" for k, v in parameters.items()]
    return ", ".join(shown) if shown else "defaults"
