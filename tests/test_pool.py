"""cnnkit.pool against torch.nn.functional: forward, indices, backward (autograd), ties, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnkit.pool
from cnnkit.models.lenet import Subsampling
from cnnkit.pool import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    adaptive_windows,
    avg_pool2d,
    avg_pool2d_backward,
    global_avg_pool2d,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_loops,
    max_unpool2d,
)

TOL = 1e-10
PROPERTY = settings(max_examples=60, deadline=None)


@st.composite
def pool_cases(draw, ties=False, dilation=True):
    """A random pooling problem: (x, kwargs), torch-valid, over torch's whole argument space
    (max pooling's dilation only if ``dilation``); x batched or unbatched."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    stride = draw(st.one_of(st.none(), st.integers(1, 3),
                            st.tuples(st.integers(1, 4), st.integers(1, 4))))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if dilation else (1, 1)
    low = [max(1, dd * (k - 1) + 1 - 2 * p) for dd, k, p in zip(d, (kh, kw), (ph, pw), strict=True)]
    H, W = draw(st.integers(low[0], max(low[0], 9))), draw(st.integers(low[1], max(low[1], 9)))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if ties:  # few distinct integer values: windows full of equal maxima
        x = rng.integers(-2, 2, size=(N, C, H, W)).astype(np.float64)
    else:
        x = rng.standard_normal((N, C, H, W))
    if draw(st.booleans()) and N == 1:
        x = x[0]  # unbatched (C, H, W)
    kernel = draw(st.sampled_from([(kh, kw), kh])) if kh == kw else (kh, kw)
    padding = (ph, pw) if ph != pw else draw(st.sampled_from([(ph, pw), ph]))
    # torch's stride=None means "= kernel_size", like ours
    kwargs = {"kernel_size": kernel, "stride": stride, "padding": padding,
              "ceil_mode": draw(st.booleans())}
    if dilation:
        kwargs["dilation"] = d if d[0] != d[1] else draw(st.sampled_from([d, d[0]]))
    return x, kwargs


@st.composite
def avg_cases(draw):
    x, kwargs = draw(pool_cases(dilation=False))
    kwargs["count_include_pad"] = draw(st.booleans())
    kwargs["divisor_override"] = draw(st.sampled_from([None, None, 1, 3, -2]))
    return x, kwargs


def _t(a, requires_grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad)


# ---------------------------------------------------------------- forward against torch


@PROPERTY
@given(pool_cases())
def test_max_pool2d_matches_torch(case):
    x, kwargs = case
    out, idx = max_pool2d(x, **kwargs, return_indices=True)
    t_out, t_idx = F.max_pool2d(_t(x), **kwargs, return_indices=True)
    assert out.shape == tuple(t_out.shape) and out.dtype == np.float64
    np.testing.assert_array_equal(out, t_out.numpy())  # a maximum is one of the inputs: exact
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, t_idx.numpy())
    np.testing.assert_array_equal(max_pool2d(x, **kwargs), out)


@PROPERTY
@given(avg_cases())
def test_avg_pool2d_matches_torch(case):
    x, kwargs = case
    out = avg_pool2d(x, **kwargs)
    t_out = F.avg_pool2d(_t(x), **kwargs)
    assert out.shape == tuple(t_out.shape)
    assert np.abs(out - t_out.numpy()).max() < TOL


def _no_input_cell(x, kwargs) -> bool:
    """Whether some dilated window meets no cell of the input (torch: -inf, an index outside)."""
    try:
        max_pool2d_loops(x, **kwargs)
    except ValueError as err:
        assert "has no cell inside the input" in str(err)
        return True
    return False


def _check_backward(x, kwargs, ours, ours_backward, theirs, seed):
    out = ours(x, **kwargs)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    tx = _t(x, requires_grad=True)
    theirs(tx, **kwargs).backward(_t(dout))
    dx = ours_backward(dout, x, **kwargs)
    assert dx.shape == x.shape
    assert np.abs(dx - tx.grad.numpy()).max() < TOL, ours.__name__


