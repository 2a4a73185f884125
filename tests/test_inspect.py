"""cnnkit.inspect: the per-layer table (the paper's numbers), tracing on the meta device (shapes
equal a real forward, the model is left untouched), counts cross-checked against sum(numel),
FlopCounterMode and brute force, receptive fields (by hand, by autograd on multi-branch modules,
Inception-v3's published ones), totals with unused parameters, the rule registry, depth
collapsing, errors (unbatched input included), HTML with a highlighted row."""

from __future__ import annotations

import ast
import copy
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import cnnkit.inspect
from cnnkit.inspect import (
    Trace,
    TraceError,
    Window,
    count_parameters,
    layer_table,
    register_rule,
    rule_for,
    trace,
    weights_of,
)
from cnnkit.models import LeNet5, LeNet5Classic, LeNetCIFAR, TableConv2d, resnet
from cnnkit.models.lenet import EuclideanRBF, Subsampling

PAPER = {  # layer: (trainable, fixed, connections), LeCun et al. 1998, section II.B
    "C1": (156, 0, 122_304),
    "S2": (12, 0, 5_880),
    "C3": (1_516, 0, 151_600),
    "S4": (32, 0, 2_000),
    "C5": (48_120, 0, 48_120),
    "F6": (10_164, 0, 10_164),
    "output": (0, 840, 840),
}

CLASSIC_TABLE = """\
LeNet5Classic, input [1, 1, 32, 32] (counts per sample)
layer   type          output           trainable  fixed  connections     MACs
-----------------------------------------------------------------------------
C1      Conv2d        [1, 6, 28, 28]         156      0      122,304  117,600
S2      Subsampling   [1, 6, 14, 14]          12      0        5,880    4,704
C3      TableConv2d   [1, 16, 10, 10]      1,516      0      151,600  150,000
S4      Subsampling   [1, 16, 5, 5]           32      0        2,000    1,600
C5      Conv2d        [1, 120, 1, 1]      48,120      0       48,120   48,000
F6      Linear        [1, 84]             10,164      0       10,164   10,080
output  EuclideanRBF  [1, 10]                  0    840          840      840
-----------------------------------------------------------------------------
total                                     60,000    840      340,908  332,824"""


def small_models():
    """(model, input_size) pairs built from standard and course layers."""
    torch.manual_seed(0)
    odd = nn.Sequential(  # strides, dilation, groups, padding modes, no bias, pooling, norms
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4), nn.MaxPool2d(3, 2, padding=1),
        nn.Conv2d(8, 6, (3, 1), padding="same", padding_mode="reflect"), nn.GroupNorm(2, 6),
        nn.AvgPool2d(2, ceil_mode=True), nn.AdaptiveAvgPool2d((3, 2)), nn.Flatten(),
        nn.Linear(36, 5), nn.LayerNorm(5))
    return [
        (LeNet5Classic(), (2, 1, 32, 32)),
        (LeNet5(), (2, 1, 28, 28)),
        (LeNet5(padding=0, activation="tanh", pool="avg"), (2, 1, 28, 28)),
        (LeNetCIFAR(), (2, 3, 32, 32)),
        (odd, (2, 3, 21, 17)),
        (torchvision.models.resnet18(weights=None), (2, 3, 64, 64)),
    ]


MODELS = small_models()
IDS = ["classic", "modern", "modern-tanh-avg", "cifar", "odd", "resnet18"]


# --- the paper's table ----------------------------------------------------------------------------


def test_layer_table_reproduces_the_papers_numbers():
    t = layer_table(LeNet5Classic(), (1, 1, 32, 32))
    assert t.names() == list(PAPER)
    for row in t:
        assert (row.trainable, row.fixed, row.connections) == PAPER[row.name], row.name
    assert t.totals.trainable == 60_000
    assert t.totals.fixed == 840
    assert t.totals.connections == 340_908
    assert [r.output_shape for r in t] == [(1, 6, 28, 28), (1, 6, 14, 14), (1, 16, 10, 10),
                                           (1, 16, 5, 5), (1, 120, 1, 1), (1, 84), (1, 10)]
    assert t.device == "meta"


def test_layer_table_text_is_stable():
    assert str(layer_table(LeNet5Classic(), (1, 1, 32, 32))) == CLASSIC_TABLE


