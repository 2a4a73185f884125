"""The result type and helpers shared by the self-checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a self-check: ``passed`` and a one-line ``message``."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✔ " if self.passed else "✘ ") + self.message

    def _repr_html_(self) -> str:
        import html

        color = "#1a7f37" if self.passed else "#b00"
        return f"<span style='color:{color}'>{html.escape(repr(self))}</span>"


def _not_attempted(what: str) -> CheckResult:
    return CheckResult(False, f"not attempted yet: {what}")


def _first_difference(got: np.ndarray, expected: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(got - expected)), got.shape))


def _index_text(index: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in index)


def _off_by_one(got: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """Whether two (N, C, H, W) shapes agree but for H or W off by one: a slip in the
    output-size formula."""
    return len(got) == len(expected) and got[:-2] == expected[:-2] and all(
        abs(g - e) <= 1 for g, e in zip(got[-2:], expected[-2:], strict=True))


def _as_array(value, dtype=None) -> np.ndarray:
    """A student's result (array, list, number or tensor, even one that requires grad) -> a
    numpy array (of ``dtype`` when given). Raises TypeError or ValueError if it is none."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _as_floats(value) -> tuple[float, ...] | None:
    """A number, a sequence of numbers or a tensor/array -> a tuple of floats (None if not)."""
    try:
        arr = _as_array(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    return tuple(float(v) for v in arr)


def _call(fn: Callable, *args, where: str, as_array: bool = False
          ) -> tuple[object, CheckResult | None]:
    """Run a student's ``fn(*args)`` for one case of a check.

    Returns ``(result, None)``, or ``(None, failure)`` where ``failure`` says that the
    function is not attempted yet (it raises ``NotImplementedError``) or what it raised on
    the case described by ``where`` (e.g. "image (5, 5), size 2"): a student's bug is
    reported, never raised. With ``as_array``, the result comes back as a float64 array, and
    a result that is not an array of numbers is a failure too.
    """
    try:
        result = fn(*args)
    except NotImplementedError:
        return None, _not_attempted("the function still raises NotImplementedError")
    except Exception as err:  # the student's bug, reported rather than raised
        return None, CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
    if as_array:
        try:
            result = _as_array(result, np.float64)
        except (TypeError, ValueError) as err:
            return None, CheckResult(False, f"{where}: returned a {type(result).__name__}, "
                                            f"not an array of numbers ({err})")
    return result, None


def _check_answers(answers, expected: dict, *, what: str, questions: dict | None = None,
                   hint: str = "") -> CheckResult | None:
    """Compare a dict of answers with ``expected`` (same keys); ``None`` when all are right.

    Otherwise the failure: not attempted (``None``, empty, or every value still ``None``), not
    a dict, or which keys are wrong and what the student said (with ``questions[key]`` when
    given, and ``hint`` appended) -- never the expected values.
    what: the thing to fill in, e.g. "one parameter count per question".
    """
    if answers is None:
        return _not_attempted(f"fill in {what}")
    if not isinstance(answers, dict):
        example = next(iter(expected))
        return CheckResult(False, f"answers must be a dict like {{{example!r}: ...}}; got "
                                  f"{type(answers).__name__}")
    if not answers or all(v is None for v in answers.values()):
        return _not_attempted(f"fill in {what}")
    wrong = []
    for key, value in expected.items():
        got = answers.get(key)
        if got != value:
            label = f"{key} ({questions[key]})" if questions and key in questions else str(key)
            wrong.append(f"{label}: you said {got!r}")
    if wrong:
        return CheckResult(False, f"{len(wrong)} of {len(expected)} wrong: " + "; ".join(wrong)
                           + (f" ({hint})" if hint else ""))
    return None
