"""cnnkit.models.lenet: the 1998 LeNet-5 (C3 table, RBF output), the modern and CIFAR variants,
their exact parameter counts, and a real training run of the classic network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.data import mnist_5k
from cnnkit.models import (
    C3_TABLE,
    DIGIT_BITMAPS,
    PROTOTYPES,
    EuclideanRBF,
    LeNet5,
    LeNet5Classic,
    LeNetCIFAR,
    TableConv2d,
    paper_input,
    scaled_tanh,
)
from cnnkit.models.lenet import Subsampling


def n_params(module: nn.Module, trainable_only: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --- Table I ------------------------------------------------------------------------------------

# the paper's Table I, row by row: an X where C3 map (column) j takes S2 map (row) i
TABLE_I = """
X...XXX..XXXX.XX
XX...XXX..XXXX.X
XXX...XXX..X.XXX
.XXX..XXXX..X.XX
..XXX..XXXX.XX.X
...XXX..XXXX.XXX
"""


def test_c3_table_is_table_i_of_the_paper():
    expected = np.array([[c == "X" for c in row] for row in TABLE_I.split()])
    assert C3_TABLE.shape == (6, 16) and C3_TABLE.dtype == bool
    np.testing.assert_array_equal(C3_TABLE, expected)
    assert C3_TABLE.sum(axis=0).tolist() == [3] * 6 + [4] * 9 + [6]
    assert C3_TABLE.sum() == 60
    with pytest.raises(ValueError):
        C3_TABLE[0, 1] = True  # read-only


# --- parameter counts ---------------------------------------------------------------------------


def test_classic_parameter_counts_per_layer():
    m = LeNet5Classic()
    counts = {name: n_params(layer) for name, layer in m.named_children()}
    assert counts == {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164,
                      "output": 0}
    assert n_params(m) == 60_000 == n_params(m, trainable_only=False)
    assert m.output.prototypes.numel() == 840
    assert "output.prototypes" in m.state_dict()
    assert not m.output.prototypes.requires_grad


@pytest.mark.parametrize("padding, expected", [(2, 61_706), (0, 44_426)])
def test_modern_lenet_parameter_count(padding, expected):
    m = LeNet5(padding=padding)
    assert n_params(m) == expected
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert m.fc1.in_features == (400 if padding == 2 else 256)


def test_cifar_lenet_parameter_count_and_shapes():
    m = LeNetCIFAR()
    assert n_params(m) == 379_114
    assert [n_params(layer) for layer in (m.conv1, m.conv2, m.fc1, m.fc2, m.fc3)] == [
        448, 4640, 351_456, 21_600, 970]
    x = torch.zeros(2, 3, 32, 32)
    x = m.pool1(m.relu1(m.conv1(x)))
    assert x.shape == (2, 16, 16, 16)
    x = m.pool2(m.relu2(m.conv2(x)))
    assert x.shape == (2, 32, 7, 7)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


@pytest.mark.parametrize("activation, act_type", [("relu", nn.ReLU), ("sigmoid", nn.Sigmoid),
                                                  ("tanh", nn.Tanh)])
@pytest.mark.parametrize("pool, pool_type", [("max", nn.MaxPool2d), ("avg", nn.AvgPool2d)])
def test_modern_lenet_activation_and_pool_choices(activation, act_type, pool, pool_type):
    m = LeNet5(activation=activation, pool=pool)
    assert all(isinstance(getattr(m, f"act{i}"), act_type) for i in range(1, 5))
    assert isinstance(m.pool1, pool_type) and isinstance(m.pool2, pool_type)
    assert n_params(m) == 61_706
    out = m(torch.randn(2, 1, 28, 28))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_modern_lenet_other_inputs():
    m = LeNet5(in_channels=3, image_size=32, padding=0)  # LeNet-5 on CIFAR-sized images
    assert m(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    assert m.fc1.in_features == 400


def test_modern_lenet_bad_arguments():
    with pytest.raises(ValueError, match="activation must be one of"):
        LeNet5(activation="swish")
    with pytest.raises(ValueError, match="pool must be one of"):
        LeNet5(pool="min")
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        LeNet5(padding=-1)
    with pytest.raises(ValueError, match="too small"):
        LeNet5(image_size=10, padding=0)
    with pytest.raises(ValueError, match=r"LeNet5 expects x of shape \(N, 1, 28, 28\); got "
                                         r"\(1, 1, 32, 32\)"):
        LeNet5()(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"LeNetCIFAR expects x of shape \(N, 3, 32, 32\)"):
        LeNetCIFAR()(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"LeNet5Classic expects x of shape \(N, 1, 32, 32\)"):
        LeNet5Classic()(torch.zeros(1, 1, 28, 28))


# --- C3: the partial connection table -----------------------------------------------------------


def test_table_conv_equals_a_dense_conv_with_zero_kernels():
    torch.manual_seed(0)
    c3 = TableConv2d(C3_TABLE, 5)
    x = torch.randn(3, 6, 14, 14, dtype=torch.float64)
    c3 = c3.double()
    dense = c3.dense_weight()
    assert dense.shape == (16, 6, 5, 5)
    assert ((dense.abs().sum(dim=(2, 3)) > 0).numpy() == C3_TABLE.T).all()
    torch.testing.assert_close(c3(x), F.conv2d(x, dense, c3.bias))


def test_table_conv_with_a_full_table_is_an_ordinary_conv():
    torch.manual_seed(1)
    tc = TableConv2d(np.ones((4, 3), dtype=bool), (3, 2)).double()
    conv = nn.Conv2d(4, 3, (3, 2)).double()
    with torch.no_grad():
        conv.weight.copy_(tc.dense_weight())
        conv.bias.copy_(tc.bias)
    x = torch.randn(2, 4, 7, 6, dtype=torch.float64)
    torch.testing.assert_close(tc(x), conv(x))
    assert n_params(tc) == n_params(conv) == 4 * 3 * 6 + 3


def test_c3_missing_connections_have_no_parameters():
    c3 = LeNet5Classic().C3
    assert n_params(c3) == 1516 == 60 * 25 + 16
    shapes = sorted(tuple(p.shape) for p in c3.parameters())
    assert shapes == [(16,), (60, 1, 5, 5)]  # no (16, 6, 5, 5) tensor anywhere
    assert [(c3.source[c3.target == j]).tolist() for j in (0, 6, 12, 15)] == [
        [0, 1, 2], [0, 1, 2, 3], [0, 1, 3, 4], [0, 1, 2, 3, 4, 5]]


def test_c3_missing_connections_carry_no_gradient():
    torch.manual_seed(0)
    c3 = TableConv2d(C3_TABLE, 5).double()
    x = torch.randn(2, 6, 14, 14, dtype=torch.float64, requires_grad=True)
    out = c3(x)
    for j in range(16):
        (grad,) = torch.autograd.grad(out[:, j].sum(), x, retain_graph=True)
        reached = grad.abs().sum(dim=(0, 2, 3)) > 0  # which input maps influence map j
        np.testing.assert_array_equal(reached.numpy(), C3_TABLE[:, j], err_msg=f"map {j}")
    # every existing kernel gets a gradient, and a training step keeps the missing ones at zero
    opt = torch.optim.SGD(c3.parameters(), lr=0.1)
    c3(x.detach()).pow(2).mean().backward()
    assert (c3.weight.grad.abs().sum(dim=(1, 2, 3)) > 0).all()
    opt.step()
    assert (c3.dense_weight()[torch.from_numpy(~C3_TABLE.T)] == 0).all()


def test_table_conv_bad_input():
    with pytest.raises(ValueError, match="output map 1 is connected to no input map"):
        TableConv2d(np.array([[True, False], [True, False]]), 3)
    with pytest.raises(ValueError, match="2-D boolean array"):
        TableConv2d(np.ones((2, 2)), 3)
    with pytest.raises(ValueError, match=r"x must be \(N, 6, H, W\) with H >= 5, W >= 5 for "
                                         r"TableConv2d; got \(1, 6, 4, 14\)"):
        TableConv2d(C3_TABLE, 5)(torch.zeros(1, 6, 4, 14))


# --- the output layer ---------------------------------------------------------------------------


def test_prototypes_are_distinct_plus_minus_one_digit_bitmaps():
    assert PROTOTYPES.shape == (10, 84)
    assert set(np.unique(PROTOTYPES)) == {-1.0, 1.0}
    assert all(len(b) == 12 and all(len(row) == 7 for row in b) for b in DIGIT_BITMAPS)
    d = ((PROTOTYPES[:, None] - PROTOTYPES[None]) ** 2).sum(-1)
    assert (d + np.eye(10) * 1e9).min() >= 4 * 10  # every two digits differ in 10+ pixels
    ink = (PROTOTYPES > 0).sum(axis=1)
    assert ink.min() >= 12 and ink.max() <= 42  # strokes, not blobs


def test_rbf_scores_are_minus_squared_distances():
    rbf = EuclideanRBF(PROTOTYPES, image_shape=(12, 7))
    assert list(rbf.parameters()) == []
    x = torch.randn(5, 84)
    protos = torch.tensor(PROTOTYPES)
    expected = -torch.cdist(x, protos) ** 2
    torch.testing.assert_close(rbf(x), expected, rtol=1e-5, atol=1e-4)
    assert rbf(protos).argmax(1).tolist() == list(range(10))
    assert rbf.prototype_images().shape == (10, 12, 7)
    assert rbf.prototype_images()[1, 0, 3] == 1  # the top of the "1"
    with pytest.raises(ValueError, match=r"x must be \(N, 84\) for EuclideanRBF; got \(5, 80\)"):
        rbf(torch.zeros(5, 80))


def test_cross_entropy_on_the_scores_is_the_papers_map_criterion():
    torch.manual_seed(0)
    scores = LeNet5Classic()(torch.randn(4, 1, 32, 32))
    labels = torch.tensor([0, 3, 7, 9])
    y = -scores  # the RBF penalties
    paper = (y[torch.arange(4), labels] + torch.logsumexp(-y, dim=1)).mean()  # eq. 9, j -> inf
    torch.testing.assert_close(F.cross_entropy(scores, labels), paper)


# --- pieces of the classic network --------------------------------------------------------------


def test_scaled_tanh():
    a = torch.tensor([-1.0, 0.0, 1.0, 50.0])
    torch.testing.assert_close(scaled_tanh(a), torch.tensor([-1.0, 0.0, 1.0, 1.7159]),
                               atol=1e-4, rtol=0)


def test_paper_input():
    images, _ = mnist_5k()
    x = paper_input(images[:3])
    assert x.shape == (3, 1, 32, 32) and x.dtype == torch.float32
    assert x[:, :, :2].eq(-0.1).all() and x[:, :, :, -2:].eq(-0.1).all()  # the 2-pixel frame
    assert x.min() >= -0.1 - 1e-6 and abs(x.max().item() - 1.175) < 1e-6
    torch.testing.assert_close(paper_input(torch.tensor(images[:3]).float() / 255), x)
    with pytest.raises(ValueError, match=r"images must be \(N, 28, 28\)"):
        paper_input(np.zeros((2, 32, 32)))


def test_classic_layers_and_shapes():
    m = LeNet5Classic()
    assert isinstance(m.S2, Subsampling) and m.S2.activation is scaled_tanh
    x = torch.randn(2, 1, 32, 32)
    shapes = []
    for name in ("C1", "S2", "C3", "S4", "C5"):
        x = getattr(m, name)(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(2, 6, 28, 28), (2, 6, 14, 14), (2, 16, 10, 10), (2, 16, 5, 5),
                      (2, 120, 1, 1)]
    meta = LeNet5Classic().to("meta")  # the custom layers run on the meta device too
    assert meta(torch.empty(2, 1, 32, 32, device="meta")).shape == (2, 10)


def test_classic_uses_the_papers_initialisation():
    torch.manual_seed(0)
    m = LeNet5Classic()
    for layer, fan_in in ((m.C1, 25), (m.S2, 4), (m.C5, 400), (m.F6, 120)):
        bound = 2.4 / fan_in
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
    bound = 2.4 / m.C3.fan_in().float()
    assert (m.C3.weight.abs().amax(dim=(1, 2, 3)) <= bound[m.C3.target]).all()


# --- the classic network learns real digits -----------------------------------------------------


@pytest.fixture
def one_thread():
    """Small models train faster on one thread, and do not slow down on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_classic_lenet_trains_on_real_mnist_digits(one_thread):
    images, labels = mnist_5k()
    x, y = paper_input(images), torch.as_tensor(np.array(labels))
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=g)
    train, test = order[:4000], order[4000:]
    torch.manual_seed(0)
    model = LeNet5Classic()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.no_grad():
        loss_before = F.cross_entropy(model(x[test]), y[test]).item()
    for _ in range(300):
        batch = train[torch.randint(0, len(train), (32,), generator=g)]
        loss = F.cross_entropy(model(x[batch]), y[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        scores = model(x[test])
    loss_after = F.cross_entropy(scores, y[test]).item()
    accuracy = (scores.argmax(1) == y[test]).float().mean().item()
    # 1,000 held-out digits: chance is 10%, 300 steps of 32 reach about 85%
    assert loss_after < 0.4 * loss_before, (loss_before, loss_after)
    assert accuracy > 0.7, accuracy