def test_counts_are_per_sample():
    one = layer_table(LeNet5Classic(), (1, 1, 32, 32))
    many = layer_table(LeNet5Classic(), (7, 1, 32, 32))
    assert [(r.connections, r.macs) for r in one] == [(r.connections, r.macs) for r in many]
    assert many["C1"].output_shape == (7, 6, 28, 28)


@pytest.mark.parametrize("padding, total", [(2, 61_706), (0, 44_426)])
def test_modern_lenet_table(padding, total):
    t = layer_table(LeNet5(padding=padding), (1, 1, 28, 28))
    assert t.totals.trainable == total
    assert t["fc1"].trainable == (48_120 if padding == 2 else 30_840)
    # padding zeros cost MACs but are not inputs: the border units of conv1 have fewer links
    assert t["conv1"].macs == 6 * 28 * 28 * 25 if padding == 2 else 6 * 24 * 24 * 25
    if padding == 2:
        assert t["conv1"].connections < t["conv1"].macs + 6 * 28 * 28


def test_cifar_table():
    t = layer_table(LeNetCIFAR(), (1, 3, 32, 32))
    assert t.totals.trainable == 379_114
    assert [t[n].output_shape for n in ("conv1", "pool1", "conv2", "pool2", "flatten")] == [
        (1, 16, 32, 32), (1, 16, 16, 16), (1, 32, 14, 14), (1, 32, 7, 7), (1, 1568)]


# --- cross-checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model, size", MODELS, ids=IDS)
def test_parameters_add_up_to_sum_of_numel(model, size):
    t = layer_table(model, size)
    expected = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(r.trainable for r in t) == t.totals.trainable == expected
    buffers = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    assert sum(r.fixed for r in t) == t.totals.fixed == buffers
    assert trace(model, size, depth=1).totals == t.totals


def test_frozen_parameters_are_fixed():
    model = LeNet5()
    model.conv1.requires_grad_(False)
    t = layer_table(model, (1, 1, 28, 28))
    assert (t["conv1"].trainable, t["conv1"].fixed) == (0, 156)
    assert (t.totals.trainable, t.totals.fixed) == (61_706 - 156, 156)


@pytest.mark.parametrize("model, size", MODELS, ids=IDS)
def test_macs_of_standard_layers_equal_flop_counter(model, size):
    with FlopCounterMode(display=False) as counter:
        with torch.no_grad():
            model.eval()(torch.randn(size))
    flops = counter.get_flop_counts()
    prefix = type(model).__name__
    t = trace(model, size)
    checked = 0
    for row in t:
        module = model.get_submodule(row.name)
        if row.leaf and isinstance(module, (nn.Conv2d, nn.Linear)) or row.type == "TableConv2d":
            assert sum(flops[f"{prefix}.{row.name}"].values()) == 2 * size[0] * row.macs, row.name
            checked += 1
    assert checked >= 3
    standard = [r for r in t if r.leaf and r.type not in ("Subsampling", "EuclideanRBF")]
    assert sum(flops["Global"].values()) == 2 * size[0] * sum(r.macs for r in standard)


def _conv_links(conv: nn.Conv2d, x_shape) -> int:
    """Weighted input->output links of a conv layer, brute force: convolve ones with ones."""
    ones = torch.ones(1, *x_shape[1:], dtype=torch.float64)
    k = torch.ones(conv.out_channels, conv.in_channels // conv.groups, *conv.kernel_size,
                   dtype=torch.float64)
    return int(F.conv2d(ones, k, stride=conv.stride, padding=conv.padding,
                        dilation=conv.dilation, groups=conv.groups).sum())


def _pool_links(pool, x_shape) -> int:
    """Window cells inside the input, summed over a pooling layer's outputs (brute force)."""
    ones = torch.ones(1, *x_shape[1:], dtype=torch.float64)
    k = pool.kernel_size if isinstance(pool.kernel_size, tuple) else (pool.kernel_size,) * 2
    p = pool.padding if isinstance(pool.padding, tuple) else (pool.padding,) * 2
    padded = F.pad(ones, (p[1], p[1], p[0], p[0]))  # zeros outside the input, ones inside
    cells = F.avg_pool2d(padded, k, pool.stride) * (k[0] * k[1])
    return int(round(cells.sum().item()))


