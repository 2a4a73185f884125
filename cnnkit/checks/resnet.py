"""Self-checks for lesson 6, ResNet shape tracing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit.checks._result import (
    CheckResult,
    _not_attempted,
)

__all__ = [
    "RESNET_SHAPE_QUESTION",
    "check_resnet_shapes",
    "check_bottleneck_params",
    "check_receptive_field",
]


# ResNet-50 on a batch of two 200x300 images: sizes that are not multiples of 32 make the
# rounding of every stride-2 layer visible
RESNET_SHAPE_QUESTION = {
    "depth": 50,
    "input_size": (2, 3, 200, 300),
    "layers": ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"),
}


def _resnet_shapes(depth: int, input_size: tuple, layers) -> dict[str, tuple[int, ...]]:
    """Output shape of each named child of ``cnnkit.models.resnet(depth)``, traced (meta)."""
    import torch

    from cnnkit.inspect import trace
    from cnnkit.models import resnet

    with torch.device("meta"):
        model = resnet(depth)
    t = trace(model, input_size, depth=1)
    return {name: t[name].output_shape for name in layers}


def check_resnet_shapes(answers: dict) -> CheckResult:
    """Check ``answers`` = {"conv1": (N, C, H, W), ..., "fc": (N, classes)}: the output shape of
    each layer in ``RESNET_SHAPE_QUESTION["layers"]`` of ResNet-50 (``cnnkit.models.resnet(50)``,
    1000 classes) for an input of shape ``RESNET_SHAPE_QUESTION["input_size"]``.
    """
    layers = RESNET_SHAPE_QUESTION["layers"]
    if answers is None or (isinstance(answers, dict)
                           and all(v is None for v in answers.values())):
        return _not_attempted("fill in one output shape per layer")
    if not isinstance(answers, dict):
        return CheckResult(False, f"answers must be a dict like {{'conv1': (N, C, H, W), ...}}; "
                                  f"got {type(answers).__name__}")
    expected = _resnet_shapes(RESNET_SHAPE_QUESTION["depth"],
                              RESNET_SHAPE_QUESTION["input_size"], layers)
    wrong, rounding = [], False
    for name in layers:
        got, right = answers.get(name), expected[name]
        try:
            got = tuple(int(v) for v in got)
        except (TypeError, ValueError):
            wrong.append(f"{name}: give a shape like (N, C, H, W); got {got!r}")
            continue
        if got == right:
            continue
        if len(got) != len(right):
            wrong.append(f"{name}: {len(got)} dimensions, but this output has {len(right)}")
            continue
        dims = (("batch size", "channels", "height", "width") if len(right) == 4
                else ("batch size", "number of classes"))
        bad = [d for d, g, r in zip(dims, got, right, strict=True) if g != r]
        rounding |= any(abs(g - r) == 1 for g, r in zip(got[2:], right[2:], strict=True))
        wrong.append(f"{name}: you said {list(got)}; wrong: {' and '.join(bad)}")
    if wrong:
        hint = (" (off by one: a stride-2 layer rounds, floor((n + 2p - k) / s) + 1; follow "
                "an odd size through it)" if rounding else "")
        return CheckResult(False, f"{len(wrong)} of {len(layers)} wrong: " + "; ".join(wrong)
                           + hint)
    return CheckResult(True, f"all {len(layers)} shapes are right: {layers[-3]} ends at "
                             f"{'x'.join(str(v) for v in expected[layers[-3]][2:])}, the input "
                             "size divided by 32 and rounded up")


def _bottleneck_cases(rng) -> list[tuple[int, int, int]]:
    """(in_channels, channels, stride): ResNet-50's own blocks, then random ones."""
    cases = [(256, 64, 1), (64, 64, 1), (256, 128, 2), (1024, 256, 1), (1024, 512, 2)]
    for _ in range(4):
        channels = int(rng.choice([8, 16, 24, 32]))
        in_channels = int(rng.choice([channels * 4, channels * 2, channels]))
        cases.append((in_channels, channels, int(rng.integers(1, 3))))
    return cases


