"""Self-checks for lesson 2, pooling by hand, and its graded exercises."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit import conv, pool
from cnnkit.checks._result import (
    CheckResult,
    _call,
    _check_answers,
    _index_text,
    _not_attempted,
    _off_by_one,
    compare,
)

__all__ = [
    "POOL_SIZE_QUESTIONS",
    "check_pool_sizes",
    "check_pool_single",
    "check_pool",
    "check_max_pool_backward",
    "check_avg_pool_backward",
    "check_adaptive_pool",
    "POOLING_PARAMETER_QUESTIONS",
    "check_pooling_parameters",
    "check_max_pool_indices",
]


# (n, window, stride, padding) for lesson 2's pooled-size exercise: cases the lesson's table
# does not show
POOL_SIZE_QUESTIONS: dict[str, tuple[int, int, int, int]] = {
    "a": (32, 3, 3, 0),  # stride = window 3: 32 is not a multiple of 3
    "b": (13, 2, 2, 1),  # padding makes room for the odd last row
    "c": (100, 5, 3, 2),  # overlapping windows with padding
    "d": (9, 4, 1, 0),  # stride 1: almost as large as the input
    "e": (227, 3, 2, 0),  # overlapping 3/2 on an odd size
}


def check_pool_sizes(answers: dict) -> CheckResult:
    """Check ``answers`` = {"a": int, ...} against ``POOL_SIZE_QUESTIONS``."""
    expected = {key: conv.output_size(*q) for key, q in POOL_SIZE_QUESTIONS.items()}
    questions = {key: f"n={n}, window={k}, stride={s}, padding={p}"
                 for key, (n, k, s, p) in POOL_SIZE_QUESTIONS.items()}
    failure = _check_answers(answers, expected, what="one pooled size per question",
                             questions=questions)
    if failure is not None:
        return failure
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


def check_pool_single(fn: Callable, seed: int = 0, with_stride: bool = True) -> CheckResult:
    """Check ``fn(image, size, stride, mode) -> (Ho, Wo)``: max ("max") or average ("avg")
    pooling of one image (H, W) with a size x size window, no padding; H and W need not be
    multiples of the window (the last partial windows are dropped, as torch does).

    with_stride=False checks ``fn(image, size, mode)`` with stride = size, the signature of
    the blog post's pooling function in the find-the-bug exercise.
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
            got, failure = _call(fn, image.copy(), size, *args, where=where, as_array=True)
            if failure is not None:
                return failure
            failure = compare(got, expected, atol=1e-9, where=where)
            if failure is not None:
                return failure
            checked += 1
    return CheckResult(True, f"max and average pooling match the reference on {checked} cases "
                             f"(odd sizes, negative values{', strides' if with_stride else ''})")


def _pool_layer_cases(rng) -> list[tuple[np.ndarray, int, int]]:
    """(x (N, C, H, W), kernel_size, stride): fixed, then random with overlapping windows
    and sizes that are not multiples of the stride."""
    cases = [(np.arange(32.0).reshape(1, 2, 4, 4), 2, 2), (rng.standard_normal((2, 3, 7, 5)), 3, 2)]
    for _ in range(4):
        k = int(rng.integers(1, 4))
        N, C = (int(v) for v in rng.integers(1, 4, size=2))
        H, W = (int(v) for v in rng.integers(k, 10, size=2))
        cases.append((rng.standard_normal((N, C, H, W)), k, int(rng.integers(1, 4))))
    return cases


def _pool_shape_hint(x, k: int, s: int, reference: Callable
                     ) -> Callable[[tuple[int, ...]], str]:
    """What to add to "output shape ..., expected ..." for ``reference(x, k, s)``'s shape: the
    stride ignored or a size off by one."""
    def hint(shape: tuple[int, ...]) -> str:
        if s != k and shape == reference(x, k, k).shape:
            mistake = "; the windows moved by kernel_size, not by stride"
        elif s != 1 and shape == reference(x, k, 1).shape:
            mistake = "; the windows moved by 1, not by stride"
        elif _off_by_one(shape, reference(x, k, s).shape):
            mistake = "; off by one in the size formula floor((n - k) / s) + 1"
        else:
            mistake = ""
        return " (N, C, Ho, Wo)" + mistake

    return hint