@pytest.mark.parametrize("layer", [
    nn.Conv2d(2, 3, 5, padding=2), nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2),
    nn.Conv2d(1, 2, (3, 5), padding=(2, 1), dilation=(2, 1), bias=False),
    nn.Conv2d(3, 2, 3, stride=3, padding=1), nn.MaxPool2d(3, 2, padding=1),
    nn.AvgPool2d(2, stride=1, padding=1), nn.MaxPool2d(2),
], ids=lambda m: repr(m))
def test_connections_and_macs_equal_brute_force(layer):
    x_shape = (1, layer.in_channels if isinstance(layer, nn.Conv2d) else 3, 11, 9)
    row = trace(nn.Sequential(layer), x_shape)["0"]
    out = layer(torch.zeros(x_shape))
    assert row.output_shape == tuple(out.shape)
    if isinstance(layer, nn.Conv2d):
        bias = out[0].numel() if layer.bias is not None else 0
        assert row.connections == _conv_links(layer, x_shape) + bias
        fan_in = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        assert row.macs == out[0].numel() * fan_in
    else:
        assert row.connections == _pool_links(layer, x_shape) and row.macs == 0


# --- tracing on the meta device -----------------------------------------------------------------


def _real_shapes(model, size):
    """Output shape of every module call, from a real forward pass with hooks."""
    shapes, handles = [], []
    names = {m: n for n, m in model.named_modules()}
    for m in model.modules():
        if names[m]:
            handles.append(m.register_forward_hook(
                lambda mod, args, out: shapes.append((names[mod], tuple(out.shape)))))
    with torch.no_grad():
        model.eval()(torch.randn(size))
    for h in handles:
        h.remove()
    return shapes


@pytest.mark.parametrize("model, size", MODELS, ids=IDS)
def test_trace_shapes_equal_a_real_forward(model, size):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to the CPU: everything runs on meta
        t = trace(model, size)
    assert t.device == "meta"
    traced = sorted((r.name, r.output_shape) for r in t)
    assert traced == sorted(_real_shapes(model, size))


@pytest.mark.parametrize("name", ["resnet34", "resnet50"])
def test_trace_torchvision_resnets(name):
    model = getattr(torchvision.models, name)(weights=None)
    t = trace(model, (10, 3, 224, 224), depth=1)
    assert [(r.name, r.output_shape) for r in t][-6:] == [
        ("layer1", (10, 64 if name == "resnet34" else 256, 56, 56)),
        ("layer2", (10, 128 if name == "resnet34" else 512, 28, 28)),
        ("layer3", (10, 256 if name == "resnet34" else 1024, 14, 14)),
        ("layer4", (10, 512 if name == "resnet34" else 2048, 7, 7)),
        ("avgpool", (10, 512 if name == "resnet34" else 2048, 1, 1)),
        ("fc", (10, 1000))]
    assert t.totals.trainable == sum(p.numel() for p in model.parameters())
    assert t["conv1"].output_shape == (10, 64, 112, 112)
    assert t["maxpool"].output_shape == (10, 64, 56, 56)


def test_the_model_is_left_untouched():
    model = LeNet5Classic()
    model.train()
    before = {k: (v.clone(), v.data_ptr(), v.device) for k, v in model.state_dict().items()}
    trace(model, (3, 1, 32, 32))
    layer_table(model, (1, 1, 32, 32), device="cpu")
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks
    for k, v in model.state_dict().items():
        value, ptr, device = before[k]
        assert v.data_ptr() == ptr and v.device == device and torch.equal(v, value), k
    assert model.training and all(m.training for m in model.modules())


def test_trace_on_the_cpu_gives_the_same_rows():
    model = LeNet5Classic()
    meta, cpu = trace(model, (2, 1, 32, 32)), trace(model, (2, 1, 32, 32), device="cpu")
    assert cpu.device == "cpu" and meta.rows == cpu.rows and meta.totals == cpu.totals


