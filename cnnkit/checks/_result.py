"""The result type and helpers shared by the self-checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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


def _shape_text(value) -> str:
    return str(tuple(int(v) for v in np.shape(value)))


def _first_mismatch(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float
                    ) -> tuple[int, ...] | None:
    """The first index (reading order) where ``got`` and ``expected`` (same shape) are not
    close, or None where they all are. NaN is never close, not even to NaN."""
    bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))


def compare(got, expected, *, atol: float, rtol: float = 1e-5, what: str = "out",
            where: str = "", variants: Iterable[tuple[object, str]] = (), otherwise: str = "",
            shape_hint: str | Callable[[tuple[int, ...]], str] = "") -> CheckResult | None:
    """Compare a student's array with the reference: None when they agree, else the failure.

    got: the student's result, expected: the reference; each a numpy array, a torch tensor
    (even one that requires grad, on any device), a list or a number. They agree when their
    shapes are equal and every element is within ``atol + rtol * |expected|`` (numpy's
    ``allclose``, whose default rtol this is; NaN never agrees).
    what: the result's name in the messages, e.g. "out", "dx", "penalties".
    where: the case, e.g. "x (2, 3, 5, 5), stride=2"; the messages start with "where: ".

    The failure message says one of:
      - "output shape (2, 3), expected (2, 4)" (for ``what`` "out"; "dx has shape ..." for
        others), followed by ``shape_hint`` (text appended as it is, or a function of the
        student's shape returning that text, called only then);
      - "out[0, 2] = 1.5, expected 2": the first index, in reading order, that differs (4
        significant digits, more where those do not tell the two values apart); then
        "; " and the hint of the first of ``variants`` that ``got`` agrees with, or
        ``otherwise`` when none does. variants: (value, hint) pairs (a generator computes each
        only when it is reached), the value an array or a function of no argument returning
        one (called only on a failure): a known mistake's result, e.g. (the flipped kernel's
        output, "the kernel is flipped"). A variant of
        another shape, or one that agrees with ``expected`` itself, names no mistake.
      - that ``got`` is not an array of numbers.
    """
    prefix = f"{where}: " if where else ""
    try:
        got_a = _as_array(got, np.float64)
    except (TypeError, ValueError) as err:
        return CheckResult(False, f"{prefix}{what} must be an array of numbers; got "
                                  f"{type(got).__name__} ({err})")
    want = _as_array(expected, np.float64)
    if got_a.shape != want.shape:
        hint = shape_hint(tuple(got_a.shape)) if callable(shape_hint) else shape_hint
        label = "output shape" if what == "out" else f"{what} has shape"
        return CheckResult(False, f"{prefix}{label} {_shape_text(got_a)}, expected "
                                  f"{_shape_text(want)}{hint}")
    index = _first_mismatch(got_a, want, atol, rtol)
    if index is None:
        return None
    hint = next((text for value, text in variants
                 if _is_variant(got_a, want, value() if callable(value) else value, atol, rtol)),
                otherwise)
    where_text = f"[{_index_text(index)}]" if index else ""
    got_text, want_text = _distinct_texts(float(got_a[index]), float(want[index]))
    return CheckResult(False, f"{prefix}{what}{where_text} = {got_text}, expected {want_text}"
                              + (f"; {hint}" if hint else ""))


def _distinct_texts(a: float, b: float) -> tuple[str, str]:
    """``a`` and ``b`` with 4 significant digits, or as many more as it takes to tell them
    apart (0.09804 vs 0.09804 would read as equal)."""
    for digits in range(4, 18):
        text_a, text_b = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if text_a != text_b:
            break
    return text_a, text_b


def _is_variant(got: np.ndarray, expected: np.ndarray, value, atol: float, rtol: float) -> bool:
    """Whether ``got`` agrees with the known mistake's result ``value``, which differs from
    ``expected``."""
    value = _as_array(value, np.float64)
    return (value.shape == got.shape and _first_mismatch(got, value, atol, rtol) is None
            and _first_mismatch(value, expected, atol, rtol) is not None)


def _call(fn: Callable, *args, where: str, as_array: bool = False,
          todo: str = "the function still raises NotImplementedError"
          ) -> tuple[object, CheckResult | None]:
    """Run a student's ``fn(*args)`` for one case of a check.

    Returns ``(result, None)``, or ``(None, failure)`` where ``failure`` says that the
    function is not attempted yet (it raises ``NotImplementedError``: "not attempted yet:
    ``todo``") or what it raised on the case described by ``where`` (e.g. "image (5, 5),
    size 2"): a student's bug is reported, never raised. With ``as_array``, the result comes
    back as a float64 array, and a result that is not an array of numbers is a failure too.
    """
    try:
        result = fn(*args)
    except NotImplementedError:
        return None, _not_attempted(todo)
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