@PROPERTY
@given(pool_cases(), avg_cases(), st.integers(0, 2**32 - 1))
def test_backward_passes_match_autograd(max_case, avg_case, seed):
    # a dilated window with no cell in the input: torch routes its gradient to an index past
    # the plane (into the next plane's memory); ours drops it (tested on its own below)
    if not _no_input_cell(*max_case):
        _check_backward(*max_case, max_pool2d, max_pool2d_backward, F.max_pool2d, seed)
    _check_backward(*avg_case, avg_pool2d, avg_pool2d_backward, F.avg_pool2d, seed)


@PROPERTY
@given(pool_cases(dilation=False), st.booleans())
def test_max_unpool2d_matches_torch(case, full_size):
    x, kwargs = case
    if kwargs.pop("ceil_mode"):
        return  # max_unpool2d has no ceil_mode
    _, idx = max_pool2d(x, **kwargs, return_indices=True)
    # values independent of x, so a wrong placement cannot hide behind equal values; entries
    # of a plane that share an index (overlapping windows, same maximum) get the same value,
    # because torch writes repeated indices in an unspecified order (its docs, issue #80827)
    planes = idx.reshape(-1, idx.shape[-2] * idx.shape[-1])
    table = np.random.default_rng(0).standard_normal((planes.shape[0], x.shape[-2] * x.shape[-1]))
    vals = np.take_along_axis(table, planes, axis=1).reshape(idx.shape)
    # the default output size may be smaller than x when the windows did not cover it: the
    # indices (into x's planes) then fall outside, and torch raises; or it may be empty, and
    # torch returns an empty array: we refuse both with a ValueError
    try:
        t_out = F.max_unpool2d(_t(vals), torch.from_numpy(idx), **kwargs)
    except RuntimeError:
        t_out = None
    if t_out is None or t_out.numel() == 0:
        with pytest.raises(ValueError, match="indices: found|default output size"):
            max_unpool2d(vals, idx, **kwargs)
    else:
        out = max_unpool2d(vals, idx, **kwargs)
        assert out.shape == tuple(t_out.shape)
        assert np.abs(out - t_out.numpy()).max() < TOL
    # an explicit output_size: the input's own (H, W), or (N, C, H, W) for a batch
    size = x.shape if full_size and x.ndim == 4 else x.shape[-2:]
    out = max_unpool2d(vals, idx, **kwargs, output_size=size)
    t_out = F.max_unpool2d(_t(vals), torch.from_numpy(idx), output_size=size, **kwargs)
    assert out.shape == x.shape == tuple(t_out.shape)
    assert np.abs(out - t_out.numpy()).max() < TOL


def test_max_unpool2d_puts_maxima_back():
    x = np.array([[[[1.0, 2, 0, 7], [4, 3, 8, 6], [0, 9, 1, 1]]]])
    pooled, idx = max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(pooled, [[[[4.0, 8.0]]]])
    np.testing.assert_array_equal(idx, [[[[4, 6]]]])
    out = max_unpool2d(pooled, idx, 2, output_size=x.shape[2:])
    expected = np.zeros_like(x)
    expected[0, 0, 1, 0], expected[0, 0, 1, 2] = 4, 8
    np.testing.assert_array_equal(out, expected)
    assert max_unpool2d(pooled, idx, 2).shape == (1, 1, 2, 4)  # default (Hi-1)*s - 2p + k


def test_max_unpool2d_repeated_index_last_write_wins():
    # torch leaves the order unspecified here (and on CPU it varies from call to call)
    out = max_unpool2d(np.array([[[[1.0, 2.0, 3.0]]]]), np.array([[[[1, 1, 0]]]]), (1, 2), 1)
    np.testing.assert_array_equal(out, [[[[3.0, 2.0, 0.0, 0.0]]]])


def test_global_avg_pool2d_matches_torch():
    x = np.random.default_rng(1).standard_normal((3, 5, 7, 4))
    out = global_avg_pool2d(x)
    t_out = F.adaptive_avg_pool2d(_t(x), 1)
    assert out.shape == (3, 5)
    assert np.abs(out - t_out.numpy()[:, :, 0, 0]).max() < TOL


