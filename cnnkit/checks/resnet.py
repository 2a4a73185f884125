"""Self-checks for lesson 6, ResNet shape tracing."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import numpy as np

from cnnkit.checks._result import (
    CheckResult,
    _call,
    _not_attempted,
    compare,
)

__all__ = [
    "RESNET_SHAPE_QUESTION",
    "check_resnet_shapes",
    "check_bottleneck_params",
    "check_receptive_field",
    "check_resnet_shape_fn",
    "check_basic_block",
]


# ResNet-50 on a batch of two 200x300 images: sizes that are not multiples of 32 make the
# rounding of every stride-2 layer visible
RESNET_SHAPE_QUESTION = {
    "depth": 50,
    "input_size": (2, 3, 200, 300),
    "layers": ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"),
}


_OFF_BY_ONE = ("off by one: a stride-2 layer rounds, floor((n + 2p - k) / s) + 1; follow an odd "
               "size through it")


def _shape_mistakes(answers: dict, expected: dict, layers) -> tuple[list[str], bool]:
    """What is wrong in ``answers`` (layer -> shape) compared with ``expected``: one text per
    wrong layer, which dimensions differ (never the right values), and whether some height or
    width is off by one (the rounding of a stride-2 layer).
    """
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
    return wrong, rounding


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
    n, _, h, w = RESNET_SHAPE_QUESTION["input_size"]
    expected = _resnet50_shapes(n, h, w)
    wrong, rounding = _shape_mistakes(answers, expected, layers)
    if wrong:
        hint = f" ({_OFF_BY_ONE})" if rounding else ""
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

    from cnnkit.inspect.parameters import count_parameters as count
    from cnnkit.models import Bottleneck

    for in_ch, ch, stride in _bottleneck_cases(np.random.default_rng(seed)):
        block = Bottleneck(in_ch, ch, stride)
        expected = count(block)
        shortcut = count(block.downsample) if block.downsample is not None else 0
        norms = sum(count(m) for m in block.modules() if isinstance(m, nn.BatchNorm2d))
        where = f"in_channels={in_ch}, channels={ch}, stride={stride}"
        got, failure = _call(fn, in_ch, ch, stride, where=where)
        if failure is not None:
            return failure
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
        got, failure = _call(fn, list(layers), where=where)
        if failure is not None:
            return failure
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


# --- graded exercises ------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _meta_resnet50():
    """``cnnkit.models.resnet(50)`` on the meta device (shapes only), built once."""
    import torch

    from cnnkit.models import resnet

    with torch.device("meta"):
        return resnet(50).eval()


def _resnet50_shapes(n: int, h: int, w: int) -> dict[str, tuple[int, ...]]:
    """Output shape of each layer of ``RESNET_SHAPE_QUESTION["layers"]`` of ResNet-50 (1000
    classes) for an input (n, 3, h, w): the model run child by child on the meta device.
    """
    import torch

    model = _meta_resnet50()
    layers = RESNET_SHAPE_QUESTION["layers"]
    with torch.no_grad():
        x = model.conv1(torch.empty(n, 3, h, w, device="meta"))
        shapes = {"conv1": tuple(x.shape)}
        x = model.relu(model.bn1(x))
        for name in layers[1:-1]:
            x = getattr(model, name)(x)
            shapes[name] = tuple(x.shape)
        shapes["fc"] = tuple(model.fc(torch.flatten(x, 1)).shape)
    return shapes


def _resnet_shape_fn_cases(rng) -> list[tuple[int, int, int]]:
    """(n, h, w): ImageNet's size, the lesson's, odd sizes, CIFAR's, a single pixel, random."""
    cases = [(1, 224, 224), (2, 200, 300), (3, 97, 131), (1, 32, 32), (2, 1, 1)]
    for _ in range(3):
        cases.append((int(rng.integers(1, 9)), int(rng.integers(1, 400)),
                      int(rng.integers(1, 400))))
    return cases


