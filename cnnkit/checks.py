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
    "LENET_COUNT_LAYERS",
    "check_lenet_counts",
    "check_table_conv_params",
    "LENET5_PADDING_QUESTIONS",
    "check_lenet5_params",
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


# --- lesson 3: LeNet-5 ---------------------------------------------------------------------------

LENET_COUNT_LAYERS = ("C1", "C3", "C5", "F6")


def _lenet_counts() -> dict[str, tuple[int, int]]:
    """(trainable parameters, connections) of the 1998 LeNet-5's layers, from the course's model."""
    from cnnkit.inspect import layer_table
    from cnnkit.models import LeNet5Classic

    table = layer_table(LeNet5Classic(), (1, 1, 32, 32))
    return {name: (table[name].trainable, table[name].connections) for name in LENET_COUNT_LAYERS}


def check_lenet_counts(answers: dict) -> CheckResult:
    """Check ``answers`` = {"C1": (parameters, connections), "C3": ..., "C5": ..., "F6": ...}:
    the trainable parameters and connections of those layers of the 1998 LeNet-5 (32x32 input,
    C3 wired by Table I), counted by hand.
    """
    if not isinstance(answers, dict) or all(
            v is None or v == (None, None) for v in answers.values()):
        return _not_attempted("fill in (parameters, connections) for C1, C3, C5 and F6")
    expected = _lenet_counts()
    wrong = []
    for layer in LENET_COUNT_LAYERS:
        got = answers.get(layer)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            wrong.append(f"{layer}: give a pair (parameters, connections); got {got!r}")
            continue
        for what, value, right in zip(("parameters", "connections"), got, expected[layer],
                                      strict=True):
            if value != right:
                hint = (" (that is a full 6 -> 16 convolution: use Table I)"
                        if layer == "C3" and what == "parameters" and value == 16 * 151 else "")
                wrong.append(f"{layer} {what}: you said {value}{hint}")
    if wrong:
        return CheckResult(False, f"{len(wrong)} wrong: " + "; ".join(wrong))
    return CheckResult(True, "all 8 counts are right: "
                       + ", ".join(f"{k} {p:,} / {c:,}" for k, (p, c) in expected.items()))


def _random_tables(rng, n: int) -> list[np.ndarray]:
    tables = []
    while len(tables) < n:
        t = rng.random((int(rng.integers(1, 7)), int(rng.integers(1, 9)))) < 0.5
        if t.any(axis=0).all():  # every output map needs an input
            tables.append(t)
    return tables