def test_dtypes():
    x32 = np.random.default_rng(2).standard_normal((1, 2, 6, 6)).astype(np.float32)
    assert max_pool2d(x32, 2).dtype == np.float32
    assert avg_pool2d(x32, 3, 1, 1).dtype == np.float32
    assert max_pool2d_backward(np.ones((1, 2, 3, 3), np.float32), x32, 2).dtype == np.float32
    ints = np.arange(16).reshape(1, 1, 4, 4)
    assert max_pool2d(ints, 2).dtype == np.float64
    np.testing.assert_array_equal(max_pool2d(ints, 2)[0, 0], [[5, 7], [13, 15]])


def test_overlapping_windows_accumulate():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 1.0  # the centre is the maximum of all four 2x2 windows
    dx = max_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, stride=1)
    expected = np.zeros_like(x)
    expected[0, 0, 1, 1] = 4.0
    np.testing.assert_array_equal(dx, expected)
    dx = avg_pool2d_backward(np.ones((1, 1, 2, 2)), x, 2, stride=1)
    np.testing.assert_allclose(dx[0, 0], np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 4)


def test_padding_counts_in_average_and_never_wins_max():
    x = -np.ones((1, 1, 2, 2))
    np.testing.assert_array_equal(avg_pool2d(x, 2, 1, 1)[0, 0, 0], [-0.25, -0.5, -0.25])
    np.testing.assert_array_equal(max_pool2d(x, 2, 1, 1), -np.ones((1, 1, 3, 3)))


# ---------------------------------------------------------------- the tie rule


def test_tie_rule_first_maximum_in_row_major_order():
    x = np.array([[[[1.0, 5.0], [5.0, 5.0]]]])  # three equal maxima
    out, idx = max_pool2d(x, 2, return_indices=True)
    assert out[0, 0, 0, 0] == 5.0 and idx[0, 0, 0, 0] == 1  # the first: row 0, column 1
    dx = max_pool2d_backward(np.full((1, 1, 1, 1), 3.0), x, 2)
    np.testing.assert_array_equal(dx, [[[[0.0, 3.0], [0.0, 0.0]]]])  # all of it to that one
    x = np.full((1, 1, 3, 3), 2.0)  # every cell ties; windows 2x2, stride 1
    _, idx = max_pool2d(x, 2, stride=1, return_indices=True)
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])  # each window's top-left cell
    # same as torch, value and gradient
    for x in (np.array([[[[1.0, 5.0], [5.0, 5.0]]]]), np.full((1, 1, 3, 3), 2.0)):
        tx = _t(x, requires_grad=True)
        t_out, t_idx = F.max_pool2d(tx, 2, 1, return_indices=True)
        t_out.sum().backward()
        np.testing.assert_array_equal(max_pool2d(x, 2, 1, return_indices=True)[1], t_idx.numpy())
        np.testing.assert_array_equal(
            max_pool2d_backward(np.ones(t_out.shape), x, 2, 1), tx.grad.numpy()
        )


