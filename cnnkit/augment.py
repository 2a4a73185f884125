"""CIFAR-style augmentation, per sample: random crop with padding, then horizontal flip.

The standard CIFAR-10 recipe (He et al. 2016; torchvision's
``Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()])``) pads every training image by 4
pixels, crops a 32x32 window at a random offset, and flips it left-right with probability 1/2.
Each image gets its *own* offset and its own flip decision; cropping a whole batch at one
offset would give the network far fewer distinct views.

Here the whole batch is done in one gather (no per-image Python loop), on uint8 or float
tensors ``(N, C, H, W)``, with the randomness drawn from an explicit ``torch.Generator``:

- :func:`sample_crop_flip` draws the parameters (:class:`CropFlipParams`: ``top``, ``left``
  in ``0..2*padding`` and ``flip``), so they can be inspected, tested and shown;
- :func:`apply_crop_flip` applies given parameters (deterministic);
- :func:`random_crop_flip` does both, optionally returning the parameters;
- :class:`RandomCropFlip` is the same as a callable ``f(x, generator) -> x`` for
  :class:`cnnkit.data.TensorLoader`'s ``augment`` hook (training split only: the loader refuses
  augmentation on a test split), remembering the parameters of its last batch in ``.last``.

``top``/``left`` are offsets into the *padded* image, as in torchvision: the output pixel
``(i, j)`` is padded pixel ``(top + i, left + j)``, i.e. the original pixel
``(top + i - padding, left + j - padding)`` (``fill`` outside the image), then mirrored if
``flip``. This is exactly ``torchvision.transforms.v2.functional``'s
``horizontal_flip(crop(pad(x, [padding], fill), top, left, H, W))`` for each image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cnnkit._validate import check_int, check_real

__all__ = [
    "CropFlipParams",
    "sample_crop_flip",
    "apply_crop_flip",
    "random_crop_flip",
    "RandomCropFlip",
]


@dataclass(frozen=True)
class CropFlipParams:
    """Per-sample augmentation parameters for a batch of N images.

    top, left: int64 (N,), offsets of the crop window in the padded image, in ``0..2*padding``
    (``padding`` means no shift). flip: bool (N,), mirror left-right after cropping.
    padding: the padding the offsets refer to.
    """

    top: torch.Tensor
    left: torch.Tensor
    flip: torch.Tensor
    padding: int

    def __len__(self) -> int:
        return int(self.top.shape[0])


def _check_padding(padding) -> int:
    return check_int(padding, "padding", 0)


def _check_p(p) -> float:
    return check_real(p, "p_flip", 0.0, 1.0)  # a probability


def _check_batch(x) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        got = (f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__)
        raise ValueError(f"x must be a batch tensor (N, C, H, W); got {got}")
    if x.dtype not in (torch.uint8, torch.float16, torch.bfloat16, torch.float32,
                       torch.float64):
        raise TypeError(f"x must be uint8 or floating point; got {x.dtype}")


def sample_crop_flip(n: int, generator: torch.Generator, padding: int = 4,
                     p_flip: float = 0.5) -> CropFlipParams:
    """Draw crop offsets and flip decisions for ``n`` images from ``generator``.

    Returns :class:`CropFlipParams` with ``top``, ``left`` int64 (n,) uniform on
    ``0..2*padding`` (9 values for padding 4) and ``flip`` bool (n,), True with probability
    ``p_flip``. The draws are, in order: top, left, flip (so a seeded generator gives the same
    parameters on every machine).
    """
    check_int(n, "n", 0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator; got {type(generator).__name__}")
    padding, p_flip = _check_padding(padding), _check_p(p_flip)
    top = torch.randint(0, 2 * padding + 1, (int(n),), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (int(n),), generator=generator)
    flip = torch.rand(int(n), generator=generator) < p_flip
    return CropFlipParams(top, left, flip, padding)


def apply_crop_flip(x: torch.Tensor, params: CropFlipParams, fill: float = 0) -> torch.Tensor:
    """Crop (after padding by ``params.padding`` with ``fill``) and flip each image of ``x``.

    x: uint8 or float (N, C, H, W); params: N offsets and flips (:func:`sample_crop_flip`).
    Returns a new tensor like ``x`` (same shape, dtype, device). One gather for the batch.
    """
    _check_batch(x)
    if not isinstance(params, CropFlipParams):
        raise TypeError(f"params must be CropFlipParams; got {type(params).__name__}")
    n, c, h, w = x.shape
    if len(params) != n:
        raise ValueError(f"params are for {len(params)} images but x has {n}")
    p = params.padding
    if len(params) and (int(params.top.min()) < 0 or int(params.top.max()) > 2 * p
                        or int(params.left.min()) < 0 or int(params.left.max()) > 2 * p):
        raise ValueError(f"crop offsets must be in 0..{2 * p} for padding {p}")
    padded = x.new_full((n, c, h + 2 * p, w + 2 * p), fill)
    padded[:, :, p:p + h, p:p + w] = x
    dev = x.device
    top, left, flip = (t.to(dev) for t in (params.top, params.left, params.flip))
    rows = top[:, None] + torch.arange(h, device=dev)  # (N, H)
    j = torch.arange(w, device=dev)
    # a flip reads the crop's columns right to left: one index computation does both
    cols = left[:, None] + torch.where(flip[:, None], w - 1 - j, j)  # (N, W)
    batch = torch.arange(n, device=dev)[:, None, None]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4,
                     p_flip: float = 0.5, fill: float = 0, return_params: bool = False):
    """Random crop with ``padding`` and horizontal flip, a new draw for every image.

    x: uint8 or float (N, C, H, W). Returns the augmented batch (same shape and dtype), and
    with ``return_params=True`` the tuple ``(batch, CropFlipParams)``.
    """
    _check_batch(x)
    params = sample_crop_flip(x.shape[0], generator, padding, p_flip)
    out = apply_crop_flip(x, params, fill)
    return (out, params) if return_params else out


class RandomCropFlip:
    """The CIFAR augmentation as a :class:`cnnkit.data.TensorLoader` ``augment`` function.

    ``RandomCropFlip(padding=4, p_flip=0.5)(x, generator) -> x``: x (B, C, H, W), uint8 or
    float (the loader passes floats in [0, 1]; ``fill=0`` is black). The parameters drawn for
    the last batch are kept in ``self.last`` (:class:`CropFlipParams`) for inspection.
    """

    def __init__(self, padding: int = 4, p_flip: float = 0.5, fill: float = 0):
        self.padding = _check_padding(padding)
        self.p_flip = _check_p(p_flip)
        self.fill = fill
        self.last: CropFlipParams | None = None

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        out, self.last = random_crop_flip(x, generator, self.padding, self.p_flip, self.fill,
                                          return_params=True)
        return out

    def __repr__(self) -> str:
        return f"RandomCropFlip(padding={self.padding}, p_flip={self.p_flip})"