class _NeedsItem(nn.Module):
    """A module whose forward reads a value: impossible on the meta device."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        if x.abs().sum().item() >= 0:
            x = self.conv(x)
        return x


def test_falls_back_to_the_cpu_with_a_warning_when_meta_cannot_run():
    with pytest.warns(RuntimeWarning, match=r"_NeedsItem cannot run on the meta device .*item.*"
                                            r"traced on the CPU instead"):
        t = trace(_NeedsItem(), (1, 1, 8, 8))
    assert t.device == "cpu" and t["conv"].output_shape == (1, 2, 6, 6)


def test_shared_module_called_twice():
    act = nn.ReLU()
    conv = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(conv, act, conv, act)
    t = trace(model, (1, 2, 5, 5))
    assert [(r.name, r.call) for r in t] == [("0", 1), ("1", 1), ("0", 2), ("1", 2)]
    assert [r.trainable for r in t] == [38, 0, 0, 0]
    assert t.totals.trainable == 38 and t.totals.macs == 2 * 2 * 25 * 18
    assert "0#2" in str(t)


# --- receptive field ----------------------------------------------------------------------------


def test_receptive_field_by_hand():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, stride=2),
                          nn.Conv2d(1, 1, 3, dilation=2), nn.MaxPool2d(2), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4, 2))
    t = trace(model, (1, 1, 20, 20))
    # rf: 1 + 2 = 3; + 2*1 = 5 (jump 2); + 2*2*2 = 13; + 1*2 = 15 (jump 4); flatten of a
    # 2x2 map: 15 + (2-1)*4 = 19, no jump
    assert [(r.rf, r.jump) for r in t] == [((3, 3), (1, 1)), ((5, 5), (2, 2)),
                                           ((13, 13), (2, 2)), ((15, 15), (4, 4)),
                                           ((15, 15), (4, 4)), ((19, 19), None),
                                           ((19, 19), None)]
    assert [line.split()[-2:] for line in str(t).splitlines()[3:5]] == [["3", "1"], ["5", "2"]]


def test_receptive_field_of_lenet_and_resnet50():
    t = trace(LeNet5Classic(), (1, 1, 32, 32))
    assert [(r.name, r.rf[0], r.jump and r.jump[0]) for r in t] == [
        ("C1", 5, 1), ("S2", 6, 2), ("C3", 14, 2), ("S4", 16, 4), ("C5", 32, 4),
        ("F6", 32, None), ("output", 32, None)]
    r50 = trace(torchvision.models.resnet50(weights=None), (1, 3, 224, 224), depth=1)
    assert (r50["layer4"].rf, r50["layer4"].jump) == ((427, 427), (32, 32))
    assert r50["layer1"].jump == (4, 4) and r50["conv1"].rf == (7, 7)


def test_shortcut_receptive_field_is_its_own():
    t = trace(torchvision.models.resnet18(weights=None), (1, 3, 64, 64))
    # layer2.0's 1x1 projection shortcut sees the block input, not the main branch
    assert t["layer2.0.downsample.0"].rf == t["layer1"].rf
    assert t["layer2.0"].rf == t["layer2.0.bn2"].rf > t["layer2.0.downsample"].rf


# --- depth ----------------------------------------------------------------------------------------


def test_depth_collapses_rows_and_keeps_totals():
    model = torchvision.models.resnet18(weights=None)
    full = trace(model, (1, 3, 64, 64))
    top = trace(model, (1, 3, 64, 64), depth=1)
    assert top.names() == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3",
                           "layer4", "avgpool", "fc"]
    assert sum(r.macs for r in top) == full.totals.macs == top.totals.macs
    assert sum(r.trainable for r in top) == full.totals.trainable
    blocks = trace(model, (1, 3, 64, 64), depth=2)
    assert "layer1.0" in blocks.names() and "layer1.0.conv1" not in blocks.names()
    assert all(r.depth <= 2 for r in blocks)


# --- errors ---------------------------------------------------------------------------------------


def test_error_names_the_layer_and_the_shapes():
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5),
                          nn.Flatten(), nn.Linear(400, 10))
    with pytest.raises(TraceError) as info:
        layer_table(model, (1, 1, 30, 30))
    err = info.value
    assert (err.module, err.module_type, err.input_shapes) == ("4", "Linear", ((1, 1296),))
    assert "module '4' (Linear) got input [1, 1296]" in str(err)
    assert "the last module that ran: '3' (Flatten) -> [1, 1296]" in str(err)
    with pytest.raises(TraceError, match=r"module '2' \(Conv2d\) got input \[1, 6, 2, 2\] .*"
                                         r"Kernel size can't be greater"):
        layer_table(model, (1, 1, 9, 9))


def test_error_from_the_models_own_check():
    with pytest.raises(TraceError, match=r"LeNet5Classic cannot take input_size \[1, 1, 28, 28\]"
                                         r".*expects x of shape \(N, 1, 32, 32\)"):
        layer_table(LeNet5Classic(), (1, 1, 28, 28))
    with pytest.raises(TraceError, match=r"x must be \(N, 6, H, W\) with H, W >= 2 for "
                                         r"Subsampling\(6\); got shape \(1, 6, 1, 1\)"):
        trace(nn.Sequential(nn.Conv2d(1, 6, 3), Subsampling(6)), (1, 1, 3, 3))


@pytest.mark.parametrize("size, error", [
    ((1, 1, 0, 28), ValueError), ("1x28x28", TypeError), ((1.0, 28), TypeError),
    ((), TypeError), (None, TypeError)])
def test_bad_input_size(size, error):
    with pytest.raises(error, match="input_size"):
        layer_table(LeNet5(), size)


def test_bad_arguments():
    with pytest.raises(ValueError, match="depth must be None or an int >= 1"):
        trace(LeNet5(), (1, 1, 28, 28), depth=0)
    with pytest.raises(ValueError, match="device must be"):
        trace(LeNet5(), (1, 1, 28, 28), device="gpu")
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        trace(lambda x: x, (1, 1))


# --- rendering and access -----------------------------------------------------------------------


def test_rows_access_and_html():
    t = layer_table(LeNet5Classic(), (1, 1, 32, 32))
    assert isinstance(t, Trace) and len(t) == 7 and t[2] is t["C3"]
    with pytest.raises(KeyError, match="no row named 'C7'"):
        t["C7"]
    page = t._repr_html_()
    assert page.startswith("<table") and "151,600" in page and "340,908" in page
    assert page.count("<tr>") == 9
    assert t.as_dicts()[0]["connections"] == 122_304
    assert repr(t) == str(t)
    full = str(trace(LeNet5Classic(), (1, 1, 32, 32)))
    assert full.splitlines()[1].split() == ["module", "type", "input", "output", "weight",
                                            "params", "MACs", "rf", "jump"]
    assert "[60, 1, 5, 5]" in full  # C3 holds 60 kernels, not 96


def test_single_layer_model():
    t = trace(nn.Conv2d(3, 8, 3, padding=1), (2, 3, 8, 8))
    assert t.names() == [""] and t[0].trainable == 224 and "(model)" in str(t)


def test_weights_of():
    m = LeNet5Classic()
    kind, w = weights_of(m.C3)
    assert kind == "kernels" and w.shape == (16, 6, 5, 5)
    assert (np.isnan(w[:, :, 0, 0]) == ~m.C3.table.T).all()
    assert weights_of(m.C1)[1].shape == (6, 1, 5, 5)
    assert weights_of(m.F6)[0] == "matrix" and weights_of(m.F6)[1].shape == (84, 120)
    assert weights_of(m.S2)[0] == "per-map" and weights_of(m.S2)[1].shape == (2, 6)
    kind, protos = weights_of(m.output)
    assert kind == "prototypes" and protos.shape == (10, 12, 7)
    assert weights_of(nn.ReLU()) is None


def test_a_layer_with_a_module_inside_is_one_row():
    model = nn.Sequential(nn.Conv2d(1, 6, 5), Subsampling(6, activation=nn.Tanh()))
    t = layer_table(model, (1, 1, 12, 12))
    assert t.names() == ["0", "1"] and t["1"].connections == 6 * 4 * 4 * 5
    full = trace(model, (1, 1, 12, 12))
    assert full.names() == ["0", "1", "1.activation"]
    assert full["1.activation"].in_layer and not full["1.activation"].layer
    assert full.totals.connections == t.totals.connections == 6 * 8 * 8 * 26 + 480
    assert trace(model, (1, 1, 12, 12), depth=2).names() == ["0", "1"]


class _TriesFirst(nn.Module):
    """A model that catches its own layer's error and falls back to another layer."""

    def __init__(self):
        super().__init__()
        self.big, self.small = nn.Conv2d(1, 2, 9), nn.Conv2d(1, 2, 3)

    def forward(self, x):
        try:
            return self.big(x)
        except RuntimeError:
            return self.small(x)