def check_bottleneck_params(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(in_channels, channels, stride) -> int``: the trainable parameters of a
    bottleneck block (``cnnkit.models.Bottleneck``): 1x1 conv to ``channels``, 3x3 conv (with
    the stride), 1x1 conv to ``4 * channels``, no conv biases, a batch norm (weight and bias)
    after each conv, and a 1x1 projection conv + batch norm on the shortcut where the block
    changes the shape of x (stride 2, or in_channels != 4 * channels).
    """
    if fn is None:
        return _not_attempted("write the function")
    from torch import nn

    from cnnkit.models import Bottleneck

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    for in_ch, ch, stride in _bottleneck_cases(np.random.default_rng(seed)):
        block = Bottleneck(in_ch, ch, stride)
        expected = count(block)
        shortcut = count(block.downsample) if block.downsample is not None else 0
        norms = sum(count(m) for m in block.modules() if isinstance(m, nn.BatchNorm2d))
        where = f"in_channels={in_ch}, channels={ch}, stride={stride}"
        try:
            got = fn(in_ch, ch, stride)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if got == expected:
            continue
        hint = ""
        if shortcut and got == expected - shortcut:
            hint = ": this block changes the shape of x, so its shortcut has weights too"
        elif not shortcut and got == expected + 4 * ch * in_ch + 2 * 4 * ch:
            hint = ": this block keeps the shape of x, so its shortcut is the identity"
        elif got == expected - norms:
            hint = ": the batch norms are missing (a weight and a bias per channel)"
        elif got == expected + 6 * ch + (4 * ch if shortcut else 0):  # + conv biases
            hint = ": ResNet's convolutions have no bias (the batch norm after each has one)"
        return CheckResult(False, f"{where}: got {got}, which is wrong{hint}")
    return CheckResult(True, "right on ResNet-50's blocks and random ones (Bottleneck(256, 64) "
                             "has 70,400 parameters)")


def _receptive_field_cases(rng) -> list[tuple[str, list[tuple[int, int]]]]:
    cases = [
        ("two 3x3 convs", [(3, 1), (3, 1)]),
        ("ResNet's stem: 7x7 conv stride 2, 3x3 max-pool stride 2", [(7, 2), (3, 2)]),
        ("LeNet-5: C1, S2, C3, S4, C5", [(5, 1), (2, 2), (5, 1), (2, 2), (5, 1)]),
        ("a basic block after the stem", [(7, 2), (3, 2), (3, 1), (3, 1)]),
    ]
    for _ in range(4):
        n = int(rng.integers(1, 6))
        cases.append((f"{n} random layers", [(int(rng.integers(1, 6)), int(rng.integers(1, 4)))
                                             for _ in range(n)]))
    return cases


def _reference_field(layers: list[tuple[int, int]]) -> tuple[int, int]:
    """(receptive field, jump) after a stack of window layers, from ``cnnkit.inspect.trace``."""
    from torch import nn

    from cnnkit.inspect import trace

    stack = nn.Sequential(*(nn.Conv2d(1, 1, k, stride=s, padding=k // 2) for k, s in layers))
    row = trace(stack, (1, 1, 8, 8))[-1]
    return row.rf[0], row.jump[0]


def check_receptive_field(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(layers) -> (receptive_field, jump)``: after a stack of window layers
    (convolutions or poolings, no dilation) given as ``[(kernel, stride), ...]`` from the input
    on, how many input pixels (per side) one output sees, and how many input pixels apart two
    neighbouring outputs are. Tested against ``cnnkit.inspect.trace``.
    """
    if fn is None:
        return _not_attempted("write the function")
    for name, layers in _receptive_field_cases(np.random.default_rng(seed)):
        expected = _reference_field(layers)
        where = f"{name} {layers}"
        try:
            got = fn(list(layers))
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return CheckResult(False, f"{where}: return a pair (receptive_field, jump); got "
                                      f"{got!r}")
        if tuple(got) == expected:
            continue
        rf, jump = got
        hints = []
        if jump != expected[1]:
            hints.append("the jump is wrong (how far apart, in input pixels, are two "
                         "neighbouring outputs after each stride?)")
        if rf != expected[0]:
            if rf == 1 + sum(k - 1 for k, _ in layers):
                hints.append("the receptive field ignores the strides: after a stride, each "
                             "step of a kernel moves further in the input")
            else:
                hints.append("the receptive field is wrong (does a layer's own stride widen "
                             "its own window?)")
        return CheckResult(False, f"{where}: got {tuple(got)}; " + "; ".join(hints))
    return CheckResult(True, "right on every stack, ResNet's stem (11 pixels, jump 4) and "
                             "LeNet-5's C5 (32 pixels) included")
