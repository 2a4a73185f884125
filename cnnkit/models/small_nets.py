"""Small networks to set beside LeNet: an all-convolutional net, a VGG-style stack of 3x3
convolutions, and the CIFAR-10 LeNet variant with batch normalisation.

- :class:`AllConvNet` (after Springenberg et al. 2015, "Striving for simplicity: the all
  convolutional net"): no pooling layers; a 3x3 convolution with stride 2 halves the maps
  where LeNet pools, dropout, one linear classifier.
- :class:`SmallVGG` (after Simonyan and Zisserman 2015): blocks of two 3x3 convolutions
  (padding 1, same size) and a 2x2 max pooling; the width doubles from block to block; dropout
  before one linear classifier.
- :class:`LeNetCIFARBN`: :class:`~cnnkit.models.LeNetCIFAR` with a ``BatchNorm2d`` after each
  convolution (before its ReLU), as ResNets do; otherwise the same layers.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit._validate import check_int, check_real
from cnnkit.models.lenet import LeNetCIFAR

__all__ = ["AllConvNet", "SmallVGG", "LeNetCIFARBN"]


def _check_input(x: torch.Tensor, channels: int, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{name} expects images (N, {channels}, H, W); got "
                         f"{tuple(getattr(x, 'shape', ())) or type(x).__name__}")


class AllConvNet(nn.Module):
    """All-convolutional feature extractor: strided convolutions instead of pooling, dropout,
    one linear classifier.

    Input (N, in_channels, image_size, image_size) -> logits (N, num_classes). With w = width
    and s = image_size (a 3x3 convolution with stride 2 and padding 1 maps s to
    ``(s - 1) // 2 + 1``: 28 -> 14 -> 7):

        conv1  in -> w,   3x3, padding 1            act1
        conv2  w  -> w,   3x3, stride 2, padding 1  act2  drop1   (s/2: replaces pooling)
        conv3  w  -> 2w,  3x3, padding 1            act3
        conv4  2w -> 2w,  3x3, stride 2, padding 1  act4          (s/4)
        flatten, drop2, fc  2w * (s/4)^2 -> num_classes

    in_channels: 1 (digits) or 3 (colour). width: channels of the first block (default 16;
    28x28 digits: 32,058 parameters, 1.93 M multiply-accumulates per image). dropout: the
    probability of ``Dropout`` after conv2 and before fc (default 0.25; 0 turns it off).
    image_size: the side of the square input (default 28). num_classes: default 10.
    (Springenberg et al. also replace the fully-connected layers by a 1x1 convolution and
    global average pooling; with so few layers and epochs that trains far more slowly, so this
    small version keeps one linear layer.)
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 dropout: float = 0.25, image_size: int = 28):
        super().__init__()
        check_int(in_channels, "in_channels", minimum=1)
        check_int(num_classes, "num_classes", minimum=2)
        check_int(width, "width", minimum=1)
        check_int(image_size, "image_size", minimum=1)
        check_real(dropout, "dropout", minimum=0.0, maximum=1.0)
        w, side = width, ((image_size - 1) // 2) // 2 + 1  # two stride-2 convolutions
        self.in_channels, self.image_size, self.dropout = in_channels, image_size, float(dropout)
        self.conv1 = nn.Conv2d(in_channels, w, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(w, w, 3, stride=2, padding=1)
        self.act2 = nn.ReLU()
        self.drop1 = nn.Dropout(dropout)
        self.conv3 = nn.Conv2d(w, 2 * w, 3, padding=1)
        self.act3 = nn.ReLU()
        self.conv4 = nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1)
        self.act4 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.drop2 = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * w * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, image_size, image_size) -> logits (N, num_classes)."""
        _check_input(x, self.in_channels, "AllConvNet")
        x = self.act1(self.conv1(x))
        x = self.drop1(self.act2(self.conv2(x)))
        x = self.act3(self.conv3(x))
        x = self.act4(self.conv4(x))
        return self.fc(self.drop2(self.flatten(x)))

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, image_size={self.image_size}"


class SmallVGG(nn.Module):
    """VGG-style network: blocks of two 3x3 convolutions and a 2x2 max pooling, then dropout
    and one linear layer.

    Input (N, in_channels, image_size, image_size) -> logits (N, num_classes).
    Block b (width w_b = widths[b]): conv 3x3 padding 1 -> w_b, ReLU, conv 3x3 padding 1
    -> w_b, ReLU, max pool 2x2 (the side s becomes s // 2). Then flatten, dropout, linear
    (w_last * s * s -> num_classes).

    widths: default (8, 16, 32): 28x28 digits give maps 28 -> 14 -> 7 -> 3, 20,930
    parameters, 1.87 M multiply-accumulates per image (stacked 3x3 convolutions: two of them
    see a 5x5 window with 2 x 9 instead of 25 weights per channel pair, and a ReLU between).
    dropout: default 0.25 (0 turns it off). image_size: default 28.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10,
                 widths: tuple[int, ...] = (8, 16, 32), dropout: float = 0.25,
                 image_size: int = 28):
        super().__init__()
        check_int(in_channels, "in_channels", minimum=1)
        check_int(num_classes, "num_classes", minimum=2)
        check_int(image_size, "image_size", minimum=1)
        check_real(dropout, "dropout", minimum=0.0, maximum=1.0)
        if not isinstance(widths, (tuple, list)) or not widths:
            raise ValueError(f"widths must be a non-empty tuple of ints; got {widths!r}")
        for w in widths:
            check_int(w, "widths[i]", minimum=1)
        side = image_size
        for _ in widths:
            side //= 2
        if side < 1:
            raise ValueError(f"image_size={image_size} is too small for {len(widths)} blocks "
                             f"(each halves the side)")
        self.in_channels, self.image_size, self.widths = in_channels, image_size, tuple(widths)
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(c * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, image_size, image_size) -> logits (N, num_classes)."""
        _check_input(x, self.in_channels, "SmallVGG")
        return self.fc(self.drop(self.flatten(self.features(x))))

    def extra_repr(self) -> str:
        return f"widths={self.widths}, image_size={self.image_size}"


class LeNetCIFARBN(LeNetCIFAR):
    """:class:`~cnnkit.models.LeNetCIFAR` with batch normalisation after each convolution.

    Input (N, 3, 32, 32) -> logits (N, 10). conv1 -> bn1 -> relu1 -> pool1,
    conv2 -> bn2 -> relu2 -> pool2, then the same fully-connected head. Each ``BatchNorm2d``
    adds 2 trainable parameters per channel (scale gamma and shift beta: 2 x 16 + 2 x 32 = 96)
    and 2 running statistics per channel (mean and variance, not trained; plus a batch
    counter): 379,210 trainable parameters in all.
    """

    def __init__(self):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(16)
        self.bn2 = nn.BatchNorm2d(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, 32, 32) -> logits (N, 10)."""
        _check_input(x, 3, "LeNetCIFARBN")
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.flatten(x)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)
