"""Pixel views and static pictures for the widgets (numpy, Pillow, matplotlib; no
ipywidgets, no computation of the course's own: the widgets pass in what ``cnnkit`` computed).

Two kinds of output:

- *views*, redrawn on every click or slider move, so they are plain numpy → PNG (a few ms):
  ``grey_rgb`` / ``signed_rgb`` (values → colours), ``enlarge`` (whole-pixel repetition at a
  fixed scale, so an input and its output share one pixel size), ``outline`` (a window's taps
  drawn as boxes), ``colorbar_png``;
- *static pictures* (``compose_picture``): the widget's current views and texts as one PNG, the
  ``image/png`` entry of a widget's MIME bundle, which GitHub, nbviewer and nbconvert show where
  no kernel runs the widget.
"""

from __future__ import annotations

import base64
import html
import io
import re
import textwrap

import numpy as np

__all__ = [
    "VIEW_SIZE",
    "bitmaps_png",
    "colorbar_html",
    "colorbar_png",
    "compose_picture",
    "decode_png",
    "enlarge",
    "feature_mosaic",
    "grey_rgb",
    "html_to_text",
    "outline",
    "outline_box",
    "picture_bundle",
    "png",
    "scale_for",
    "signed_rgb",
    "to_rgb",
]

VIEW_SIZE = 240  # px: the longer side of the input view (the output uses the input's scale)
SELECTED = (0.95, 0.55, 0.0)  # orange: the clicked unit and its window
PADDED = (0.55, 0.75, 1.0)  # light blue: the zero border added by padding
DIVERGING = "RdBu_r"  # signed values: blue negative, white 0, red positive


def scale_for(shape, size: int = VIEW_SIZE, most: int = 16) -> int:
    """Screen pixels per array pixel so the longer side of ``shape`` (H, W) is about ``size``."""
    return int(min(most, max(1, round(size / max(shape[-2:])))))