def test_a_layer_error_the_model_catches_is_not_a_row():
    t = trace(_TriesFirst(), (1, 1, 5, 5))
    assert t.names() == ["small"] and t["small"].output_shape == (1, 2, 3, 3)
    assert t.totals.macs == 2 * 9 * 9


# --- branches: the union of their fields, as autograd finds it ----------------------------------


class _Branches(nn.Module):
    """Branches of different fields run one after the other, concatenated or added."""

    def __init__(self, branches, combine: str):
        super().__init__()
        self.branches, self.combine = nn.ModuleList(branches), combine

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        return torch.cat(outs, 1) if self.combine == "cat" else sum(outs[1:], outs[0])


class _InceptionLike(nn.Module):
    """5x5, 1x1, 1x7 then 3x1, and a functional 3x3 pooling before a 1x1: concatenated."""

    def __init__(self):
        super().__init__()
        self.b5, self.b1 = nn.Conv2d(2, 2, 5, padding=2), nn.Conv2d(2, 2, 1)
        self.b7 = nn.Sequential(nn.Conv2d(2, 2, (1, 7), padding=(0, 3)),
                                nn.Conv2d(2, 2, (3, 1), padding=(1, 0)))
        self.pool_proj = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        pooled = F.avg_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([self.b5(x), self.b1(x), self.b7(x), self.pool_proj(pooled)], 1)


