"""LeNet-5: the 1998 network as published, the modern re-implementation, and a CIFAR-10 variant.

- ``LeNet5Classic``: LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning Applied to
  Document Recognition" (Proc. IEEE, 1998), section II.B, layer for layer: 32x32 input, C1,
  trainable subsampling S2, C3 with the partial connection table (``C3_TABLE``, the paper's
  Table I), S4, C5, F6 with the scaled tanh, and the Euclidean RBF output whose prototypes are
  fixed +1/-1 7x12 bitmaps of the digits (``DIGIT_BITMAPS``).
- ``LeNet5``: what "LeNet-5" usually means today: 28x28 MNIST input with padding 2, ReLU,
  max pooling, a fully connected 120-84-10 head and softmax cross-entropy. 61,706 parameters
  (44,426 without the padding). Activation and pooling are arguments (lesson 4 compares them).
- ``LeNetCIFAR``: the small network of the CIFAR-10 LeNet tutorial the course corrects (3x3
  kernels, 16 and 32 channels, a 224-96-10 head): 379,114 parameters.

Shapes follow PyTorch: x: (N, C, H, W) images, scores: (N, 10), one score per class (use them
with ``torch.nn.functional.cross_entropy``; the largest score is the prediction).

Building blocks of the classic network, usable on their own:

- ``Subsampling``: the trainable 2x2 subsampling of S2 and S4 (2 parameters per map).
- ``TableConv2d``: a convolution whose output maps each see only the input maps a boolean
  connection table allows (C3). Unconnected kernels do not exist at all.
- ``EuclideanRBF``: the output layer, -(squared Euclidean distance) to fixed prototypes.
- ``scaled_tanh``: the paper's squashing function ``1.7159 * tanh(2a/3)``.
- ``paper_input``: 28x28 digits -> the paper's 32x32 input (background -0.1, ink 1.175).

``cnnkit.inspect.layer_table`` counts every model's parameters, connections and MACs per layer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit._validate import check_int

__all__ = [
    "C3_TABLE",
    "DIGIT_BITMAPS",
    "PROTOTYPES",
    "scaled_tanh",
    "paper_input",
    "Subsampling",
    "TableConv2d",
    "EuclideanRBF",
    "LeNet5Classic",
    "LeNet5",
    "LeNetCIFAR",
]


def _c3_table() -> np.ndarray:
    """Table I of the paper: which S2 maps (rows 0-5) each C3 map (columns 0-15) takes as input."""
    table = np.zeros((6, 16), dtype=bool)
    for j in range(6):  # maps 0-5: three neighbouring S2 maps (cyclically)
        table[[j, (j + 1) % 6, (j + 2) % 6], j] = True
    for j in range(6):  # maps 6-11: four neighbouring S2 maps
        table[[(j + t) % 6 for t in range(4)], 6 + j] = True
    for j, rows in enumerate(([0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5])):  # 12-14: four, with gaps
        table[rows, 12 + j] = True
    table[:, 15] = True  # map 15: all six
    table.setflags(write=False)
    return table


C3_TABLE: np.ndarray = _c3_table()
"""(6, 16) bool, read-only: ``C3_TABLE[i, j]`` is True when C3 map j is connected to S2 map i.
60 connected pairs: 6 maps see 3 inputs, 9 maps see 4, one sees all 6."""

# The output layer's prototypes: one 12-row x 7-column bitmap per digit, "#" = ink = +1,
# "." = background = -1 (the paper's Fig. 3 draws stylised characters on such a 7x12 grid).
DIGIT_BITMAPS: tuple[tuple[str, ...], ...] = (
    ("..###..", ".#...#.", "#.....#", "#.....#", "#.....#", "#.....#",
     "#.....#", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),
    ("...#...", "..##...", ".#.#...", "...#...", "...#...", "...#...",
     "...#...", "...#...", "...#...", "...#...", "...#...", ".#####."),
    ("..###..", ".#...#.", "#.....#", "......#", ".....#.", "....#..",
     "...#...", "..#....", ".#.....", "#......", "#......", "#######"),
    (".#####.", "#.....#", "......#", "......#", ".....#.", "..###..",
     ".....#.", "......#", "......#", "......#", "#.....#", ".#####."),
    (".....#.", "....##.", "...#.#.", "..#..#.", ".#...#.", "#....#.",
     "#######", ".....#.", ".....#.", ".....#.", ".....#.", ".....#."),
    ("#######", "#......", "#......", "#......", "######.", "......#",
     "......#", "......#", "......#", "......#", "#.....#", ".#####."),
    ("..####.", ".#.....", "#......", "#......", "######.", "#.....#",
     "#.....#", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),
    ("#######", "......#", ".....#.", ".....#.", "....#..", "....#..",
     "...#...", "...#...", "..#....", "..#....", "..#....", "..#...."),
    ("..###..", ".#...#.", "#.....#", "#.....#", ".#...#.", "..###..",
     ".#...#.", "#.....#", "#.....#", "#.....#", ".#...#.", "..###.."),
    ("..###..", ".#...#.", "#.....#", "#.....#", "#.....#", ".######",
     "......#", "......#", "......#", ".....#.", "....#..", ".###..."),
)
PROTOTYPE_SHAPE = (12, 7)  # (rows, columns) of each bitmap


def _prototypes() -> np.ndarray:
    protos = np.array([[[1.0 if ch == "#" else -1.0 for ch in row] for row in bitmap]
                       for bitmap in DIGIT_BITMAPS], dtype=np.float32)
    assert protos.shape == (10, *PROTOTYPE_SHAPE)
    protos = protos.reshape(10, -1)
    protos.setflags(write=False)
    return protos


PROTOTYPES: np.ndarray = _prototypes()
"""(10, 84) float32, read-only: the digit bitmaps flattened row by row, +1 ink, -1 background."""


def scaled_tanh(a: torch.Tensor) -> torch.Tensor:
    """LeNet-5's squashing function ``f(a) = 1.7159 * tanh(2a/3)`` (the paper's Appendix A).

    A = 1.7159 and S = 2/3 make f(1) = 1 and f(-1) = -1, the targets' values, where the
    second derivative of f is largest; the gain near 0 is about 1.14. Any shape in, same shape out.
    """
    return 1.7159 * torch.tanh(a * (2.0 / 3.0))


def paper_input(images) -> torch.Tensor:
    """MNIST digits as the 1998 network saw them: (N, 28, 28) -> (N, 1, 32, 32) float32.

    images: (N, 28, 28) or (N, 1, 28, 28), uint8 in 0..255 or float in [0, 1], ink bright.
    Each digit is centred in a 32x32 field (2 pixels of background on every side) and scaled
    so that the background is -0.1 and full ink 1.175 (section II.B of the paper, which says
    this makes the mean roughly 0 and the variance roughly 1; on MNIST the mean is about 0.03
    and the standard deviation about 0.35: most pixels are background).
    """
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.array(images))
    if x.dim() == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dim() != 3 or tuple(x.shape[1:]) != (28, 28):
        raise ValueError(f"images must be (N, 28, 28) or (N, 1, 28, 28); got {tuple(x.shape)}")
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    x = -0.1 + 1.275 * x
    return F.pad(x, (2, 2, 2, 2), value=-0.1).unsqueeze(1)


def _check_images(x, expected: tuple[int, int, int], who: str) -> None:
    """A clear error for a batch that is not (N, C, H, W) with (C, H, W) = expected."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor (N, C, H, W); got {type(x).__name__}")
    if x.dim() != 4 or tuple(x.shape[1:]) != expected:
        raise ValueError(f"{who} expects x of shape (N, {', '.join(map(str, expected))}); "
                         f"got {tuple(x.shape)}")


