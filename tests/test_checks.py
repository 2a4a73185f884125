"""The lesson-1 self-checks accept right answers, reject wrong ones with a useful message, and
report unattempted exercises without raising."""

import numpy as np
import pytest

from cnnkit import checks
from cnnkit.conv import output_size


def reference_conv_single(image, kernel, stride=1, padding=0):
    image = np.pad(image, padding)
    kh, kw = kernel.shape
    Ho = (image.shape[0] - kh) // stride + 1
    Wo = (image.shape[1] - kw) // stride + 1
    out = np.zeros((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[i, j] = np.sum(image[i * stride:i * stride + kh, j * stride:j * stride + kw]
                               * kernel)
    return out


def test_output_sizes():
    right = {key: output_size(*q) for key, q in checks.OUTPUT_SIZE_QUESTIONS.items()}
    assert right == {"a": 28, "b": 28, "c": 112, "d": 3, "e": 6}
    assert checks.check_output_sizes(right)
    wrong = dict(right, d=4)
    result = checks.check_output_sizes(wrong)
    assert not result and "1 of 5 wrong" in result.message and "you said 4" in result.message
    unattempted = checks.check_output_sizes(dict.fromkeys(right))
    assert not unattempted and "not attempted" in repr(unattempted)


def test_conv_single_accepts_a_correct_loop():
    result = checks.check_conv_single(reference_conv_single)
    assert result, result.message
    assert repr(result).startswith("✔")


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda im, k, s, p: reference_conv_single(im, k[::-1, ::-1], s, p), "expected"),  # flips
        (lambda im, k, s, p: reference_conv_single(im, k, 1, p), "output shape"),  # no stride
        (lambda im, k, s, p: reference_conv_single(im, k, s, 0), "output shape"),  # no padding
        (lambda im, k, s, p: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_conv_single_rejects_wrong_versions(student, expected):
    result = checks.check_conv_single(student)
    assert not result
    assert expected in result.message


def test_conv_single_not_attempted():
    def stub(image, kernel, stride=1, padding=0):
        raise NotImplementedError

    assert "not attempted" in checks.check_conv_single(stub).message
    assert "not attempted" in checks.check_conv_single(None).message


def test_find_the_bug_exercise_signature():
    fixed = lambda im, k, p=0: reference_conv_single(im, k, 1, p)  # noqa: E731
    assert checks.check_conv_single(fixed, with_stride=False)

    def still_buggy(image, kernel, padding=0):  # bug 2 of the blog post: sizes the wrong way round
        h = kernel.shape[0] - image.shape[0] + 1
        return np.zeros((h, h))

    assert not checks.check_conv_single(still_buggy, with_stride=False)


@pytest.mark.parametrize(
    "kernel, ok, fragment",
    [
        ([[0, 1, 0], [-1, 0, 1], [0, -1, 0]], True, "2.00x the strongest other edge"),
        ([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]], True, "1.33x"),  # Sobel rotated 45 degrees
        ([[0, -1, -2], [1, 0, -1], [2, 1, 0]], True, "1.33x"),  # the same, sign flipped
        ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], False, "response of the vertical edge"),
        # the isotropic Laplacian: diagonal edges as strong as each other
        ([[0, 1, 0], [1, -4, 1], [0, 1, 0]], False, "1.00x the response of the anti-diagonal"),
        # an anti-diagonal line detector: stronger on the wrong diagonal
        ([[-1, -1, 2], [-1, 2, -1], [2, -1, -1]], False, "0.67x the response of the anti-diag"),
        ([[-2, -1, 0], [-1, 0, 1], [0, 1, 2]], False, "no response on a main-diagonal"),
        ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], False, "flat region"),
        (np.zeros((3, 3)), False, "no response"),
        (np.ones((5, 5)), False, "must be 3x3"),
        ([[0, np.nan, 0], [0, 0, 0], [0, 0, 0]], False, "NaN"),
        ("diagonal", False, "3x3 array of numbers"),
        (None, False, "not attempted"),
    ],
)
def test_diagonal_kernel(kernel, ok, fragment):
    result = checks.check_diagonal_kernel(kernel)
    assert bool(result) is ok, result
    assert fragment in result.message


def test_diagonal_kernel_ratio_is_capped_and_scale_free():
    # row, column and anti-diagonal sums all 0: only the main-diagonal edge gives a response
    only_main = np.array([[0, 1, -1], [-1, 0, 1], [1, -1, 0]], dtype=float)
    result = checks.check_diagonal_kernel(only_main)
    assert result and "more than 100x" in result.message
    assert "e+" not in result.message and "000000" not in result.message
    huge = checks.check_diagonal_kernel(1e12 * np.array([[0, 1, 0], [-1, 0, 1], [0, -1, 0]]))
    assert huge and "2.00x" in huge.message  # scaling a kernel changes no verdict


def test_check_result_renders_in_notebooks():
    html = checks.CheckResult(False, "a <b>")._repr_html_()
    assert "&lt;b&gt;" in html and "#b00" in html


# --- the checks named for any lesson: check_conv, check_pool, check_param_count -------------------