class _OffCentre(nn.Module):
    """A valid 3x3 conv re-padded on the left and top only, added to a centred 3x3 conv: the
    fields [o-2, o] and [o-1, o+1] make [o-2, o+1], 4 pixels, not 3."""

    def __init__(self):
        super().__init__()
        self.valid, self.same = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return F.pad(self.valid(x), (2, 0, 2, 0)) + self.same(x)


class _SqueezeExcite(nn.Module):
    """A valid 3x3 conv, then its map scaled by the global mean of each of its channels: every
    output sees the whole input."""

    def __init__(self):
        super().__init__()
        self.conv, self.pool = nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        y = self.conv(x)
        return y * self.pool(y)


def _strided_residual():
    main = nn.Sequential(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3, padding=1))
    return _Branches([main, nn.Conv2d(1, 1, 1, stride=2)], "add")


BRANCHY = {  # name: (model, expected rf, input size)
    "5x5 then 1x1, concatenated": (_Branches([nn.Conv2d(1, 2, 5, padding=2),
                                              nn.Conv2d(1, 2, 1)], "cat"), (5, 5)),
    "1x1 then 5x5, concatenated": (_Branches([nn.Conv2d(1, 2, 1),
                                              nn.Conv2d(1, 2, 5, padding=2)], "cat"), (5, 5)),
    "3x3 then 7x1, added": (_Branches([nn.Conv2d(1, 1, 3, padding=1),
                                       nn.Conv2d(1, 1, (7, 1), padding=(3, 0))], "add"), (7, 3)),
    "inception-like": (_InceptionLike(), (5, 7)),
    "off-centre": (_OffCentre(), (4, 4)),
    "strided residual": (_strided_residual(), (7, 7)),
    "squeeze-and-excitation": (_SqueezeExcite(), (25, 25)),
}


def _autograd_rf(model: nn.Module, size) -> tuple[int, int]:
    """Height and width of the input pixels the central output unit depends on (its gradient
    is nonzero there: positive weights, no nonlinearity, so nothing cancels)."""
    model = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(0.5, 1.0)
    x = torch.rand(size, dtype=torch.float64, requires_grad=True)
    y = model(x)
    centre = tuple(n // 2 for n in y.shape[2:])
    y[(0, slice(None), *centre)].sum().backward()
    hit = x.grad[0].abs().sum(0) != 0
    rows, cols = hit.any(1).nonzero(), hit.any(0).nonzero()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("name", list(BRANCHY))
def test_receptive_field_of_branches_is_their_union_as_autograd_finds(name):
    model, expected = BRANCHY[name]
    size = (1, next(model.parameters()).shape[1], 25, 25)
    t = trace(nn.Sequential(model), size)
    assert t["0"].rf == expected == _autograd_rf(model, size)


def test_functional_max_pool_between_modules_moves_the_field():
    class Reduction(nn.Module):  # Inception's grid reduction: a conv and a functional pool
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3, stride=2)

        def forward(self, x):
            return torch.cat([self.conv(x), F.max_pool2d(x, 5, stride=2, padding=1)], 1)

    t = trace(nn.Sequential(nn.Conv2d(1, 1, 3), Reduction(), nn.Conv2d(2, 1, 3)), (1, 1, 21, 21))
    # after "0": rf 3; the conv branch sees [0, 5) of the input, the pool branch [-1, 6): 7
    assert [(r.rf, r.jump) for r in t if r.name in ("0", "1", "2")] == [
        ((3, 3), (1, 1)), ((7, 7), (2, 2)), ((11, 11), (2, 2))]