def check_table_conv_params(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(table, kernel_size) -> int``: the trainable parameters of a convolution
    whose output map j sees the input maps i with ``table[i, j]`` (a (C_in, C_out) bool array),
    with square kernel_size x kernel_size kernels and one bias per output map, as
    ``cnnkit.models.TableConv2d`` (C3 of LeNet-5 is ``fn(C3_TABLE, 5)``).
    """
    if fn is None:
        return _not_attempted("write the function")
    from cnnkit.models import C3_TABLE, TableConv2d

    rng = np.random.default_rng(seed)
    cases = [(C3_TABLE, 5), (np.ones((6, 16), dtype=bool), 5), (np.eye(4, dtype=bool), 3)]
    cases += [(t, int(rng.integers(1, 6))) for t in _random_tables(rng, 5)]
    for table, k in cases:
        expected = sum(p.numel() for p in TableConv2d(table, k).parameters())
        where = f"table of shape {table.shape} with {int(table.sum())} links, kernel_size={k}"
        try:
            got = fn(table.copy(), k)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if got != expected:
            return CheckResult(False, f"{where}: got {got}, expected {expected}")
    return CheckResult(True, f"right on {len(cases)} tables, C3's included (1,516)")


LENET5_PADDING_QUESTIONS = {"padding=2": 2, "padding=0": 0}


def check_lenet5_params(answers: dict) -> CheckResult:
    """Check ``answers`` = {"padding=2": int, "padding=0": int}: the trainable parameters of
    the modern LeNet-5 (``cnnkit.models.LeNet5``) on 28x28 digits with that padding on conv1.
    """
    if not isinstance(answers, dict) or all(v is None for v in answers.values()):
        return _not_attempted("fill in the two parameter counts")
    from cnnkit.models import LeNet5

    wrong = []
    for key, padding in LENET5_PADDING_QUESTIONS.items():
        expected = sum(p.numel() for p in LeNet5(padding=padding).parameters())
        if answers.get(key) != expected:
            wrong.append(f"{key}: you said {answers.get(key)}")
    if wrong:
        return CheckResult(False, f"{len(wrong)} of 2 wrong: " + "; ".join(wrong)
                           + " (hint: follow the map size down to fc1)")
    return CheckResult(True, "both right: the padding changes only fc1's input, 16x5x5 = 400 "
                             "vs 16x4x4 = 256 features")


# --- graded exercises (exercises/source/): the checks their visible tests use --------------------

__all__ += ["check_conv_layer", "check_conv_backward_dw_db", "check_max_pool_indices"]


def _index_text(index: tuple[int, ...]) -> str:
    return ", ".join(str(i) for i in index)


def _conv_layer_cases(rng) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int, int]]:
    """(x (N, C, H, W), w (F, C, kh, kw), b (F,), stride, padding), fixed then random."""
    cases = [
        (np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2)), np.zeros(1), 1, 0),
        (rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)),
         rng.standard_normal(4), 2, 1),
    ]
    for _ in range(4):
        N, C, F = (int(v) for v in rng.integers(1, 4, size=3))
        kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
        H, W = (int(v) for v in rng.integers(max(kh, kw), 9, size=2))
        cases.append((rng.standard_normal((N, C, H, W)), rng.standard_normal((F, C, kh, kw)),
                      rng.standard_normal(F), int(rng.integers(1, 3)), int(rng.integers(0, 3))))
    return cases


def check_conv_layer(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(x, w, b, stride, padding) -> out``: a convolution layer (cross-correlation,
    zero padding, one bias per filter), as ``cnnkit.conv.conv2d_loops``.

    x: (N, C, H, W)   w: (F, C, kh, kw)   b: (F,)   stride, padding: ints
    out: (N, F, Ho, Wo). Tested against ``cnnkit.conv.conv2d`` on fixed and random cases
    (several images, channels and filters; strides, padding, non-square kernels).
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _conv_layer_cases(np.random.default_rng(seed))
    for x, w, b, stride, padding in cases:
        expected = conv.conv2d(x, w, b, stride=stride, padding=padding)
        where = (f"x {x.shape}, w {w.shape}, b {b.shape}, stride={stride}, "
                 f"padding={padding}")
        try:
            got = fn(x.copy(), w.copy(), b.copy(), stride, padding)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        got = np.asarray(got, dtype=np.float64)
        if got.shape != expected.shape:
            return CheckResult(False, f"{where}: output shape {got.shape}, expected "
                                      f"{expected.shape} (N, F, Ho, Wo)")
        if not np.allclose(got, expected, atol=1e-9):
            index = _first_difference(got, expected)
            hint = ""
            if np.allclose(got, expected - b[None, :, None, None], atol=1e-9):
                hint = "; the bias b[f] is missing"
            return CheckResult(False, f"{where}: out[{_index_text(index)}] = {got[index]:.4g}, "
                                      f"expected {expected[index]:.4g}{hint}")
    return CheckResult(True, f"matches the reference on {len(cases)} cases (batches, channels, "
                             "filters, strides, padding)")


def check_conv_backward_dw_db(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(dout, x, w, stride, padding) -> (dw, db)``: the weight and bias gradients of
    a convolution layer, as returned (with dx) by ``cnnkit.conv.conv2d_backward``.

    dout: (N, F, Ho, Wo) = dL/dout   x: (N, C, H, W)   w: (F, C, kh, kw)
    Returns dw: (F, C, kh, kw) and db: (F,).
    """
    if fn is None:
        return _not_attempted("write the function")
    rng = np.random.default_rng(seed)
    cases = _conv_layer_cases(rng)
    for x, w, _, stride, padding in cases:
        dout = rng.standard_normal(conv.conv2d(x, w, stride=stride, padding=padding).shape)
        _, dw_ref, db_ref = conv.conv2d_backward(dout, x, w, stride=stride, padding=padding)
        where = f"x {x.shape}, w {w.shape}, stride={stride}, padding={padding}"
        try:
            result = fn(dout.copy(), x.copy(), w.copy(), stride, padding)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return CheckResult(False, f"{where}: return a pair (dw, db); got "
                                      f"{type(result).__name__}")
        for name, got, expected in (("db", result[1], db_ref), ("dw", result[0], dw_ref)):
            got = np.asarray(got, dtype=np.float64)
            if got.shape != expected.shape:
                hint = " (sum over the images too)" if name == "db" and got.ndim == 2 else ""
                return CheckResult(False, f"{where}: {name} has shape {got.shape}, expected "
                                          f"{expected.shape}{hint}")
            if not np.allclose(got, expected, atol=1e-8):
                index = _first_difference(got, expected)
                return CheckResult(False, f"{where}: {name}[{_index_text(index)}] = "
                                          f"{got[index]:.4g}, expected {expected[index]:.4g}")
    return CheckResult(True, f"dw and db match the reference on {len(cases)} cases (strides, "
                             "padding, several images)")


def _max_pool_indices_cases(rng) -> list[tuple[str, np.ndarray, int, int]]:
    cases = [
        ("4x4 image", np.arange(16.0).reshape(4, 4)[::-1].copy(), 2, 2),
        ("5x7 image, overlapping windows", rng.standard_normal((5, 7)), 3, 2),
        ("all-negative image", -1.0 - rng.random((6, 6)), 3, 3),
        ("image with equal maxima (ties)", np.array([[1.0, 1.0, 0.0, 2.0],
                                                     [1.0, 0.0, 2.0, 2.0],
                                                     [0.0, 0.0, 5.0, 5.0],
                                                     [0.0, 0.0, 5.0, 5.0]]), 2, 2),
    ]
    for _ in range(3):
        size = int(rng.integers(1, 4))
        H, W = (int(v) for v in rng.integers(size, 10, size=2))
        cases.append((f"{H}x{W} image", rng.standard_normal((H, W)), size,
                      int(rng.integers(1, 4))))
    return cases


def _window_positions(indices: np.ndarray, W: int, size: int, stride: int) -> np.ndarray:
    """Flat image positions ``row * W + column`` -> positions inside each output's window."""
    i, j = np.indices(indices.shape)
    return (indices // W - i * stride) * size + (indices % W - j * stride)


def check_max_pool_indices(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(image, size, stride) -> (out, indices)``: max pooling of one image (H, W)
    with a size x size window, no padding, that also says where each maximum came from.

    out: (Ho, Wo) the maxima; indices: (Ho, Wo) ints, the flat position ``row * W + column``
    of each maximum in the image (torch's ``return_indices`` convention); with equal maxima,
    the first one in reading order. Tested against ``cnnkit.pool.max_pool2d``.
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _max_pool_indices_cases(np.random.default_rng(seed))
    for name, image, size, stride in cases:
        out_ref, idx_ref = pool.max_pool2d(image[None, None], size, stride, return_indices=True)
        out_ref, idx_ref = out_ref[0, 0], idx_ref[0, 0]
        where = f"{name}, size={size}, stride={stride}"
        try:
            result = fn(image.copy(), size, stride)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return CheckResult(False, f"{where}: return a pair (out, indices); got "
                                      f"{type(result).__name__}")
        out, indices = np.asarray(result[0], dtype=np.float64), np.asarray(result[1])
        if out.shape != out_ref.shape:
            return CheckResult(False, f"{where}: out has shape {out.shape}, expected "
                                      f"{out_ref.shape}")
        if not np.allclose(out, out_ref, atol=1e-12):
            index = _first_difference(out, out_ref)
            return CheckResult(False, f"{where}: out[{_index_text(index)}] = {out[index]:.4g}, "
                                      f"expected {out_ref[index]:.4g}")
        if indices.shape != idx_ref.shape:
            return CheckResult(False, f"{where}: indices has shape {indices.shape}, expected "
                                      f"{idx_ref.shape}: one flat position per output")
        if not np.issubdtype(indices.dtype, np.integer):
            return CheckResult(False, f"{where}: indices must be integers; got dtype "
                                      f"{indices.dtype}")
        if not np.array_equal(indices, idx_ref):
            index = tuple(int(i) for i in np.argwhere(indices != idx_ref)[0])
            got_i, want_i = int(indices[index]), int(idx_ref[index])
            W = image.shape[1]
            hint = ""
            if "ties" in name:
                hint = "; with equal maxima give the first one (row by row, left to right)"
            elif np.array_equal(indices, _window_positions(idx_ref, W, size, stride)):
                hint = ("; those are positions inside each window: give them in the whole "
                        "image, row * W + column")
            return CheckResult(False, f"{where}: indices[{_index_text(index)}] = {got_i}, "
                                      f"expected {want_i} (row {want_i // W}, column "
                                      f"{want_i % W}){hint}")
    return CheckResult(True, f"maxima and their positions match the reference on {len(cases)} "
                             "cases (overlapping windows, ties)")


# --- lesson 6: ResNet shapes ---------------------------------------------------------------------

__all__ += ["RESNET_SHAPE_QUESTION", "check_resnet_shapes", "check_bottleneck_params",
            "check_receptive_field"]

# ResNet-50 on a batch of two 200x300 images: sizes that are not multiples of 32 make the
# rounding of every stride-2 layer visible
RESNET_SHAPE_QUESTION = {
    "depth": 50,
    "input_size": (2, 3, 200, 300),
    "layers": ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"),
}


def _resnet_shapes(depth: int, input_size: tuple, layers) -> dict[str, tuple[int, ...]]:
    """Output shape of each named child of ``cnnkit.models.resnet(depth)``, traced (meta)."""
    import torch

    from cnnkit.inspect import trace
    from cnnkit.models import resnet

    with torch.device("meta"):
        model = resnet(depth)
    t = trace(model, input_size, depth=1)
    return {name: t[name].output_shape for name in layers}


def check_resnet_shapes(answers: dict) -> CheckResult:
    """Check ``answers`` = {"conv1": (N, C, H, W), ..., "fc": (N, classes)}: the output shape of
    each layer in ``RESNET_SHAPE_QUESTION["layers"]`` of ResNet-50 (``cnnkit.models.resnet(50)``,
    1000 classes) for an input of shape ``RESNET_SHAPE_QUESTION["input_size"]``.
    """
    layers = RESNET_SHAPE_QUESTION["layers"]
    if answers is None or (isinstance(answers, dict)
                           and all(v is None for v in answers.values())):
        return _not_attempted("fill in one output shape per layer")
    if not isinstance(answers, dict):
        return CheckResult(False, f"answers must be a dict like {{'conv1': (N, C, H, W), ...}}; "
                                  f"got {type(answers).__name__}")
    expected = _resnet_shapes(RESNET_SHAPE_QUESTION["depth"],
                              RESNET_SHAPE_QUESTION["input_size"], layers)
    wrong, rounding = [], False
    for name in layers:
        got, right = answers.get(name), expected[name]
        try:
            got = tuple(int(v) for v in got)
        except (TypeError, ValueError):
            wrong.append(f"{name}: give a shape like (N, C, H, W); got {got!r}")
            continue
        if got == right:
            continue
        if len(got) != len(right):
            wrong.append(f"{name}: {len(got)} dimensions, but this output has {len(right)}")
            continue
        dims = (("batch size", "channels", "height", "width") if len(right) == 4
                else ("batch size", "number of classes"))
        bad = [d for d, g, r in zip(dims, got, right, strict=True) if g != r]
        rounding |= any(abs(g - r) == 1 for g, r in zip(got[2:], right[2:], strict=True))
        wrong.append(f"{name}: you said {list(got)}; wrong: {' and '.join(bad)}")
    if wrong:
        hint = (" (off by one: a stride-2 layer rounds, floor((n + 2p - k) / s) + 1; follow "
                "an odd size through it)" if rounding else "")
        return CheckResult(False, f"{len(wrong)} of {len(layers)} wrong: " + "; ".join(wrong)
                           + hint)
    return CheckResult(True, f"all {len(layers)} shapes are right: {layers[-3]} ends at "
                             f"{'x'.join(str(v) for v in expected[layers[-3]][2:])}, the input "
                             "size divided by 32 and rounded up")


def _bottleneck_cases(rng) -> list[tuple[int, int, int]]:
    """(in_channels, channels, stride): ResNet-50's own blocks, then random ones."""
    cases = [(256, 64, 1), (64, 64, 1), (256, 128, 2), (1024, 256, 1), (1024, 512, 2)]
    for _ in range(4):
        channels = int(rng.choice([8, 16, 24, 32]))
        in_channels = int(rng.choice([channels * 4, channels * 2, channels]))
        cases.append((in_channels, channels, int(rng.integers(1, 3))))
    return cases


def check_bottleneck_params(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(in_channels, channels, stride) -> int``: the trainable parameters of a
    bottleneck block (``cnnkit.models.Bottleneck``): 1x1 conv to ``channels``, 3x3 conv (with
    the stride), 1x1 conv to ``4 * channels``, no conv biases, a batch norm (weight and bias)
    after each conv, and a 1x1 projection conv + batch norm on the shortcut where the block
    changes the shape of x (stride 2, or in_channels != 4 * channels).
    """
    if fn is None:
        return _not_attempted("write the function")
    from torch import nn

    from cnnkit.models import Bottleneck

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    for in_ch, ch, stride in _bottleneck_cases(np.random.default_rng(seed)):
        block = Bottleneck(in_ch, ch, stride)
        expected = count(block)
        shortcut = count(block.downsample) if block.downsample is not None else 0
        norms = sum(count(m) for m in block.modules() if isinstance(m, nn.BatchNorm2d))
        where = f"in_channels={in_ch}, channels={ch}, stride={stride}"
        try:
            got = fn(in_ch, ch, stride)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if got == expected:
            continue
        hint = ""
        if shortcut and got == expected - shortcut:
            hint = ": this block changes the shape of x, so its shortcut has weights too"
        elif not shortcut and got == expected + 4 * ch * in_ch + 2 * 4 * ch:
            hint = ": this block keeps the shape of x, so its shortcut is the identity"
        elif got == expected - norms:
            hint = ": the batch norms are missing (a weight and a bias per channel)"
        elif got == expected + 6 * ch + (4 * ch if shortcut else 0):  # + conv biases
            hint = ": ResNet's convolutions have no bias (the batch norm after each has one)"
        return CheckResult(False, f"{where}: got {got}, which is wrong{hint}")
    return CheckResult(True, "right on ResNet-50's blocks and random ones (Bottleneck(256, 64) "
                             "has 70,400 parameters)")


def _receptive_field_cases(rng) -> list[tuple[str, list[tuple[int, int]]]]:
    cases = [
        ("two 3x3 convs", [(3, 1), (3, 1)]),
        ("ResNet's stem: 7x7 conv stride 2, 3x3 max-pool stride 2", [(7, 2), (3, 2)]),
        ("LeNet-5: C1, S2, C3, S4, C5", [(5, 1), (2, 2), (5, 1), (2, 2), (5, 1)]),
        ("a basic block after the stem", [(7, 2), (3, 2), (3, 1), (3, 1)]),
    ]
    for _ in range(4):
        n = int(rng.integers(1, 6))
        cases.append((f"{n} random layers", [(int(rng.integers(1, 6)), int(rng.integers(1, 4)))
                                             for _ in range(n)]))
    return cases


def _reference_field(layers: list[tuple[int, int]]) -> tuple[int, int]:
    """(receptive field, jump) after a stack of window layers, from ``cnnkit.inspect.trace``."""
    from torch import nn

    from cnnkit.inspect import trace

    stack = nn.Sequential(*(nn.Conv2d(1, 1, k, stride=s, padding=k // 2) for k, s in layers))
    row = trace(stack, (1, 1, 8, 8))[-1]
    return row.rf[0], row.jump[0]


def check_receptive_field(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(layers) -> (receptive_field, jump)``: after a stack of window layers
    (convolutions or poolings, no dilation) given as ``[(kernel, stride), ...]`` from the input
    on, how many input pixels (per side) one output sees, and how many input pixels apart two
    neighbouring outputs are. Tested against ``cnnkit.inspect.trace``.
    """
    if fn is None:
        return _not_attempted("write the function")
    for name, layers in _receptive_field_cases(np.random.default_rng(seed)):
        expected = _reference_field(layers)
        where = f"{name} {layers}"
        try:
            got = fn(list(layers))
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return CheckResult(False, f"{where}: return a pair (receptive_field, jump); got "
                                      f"{got!r}")
        if tuple(got) == expected:
            continue
        rf, jump = got
        hints = []
        if jump != expected[1]:
            hints.append("the jump is wrong (how far apart, in input pixels, are two "
                         "neighbouring outputs after each stride?)")
        if rf != expected[0]:
            if rf == 1 + sum(k - 1 for k, _ in layers):
                hints.append("the receptive field ignores the strides: after a stride, each "
                             "step of a kernel moves further in the input")
            else:
                hints.append("the receptive field is wrong (does a layer's own stride widen "
                             "its own window?)")
        return CheckResult(False, f"{where}: got {tuple(got)}; " + "; ".join(hints))
    return CheckResult(True, "right on every stack, ResNet's stem (11 pixels, jump 4) and "
                             "LeNet-5's C5 (32 pixels) included")


# --- lesson 4: training LeNet on MNIST -----------------------------------------------------------

__all__ += ["check_mean_std", "check_accuracy_fn", "DIGIT_AUGMENTATION_QUESTIONS",
            "check_digit_augmentations"]


def _as_floats(value) -> tuple[float, ...] | None:
    """A number, a sequence of numbers or a tensor/array -> a tuple of floats (None if not)."""
    try:
        arr = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value,
                         dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    return tuple(float(v) for v in arr)


def check_mean_std(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(images) -> (mean, std)``: images a uint8 tensor (N, C, H, W) of pixels
    0..255; mean and std per channel (C values each), in [0, 1] units (pixel / 255), over all
    pixels of the channel (every image, every position).
    """
    import torch

    if fn is None:
        return _not_attempted("write mean_std(images)")
    rng = np.random.default_rng(seed)
    cases = []
    for n, c in ((16, 1), (8, 3), (5, 2)):
        # mostly background, like digits, some with much more ink than others
        ink = rng.random((n, c, 28, 28)) < rng.uniform(0.05, 0.5, (n, 1, 1, 1))
        pixels = np.where(ink, rng.integers(100, 256, ink.shape), rng.integers(0, 8, ink.shape))
        cases.append(torch.from_numpy(pixels.astype(np.uint8)))
    for i, images in enumerate(cases):
        x = images.double().numpy() / 255
        want_mean = x.mean(axis=(0, 2, 3))
        want_std = x.std(axis=(0, 2, 3))
        try:
            out = fn(images.clone())
        except NotImplementedError:
            return _not_attempted("write mean_std(images)")
        except Exception as err:  # noqa: BLE001 -- report the student's error, don't crash
            return CheckResult(False, f"case {i} ({tuple(images.shape)}): "
                                      f"{type(err).__name__}: {err}")
        if out is None:
            return _not_attempted("write mean_std(images)")
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return CheckResult(False, "return a pair (mean, std), each with one value per "
                                      f"channel; got {type(out).__name__}")
        mean, std = _as_floats(out[0]), _as_floats(out[1])
        where = f"case {i} (images {tuple(images.shape)})"
        if mean is None or std is None or len(mean) != len(want_mean) or \
                len(std) != len(want_std):
            return CheckResult(False, f"{where}: mean and std need one value per channel "
                                      f"({len(want_mean)}); got {out[0]!r}, {out[1]!r}")
        if np.allclose(mean, want_mean * 255, rtol=1e-3):
            return CheckResult(False, f"{where}: your mean is in pixel units 0..255; divide by "
                                      "255 (the loader normalises x / 255)")
        if not np.allclose(mean, want_mean, rtol=1e-3, atol=1e-5):
            return CheckResult(False, f"{where}: mean {np.round(mean, 4).tolist()}, expected "
                                      f"{np.round(want_mean, 4).tolist()} (average over images, "
                                      "rows and columns, one value per channel)")
        per_image = x.std(axis=(2, 3)).mean(axis=0)
        if not np.allclose(std, want_std, rtol=1e-3, atol=1e-5):
            hint = (" (that is the average of each image's own std: take the std over all "
                    "pixels of the channel at once)" if np.allclose(std, per_image, rtol=1e-3)
                    else " (the std over all pixels of a channel, in [0, 1] units)")
            return CheckResult(False, f"{where}: std {np.round(std, 4).tolist()}, expected "
                                      f"{np.round(want_std, 4).tolist()}{hint}")
    return CheckResult(True, f"right on {len(cases)} cases (1, 2 and 3 channels): compute "
                             "these on the training split and normalise both splits with them")


def _accuracy_case(seed: int):
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5),
                              nn.Linear(32, 4))
    finally:
        torch.random.set_rng_state(torch_state)
    images = torch.randint(0, 256, (100, 1, 4, 4), generator=gen, dtype=torch.uint8)
    with torch.no_grad():
        model.eval()
        pred = model(images.float() / 255).argmax(1)
        model.train()
    labels = pred.clone()
    flip = torch.arange(100) % 4 == 0  # a quarter wrong: accuracy 75%
    labels[flip] = (pred[flip] + 1) % 4
    return model, images, labels, 75 / 100


def check_accuracy_fn(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(model, loader) -> accuracy`` (a fraction in [0, 1]) on 100 samples in
    batches of 64 (a short last batch of 36) and of 32 (last batch 4), with a model that has
    dropout: evaluation must use ``model.eval()``, count the real number of samples, and
    leave the model in the mode it was in.
    """
    from cnnkit.data import TensorLoader

    if fn is None:
        return _not_attempted("write accuracy(model, loader)")
    model, images, labels, want = _accuracy_case(seed)
    for batch_size in (64, 32):
        loader = TensorLoader(images, labels, batch_size=batch_size)
        model.train()
        try:
            got = fn(model, loader)
        except NotImplementedError:
            return _not_attempted("write accuracy(model, loader)")
        except Exception as err:  # noqa: BLE001 -- report the student's error, don't crash
            return CheckResult(False, f"batch_size={batch_size}: {type(err).__name__}: {err}")
        if got is None:
            return _not_attempted("write accuracy(model, loader)")
        value = _as_floats(got)
        if value is None or len(value) != 1:
            return CheckResult(False, f"return one number (the fraction right); got {got!r}")
        value = value[0]
        where = f"100 samples in batches of {batch_size}"
        if abs(value - 100 * want) < 1e-6:
            return CheckResult(False, f"{where}: you returned a percentage ({value:g}); return "
                                      "the fraction in [0, 1]")
        bug = want * 100 / (len(loader) * batch_size)
        if abs(value - bug) < 1e-6:
            return CheckResult(False, f"{where}: {value:.4f}, expected {want:.4f}: you divided "
                                      f"by len(loader) * batch_size = {len(loader) * batch_size}"
                                      ", but the last batch is short; count the samples you saw "
                                      "(seed 001's bug)")
        if abs(value - want) > 1e-6:
            return CheckResult(False, f"{where}: {value:.4f}, expected {want:.4f} (did you call "
                                      "model.eval()? dropout must be off when evaluating)")
        if not model.training:
            return CheckResult(False, f"{where}: the accuracy is right, but the model is left in "
                                      "eval mode: remember model.training and restore it "
                                      "(model.train(was_training))")
    return CheckResult(True, "right with short last batches and dropout, and the model's mode "
                             "is restored")


# name -> does it keep a digit's label? (seed 004 flipped digits horizontally)
DIGIT_AUGMENTATION_QUESTIONS: dict[str, bool] = {
    "horizontal flip": False,
    "vertical flip": False,
    "rotate by 180 degrees": False,
    "rotate by up to 10 degrees": True,
    "shift by up to 2 pixels": True,
    "slightly darker or lighter ink": True,
}

_AUGMENTATION_WHY = {
    "horizontal flip": "a mirrored 2, 3, 4, 7 or 9 is not that digit any more (seed 004's bug)",
    "vertical flip": "an upside-down 2 or 7 is not a digit; a 6 and a 9 swap",
    "rotate by 180 degrees": "a 6 becomes a 9 and a 9 a 6: the label changes",
    "rotate by up to 10 degrees": "people slant their writing that much; the digit stays the same",
    "shift by up to 2 pixels": "a digit a little off-centre is still the same digit",
    "slightly darker or lighter ink": "pens differ; the shape, and the label, stay the same",
}


def check_digit_augmentations(answers: dict) -> CheckResult:
    """Check ``answers`` = {augmentation: True/False}: does it keep a digit's label?
    The keys are those of ``DIGIT_AUGMENTATION_QUESTIONS``.
    """
    if answers is None or (isinstance(answers, dict)
                           and all(v is None for v in answers.values())):
        return _not_attempted("say True or False for each augmentation")
    if not isinstance(answers, dict):
        return CheckResult(False, "answers must be a dict {augmentation: True or False}; got "
                                  f"{type(answers).__name__}")
    wrong = []
    for name, keeps in DIGIT_AUGMENTATION_QUESTIONS.items():
        got = answers.get(name)
        if not isinstance(got, (bool, np.bool_)):
            wrong.append(f"{name}: answer True or False (got {got!r})")
        elif bool(got) != keeps:
            wrong.append(f"{name}: {'it does' if keeps else 'it does not'}, "
                         f"{_AUGMENTATION_WHY[name]}")
    if wrong:
        return CheckResult(False, f"{len(wrong)} of {len(DIGIT_AUGMENTATION_QUESTIONS)} wrong: "
                                  + "; ".join(wrong))
    return CheckResult(True, "all right: augment only with changes that keep the label; "
                             "flips and big rotations change what a digit is")


# --- lesson 5: CIFAR-10 -------------------------------------------------------------------------

__all__ += ["check_cifar_loaders"]


def check_cifar_loaders(train_loader, test_loader, train_set) -> CheckResult:
    """Check the loaders of lesson 5's exercise (seed 001's bug: it augmented the test set).

    train_loader, test_loader: :class:`cnnkit.data.TensorLoader`; train_set: the training
    :class:`cnnkit.data.ImageDataset`. Right when the training loader augments and shuffles,
    the test loader does neither, and both normalise with the *training* split's mean/std.
    """
    from cnnkit.data import TensorLoader

    if train_loader is None or test_loader is None:
        return _not_attempted("make train_loader and test_loader")
    for name, loader in (("train_loader", train_loader), ("test_loader", test_loader)):
        if not isinstance(loader, TensorLoader):
            return CheckResult(False, f"{name} must be a cnnkit.data.TensorLoader; got "
                                      f"{type(loader).__name__}")
    if test_loader.augment:
        return CheckResult(False, "the test loader augments its images (seed 001's bug): a "
                                  "test image must be evaluated as it is, or the accuracy is "
                                  "measured on images nobody will ever show the model")
    if not train_loader.augment:
        return CheckResult(False, "the training loader does not augment: give it augment=...")
    if not train_loader.shuffle or test_loader.shuffle:
        return CheckResult(False, "shuffle the training batches (and only those: the test "
                                  "order does not matter)")
    expected_mean = tuple(round(v, 6) for v in train_set.mean())
    expected_std = tuple(round(v, 6) for v in train_set.std())
    for name, loader in (("train_loader", train_loader), ("test_loader", test_loader)):
        if loader.mean is None or (tuple(round(v, 6) for v in loader.mean) != expected_mean
                                   or tuple(round(v, 6) for v in loader.std) != expected_std):
            return CheckResult(False, f"{name} must normalise with the training split's "
                                      "mean() and std() (both loaders, the same values)")
    return CheckResult(True, "right: augment and shuffle the training set only, and normalise "
                             "both splits with the training statistics")
