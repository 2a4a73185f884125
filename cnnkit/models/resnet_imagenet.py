"""ResNet by hand: the basic block, the bottleneck block, and ResNet-18/34/50/101/152.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016). A residual block computes
``relu(F(x) + shortcut(x))``: the convolutions ``F`` only have to learn a *correction* to the
identity, which is what lets a 152-layer network train as easily as an 18-layer one.

Two blocks, and where the shortcut needs weights:

- ``BasicBlock`` (ResNet-18/34): 3x3 conv -> 3x3 conv, ``channels`` wide.
- ``Bottleneck`` (ResNet-50/101/152): 1x1 conv squeezes to ``channels``, 3x3 conv at that
  width, 1x1 conv expands to ``4 * channels``. Cheaper than two 3x3 convs at full width.
- The shortcut is the identity whenever the block keeps the shape of ``x``. Where a block
  halves the spatial size (``stride=2``) or changes the number of channels, ``x`` cannot be added
  to ``F(x)`` as it is, so a 1x1 convolution (with that stride) + batch norm *projects* it: the
  ``downsample`` branch, the paper's option B. That happens in the first block of each stage.

The network (input ``x: (N, 3, H, W)``; shapes for ResNet-50 on a 224x224 image)::

    conv1 7x7/2, 64 + bn + relu   (N,   64, 112, 112)
    maxpool 3x3/2                 (N,   64,  56,  56)
    layer1  3 bottlenecks         (N,  256,  56,  56)   stride 1: only the channels change
    layer2  4 bottlenecks         (N,  512,  28,  28)   first block has stride 2
    layer3  6 bottlenecks         (N, 1024,  14,  14)
    layer4  3 bottlenecks         (N, 2048,   7,   7)
    avgpool (global)              (N, 2048,   1,   1)
    flatten + fc                  (N, num_classes)

Depth arithmetic: the depth counts the layers with weights on the main path, the stem conv and
the fc layer included (shortcut projections not counted)::

    ResNet-18  = 1 + 2 * (2 + 2 +  2 + 2) + 1     basic blocks, 2 convs each
    ResNet-34  = 1 + 2 * (3 + 4 +  6 + 3) + 1
    ResNet-50  = 1 + 3 * (3 + 4 +  6 + 3) + 1     bottlenecks, 3 convs each
    ResNet-101 = 1 + 3 * (3 + 4 + 23 + 3) + 1
    ResNet-152 = 1 + 3 * (3 + 8 + 36 + 3) + 1

The module and parameter names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ..., ``fc``), and so are the shapes, so weights move both ways::

    ours = resnet(50)
    ours.load_state_dict(torchvision.models.resnet50(weights=None).state_dict())

The stride-2 convolution of a bottleneck sits on its 3x3 conv, as in torchvision ("ResNet v1.5";
the paper put it on the first 1x1 conv). The parameter count does not depend on that choice.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ZeroPadShortcut",
    "ResNet",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "RESNET_CONFIGS",
]

SHORTCUTS = ("projection", "zero_pad")


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a batch norm follows, its beta is the bias)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias: mixes channels at each pixel (and subsamples if stride > 1)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Parameter-free shortcut (the paper's option A): subsample, then pad channels with zeros.

    x: (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride)), C_out >= C_in.
    Keeps every ``stride``-th pixel along H and W (the same grid a 3x3 conv with padding 1 and
    that stride centres on) and appends ``C_out - C_in`` channels of zeros after the input's.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"zero padding can only add channels; got {in_channels} -> {out_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # F.pad's padding runs from the last dimension backwards: (W, W, H, H, C, C).
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


def _shortcut(in_channels: int, out_channels: int, stride: int, kind: str) -> nn.Module | None:
    """The shortcut branch of a block: None (identity) when the shape is kept, else a module.

    kind="projection": 1x1 conv (with the stride) + batch norm, torchvision's ``downsample``.
    kind="zero_pad":   ``ZeroPadShortcut``, no parameters.
    """
    if kind not in SHORTCUTS:
        raise ValueError(f"shortcut must be one of {SHORTCUTS}; got {kind!r}")
    if stride == 1 and in_channels == out_channels:
        return None
    if kind == "zero_pad":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    in_channels: channels of x.   channels: width of both convs; the block outputs
    ``channels * BasicBlock.expansion`` (= channels) channels.
    stride: of the first conv (2 halves H and W).
    shortcut: "projection" (1x1 conv + bn, default, torchvision's) or "zero_pad" (option A,
    parameter-free); used only where the shape changes, the identity elsewhere.

    x: (N, in_channels, H, W) -> (N, channels, ceil(H / stride), ceil(W / stride))
    Parameters (projection shortcut): 9*in*c + 9*c*c + 2c + 2c, plus in*c + 2c for the projection.
    """

    expansion = 1

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "projection"
    ):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = conv3x3(in_channels, channels, stride)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = _shortcut(in_channels, out_channels, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 squeeze, 3x3 at the narrow width, 1x1 expand (x4), plus a shortcut.

    in_channels: channels of x.   channels: width of the inner convs; the block outputs
    ``channels * Bottleneck.expansion`` (= 4 * channels) channels.
    stride: of the 3x3 conv (2 halves H and W; torchvision's "v1.5" placement).
    shortcut: "projection" (default) or "zero_pad", as for ``BasicBlock``.

    x: (N, in_channels, H, W) -> (N, 4 * channels, ceil(H / stride), ceil(W / stride))
    Example: ``Bottleneck(256, 64)`` maps 256 -> 64 -> 64 -> 256 channels with
    256*64 + 9*64*64 + 64*256 = 69,632 conv weights, where two 3x3 convs at width 256 would
    need 2*9*256*256 = 1,179,648.
    """

    expansion = 4

    def __init__(
        self, in_channels: int, channels: int, stride: int = 1, shortcut: str = "projection"
    ):
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = conv1x1(in_channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = conv3x3(channels, channels, stride)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = conv1x1(channels, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(in_channels, out_channels, stride, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# depth -> (block, number of blocks in each of the four stages)
RESNET_CONFIGS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def init_weights(model: nn.Module) -> None:
    """torchvision's initialisation: He-normal convs (fan_out), batch norms gamma=1, beta=0.

    Linear layers keep PyTorch's default. Modifies ``model`` in place.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ResNet(nn.Module):
    """ImageNet ResNet: a stem, four stages of residual blocks, global average pool, fc.

    block: ``BasicBlock`` or ``Bottleneck``.   layers: blocks per stage, e.g. (3, 4, 6, 3).
    num_classes: outputs of the fc layer.

    x: (N, 3, H, W) -> logits (N, num_classes). Stage ``k`` (1..4) has width 64 * 2**(k-1) and
    outputs ``width * block.expansion`` channels; stages 2-4 halve H and W, and so do the stem
    conv and the max-pool, so the last feature map is H/32 x W/32 (rounded up at each step).
    Any H, W >= 1 work thanks to the adaptive (global) average pool.
    """

    def __init__(self, block: type[nn.Module], layers: tuple[int, ...], num_classes: int = 1000):
        super().__init__()
        self.in_channels = 64  # channels entering the next stage; _make_layer updates it
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        init_weights(self)

    def _make_layer(
        self, block: type[nn.Module], channels: int, blocks: int, stride: int
    ) -> nn.Sequential:
        """One stage: the first block may change the shape (stride, channels), the rest keep it."""
        stage = [block(self.in_channels, channels, stride)]
        self.in_channels = channels * block.expansion
        stage += [block(self.in_channels, channels) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (N, 64, H/4, W/4)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)  # (N, 512 * expansion, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 512 * expansion)
        return self.fc(x)


def resnet(depth: int, num_classes: int = 1000) -> ResNet:
    """ResNet-``depth`` for depth in 18, 34, 50, 101, 152, randomly initialised.

    Same module names, parameter shapes and outputs as ``torchvision.models.resnet<depth>``, so
    a torchvision state dict loads into it (and back). x: (N, 3, H, W) -> (N, num_classes).
    Raises ValueError listing the valid depths for any other depth.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth not in RESNET_CONFIGS:
        valid = ", ".join(str(d) for d in RESNET_CONFIGS)
        raise ValueError(f"no ResNet of depth {depth!r}; valid depths are {valid}")
    block, layers = RESNET_CONFIGS[depth]
    return ResNet(block, layers, num_classes=num_classes)


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2), 11,689,512 parameters with 1000 classes."""
    return resnet(18, num_classes)


def resnet34(num_classes: int = 1000) -> ResNet:
    """ResNet-34: basic blocks (3, 4, 6, 3), 21,797,672 parameters with 1000 classes."""
    return resnet(34, num_classes)


def resnet50(num_classes: int = 1000) -> ResNet:
    """ResNet-50: bottlenecks (3, 4, 6, 3), 25,557,032 parameters with 1000 classes."""
    return resnet(50, num_classes)


def resnet101(num_classes: int = 1000) -> ResNet:
    """ResNet-101: bottlenecks (3, 4, 23, 3), 44,549,160 parameters with 1000 classes."""
    return resnet(101, num_classes)


def resnet152(num_classes: int = 1000) -> ResNet:
    """ResNet-152: bottlenecks (3, 8, 36, 3), 60,192,808 parameters with 1000 classes."""
    return resnet(152, num_classes)
