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

from cnnkit import conv, pool

__all__ = [
    "CheckResult",
    "OUTPUT_SIZE_QUESTIONS",
    "check_output_sizes",
    "check_conv_single",
    "check_diagonal_kernel",
    "POOL_SIZE_QUESTIONS",
    "check_pool_sizes",
    "check_pool_single",
    "check_max_pool_backward",
    "POOLING_PARAMETER_QUESTIONS",
    "check_pooling_parameters",
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


# --- lesson 2: pooling ---------------------------------------------------------------------

# (n, window, stride, padding) for the pooled-size exercise, with what each one teaches
POOL_SIZE_QUESTIONS: dict[str, tuple[int, int, int, int]] = {
    "a": (28, 2, 2, 0),  # LeNet's S2: halves the map
    "b": (27, 2, 2, 0),  # an odd size: the last row is dropped, not an error
    "c": (55, 3, 2, 0),  # AlexNet's overlapping pooling
    "d": (112, 3, 2, 1),  # ResNet's max pooling after the stem
    "e": (10, 4, 3, 2),  # padding with a larger window and stride
}


def check_pool_sizes(answers: dict) -> CheckResult:
    """Check ``answers`` = {"a": int, ...} against ``POOL_SIZE_QUESTIONS``."""
    if answers is None:
        return _not_attempted("fill in one pooled size per question")
    if not isinstance(answers, dict):
        return CheckResult(False, f"answers must be a dict like {{'a': 14, ...}}; got "
                                  f"{type(answers).__name__}")
    if not answers or all(v is None for v in answers.values()):
        return _not_attempted("fill in one pooled size per question")
    wrong = []
    for key, (n, k, s, p) in POOL_SIZE_QUESTIONS.items():
        got = answers.get(key)
        expected = conv.output_size(n, k, s, p)
        if got != expected:
            wrong.append(f"{key} (n={n}, window={k}, stride={s}, padding={p}): you said {got}")
    if wrong:
        return CheckResult(False, f"{len(wrong)} of {len(POOL_SIZE_QUESTIONS)} wrong: "
                                  + "; ".join(wrong))
    return CheckResult(True, f"all {len(POOL_SIZE_QUESTIONS)} pooled sizes are right")


def _pool_single_cases(rng) -> list[tuple[np.ndarray, int, int]]:
    """(image (H, W), window, stride): square, odd-sized, overlapping, non-square, negative."""
    cases = [
        (np.arange(16.0).reshape(4, 4), 2, 2),
        (np.arange(25.0).reshape(5, 5), 2, 2),  # 5 is not a multiple of 2: drop the last row
        (-1.0 - rng.random((6, 6)), 3, 3),  # all negative: a maximum below zero
        (rng.standard_normal((7, 9)), 3, 2),  # overlapping windows, not square
        (rng.standard_normal((5, 8)), 2, 1),
    ]
    for _ in range(3):
        k = int(rng.integers(1, 4))
        H, Wd = rng.integers(k, 10, size=2)
        cases.append((rng.standard_normal((H, Wd)), k, int(rng.integers(1, 4))))
    return cases


def _first_difference(got: np.ndarray, expected: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(got - expected)), got.shape))


def check_pool_single(fn: Callable, seed: int = 0, with_stride: bool = True) -> CheckResult:
    """Check ``fn(image, size, stride, mode) -> (Ho, Wo)``: max ("max") or average ("avg")
    pooling of one image (H, W) with a size x size window, no padding; H and W need not be
    multiples of the window (the last partial windows are dropped, as torch does).

    with_stride=False checks ``fn(image, size, mode)`` with stride = size, the signature of
    the seed-001 function in the find-the-bug exercise.
    """
    if fn is None:
        return _not_attempted("write the function")
    rng = np.random.default_rng(seed)
    cases = _pool_single_cases(rng)
    if not with_stride:
        cases = [(im, k, k) for im, k, _ in cases]
    references = {"max": pool.max_pool2d, "avg": pool.avg_pool2d}
    checked = 0
    for image, size, stride in cases:
        for mode, reference in references.items():
            expected = reference(image[None, None], size, stride)[0, 0]
            where = f"{mode} pooling of image {image.shape}, size={size}, stride={stride}"
            args = (stride, mode) if with_stride else (mode,)
            try:
                got = np.asarray(fn(image.copy(), size, *args), dtype=np.float64)
            except NotImplementedError:
                return _not_attempted("the function still raises NotImplementedError")
            except Exception as err:  # the student's bug, reported rather than raised
                return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
            if got.shape != expected.shape:
                return CheckResult(False, f"{where}: output shape {got.shape}, expected "
                                          f"{expected.shape}")
            if not np.allclose(got, expected, atol=1e-9):
                i, j = _first_difference(got, expected)
                return CheckResult(False, f"{where}: out[{i}, {j}] = {got[i, j]:.4g}, expected "
                                          f"{expected[i, j]:.4g}")
            checked += 1
    return CheckResult(True, f"max and average pooling match the reference on {checked} cases "
                             f"(odd sizes, negative values{', strides' if with_stride else ''})")


