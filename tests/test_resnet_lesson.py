"""Lesson 6: the ResNet explorer (driven from Python), the self-checks, the figures, and the
facts the notebook teaches: traced shapes equal real ones for every ResNet, the shape notes' trace,
receptive fields by hand and by experiment, the tracing benchmark."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from cnnkit import checks, viz
from cnnkit.inspect import trace
from cnnkit.models import BasicBlock, Bottleneck, resnet, resnet_cifar
from cnnkit.widgets import ResNetExplorer

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def meta_resnet(depth: int) -> nn.Module:
    with torch.device("meta"):
        return resnet(depth)


# --- the ResNet explorer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def explorer():
    return ResNetExplorer(layer="layer2")


def test_starts_on_resnet50_at_224(explorer):
    assert (explorer.depth.value, explorer.image_size.value, explorer.detail.value) == (
        50, 224, "stage")
    assert explorer.input_size() == (1, 3, 224, 224)
    assert explorer.layer.value == "layer2" and explorer.row.name == "layer2"
    label = explorer.size_label.value
    assert "input [1, 256, 56, 56] &rarr; output <b>[1, 512, 28, 28]</b>" in label
    assert "<b>halves</b> the spatial size: 56x56 &rarr; 28x28; channels 256 &rarr; 512" in label
    assert "receptive field 91 input pixels per side, jump 8" in label
    assert [name for name, _, _ in explorer.halvings] == [
        "conv1", "maxpool", "layer2", "layer3", "layer4", "avgpool"]
    assert "<b>layer4</b> (14x14 &rarr; 7x7)" in explorer.halving_label.value
    assert bytes(explorer.chart_view.value[:8]) == PNG
    assert explorer.table_view.value.count("cnnkit-selected") == 1
    selected = re.search(r"<tr class='cnnkit-selected'[^>]*>(.*?)</tr>",
                         explorer.table_view.value).group(1)
    assert ">layer2<" in selected and "1,219,584" in selected


def test_the_view_is_the_trace(explorer):
    expected = trace(meta_resnet(50), (1, 3, 224, 224), depth=1)
    assert explorer.trace.rows == expected.rows and explorer.trace.totals == expected.totals
    assert explorer.row == expected["layer2"]
    assert [v for _, v in explorer.layer.options] == expected.names()


def test_depth_input_size_and_detail_change_the_view(explorer):
    chart = explorer.chart_view.value
    explorer.depth.value = 18
    assert explorer.layer.value == "layer2"  # the selection is kept
    assert "output <b>[1, 128, 28, 28]</b>" in explorer.size_label.value
    assert "ResNet-18" in explorer.halving_label.value
    assert explorer.chart_view.value != chart
    explorer.image_size.value = 240  # not a multiple of 32: 15x15 -> 8x8 in layer4
    assert explorer.trace["layer4"].output_shape == (1, 512, 8, 8)
    assert "<b>layer4</b> (15x15 &rarr; 8x8)" in explorer.halving_label.value
    assert "<b>halves</b> the spatial size: 60x60 &rarr; 30x30" in explorer.size_label.value
    explorer.detail.value = "block"  # a stage becomes its last block
    assert explorer.layer.value == "layer2.1"
    assert "layer2.0" in explorer.trace.names() and "layer2" not in explorer.trace.names()
    assert [n for n, _, _ in explorer.halvings][2:5] == ["layer2.0", "layer3.0", "layer4.0"]
    assert "keeps the spatial size 30x30" in explorer.size_label.value
    explorer.depth.value = 152  # layer2.1 exists there too
    assert explorer.layer.value == "layer2.1" and len(explorer.trace) == 4 + 50 + 2
    explorer.layer.value = "layer3.35"
    explorer.depth.value = 50  # layer3 has 6 blocks: its last one
    assert explorer.layer.value == "layer3.5"
    explorer.detail.value = "stage"  # a block becomes its stage
    assert explorer.layer.value == "layer3"
    explorer.layer.value = "maxpool"
    assert "<b>halves</b> the spatial size: 120x120 &rarr; 60x60" in explorer.size_label.value
    explorer.layer.value = "fc"
    assert "output <b>[1, 1000]</b>" in explorer.size_label.value
    assert "halves" not in explorer.size_label.value
    explorer.image_size.value, explorer.layer.value = 224, "layer2"


def test_batch_and_css_classes():
    e = ResNetExplorer(depth=34, image_size=32, batch=10, layer="layer4")
    assert e.trace["layer4"].output_shape == (10, 512, 1, 1)
    assert "cnnkit-resnet-explorer" in e.ui._dom_classes
    assert "cnnkit-output-size" in e.size_label._dom_classes
    assert "output <b>[10, 512, 1, 1]</b>" in e.size_label.value
    assert "application/vnd.jupyter.widget-view+json" in e._repr_mimebundle_()


@pytest.mark.parametrize("kwargs, match", [
    ({"depth": 42}, "depth must be one of"),
    ({"image_size": 16}, "image_size must be an int from 32 to 512"),
    ({"image_size": 224.0}, "image_size must be an int"),
    ({"detail": "conv"}, "detail must be one of"),
    ({"batch": 0}, "batch must be an int >= 1"),
    ({"layer": "layer2.0"}, "layer must be one of"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNetExplorer(**kwargs)


# --- self-checks --------------------------------------------------------------------------------

SHAPES = {"conv1": (2, 64, 100, 150), "maxpool": (2, 64, 50, 75), "layer1": (2, 256, 50, 75),
          "layer2": (2, 512, 25, 38), "layer3": (2, 1024, 13, 19), "layer4": (2, 2048, 7, 10),
          "avgpool": (2, 2048, 1, 1), "fc": (2, 1000)}


def test_resnet_shapes_by_hand_agree_with_the_question():
    q = checks.RESNET_SHAPE_QUESTION
    assert q["depth"] == 50 and q["input_size"] == (2, 3, 200, 300)
    assert tuple(SHAPES) == q["layers"]
    model = resnet(50)
    real = dict(_real_shapes(model, q["input_size"]))  # a real forward pass: the answer key
    assert {name: real[name] for name in q["layers"]} == SHAPES


def test_check_resnet_shapes():
    assert checks.check_resnet_shapes(SHAPES)
    assert checks.check_resnet_shapes({k: list(v) for k, v in SHAPES.items()})  # lists are fine
    wrong = checks.check_resnet_shapes(dict(SHAPES, layer3=(2, 1024, 12, 19), fc=(2, 2048)))
    assert not wrong and "2 of 8 wrong" in wrong.message
    assert "layer3: you said [2, 1024, 12, 19]; wrong: height" in wrong.message
    assert "fc: you said [2, 2048]; wrong: number of classes" in wrong.message
    assert "off by one" in wrong.message and "13" not in wrong.message  # no answer given away
    assert "1000" not in wrong.message
    flat = checks.check_resnet_shapes(dict(SHAPES, layer4=(2, 2048, 70)))
    assert not flat and "3 dimensions, but this output has 4" in flat.message
    missing = checks.check_resnet_shapes(dict(SHAPES, avgpool=None))
    assert not missing and "avgpool: give a shape like (N, C, H, W); got None" in missing.message
    assert "off by one" not in missing.message
    assert "not attempted" in checks.check_resnet_shapes(None).message
    blank = dict.fromkeys(checks.RESNET_SHAPE_QUESTION["layers"])
    assert "not attempted" in checks.check_resnet_shapes(blank).message
    assert "must be a dict" in checks.check_resnet_shapes([1, 2]).message


def bottleneck_params(in_channels, channels, stride):
    """The reference answer, by hand."""
    out = 4 * channels
    n = in_channels * channels + 9 * channels * channels + channels * out  # three convs
    n += 2 * (channels + channels + out)  # three batch norms
    if stride != 1 or in_channels != out:
        n += in_channels * out + 2 * out  # projection + its batch norm
    return n


def test_bottleneck_params_by_hand():
    assert bottleneck_params(256, 64, 1) == 70_400
    assert bottleneck_params(64, 64, 1) == 75_008
    assert bottleneck_params(256, 128, 2) == 379_392
    for args in [(256, 64, 1), (64, 64, 1), (1024, 512, 2), (32, 8, 2)]:
        assert bottleneck_params(*args) == sum(p.numel() for p in Bottleneck(*args).parameters())


def _projection(i, c, s):
    return i * 4 * c + 8 * c if (s != 1 or i != 4 * c) else 0


@pytest.mark.parametrize("wrong, hint", [
    (lambda i, c, s: bottleneck_params(i, c, s) - _projection(i, c, s),
     "its shortcut has weights too"),
    (lambda i, c, s: bottleneck_params(i, c, s) - _projection(i, c, s) + i * 4 * c + 8 * c,
     "its shortcut is the identity"),
    (lambda i, c, s: bottleneck_params(i, c, s) - 12 * c - (8 * c if _projection(i, c, s) else 0),
     "the batch norms are missing"),
    (lambda i, c, s: bottleneck_params(i, c, s) + 6 * c + (4 * c if _projection(i, c, s) else 0),
     "convolutions have no bias"),
    (lambda i, c, s: bottleneck_params(i, c, s) + 1, "which is wrong"),
], ids=["no-projection", "always-projection", "no-batch-norm", "conv-bias", "off-by-one"])
def test_check_bottleneck_params_hints(wrong, hint):
    result = checks.check_bottleneck_params(wrong)
    assert not result and hint in result.message
    where = re.search(r"in_channels=(\d+), channels=(\d+), stride=(\d+)", result.message)
    expected = bottleneck_params(*(int(g) for g in where.groups()))
    assert str(expected) not in result.message and f"{expected:,}" not in result.message


def test_check_bottleneck_params():
    result = checks.check_bottleneck_params(bottleneck_params)
    assert result and "70,400" in result.message
    crash = checks.check_bottleneck_params(lambda i, c, s: i / 0)
    assert not crash and "ZeroDivisionError" in crash.message

    def stub(in_channels, channels, stride):
        raise NotImplementedError

    assert "not attempted" in checks.check_bottleneck_params(stub).message
    assert "not attempted" in checks.check_bottleneck_params(None).message


def receptive_field(layers):
    rf, jump = 1, 1
    for kernel, stride in layers:
        rf += (kernel - 1) * jump
        jump *= stride
    return rf, jump


def test_check_receptive_field():
    assert receptive_field([(7, 2), (3, 2)]) == (11, 4)
    assert checks.check_receptive_field(receptive_field)
    no_strides = checks.check_receptive_field(lambda L: (1 + sum(k - 1 for k, _ in L), 1))
    assert not no_strides and "ignores the strides" in no_strides.message
    assert "the jump is wrong" in no_strides.message and "(11, 4)" not in no_strides.message

    def own_stride(layers):
        rf, jump = 1, 1
        for kernel, stride in layers:
            jump *= stride
            rf += (kernel - 1) * jump
        return rf, jump

    late = checks.check_receptive_field(own_stride)
    assert not late and "own stride" in late.message and "jump is wrong" not in late.message
    assert "return a pair" in checks.check_receptive_field(lambda L: 11).message

    def stub(layers):
        raise NotImplementedError

    assert "not attempted" in checks.check_receptive_field(stub).message
    assert "not attempted" in checks.check_receptive_field(None).message


# --- traced shapes equal real ones (resnet18 and the LeNets: tests/test_inspect.py) -------------


def _real_shapes(model: nn.Module, size) -> list[tuple[str, tuple[int, ...]]]:
    """(name, output shape) of every module call of a real forward pass."""
    shapes, handles = [], []
    for name, m in model.named_modules():
        if name:
            handles.append(m.register_forward_hook(
                lambda mod, args, out, name=name: shapes.append((name, tuple(out.shape)))))
    with torch.no_grad():
        model.eval()(torch.randn(size))
    for h in handles:
        h.remove()
    return shapes


@pytest.mark.parametrize("build, size", [
    (lambda: torchvision.models.resnet34(weights=None), (1, 3, 64, 64)),
    (lambda: torchvision.models.resnet50(weights=None), (1, 3, 64, 64)),
    (lambda: torchvision.models.resnet101(weights=None), (1, 3, 64, 64)),
    (lambda: torchvision.models.resnet152(weights=None), (1, 3, 64, 64)),
    (lambda: resnet(18), (2, 3, 72, 40)),
    (lambda: resnet_cifar(20), (2, 3, 32, 32)),
    (lambda: resnet_cifar(20, shortcut="projection"), (1, 3, 32, 32)),
], ids=["tv-resnet34", "tv-resnet50", "tv-resnet101", "tv-resnet152", "resnet18-odd-size",
        "resnet20", "resnet20-projection"])
def test_trace_shapes_equal_a_real_forward(build, size):
    torch.manual_seed(0)
    model = build()
    t = trace(model, size)
    assert t.device == "meta"
    assert sorted((r.name, r.output_shape) for r in t) == sorted(_real_shapes(model, size))
    assert t.totals.trainable == sum(p.numel() for p in model.parameters())


# --- the ResNet-50 shape notes: ResNet-50 on [10, 3, 224, 224] --------------------------------

# The source's printout, first block of each stage: (output, weight) of its 1x1, 3x3 and 1x1
# convolutions and of the projection (which it prints last)
SEED_FIRST_BLOCKS = {
    "layer1.0": [((10, 64, 56, 56), (64, 64, 1, 1)), ((10, 64, 56, 56), (64, 64, 3, 3)),
                 ((10, 256, 56, 56), (256, 64, 1, 1)), ((10, 256, 56, 56), (256, 64, 1, 1))],
    "layer2.0": [((10, 128, 56, 56), (128, 256, 1, 1)), ((10, 128, 28, 28), (128, 128, 3, 3)),
                 ((10, 512, 28, 28), (512, 128, 1, 1)), ((10, 512, 28, 28), (512, 256, 1, 1))],
    "layer3.0": [((10, 256, 28, 28), (256, 512, 1, 1)), ((10, 256, 14, 14), (256, 256, 3, 3)),
                 ((10, 1024, 14, 14), (1024, 256, 1, 1)),
                 ((10, 1024, 14, 14), (1024, 512, 1, 1))],
    "layer4.0": [((10, 512, 14, 14), (512, 1024, 1, 1)), ((10, 512, 7, 7), (512, 512, 3, 3)),
                 ((10, 2048, 7, 7), (2048, 512, 1, 1)), ((10, 2048, 7, 7), (2048, 1024, 1, 1))],
}
SEED_STAGES = {"conv1": (10, 64, 112, 112), "maxpool": (10, 64, 56, 56),
               "layer1": (10, 256, 56, 56), "layer2": (10, 512, 28, 28),
               "layer3": (10, 1024, 14, 14), "layer4": (10, 2048, 7, 7),
               "avgpool": (10, 2048, 1, 1), "fc": (10, 1000)}


@pytest.fixture(scope="module")
def notes_trace():
    return trace(meta_resnet(50), (10, 3, 224, 224))


def test_shape_notes_stage_shapes(notes_trace):
    for name, shape in SEED_STAGES.items():
        assert notes_trace[name].output_shape == shape, name
    assert notes_trace["conv1"].weight_shape == (64, 3, 7, 7)


def test_shape_notes_first_blocks(notes_trace):
    for block, expected in SEED_FIRST_BLOCKS.items():
        names = [f"{block}.{n}" for n in ("conv1", "conv2", "conv3", "downsample.0")]
        assert [(notes_trace[n].output_shape, notes_trace[n].weight_shape)
                for n in names] == expected, block


def test_shape_notes_counts_53_convolutions_for_50_layers(notes_trace):
    convs = [r for r in notes_trace if r.type == "Conv2d"]
    assert len(convs) == 53  # the source's conv2d_0 .. conv2d_52
    assert [r.name for r in convs if "downsample" in r.name] == [
        f"layer{i}.0.downsample.0" for i in range(1, 5)]
    assert len(convs) - 4 + 1 == 50  # + fc, - projections


def test_basic_and_bottleneck_costs_at_the_same_width():
    basic = trace(BasicBlock(256, 256), (1, 256, 56, 56)).totals
    bottleneck = trace(Bottleneck(256, 64), (1, 256, 56, 56)).totals
    assert (basic.trainable, bottleneck.trainable) == (1_180_672, 70_400)
    assert (basic.macs, bottleneck.macs) == (2 * 9 * 256 * 256 * 56 * 56,
                                             (256 * 64 + 9 * 64 * 64 + 64 * 256) * 56 * 56)


# --- receptive field, by hand and by experiment -------------------------------------------------


def test_resnet18_receptive_field_by_hand():
    t = trace(meta_resnet(18), (1, 3, 224, 224), depth=2)
    # conv1 7x7/2: 7 (jump 2); maxpool 3x3/2: 7 + 2*2 = 11 (jump 4); a basic block at jump 4
    # adds 2 * 2*4 = 16: 27, 43; layer2.0: 3x3/2 at jump 4 (+8, jump 8), 3x3 at jump 8 (+16): 67
    assert [(t[n].rf[0], t[n].jump[0]) for n in ("conv1", "maxpool", "layer1.0", "layer1.1",
                                                 "layer2.0")] == [
        (7, 2), (11, 4), (27, 4), (43, 4), (67, 8)]
    # the bottleneck adds one 3x3 per block: ResNet-50's layer1.0 is 11 + 2*4 = 19
    assert trace(meta_resnet(50), (1, 3, 224, 224), depth=2)["layer1.0"].rf == (19, 19)


def test_cifar_resnet20_receptive_field_by_hand_and_by_gradient():
    torch.manual_seed(0)
    net = resnet_cifar(20).eval()
    t = trace(net, (1, 3, 96, 96), depth=1)
    # 3x3 stem: 3; six 3x3 at jump 1: 15; layer2: 15 + 2 = 17 (jump 2) + 5 * 4 = 37;
    # layer3: 37 + 4 = 41 (jump 4) + 5 * 8 = 81
    assert [(t[n].rf[0], t[n].jump[0]) for n in ("conv1", "layer1", "layer2", "layer3")] == [
        (3, 1), (15, 1), (37, 2), (81, 4)]
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()  # every ReLU passes: the nonzero gradient covers the whole field
    x = torch.rand(1, 3, 96, 96, requires_grad=True)
    h = net.relu(net.bn1(net.conv1(x)))
    for name in ("layer1", "layer2", "layer3"):
        h = getattr(net, name)(h)
        c = h.shape[-1] // 2
        (g,) = torch.autograd.grad(h[0, :, c, c].sum(), x, retain_graph=True)
        rows = g.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
        cols = g.abs().sum(dim=(0, 1, 2)).nonzero().flatten()
        rf, jump = t[name].rf[0], t[name].jump[0]
        assert (rows.min().item(), rows.max().item()) == (c * jump - rf // 2, c * jump + rf // 2)
        assert (cols.min().item(), cols.max().item()) == (c * jump - rf // 2, c * jump + rf // 2)


# --- figures and the benchmark ------------------------------------------------------------------


def test_lesson_figures_are_titled_and_labelled():
    rng = np.random.default_rng(0)
    grads = [np.pad(rng.random((5, 5)), 4), np.zeros((13, 13)) + 1e-3]
    figures = [
        viz.show_spatial_sizes(["input", "conv1", "layer4", "avgpool"],
                               [(224, 224), (112, 112), (15, 15), (8, 8)],
                               [3, 64, 512, 512], highlight="conv1"),
        viz.show_gradient_extent(grads, [(4, 4, 5, 5), None], ["a", "b"], suptitle="s"),
        viz.show_layer_gradients({"plain": [100.0, 10.0, 1.0], "residual": [2.0, 1.5, 1.0]}),
        viz.show_receptive_field_growth({"ResNet-18": [11, 27, 43]}, image_size=32),
    ]
    for fig in figures:
        axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert any(ax.get_title() for ax in axes), fig
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes[:1]), fig
        w, h = fig.get_size_inches()
        assert w <= 10 and h <= 6, (w, h)
        plt.close(fig)
    texts = [t.get_text() for t in figures[0].axes[0].texts]
    assert "112\n64 ch" in texts
    assert [t for t in texts if "/" in t or t == "global"] == ["/2", "/7.47", "/2"]
    sizes = viz.show_spatial_sizes(["layer3", "layer4", "avgpool"], [(15, 15), (8, 8), (1, 1)],
                                   [256, 512, 512])
    assert [t.get_text() for t in sizes.axes[0].texts][-2:] == ["/2", "global"]  # 15 -> 8
    plt.close(sizes)


def test_trace_benchmark_runs(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["trace.py", "--depth", "18", "--batch", "1", "--size",
                                      "64", "--rounds", "1"])
    runpy.run_path(str(ROOT / "benchmarks" / "trace.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "ResNet-18, input [1, 3, 64, 64]" in out
    assert re.search(r"ratio forward / trace: \d+(\.\d)?x", out)