def test_inception_v3_published_receptive_fields_and_totals():
    # Araujo, Norris and Sim, "Computing Receptive Fields of Convolutional Neural Networks"
    # (Distill, 2019): Mixed_7b 1183, Mixed_7c 1311. torchvision: 27,161,264 parameters, of
    # which AuxLogits (run in training only) holds 3,326,696.
    with torch.device("meta"):
        model = torchvision.models.inception_v3(weights=None, aux_logits=True,
                                                init_weights=False)
    t = trace(model, (1, 3, 299, 299), depth=1)
    assert (t["Mixed_7b"].rf, t["Mixed_7c"].rf) == ((1183, 1183), (1311, 1311))
    assert t["Mixed_7c"].jump == (32, 32)
    assert t.totals.trainable == count_parameters(model) == 27_161_264
    assert (t.totals.unused_trainable, t.totals.unused) == (3_326_696, ("AuxLogits",))
    assert sum(r.trainable for r in t) == 27_161_264 - 3_326_696  # the rows: what ran
    assert "not used by this forward" in str(t).splitlines()[-1]
    assert "AuxLogits" in t.to_html()


def test_unused_parameters_of_a_caught_failure_are_reported():
    t = trace(_TriesFirst(), (1, 1, 5, 5))
    assert t.totals.trainable == 2 * 81 + 2 + 2 * 9 + 2
    assert (t.totals.unused_trainable, t.totals.unused) == (2 * 81 + 2, ("big",))
    assert layer_table(LeNet5(), (1, 1, 28, 28)).totals.unused == ()


# --- unbatched input ------------------------------------------------------------------------------


def test_unbatched_input_says_a_batch_dimension_is_expected():
    with torch.device("meta"):
        model = resnet(18)
    with pytest.raises(TraceError, match=r"ResNet cannot take input_size \[3, 224, 224\]: it has "
                                         r"no batch dimension \(module 'conv1' \(Conv2d\).*"
                                         r"input_size \(1, 3, 224, 224\)") as info:
        trace(model, (3, 224, 224))
    assert info.value.module == "conv1"
    with pytest.raises(TraceError, match="no batch dimension"):
        trace(nn.Sequential(nn.Conv1d(2, 3, 3)), (2, 10))
    assert trace(nn.Conv1d(2, 3, 3), (1, 2, 10))[0].output_shape == (1, 3, 8)  # (N, C, L)


class _OneAtATime(nn.Module):
    """A forward that runs its convolution on one sample at a time (no batch axis inside)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        return torch.stack([self.conv(sample) for sample in x])


def test_a_layer_given_one_sample_inside_the_forward_is_not_an_unbatched_input():
    t = trace(_OneAtATime(), (2, 1, 6, 6))
    assert [(r.name, r.call, r.output_shape) for r in t] == [("conv", 1, (2, 4, 4)),
                                                             ("conv", 2, (2, 4, 4))]
    assert t[0].macs is None and t.totals.trainable == 20


# --- MAC rules against FlopCounterMode, the rule registry ---------------------------------------


@pytest.mark.parametrize("layer, size", [
    (nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2), (2, 4, 5, 7)),
    (nn.ConvTranspose2d(3, 2, (2, 4), stride=(2, 1), dilation=(1, 2), bias=False), (1, 3, 4, 6)),
    (nn.ConvTranspose1d(2, 4, 5, stride=3, padding=2), (2, 2, 9)),
    (nn.ConvTranspose3d(2, 2, 3, stride=2), (1, 2, 3, 4, 3)),
    (nn.Conv1d(3, 4, 3, stride=2, padding=1), (2, 3, 11)),
    (nn.Conv3d(2, 4, 3, padding=1, groups=2), (1, 2, 4, 5, 6)),
    (nn.Linear(6, 5), (2, 3, 6)),
], ids=lambda v: repr(v) if isinstance(v, nn.Module) else "")
def test_macs_equal_flop_counter_for_every_layer_it_counts(layer, size):
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = layer(torch.randn(size))
    row = trace(layer, size)[0]
    assert row.output_shape == tuple(y.shape)
    assert counter.get_total_flops() == 2 * size[0] * row.macs > 0


def test_transposed_convolution_connections_by_brute_force():
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    size = (1, 4, 5, 7)
    row = trace(layer, size)[0]
    ones = torch.ones(size, dtype=torch.float64)
    links = F.conv_transpose2d(ones, torch.ones_like(layer.weight, dtype=torch.float64),
                               stride=2, padding=1, output_padding=1, groups=2).sum()
    assert row.connections == int(links) + 6 * 10 * 14
    assert row.rf is None  # a fractional jump: not followed


class _Scaled3x3(nn.Module):
    """A layer of its own: a 3x3 box sum, scaled by one weight."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return F.avg_pool2d(x, 3, stride=1) * 9 * self.weight