def conv_layer(x, w, b, stride, padding):
    from cnnkit import conv

    return conv.conv2d_loops(x, w, b, stride=stride, padding=padding)


def test_check_conv_accepts_a_layer_and_names_the_usual_mistakes():
    assert checks.check_conv(conv_layer)
    assert checks.check_conv_layer(conv_layer)  # the name lesson 1's graded part uses

    def flipped(x, w, b, stride, padding):
        return conv_layer(x, w[:, :, ::-1, ::-1], b, stride, padding)

    result = checks.check_conv(flipped)
    assert not result and "kernel is flipped" in result.message

    def one_too_many(x, w, b, stride, padding):  # the size formula without the floor's -1
        out = conv_layer(x, w, b, stride, padding)
        return np.pad(out, ((0, 0), (0, 0), (0, 1), (0, 0)))

    result = checks.check_conv(one_too_many)
    assert not result and "off by one in the size formula" in result.message
    result = checks.check_conv(lambda x, w, b, s, p: conv_layer(x, w, 0 * b, s, p))
    assert not result and "bias" in result.message
    assert "not attempted" in checks.check_conv(None).message
    result = checks.check_conv(lambda *args: "nothing")
    assert not result and "not an array of numbers" in result.message


def pool_layer(x, kernel_size, stride, mode):
    from cnnkit import pool

    if mode == "max":
        return pool.max_pool2d_loops(x, kernel_size, stride)
    return pool.avg_pool2d(x, kernel_size, stride)


def test_check_pool_accepts_a_layer_and_names_the_usual_mistakes():
    assert checks.check_pool(pool_layer)
    result = checks.check_pool(lambda x, k, s, mode: pool_layer(x, k, k, mode))
    assert not result and "moved by kernel_size, not by stride" in result.message
    result = checks.check_pool(
        lambda x, k, s, mode: pool_layer(x, k, s, "avg" if mode == "max" else "max"))
    assert not result and "modes are swapped" in result.message
    result = checks.check_pool(lambda x, k, s, mode: pool_layer(x, k, s, mode)[:, :, :-1])
    assert not result and "output shape" in result.message and "expected" in result.message

    def channels_mixed(x, k, s, mode):  # pools every channel with the first one's maxima
        out = pool_layer(x, k, s, mode)
        return np.broadcast_to(out[:, :1], out.shape)

    result = checks.check_pool(channels_mixed)
    assert not result and "out[0, 1," in result.message

    def unattempted(x, k, s, mode):
        raise NotImplementedError

    assert "not attempted" in checks.check_pool(unattempted).message
    result = checks.check_pool(lambda x, k, s, mode: 1 / 0)
    assert not result and "ZeroDivisionError" in result.message


def test_check_param_count_names_the_usual_mistakes_never_the_count():
    from torch import nn

    conv = nn.Conv2d(3, 16, 3)  # 16 * 3 * 3 * 3 + 16 = 448
    assert checks.check_param_count(conv, 448)
    assert checks.check_param_count(conv, 448.0)
    cases = {
        432: "biases are missing",
        448 * 30 * 30: "900 times too many",  # counted once per output position
        449: "too high",
        447: "too low",
    }
    for answer, hint in cases.items():
        result = checks.check_param_count(conv, answer)
        assert not result and hint in result.message, (answer, result)
        assert "448" not in result.message.replace(f"{answer:,}", "")  # never the count
    stem = nn.Sequential(nn.Conv2d(3, 64, 7, bias=False), nn.BatchNorm2d(64))
    assert checks.check_param_count(stem, 3 * 64 * 49 + 2 * 64)
    result = checks.check_param_count(stem, 3 * 64 * 49 + 4 * 64)
    assert not result and "running mean and variance" in result.message
    frozen = nn.Linear(10, 5)
    frozen.bias.requires_grad_(False)
    assert checks.check_param_count(frozen, 50)
    result = checks.check_param_count(frozen, 55)
    assert not result and "frozen" in result.message
    assert "not attempted" in checks.check_param_count(conv, None).message
    assert "whole number" in checks.check_param_count(conv, "448").message
    assert "whole number" in checks.check_param_count(conv, 448.5).message
    assert "torch.nn.Module" in checks.check_param_count("conv1", 448).message


# --- lesson 1's exercises: output shapes, the input gradient, learning a filter ----------------


def test_output_shapes_questions_are_rectangular_dilated_and_checked():
    questions = checks.SHAPE_QUESTIONS
    assert any(kh != kw for _, _, kh, kw, *_ in questions.values())  # a rectangular kernel
    assert any(H != W for H, W, *_ in questions.values())  # a rectangular image
    assert any(d > 1 for *_, d in questions.values())  # dilation
    right = {key: (output_size(H, kh, s, p, d), output_size(W, kw, s, p, d))
             for key, (H, W, kh, kw, s, p, d) in questions.items()}
    assert right == {"a": (32, 30), "b": (32, 24), "c": (14, 14), "d": (4, 3), "e": (13, 13)}
    assert checks.check_output_shapes(right)
    assert checks.check_output_shapes({k: list(v) for k, v in right.items()})  # lists are fine
    swapped = dict(right, d=right["d"][::-1])
    result = checks.check_output_shapes(swapped)
    assert not result and "1 of 5 wrong" in result.message and "you said (3, 4)" in result.message
    assert "apply the formula twice" in result.message
    result = checks.check_output_shapes(dict(right, a=32))
    assert not result and "a (32x32 input, 3x5 kernel" in result.message
    assert "not attempted" in checks.check_output_shapes(dict.fromkeys(right)).message
    assert not checks.check_output_shapes([(32, 30)])