def grey_rgb(values, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """(H, W) → (H, W, 3) grey in [0, 1], black at ``lo``, white at ``hi`` (default: own range)."""
    values = np.asarray(values, dtype=np.float64)
    lo = float(values.min()) if lo is None else lo
    hi = float(values.max()) if hi is None else hi
    grey = np.clip((values - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(values)
    return np.repeat(grey[..., None], 3, axis=-1)


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def signed_rgb(values, limit: float | None = None, cmap: str = DIVERGING) -> np.ndarray:
    """(H, W) → (H, W, 3) in a diverging colormap centred at 0 (white), ±``limit`` at the ends
    (default: the largest magnitude)."""
    values = np.asarray(values, dtype=np.float64)
    m = float(np.abs(values).max()) if limit is None else float(limit)
    m = m or 1.0
    return _cmap(cmap)((values / m + 1) / 2)[..., :3]


def to_rgb(values, signed: bool | None = None, lo=None, hi=None) -> np.ndarray:
    """Values as colours: (3, H, W) colour images as they are (clipped to [0, 1]), signed (H, W)
    in the diverging map (``signed=None``: when they have both signs), else grey."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 3 and values.shape[0] == 3:
        return np.clip(values.transpose(1, 2, 0), 0, 1)
    if signed is None:
        signed = bool(values.min() < 0 < values.max())
    return signed_rgb(values) if signed else grey_rgb(values, lo, hi)


def enlarge(rgb, scale: int) -> np.ndarray:
    """(H, W, 3) → (H*scale, W*scale, 3) by whole-pixel repetition (sharp squares)."""
    rgb = np.asarray(rgb)
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def outline(big: np.ndarray, rows, cols, scale: int, color=SELECTED, width: int = 2,
            offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Draw a box around every (row, col) cell of an enlarged view, in place; returns ``big``.

    big: (H*scale, W*scale, 3). rows, cols: the cells (one box per pair, so a dilated kernel's
    taps show their gaps). offset: added to every (row, col) (e.g. the padding, when the view
    shows the padded input). Cells outside the view are skipped.
    """
    h, w = big.shape[:2]
    width = max(1, min(width, scale // 3 or 1))
    for r, c in zip(np.ravel(rows), np.ravel(cols), strict=True):
        top, left = (int(r) + offset[0]) * scale, (int(c) + offset[1]) * scale
        if top < 0 or left < 0 or top >= h or left >= w:
            continue
        bottom, right = min(top + scale, h), min(left + scale, w)
        big[top:top + width, left:right] = color
        big[bottom - width:bottom, left:right] = color
        big[top:bottom, left:left + width] = color
        big[top:bottom, right - width:right] = color
    return big


def outline_box(big: np.ndarray, box, scale: int, color=SELECTED, width: int = 2) -> np.ndarray:
    """Draw one rectangle around cells ``box`` = (top, left, bottom, right) (inclusive) of an
    enlarged view, in place; returns ``big``."""
    top, left, bottom, right = (int(v) for v in box)
    y0, x0, y1, x1 = top * scale, left * scale, (bottom + 1) * scale, (right + 1) * scale
    big[y0:y0 + width, x0:x1] = color
    big[y1 - width:y1, x0:x1] = color
    big[y0:y1, x0:x0 + width] = color
    big[y0:y1, x1 - width:x1] = color
    return big


def feature_mosaic(maps, cols: int, width: int = 480, height: int | None = None):
    """Feature maps (n, H, W) side by side in rows of ``cols``, one pixel of light grey between
    them, on one colour scale (signed: diverging around 0; else grey from 0 to the largest).

    Scale: ``height`` screen px per map row if given, else the mosaic fits ``width`` px (at
    most 16 px per cell). Returns (big (rows*(H+1)*scale, ..., 3), scale).
    """
    maps = np.asarray(maps, dtype=np.float64)
    n, h, w = maps.shape
    rows = -(-n // cols)
    m = float(np.abs(maps).max()) or 1.0
    if maps.min() < 0:
        rgb = signed_rgb(maps, m)
    else:
        rgb = grey_rgb(maps, 0.0, m)
    grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1, 3), 0.85)
    for k in range(n):
        r, c = divmod(k, cols)
        grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = rgb[k]
    if height is not None:
        scale = max(1, round(height / h))
    else:
        scale = int(max(1, min(16, width // grid.shape[1])))
    return enlarge(grid, scale), scale


def bitmaps_png(bitmaps, titles, scores=None) -> bytes:
    """Small bitmaps (e.g. F6's 84 values as 12x7, beside the ten prototypes) in a row, +1
    black and -1 white (values beyond are clipped); ``scores`` (RBF outputs, minus squared
    distances) under the prototypes, the nearest marked."""
    import matplotlib.pyplot as plt

    n = len(bitmaps)
    fig, axes = plt.subplots(1, n, figsize=(0.62 * n + 0.4, 1.55), dpi=100, squeeze=False)
    best = int(np.argmax(scores)) if scores is not None else None
    for k, (ax, b, t) in enumerate(zip(axes[0], bitmaps, titles, strict=True)):
        ax.imshow(np.asarray(b), cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(t, fontsize=8, color="tab:orange" if k - 1 == best else "black")
        if scores is not None and k >= 1:
            ax.set_xlabel(f"{-scores[k - 1]:.0f}", fontsize=7)
    if scores is not None:
        fig.supxlabel("squared distance from F6 to each prototype (orange: nearest)",
                      fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def png(rgb) -> bytes:
    """(H, W, 3) floats in [0, 1] (or (H, W) grey) → PNG bytes."""
    from PIL import Image

    a = np.clip(np.asarray(rgb, dtype=np.float64), 0, 1)
    buf = io.BytesIO()
    Image.fromarray(np.round(a * 255).astype(np.uint8)).save(buf, format="png", compress_level=1)
    return buf.getvalue()


def decode_png(data: bytes) -> np.ndarray:
    """PNG bytes → (H, W, 3) uint8."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def colorbar_png(lo: float, hi: float, cmap: str, height: int, label: str = "") -> bytes:
    """A vertical colour bar with ticks, ``height`` px tall, for values ``lo``..``hi``."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(0.85, max(height, 60) / 100), dpi=100)
    ax = fig.add_axes((0.08, 0.05, 0.22, 0.9))
    ramp = np.linspace(hi, lo, 128)[:, None]
    ax.imshow(ramp, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, aspect="auto",
              extent=(0, 1, lo, hi if hi > lo else lo + 1))
    ax.set_xticks([])
    ax.yaxis.tick_right()
    ax.tick_params(labelsize=7)
    if label:
        ax.yaxis.set_label_position("right")
        ax.set_ylabel(label, fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def colorbar_html(lo: float, hi: float, cmap: str, height: int, label: str = "") -> str:
    """The same colour bar as HTML (a CSS gradient and three tick labels): no image to encode,
    so a widget can redraw it on every change."""
    colours = _cmap(cmap)(np.linspace(1, 0, 11))[:, :3]  # top: hi
    stops = ", ".join(f"rgb({r * 255:.0f},{g * 255:.0f},{b * 255:.0f}) {100 * k / 10:.0f}%"
                      for k, (r, g, b) in enumerate(colours))
    ticks = "".join(f"<div style='position:absolute;left:20px;top:{top}px;line-height:1'>"
                    f"{v:.3g}</div>"
                    for top, v in ((-4, hi), (height / 2 - 5, (lo + hi) / 2), (height - 8, lo)))
    title = (f"<div style='writing-mode:vertical-rl;position:absolute;left:64px;top:0'>"
             f"{html.escape(label)}</div>" if label else "")
    return (f"<div class='cnnkit-colorbar' style='position:relative;height:{height}px;"
            f"width:84px;font-size:11px;margin-top:22px'>"
            f"<div style='position:absolute;left:0;top:0;width:14px;height:{height}px;"
            f"border:1px solid #888;background:linear-gradient({stops})'></div>{ticks}{title}"
            "</div>")


def html_to_text(markup: str) -> str:
    """The text of a label's HTML: line breaks kept, tags dropped, entities decoded."""
    text = re.sub(r"<br\s*/?>", "\n", markup or "")
    text = re.sub(r"</td>", " ", text)  # table cells: one space apart, rows " | " apart
    text = re.sub(r"</tr>\s*<tr[^>]*>", "| ", text)
    text = re.sub(r"</(tr|p|div|h\d)>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return "\n".join(line.strip() for line in html.unescape(text).splitlines() if line.strip())


def compose_picture(title: str, panels, lines=(), dpi: int = 100) -> bytes:
    """One PNG of a widget's state: its views side by side, captioned, with its texts above.

    title: the widget and what it shows. panels: [(caption, PNG bytes or (H, W, 3) array)],
    drawn at their own pixel size (no resampling). lines: text lines under the title (wrapped
    to the picture's width).
    """
    import matplotlib.pyplot as plt

    images = [(c, decode_png(bytes(p)) if isinstance(p, bytes | bytearray | memoryview)
               else np.asarray(p))
              for c, p in panels]
    gap, cap = 16, 22  # px
    width = max(sum(im.shape[1] for _, im in images) + gap * (len(images) + 1), 640)
    wrap = int((width - 2 * gap) / (0.62 * 8 * dpi / 72))  # monospace 8 pt: 0.62 em per char
    text = "\n".join(textwrap.fill(line, wrap) for line in lines if line)
    text_h = 16 * (1 + (text.count("\n") + 1 if text else 0)) + 10
    height = text_h + cap + max((im.shape[0] for _, im in images), default=0) + gap
    fig = plt.figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    fig.text(gap / width, 1 - 8 / height, title, va="top", fontsize=10, fontweight="bold")
    if text:
        fig.text(gap / width, 1 - 26 / height, text, va="top", fontsize=8, family="monospace")
    x = gap
    for caption, im in images:
        h, w = im.shape[:2]
        ax = fig.add_axes((x / width, (gap) / height + (height - gap - text_h - cap - h) / height,
                           w / width, h / height))
        ax.imshow(im, interpolation="nearest")
        ax.set_axis_off()
        ax.set_title(caption, fontsize=8)
        x += w + gap
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def picture_bundle(bundle: dict, picture: bytes, summary: str) -> dict:
    """A widget's MIME bundle with its static picture (``image/png``) and a one-line
    ``text/plain`` summary instead of ``VBox(children=...``; the widget view is kept first."""
    bundle = dict(bundle)
    bundle["image/png"] = base64.b64encode(picture).decode("ascii")
    bundle["text/plain"] = summary
    return bundle
