"""cnnkit.activations: per-layer outputs for one input, and the receptive field of one unit
checked against autograd (the input pixels whose gradient is non-zero)."""

import numpy as np
import pytest
import torch

from cnnkit.activations import activations, model_input, receptive_box
from cnnkit.inspect import layer_table
from cnnkit.models import LeNet5, LeNet5Classic


def test_activations_are_every_layers_output_for_the_input():
    torch.manual_seed(0)
    net = LeNet5()
    net.train()
    x = torch.randn(1, 1, 28, 28)
    acts = activations(net, x)
    assert net.training  # the mode is restored
    assert acts["conv1"].shape == (6, 28, 28) and acts["fc3"].shape == (10,)
    net.eval()
    with torch.no_grad():
        np.testing.assert_allclose(acts[""], net(x)[0].double().numpy(), rtol=1e-6)
        np.testing.assert_allclose(acts["conv1"], net.conv1(x)[0].double().numpy(), rtol=1e-6)


def test_model_input_centres_a_digit_and_normalises():
    digit = np.zeros((28, 28), np.float32)
    digit[0, 0] = 1.0
    x = model_input(digit, (1, 1, 32, 32), mean=0.5, std=0.25)
    assert x.shape == (1, 1, 32, 32)
    assert x[0, 0, 2, 2] == pytest.approx(2.0) and x[0, 0, 0, 0] == pytest.approx(-2.0)
    with pytest.raises(ValueError, match="does not fit"):
        model_input(np.zeros((40, 40)), (1, 1, 32, 32))
    with pytest.raises(ValueError, match="mean and std"):
        model_input(digit, (1, 1, 28, 28), mean=0.1)


@pytest.mark.parametrize("model,size", [(lambda: LeNet5(activation="tanh", pool="avg"), 28),
                                        (LeNet5Classic, 32)])
def test_receptive_box_is_where_the_gradient_reaches(model, size):
    torch.manual_seed(0)
    net = model()
    table = {r.name: r for r in layer_table(net, (1, 1, size, size))}
    x = torch.randn(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    net = net.double()
    outs = {}
    hooks = [m.register_forward_hook(lambda m, a, o, n=n: outs.__setitem__(n, o))
             for n, m in net.named_children()]
    net(x)
    for h in hooks:
        h.remove()
    for name, out in outs.items():
        row = table[name]
        if out.dim() != 4:
            continue
        h, w = out.shape[2:]
        for i, j in ((0, 0), (h // 2, w // 3), (h - 1, w - 1)):
            (grad,) = torch.autograd.grad(out[0, 0, i, j], x, retain_graph=True)
            rows, cols = np.nonzero(grad[0, 0].numpy())
            seen = (rows.min(), cols.min(), rows.max(), cols.max())
            assert receptive_box(row.rf, row.jump, (size, size), (h, w), i, j) == seen, name