def _as_table(table) -> np.ndarray:
    t = np.asarray(table)
    if t.ndim != 2 or t.dtype != bool:
        raise ValueError(f"table must be a 2-D boolean array (in_channels, out_channels); got "
                         f"dtype {t.dtype}, shape {t.shape}")
    empty = np.flatnonzero(~t.any(axis=0))
    if empty.size:
        raise ValueError(f"table: output map {int(empty[0])} is connected to no input map "
                         f"(column {int(empty[0])} of the {t.shape} table is all False)")
    return t


_SUB_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "identity": lambda t: t,
}


class Subsampling(nn.Module):
    """LeNet-5's trainable subsampling layer (S2 and S4 in LeCun et al., 1998).

    Each map c sums its non-overlapping 2x2 windows, scales the sum by a trainable weight,
    adds a trainable bias and applies the activation:

        out[n, c, i, j] = activation(weight[c] * (x[n, c, 2i, 2j] + x[n, c, 2i, 2j+1]
                                                  + x[n, c, 2i+1, 2j] + x[n, c, 2i+1, 2j+1])
                                     + bias[c])

    Exactly 2 trainable parameters per map: ``weight`` (C,) and ``bias`` (C,); 12 for S2's
    6 maps, 32 for S4's 16. (Modern average pooling is the special case weight = 1/4,
    bias = 0, identity activation, with nothing to learn.)

    channels: C, the number of maps.
    activation: "sigmoid" (default, the sigmoidal squashing of the paper's description),
        "tanh", "identity" or None (no activation), or any callable tensor -> tensor
        (e.g. LeNet's scaled tanh ``lambda a: 1.7159 * torch.tanh(2 * a / 3)``, or an
        ``nn.Module``, which is then registered as a submodule).
    Input (N, C, H, W) -> output (N, C, H // 2, W // 2); with an odd H or W the last row or
    column is dropped, as by ``avg_pool2d(x, 2)``. H and W must be >= 2.

    Initialisation (``reset_parameters``): torch's default for a layer with fan-in 4 (each
    output sees 4 inputs through one weight), as ``nn.Linear(4, 1)`` would do it: weight and
    bias uniform in [-1/sqrt(4), 1/sqrt(4)] = [-0.5, 0.5]. (The paper draws weights in
    [-2.4/F, 2.4/F] with F the fan-in, i.e. [-0.6, 0.6]: nearly the same range.)
    """

    def __init__(self, channels: int, activation="sigmoid"):
        super().__init__()
        self.channels = check_int(channels, "channels", 1)
        if activation is None or (isinstance(activation, str) and activation in _SUB_ACTIVATIONS):
            self.activation_name = "identity" if activation is None else activation
            self.activation = _SUB_ACTIVATIONS[self.activation_name]
        elif isinstance(activation, str):
            raise ValueError(
                f"activation must be one of {sorted(_SUB_ACTIVATIONS)}, None or a callable; "
                f"got {activation!r}"
            )
        elif callable(activation):
            self.activation_name = getattr(activation, "__name__", type(activation).__name__)
            self.activation = activation
        else:
            raise TypeError(
                f"activation must be a name ({sorted(_SUB_ACTIVATIONS)}), None or a callable; "
                f"got {activation!r}"
            )
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight and bias uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)] with fan_in = 4."""
        bound = 1 / math.sqrt(4)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) -> (N, C, H // 2, W // 2)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor (N, C, H, W); got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.channels or x.shape[2] < 2 or x.shape[3] < 2:
            raise ValueError(
                f"x must be (N, {self.channels}, H, W) with H, W >= 2 for "
                f"Subsampling({self.channels}); got shape {tuple(x.shape)}"
            )
        N, C, H, W = x.shape
        Ho, Wo = H // 2, W // 2
        windows = x[:, :, : 2 * Ho, : 2 * Wo].reshape(N, C, Ho, 2, Wo, 2)
        sums = windows.sum(dim=(3, 5))  # (N, C, Ho, Wo): each 2x2 window summed
        return self.activation(sums * self.weight.view(1, C, 1, 1) + self.bias.view(1, C, 1, 1))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, activation={self.activation_name}"


class TableConv2d(nn.Module):
    """A 2-D convolution in which output map j sees only the input maps that ``table`` allows.

    LeNet-5's C3 (``TableConv2d(C3_TABLE, 5)``); Torch7 called it ``SpatialConvolutionMap``.
    Output map j is the sum, over the input maps i with ``table[i, j]``, of input map i
    cross-correlated with its own kh x kw kernel, plus the bias ``bias[j]``:

        out[n, j] = bias[j] + sum_{i : table[i, j]} correlate(x[n, i], kernel of link (i, j))

    Only the L = table.sum() connected kernels exist: ``weight`` is (L, 1, kh, kw), one kernel
    per link, ordered by output map and then input map (``source[l]``, ``target[l]`` say which
    maps link l joins). A missing link has no parameter, so it can neither be trained nor
    receive a gradient, and it costs no multiply-adds. For C3: L = 60, 60*25 + 16 = 1,516
    parameters.

    The forward pass does exactly that arithmetic: it gathers the input map of every link,
    correlates each with its own kernel in one grouped convolution (groups = L), then adds the
    results of the links of each output map (``index_add``) and the bias.

    table: (in_channels, out_channels) bool; every output map needs at least one input map.
    kernel_size: int or (kh, kw). Stride 1, no padding (what LeNet-5 uses).
    Input (N, in_channels, H, W) -> output (N, out_channels, H - kh + 1, W - kw + 1).
    """

    def __init__(self, table, kernel_size):
        super().__init__()
        t = _as_table(table)
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        if min(kh, kw) < 1:
            raise ValueError(f"kernel_size must be >= 1; got {kernel_size!r}")
        self.in_channels, self.out_channels = t.shape
        self.kernel_size = (int(kh), int(kw))
        self.table = t.copy()
        target, source = np.nonzero(t.T)  # links in order of output map, then input map
        self.register_buffer("source", torch.as_tensor(source, dtype=torch.long))
        self.register_buffer("target", torch.as_tensor(target, dtype=torch.long))
        self.weight = nn.Parameter(torch.empty(len(source), 1, kh, kw))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        self.reset_parameters()

    def fan_in(self) -> torch.Tensor:
        """(out_channels,) int64: the inputs each output unit sums, f_j * kh * kw."""
        return torch.as_tensor(self.table.sum(axis=0) * self.kernel_size[0] * self.kernel_size[1])

    def reset_parameters(self) -> None:
        """Uniform in [-1/sqrt(F), 1/sqrt(F)], F the fan-in of the unit (as ``nn.Conv2d``)."""
        bound = (1.0 / self.fan_in().double().sqrt()).to(self.weight.device, self.weight.dtype)
        with torch.no_grad():
            self.weight.uniform_(-1, 1).mul_(bound[self.target].view(-1, 1, 1, 1))
            self.bias.uniform_(-1, 1).mul_(bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, H, W) -> (N, out_channels, H - kh + 1, W - kw + 1)."""
        kh, kw = self.kernel_size
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels \
                or x.shape[2] < kh or x.shape[3] < kw:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be (N, {self.in_channels}, H, W) with H >= {kh}, "
                             f"W >= {kw} for TableConv2d; got {got}")
        taps = x.index_select(1, self.source)  # (N, L, H, W): the input map of every link
        per_link = F.conv2d(taps, self.weight, groups=len(self.source))  # (N, L, Ho, Wo)
        N, _, Ho, Wo = per_link.shape
        out = per_link.new_zeros(N, self.out_channels, Ho, Wo).index_add(1, self.target, per_link)
        return out + self.bias.view(1, -1, 1, 1)

    def dense_weight(self, fill: float = 0.0) -> torch.Tensor:
        """The kernels laid out as an ordinary conv weight (out_channels, in_channels, kh, kw).

        Missing links hold ``fill`` (0 gives the equivalent ``F.conv2d`` weight; NaN shows
        the gaps in a figure). A new tensor, detached.
        """
        dense = torch.full((self.out_channels, self.in_channels, *self.kernel_size), fill,
                           dtype=self.weight.dtype, device=self.weight.device)
        dense[self.target, self.source] = self.weight.detach()[:, 0]
        return dense

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"links={len(self.source)} of {self.in_channels * self.out_channels}")


