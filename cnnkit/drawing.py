"""A hand-drawn digit as MNIST's preprocessing would have made it (no ipywidgets, no matplotlib).

MNIST's digits were made from scanned strokes by: (1) fitting the digit's bounding box into a
20x20 box, keeping the aspect ratio, with anti-aliasing (so the digit becomes grey levels); (2)
placing it in a 28x28 field so that its centre of mass is the field's centre. A digit drawn
with the mouse must go through the same steps before a network trained on MNIST reads it:
drawn in a corner or much larger than 20 pixels, it would otherwise look like nothing the
network has seen.

- ``rasterize_strokes``: mouse strokes (polylines in canvas pixels) → (H, W) ink image;
- ``mnist_preprocess``: any digit image (grey or colour, either polarity) → (28, 28) float32.
"""

from __future__ import annotations

import numpy as np

from cnnkit._validate import check_int, check_real
from cnnkit.luma import luminance

__all__ = ["FIELD", "BOX", "CENTRE", "rasterize_strokes", "to_ink", "mnist_preprocess",
           "centre_of_mass"]

FIELD = 28  # MNIST's image side
BOX = 20  # the side of the box the digit's bounding box is fitted into
# Where MNIST puts the centre of mass: pixel (14, 14) of the 0..27 field (re-preprocessing
# MNIST's own digits with this reproduces them, correlation > 0.999; the geometric middle 13.5
# shifts half of them by a pixel)
CENTRE = 14.0
INK_THRESHOLD = 0.1  # pixels above this (ink in [0, 1]) count for the bounding box


def rasterize_strokes(strokes, size=(280, 280), width: float = 18.0) -> np.ndarray:
    """Draw strokes as white ink on black: (H, W) float32 in [0, 1].

    strokes: a sequence of strokes, each a sequence of (x, y) points in pixels (x to the right,
    y down, as on a canvas); a stroke of one point is a dot. size: (H, W) of the canvas.
    width: the pen's diameter in pixels (round caps and joins).
    """
    from PIL import Image, ImageDraw

    height, wide = (check_int(v, "size", minimum=1) for v in size)
    width = check_real(width, "width", minimum=1.0)
    page = Image.new("L", (wide, height), 0)
    pen = ImageDraw.Draw(page)
    r = width / 2
    for n, stroke in enumerate(strokes):
        points = [(float(x), float(y)) for x, y in stroke]
        if not points:
            raise ValueError(f"strokes[{n}] is empty; a stroke needs at least one (x, y) point")
        if len(points) > 1:
            pen.line(points, fill=255, width=max(1, round(width)))
        for x, y in points:  # round caps and joins
            pen.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(page, dtype=np.float32) / 255.0


def to_ink(image, invert: bool | None = None) -> np.ndarray:
    """Any digit image as ink: (H, W) float64 in [0, 1], 1 = ink, 0 = paper.

    image: (H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA (transparent parts are
    white paper); uint8 0..255 or float in [0, 1]. Colour becomes grey by luminance (0.299 R +
    0.587 G + 0.114 B). invert: None inverts dark ink on light paper (the border's mean above
    0.5) so the result is white on black as in MNIST; True/False forces it.
    """
    x = np.asarray(image)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] not in (1, 3, 4)) or 0 in x.shape:
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4); got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise TypeError(f"image must hold numbers; got dtype {x.dtype}")
    if invert not in (None, True, False):
        raise ValueError(f"invert must be None, True or False; got {invert!r}")
    x = x.astype(np.float64) / (255.0 if np.issubdtype(x.dtype, np.integer) else 1.0)
    if x.ndim == 3:
        if x.shape[2] == 4:  # composite over white paper
            x = x[..., :3] * x[..., 3:] + (1 - x[..., 3:])
        x = x[..., 0] if x.shape[2] == 1 else luminance(x[..., :3], channel_axis=-1)[..., 0]
    x = np.clip(x, 0.0, 1.0)
    if invert is None:
        invert = bool(np.concatenate([x[0], x[-1], x[:, 0], x[:, -1]]).mean() > 0.5)
    return 1.0 - x if invert else x


def centre_of_mass(image) -> tuple[float, float]:
    """(row, column) of the intensity-weighted centre of an (H, W) image (pixel centres at
    integers); the image's middle when it is all zero."""
    x = np.asarray(image, dtype=np.float64)
    total = x.sum()
    if total <= 0:
        return ((x.shape[0] - 1) / 2, (x.shape[1] - 1) / 2)
    rows, cols = np.indices(x.shape)
    return float((rows * x).sum() / total), float((cols * x).sum() / total)


def _fit_into_box(ink: np.ndarray, box: int) -> np.ndarray:
    """The ink's bounding box resized (anti-aliased, aspect kept) so its longer side is ``box``."""
    from PIL import Image

    rows = np.flatnonzero(ink.max(axis=1) > INK_THRESHOLD)
    cols = np.flatnonzero(ink.max(axis=0) > INK_THRESHOLD)
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # PIL: (width, height)
    resized = Image.fromarray(crop.astype(np.float32), mode="F").resize(
        size, Image.Resampling.LANCZOS if min(h, w) > 1 else Image.Resampling.BILINEAR)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def mnist_preprocess(image, invert: bool | None = None) -> np.ndarray:
    """A digit image → MNIST's (28, 28) float32 in [0, 1] (white digit on black).

    image, invert: see ``to_ink`` (any size, grey or colour, uint8 or float; dark ink on light
    paper is inverted unless ``invert`` says otherwise).
    Steps: ink = grey in [0, 1]; crop to the bounding box of the pixels above
    ``INK_THRESHOLD``; resize (Lanczos, aspect kept) so the longer side is 20 px; paste into
    a 28x28 field so the centre of mass lands on pixel (14, 14) (``CENTRE``, where MNIST put
    it), shifted by whole pixels and kept inside the field. An image without ink gives all zeros.
    """
    ink = to_ink(image, invert)
    field = np.zeros((FIELD, FIELD), np.float32)
    if not (ink > INK_THRESHOLD).any():
        return field
    digit = _fit_into_box(ink, BOX)
    h, w = digit.shape
    r, c = centre_of_mass(digit)
    centre = CENTRE
    top = int(np.clip(round(centre - r), 0, FIELD - h))
    left = int(np.clip(round(centre - c), 0, FIELD - w))
    field[top:top + h, left:left + w] = digit
    return field
