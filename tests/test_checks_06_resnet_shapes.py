"""The self-checks of lesson 6's graded exercises: check_resnet_shape_fn, check_basic_block."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnkit import checks
from cnnkit.checks.resnet import _resnet50_shapes
from cnnkit.models import BasicBlock

# --- check_resnet_shape_fn ----------------------------------------------------------------------


def half(size: int) -> int:
    """A stride-2 layer with padding (k - 1) / 2: ceil(size / 2)."""
    return (size - 1) // 2 + 1


def resnet50_shapes(n, h, w):
    """The reference answer, by hand."""
    h, w = half(h), half(w)
    shapes = {"conv1": (n, 64, h, w)}
    h, w = half(h), half(w)
    shapes["maxpool"] = (n, 64, h, w)
    for stage in range(4):
        if stage:
            h, w = half(h), half(w)
        shapes[f"layer{stage + 1}"] = (n, 256 * 2**stage, h, w)
    return {**shapes, "avgpool": (n, 2048, 1, 1), "fc": (n, 1000)}


def test_reference_shapes_match_a_real_forward_pass():
    """The meta reference against the real network, on one odd size."""
    from cnnkit.models import resnet

    model = resnet(50).eval()
    x = torch.zeros(1, 3, 45, 67)
    with torch.no_grad():
        x = model.conv1(x)
        real = {"conv1": tuple(x.shape)}
        x = model.relu(model.bn1(x))
        for name in ("maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool"):
            x = getattr(model, name)(x)
            real[name] = tuple(x.shape)
        real["fc"] = tuple(model.fc(torch.flatten(x, 1)).shape)
    assert _resnet50_shapes(1, 45, 67) == real == resnet50_shapes(1, 45, 67)
    assert _resnet50_shapes(10, 224, 224)["layer4"] == (10, 2048, 7, 7)


def test_check_resnet_shape_fn_accepts_the_reference():
    for seed in (0, 1):
        result = checks.check_resnet_shape_fn(resnet50_shapes, seed=seed)
        assert result, result.message
    as_lists = checks.check_resnet_shape_fn(
        lambda n, h, w: {k: list(v) for k, v in resnet50_shapes(n, h, w).items()})
    assert as_lists


def floor_division(n, h, w):
    """Halving with // 2 (floor): wrong for odd sizes."""
    shapes = resnet50_shapes(n, h, w)
    for name, div in (("layer3", 16), ("layer4", 32)):
        shapes[name] = (n, shapes[name][1], h // div, w // div)
    return shapes


def test_check_resnet_shape_fn_explains_mistakes():
    rounding = checks.check_resnet_shape_fn(floor_division)
    assert not rounding and "input (2, 3, 200, 300)" in rounding.message  # 224 is fine
    assert "2 of 8 wrong" in rounding.message and "off by one" in rounding.message
    assert "layer3: you said [2, 1024, 12, 18]; wrong: height and width" in rounding.message
    assert "(2, 1024, 13, 19)" not in rounding.message and "13" not in rounding.message

    def no_expansion(n, h, w):
        return {k: (v[0], v[1] // 4, *v[2:]) if k.startswith("layer") else v
                for k, v in resnet50_shapes(n, h, w).items()}

    narrow = checks.check_resnet_shape_fn(no_expansion)
    assert not narrow and "4 of 8 wrong" in narrow.message
    assert "a bottleneck block outputs 4 times its width" in narrow.message

    flat = checks.check_resnet_shape_fn(lambda n, h, w: dict(resnet50_shapes(n, h, w),
                                                              avgpool=(n, 2048)))
    assert not flat and "avgpool: 2 dimensions, but this output has 4" in flat.message

    def missing(n, h, w):
        shapes = resnet50_shapes(n, h, w)
        del shapes["fc"]
        return shapes

    assert "fc: give a shape like" in checks.check_resnet_shape_fn(missing).message
    listed = checks.check_resnet_shape_fn(lambda n, h, w: list(resnet50_shapes(n, h, w)))
    assert not listed and "return a dict" in listed.message
    crash = checks.check_resnet_shape_fn(lambda n, h, w: 1 / 0)
    assert not crash and "raised ZeroDivisionError" in crash.message


def raises(*args):
    raise NotImplementedError()


def test_check_resnet_shape_fn_not_attempted():
    assert "not attempted" in checks.check_resnet_shape_fn(None).message
    assert "not attempted" in checks.check_resnet_shape_fn(raises).message


# --- check_basic_block --------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """The reference answer: relu(F(x) + shortcut(x)), layers named as the exercise asks."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride,
                                                    bias=False), nn.BatchNorm2d(out_channels))

    def residual(self, x):
        return self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        return torch.relu(self.residual(x) + self.shortcut(x))


