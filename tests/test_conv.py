"""cnnkit.conv against torch.nn.functional.conv2d, autograd, finite differences and scipy."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.conv import (
    conv2d,
    conv2d_backward,
    conv2d_loops,
    convolve2d,
    correlate2d,
    output_size,
)
from cnnkit.gradcheck import numerical_gradient, rel_error


@st.composite
def conv_case(draw, max_batch=3, max_size=9):
    """A random valid layer: x (batched or not), w, b and stride/padding/dilation/groups."""
    N = draw(st.integers(1, max_batch))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    C = groups * draw(st.integers(1, 2 if groups > 1 else 3))
    F_ = groups * draw(st.integers(1, 2 if groups > 1 else 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["pair", "pair", "int", "same", "valid"]))
    s = (1, 1) if mode == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if mode in ("pair", "int"):
        p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        p = p if mode == "pair" else (p[0], p[0])
        padding = p if mode == "pair" else p[0]
    else:
        p, padding = (0, 0), mode
    # the input must be at least as long as the dilated kernel once padded ("same" always fits)
    low = (1, 1) if mode == "same" else [max(1, dd * (k - 1) + 1 - 2 * pp)
                                         for dd, k, pp in zip(d, (kh, kw), p, strict=True)]
    H = draw(st.integers(low[0], max(low[0], max_size)))
    W = draw(st.integers(low[1], max(low[1], max_size)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((N, C, H, W))
    if draw(st.booleans()) and N == 1:
        x = x[0]  # unbatched (C, H, W)
    w = rng.standard_normal((F_, C // groups, kh, kw))
    b = rng.standard_normal(F_) if draw(st.booleans()) else None
    return x, w, b, dict(stride=s, padding=padding, dilation=d, groups=groups)


def torch_conv(x, w, b, **kw):
    with warnings.catch_warnings():  # "same" with even kernels: torch warns that it copies
        warnings.simplefilter("ignore", UserWarning)
        return F.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                        None if b is None else torch.from_numpy(b), **kw).numpy()


@settings(max_examples=150, deadline=None)
@given(conv_case())
def test_conv2d_matches_torch(case):
    x, w, b, kw = case
    ref = torch_conv(x, w, b, **kw)
    out = conv2d(x, w, b, **kw)
    assert out.shape == ref.shape
    assert out.dtype == np.float64
    assert np.max(np.abs(out - ref)) < 1e-5
    assert np.max(np.abs(out - ref)) < 1e-12  # float64 all the way: far tighter than promised


@settings(max_examples=60, deadline=None)
@given(conv_case(max_batch=2, max_size=7))
def test_conv2d_loops_matches_torch(case):
    x, w, b, kw = case
    np.testing.assert_allclose(conv2d_loops(x, w, b, **kw), torch_conv(x, w, b, **kw),
                               rtol=0, atol=1e-12)


@settings(max_examples=120, deadline=None)
@given(conv_case())
def test_conv2d_backward_matches_autograd(case):
    x, w, b, kw = case
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        out = F.conv2d(xt, wt, bt, **kw)
    dout = np.random.default_rng(1).standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(dout))
    dx, dw, db = conv2d_backward(dout, x, w, **kw)
    for ours, ref in ((dx, xt.grad), (dw, wt.grad), (db, bt.grad)):
        assert ours.shape == tuple(ref.shape)
        assert rel_error(ours, ref.numpy()) < 1e-6


@pytest.mark.parametrize(
    "kw", [dict(), dict(stride=2, padding=1), dict(stride=(1, 2), padding=(2, 0), dilation=2)]
)
def test_conv2d_backward_matches_finite_differences(kw):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((4, 3, 3, 2))
    b = rng.standard_normal(4)
    dout = rng.standard_normal(conv2d(x, w, b, **kw).shape)
    dx, dw, db = conv2d_backward(dout, x, w, **kw)
    assert rel_error(dx, numerical_gradient(lambda v: conv2d(v, w, b, **kw), x, dout)) < 1e-6
    assert rel_error(dw, numerical_gradient(lambda v: conv2d(x, v, b, **kw), w, dout)) < 1e-6
    assert rel_error(db, numerical_gradient(lambda v: conv2d(x, w, v, **kw), b, dout)) < 1e-6


def test_float32_stays_float32_and_matches_torch():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    out = conv2d(x, w, padding=1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, torch_conv(x, w, None, padding=1), atol=1e-4)


def test_integer_input_is_converted_to_float():
    x = np.arange(16).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2), dtype=int)
    out = conv2d(x, w)
    assert out.dtype == np.float64
    assert out[0, 0, 0, 0] == 0 + 1 + 4 + 5


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 64), k=st.integers(1, 9), s=st.integers(1, 4), p=st.integers(0, 4),
    d=st.integers(1, 3),
)
def test_output_size_formula_and_torch(n, k, s, p, d):
    span = d * (k - 1) + 1
    if span > n + 2 * p:
        with pytest.raises(ValueError, match="k: the kernel spans"):
            output_size(n, k, s, p, d)
        return
    expected = math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1
    assert output_size(n, k, stride=s, padding=p, dilation=d) == expected
    # and it is the size torch produces
    out = F.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=(s, 1),
                   padding=(p, 0), dilation=(d, 1))
    assert out.shape[2] == expected


def test_output_size_known_values():
    assert output_size(32, 5) == 28  # LeNet C1
    assert output_size(28, 5, padding=2) == 28  # modern LeNet C1
    assert output_size(224, 7, stride=2, padding=3) == 112  # ResNet stem
    assert output_size(112, 3, stride=2, padding=1) == 56  # ResNet max-pool
    assert output_size(7, 3, dilation=2) == 3


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(n=0, k=1), ValueError, "n must be >= 1"),
        (dict(n=5, k=0), ValueError, "k must be >= 1"),
        (dict(n=5, k=3, stride=0), ValueError, "stride must be >= 1"),
        (dict(n=5, k=3, padding=-1), ValueError, "padding must be >= 0"),
        (dict(n=5, k=3, dilation=0), ValueError, "dilation must be >= 1"),
        (dict(n=5.0, k=3), TypeError, "n must be an int"),
        (dict(n=5, k=True), TypeError, "k must be an int"),
        (dict(n=4, k=5), ValueError, r"padded input is only n \+ 2\*padding = 4"),
        (dict(n=5, k=3, dilation=3), ValueError, "spans 7 cells"),
    ],
)
def test_output_size_rejects_bad_arguments(kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        output_size(**kwargs)


X = np.zeros((2, 3, 8, 8))
W = np.zeros((4, 3, 3, 3))


@pytest.mark.parametrize("fn", [conv2d, conv2d_loops])
@pytest.mark.parametrize(
    "args, kwargs, exc, pattern",
    [
        ((np.zeros((8, 8)), W), {}, ValueError,
         r"x must be 4-D \(N, C, H, W\) or \(C, H, W\); got shape \(8, 8\)"),
        ((np.zeros((4, 8, 8)), W), {}, ValueError, r"x has 4 channels \(shape \(1, 4, 8, 8\)\)"),
        ((X, np.zeros((4, 1, 3, 3))), dict(groups=2), ValueError,
         r"x has 3 channels .* expects C=2 \(shape \(4, 1, 3, 3\), groups=2"),
        ((np.zeros((2, 4, 8, 8)), np.zeros((3, 2, 3, 3))), dict(groups=2), ValueError,
         r"w has F=3 filters .* not divisible by groups=2"),
        ((X, W), dict(groups=0), ValueError, r"groups must be >= 1"),
        ((X, W), dict(groups=1.0), TypeError, r"groups must be an int"),
        ((X, W), dict(padding="same", stride=2), ValueError, r'padding="same" needs stride 1'),
        ((X, W), dict(padding="full"), ValueError, r'padding must be an int, a pair, "valid"'),
        ((X, np.zeros((4, 3, 9, 3))), dict(padding="valid"), ValueError,
         r"kernel height 9 does not fit"),
        ((X, np.zeros((4, 3, 3))), {}, ValueError,
         r"w must be 4-D \(F, C // groups, kh, kw\); got shape"),
        ((X, np.zeros((4, 1, 3, 3))), {}, ValueError,
         r"x has 3 channels \(shape \(2, 3, 8, 8\)\) but w expects C=1"),
        ((X, W, np.zeros(3)), {}, ValueError, r"b must have shape \(4,\).*got \(3,\)"),
        ((X, np.zeros((4, 3, 9, 9))), {}, ValueError,
         r"w: kernel height 9 does not fit x of shape \(2, 3, 8, 8\)"),
        ((X, np.zeros((4, 3, 3, 9))), {}, ValueError, "w: kernel width 9 does not fit"),
        ((X, W), dict(stride=0), ValueError, "stride must be >= 1"),
        ((X, W), dict(stride=(1, 2, 3)), TypeError, "stride must be an int or a pair"),
        ((X, W), dict(padding=-1), ValueError, "padding must be >= 0"),
        ((X, W), dict(padding=1.5), TypeError, "padding must be an int or a pair"),
        ((X, W), dict(dilation=(1, 0)), ValueError, "dilation must be >= 1"),
        ((np.array([["a"]]), W), {}, TypeError, "x must hold numbers"),
    ],
)
def test_conv_rejects_bad_input(fn, args, kwargs, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn(*args, **kwargs)


def test_backward_rejects_wrong_dout_shape():
    with pytest.raises(ValueError, match=r"dout must have the shape .* \(2, 4, 6, 6\); got"):
        conv2d_backward(np.zeros((2, 4, 8, 8)), X, W)


scipy_signal = pytest.importorskip("scipy.signal", reason="scipy is the reference for 2-D modes")


@pytest.mark.parametrize("mode", ["valid", "same", "full"])
@pytest.mark.parametrize("kshape", [(3, 3), (2, 2), (2, 3), (4, 1), (5, 5), (1, 1)])
def test_correlate_and_convolve_match_scipy(mode, kshape):
    rng = np.random.default_rng(sum(kshape))
    image = rng.standard_normal((7, 8))
    kernel = rng.standard_normal(kshape)
    np.testing.assert_allclose(correlate2d(image, kernel, mode),
                               scipy_signal.correlate2d(image, kernel, mode), atol=1e-12)
    np.testing.assert_allclose(convolve2d(image, kernel, mode),
                               scipy_signal.convolve2d(image, kernel, mode), atol=1e-12)


def test_convolution_is_correlation_with_flipped_kernel():
    rng = np.random.default_rng(5)
    image, kernel = rng.standard_normal((6, 6)), rng.standard_normal((3, 3))
    np.testing.assert_allclose(convolve2d(image, kernel), correlate2d(image, kernel[::-1, ::-1]))
    assert not np.allclose(convolve2d(image, kernel), correlate2d(image, kernel))


def test_2d_functions_reject_bad_input():
    with pytest.raises(ValueError, match=r"image must be 2-D \(H, W\); got shape \(1, 5, 5\)"):
        correlate2d(np.zeros((1, 5, 5)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="mode must be one of"):
        convolve2d(np.zeros((5, 5)), np.ones((3, 3)), mode="circular")
    with pytest.raises(ValueError, match=r"kernel of shape \(6, 6\) is larger than image"):
        correlate2d(np.zeros((5, 5)), np.ones((6, 6)))
