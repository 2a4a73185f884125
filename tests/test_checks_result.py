"""The helpers shared by the self-checks: the array comparison (cnnkit.checks._result.compare)
and the mean/std contract of lessons 4 and 5 (cnnkit.checks._stats)."""

import numpy as np
import pytest
import torch

from cnnkit import checks
from cnnkit.checks._result import CheckResult, compare
from cnnkit.checks._stats import reference_stats, stats_failure


def test_equal_arrays_and_tensors_agree():
    a = np.arange(12.0).reshape(3, 4)
    assert compare(a, a.copy(), atol=1e-9) is None
    assert compare(torch.from_numpy(a).float(), a, atol=1e-6) is None
    assert compare(torch.ones(2, 3, requires_grad=True), torch.ones(2, 3), atol=0) is None
    assert compare([1.0, 2.0], np.array([1.0, 2.0]), atol=0) is None
    assert compare(3.0, 3, atol=0) is None


def test_tolerances_are_allclose_ones():
    expected = np.array([100.0, 0.0])
    assert compare(expected + [5e-4, 0], expected, atol=0, rtol=1e-5) is None  # 1e-3 allowed
    assert compare(expected + [2e-3, 0], expected, atol=0, rtol=1e-5) is not None
    assert compare(expected + [0, 1e-7], expected, atol=1e-6, rtol=0) is None
    assert compare(expected + [0, 1e-5], expected, atol=1e-6, rtol=0) is not None


def test_shape_mismatch_names_both_shapes():
    result = compare(np.zeros((2, 3)), torch.zeros(2, 4), atol=1e-9, where="image (5, 5)")
    assert isinstance(result, CheckResult) and not result
    assert result.message == "image (5, 5): output shape (2, 3), expected (2, 4)"
    other = compare(np.zeros(3), np.zeros(4), atol=1e-9, what="dx", shape_hint=" (the image's)")
    assert other.message == "dx has shape (3,), expected (4,) (the image's)"


def test_shape_hint_may_be_computed_from_the_wrong_shape_only_then():
    seen = []

    def hint(shape):
        seen.append(shape)
        return "; transposed" if shape == (3, 2) else ""

    assert compare(np.zeros((2, 3)), np.zeros((2, 3)), atol=0, shape_hint=hint) is None
    assert seen == []
    result = compare(np.zeros((3, 2)), np.zeros((2, 3)), atol=0, shape_hint=hint)
    assert result.message == "output shape (3, 2), expected (2, 3); transposed"


def test_first_differing_index_in_reading_order_and_its_values():
    expected = np.zeros((2, 3, 4))
    got = expected.copy()
    got[1, 2, 3] = 10.0  # the largest difference comes later in reading order
    got[0, 1, 2] = 0.5
    result = compare(got, expected, atol=1e-9, where="case 1", what="dw")
    assert result.message == "case 1: dw[0, 1, 2] = 0.5, expected 0"


def test_a_scalar_has_no_index():
    assert compare(2.5, 2.0, atol=1e-9).message == "out = 2.5, expected 2"


def test_nan_never_agrees():
    result = compare(np.array([1.0, np.nan]), np.array([1.0, 2.0]), atol=1e-3)
    assert result.message == "out[1] = nan, expected 2"
    assert compare(np.array([np.nan]), np.array([np.nan]), atol=1) is not None


def test_first_matching_variant_gives_the_hint():
    expected = np.arange(4.0)
    calls = []

    def flipped():
        calls.append(1)
        return expected[::-1]

    variants = [(expected * 2, "doubled"), (flipped, "the kernel is flipped"),
                (expected[::-1].copy(), "reversed, named twice")]
    result = compare(expected[::-1], expected, atol=1e-9, variants=variants, otherwise="other")
    assert result.message == "out[0] = 3, expected 0; the kernel is flipped"
    assert calls == [1]
    result = compare(expected + 7, expected, atol=1e-9, variants=variants, otherwise="other")
    assert result.message.endswith("expected 0; other")
    calls.clear()
    assert compare(expected, expected, atol=1e-9, variants=[(flipped, "x")]) is None
    assert calls == []  # variants are computed on a failure only


def test_a_variant_of_another_shape_or_equal_to_the_reference_names_nothing():
    expected = np.ones(3)
    got = np.full(3, 2.0)
    variants = [(np.full(4, 2.0), "other shape"), (expected.copy(), "same as expected")]
    assert compare(got, expected, atol=1e-9, variants=variants).message == (
        "out[0] = 2, expected 1")


def test_torch_variants_and_tensors_that_require_grad():
    expected = torch.linspace(-1, 1, 6).reshape(2, 3)
    got = torch.relu(expected).requires_grad_()
    result = compare(got, expected, atol=1e-6, variants=[(torch.relu(expected), "relu")])
    assert result.message == "out[0, 0] = 0, expected -1; relu"


def test_not_an_array_of_numbers():
    result = compare({"a": 1}, np.zeros(2), atol=0, where="case 0")
    assert not result and result.message.startswith("case 0: out must be an array of numbers")
    assert "got dict" in result.message


def test_values_get_the_digits_that_tell_them_apart():
    result = compare(np.array([0.098041]), np.array([0.098043]), atol=1e-9, rtol=0)
    assert result.message == "out[0] = 0.098041, expected 0.098043"


# --- the mean/std contract shared by lessons 4 and 5 (cnnkit.checks._stats) ----------------------


def test_statistics_failure_names_the_value_and_the_mistake():
    images = torch.tensor([[[[0, 255]], [[10, 20]]], [[[255, 255]], [[30, 40]]]],
                          dtype=torch.uint8)  # (2, 2, 1, 2)
    mean, std = reference_stats(images)
    assert np.allclose(mean, [0.75, 25 / 255])
    assert np.allclose(std, [np.sqrt(0.1875), np.sqrt(125) / 255])
    assert stats_failure((mean, std), images, where="w") is None
    assert stats_failure((mean + 1e-6, std), images, where="w") is None  # within tolerance
    x = images.double() / 255
    per_image = x.std(dim=(2, 3), correction=0).mean(0)
    result = stats_failure((mean, per_image), images, where="w")
    assert result.message.startswith(f"w: std[0] = {per_image[0].item():.4g}, expected "
                                     f"{std[0]:.4g}; that is the mean of per-image stds")
    wrong_count = stats_failure((mean[:1], std[:1]), images, where="w")
    assert wrong_count.message == ("w: mean has 1 values, expected one value per channel (2): "
                                   "you averaged over the channels too")


def _stats(correction=0, scale=255.0, dtype=torch.float64):
    def fn(images):
        x = images.to(dtype) / scale
        return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), correction=correction)

    return fn


@pytest.mark.parametrize("check", [checks.check_mean_std, checks.check_channel_stats],
                         ids=["lesson4", "lesson5"])
def test_both_statistics_checks_grade_by_one_contract(check):
    assert check(_stats())
    assert check(_stats(dtype=torch.float32))  # float32 arithmetic is close enough
    sample = check(_stats(correction=1))
    assert not sample and "the sample std" in sample.message
    pixels = check(_stats(scale=1.0))
    assert not pixels and "divide by 255" in pixels.message
    assert not check(lambda images: (_stats()(images)[0], None))
    for blank in (None, lambda images: None):
        assert check(blank).message.startswith("not attempted")
