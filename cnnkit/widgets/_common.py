"""What the widgets share: the static picture in the MIME bundle, a clickable pixel
canvas, images shown at their pixel size, the input image choice, small HTML matrices.
"""

from __future__ import annotations

import ipywidgets as W
import numpy as np

from cnnkit.widgets import views

CUSTOM = "custom"


class _Pictured:
    """A widget whose MIME bundle also holds a static picture of its current state.

    Subclasses set ``self.ui`` (the ipywidgets tree) and define ``picture()`` (PNG bytes) and
    ``summary()`` (one line). JupyterLab shows the live view; GitHub, nbviewer and nbconvert
    (no widget state stored) show the picture instead of ``VBox(children=...``.
    """

    def _repr_mimebundle_(self, **kwargs):
        return views.picture_bundle(self.ui._repr_mimebundle_(**kwargs), self.picture(),
                                    self.summary())


class _PixelCanvas:
    """An ipycanvas ``Canvas`` showing an (H, W, 3) image at a whole-pixel scale, telling
    ``on_cell(row, col)`` which array cell the mouse pressed or hovered."""

    def __init__(self, on_cell, css_class: str, hover: bool = True):
        from ipycanvas import Canvas

        self.canvas = Canvas(width=1, height=1)
        self.canvas.add_class(css_class)
        self.on_cell, self.scale, self.shape = on_cell, 1, (0, 0)
        self.rgb: np.ndarray | None = None  # what is shown, enlarged: (H*scale, W*scale, 3)
        self._last: tuple[int, int] | None = None
        self.canvas.on_mouse_down(self._mouse)
        if hover:
            self.canvas.on_mouse_move(self._mouse)

    def show(self, big: np.ndarray, scale: int) -> None:
        """Show ``big`` (already enlarged by ``scale``), floats in [0, 1]."""
        h, w = big.shape[:2]
        if (self.canvas.height, self.canvas.width) != (h, w):
            self.canvas.width, self.canvas.height = w, h
            self.canvas.layout.width, self.canvas.layout.height = f"{w}px", f"{h}px"
        self.rgb, self.scale, self.shape = big, scale, (h // scale, w // scale)
        self.canvas.put_image_data(np.round(np.clip(big, 0, 1) * 255).astype(np.uint8), 0, 0)

    def _mouse(self, x: float, y: float) -> None:
        cell = (int(y) // self.scale, int(x) // self.scale)
        if cell != self._last and 0 <= cell[0] < self.shape[0] and 0 <= cell[1] < self.shape[1]:
            self._last = cell
            self.on_cell(*cell)


def _show_png(view: W.Image, rgb: np.ndarray) -> None:
    """Show an (H, W, 3) view at exactly its pixel size (a flex column would stretch it)."""
    view.value = views.png(rgb)
    view.layout.width, view.layout.height = f"{rgb.shape[1]}px", f"{rgb.shape[0]}px"


def _as_image(value, name: str = "image") -> np.ndarray:
    """An input image as float (H, W) or (3, H, W); (H, W, 3) is moved channels-first."""
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[0] != 3:
        arr = arr.transpose(2, 0, 1)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[0] != 3) or 0 in arr.shape:
        raise ValueError(f"{name} must be a name or an array (H, W), (3, H, W) or (H, W, 3); "
                         f"got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _choose_image(images: dict | None, image, default: dict) -> tuple[dict, str]:
    """The explorer's images and the selected key: ``image`` is a key of ``images`` (default
    ``default``) or an array, shown first as "your image"."""
    images = dict(default if images is None else images)
    if isinstance(image, str):
        if image not in images:
            raise ValueError(f"image must be one of {list(images)} or an array; got {image!r}")
        return images, image
    return {"your image": _as_image(image), **images}, "your image"


def _flat(m) -> str:
    """A small matrix on one line: rows separated by " | "."""
    return " | ".join(" ".join(f"{v:.3g}" for v in row) for row in np.asarray(m).reshape(
        -1, np.asarray(m).shape[-1]))


def _taps(coords) -> str:
    return ", ".join(str(int(c)) for c in coords)


def _matrix_html(values, fmt: str = "{:.3g}") -> str:
    """A small matrix as an HTML table, cells tinted red (positive) / blue (negative)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    m = float(np.abs(finite).max()) if finite.size else 1.0
    rows = []
    for row in values:
        tds = []
        for v in row:
            a = 0.0 if not np.isfinite(v) or not m else min(abs(v) / m, 1.0) * 0.55
            colour = f"rgba(214,39,40,{a:.2f})" if v > 0 else f"rgba(31,119,180,{a:.2f})"
            tds.append(f"<td style='background:{colour};text-align:right;padding:0 4px;"
                       f"border:1px solid #ddd;font-family:monospace'>{fmt.format(v)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    return ("<table style='border-collapse:collapse;font-size:85%'>" + "".join(rows)
            + "</table>")