def _max_pool_backward_cases(rng) -> list[tuple[str, np.ndarray, int]]:
    cases = [
        ("4x4 image", np.arange(16.0).reshape(4, 4)[::-1].copy(), 2),
        ("5x5 image (last row and column in no window)", rng.standard_normal((5, 5)), 2),
        ("all-negative image", -1.0 - rng.random((6, 6)), 3),
        ("6x9 image", rng.standard_normal((6, 9)), 3),
    ]
    ties = np.array([[1.0, 1.0, 0.0, 2.0],
                     [1.0, 0.0, 2.0, 2.0],
                     [0.0, 0.0, 5.0, 5.0],
                     [0.0, 0.0, 5.0, 5.0]])
    cases.append(("image with equal maxima (ties)", ties, 2))
    return cases


def check_max_pool_backward(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(dout, image, size) -> dx``: the backward pass of max pooling of one image
    (H, W) with a size x size window, stride = size, no padding.

    dout: (Ho, Wo), the gradient of the loss with respect to the pooled output.
    Returns dx: (H, W). Each dout value goes entirely to the cell its window's maximum came
    from; with equal maxima, to the first of them in reading order (row by row), as
    ``cnnkit.pool`` and torch do.
    """
    if fn is None:
        return _not_attempted("write the function")
    rng = np.random.default_rng(seed)
    cases = _max_pool_backward_cases(rng)
    for name, image, size in cases:
        x = image[None, None]
        Ho, Wo = pool.max_pool2d(x, size).shape[2:]
        dout = rng.integers(1, 10, size=(Ho, Wo)).astype(np.float64)  # easy to read
        expected = pool.max_pool2d_backward(dout[None, None], x, size)[0, 0]
        where = f"{name}, size={size}"
        try:
            got = np.asarray(fn(dout.copy(), image.copy(), size), dtype=np.float64)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if got.shape != expected.shape:
            return CheckResult(False, f"{where}: dx has shape {got.shape}, expected "
                                      f"{expected.shape} (the shape of the image)")
        if not np.allclose(got, expected, atol=1e-9):
            i, j = _first_difference(got, expected)
            hint = ""
            if "ties" in name:
                hint = ("; with equal maxima the whole gradient goes to the first one (row by "
                        "row, left to right), none to the others")
            elif np.count_nonzero(got) > np.count_nonzero(expected):
                hint = ("; each dout value goes to one cell, its window's maximum; the other "
                        "cells get 0")
            elif not np.isclose(got.sum(), expected.sum()):
                hint = "; each dout value must be passed on exactly once"
            return CheckResult(False, f"{where}: dx[{i}, {j}] = {got[i, j]:.4g}, expected "
                                      f"{expected[i, j]:.4g}{hint}")
    return CheckResult(True, f"dx matches the reference on {len(cases)} cases, ties included")


POOLING_PARAMETER_QUESTIONS: dict[str, str] = {
    "a": "trainable parameters of LeNet-5's S4: trainable subsampling of 16 maps",
    "b": "trainable parameters of a 2x2 max pooling layer over 16 maps",
    "c": "weights + biases of a linear layer from a flattened (512, 7, 7) feature map to 10 "
         "classes",
    "d": "weights + biases of a linear layer to 10 classes after global average pooling of "
         "the same (512, 7, 7) map",
}


def _pooling_parameter_answers() -> dict[str, int]:
    """The answers, counted on the real layers (torch modules)."""
    from torch import nn

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters() if p.requires_grad)

    return {
        "a": count(pool.Subsampling(16)),
        "b": count(nn.MaxPool2d(2)),
        "c": count(nn.Linear(512 * 7 * 7, 10)),
        "d": count(nn.Linear(512, 10)),
    }


def check_pooling_parameters(answers: dict) -> CheckResult:
    """Check ``answers`` = {"a": int, ...} against ``POOLING_PARAMETER_QUESTIONS``."""
    if answers is None:
        return _not_attempted("fill in one parameter count per question")
    if not isinstance(answers, dict):
        return CheckResult(False, f"answers must be a dict like {{'a': 0, ...}}; got "
                                  f"{type(answers).__name__}")
    if not answers or all(v is None for v in answers.values()):
        return _not_attempted("fill in one parameter count per question")
    expected = _pooling_parameter_answers()
    wrong = [f"{key} ({POOLING_PARAMETER_QUESTIONS[key]}): you said {answers.get(key)}"
             for key in POOLING_PARAMETER_QUESTIONS if answers.get(key) != expected[key]]
    if wrong:
        return CheckResult(False, f"{len(wrong)} of {len(expected)} wrong: " + "; ".join(wrong))
    return CheckResult(True, f"all {len(expected)} parameter counts are right "
                             f"(flattening needs {round(expected['c'] / expected['d'])}x the "
                             "weights of global average pooling)")
