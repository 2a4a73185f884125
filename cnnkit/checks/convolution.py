"""Self-checks for lesson 1, convolution by hand, and its graded exercises."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit import conv
from cnnkit.checks._result import (
    CheckResult,
    _as_array,
    _call,
    _check_answers,
    _first_difference,
    _index_text,
    _not_attempted,
    _off_by_one,
    compare,
)

__all__ = [
    "OUTPUT_SIZE_QUESTIONS",
    "check_output_sizes",
    "SHAPE_QUESTIONS",
    "check_output_shapes",
    "check_conv_backward_dx",
    "kernel_learning_task",
    "check_learnt_kernel",
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


# (H, W, kh, kw, stride, padding, dilation) for lesson 1's exercise: cases the lesson does not
# show (rectangular images and kernels, dilation with stride and padding)
SHAPE_QUESTIONS: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "a": (32, 32, 3, 5, 1, 1, 1),  # a rectangular kernel: padding 1 keeps only the height
    "b": (64, 48, 5, 5, 2, 2, 1),  # "same" padding, then stride 2 halves both sides
    "c": (20, 20, 3, 3, 1, 0, 3),  # a dilated 3x3 kernel spanning 7 pixels
    "d": (15, 9, 4, 2, 3, 0, 1),  # the floor on both axes, an even kernel
    "e": (28, 28, 3, 3, 2, 1, 2),  # dilation, stride and padding together
}


def _shape_answer(value):
    """A student's (Ho, Wo) answer as a tuple of ints when it is one, else unchanged."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        return tuple(int(v) for v in value)
    return value


def check_output_shapes(answers: dict) -> CheckResult:
    """Check ``answers`` = {"a": (Ho, Wo), ...} against ``SHAPE_QUESTIONS``.

    Each question is (H, W, kh, kw, stride, padding, dilation), the same stride, padding and
    dilation on both axes; the answer is the output's (height, width).
    """
    expected = {key: (conv.output_size(H, kh, s, p, d), conv.output_size(W, kw, s, p, d))
                for key, (H, W, kh, kw, s, p, d) in SHAPE_QUESTIONS.items()}
    questions = {key: f"{H}x{W} input, {kh}x{kw} kernel, s={s}, p={p}, d={d}"
                 for key, (H, W, kh, kw, s, p, d) in SHAPE_QUESTIONS.items()}
    if isinstance(answers, dict):
        answers = {key: _shape_answer(value) for key, value in answers.items()}
    failure = _check_answers(answers, expected, what="one (height, width) per question",
                             questions=questions,
                             hint="each axis has its own n and k: apply the formula twice")
    if failure is not None:
        return failure
    return CheckResult(True, f"all {len(SHAPE_QUESTIONS)} output shapes are right")


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
    blog post's function in the find-the-bug exercise.
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
        failure = compare(got, expected, atol=1e-9, where=where)
        if failure is not None:
            return failure
    return CheckResult(True, f"matches the reference on {len(cases)} cases "
                             f"({'strides, ' if with_stride else ''}padding, non-square shapes)")


