"""A SYNTHETIC stand-in for CIFAR-10, for offline test runs only (it is not CIFAR-10).

This machine (and CI) has no copy of CIFAR-10 and no internet. So that lesson 5 still runs
everywhere, :func:`synthetic_cifar` draws 10 classes of 32x32 colour images from a seed. It is
announced wherever it is used (:func:`cnnkit.data.load_cifar10` prints it and puts it in
``dataset.source``); numbers measured on it say nothing about CIFAR-10.

It is built to teach the same lessons honestly:

- **shape and colour both matter.** A class is a shape (disk, square, triangle, ring, cross)
  in a colour family (warm red/orange or cool blue/teal): 5 x 2 = 10 classes. The two colour
  families have the *same luminance* on average, so pairs such as "warm disk" / "cool disk"
  differ only by colour: a grayscale model can tell shapes apart but not these pairs (at best
  about half the accuracy), just as colour carries information in real photos.
- **position and scale vary** (centre jitter up to +-7 pixels, radius 6 to 11 pixels), the
  colours are jittered and the backgrounds are random dark or light tinted textures with pixel
  noise, so a small training set overfits and random crops/flips help.
- **cheap and deterministic**: vectorised numpy, a few milliseconds per thousand images; the
  same ``seed`` gives the same images on every machine; classes are exactly balanced.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from cnnkit.luma import luminance

__all__ = ["SYNTHETIC_CLASSES", "SHAPES", "COLOURS", "synthetic_cifar", "luminance"]

SHAPES: tuple[str, ...] = ("disk", "square", "triangle", "ring", "cross")
"""The five shapes; class ``k`` is shape ``SHAPES[k // 2]``."""

COLOURS: dict[str, tuple[float, float, float]] = {
    "warm": (0.85, 0.25, 0.12),  # luminance 0.415 (ITU-R 601: 0.299 R + 0.587 G + 0.114 B)
    "cool": (0.10, 0.48, 0.88),  # luminance 0.412
}
"""Mean RGB of the two colour families (in [0, 1]); their luminances match on purpose.
Class ``k`` is in the colour family ``"warm"`` if ``k`` is even, ``"cool"`` if odd."""

SYNTHETIC_CLASSES: tuple[str, ...] = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)
"""The 10 class names: "warm disk", "cool disk", "warm square", ..., "cool cross"."""

def _shape_masks(shape_id: np.ndarray, dy: np.ndarray, dx: np.ndarray,
                 r: np.ndarray) -> np.ndarray:
    """Soft masks in [0, 1], (n, H, W): pixel coordinates relative to the centre dy, dx
    (n, H, W), radius r (n, 1, 1). A 1-pixel linear ramp at the edges (anti-aliasing)."""
    d = np.sqrt(dx * dx + dy * dy)
    # signed distance-like "inside margin" for each shape, positive inside
    margins = np.stack([
        r - d,                                                     # disk
        0.85 * r - np.maximum(np.abs(dx), np.abs(dy)),            # square
        np.minimum(0.75 * r - dy, (dy + r) * 0.6 - np.abs(dx)),   # triangle, apex up
        np.minimum(r - d, d - 0.5 * r),                             # ring
        np.maximum(np.minimum(0.32 * r - np.abs(dx), r - np.abs(dy)),
                   np.minimum(0.32 * r - np.abs(dy), r - np.abs(dx))),  # cross
    ])  # (5, n, H, W)
    inside = np.take_along_axis(margins, shape_id[None, :, None, None], axis=0)[0]
    return np.clip(inside + 0.5, 0.0, 1.0)


def _generate(labels: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    n = len(labels)
    shape_id, colour_id = labels // 2, labels % 2
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    centre = size / 2 + rng.uniform(-7, 7, (n, 2)).astype(np.float32)
    r = rng.uniform(6, 11, (n, 1, 1)).astype(np.float32)
    dy = yy[None] - centre[:, 0, None, None]
    dx = xx[None] - centre[:, 1, None, None]
    mask = _shape_masks(shape_id, dy, dx, r)[:, None]  # (n, 1, H, W)

    base = np.array(list(COLOURS.values()), dtype=np.float32)[colour_id]  # (n, 3)
    fg = np.clip(base + rng.normal(0, 0.07, (n, 3)).astype(np.float32), 0, 1)
    # background: dark or light (so the shape shows in grayscale too), lightly tinted,
    # with a smooth gradient and a low-resolution texture
    level = np.where(rng.random(n) < 0.5, rng.uniform(0.05, 0.22, n), rng.uniform(0.65, 0.9, n))
    bg = (level[:, None] + rng.normal(0, 0.06, (n, 3))).astype(np.float32)  # (n, 3)
    grad = rng.normal(0, 0.08, (n, 2)).astype(np.float32)
    ramp = (grad[:, 0, None, None] * (yy - size / 2) + grad[:, 1, None, None] * (xx - size / 2))
    texture = rng.normal(0, 0.06, (n, 3, size // 4, size // 4)).astype(np.float32)
    texture = texture.repeat(4, 2).repeat(4, 3)
    background = bg[:, :, None, None] + ramp[:, None] / size + texture
    image = mask * fg[:, :, None, None] + (1 - mask) * background
    image += rng.standard_normal(image.shape, dtype=np.float32) * 0.04  # pixel noise
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)


_CHUNK = 1024  # images generated at once (each chunk has its own generator, seeded by position)


def synthetic_cifar(n: int, seed: int = 0, *, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` synthetic images of the 10 classes :data:`SYNTHETIC_CLASSES`, made from ``seed``.

    Returns images uint8 (n, 3, size, size) and labels int64 (n,): exactly balanced (class
    ``k`` has ``n // 10`` or ``n // 10 + 1`` images), in a random order. Deterministic: the same
    ``(n, seed)`` gives the same tensors on every machine. Generated in chunks of 1,024 images
    (each from its own generator seeded with ``(seed, chunk index)``), so memory stays small
    for any n.
    """
    for name, value, low in (("n", n, 0), ("seed", seed, 0), ("size", size, 8)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}; got {value!r}")
    rng = np.random.default_rng(int(seed))
    labels = rng.permutation(np.arange(n) % 10)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    for i, start in enumerate(range(0, n, _CHUNK)):
        chunk_rng = np.random.default_rng([int(seed), i])
        images[start:start + _CHUNK] = _generate(labels[start:start + _CHUNK], chunk_rng, size)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))