def test_check_basic_block_accepts_the_reference():
    for seed in (0, 1, 2):
        result = checks.check_basic_block(ResidualBlock, seed=seed)
        assert result, result.message
    assert "identity shortcut has none" in checks.check_basic_block(ResidualBlock).message


class NoProjection(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = nn.Identity()


class AlwaysProjection(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride,
                                                bias=False), nn.BatchNorm2d(out_channels))


class NoShortcut(ResidualBlock):
    def forward(self, x):
        return torch.relu(self.residual(x))


class NoLastReLU(ResidualBlock):
    def forward(self, x):
        return self.residual(x) + self.shortcut(x)


class NoMiddleReLU(ResidualBlock):
    def forward(self, x):
        return torch.relu(self.bn2(self.conv2(self.bn1(self.conv1(x)))) + self.shortcut(x))


class LateStride(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride, 1, bias=False)


class ConvBias(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)


class TorchvisionNames(ResidualBlock):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride)
        self.downsample = self.shortcut
        del self.shortcut

    def forward(self, x):
        return torch.relu(self.residual(x) + self.downsample(x))


@pytest.mark.parametrize("wrong, hint", [
    (NoProjection, "a shape mismatch at the addition: where a block changes the channels or "
                   "the size, its shortcut needs a projection"),
    (AlwaysProjection, "80 extra parameters: this block keeps the shape of x, so its shortcut "
                       "is the identity, which has none"),
    (NoShortcut, "it returns zeros: the shortcut (x itself) is not added"),
    (NoLastReLU, "it returns x, not relu(x)"),
    (NoMiddleReLU, "a ReLU is missing between the two convolutions"),
    (LateStride, "the stride belongs on the first 3x3 convolution"),
    (ConvBias, "a convolution followed by a batch norm needs no bias"),
    (TorchvisionNames, "name the layers conv1, bn1, conv2, bn2 and shortcut"),
], ids=["no-projection", "always-projection", "no-shortcut", "no-last-relu", "no-middle-relu",
        "late-stride", "conv-bias", "names"])
def test_check_basic_block_hints(wrong, hint):
    result = checks.check_basic_block(wrong)
    assert not result and hint in result.message


def test_check_basic_block_reports_what_is_not_a_block():
    assert "not attempted" in checks.check_basic_block(None).message
    assert "not attempted" in checks.check_basic_block(raises).message
    not_module = checks.check_basic_block(lambda i, o, s: BasicBlock(i, o, s).forward)
    assert not not_module and "must be an nn.Module" in not_module.message
    crash = checks.check_basic_block(lambda i, o, s: nn.Linear(3, o))
    assert not crash and "x of shape (2, 8, 6, 7): raised RuntimeError" in crash.message
    padded = checks.check_basic_block(lambda i, o, s: nn.Conv2d(i, o, 3, s, padding=2))
    assert not padded and "output shape (2, 8, 8, 9), expected (2, 8, 6, 7)" in padded.message

    class NotATensor(ResidualBlock):
        def forward(self, x):
            return super().forward(x).tolist()

    assert "forward must return a tensor" in checks.check_basic_block(NotATensor).message


def test_cnnkit_basic_block_under_other_names_passes():
    """The reference module itself, its downsample renamed: nothing but the names matters."""

    def renamed(i, o, s):
        block = BasicBlock(i, o, s)
        block.shortcut = block.downsample if block.downsample is not None else nn.Identity()
        del block.downsample
        block.forward = lambda x: block.relu(
            block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))) + block.shortcut(x))
        return block

    assert checks.check_basic_block(renamed)
