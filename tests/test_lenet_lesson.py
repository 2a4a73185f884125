"""Lesson 3's widget (LayerInspector, driven from Python), self-checks and figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from cnnkit import checks, viz
from cnnkit.inspect import layer_table, weights_of
from cnnkit.models import C3_TABLE, LeNet5, LeNet5Classic
from cnnkit.widgets import LayerInspector

PNG = b"\x89PNG\r\n\x1a\n"

# --- the layer inspector ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inspector():
    return LayerInspector()


def test_starts_on_the_first_layer_of_the_classic_network(inspector):
    assert inspector.model.value == "LeNet-5 (1998)"
    assert [v for _, v in inspector.layer.options] == ["C1", "S2", "C3", "S4", "C5", "F6",
                                                       "output"]
    assert inspector.row.name == "C1"
    assert "output <b>[1, 6, 28, 28]</b>" in inspector.info.value
    assert "trainable parameters <b>156</b>" in inspector.info.value
    assert "connections 122,304" in inspector.info.value
    assert bytes(inspector.weights_view.value[:8]) == PNG
    assert "340,908" in inspector.table_view.value


def test_choosing_a_layer_shows_its_numbers_and_weights(inspector):
    inspector.layer.value = "C3"
    info = inspector.info.value
    assert "TableConv2d" in info and "weight [60, 1, 5, 5]" in info
    assert "1,516</b> (2.5% of the model's 60,000)" in info
    assert "connections 151,600; MACs 150,000" in info
    assert "receptive field 14 input pixels per side, jump 2" in info
    kind, values = inspector.weights
    assert kind == "kernels" and values.shape == (16, 6, 5, 5)
    assert (np.isnan(values[:, :, 2, 2]) == ~C3_TABLE.T).all()  # the gaps of Table I
    inspector.layer.value = "output"
    assert inspector.weights[0] == "prototypes" and "fixed 840" in inspector.info.value
    inspector.layer.value = "S2"
    assert inspector.weights[0] == "per-map" and inspector.weights[1].shape == (2, 6)
    inspector.layer.value = "C1"


def test_choosing_a_model_rebuilds_the_layer_list(inspector):
    inspector.model.value = "LeNet-5 (modern)"
    assert inspector.layer.value == "conv1" and "61,706" in inspector.info.value
    inspector.layer.value = "act1"
    assert inspector.weights is None and inspector.weights_view.layout.display == "none"
    assert "has no weights" in inspector.weights_label.value
    inspector.layer.value = "fc1"
    assert inspector.weights_view.layout.display is None
    assert inspector.weights[0] == "matrix" and inspector.weights[1].shape == (120, 400)
    inspector.model.value = "LeNet CIFAR"
    assert inspector.row.name == "conv1" and "[1, 16, 32, 32]" in inspector.info.value
    inspector.model.value = "LeNet-5 (1998)"
    assert inspector.row.name == "C1"


def test_inspects_models_it_is_given():
    torch.manual_seed(0)
    model = LeNet5(activation="tanh", pool="avg")
    w = LayerInspector({"mine": (model, (1, 1, 28, 28))}, layer="conv2")
    assert w.row.name == "conv2" and w.current_module() is model.conv2
    np.testing.assert_allclose(w.weights[1], model.conv2.weight.detach().double().numpy())
    with pytest.raises(ValueError, match="model must be one of"):
        LayerInspector({"mine": (model, (1, 1, 28, 28))}, model="yours")
    with pytest.raises(ValueError, match="layer must be one of"):
        LayerInspector({"mine": (model, (1, 1, 28, 28))}, layer="C3")


def test_renders_as_a_widget(inspector):
    assert "application/vnd.jupyter.widget-view+json" in inspector._repr_mimebundle_()


# --- self-checks --------------------------------------------------------------------------------

def test_lenet_receptive_fields():
    right = {"C1": 5, "S2": 6, "C3": 14, "S4": 16, "C5": 32}
    assert checks.check_lenet_receptive_fields(right)
    no_strides = dict(right, C3=10, S4=11, C5=15)  # kernel sizes added, strides forgotten
    result = checks.check_lenet_receptive_fields(no_strides)
    assert not result and "3 of 5 wrong" in result.message and "product of the strides" in (
        result.message)
    assert "32" not in result.message.replace("you said", "")  # never the answer
    assert "not attempted" in checks.check_lenet_receptive_fields(dict.fromkeys(right)).message


def test_receptive_fields_agree_with_autograd():
    """The checked answers are what autograd finds on the real 1998 network."""
    model = LeNet5Classic()
    x = torch.zeros(1, 1, 32, 32, requires_grad=True)
    out = model.C5(model.S4(model.C3(model.S2(model.C1(x)))))
    out[0, 0, 0, 0].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    assert int(rows.max() - rows.min() + 1) == 32


def test_table_conv_counts_reference_matches_layer_table():
    from cnnkit.checks.lenet import _table_conv_counts as table_conv_counts

    classic = layer_table(LeNet5Classic(), (1, 1, 32, 32))
    assert table_conv_counts(C3_TABLE, 5, 14, 0) == (classic["C3"].trainable,
                                                     classic["C3"].connections)
    modern = layer_table(LeNet5(), (1, 1, 28, 28))  # conv1: padding 2, padded zeros no inputs
    assert table_conv_counts(np.ones((1, 6), dtype=bool), 5, 28, 2) == (
        modern["conv1"].trainable, modern["conv1"].connections) == (156, 112_440)
    assert table_conv_counts(np.ones((6, 16), dtype=bool), 5, 14, 0) == (
        modern["conv2"].trainable, modern["conv2"].connections)


def test_table_conv_counts_check_names_the_usual_mistakes():
    from cnnkit.checks.lenet import _table_conv_counts as table_conv_counts

    assert checks.check_table_conv_counts(table_conv_counts)

    def no_bias(t, k, n, p):
        params, conn = table_conv_counts(t, k, n, p)
        return params - t.shape[1], conn

    result = checks.check_table_conv_counts(no_bias)
    assert not result and "bias" in result.message and "expected (1516, 151600)" in (
        result.message)

    def counts_padding(t, k, n, p):  # padded zeros counted as inputs
        params, _ = table_conv_counts(t, k, n, p)
        return params, params * (n + 2 * p - k + 1) ** 2

    result = checks.check_table_conv_counts(counts_padding)
    assert not result and "padded zero is not an input" in result.message
    full = checks.check_table_conv_counts(
        lambda t, k, n, p: (t.size * k * k + t.shape[1], 0))
    assert not full and "only the links of the table" in full.message
    result = checks.check_table_conv_counts(lambda t, k, n, p: 1516)
    assert not result and "pair" in result.message
    crash = checks.check_table_conv_counts(lambda t, k, n, p: 1 / 0)
    assert not crash and "ZeroDivisionError" in crash.message
    assert "not attempted" in checks.check_table_conv_counts(None).message


def test_c5_on_a_larger_input():
    right = {"output": (120, 2, 2), "parameters": 48_120, "connections": 192_480}
    assert checks.C5_LARGER_INPUT == 36
    model = LeNet5Classic()
    with torch.no_grad():
        x = torch.zeros(1, 1, 36, 36)
        c5 = model.C5(model.S4(model.C3(model.S2(model.C1(x)))))
    assert tuple(c5.shape[1:]) == right["output"]
    assert checks.check_c5_larger_input(right)
    assert checks.check_c5_larger_input(dict(right, output=[120, 2, 2]))
    result = checks.check_c5_larger_input(dict(right, parameters=4 * 48_120))
    assert not result and "weight sharing" in result.message
    result = checks.check_c5_larger_input(dict(right, connections=48_120))
    assert not result and "its own 401 connections" in result.message
    assert "not attempted" in checks.check_c5_larger_input(dict.fromkeys(right)).message


# --- figures --------------------------------------------------------------------------------------


def test_lesson_figures_are_titled_and_labelled():
    model = LeNet5Classic()
    table = layer_table(model, (1, 1, 32, 32))
    figures = [
        viz.show_connection_table(C3_TABLE),
        viz.show_prototypes(model.output.prototype_images()),
        viz.show_where_costs_live(table.names(), [r.trainable for r in table],
                                  [r.connections for r in table]),
        *(viz.show_weights(*weights_of(getattr(model, n)), title=f"{n} weights")
          for n in ("C1", "S2", "C3", "C5", "F6", "output")),
    ]
    for fig in figures:
        titles = [ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text()
                                                        if fig._suptitle else ""]
        assert any(titles), fig
        w, h = fig.get_size_inches()
        assert w <= 10 and h <= 6, (w, h)
        plt.close(fig)
    fan_in = [t.get_text() for t in figures[0].axes[0].child_axes[0].get_xticklabels()]
    assert fan_in == ["3"] * 6 + ["4"] * 9 + ["6"]


def test_show_weights_rejects_unknown_kinds():
    with pytest.raises(ValueError, match="kind must be"):
        viz.show_weights("filters", np.zeros((2, 2)), "x")


def test_figure_to_png_closes_the_figure():
    fig = viz.show_connection_table(C3_TABLE)
    assert viz.figure_to_png(fig).startswith(PNG)
    assert not plt.fignum_exists(fig.number)