def test_conv_dx_accepts_the_reference_and_names_the_unflipped_kernel():
    from cnnkit import conv

    def reference(dout, x, w, stride, padding):
        return conv.conv2d_backward(dout, x, w, stride=stride, padding=padding)[0]

    assert checks.check_conv_backward_dx(reference)

    def unflipped(dout, x, w, stride, padding):
        return reference(dout, x, w[:, :, ::-1, ::-1], stride, padding)

    result = checks.check_conv_backward_dx(unflipped)
    assert not result and "unflipped" in result.message

    def keeps_padding(dout, x, w, stride, padding):
        dx = reference(dout, x, w, stride, padding)
        return np.pad(dx, ((0, 0), (0, 0), (padding, padding), (padding, padding)))

    result = checks.check_conv_backward_dx(keeps_padding)
    assert not result and "fell in the padding" in result.message
    result = checks.check_conv_backward_dx(lambda d, x, w, s, p: 2 * reference(d, x, w, s, p))
    assert not result and "expected" in result.message
    assert "not attempted" in checks.check_conv_backward_dx(None).message


def test_conv_dx_by_full_convolution_route_passes():
    """The route section 9 points to: dilate dout by the stride, full-convolve, crop."""
    from scipy.signal import convolve2d

    def conv_dx(dout, x, w, stride, padding):
        N, C, H, W = x.shape
        F, _, kh, kw = w.shape
        Hp, Wp = H + 2 * padding, W + 2 * padding
        spread = np.zeros((N, F, Hp - kh + 1, Wp - kw + 1))
        spread[:, :, ::stride, ::stride] = dout
        dxp = np.zeros((N, C, Hp, Wp))
        for n in range(N):
            for c in range(C):
                for f in range(F):
                    dxp[n, c] += convolve2d(spread[n, f], w[f, c], mode="full")
        return dxp[:, :, padding:padding + H, padding:padding + W]

    result = checks.check_conv_backward_dx(conv_dx)
    assert result, result.message


def test_learnt_kernel_by_gradient_descent_passes_and_zero_fails():
    from cnnkit import conv

    x, y = checks.kernel_learning_task()
    assert x.shape == (16, 2, 10, 10) and y.shape == (16, 1, 8, 8)
    w, b = np.zeros((1, 2, 3, 3)), np.zeros(1)
    for _ in range(300):
        residual = conv.conv2d(x, w, b) - y
        _, dw, db = conv.conv2d_backward(2 * residual / residual.size, x, w)
        w, b = w - 0.2 * dw, b - 0.2 * db
    result = checks.check_learnt_kernel(w, b)
    assert result, result.message
    result = checks.check_learnt_kernel(w, np.zeros(1))  # forgot the bias
    assert not result and "bias 0.5 off" in result.message
    result = checks.check_learnt_kernel(np.zeros((1, 2, 3, 3)), b)
    assert not result and "not there yet" in result.message
    assert "shape" in checks.check_learnt_kernel(np.zeros((2, 3, 3)), b).message
    assert "NaN or inf" in checks.check_learnt_kernel(w * np.inf, b).message
    assert "not attempted" in checks.check_learnt_kernel(None, None).message


def test_correlate_and_convolve_follow_scipy():
    from scipy import signal

    from cnnkit import conv

    rng = np.random.default_rng(3)
    image, kernel = rng.standard_normal((6, 7)), rng.standard_normal((3, 2))
    for mode in ("valid", "same", "full"):
        assert np.allclose(conv.correlate2d(image, kernel, mode),
                           signal.correlate2d(image, kernel, mode))
        assert np.allclose(conv.convolve2d(image, kernel, mode),
                           signal.convolve2d(image, kernel, mode))


def test_backward_of_a_correlation_is_a_full_convolution():
    """Lesson 1 section 9: for stride 1, dx = full convolution of dout with w, dw =
    correlation of x with dout (scipy's functions, independent of cnnkit's)."""
    from scipy import signal

    from cnnkit import conv

    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((6, 7)), rng.standard_normal((3, 3))
    dout = rng.standard_normal((4, 5))
    dx, dw, _ = conv.conv2d_backward(dout[None, None], x[None, None], w[None, None])
    assert np.allclose(dx[0, 0], signal.convolve2d(dout, w, "full"))
    assert np.allclose(dw[0, 0], signal.correlate2d(x, dout, "valid"))
    assert not np.allclose(dx[0, 0], signal.correlate2d(dout, w, "full"))