def check_resnet_shape_fn(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(n, h, w) -> {"conv1": (N, C, H, W), ..., "fc": (N, classes)}``: the output
    shape of each layer in ``RESNET_SHAPE_QUESTION["layers"]`` of ResNet-50 (1000 classes) for
    an input of shape (n, 3, h, w), any n, h, w >= 1. Compared with ``cnnkit.models.resnet(50)``
    run on the meta device, on fixed sizes (odd ones, 32x32, 1x1) and random ones.
    """
    if fn is None:
        return _not_attempted("write the function")
    layers = RESNET_SHAPE_QUESTION["layers"]
    cases = _resnet_shape_fn_cases(np.random.default_rng(seed))
    for n, h, w in cases:
        where = f"input ({n}, 3, {h}, {w})"
        answers, failure = _call(fn, n, h, w, where=where)
        if failure is not None:
            return failure
        if not isinstance(answers, dict):
            return CheckResult(False, f"{where}: return a dict like {{'conv1': (N, C, H, W), "
                                      f"...}}; got {type(answers).__name__}")
        expected = _resnet50_shapes(n, h, w)
        wrong, rounding = _shape_mistakes(answers, expected, layers)
        if not wrong:
            continue
        hints = [_OFF_BY_ONE] if rounding else []
        for name in layers[2:6]:  # the four stages
            try:
                channels = int(answers[name][1])
            except (KeyError, TypeError, ValueError, IndexError):
                continue
            if channels * 4 == expected[name][1]:
                hints.append(f"{name}'s channels: a bottleneck block outputs 4 times its width")
                break
        return CheckResult(False, f"{where}: {len(wrong)} of {len(layers)} wrong: "
                                  + "; ".join(wrong)
                                  + (f" ({'; '.join(hints)})" if hints else ""))
    return CheckResult(True, f"right for all {len(cases)} input sizes, odd ones and 1x1 included "
                             "(the last map is the input size divided by 32, rounded up)")


def _basic_block_cases(rng) -> list[tuple[int, int, int, int, int]]:
    """(in_channels, out_channels, stride, H, W): identity, both changes, channels only, stride
    only, then random configurations; the sizes are odd or not square on purpose.
    """
    cases = [(8, 8, 1, 6, 7), (8, 16, 2, 7, 9), (8, 16, 1, 6, 6), (16, 16, 2, 9, 5)]
    for _ in range(2):
        cases.append((int(rng.choice([4, 8, 12])), int(rng.choice([4, 8, 12])),
                      int(rng.integers(1, 3)), int(rng.integers(3, 11)),
                      int(rng.integers(3, 11))))
    return cases


def _randomize(block, generator) -> None:
    """Give every conv and batch norm of ``block`` random weights and running statistics."""
    import torch
    from torch import nn

    def rand(t, low, high):
        return low + (high - low) * torch.rand(t.shape, generator=generator)

    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator)
                               * (2 / fan_in) ** 0.5)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(rand(m.weight, 0.5, 1.5))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=generator))
                m.running_mean.copy_(0.2 * torch.randn(m.running_mean.shape, generator=generator))
                m.running_var.copy_(rand(m.running_var, 0.5, 1.5))


def _parameter_hint(got: int, expected: int, in_ch: int, out_ch: int, projection: bool) -> str:
    """Why a residual block has ``got`` trainable parameters instead of ``expected``."""
    diff = got - expected
    shortcut = in_ch * out_ch + 2 * out_ch
    if not projection and diff == shortcut:
        return (f"{diff:,} extra parameters: this block keeps the shape of x, so its shortcut "
                "is the identity, which has none")
    if projection and diff == -shortcut:
        return (f"{-diff:,} parameters missing: this block changes the shape of x, so its "
                "shortcut needs weights")
    if projection and diff == 8 * in_ch * out_ch:
        return f"{diff:,} extra parameters: the projection is a 1x1 convolution"
    if diff == 2 * out_ch + (out_ch if projection else 0):
        return (f"{diff:,} extra parameters: a convolution followed by a batch norm needs no "
                "bias (the batch norm's shift is one)")
    if -diff == 4 * out_ch + (2 * out_ch if projection else 0):
        return f"{-diff:,} parameters missing: a batch norm follows every convolution"
    return f"{got:,} trainable parameters, but this block has {expected:,}"


def _mistakes(x, ref) -> Iterator[tuple[object, str]]:
    """What the reference block ``ref`` (eval mode) computes on ``x`` with each typical
    mistake: (output, hint) pairs, the variants of :func:`compare`, each computed only when
    asked for (on a failure)."""
    import torch
    from torch.nn import functional as F

    with torch.no_grad():
        s = x if ref.downsample is None else ref.downsample(x)
        h = ref.bn1(ref.conv1(x))
        f = ref.bn2(ref.conv2(torch.relu(h)))
    yield f + s, "the last ReLU is missing (it comes after the addition)"
    yield torch.relu(f) + s, "the last ReLU comes after adding the shortcut, not before"
    yield torch.relu(f), "the shortcut is not added"
    with torch.no_grad():
        no_middle = torch.relu(ref.bn2(ref.conv2(h)) + s)
    yield no_middle, "a ReLU is missing between the two convolutions"
    stride = ref.conv1.stride[0]
    if stride != 1:
        with torch.no_grad():
            h1 = torch.relu(ref.bn1(F.conv2d(x, ref.conv1.weight, padding=1)))
            f2 = ref.bn2(F.conv2d(h1, ref.conv2.weight, stride=stride, padding=1))
        yield torch.relu(f2 + s), "the stride belongs on the first 3x3 convolution"


def _run_block(block, x, where: str):
    """(block(x) in eval mode without grad, None), or (None, the failure): what it raised (a
    shape mismatch at the addition explained) or that it did not return a tensor."""
    import torch

    with torch.no_grad():
        got, failure = _call(block.eval(), x.clone(), where=where)
    if failure is not None:
        if "must match the size" in failure.message:
            failure = CheckResult(False, failure.message + " (a shape mismatch at the addition: "
                                  "where a block changes the channels or the size, its shortcut "
                                  "needs a projection)")
        return None, failure
    if not isinstance(got, torch.Tensor):
        return None, CheckResult(False, f"{where}: forward must return a tensor; got "
                                        f"{type(got).__name__}")
    return got, None


def _identity_failure(block, x, where: str) -> CheckResult | None:
    """With every parameter of an identity-shortcut block zero, F(x) = 0: the block must return
    relu(x). Zeroes ``block``'s parameters (the reference's are loaded afterwards)."""
    import torch

    with torch.no_grad():
        for p in block.parameters():
            p.zero_()
    out, failure = _run_block(block, x, where)
    if failure is not None:
        return failure
    return compare(out, torch.relu(x), atol=1e-6, where=f"{where}: with every parameter zero, "
                   "F(x) = 0 and the block should return relu(shortcut(x))",
                   variants=[(torch.zeros_like(x), "it returns zeros: the shortcut (x itself) "
                                                   "is not added"),
                             (x, "it returns x, not relu(x): the last ReLU comes after the "
                                 "addition")],
                   otherwise="it does not return relu(x)")


def _load_reference(block, ref, where: str) -> CheckResult | None:
    """Load the reference block's weights into ``block`` (its ``downsample`` called
    ``shortcut``); the failure when the layers are named or shaped otherwise."""
    state = {k.replace("downsample.", "shortcut."): v for k, v in ref.state_dict().items()}
    mine = block.state_dict()
    missing = [k for k in state if k not in mine]
    unexpected = [k for k in mine if k not in state]
    if missing or unexpected:
        found = "; ".join(text for text in (
            f"missing {', '.join(missing[:4])}" if missing else "",
            f"unexpected {', '.join(unexpected[:4])}" if unexpected else "") if text)
        return CheckResult(False, f"{where}: name the layers conv1, bn1, conv2, bn2 and "
                                  f"shortcut as the task says, so that the reference block's "
                                  f"weights can be loaded ({found})")
    for key, value in state.items():
        if tuple(mine[key].shape) != tuple(value.shape):
            return CheckResult(False, f"{where}: {key} has shape {tuple(mine[key].shape)}, "
                                      "which is wrong")
    block.load_state_dict(state)
    return None


def _basic_block_failure(factory: Callable, case: tuple[int, int, int, int, int],
                         generator) -> CheckResult | None:
    """One configuration of :func:`check_basic_block`: None when the block is right."""
    import torch
    from torch import nn

    from cnnkit.inspect.parameters import count_parameters
    from cnnkit.models import BasicBlock

    in_ch, out_ch, stride, H, W = case
    where = f"in_channels={in_ch}, out_channels={out_ch}, stride={stride}"
    block, failure = _call(factory, in_ch, out_ch, stride, where=where)
    if failure is not None:
        return failure
    if not isinstance(block, nn.Module):
        return CheckResult(False, f"{where}: the block must be an nn.Module; got "
                                  f"{type(block).__name__}")
    ref = BasicBlock(in_ch, out_ch, stride).eval()
    _randomize(ref, generator)
    x = torch.randn(2, in_ch, H, W, generator=generator)
    where_x = f"{where}, x of shape {tuple(x.shape)}"
    with torch.no_grad():
        expected = ref(x.clone())
    got, failure = _run_block(block, x, where_x)
    if failure is not None:
        return failure
    if tuple(got.shape) != tuple(expected.shape):
        return CheckResult(False, f"{where_x}: output shape {tuple(got.shape)}, expected "
                                  f"{tuple(expected.shape)}")
    mine, right = count_parameters(block, trainable=True), count_parameters(ref, trainable=True)
    if mine != right:
        return CheckResult(False, f"{where}: " + _parameter_hint(
            mine, right, in_ch, out_ch, ref.downsample is not None))
    if ref.downsample is None:  # (a failed CheckResult is falsy: test for None)
        failure = _identity_failure(block, x, where_x)
    if failure is None:
        failure = _load_reference(block, ref, where)
    if failure is None:
        got, failure = _run_block(block, x, where_x)
    if failure is not None:
        return failure
    return compare(got, expected, atol=1e-4, rtol=1e-4,
                   where=f"{where_x}: with the reference block's weights",
                   variants=_mistakes(x, ref))


def check_basic_block(factory: Callable, seed: int = 0) -> CheckResult:
    """Check ``factory(in_channels, out_channels, stride) -> nn.Module``: a residual basic
    block ``relu(F(x) + shortcut(x))`` with F = 3x3 conv (the stride) -> batch norm -> relu ->
    3x3 conv -> batch norm (padding 1, no conv biases), and a shortcut that is the identity
    where the block keeps the shape of x and a 1x1 conv (the stride) + batch norm where it does
    not, like ``cnnkit.models.BasicBlock(in_channels, out_channels, stride)``.

    Per configuration: the output shape for x: (2, in_channels, H, W); the number of trainable
    parameters; with every parameter zero, an identity block must return relu(x); then, with
    the layers named ``conv1, bn1, conv2, bn2`` and ``shortcut`` (an ``nn.Sequential`` of the
    conv and the batch norm, where there is one), the reference block's random weights are
    loaded and the outputs compared in eval mode.
    """
    if factory is None:
        return _not_attempted("write the block")
    import torch

    cases = _basic_block_cases(np.random.default_rng(seed))
    for i, case in enumerate(cases):
        generator = torch.Generator().manual_seed(1000 * seed + i)
        failure = _basic_block_failure(factory, case, generator)
        if failure is not None:
            return failure
    return CheckResult(True, f"right on {len(cases)} blocks: shapes, parameters (an identity "
                             "shortcut has none) and outputs with the reference weights")
