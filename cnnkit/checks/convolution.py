"""Self-checks for lesson 1, convolution by hand, and its graded exercises."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit import conv
from cnnkit.checks._result import (
    CheckResult,
    _call,
    _check_answers,
    _first_difference,
    _index_text,
    _not_attempted,
    _off_by_one,
)

__all__ = [
    "OUTPUT_SIZE_QUESTIONS",
    "check_output_sizes",
    "check_conv_single",
    "check_diagonal_kernel",
    "check_conv",
    "check_conv_layer",
    "check_conv_backward_dw_db",
]


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
    expected = {key: conv.output_size(*q) for key, q in OUTPUT_SIZE_QUESTIONS.items()}
    questions = {key: f"n={n}, k={k}, s={s}, p={p}, d={d}"
                 for key, (n, k, s, p, d) in OUTPUT_SIZE_QUESTIONS.items()}
    failure = _check_answers(answers, expected, what="one output size per question",
                             questions=questions)
    if failure is not None:
        return failure
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
        args = (stride, padding) if with_stride else (padding,)
        got, failure = _call(fn, image.copy(), kernel.copy(), *args, where=where)
        if failure is not None:
            return failure
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


def check_conv(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(x, w, b, stride, padding) -> out``: a convolution layer (cross-correlation,
    zero padding, one bias per filter), as ``cnnkit.conv.conv2d_loops``.

    x: (N, C, H, W)   w: (F, C, kh, kw)   b: (F,)   stride, padding: ints
    out: (N, F, Ho, Wo). Tested against ``cnnkit.conv.conv2d`` on fixed and random cases
    (several images, channels and filters; strides, padding, non-square kernels). A wrong
    answer gets the first case and index that differ, and a hint for the usual mistakes: a
    size off by one, a flipped kernel (true convolution), a missing bias.
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _conv_layer_cases(np.random.default_rng(seed))
    for x, w, b, stride, padding in cases:
        expected = conv.conv2d(x, w, b, stride=stride, padding=padding)
        where = (f"x {x.shape}, w {w.shape}, b {b.shape}, stride={stride}, "
                 f"padding={padding}")
        got, failure = _call(fn, x.copy(), w.copy(), b.copy(), stride, padding, where=where,
                             as_array=True)
        if failure is not None:
            return failure
        if got.shape != expected.shape:
            return CheckResult(False, f"{where}: output shape {got.shape}, expected "
                                      f"{expected.shape} (N, F, Ho, Wo)"
                                      + ("; off by one in the size formula "
                                         "floor((n + 2p - k) / s) + 1"
                                         if _off_by_one(got.shape, expected.shape) else ""))
        if not np.allclose(got, expected, atol=1e-9):
            index = _first_difference(got, expected)
            hint = ""
            flipped = conv.conv2d(x, w[:, :, ::-1, ::-1], b, stride=stride, padding=padding)
            if np.allclose(got, expected - b[None, :, None, None], atol=1e-9):
                hint = "; the bias b[f] is missing"
            elif np.allclose(got, flipped, atol=1e-9):
                hint = ("; the kernel is flipped: a CNN layer cross-correlates (lesson 1, "
                        "section 1)")
            return CheckResult(False, f"{where}: out[{_index_text(index)}] = {got[index]:.4g}, "
                                      f"expected {expected[index]:.4g}{hint}")
    return CheckResult(True, f"matches the reference on {len(cases)} cases (batches, channels, "
                             "filters, strides, padding)")


def check_conv_layer(fn: Callable, seed: int = 0) -> CheckResult:
    """:func:`check_conv` under the name lesson 1's graded exercise uses."""
    return check_conv(fn, seed)


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
        result, failure = _call(fn, dout.copy(), x.copy(), w.copy(), stride, padding, where=where)
        if failure is not None:
            return failure
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
