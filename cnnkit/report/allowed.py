"""Allowed values of notebook parameters, declared in the comments of the ``parameters`` cell.

The comment after an assignment (what ``papermill.inspect_notebook`` reports as ``help``) may
declare the values ``cnnkit report`` accepts, anywhere in its text::

    digit = 7              # which MNIST digit, 0..9
    lr = 0.01              # learning rate, 0.0001..1
    epochs = 8             # epochs of the main run, 1..
    optimizer = "adam"     # one of: "adam", "sgd"; SGD uses momentum 0.9
    depth = 50             # one of: 18, 34, 50, 101, 152

* **Range** ``LOW..HIGH``: both bounds inclusive, either one may be left out (``1..`` means
  at least 1, ``..0.5`` at most 0.5); bounds are integers or decimals (``-1``, ``0.5``,
  ``1e-4``). For number parameters (or parameters whose default is ``None``: ``None`` stays
  allowed).
* **Choices** ``one of: V1, V2, ...`` (any case): Python literals separated by commas, up to
  a ``;`` or the end of the comment; a bare word counts as a string (``one of: adam, sgd``).

A parameter may declare both (the value must satisfy both), or neither (any value of the
right type). A declaration that cannot be read, or that the parameter's own default breaks,
is an error (:class:`~cnnkit.report.params.ParameterError`) reported before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cnnkit.report.params import (
    NO_DEFAULT,
    NotebookParameter,
    ParameterError,
    literal,
    split_values,
    value_text,
)

__all__ = ["AllowedValues", "allowed_values", "check_allowed", "parse_allowed"]

_NUMBER = r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
_RANGE = re.compile(rf"(?<![\w.])(?P<low>{_NUMBER})?\.\.(?P<high>{_NUMBER})?(?![\w.])")
_CHOICES = re.compile(r"\bone of:", re.IGNORECASE)
_BARE_WORD = re.compile(r"[A-Za-z_][\w.+-]*")
_NOT_RANGED = (bool, str, list, tuple, dict)


@dataclass(frozen=True)
class AllowedValues:
    """What a parameter accepts: ``low..high`` (inclusive, ``None``: open) and/or ``choices``.

    ``text`` is the declaration as written, for messages.
    """

    low: int | float | None = None
    high: int | float | None = None
    choices: tuple[Any, ...] | None = None
    text: str = ""

    @property
    def ranged(self) -> bool:
        return self.low is not None or self.high is not None

    def range_text(self) -> str:
        return f"{value_text(self.low) if self.low is not None else ''}.." + (
            value_text(self.high) if self.high is not None else "")

    def violation(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (``"11 is outside 0..9"``), or ``None`` if it is."""
        shown = repr(value) if isinstance(value, str) else value_text(value)
        if self.choices is not None and not any(_same(value, c) for c in self.choices):
            options = ", ".join(repr(c) for c in self.choices)
            return f"{shown} is not one of {options}"
        if self.ranged and value is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{shown} is not a number in {self.range_text()}"
            if (self.low is not None and value < self.low) or (
                    self.high is not None and value > self.high):
                return f"{shown} is outside {self.range_text()}"
        return None


def _same(value: Any, choice: Any) -> bool:
    """Equal, and not a bool matched with a number (``True == 1`` in Python)."""
    return isinstance(value, bool) == isinstance(choice, bool) and value == choice


def _number(text: str | None) -> int | float | None:
    if text is None:
        return None
    return float(text) if any(c in text for c in ".eE") else int(text)


def _choice(item: str) -> Any:
    if not item:
        raise ValueError("an empty choice (two commas, or a trailing comma)")
    value = literal(item)
    if value is not NO_DEFAULT:
        return value
    if _BARE_WORD.fullmatch(item):
        return item
    raise ValueError(f"{item!r} is neither a Python literal nor a bare word")


def _split_choices(help_text: str) -> tuple[tuple[Any, ...] | None, str]:
    """The choices declared in ``help_text`` and the text left around them."""
    found = _CHOICES.search(help_text)
    if found is None:
        return None, help_text
    rest = help_text[found.end():]
    listed = split_values(rest, separator=";")[0]
    end = found.end() + rest.find(listed) + len(listed)
    choices = tuple(_choice(item) for item in split_values(listed))
    return choices, help_text[: found.start()] + " " + help_text[end:]


def parse_allowed(help_text: str) -> AllowedValues | None:
    """The allowed values declared in a parameter's comment, or ``None`` if it declares none.

    Raises ``ValueError`` (saying why) for a declaration that cannot be read.
    """
    choices, rest = _split_choices(help_text)
    ranges = list(_RANGE.finditer(rest))
    ranges = [m for m in ranges if m["low"] is not None or m["high"] is not None]
    if len(ranges) > 1:
        raise ValueError(f"more than one range ({', '.join(m[0] for m in ranges)})")
    low = _number(ranges[0]["low"]) if ranges else None
    high = _number(ranges[0]["high"]) if ranges else None
    if low is not None and high is not None and low > high:
        raise ValueError(f"the range {ranges[0][0]} is empty")
    if choices is None and not ranges:
        return None
    return AllowedValues(low=low, high=high, choices=choices, text=help_text)


def _declaration_error(param: NotebookParameter, notebook: str, why: str) -> ParameterError:
    where = f"{notebook}, " if notebook else ""
    return ParameterError(f"{where}parameter {param.name!r}: cannot use the allowed values "
                          f"declared in its comment {param.help!r}: {why}")


def allowed_values(param: NotebookParameter, notebook: str = "") -> AllowedValues | None:
    """The allowed values ``param`` declares, checked against its type and its own default.

    Raises ``ParameterError`` for a declaration that cannot be read, a range on a parameter
    that is not a number, or a default the declaration does not allow.
    """
    try:
        allowed = parse_allowed(param.help)
    except ValueError as exc:
        raise _declaration_error(param, notebook, str(exc)) from None
    if allowed is None:
        return None
    if allowed.ranged and param.type in _NOT_RANGED:
        kind = param.type.__name__
        raise _declaration_error(param, notebook,
                                 f"a range needs a number, and the default is a {kind}")
    if param.has_default:
        why = allowed.violation(param.default)
        if why is not None:
            raise _declaration_error(param, notebook, f"its default {why}")
    return allowed


def check_allowed(param: NotebookParameter, value: Any, notebook: str = "") -> Any:
    """Return ``value`` if ``param``'s declaration allows it; else raise ``ParameterError``.

    The message names the parameter, ``notebook``, the value and what is allowed.
    """
    allowed = allowed_values(param, notebook)
    why = None if allowed is None else allowed.violation(value)
    if why is not None:
        where = f" of {notebook}" if notebook else ""
        raise ParameterError(f"parameter {param.name!r}{where}: {why} "
                             f"(declared in the parameters cell: {param.help!r})")
    return value


def check_declarations(params: Mapping[str, NotebookParameter], notebook: str = "") -> None:
    """Raise ``ParameterError`` if any parameter's declaration is unreadable or inconsistent."""
    for param in params.values():
        allowed_values(param, notebook)
