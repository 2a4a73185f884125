"""Self-checks for the exercises: immediate, specific feedback for a student's answer.

Each ``check_*`` function tests an answer against the course's reference implementation on
fixed and random cases and returns a ``CheckResult``: truthy when right, and displayed in a
notebook as one line saying what is right or, for a wrong answer, the first case that fails,
what was expected and what came back. An unattempted exercise (``None`` or a function that
raises ``NotImplementedError``) is reported as such, not as an error, so a notebook always runs
top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnkit import conv

__all__ = [
    "CheckResult",
    "OUTPUT_SIZE_QUESTIONS",
    "check_output_sizes",
    "check_conv_single",
    "check_diagonal_kernel",
]


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


# (n, k, stride, padding, dilation) for the output-size exercise, with what each one teaches
OUTPUT_SIZE_QUESTIONS: dict[str, tuple[int, int, int, int, int]] = {
    "a": (32, 5, 1, 0, 1),  # LeNet C1 on a 32x32 digit
    "b": (28, 5, 1, 2, 1),  # "same" padding for a 5x5 kernel
    "c": (224, 7, 2, 3, 1),  # ResNet's stem
    "d": (7, 3, 2, 0, 1),  # the floor: the last column is never visited
    "e": (10, 3, 1, 0, 2),  # a dilated 3x3 kernel spans 5 cells
}


def check_output_sizes(answers: dict) -> CheckResult:
    """Check ``answers`` = {"a": int, ...} against ``OUTPUT_SIZE_QUESTIONS``."""
    if not answers or all(v is None for v in answers.values()):
        return _not_attempted("fill in one output size per question")
    wrong = []
    for key, (n, k, s, p, d) in OUTPUT_SIZE_QUESTIONS.items():
        got = answers.get(key)
        expected = conv.output_size(n, k, s, p, d)
        if got != expected:
            wrong.append(f"{key} (n={n}, k={k}, s={s}, p={p}, d={d}): you said {got}")
    if wrong:
        return CheckResult(False, f"{len(wrong)} of {len(OUTPUT_SIZE_QUESTIONS)} wrong: "
                                  + "; ".join(wrong))
    return CheckResult(True, f"all {len(OUTPUT_SIZE_QUESTIONS)} output sizes are right")


def _conv_single_cases(rng) -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    cases = [
        (np.arange(16.0).reshape(4, 4), np.ones((2, 2)), 1, 0),
        (np.arange(25.0).reshape(5, 5), np.eye(3), 2, 1),
        (rng.standard_normal((6, 9)), rng.standard_normal((3, 2)), 1, 2),  # not square
    ]
    for _ in range(5):
        kh, kw = rng.integers(1, 4, size=2)
        H, Wd = rng.integers(max(kh, kw), 9, size=2)
        cases.append((rng.standard_normal((H, Wd)), rng.standard_normal((kh, kw)),
                      int(rng.integers(1, 3)), int(rng.integers(0, 3))))
    return cases


def check_conv_single(fn: Callable, seed: int = 0, with_stride: bool = True) -> CheckResult:
    """Check ``fn(image, kernel, stride, padding) -> (Ho, Wo)``: single-channel
    cross-correlation of image (H, W) with kernel (kh, kw), zero padding, as a CNN layer does.

    with_stride=False checks ``fn(image, kernel, padding)`` (stride 1), the signature of the
    seed-001 function in the find-the-bug exercise.
    """
    if fn is None:
        return _not_attempted("write the function")
    rng = np.random.default_rng(seed)
    cases = _conv_single_cases(rng)
    if not with_stride:
        cases = [(im, k, 1, p) for im, k, _, p in cases]
    for image, kernel, stride, padding in cases:
        expected = conv.conv2d(image[None, None], kernel[None, None], stride=stride,
                               padding=padding)[0, 0]
        where = (f"image {image.shape}, kernel {kernel.shape}, stride={stride}, "
                 f"padding={padding}")
        try:
            args = (stride, padding) if with_stride else (padding,)
            got = fn(image.copy(), kernel.copy(), *args)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        got = np.asarray(got)
        if got.shape != expected.shape:
            return CheckResult(False, f"{where}: output shape {got.shape}, expected "
                                      f"{expected.shape}")
        if not np.allclose(got, expected, atol=1e-9):
            i, j = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
            return CheckResult(False, f"{where}: out[{i}, {j}] = {got[i, j]:.4g}, expected "
                                      f"{expected[i, j]:.4g}")
    return CheckResult(True, f"matches the reference on {len(cases)} cases "
                             f"({'strides, ' if with_stride else ''}padding, non-square shapes)")


def check_diagonal_kernel(kernel) -> CheckResult:
    """Check a 3x3 kernel that detects edges along the main diagonal (top-left to
    bottom-right): zero on flat regions, strong on a diagonal step, weaker on horizontal and
    vertical steps.
    """
    if kernel is None:
        return _not_attempted("design a 3x3 kernel")
    k = np.asarray(kernel, dtype=np.float64)
    if k.shape != (3, 3):
        return CheckResult(False, f"kernel must be 3x3; got shape {k.shape}")
    n = 12
    rows, cols = np.mgrid[0:n, 0:n]
    images = {
        "flat": np.full((n, n), 0.7),
        "diagonal": (cols > rows).astype(float),  # bright above the main diagonal
        "vertical": (cols > n // 2).astype(float),
        "horizontal": (rows > n // 2).astype(float),
    }
    response = {name: float(np.abs(conv.correlate2d(img, k)).max()) for name, img in
                images.items()}
    if response["flat"] > 1e-9:
        return CheckResult(False, f"a flat region gives {response['flat']:.3g}; the weights "
                                  "should sum to 0")
    if response["diagonal"] < 1e-9:
        return CheckResult(False, "no response on a diagonal edge")
    ratio = response["diagonal"] / max(response["vertical"], response["horizontal"], 1e-12)
    if ratio < 1.25:
        return CheckResult(False, f"diagonal edges give only {ratio:.2f}x the response of "
                                  "horizontal/vertical ones; aim for 1.25x or more")
    return CheckResult(True, f"flat 0, diagonal edge {ratio:.1f}x stronger than "
                             "horizontal/vertical edges")
