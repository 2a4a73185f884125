"""The CIFAR-10 ResNets of He et al. 2016 (section 4.2): ResNet-20, 32, 44, 56, 110.

A much smaller network than the ImageNet ResNets (``cnnkit.models.resnet_imagenet``), built from
the same ``BasicBlock``: a 3x3 stem conv with 16 filters, then three stages of ``n`` basic
blocks with 16, 32 and 64 channels (stages 2 and 3 start with a stride-2 block), a global
average pool and one fc layer. No max-pool, no 7x7 conv: a 32x32 image is small already.

Shapes (input ``x: (N, 3, 32, 32)``)::

    conv1 3x3, 16 + bn + relu   (N, 16, 32, 32)
    layer1  n blocks            (N, 16, 32, 32)
    layer2  n blocks            (N, 32, 16, 16)
    layer3  n blocks            (N, 64,  8,  8)
    avgpool (global)            (N, 64,  1,  1)
    flatten + fc                (N, num_classes)

Depth = 1 + 2 * 3n + 1 = 6n + 2 weighted layers: n = 3, 5, 7, 9, 18 gives 20, 32, 44, 56, 110.

Shortcut: option A by default, as in the paper's CIFAR experiments. Where a block changes the
shape (the first block of stages 2 and 3: stride 2, channels doubled), the shortcut keeps every
second pixel and appends zero channels (``ZeroPadShortcut``): it has no parameters, so every
parameter sits on the main path. ResNet-20 then has 269,722 parameters for 10 classes (the
paper's "0.27M"):

    stem      3*16*9 + 2*16                                        =     464
    stage 1   3 blocks * 2 * (16*16*9 + 2*16)                       =  14,016
    stage 2   (16*32*9 + 2*32) + (32*32*9 + 2*32) + 2 * 2 * (32*32*9 + 2*32)   =  51,072
    stage 3   (32*64*9 + 2*64) + (64*64*9 + 2*64) + 2 * 2 * (64*64*9 + 2*64)   = 203,520
    fc        64*10 + 10                                           =     650
    total                                                          = 269,722

``shortcut="projection"`` (option B) uses a 1x1 conv + batch norm there instead, adding
(16*32 + 2*32) + (32*64 + 2*64) = 2,752 parameters (272,474 for ResNet-20).
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit.models.resnet_imagenet import BasicBlock, conv3x3, init_weights

__all__ = ["CifarResNet", "resnet_cifar", "CIFAR_DEPTHS"]

CIFAR_DEPTHS = (20, 32, 44, 56, 110)  # the depths in the paper; any 6n + 2 works


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNet: 3x3 stem, three stages of n basic blocks (16/32/64), pool, fc.

    n: blocks per stage (depth = 6n + 2).   num_classes: outputs of the fc layer.
    shortcut: "zero_pad" (option A, parameter-free, default) or "projection" (option B).

    x: (N, 3, H, W) -> logits (N, num_classes); for CIFAR's 32x32 images the stages output
    32x32, 16x16 and 8x8 feature maps.
    """

    def __init__(self, n: int, num_classes: int = 10, shortcut: str = "zero_pad"):
        super().__init__()
        self.in_channels = 16  # channels entering the next stage; _make_layer updates it
        self.conv1 = conv3x3(3, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(16, n, stride=1, shortcut=shortcut)
        self.layer2 = self._make_layer(32, n, stride=2, shortcut=shortcut)
        self.layer3 = self._make_layer(64, n, stride=2, shortcut=shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        init_weights(self)

    def _make_layer(self, channels: int, blocks: int, stride: int, shortcut: str) -> nn.Sequential:
        """One stage of basic blocks; only the first may change the shape."""
        stage = [BasicBlock(self.in_channels, channels, stride, shortcut=shortcut)]
        self.in_channels = channels
        stage += [BasicBlock(channels, channels, shortcut=shortcut) for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 16, H, W)
        x = self.layer1(x)  # (N, 16, H, W)
        x = self.layer2(x)  # (N, 32, H/2, W/2)
        x = self.layer3(x)  # (N, 64, H/4, W/4)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 64)
        return self.fc(x)


def resnet_cifar(depth: int = 20, num_classes: int = 10, shortcut: str = "zero_pad") -> CifarResNet:
    """ResNet-``depth`` for 32x32 images, depth = 6n + 2 (20, 32, 44, 56, 110 in the paper).

    shortcut: "zero_pad" (option A, the paper's CIFAR choice; ResNet-20 has 269,722 parameters
    for 10 classes) or "projection" (option B, 272,474).
    x: (N, 3, 32, 32) -> logits (N, num_classes).
    Raises ValueError when depth is not of the form 6n + 2 with n >= 1.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"a CIFAR ResNet has depth 6n + 2 (n >= 1), e.g. {', '.join(map(str, CIFAR_DEPTHS))};"
            f" got {depth!r}"
        )
    return CifarResNet((depth - 2) // 6, num_classes=num_classes, shortcut=shortcut)
