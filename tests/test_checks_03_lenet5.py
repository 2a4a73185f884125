"""The self-checks of lesson 3's graded exercises (exercises/source/03_lenet5) accept right
answers, reject typical wrong ones with a useful hint, and report unattempted exercises."""

import numpy as np
import pytest
import torch
from torch import nn

from cnnkit import checks
from cnnkit.models import LeNet5

# --- part 2: the partially connected convolution -------------------------------------------------


def table_conv(x, weight, bias, table, order="F"):
    """A loop version: out[:, j] = bias[j] + sum over the links (i, j) of the correlations."""
    n, _, h, w = x.shape
    kh, kw = weight.shape[1:]
    out = np.zeros((n, table.shape[1], h - kh + 1, w - kw + 1)) + bias[None, :, None, None]
    pairs = [(i, j) for j in range(table.shape[1]) for i in range(table.shape[0])]
    if order == "C":  # the wrong numbering: input map first
        pairs.sort()
    links = [p for p in pairs if table[p]]
    for link, (i, j) in enumerate(links):
        for u in range(kh):
            for v in range(kw):
                out[:, j] += weight[link, u, v] * x[:, i, u:u + h - kh + 1, v:v + w - kw + 1]
    return out


def test_table_conv_accepts_a_loop_and_a_tensor():
    for seed in (0, 1, 2):
        result = checks.check_table_conv(table_conv, seed=seed)
        assert result, result.message
    as_tensor = checks.check_table_conv(lambda *a: torch.from_numpy(table_conv(*a)))
    assert as_tensor, as_tensor.message


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda x, w, b, t: table_conv(x, w, 0 * b, t), "add bias[j]"),
        (lambda x, w, b, t: table_conv(x, w[:, ::-1, ::-1], b, t), "no kernel flip"),
        (lambda x, w, b, t: table_conv(x, w, b, t, order="C"), "numbered by output map first"),
        (lambda x, w, b, t: table_conv(np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))), w, b, t),
         "output shape"),
        (lambda x, w, b, t: table_conv(x, w, b, t)[:, :, None], "output shape"),
        (lambda x, w, b, t: 1 / 0, "raised ZeroDivisionError"),
    ],
)
def test_table_conv_explains_mistakes(student, expected):
    result = checks.check_table_conv(student)
    assert not result and expected in result.message


def test_table_conv_not_attempted():
    def stub(x, weight, bias, table):
        raise NotImplementedError

    assert "not attempted" in checks.check_table_conv(stub).message
    assert "not attempted" in checks.check_table_conv(None).message


# --- part 3: the RBF output layer ---------------------------------------------------------------


def penalties(f6, prototypes):
    return ((f6[:, None, :] - prototypes[None]) ** 2).sum(axis=2)


def test_rbf_checks_accept_the_reference():
    for seed in (0, 3):
        result = checks.check_rbf_penalties(penalties, seed=seed)
        assert result, result.message
        result = checks.check_rbf_predict(lambda f, p: penalties(f, p).argmin(axis=1), seed=seed)
        assert result, result.message
    as_tensor = checks.check_rbf_predict(
        lambda f, p: torch.from_numpy(penalties(f, p)).argmin(dim=1))
    assert as_tensor, as_tensor.message


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda f, p: -penalties(f, p), "squared distance itself"),
        (lambda f, p: np.sqrt(penalties(f, p)), "no square root"),
        (lambda f, p: penalties(f, p) / f.shape[1], "not the mean"),
        (lambda f, p: penalties(f, p).T, "one row per input"),
        (lambda f, p: np.abs(f).sum(axis=1, keepdims=True) + 0 * penalties(f, p), "expected"),
    ],
)
def test_rbf_penalties_explain_mistakes(student, expected):
    result = checks.check_rbf_penalties(student)
    assert not result and expected in result.message


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda f, p: penalties(f, p).argmax(axis=1), "the closest one wins"),
        (lambda f, p: -penalties(f, p), "predictions have shape"),
        (lambda f, p: penalties(f, p).min(axis=1), "integers"),
        (lambda f, p: (f @ p.T).argmin(axis=1), "expected"),
    ],
)
def test_rbf_predict_explains_mistakes(student, expected):
    result = checks.check_rbf_predict(student)
    assert not result and expected in result.message


def test_rbf_not_attempted():
    def stub(f6, prototypes):
        raise NotImplementedError

    for check in (checks.check_rbf_penalties, checks.check_rbf_predict):
        assert "not attempted" in check(stub).message
        assert "not attempted" in check(None).message


# --- part 4: the modern LeNet-5 -----------------------------------------------------------------


def modern(padding=2, act=nn.ReLU, pool=nn.MaxPool2d, last=None):
    side = 5 if padding == 2 else 4
    layers = [nn.Conv2d(1, 6, 5, padding=padding), act(), pool(2), nn.Conv2d(6, 16, 5), act(),
              pool(2), nn.Flatten(), nn.Linear(16 * side * side, 120), act(), nn.Linear(120, 84),
              act(), nn.Linear(84, 10)]
    return nn.Sequential(*layers, *([last] if last else []))


def test_modern_lenet5_accepts_a_sequential():
    for seed in (0, 1):
        result = checks.check_modern_lenet5(modern, seed=seed)
        assert result, result.message


class Shuffled(nn.Module):
    """The right layers, applied in the wrong order (pooling before the activation is fine for
    max pooling and ReLU, so: the second convolution without its ReLU)."""

    def __init__(self):
        super().__init__()
        self.net = modern()

    def forward(self, x):
        n = self.net
        x = n[2](n[1](n[0](x)))
        x = n[5](n[3](x))
        return n[11](n[10](n[9](n[8](n[7](n[6](x))))))


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda: modern(pool=nn.AvgPool2d), "not average pooling"),
        (lambda: modern(act=nn.Tanh), "not tanh"),
        (lambda: modern(last=nn.ReLU()), "no activation after the last layer"),
        (lambda: modern(padding=0), "padding 2"),
        (Shuffled, "the order of the layers"),
        (lambda: nn.Sequential(modern(), nn.Linear(10, 10)), "trainable parameters"),
        (lambda: modern()[:-1], "gave (3, 84)"),
        (lambda: LeNet5(), "not with cnnkit.models"),
        (lambda: "LeNet", "must return a torch.nn.Module"),
        (lambda: nn.Sequential(nn.Linear(3, 4)), "raised RuntimeError"),
    ],
)
def test_modern_lenet5_explains_mistakes(student, expected):
    result = checks.check_modern_lenet5(student)
    assert not result and expected in result.message


class Registered(nn.Module):
    """The right network, its layers registered out of order: fc2 before fc1."""

    def __init__(self):
        super().__init__()
        net = modern()
        self.features = net[:7]
        self.fc2, self.fc1, self.rest = net[9], net[7], net[10:]

    def forward(self, x):
        return self.rest(self.fc2(torch.relu(self.fc1(self.features(x)))))


def test_modern_lenet5_parameter_order():
    result = checks.check_modern_lenet5(Registered)
    assert not result and "trainable parameter 4 has shape (84, 120)" in result.message


def test_modern_lenet5_not_attempted():
    def stub():
        raise NotImplementedError

    assert "not attempted" in checks.check_modern_lenet5(stub).message
    assert "not attempted" in checks.check_modern_lenet5(None).message
