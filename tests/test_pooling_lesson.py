"""Lesson 2 (pooling): the PoolingExplorer widget driven from Python, and the lesson's
self-checks (right answers pass, wrong ones fail with a useful message, unattempted ones say
so without raising)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnkit import checks
from cnnkit.pool import avg_pool2d, max_pool2d
from cnnkit.widgets import PoolingExplorer

PNG = b"\x89PNG\r\n\x1a\n"


# --- the widget ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def explorer():
    return PoolingExplorer()


def test_initial_view_is_2x2_max_pooling_of_the_photo(explorer):
    assert (explorer.window.value, explorer.stride.value, explorer.padding.value) == (2, 2, 0)
    assert explorer.mode.value == "max" and explorer.image.value == "photo"
    assert explorer.output.shape == (60, 51)
    assert "output 60x51" in explorer.size_label.value
    assert "floor((120 + 2*0 - 2)/2) + 1 = 60" in explorer.size_label.value
    assert explorer.output_pixels().shape == (60 * explorer.scale, 51 * explorer.scale, 3)
    assert explorer.input_view.value[:8] == PNG
    expected, indices = max_pool2d(explorer.current_image()[None, None], 2, 2,
                                   return_indices=True)
    np.testing.assert_array_equal(explorer.output, expected[0, 0])
    np.testing.assert_array_equal(explorer.indices, indices[0, 0])
    assert explorer.error is None


def test_output_matches_torch(explorer):
    img = torch.from_numpy(explorer.current_image())[None, None]
    expected = F.max_pool2d(img, 2, 2)[0, 0].numpy()
    np.testing.assert_array_equal(explorer.output, expected)


def test_window_stride_padding_change_the_size(explorer):
    explorer.window.value = 3  # AlexNet's overlapping 3/2
    assert explorer.output.shape == (59, 50)
    assert "output 59x50" in explorer.size_label.value
    explorer.padding.value = 1
    assert explorer.output.shape == (60, 51)
    assert "floor((120 + 2*1 - 3)/2) + 1 = 60" in explorer.size_label.value
    explorer.stride.value = 1
    assert explorer.output.shape == (120, 102)
    explorer.window.value, explorer.stride.value, explorer.padding.value = 2, 2, 0
    assert explorer.output.shape == (60, 51)


def test_max_mode_shows_the_selected_pixels(explorer):
    plain = explorer.input_view.value
    assert "red" in explorer.input_caption.value
    assert "3060 input pixels" in explorer.selection_label.value  # one per 2x2 window
    explorer.mode.value = "avg"
    assert explorer.indices is None
    assert explorer.input_view.value != plain  # the overlay is gone
    assert "red" not in explorer.input_caption.value
    assert "mean" in explorer.selection_label.value
    expected = avg_pool2d(explorer.current_image()[None, None], 2)[0, 0]
    np.testing.assert_allclose(explorer.output, expected)
    explorer.mode.value = "max"
    assert explorer.input_view.value == plain


def test_overlapping_windows_can_share_a_winner():
    ex = PoolingExplorer(image="digit", window=3, stride=1, padding=1)
    assert ex.output.shape == (28, 28)
    assert np.unique(ex.indices).size < ex.indices.size  # one bright pixel wins many windows
    assert f"{np.unique(ex.indices).size} input pixels" in ex.selection_label.value


def test_image_switch_to_digit(explorer):
    before = explorer.input_view.value
    explorer.image.value = "digit"
    assert explorer.input_view.value != before
    assert explorer.output.shape == (14, 14)
    assert "input 28x28" in explorer.size_label.value
    explorer.image.value = "photo"


def test_invalid_settings_show_a_message_instead_of_raising(explorer):
    explorer.padding.value = 2  # more than window // 2 = 1
    assert explorer.output is None and explorer.indices is None
    assert "padding must be at most half the window" in explorer.error
    assert "no output" in explorer.size_label.value
    assert explorer.output_view.layout.visibility == "hidden"
    explorer.window.value = 4  # now valid again
    assert explorer.error is None and explorer.output.shape == (61, 52)
    assert explorer.output_view.layout.visibility == "visible"
    explorer.window.value, explorer.padding.value = 2, 0

    tiny = PoolingExplorer(images={"tiny": np.arange(25, dtype=np.float32).reshape(5, 5)},
                           image="tiny", window=3, stride=3)
    assert tiny.output.shape == (1, 1) and tiny.indices[0, 0] == 12  # the 3x3 window's max
    tiny.window.value = 6
    assert tiny.output is None and "does not fit" in tiny.size_label.value
    tiny.padding.value = 1  # 5 + 2 >= 6: fits again
    assert tiny.output.shape == (1, 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="image must be one of"):
        PoolingExplorer(image="cat")
    with pytest.raises(ValueError, match="mode must be one of"):
        PoolingExplorer(mode="min")


def test_renders_as_a_widget_with_css_classes(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "cnnkit-pooling-explorer" in explorer.ui._dom_classes
    assert "cnnkit-output-size" in explorer.size_label._dom_classes
    assert "cnnkit-output-image" in explorer.output_view._dom_classes


# --- the self-checks -----------------------------------------------------------------------

def reference_pool(image, size, stride=None, mode="max"):
    stride = stride or size
    Ho = (image.shape[0] - size) // stride + 1
    Wo = (image.shape[1] - size) // stride + 1
    reduce = np.max if mode == "max" else np.mean
    out = np.zeros((Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[i, j] = reduce(image[i * stride:i * stride + size, j * stride:j * stride + size])
    return out


def reference_backward(dout, image, size):
    dx = np.zeros_like(image, dtype=np.float64)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            window = image[i * size:(i + 1) * size, j * size:(j + 1) * size]
            r, c = np.unravel_index(np.argmax(window), window.shape)  # the first maximum
            dx[i * size + r, j * size + c] += dout[i, j]
    return dx


def seed_style_pool(image, size, mode="max"):
    """The blog post's pooling function's two bugs, as in the find-the-bug exercise."""
    h, w = image.shape
    if h % size or w % size:
        raise ValueError("the image size must be a multiple of the window")
    out = np.zeros(h // size, w // size)
    return out


def test_pool_sizes():
    right = {key: 1 + (n + 2 * p - k) // s
             for key, (n, k, s, p) in checks.POOL_SIZE_QUESTIONS.items()}
    assert right == {"a": 10, "b": 7, "c": 34, "d": 6, "e": 113}
    assert checks.check_pool_sizes(right)
    result = checks.check_pool_sizes(dict(right, a=11))  # rounding up instead of down
    assert not result and "1 of 5 wrong" in result.message and "you said 11" in result.message
    assert "not attempted" in checks.check_pool_sizes(dict.fromkeys(right)).message
    assert not checks.check_pool_sizes([14, 13])  # not a dict: a message, not an exception


def test_pool_single_accepts_a_correct_loop():
    result = checks.check_pool_single(reference_pool)
    assert result, result.message
    fixed = checks.check_pool_single(lambda im, k, mode: reference_pool(im, k, k, mode),
                                     with_stride=False)
    assert fixed, fixed.message


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda im, k, s, m: reference_pool(im, k, s, "max"), "avg pooling"),  # ignores mode
        (lambda im, k, s, m: reference_pool(im, k, k, m), "output shape"),  # ignores stride
        (lambda im, k, s, m: np.maximum(reference_pool(im, k, s, m), 0), "expected -"),  # max>=0
        (lambda im, k, s, m: reference_pool(im[:k * (im.shape[0] // k)], k, s, m),
         "output shape"),
        (lambda im, k, s, m: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_pool_single_rejects_wrong_versions(student, expected):
    result = checks.check_pool_single(student)
    assert not result
    assert expected in result.message, result.message


def test_pool_single_reports_the_seed_bugs():
    result = checks.check_pool_single(seed_style_pool, with_stride=False)
    assert not result and "raised TypeError" in result.message  # np.zeros(h, w)

    def zeros_fixed(image, size, mode="max"):  # the size check is still there
        h, w = image.shape
        if h % size or w % size:
            raise ValueError("the image size must be a multiple of the window")
        return reference_pool(image, size, size, mode)

    result = checks.check_pool_single(zeros_fixed, with_stride=False)
    assert not result and "image (5, 5), size=2" in result.message
    assert "raised ValueError" in result.message


def test_pool_single_not_attempted():
    def stub(image, size, stride=None, mode="max"):
        raise NotImplementedError

    assert "not attempted" in checks.check_pool_single(stub).message
    assert "not attempted" in checks.check_pool_single(None).message


def test_max_pool_backward():
    result = checks.check_max_pool_backward(reference_backward)
    assert result, result.message
    assert "not attempted" in checks.check_max_pool_backward(None).message


def test_max_pool_backward_rejects_gradient_to_every_tie():
    def to_every_tie(dout, image, size):
        dx = np.zeros_like(image)
        for i in range(dout.shape[0]):
            for j in range(dout.shape[1]):
                window = image[i * size:(i + 1) * size, j * size:(j + 1) * size]
                dx[i * size:(i + 1) * size, j * size:(j + 1) * size] += (
                    (window == window.max()) * dout[i, j])
        return dx

    result = checks.check_max_pool_backward(to_every_tie)
    assert not result and "ties" in result.message and "first one" in result.message


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda d, im, k: np.kron(d, np.ones((k, k))) / (k * k), "one cell"),  # average's
        (lambda d, im, k: 2 * reference_backward(d, im, k), "exactly once"),
        (lambda d, im, k: np.zeros((2, 2)), "dx has shape"),
        (lambda d, im, k: {}[0], "raised KeyError"),
    ],
)
def test_max_pool_backward_rejects_wrong_versions(student, expected):
    result = checks.check_max_pool_backward(student)
    assert not result and expected in result.message, result.message


def test_pooling_parameters():
    right = {"a": 32, "b": 0, "c": 250_890, "d": 5_130}
    assert checks.check_pooling_parameters(right)
    result = checks.check_pooling_parameters(dict(right, a=12))
    assert not result and "1 of 4 wrong" in result.message and "you said 12" in result.message
    assert "not attempted" in checks.check_pooling_parameters(dict.fromkeys(right)).message
    assert "not attempted" in checks.check_pooling_parameters(None).message
    assert not checks.check_pooling_parameters("32, 0")


# --- lesson 2's exercises on the average-pooling backward pass and adaptive pooling ---------------


def avg_backward_single(dout, image, size, stride):
    dx = np.zeros_like(image, dtype=float)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dx[i * stride:i * stride + size, j * stride:j * stride + size] += dout[i, j] / size**2
    return dx


def test_avg_pool_backward_accepts_a_loop_and_names_the_usual_mistakes():
    assert checks.check_avg_pool_backward(avg_backward_single)
    result = checks.check_avg_pool_backward(
        lambda d, im, k, s: avg_backward_single(d, im, k, s) * k * k)
    assert not result and "dout / size**2" in result.message

    def overwrites(dout, image, size, stride):  # = instead of +=: overlaps lose a share
        dx = np.zeros_like(image, dtype=float)
        for i in range(dout.shape[0]):
            for j in range(dout.shape[1]):
                dx[i * stride:i * stride + size, j * stride:j * stride + size] = (
                    dout[i, j] / size**2)
        return dx

    result = checks.check_avg_pool_backward(overwrites)
    assert not result and "add up" in result.message
    result = checks.check_avg_pool_backward(lambda d, im, k, s: np.zeros((2, 2)))
    assert not result and "shape" in result.message
    assert "not attempted" in checks.check_avg_pool_backward(None).message


def adaptive_single(image, output_size, mode):
    H, W = image.shape
    Ho, Wo = output_size
    out = np.zeros((Ho, Wo))
    reduce = np.max if mode == "max" else np.mean
    for i in range(Ho):
        for j in range(Wo):
            rows = slice(i * H // Ho, -(-(i + 1) * H // Ho))
            cols = slice(j * W // Wo, -(-(j + 1) * W // Wo))
            out[i, j] = reduce(image[rows, cols])
    return out


def test_adaptive_pool_accepts_torch_rule_and_rejects_floor_ends():
    import torch
    import torch.nn.functional as F

    assert checks.check_adaptive_pool(adaptive_single)
    image = np.random.default_rng(1).standard_normal((7, 10))  # the check's reference is torch's
    ref = F.adaptive_avg_pool2d(torch.from_numpy(image)[None, None], (3, 4))[0, 0].numpy()
    assert np.allclose(adaptive_single(image, (3, 4), "avg"), ref)

    def floor_ends(image, output_size, mode):  # windows end at floor((i+1)*H/Ho): too short
        H, W = image.shape
        Ho, Wo = output_size
        reduce = np.max if mode == "max" else np.mean
        return np.array([[reduce(image[i * H // Ho:max((i + 1) * H // Ho, i * H // Ho + 1),
                                       j * W // Wo:max((j + 1) * W // Wo, j * W // Wo + 1)])
                          for j in range(Wo)] for i in range(Ho)])

    result = checks.check_adaptive_pool(floor_ends)
    assert not result and "ceil((i+1)*H/Ho)" in result.message
    result = checks.check_adaptive_pool(lambda im, size, mode: np.zeros((size[0], size[1] + 1)))
    assert not result and "output shape" in result.message
    assert "not attempted" in checks.check_adaptive_pool(None).message
