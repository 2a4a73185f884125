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
