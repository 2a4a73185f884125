"""Per-batch augmentation functions ``f(x, generator) -> x`` for :class:`TensorLoader`'s
``augment``: random crops and flips, both :class:`cnnkit.augment.RandomCropFlip` (one
per-sample implementation)."""

from __future__ import annotations

from cnnkit.data.tensor_loader import Augment

__all__ = ["random_crop", "random_hflip"]


def random_hflip(p: float = 0.5) -> Augment:
    """Augmentation: flip each image left-right with probability ``p``.

    Right for photos (CIFAR-10), wrong for digits: a flipped 2 is not a 2 (an error
    of the digit-augmentation tutorial).
    Returns ``f(x, generator) -> x`` for :class:`TensorLoader`'s ``augment``, x: (B, C, H, W):
    :class:`cnnkit.augment.RandomCropFlip` with no crop (one implementation of both).
    """
    from cnnkit.augment import RandomCropFlip

    return RandomCropFlip(padding=0, p_flip=p)


def random_crop(padding: int = 4, fill: float = 0.0) -> Augment:
    """Augmentation: pad by ``padding`` pixels (value ``fill``), then crop back to H x W at a
    random offset per image: shifts of up to ``padding`` pixels each way.

    Returns ``f(x, generator) -> x`` for :class:`TensorLoader`'s ``augment``, x: (B, C, H, W)
    in [0, 1] (``fill=0`` is black): :class:`cnnkit.augment.RandomCropFlip` with no flip.
    """
    from cnnkit.augment import RandomCropFlip

    return RandomCropFlip(padding=padding, p_flip=0.0, fill=fill)