class EuclideanRBF(nn.Module):
    """LeNet-5's output layer: one Euclidean radial basis function unit per class.

    Unit i computes the squared distance between its input and a fixed prototype p_i,
    ``y_i = sum_j (x_j - p_ij)^2`` (the paper's equation 7), a *penalty*: small when the
    input looks like class i. ``forward`` returns the scores ``-y`` so that, as for any
    classifier in PyTorch, the largest score is the prediction and
    ``F.cross_entropy(scores, labels)`` is the training loss. That loss,
    ``y_label + log(sum_i exp(-y_i))``, is the paper's maximum a posteriori criterion
    (equation 9) without its "rubbish class" constant j (j -> infinity): it pulls the correct
    unit's penalty down and pushes the others' up, which the plain mean squared error
    ``y_label`` alone would not (it collapses when all prototypes are reachable at once).

    prototypes: (classes, features), kept as a buffer: saved in the state dict, moved by
    ``.to()``, never trained. image_shape: optional (rows, columns) to view each prototype
    as an image (``prototype_images``).
    Input (N, features) -> scores (N, classes).
    """

    def __init__(self, prototypes, image_shape: tuple[int, int] | None = None):
        super().__init__()
        p = torch.tensor(np.array(prototypes), dtype=torch.float32)
        if p.dim() != 2:
            raise ValueError(f"prototypes must be 2-D (classes, features); got {tuple(p.shape)}")
        if image_shape is not None and math.prod(image_shape) != p.shape[1]:
            raise ValueError(f"image_shape {image_shape} does not hold {p.shape[1]} features")
        self.register_buffer("prototypes", p.clone())
        self.image_shape = image_shape

    @property
    def classes(self) -> int:
        return self.prototypes.shape[0]

    @property
    def features(self) -> int:
        return self.prototypes.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, features) -> scores (N, classes): minus the squared distance to each prototype."""
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.features:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be (N, {self.features}) for EuclideanRBF; got {got}")
        return -(x[:, None, :] - self.prototypes[None]).pow(2).sum(dim=2)

    def prototype_images(self) -> torch.Tensor:
        """The prototypes as images, (classes, rows, columns); needs ``image_shape``."""
        if self.image_shape is None:
            raise ValueError("this EuclideanRBF has no image_shape to view its prototypes with")
        return self.prototypes.detach().reshape(self.classes, *self.image_shape)

    def extra_repr(self) -> str:
        return f"features={self.features}, classes={self.classes} (fixed prototypes)"


class LeNet5Classic(nn.Module):
    """LeNet-5 as published in 1998: 60,000 trainable parameters, 340,908 connections.

    Input (N, 1, 32, 32) (``paper_input`` turns 28x28 MNIST digits into it) -> scores (N, 10).

    =======  ====================================================  ==================
    layer    what it does                                          output
    =======  ====================================================  ==================
    C1       6 convolutions 5x5                                    (N, 6, 28, 28)
    S2       2x2 trainable subsampling (``Subsampling``)           (N, 6, 14, 14)
    C3       16 convolutions 5x5 over the maps of ``C3_TABLE``     (N, 16, 10, 10)
    S4       2x2 trainable subsampling                             (N, 16, 5, 5)
    C5       120 convolutions 5x5 (each sees all of S4)            (N, 120, 1, 1)
    F6       fully connected 120 -> 84                             (N, 84)
    output   Euclidean RBF to 10 fixed 7x12 bitmaps (84 values)   (N, 10)
    =======  ====================================================  ==================

    Every unit up to F6 passes its weighted sum through the paper's squashing function
    ``scaled_tanh`` (the paper calls it sigmoidal: it is a scaled hyperbolic tangent), the
    subsampling units included. C5 is a convolution, not a linear layer: on a larger input it
    would produce a larger map (here 1x1). ``forward`` returns -(squared distance) to each
    prototype, see ``EuclideanRBF``; train with ``F.cross_entropy``.

    Initialisation (``reset_parameters``): the paper's, every weight and bias uniform in
    [-2.4/F, 2.4/F] with F the fan-in of its unit (25 for C1, 4 for S2 and S4, 75, 100 or
    150 for C3's maps, 400 for C5, 120 for F6).
    """

    def __init__(self):
        super().__init__()
        self.C1 = nn.Conv2d(1, 6, kernel_size=5)
        self.S2 = Subsampling(6, activation=scaled_tanh)
        self.C3 = TableConv2d(C3_TABLE, kernel_size=5)
        self.S4 = Subsampling(16, activation=scaled_tanh)
        self.C5 = nn.Conv2d(16, 120, kernel_size=5)
        self.F6 = nn.Linear(120, 84)
        self.output = EuclideanRBF(PROTOTYPES, image_shape=PROTOTYPE_SHAPE)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's initialisation: uniform in [-2.4/F, 2.4/F], F = fan-in of the unit."""
        with torch.no_grad():
            for layer, fan_in in ((self.C1, 25), (self.S2, 4), (self.S4, 4), (self.C5, 400),
                                  (self.F6, 120)):
                for p in (layer.weight, layer.bias):
                    p.uniform_(-2.4 / fan_in, 2.4 / fan_in)
            bound = (2.4 / self.C3.fan_in().double()).to(self.C3.weight.device,
                                                         self.C3.weight.dtype)  # (16,)
            self.C3.weight.uniform_(-1, 1).mul_(bound[self.C3.target].view(-1, 1, 1, 1))
            self.C3.bias.uniform_(-1, 1).mul_(bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 1, 32, 32) -> scores (N, 10), the largest for the predicted digit."""
        _check_images(x, (1, 32, 32), "LeNet5Classic")
        x = scaled_tanh(self.C1(x))  # (N, 6, 28, 28)
        x = self.S2(x)  # (N, 6, 14, 14), squashed inside
        x = scaled_tanh(self.C3(x))  # (N, 16, 10, 10)
        x = self.S4(x)  # (N, 16, 5, 5)
        x = scaled_tanh(self.C5(x))  # (N, 120, 1, 1)
        x = scaled_tanh(self.F6(x.flatten(1)))  # (N, 84)
        return self.output(x)  # (N, 10)


_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
_POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def _pick(table: dict, value, name: str):
    if value not in table:
        raise ValueError(f"{name} must be one of {sorted(table)}; got {value!r}")
    return table[value]


class LeNet5(nn.Module):
    """The modern LeNet-5: ReLU, max pooling, a linear 120-84-10 head, softmax cross-entropy.

    Input (N, in_channels, image_size, image_size) -> logits (N, 10).

        conv1  in_channels -> 6, 5x5, padding    act1  pool1 2x2
        conv2  6 -> 16, 5x5                      act2  pool2 2x2
        flatten (16 * s * s), fc1 -> 120, act3, fc2 -> 84, act4, fc3 -> 10

    With 28x28 MNIST digits and padding 2 the maps are 28, 14, 10, 5: s = 5 and 61,706
    parameters; with padding 0 they are 24, 12, 8, 4: s = 4, fc1 shrinks and the total is
    44,426. (Padding 2 on 28x28 reproduces the geometry of the 1998 network's 32x32 input.)

    in_channels: 1 for digits, 3 for colour images. activation: "relu" (default), "sigmoid"
    or "tanh". pool: "max" (default) or "avg" (parameter-free average pooling).
    padding: of conv1 (default 2). image_size: the side of the square input (default 28).
    """

    def __init__(self, in_channels: int = 1, activation: str = "relu", pool: str = "max",
                 padding: int = 2, image_size: int = 28):
        super().__init__()
        act, pool_cls = _pick(_ACTIVATIONS, activation, "activation"), _pick(_POOLS, pool, "pool")
        for name, value, low in (("in_channels", in_channels, 1), ("padding", padding, 0),
                                 ("image_size", image_size, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
        side = ((image_size + 2 * padding - 4) // 2 - 4) // 2  # 28 -> 28 -> 14 -> 10 -> 5
        if side < 1 or image_size + 2 * padding < 5:
            raise ValueError(f"image_size={image_size} with padding={padding} is too small: "
                             "the second 5x5 convolution would not fit")
        self.in_channels, self.image_size, self.activation, self.pool = (
            in_channels, image_size, activation, pool)
        self.conv1 = nn.Conv2d(in_channels, 6, kernel_size=5, padding=padding)
        self.act1 = act()
        self.pool1 = pool_cls(2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.act2 = act()
        self.pool2 = pool_cls(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.act3 = act()
        self.fc2 = nn.Linear(120, 84)
        self.act4 = act()
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, in_channels, image_size, image_size) -> logits (N, 10)."""
        _check_images(x, (self.in_channels, self.image_size, self.image_size), "LeNet5")
        x = self.pool1(self.act1(self.conv1(x)))
        x = self.pool2(self.act2(self.conv2(x)))
        x = self.flatten(x)
        x = self.act3(self.fc1(x))
        x = self.act4(self.fc2(x))
        return self.fc3(x)

    def extra_repr(self) -> str:
        return f"activation={self.activation!r}, pool={self.pool!r}, image_size={self.image_size}"


class LeNetCIFAR(nn.Module):
    """The CIFAR-10 tutorial's LeNet: 3x3 kernels, 16 and 32 channels, 379,114 parameters.

    Input (N, 3, 32, 32) -> logits (N, 10).

        conv1  3 -> 16, 3x3, padding 1   (N, 16, 32, 32)   relu1  pool1 2x2 -> (N, 16, 16, 16)
        conv2 16 -> 32, 3x3, padding 0   (N, 32, 14, 14)   relu2  pool2 2x2 -> (N, 32, 7, 7)
        flatten 32*7*7 = 1,568, fc1 -> 224, relu3, fc2 -> 96, relu4, fc3 -> 10

    Parameters: 448 + 4,640 + 351,456 + 21,600 + 970 = 379,114; fc1 holds 93% of them.
    The tutorial states every size, padding 1 on conv1 and none on conv2 included (its comments
    give the maps 32, 16, 14, 7); it does not print the total, which follows from them.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 7 * 7, 224)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(224, 96)
        self.relu4 = nn.ReLU()
        self.fc3 = nn.Linear(96, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 3, 32, 32) -> logits (N, 10)."""
        _check_images(x, (3, 32, 32), "LeNetCIFAR")
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu3(self.fc1(x))
        x = self.relu4(self.fc2(x))
        return self.fc3(x)