def _diagonal_test_images(n: int = 12) -> dict[str, np.ndarray]:
    """Unit steps (0 -> 1) along each direction, and a flat image: (n, n) float64 each."""
    rows, cols = np.mgrid[0:n, 0:n]
    return {
        "flat": np.full((n, n), 0.7),
        "main-diagonal": (cols > rows).astype(float),  # bright above the main diagonal
        "anti-diagonal": (cols + rows > n - 1).astype(float),  # bright below the anti-diagonal
        "vertical": (cols > n // 2).astype(float),
        "horizontal": (rows > n // 2).astype(float),
    }


DIAGONAL_MARGIN = 1.25
"""How many times stronger the main-diagonal edge must be than every other edge."""


def check_diagonal_kernel(kernel) -> CheckResult:
    """Check a 3x3 kernel that detects edges along the main diagonal (top-left to
    bottom-right).

    The kernel is correlated with five 12x12 test images: a flat one, and unit steps along the
    main diagonal, the anti-diagonal, a vertical and a horizontal line. Its response to an image
    is the largest |value| of the output. Right: 0 on the flat image, and a main-diagonal
    response at least ``DIAGONAL_MARGIN`` times every other edge's (so the isotropic Laplacian
    and an anti-diagonal detector fail). The reported ratio is capped at 100x: past that the
    other edges give (almost) nothing.
    """
    if kernel is None:
        return _not_attempted("design a 3x3 kernel")
    try:
        k = np.asarray(kernel, dtype=np.float64)
    except (TypeError, ValueError):
        return CheckResult(False, f"kernel must be a 3x3 array of numbers; got "
                                  f"{type(kernel).__name__}")
    if k.shape != (3, 3):
        return CheckResult(False, f"kernel must be 3x3; got shape {k.shape}")
    if not np.isfinite(k).all():
        return CheckResult(False, "kernel has NaN or infinite weights")
    response = {name: float(np.abs(conv.correlate2d(img, k)).max())
                for name, img in _diagonal_test_images().items()}
    scale = max(1.0, float(np.abs(k).sum()))
    if response.pop("flat") > 1e-9 * scale:
        return CheckResult(False, "a flat region does not give 0; the weights should sum to 0")
    main = response.pop("main-diagonal")
    if main < 1e-9 * scale:
        return CheckResult(False, "no response on a main-diagonal edge")
    rival, strongest = max((v, name) for name, v in response.items())
    ratio = min(main / max(rival, 1e-12), 100.0)
    if ratio < DIAGONAL_MARGIN:
        return CheckResult(False, f"the main-diagonal edge gives only {ratio:.2f}x the "
                                  f"response of the {strongest} edge; aim for "
                                  f"{DIAGONAL_MARGIN}x or more over every other edge")
    others = ", ".join(f"{name} {v:.3g}" for name, v in response.items())
    strength = "more than 100x" if ratio >= 100 else f"{ratio:.2f}x"
    return CheckResult(True, f"flat 0, main-diagonal edge {main:.3g}, others {others}: "
                             f"{strength} the strongest other edge")


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
        failure = compare(got, expected, atol=1e-9, where=where,
                          shape_hint=_conv_shape_hint(expected.shape),
                          variants=_conv_mistakes(x, w, b, stride, padding))
        if failure is not None:
            return failure
    return CheckResult(True, f"matches the reference on {len(cases)} cases (batches, channels, "
                             "filters, strides, padding)")


def _conv_shape_hint(expected: tuple[int, ...]) -> Callable[[tuple[int, ...]], str]:
    """What to add to "output shape ..., expected ..." for a convolution layer's output."""
    def hint(shape: tuple[int, ...]) -> str:
        return " (N, F, Ho, Wo)" + ("; off by one in the size formula floor((n + 2p - k) / s) + 1"
                                    if _off_by_one(shape, expected) else "")

    return hint


def _conv_mistakes(x, w, b, stride: int, padding: int):
    """(output, hint) of a convolution layer's usual mistakes, computed when asked for."""
    yield conv.conv2d(x, w, stride=stride, padding=padding), "the bias b[f] is missing"
    yield (conv.conv2d(x, w[:, :, ::-1, ::-1], b, stride=stride, padding=padding),
           "the kernel is flipped: a CNN layer cross-correlates (lesson 1, section 1)")


def check_conv_layer(fn: Callable, seed: int = 0) -> CheckResult:
    """:func:`check_conv` under the name lesson 1's graded exercise uses."""
    return check_conv(fn, seed)


def _conv_backward_cases(seed: int) -> list[tuple]:
    """(dout, x, w, stride, padding, where) for the backward checks: the layer cases, each with
    a random upstream gradient dout (N, F, Ho, Wo)."""
    rng = np.random.default_rng(seed)
    cases = []
    for x, w, _, stride, padding in _conv_layer_cases(rng):
        dout = rng.standard_normal(conv.conv2d(x, w, stride=stride, padding=padding).shape)
        cases.append((dout, x, w, stride, padding,
                      f"x {x.shape}, w {w.shape}, stride={stride}, padding={padding}"))
    return cases


def check_conv_backward_dw_db(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(dout, x, w, stride, padding) -> (dw, db)``: the weight and bias gradients of
    a convolution layer, as returned (with dx) by ``cnnkit.conv.conv2d_backward``.

    dout: (N, F, Ho, Wo) = dL/dout   x: (N, C, H, W)   w: (F, C, kh, kw)
    Returns dw: (F, C, kh, kw) and db: (F,).
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _conv_backward_cases(seed)
    for dout, x, w, stride, padding, where in cases:
        _, dw_ref, db_ref = conv.conv2d_backward(dout, x, w, stride=stride, padding=padding)
        result, failure = _call(fn, dout.copy(), x.copy(), w.copy(), stride, padding, where=where)
        if failure is not None:
            return failure
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return CheckResult(False, f"{where}: return a pair (dw, db); got "
                                      f"{type(result).__name__}")
        for name, got, expected in (("db", result[1], db_ref), ("dw", result[0], dw_ref)):
            failure = compare(got, expected, atol=1e-8, what=name, where=where,
                              shape_hint=_db_shape_hint if name == "db" else "")
            if failure is not None:
                return failure
    return CheckResult(True, f"dw and db match the reference on {len(cases)} cases (strides, "
                             "padding, several images)")


def _db_shape_hint(shape: tuple[int, ...]) -> str:
    return " (sum over the images too)" if len(shape) == 2 else ""


def _dx_mistakes(dout, x, w, stride: int, padding: int):
    """(dx, hint) of the input gradient's usual mistake, computed when asked for."""
    yield (conv.conv2d_backward(dout, x, w[:, :, ::-1, ::-1], stride=stride, padding=padding)[0],
           "the kernel is used unflipped: dx is a full *convolution* of dout with w")


def check_conv_backward_dx(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(dout, x, w, stride, padding) -> dx``: the input gradient of a convolution
    layer, as returned (with dw and db) by ``cnnkit.conv.conv2d_backward``.

    dout: (N, F, Ho, Wo) = dL/dout   x: (N, C, H, W)   w: (F, C, kh, kw)
    Returns dx: (N, C, H, W). A wrong answer gets the first case and index that differ, and a
    hint when the kernel was used unflipped or the gradient that fell in the padding was kept.
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _conv_backward_cases(seed)
    for dout, x, w, stride, padding, where in cases:
        expected = conv.conv2d_backward(dout, x, w, stride=stride, padding=padding)[0]
        got, failure = _call(fn, dout.copy(), x.copy(), w.copy(), stride, padding, where=where,
                             as_array=True)
        if failure is not None:
            return failure
        padding_hint = (" (drop the rows and columns that fell in the padding)"
                        if got.shape[:2] == x.shape[:2] and got.ndim == 4 and padding else "")
        failure = compare(got, expected, atol=1e-8, what="dx", where=where,
                          shape_hint=f", the shape of x{padding_hint}",
                          variants=_dx_mistakes(dout, x, w, stride, padding))
        if failure is not None:
            return failure
    return CheckResult(True, f"dx matches the reference on {len(cases)} cases (strides, "
                             "padding, channels, several images)")


def _hidden_layer(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The weights (1, 2, 3, 3) and bias (1,) that ``kernel_learning_task`` hides."""
    rng = np.random.default_rng([seed, 7])
    return rng.integers(-2, 3, size=(1, 2, 3, 3)).astype(np.float64), np.array([0.5])


def kernel_learning_task(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Data for the learn-a-kernel exercise: x (16, 2, 10, 10) and y = conv2d(x, w, b) for a
    hidden two-channel 3x3 filter w (1, 2, 3, 3) and bias b (1,); y: (16, 1, 8, 8)."""
    w, b = _hidden_layer(seed)
    x = np.random.default_rng(seed).standard_normal((16, 2, 10, 10))
    return x, conv.conv2d(x, w, b)


def check_learnt_kernel(w, b, seed: int = 0, tol: float = 1e-2) -> CheckResult:
    """Check the filter ``w`` (1, 2, 3, 3) and bias ``b`` (1,) learnt from
    ``kernel_learning_task(seed)``: every weight and the bias within ``tol`` of the hidden
    ones. A wrong answer gets how far off it is and the worst weight's position, never the
    hidden values."""
    if w is None or b is None:
        return _not_attempted("learn w (1, 2, 3, 3) and b (1,)")
    true_w, true_b = _hidden_layer(seed)
    try:
        w = _as_array(w, np.float64)
        b = _as_array(b, np.float64).reshape(-1)
    except (TypeError, ValueError) as err:
        return CheckResult(False, f"w and b must be arrays of numbers ({err})")
    if w.shape != true_w.shape or b.shape != true_b.shape:
        return CheckResult(False, f"w has shape {w.shape} and b {b.shape}; expected "
                                  f"{true_w.shape} and {true_b.shape}")
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        return CheckResult(False, "w or b holds NaN or inf: the learning rate is too large")
    error_w, error_b = np.abs(w - true_w), float(np.abs(b - true_b).max())
    if error_w.max() > tol or error_b > tol:
        index = _first_difference(w, true_w)
        return CheckResult(False, f"not there yet: the worst weight, w[{_index_text(index)}], "
                                  f"is {error_w[index]:.3g} off and the bias {error_b:.3g} off "
                                  f"(within {tol} needed); more steps, or check the gradient")
    return CheckResult(True, f"every weight and the bias within {tol} of the hidden layer "
                             f"(largest error {max(error_w.max(), error_b):.1e})")