def check_pool(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(x, kernel_size, stride, mode) -> out``: a pooling layer, no padding.

    x: (N, C, H, W)   kernel_size, stride: ints (windows may overlap, and H, W need not be
    multiples of the stride: the last partial windows are dropped)   mode: "max" or "avg"
    out: (N, C, Ho, Wo), each channel pooled on its own. Tested against ``cnnkit.pool``'s
    ``max_pool2d`` and ``avg_pool2d`` on fixed and random cases. A wrong answer gets the first
    case and index that differ, and a hint for the usual mistakes: a size off by one, the
    stride ignored, the two modes swapped, channels mixed.
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _pool_layer_cases(np.random.default_rng(seed))
    for x, k, s in cases:
        for mode, reference in (("max", pool.max_pool2d), ("avg", pool.avg_pool2d)):
            expected = reference(x, k, s)
            where = f"{mode} pooling of x {x.shape}, kernel_size={k}, stride={s}"
            got, failure = _call(fn, x.copy(), k, s, mode, where=where, as_array=True)
            if failure is not None:
                return failure
            other = pool.avg_pool2d if mode == "max" else pool.max_pool2d
            failure = compare(got, expected, atol=1e-9, where=where,
                              shape_hint=_pool_shape_hint(x, k, s, reference),
                              variants=[(other(x, k, s), "the two modes are swapped")])
            if failure is not None:
                return failure
    return CheckResult(True, f"max and average pooling match the reference on {len(cases)} "
                             "cases (batches, channels, overlapping windows, odd sizes)")


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


def _max_backward_hint(name: str, got: np.ndarray, expected: np.ndarray) -> str:
    """Why max pooling's dx ``got`` differs from ``expected`` (same shape, or "")."""
    if "ties" in name:
        return ("with equal maxima the whole gradient goes to the first one (row by row, left "
                "to right), none to the others")
    if got.shape != expected.shape:
        return ""
    if np.count_nonzero(got) > np.count_nonzero(expected):
        return "each dout value goes to one cell, its window's maximum; the other cells get 0"
    if not np.isclose(got.sum(), expected.sum()):
        return "each dout value must be passed on exactly once"
    return ""


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
        got, failure = _call(fn, dout.copy(), image.copy(), size, where=where, as_array=True)
        if failure is not None:
            return failure
        failure = compare(got, expected, atol=1e-9, what="dx", where=where,
                          shape_hint=" (the shape of the image)",
                          otherwise=_max_backward_hint(name, got, expected))
        if failure is not None:
            return failure
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

    from cnnkit.inspect.parameters import count_parameters

    return {key: count_parameters(layer, trainable=True) for key, layer in (
        ("a", pool.Subsampling(16)),
        ("b", nn.MaxPool2d(2)),
        ("c", nn.Linear(512 * 7 * 7, 10)),
        ("d", nn.Linear(512, 10)),
    )}


def check_pooling_parameters(answers: dict) -> CheckResult:
    """Check ``answers`` = {"a": int, ...} against ``POOLING_PARAMETER_QUESTIONS``."""
    expected = _pooling_parameter_answers()
    failure = _check_answers(answers, expected, what="one parameter count per question",
                             questions=POOLING_PARAMETER_QUESTIONS)
    if failure is not None:
        return failure
    return CheckResult(True, f"all {len(expected)} parameter counts are right "
                             f"(flattening needs {round(expected['c'] / expected['d'])}x the "
                             "weights of global average pooling)")


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
        result, failure = _call(fn, image.copy(), size, stride, where=where)
        if failure is not None:
            return failure
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            return CheckResult(False, f"{where}: return a pair (out, indices); got "
                                      f"{type(result).__name__}")
        failure = compare(result[0], out_ref, atol=1e-12, where=where)
        if failure is not None:
            return failure
        indices = np.asarray(result[1])
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


def _avg_pool_backward_cases(rng) -> list[tuple[str, np.ndarray, int, int]]:
    """(name, image (H, W), size, stride): tiling, odd-sized, overlapping, non-square."""
    return [
        ("4x4 image", np.arange(16.0).reshape(4, 4), 2, 2),
        ("5x5 image (last row and column in no window)", rng.standard_normal((5, 5)), 2, 2),
        ("7x7 image, overlapping windows", rng.standard_normal((7, 7)), 3, 2),
        ("6x9 image, stride 1", rng.standard_normal((6, 9)), 2, 1),
        ("8x5 image", rng.standard_normal((8, 5)), 3, 3),
    ]


def check_avg_pool_backward(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(dout, image, size, stride) -> dx``: the backward pass of average pooling of
    one image (H, W) with a size x size window moved ``stride`` pixels, no padding.

    dout: (Ho, Wo), the gradient of the loss with respect to the pooled output.
    Returns dx: (H, W). Every cell of a window receives that window's dout / size**2; with
    overlapping windows (stride < size) a cell's shares add up; cells in no window get 0.
    """
    if fn is None:
        return _not_attempted("write the function")
    rng = np.random.default_rng(seed)
    cases = _avg_pool_backward_cases(rng)
    for name, image, size, stride in cases:
        x = image[None, None]
        Ho, Wo = pool.avg_pool2d(x, size, stride).shape[2:]
        dout = rng.integers(1, 10, size=(Ho, Wo)).astype(np.float64)  # easy to read
        expected = pool.avg_pool2d_backward(dout[None, None], x, size, stride)[0, 0]
        where = f"{name}, size={size}, stride={stride}"
        got, failure = _call(fn, dout.copy(), image.copy(), size, stride, where=where,
                             as_array=True)
        if failure is not None:
            return failure
        overlap = (stride < size and got.shape == expected.shape
                   and not np.isclose(got.sum(), expected.sum()))
        failure = compare(got, expected, atol=1e-9, what="dx", where=where,
                          shape_hint=" (the shape of the image)",
                          variants=[(expected * size * size, f"each cell gets dout / size**2 "
                                                             f"(here / {size * size}), not dout")],
                          otherwise="with overlapping windows a cell's shares from every window "
                                    "add up" if overlap else "")
        if failure is not None:
            return failure
    return CheckResult(True, f"dx matches the reference on {len(cases)} cases, overlapping "
                             "windows included")


def _adaptive_cases(rng) -> list[tuple[np.ndarray, tuple[int, int]]]:
    """(image (H, W), (Ho, Wo)): divisible, not divisible, rectangular, larger output."""
    return [
        (np.arange(16.0).reshape(4, 4), (2, 2)),  # divisible: plain 2x2 pooling
        (np.arange(25.0).reshape(5, 5), (3, 3)),  # windows of 2 and 3 cells that overlap
        (rng.standard_normal((7, 10)), (3, 4)),
        (rng.standard_normal((6, 9)), (1, 1)),  # global pooling
        (rng.standard_normal((3, 4)), (5, 6)),  # more outputs than inputs
    ]


def check_adaptive_pool(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(image, output_size, mode) -> out``: adaptive pooling of one image (H, W) to
    ``output_size`` = (Ho, Wo), ``mode`` "max" or "avg", with torch's window rule: output row i
    pools rows floor(i*H/Ho) to ceil((i+1)*H/Ho) (end excluded), the same for columns.

    Tested against ``cnnkit.pool.adaptive_max_pool2d`` / ``adaptive_avg_pool2d`` (equal to
    torch's) on divisible and non-divisible sizes, a rectangular image, global pooling and an
    output larger than the input.
    """
    if fn is None:
        return _not_attempted("write the function")
    rng = np.random.default_rng(seed)
    cases = _adaptive_cases(rng)
    reference = {"max": pool.adaptive_max_pool2d, "avg": pool.adaptive_avg_pool2d}
    for image, size in cases:
        for mode, ref in reference.items():
            expected = ref(image[None, None], size)[0, 0]
            where = f"image {image.shape}, output_size={size}, mode={mode!r}"
            got, failure = _call(fn, image.copy(), size, mode, where=where, as_array=True)
            if failure is not None:
                return failure
            failure = compare(got, expected, atol=1e-9, where=where,
                              shape_hint=", the output_size",
                              otherwise="window i starts at floor(i*H/Ho) and ends at "
                                        "ceil((i+1)*H/Ho), excluded")
            if failure is not None:
                return failure
    return CheckResult(True, f"both modes match torch's rule on {len(cases)} cases "
                             "(non-divisible sizes, global pooling, larger outputs)")
