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

RIGHT = {"C1": (156, 122_304), "C3": (1_516, 151_600), "C5": (48_120, 48_120),
         "F6": (10_164, 10_164)}


def test_lenet_counts():
    assert checks.check_lenet_counts(RIGHT)
    result = checks.check_lenet_counts(dict(RIGHT, C3=(2_416, 151_600), F6=(10_164, 10_080)))
    assert not result
    assert "2 wrong" in result.message and "full 6 -> 16 convolution" in result.message
    assert "F6 connections: you said 10080" in result.message
    assert "pair" in checks.check_lenet_counts(dict(RIGHT, C1=156)).message
    blank = dict.fromkeys(checks.LENET_COUNT_LAYERS, (None, None))
    assert "not attempted" in checks.check_lenet_counts(blank).message
    assert "not attempted" in checks.check_lenet_counts(None).message


def test_table_conv_params():
    assert checks.check_table_conv_params(lambda t, k: int(t.sum()) * k * k + t.shape[1])
    no_bias = checks.check_table_conv_params(lambda t, k: int(t.sum()) * k * k)
    assert not no_bias and "got 1500, expected 1516" in no_bias.message
    full = checks.check_table_conv_params(lambda t, k: t.size * k * k + t.shape[1])
    assert not full and "expected" in full.message
    crash = checks.check_table_conv_params(lambda t, k: 1 / 0)
    assert not crash and "ZeroDivisionError" in crash.message

    def stub(table, kernel_size):
        raise NotImplementedError

    assert "not attempted" in checks.check_table_conv_params(stub).message
    assert "not attempted" in checks.check_table_conv_params(None).message


def test_lenet5_params():
    assert checks.check_lenet5_params({"padding=2": 61_706, "padding=0": 44_426})
    wrong = checks.check_lenet5_params({"padding=2": 61_706, "padding=0": 61_706})
    assert not wrong and "padding=0: you said 61706" in wrong.message
    assert "not attempted" in checks.check_lenet5_params(
        dict.fromkeys(checks.LENET5_PADDING_QUESTIONS)).message


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
