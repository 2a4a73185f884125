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


def test_seed_bug_exercise_signature():
    fixed = lambda im, k, p=0: reference_conv_single(im, k, 1, p)  # noqa: E731
    assert checks.check_conv_single(fixed, with_stride=False)

    def still_buggy(image, kernel, padding=0):  # bug 2 of the seed: sizes the wrong way round
        h = kernel.shape[0] - image.shape[0] + 1
        return np.zeros((h, h))

    assert not checks.check_conv_single(still_buggy, with_stride=False)


@pytest.mark.parametrize(
    "kernel, ok, fragment",
    [
        ([[0, 1, 0], [-1, 0, 1], [0, -1, 0]], True, "stronger"),
        ([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]], True, "stronger"),  # Sobel rotated 45 degrees
        ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], False, "response of horizontal/vertical"),
        ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], False, "flat region"),
        (np.zeros((3, 3)), False, "no response"),
        (np.ones((5, 5)), False, "must be 3x3"),
        (None, False, "not attempted"),
    ],
)
def test_diagonal_kernel(kernel, ok, fragment):
    result = checks.check_diagonal_kernel(kernel)
    assert bool(result) is ok
    assert fragment in result.message


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