def test_tie_rule_nan_and_all_minus_inf():
    nan, inf = np.nan, np.inf
    x = np.array([[[[nan, 1.0], [nan, nan]]]])  # NaN wins; the last NaN of the window
    out, idx = max_pool2d(x, 2, return_indices=True)
    assert np.isnan(out[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 3
    # a window of -inf: -inf and its first in-bounds cell, never a padded cell
    x = np.full((1, 1, 2, 2), -inf)
    out, idx = max_pool2d(x, 2, 1, 1, return_indices=True)
    assert np.all(out == -inf)
    np.testing.assert_array_equal(idx[0, 0], [[0, 0, 1], [0, 0, 1], [2, 2, 3]])
    for x, args in ((np.array([[[[nan, 1.0], [nan, nan]]]]), (2,)),
                    (np.full((1, 1, 2, 2), -inf), (2, 1, 1))):
        _, t_idx = F.max_pool2d(_t(x), *args, return_indices=True)
        np.testing.assert_array_equal(max_pool2d(x, *args, return_indices=True)[1], t_idx.numpy())
        np.testing.assert_array_equal(max_pool2d_loops(x, *args, return_indices=True)[1],
                                      t_idx.numpy())


@PROPERTY
@given(pool_cases(ties=True), st.integers(0, 2**32 - 1))
def test_ties_match_torch_and_loops(case, seed):
    """Integer-valued inputs: torch's CPU kernel follows the same rule, indices and gradients."""
    x, kwargs = case
    out, idx = max_pool2d(x, **kwargs, return_indices=True)
    if not _no_input_cell(x, kwargs):
        loop_out, loop_idx = max_pool2d_loops(x, **kwargs, return_indices=True)
        np.testing.assert_array_equal(out, loop_out)
        np.testing.assert_array_equal(idx, loop_idx)
    tx = _t(x, requires_grad=True)
    t_out, t_idx = F.max_pool2d(tx, **kwargs, return_indices=True)
    np.testing.assert_array_equal(idx, t_idx.numpy())
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    t_out.backward(_t(dout))
    dx = max_pool2d_backward(dout, x, **kwargs)
    if _no_input_cell(x, kwargs):
        return  # see test_backward_passes_match_autograd
    assert np.abs(dx - tx.grad.numpy()).max() < TOL
    # and the gradient goes exactly where the indices point
    planes = idx.reshape(-1, idx.shape[-2] * idx.shape[-1])
    which = np.broadcast_to(np.arange(len(planes))[:, None], planes.shape)
    routed = np.zeros((len(planes), x.shape[-2] * x.shape[-1]))
    np.add.at(routed, (which, planes), dout.reshape(planes.shape))
    assert np.abs(routed.reshape(x.shape) - dx).max() < TOL


def test_dilated_window_without_input_cell_is_minus_inf_like_torch():
    x = np.arange(8.0).reshape(1, 1, 2, 4)  # taps at rows -1 and 2: neither inside
    out, idx = max_pool2d(x, 2, 1, 1, dilation=3, return_indices=True)
    t_out, t_idx = F.max_pool2d(_t(x), 2, 1, 1, dilation=3, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    np.testing.assert_array_equal(idx, t_idx.numpy())
    assert np.all(out == -np.inf)
    np.testing.assert_array_equal(max_pool2d_backward(np.ones(out.shape), x, 2, 1, 1, 3), 0 * x)
    with pytest.raises(ValueError, match=r"window \(0, 0\) has no cell inside the input"):
        max_pool2d_loops(x, 2, 1, 1, dilation=3)


def test_ceil_mode_keeps_a_last_window_that_starts_inside():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    assert max_pool2d(x, 2).shape[-2:] == (2, 2)
    assert max_pool2d(x, 2, ceil_mode=True).shape[-2:] == (3, 3)  # last window: one column
    # a window that would start in the right padding is dropped (torch's rule): the ceiling
    # of (5 + 2 - 3) / 3, plus one, is 3, but the third window would start at row 6 - 1 = 5
    assert max_pool2d(np.zeros((1, 1, 5, 5)), 3, 3, 1, ceil_mode=True).shape[-2:] == (2, 2)
    out = avg_pool2d(x, 2, ceil_mode=True)
    assert out[0, 0, 2, 2] == 24.0  # a 1x1 remainder, divided by its own size
    assert avg_pool2d(x, 2, ceil_mode=True, divisor_override=1)[0, 0, 2, 2] == 24.0
    assert avg_pool2d(x, 3, 2, 1, count_include_pad=False)[0, 0, 0, 0] == np.mean([0, 1, 5, 6])


# ---------------------------------------------------------------- Subsampling (LeNet S2/S4)


def test_subsampling_parameters_shape_and_repr():
    layer = Subsampling(6)
    assert sum(p.numel() for p in layer.parameters() if p.requires_grad) == 12
    assert layer.weight.shape == (6,) and layer.bias.shape == (6,)
    assert layer.weight.abs().max() <= 0.5 and layer.bias.abs().max() <= 0.5
    assert layer(torch.randn(2, 6, 28, 28)).shape == (2, 6, 14, 14)
    assert layer(torch.randn(1, 6, 11, 9)).shape == (1, 6, 5, 4)
    assert "channels=6" in repr(layer) and "sigmoid" in repr(layer)
    assert "tanh" in repr(Subsampling(16, activation="tanh"))


@pytest.mark.parametrize(
    "activation, f",
    [("sigmoid", torch.sigmoid), ("tanh", torch.tanh), ("identity", lambda a: a),
     (None, lambda a: a), (torch.nn.ReLU(), torch.relu),
     (lambda a: 1.7159 * torch.tanh(2 * a / 3), lambda a: 1.7159 * torch.tanh(2 * a / 3))],
)
def test_subsampling_forward_is_the_formula(activation, f):
    torch.manual_seed(0)
    layer = Subsampling(3, activation=activation).double()
    x = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    out = layer(x)
    expected = torch.empty(2, 3, 2, 2, dtype=torch.float64)
    for n in range(2):
        for c in range(3):
            for i in range(2):
                for j in range(2):
                    s = x[n, c, 2 * i, 2 * j] + x[n, c, 2 * i, 2 * j + 1] \
                        + x[n, c, 2 * i + 1, 2 * j] + x[n, c, 2 * i + 1, 2 * j + 1]
                    expected[n, c, i, j] = f(layer.weight[c] * s + layer.bias[c])
    assert (out - expected).abs().max().item() < TOL


def test_subsampling_gradcheck():
    """Gradients with respect to the input and both parameters, in float64."""
    torch.manual_seed(0)
    for activation in ("sigmoid", "tanh", None):
        layer = Subsampling(2, activation=activation).double()
        x = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True)
        w = layer.weight.detach().clone().requires_grad_(True)
        b = layer.bias.detach().clone().requires_grad_(True)

        def fn(x, w, b, layer=layer):
            return torch.func.functional_call(layer, {"weight": w, "bias": b}, (x,))

        assert torch.autograd.gradcheck(fn, (x, w, b))
    layer(x).sum().backward()  # the parameters are trained like any other
    assert layer.weight.grad.shape == (2,) and layer.bias.grad.shape == (2,)


# ---------------------------------------------------------------- bad input


X = np.zeros((1, 2, 6, 6))


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: max_pool2d(np.zeros((6, 6)), 2), ValueError,
         r"x must be 4-D \(N, C, H, W\) or \(C, H, W\); got shape \(6, 6\)"),
        (lambda: avg_pool2d(np.zeros((1, 1, 2, 6, 6)), 2), ValueError, r"x must be 4-D"),
        (lambda: global_avg_pool2d(np.zeros((6, 6))), ValueError, r"x must be 4-D"),
        (lambda: max_pool2d("abc", 2), TypeError, r"x must hold numbers"),
        (lambda: max_pool2d(np.zeros((1, 0, 6, 6)), 2), ValueError, r"x must have non-empty C"),
        (lambda: max_pool2d(X, 2, dilation=0), ValueError, r"dilation must be >= 1"),
        (lambda: max_pool2d(X, 2, ceil_mode=1), TypeError, r"ceil_mode must be a bool"),
        (lambda: max_pool2d(X, 3, dilation=3), ValueError,
         r"window height 3 does not fit .* spans 7 cells with dilation 3"),
        (lambda: avg_pool2d(X, 2, divisor_override=0), ValueError,
         r"divisor_override must not be zero"),
        (lambda: avg_pool2d(X, 2, divisor_override=1.5), TypeError,
         r"divisor_override must be an int"),
        (lambda: avg_pool2d(X, 2, count_include_pad=None), TypeError,
         r"count_include_pad must be a bool"),
        (lambda: max_pool2d(X, 0), ValueError, r"kernel_size must be >= 1"),
        (lambda: max_pool2d(X, 2.0), TypeError, r"kernel_size must be an int"),
        (lambda: max_pool2d(X, (2, 2, 2)), TypeError, r"kernel_size"),
        (lambda: max_pool2d(X, 2, stride=0), ValueError, r"stride must be >= 1"),
        (lambda: max_pool2d(X, 2, padding=-1), ValueError, r"padding must be >= 0"),
        (lambda: max_pool2d(X, 3, padding=2), ValueError,
         r"padding must be at most half.*kernel_size=3"),
        (lambda: avg_pool2d(X, (4, 2), padding=(2, 2)), ValueError,
         r"padding must be at most half.*width: 2 > 2 // 2"),
        (lambda: max_pool2d(X, 7), ValueError, r"kernel_size: window height 7.*\(1, 2, 6, 6\)"),
        (lambda: avg_pool2d(X, (2, 9), padding=1), ValueError,
         r"kernel_size: window width 9 does not fit x of shape \(1, 2, 6, 6\)"),
        (lambda: max_pool2d_loops(X, 7), ValueError, r"kernel_size"),
        (lambda: max_pool2d_backward(np.zeros((1, 2, 2, 2)), X, 2), ValueError,
         r"dout must have the shape.*\(1, 2, 3, 3\).*got \(1, 2, 2, 2\)"),
        (lambda: avg_pool2d_backward(np.zeros((1, 2, 3)), X, 2), ValueError, r"dout must be 4-D"),
        (lambda: max_pool2d_backward(np.zeros((1, 2, 3, 3)), X[0], 2), ValueError,
         r"dout must be 3-D \(C, Ho, Wo\), like the unbatched output"),
        (lambda: max_unpool2d(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3), np.int64), 2),
         ValueError, r"indices must have the shape of x \(1, 2, 3, 3\); got \(1, 2, 3\)"),
        (lambda: max_unpool2d(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 3)), 2), TypeError,
         r"indices must hold integers"),
        (lambda: max_unpool2d(np.zeros((1, 2, 3, 3)), np.full((1, 2, 3, 3), 36), 2), ValueError,
         r"indices: found 36, outside the output plane of 6x6"),
        (lambda: max_unpool2d(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 3), int), 2,
                              output_size=(8, 6)), ValueError,
         r"output_size: H = 8.*strictly between 4 and 8"),
        (lambda: max_unpool2d(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 3), int), 2,
                              output_size=(1, 3, 6, 6)), ValueError,
         r"output_size .* \(N, C\) = \(1, 3\)"),
        (lambda: max_unpool2d(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 3), int), 2,
                              output_size=(6, 6, 6)), ValueError,
         r"output_size must have 2 \(H, W\) or 4"),
        (lambda: max_unpool2d(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 3), int), 2,
                              output_size=6), TypeError, r"output_size must be None or a tuple"),
        (lambda: max_unpool2d(np.zeros((1, 2, 1, 1)), np.zeros((1, 2, 1, 1), int), 1,
                              padding=1), ValueError, r"padding: the default output size"),
        (lambda: max_unpool2d(np.zeros((3, 3)), np.zeros((3, 3), int), 2), ValueError,
         r"x must be 4-D"),
        (lambda: Subsampling(6)(torch.zeros(1, 3, 28, 28)), ValueError,
         r"x must be \(N, 6, H, W\).*\(1, 3, 28, 28\)"),
        (lambda: Subsampling(6)(torch.zeros(6, 28, 28)), ValueError,
         r"x must be \(N, 6, H, W\).*\(6, 28, 28\)"),
        (lambda: Subsampling(6)(torch.zeros(1, 6, 1, 28)), ValueError, r"H, W >= 2"),
        (lambda: Subsampling(6)(np.zeros((1, 6, 4, 4))), TypeError, r"x must be a torch.Tensor"),
        (lambda: Subsampling(0), ValueError, r"channels must be >= 1"),
        (lambda: Subsampling(2.5), TypeError, r"channels must be an int"),
        (lambda: Subsampling(6, activation="relu"), ValueError, r"activation must be one of"),
        (lambda: Subsampling(6, activation=3), TypeError, r"activation must be"),
    ],
)
def test_bad_input_raises_with_the_argument_named(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---------------------------------------------------------------- adaptive pooling


@st.composite
def adaptive_cases(draw):
    """x (batched or not, ties, NaN, -inf) and an output size, often not dividing the input."""
    H, W = draw(st.integers(1, 11)), draw(st.integers(1, 11))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.integers(-2, 3, size=shape).astype(np.float64)  # many equal maxima
    if draw(st.booleans()):
        x[x == 2] = draw(st.sampled_from([np.nan, -np.inf, 0.5]))
    if draw(st.booleans()):
        x = x[0]  # unbatched (C, H, W)
    size = draw(st.one_of(st.integers(1, 13),
                          st.tuples(st.one_of(st.none(), st.integers(1, 13)),
                                    st.one_of(st.none(), st.integers(1, 13)))))
    return x, size


@PROPERTY
@given(adaptive_cases())
def test_adaptive_pools_match_torch(case):
    x, size = case
    out = adaptive_avg_pool2d(x, size)
    t_out = F.adaptive_avg_pool2d(_t(x), size).numpy()
    assert out.shape == t_out.shape
    np.testing.assert_allclose(out, t_out, rtol=0, atol=TOL)  # NaN where torch has NaN
    out, idx = adaptive_max_pool2d(x, size, return_indices=True)
    t_out, t_idx = F.adaptive_max_pool2d(_t(x), size, return_indices=True)
    np.testing.assert_array_equal(out, t_out.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, t_idx.numpy())
    np.testing.assert_array_equal(adaptive_max_pool2d(x, size), out)


def test_adaptive_windows_rule():
    assert adaptive_windows(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert adaptive_windows(6, 3) == [(0, 2), (2, 4), (4, 6)]  # divisible: plain pooling
    assert adaptive_windows(2, 4) == [(0, 1), (0, 1), (1, 2), (1, 2)]  # more outputs than cells
    x = np.random.default_rng(1).standard_normal((2, 3, 12, 8))
    np.testing.assert_allclose(adaptive_avg_pool2d(x, (4, 2)), avg_pool2d(x, (3, 4)))
    np.testing.assert_array_equal(adaptive_max_pool2d(x, 1)[..., 0, 0], x.max(axis=(2, 3)))
    np.testing.assert_allclose(adaptive_avg_pool2d(x, 1)[..., 0, 0], global_avg_pool2d(x))


@pytest.mark.parametrize("fn", [adaptive_avg_pool2d, adaptive_max_pool2d])
@pytest.mark.parametrize(
    "x, size, error, match",
    [
        (np.zeros((1, 2, 4, 4)), 0, ValueError, r"output_size: Ho must be >= 1; got 0"),
        (np.zeros((1, 2, 4, 4)), (2, -1), ValueError, r"output_size: Wo must be >= 1"),
        (np.zeros((1, 2, 4, 4)), (2, 2, 2), ValueError, r"output_size must be an int or a pair"),
        (np.zeros((1, 2, 4, 4)), 2.5, TypeError, r"output_size must be an int or a pair"),
        (np.zeros((1, 2, 4, 4)), (True, 2), TypeError, r"output_size must be an int"),
        (np.zeros((4, 4)), 2, ValueError, r"x must be 4-D \(N, C, H, W\) or \(C, H, W\)"),
        (np.zeros((1, 2, 0, 4)), 2, ValueError, r"x must have non-empty C, H, W"),
        (np.zeros((2, 4, 0)), 2, ValueError, r"x must have non-empty C, H, W.*\(2, 4, 0\)"),
        (np.array([["a"]]), 2, TypeError, r"x must hold numbers"),
    ],
)
def test_adaptive_pools_refuse_bad_input(fn, x, size, error, match):
    with pytest.raises(error, match=match):
        fn(x, size)


def test_importing_pool_does_not_import_torch_and_subsampling_is_still_found():
    code = ("import sys, cnnkit.pool; assert 'torch' not in sys.modules, 'torch imported'; "
            "from cnnkit.models.lenet import Subsampling; "
            "assert cnnkit.pool.Subsampling is Subsampling")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="has no attribute 'Subsample'"):
        cnnkit.pool.Subsample  # noqa: B018
