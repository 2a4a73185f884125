"""Lessons 1-3's figures tell the truth: signed values on a diverging map centred at 0 with a
colorbar, image-valued kernel outputs in the input's own range, integer pixel ticks, 100 dpi,
and a palette PNG that keeps the committed notebooks small."""

import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnkit import kernels, viz


@pytest.fixture(autouse=True)
def _course_style():
    """The course style for each test, and matplotlib's settings restored after it."""
    with matplotlib.rc_context():
        viz.use_course_style()
        yield
    plt.close("all")


def _images(fig):
    return [im for ax in fig.axes for im in ax.get_images()]


def test_course_style_is_at_least_100_dpi():
    assert plt.rcParams["figure.dpi"] >= 100 and plt.rcParams["savefig.dpi"] >= 100


def test_signed_images_are_centred_at_zero_with_a_colorbar():
    signed = np.array([[-1.0, 3.0], [0.5, 0.0]])
    fig = viz.show_images([np.ones((2, 2)), signed], cmap=["gray", "RdBu_r"])
    grey, red_blue = _images(fig)[:2]
    assert red_blue.get_clim() == (-3.0, 3.0)
    assert len(fig.axes) == 3  # two images and one colorbar, for the signed one only
    ticks = fig.axes[0].get_xticks()
    assert np.allclose(ticks, np.round(ticks))  # integer pixel ticks


def test_limits_clip_an_image_to_a_given_range():
    fig = viz.show_images([np.array([[-0.5, 1.5]])], limits=[(0.0, 1.0)])
    assert _images(fig)[0].get_clim() == (0.0, 1.0)


def test_show_kernels_draws_images_in_the_input_range_and_signed_outputs_around_zero():
    rng = np.random.default_rng(0)
    image = rng.random((12, 12))
    names = ["sharpen", "sobel_x"]
    from cnnkit import conv

    results = {n: conv.correlate2d(image, kernels.get(n), mode="same") for n in names}
    assert results["sharpen"].max() > image.max()  # sharpen overshoots the input's range
    fig = viz.show_kernels({n: kernels.get(n) for n in names}, results, image=image)
    outputs = {ax.get_title(): ax.get_images()[0] for ax in fig.axes
               if ax.get_images() and ax.get_title() in ("image (clipped)", "signed")}
    lo, hi = outputs["image (clipped)"].get_clim()
    assert (lo, hi) == (pytest.approx(image.min()), pytest.approx(image.max()))
    vmin, vmax = outputs["signed"].get_clim()
    assert vmin == -vmax and vmax > 0


def test_channels_and_filters_shows_each_channel_and_the_sum():
    rng = np.random.default_rng(1)
    x, w = rng.random((3, 8, 9)), rng.standard_normal((2, 3, 3, 3))
    fig = viz.show_channels_and_filters(x, w)
    titles = [ax.get_title() for ax in fig.axes]
    assert "filter 1: sum = map 1" in titles and "x[2] * w[1,2]" in titles
    from cnnkit import conv

    total = _images(fig)[-1].get_array()  # the last row's sum is map 1 (no bias)
    expected = conv.conv2d(x[None], w)[0, 1]
    assert np.allclose(np.asarray(total), expected)


def test_kernel_learning_figure_shares_one_scale():
    fig = viz.show_kernel_learning([1.0, 0.1, 0.01], np.eye(3) * 0.9, np.eye(3))
    learnt, true = _images(fig)[:2]
    assert learnt.get_clim() == true.get_clim() == (-1.0, 1.0)
    assert fig.axes[0].get_yscale() == "log"


def test_feature_maps_and_rbf_decision():
    rows = {"C1": np.zeros((6, 28, 28)), "C3": np.ones((16, 10, 10))}
    fig = viz.show_feature_maps(rows, limit=1.7159, title="maps")
    assert all(im.get_clim() == (-1.7159, 1.7159) for im in _images(fig))
    assert len(_images(fig)) == 6 + 16
    prototypes = np.sign(np.random.default_rng(2).standard_normal((10, 12, 7)))
    distances = np.arange(10.0)[::-1]
    fig = viz.show_rbf_decision(prototypes[9] * 0.5, prototypes, distances)
    assert any("prototype 9" == ax.get_title() for ax in fig.axes)
    bars = [p for ax in fig.axes for p in ax.patches]
    assert len(bars) == 10


def test_palette_png_is_smaller_and_keeps_the_picture():
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(np.random.default_rng(3).random((64, 64)), cmap="RdBu_r")
    small = viz._palette_png(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    assert small.startswith(b"\x89PNG") and len(small) < len(buf.getvalue())
    image = Image.open(io.BytesIO(small))
    assert image.mode == "P" and len(image.getcolors(maxcolors=257)) <= 256
    assert image.size == Image.open(io.BytesIO(buf.getvalue())).size


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(1, 5), st.integers(5, 12),
       st.integers(0, 2), st.integers(0, 2**31 - 1))
def test_table_conv_counts_equals_layer_table(c_in, c_out, k, n, padding, seed):
    """The lesson-3 exercise's reference counts agree with cnnkit.inspect on random wirings
    (a full table as an nn.Conv2d with padding; a partial one as TableConv2d, no padding)."""
    import torch

    from cnnkit.checks.lenet import _table_conv_counts as table_conv_counts
    from cnnkit.inspect import layer_table
    from cnnkit.models import TableConv2d

    if k > n + 2 * padding:
        return
    full = np.ones((c_in, c_out), dtype=bool)
    conv = torch.nn.Sequential(torch.nn.Conv2d(c_in, c_out, k, padding=padding))
    row = layer_table(conv, (1, c_in, n, n)).rows[0]
    assert table_conv_counts(full, k, n, padding) == (row.trainable, row.connections)
    table = np.random.default_rng(seed).random((c_in, c_out)) < 0.5
    table[0] |= ~table.any(axis=0)  # every output map sees an input
    if k <= n:
        row = layer_table(torch.nn.Sequential(TableConv2d(table, k)), (1, c_in, n, n)).rows[0]
        assert table_conv_counts(table, k, n, 0) == (row.trainable, row.connections)


def test_table_conv_counts_on_a_single_link():
    from cnnkit.checks.lenet import _table_conv_counts as table_conv_counts

    assert table_conv_counts(np.ones((1, 1), dtype=bool), 3, 3, 0) == (10, 10)