class _Scaled3x3Child(_Scaled3x3):
    pass


def test_register_rule_gives_a_layer_its_counts_field_and_batch_check():
    size = (1, 2, 8, 8)
    before = trace(_Scaled3x3(), size)[0]
    assert before.macs is None and before.rf == (3, 3)  # the field follows its avg_pool2d
    register_rule(_Scaled3x3, counts=lambda m, x, y: (10 * y[1] * 36, 9 * y[1] * 36),
                  window=lambda m, sp_in, sp_out: Window((3, 3), (1, 1), (0, 0), (1, 1)),
                  dims=2)
    row = trace(nn.Sequential(_Scaled3x3Child()), size)[0]  # a subclass uses it too
    assert (row.connections, row.macs, row.rf) == (720, 648, (3, 3))
    with pytest.raises(TraceError, match="no batch dimension"):
        trace(_Scaled3x3(), (2, 8, 8))


@pytest.mark.parametrize("kwargs, error", [
    ({"module_type": int, "counts": len}, TypeError), ({"module_type": nn.ReLU}, ValueError),
    ({"module_type": nn.ReLU, "counts": "macs"}, TypeError),
    ({"module_type": nn.ReLU, "counts": len, "dims": 0}, ValueError)])
def test_register_rule_rejects_bad_rules(kwargs, error):
    with pytest.raises(error):
        register_rule(kwargs.pop("module_type"), **kwargs)


def test_course_layers_register_themselves_and_inspect_imports_none():
    for layer in (TableConv2d(np.ones((2, 3), dtype=bool), 3), Subsampling(2),
                  EuclideanRBF(np.zeros((3, 4)))):
        assert rule_for(layer) is not None and rule_for(layer).counts is not None
    imported = set()
    for path in Path(cnnkit.inspect.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert "cnnkit.inspect.rules" in imported and "torch" in imported
    assert not {m for m in imported if m.startswith("cnnkit.")
                and not m.startswith("cnnkit.inspect")}
    assert not {m for m in imported if "torch.nn.modules" in m}  # no private _ConvNd, _NormBase


def test_count_parameters():
    model = LeNet5()
    assert count_parameters(model) == 61_706
    model.conv1.requires_grad_(False)
    assert (count_parameters(model, trainable=True), count_parameters(model, trainable=False)) \
        == (61_706 - 156, 156)
    conv = nn.Conv2d(1, 1, 3)
    assert count_parameters(nn.Sequential(conv, conv)) == 10  # a shared layer counts once
    with pytest.raises(TypeError, match="module must be"):
        count_parameters([conv])
    with pytest.raises(ValueError, match="trainable must be"):
        count_parameters(conv, trainable="yes")


# --- HTML ----------------------------------------------------------------------------------------


def test_to_html_highlights_one_row_by_position_or_name():
    t = trace(LeNet5Classic(), (1, 1, 32, 32))
    assert t.to_html() == t._repr_html_() and "cnnkit-selected" not in t.to_html()
    page = t.to_html(highlight="C3")
    assert page.count("cnnkit-selected") == 1 and t.to_html(highlight=2) == page
    assert t[2].to_html(t.columns, highlight=True) in page
    selected = re.search(r"<tr class='cnnkit-selected'[^>]*>(.*?)</tr>", page).group(1)
    assert ">C3<" in selected and ">TableConv2d<" in selected
    with pytest.raises(IndexError, match="highlight"):
        t.to_html(highlight=len(t))
    with pytest.raises(KeyError, match="no row named 'C9'"):
        t.to_html(highlight="C9")
    with pytest.raises(TypeError, match="highlight must be"):
        t.to_html(highlight=True)
