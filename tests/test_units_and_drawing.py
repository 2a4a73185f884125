"""cnnkit.units (one output unit, term by term) against cnnkit.conv / cnnkit.pool, and
cnnkit.drawing (MNIST's preprocessing of a drawn digit)."""

import numpy as np
import pytest

from cnnkit import conv, drawing, pool, units


@pytest.mark.parametrize("kernel", [(1, 1), (3, 3), (2, 5), (7, 7)])
@pytest.mark.parametrize("stride,padding,dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 3, 3)])
@pytest.mark.parametrize("flip,relu", [(False, False), (True, True)])
def test_conv_unit_equals_conv2d(kernel, stride, padding, dilation, flip, relu):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 14, 13))
    w = rng.normal(size=(3, *kernel))
    out = conv.conv2d(x[None], (w[:, ::-1, ::-1] if flip else w)[None], np.array([0.5]),
                      stride=stride, padding=padding, dilation=dilation)[0, 0]
    if relu:
        out = np.maximum(out, 0)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            u = units.conv_unit(x, w, i, j, 0.5, stride, padding, dilation, flip, relu)
            assert u.value == pytest.approx(out[i, j], abs=1e-9)
            assert u.pre_activation == pytest.approx(u.products.sum() + 0.5)
            np.testing.assert_allclose(u.products, u.window.values * u.weights)


def test_window_coordinates_show_padding_and_dilation_gaps():
    x = np.arange(36.0).reshape(6, 6)
    win = units.window(x, 0, 0, 3, stride=1, padding=2, dilation=2)
    np.testing.assert_array_equal(win.rows, [-2, 0, 2])
    np.testing.assert_array_equal(win.cols, [-2, 0, 2])
    assert not win.inside[0].any() and win.inside[1:, 1:].all()
    assert win.values[0, 1, 1] == 0 and win.values[0, 2, 2] == x[2, 2]
    with pytest.raises(ValueError, match="j"):
        units.window(x, 0, 99, 3)


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_pool_unit_equals_pool(mode, k, s, p):
    x = np.random.default_rng(1).normal(size=(9, 10))
    if mode == "max":
        out, idx = pool.max_pool2d(x[None, None], k, s, p, return_indices=True)
    else:
        out, idx = pool.avg_pool2d(x[None, None], k, s, p), None
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            u = units.pool_unit(x, i, j, k, s, p, mode)
            assert u.value == pytest.approx(out[0, 0, i, j])
            if mode == "max":
                assert u.argmax[0] * x.shape[1] + u.argmax[1] == idx[0, 0, i, j]
            else:
                assert u.argmax is None


def test_shift_and_unchanged_fraction():
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(units.shift_right(x, 1)[:, 0], 0)
    np.testing.assert_array_equal(units.shift_right(x, 1)[:, 1:], x[:, :3])
    assert units.shift_right(x, 9).sum() == 0
    assert units.unchanged_fraction(x, x) == 1.0
    assert units.unchanged_fraction(x, units.shift_right(x, 0)) == 1.0
    assert units.unchanged_fraction([0, 1], [0, 2]) == 0.5
    with pytest.raises(ValueError, match="same shape"):
        units.unchanged_fraction(x, x[0])


# --- drawing ---------------------------------------------------------------------------------


def _bbox(x, threshold=0.1):
    rows = np.flatnonzero(x.max(axis=1) > threshold)
    cols = np.flatnonzero(x.max(axis=0) > threshold)
    return rows[0], rows[-1], cols[0], cols[-1]


def test_rasterize_draws_thick_round_strokes():
    img = drawing.rasterize_strokes([[(10, 10), (50, 10)], [(30, 40)]], size=(60, 80), width=6)
    assert img.shape == (60, 80) and img.dtype == np.float32
    assert img[10, 30] == 1.0 and img[40, 30] == 1.0  # on the line, the dot
    assert img[30, 30] == 0.0 and img[10, 70] == 0.0
    with pytest.raises(ValueError, match=r"strokes\[0\] is empty"):
        drawing.rasterize_strokes([[]])


@pytest.mark.parametrize("where", [(30, 40), (200, 230)])
def test_preprocess_fits_20x20_and_centres_the_mass(where):
    x0, y0 = where
    img = drawing.rasterize_strokes([[(x0, y0), (x0 + 30, y0 + 5), (x0 + 10, y0 + 40)]])
    out = drawing.mnist_preprocess(img)
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    top, bottom, left, right = _bbox(out, 0.0)
    assert max(bottom - top + 1, right - left + 1) in (20, 21)  # Lanczos may ring one pixel
    r, c = drawing.centre_of_mass(out)
    assert abs(r - 14) <= 0.5 and abs(c - 14) <= 0.5


def test_preprocess_is_independent_of_where_and_how_big_the_digit_is():
    stroke = np.array([(0, 0), (30, 0), (10, 45)], dtype=float)
    small = drawing.rasterize_strokes([list(stroke + 20)], width=8)
    big = drawing.rasterize_strokes([list(stroke * 3 + 100)], width=24)
    a, b = drawing.mnist_preprocess(small), drawing.mnist_preprocess(big)
    assert np.abs(a - b).mean() < 0.08


def test_preprocess_reads_dark_ink_on_paper_and_colour():
    ink = drawing.rasterize_strokes([[(60, 40), (60, 220)]])
    paper = (255 * (1 - ink)).astype(np.uint8)  # black ink on white, uint8
    rgb = np.repeat(paper[..., None], 3, axis=2)
    expected = drawing.mnist_preprocess(ink)
    np.testing.assert_allclose(drawing.mnist_preprocess(paper), expected, atol=0.01)
    np.testing.assert_allclose(drawing.mnist_preprocess(rgb), expected, atol=0.01)
    assert drawing.mnist_preprocess(np.zeros((10, 10))).sum() == 0
    with pytest.raises(ValueError, match="image must be"):
        drawing.mnist_preprocess(np.zeros((3, 4, 5)))


def test_a_real_mnist_digit_survives_preprocessing():
    from cnnkit import data

    for label in range(10):  # MNIST's digits went through the same steps: nearly unchanged
        digit = data.mnist_digit(label)
        out = drawing.mnist_preprocess(digit)
        assert np.corrcoef(out.ravel(), digit.ravel())[0, 1] > 0.99
