"""``PoolingExplorer`` (lesson 2): pooling, a pooled unit, the shift experiment, the gradient."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from cnnkit import conv, data, pool, units, viz
from cnnkit._validate import check_choice, check_int
from cnnkit.widgets import views
from cnnkit.widgets._common import (
    _choose_image,
    _matrix_html,
    _Pictured,
    _PixelCanvas,
    _show_png,
    _taps,
)

POOL_MODES = ("max", "avg")
POOL_SHOWS = ("forward", "gradient")


class PoolingExplorer(_Pictured):
    """Pick a pooling window, stride, padding and mode; see the output and its size, which
    input pixel each output kept, what a one-pixel shift changes, and where the gradient goes.

    image: "photo", "digit" (a real MNIST ``digit``), a key of ``images``, or an (H, W) array
    in [0, 1]. shift: the shifted copy's offset (0..3 px right). show: "forward" (the input,
    in max mode with the pixels the windows kept in red) or "gradient" (the input painted with
    the gradient each pixel receives when every output's gradient is 1: max pooling routes it
    to the argmax, average pooling spreads it evenly). selected: the output unit explained
    first (default: the middle one).
    Controls: ``window``, ``stride``, ``padding``, ``mode``, ``image``, ``shift``, ``show``.
    Views at one pixel scale (``scale``): ``input_view`` (PNG: padding tinted blue, the
    selected unit's window outlined), ``output_view`` (ipycanvas ``Canvas``: click or hover a
    unit), ``shifted_view`` (PNG: the output of the shifted input, changed units outlined in
    red), ``size_label``, ``selection_label``, ``unit_label`` (the selected unit: its window,
    the value kept, the argmax), ``shift_label`` (the fraction of unchanged outputs).
    State after every update: ``output`` (Ho, Wo) or None, ``indices`` (flat argmax, max mode,
    else None), ``error``, ``selected`` (i, j), ``unit`` (``cnnkit.units.PoolUnit``),
    ``shifted_output``, ``unchanged`` (fraction of outputs equal after the shift),
    ``gradient`` (H, W): dL/dx for dL/dout = 1 everywhere. Invalid settings are reported in
    ``size_label``, never raised. ``select(i, j)`` does what a click does. The work is done by
    ``cnnkit.pool`` (forward and backward) and ``cnnkit.units``.
    """

    def __init__(self, image="photo", window: int = 2, stride: int = 2, padding: int = 0,
                 mode: str = "max", images: dict | None = None, *, digit: int = 7,
                 shift: int = 0, show: str = "forward",
                 selected: tuple[int, int] | None = None):
        default = {"photo": data.sample_photo(), "digit": data.mnist_digit(digit)}
        self.images, image = _choose_image(images, image, default)
        if self.images[image].ndim != 2:
            raise ValueError(f"image must be one grey (H, W) plane; got shape "
                             f"{self.images[image].shape}")
        if mode not in POOL_MODES:
            raise ValueError(f"mode must be one of {list(POOL_MODES)}; got {mode!r}")
        show = check_choice(show, "show", POOL_SHOWS)
        self.image = W.ToggleButtons(options=list(self.images), value=image, description="image")
        self.mode = W.ToggleButtons(options=list(POOL_MODES), value=mode, description="mode")
        self.show = W.ToggleButtons(options=list(POOL_SHOWS), value=show, description="show")
        self.window = W.IntSlider(value=window, min=1, max=8, description="window")
        self.stride = W.IntSlider(value=stride, min=1, max=8, description="stride")
        self.padding = W.IntSlider(value=padding, min=0, max=4, description="padding")
        self.shift = W.IntSlider(value=check_int(shift, "shift", 0, 3), min=0, max=3,
                                 description="shift (px)")
        self.size_label, self.selection_label = W.HTML(), W.HTML()
        self.size_label.add_class("cnnkit-output-size")
        self.unit_label, self.shift_label = W.HTML(), W.HTML()
        self.unit_label.add_class("cnnkit-formula")
        self.shift_label.add_class("cnnkit-shift")
        self.input_caption = W.Label()
        self.input_view = W.Image(format="png")
        self.input_view.add_class("cnnkit-input-image")
        self._output_canvas = _PixelCanvas(self.select, "cnnkit-output-image")
        self.output_view = self._output_canvas.canvas
        self.shifted_view = W.Image(format="png")
        self.output: np.ndarray | None = None  # the last output, (Ho, Wo)
        self.indices: np.ndarray | None = None  # its argmax positions (max mode), (Ho, Wo)
        self.error: str | None = None  # why the last update had no output
        self.selected: tuple[int, int] | None = None if selected is None else tuple(selected)
        self.unit = None
        self.shifted_output: np.ndarray | None = None
        self.unchanged: float | None = None
        self.gradient: np.ndarray | None = None
        self.scale = 1

        for control in (self.image, self.mode, self.window, self.stride, self.padding,
                        self.shift, self.show):
            control.observe(self._on_control, names="value")
        self.ui = W.VBox([
            W.HBox([self.image, self.mode]),
            W.HBox([self.window, self.stride, self.padding]),
            W.HBox([self.shift, self.show]),
            W.HBox([W.VBox([self.input_caption, self.input_view]),
                    W.VBox([W.Label("output (click or hover a unit)"), self.output_view]),
                    W.VBox([W.Label("output of the shifted input"), self.shifted_view])],
                   layout=W.Layout(align_items="flex-start")),
            self.size_label,
            self.unit_label,
            self.shift_label,
            self.selection_label,
        ])
        self.ui.add_class("cnnkit-pooling-explorer")
        self.update()

    def current_image(self) -> np.ndarray:
        """The selected input image, (H, W) float32 in [0, 1]."""
        return self.images[self.image.value]

    def output_pixels(self) -> np.ndarray | None:
        """What the output view shows: (Ho*scale, Wo*scale, 3) floats in [0, 1], or None."""
        return None if self.output is None else self._output_canvas.rgb

    def _on_control(self, change) -> None:
        self.update()

    def _pool(self, img: np.ndarray):
        """(out, indices or None) of the current settings on an (H, W) image."""
        k, s, p = self.window.value, self.stride.value, self.padding.value
        if self.mode.value == "max":
            out, idx = pool.max_pool2d(img[None, None], k, s, p, return_indices=True)
            return out[0, 0], idx[0, 0]
        return pool.avg_pool2d(img[None, None], k, s, p)[0, 0], None

    def _show_error(self, message: str) -> None:
        self.output, self.indices, self.error, self.unit = None, None, message, None
        self.shifted_output = self.unchanged = self.gradient = None
        self.size_label.value = (
            f"<span style='color:#b00'>no output: {html.escape(message)}</span>"
        )
        self.selection_label.value = self.unit_label.value = self.shift_label.value = ""
        self.input_caption.value = "input"
        _show_png(self.input_view,
                  views.enlarge(views.grey_rgb(self.current_image()), self.scale))
        self.output_view.layout.visibility = "hidden"

    def update(self) -> None:
        """Recompute the output, its size, the shift comparison and the gradient."""
        img = self.current_image()
        self.scale = views.scale_for(img.shape)
        try:
            out, idx = self._pool(img)
        except ValueError as err:
            self._show_error(str(err))
            return
        self.output, self.indices, self.error = out, idx, None
        self._show_size()
        self._show_shift()
        k, s, p = self.window.value, self.stride.value, self.padding.value
        ones = np.ones((1, 1, *out.shape))
        backward = pool.max_pool2d_backward if idx is not None else pool.avg_pool2d_backward
        self.gradient = backward(ones, img[None, None], k, s, p)[0, 0]
        self.output_view.layout.visibility = "visible"
        i, j = self.selected if self.selected is not None else (out.shape[0] // 2,
                                                               out.shape[1] // 2)
        self.select(min(i, out.shape[0] - 1), min(j, out.shape[1] - 1))

    def _show_size(self) -> None:
        img, out, mode = self.current_image(), self.output, self.mode.value
        k, s, p = self.window.value, self.stride.value, self.padding.value
        H, Wd = img.shape
        formula = " x ".join(
            f"floor(({n} + 2*{p} - {k})/{s}) + 1 = {conv.output_size(n, k, s, p)}"
            for n in (H, Wd)
        )
        self.size_label.value = (
            f"input {H}x{Wd}, {mode} pooling, window {k}x{k}, stride {s}, padding {p} "
            f"&rarr; <b>output {out.shape[0]}x{out.shape[1]}</b><br><code>{formula}</code>"
        )
        if self.indices is None:
            self.selection_label.value = (
                f"average pooling keeps no single pixel: each output is the mean of its "
                f"{k * k} window cells (padded zeros count)")
        else:
            kept = np.unique(self.indices).size
            self.selection_label.value = (
                f"red: the {kept} input pixels ({100 * kept / img.size:.0f}% of {img.size}) "
                f"that the {out.size} windows took their maximum from; on ties (e.g. a flat "
                f"black background) the first cell of the window, in reading order, wins")

    def _show_shift(self) -> None:
        """Pool the shifted input; outline the outputs that changed."""
        shift = self.shift.value
        moved, _ = self._pool(units.shift_right(self.current_image(), shift))
        self.shifted_output = moved
        self.unchanged = units.unchanged_fraction(self.output, moved)
        rgb = views.grey_rgb(moved, *self._output_range())
        big = views.enlarge(rgb, self.scale)
        changed = np.nonzero(~np.isclose(self.output, moved, rtol=0.0, atol=1e-6))
        views.outline(big, changed[0], changed[1], self.scale, color=(0.9, 0.1, 0.1), width=1)
        _show_png(self.shifted_view, big)
        self.shift_label.value = (
            f"shifted {shift} px right: <b>{100 * self.unchanged:.0f}%</b> of the "
            f"{self.output.size} outputs unchanged (changed ones outlined in red)"
            if shift else "shift the input (slider) to see which outputs change")

    def _output_range(self) -> tuple[float, float]:
        img = self.current_image()
        return float(min(img.min(), 0.0)), float(img.max())

    def _input_big(self) -> np.ndarray:
        """The input (or its gradient), padded, enlarged, the selected window outlined."""
        img, p = self.current_image(), self.padding.value
        if self.show.value == "gradient":
            rgb = views.grey_rgb(self.gradient, 0.0, float(self.gradient.max()) or 1.0)
            rgb = rgb * np.array([1.0, 0.85, 0.4])  # warm: "how much gradient arrives"
            self.input_caption.value = "gradient reaching each input pixel (dL/dout = 1)"
        elif self.indices is not None:
            rgb = viz.highlight_pixels(img, self.indices)
            self.input_caption.value = "input (red: the pixels max pooling keeps)"
        else:
            rgb = views.grey_rgb(img)
            self.input_caption.value = "input"
        rgb = np.pad(rgb, ((p, p), (p, p), (0, 0)))
        if p:
            rgb[:p], rgb[-p:], rgb[:, :p], rgb[:, -p:] = (views.PADDED,) * 4
        big = views.enlarge(rgb, self.scale)
        r, c = np.meshgrid(self.unit.window.rows, self.unit.window.cols, indexing="ij")
        return views.outline(big, r, c, self.scale, offset=(p, p))

    def select(self, i: int, j: int) -> None:
        """Explain pooled unit (i, j): outline its window, say what it kept."""
        if self.output is None:
            return
        k, s, p = self.window.value, self.stride.value, self.padding.value
        self.unit = units.pool_unit(self.current_image(), i, j, k, s, p, self.mode.value)
        self.selected = (int(i), int(j))
        _show_png(self.input_view, self._input_big())
        big = views.enlarge(views.grey_rgb(self.output, *self._output_range()), self.scale)
        views.outline(big, [i], [j], self.scale, width=max(1, self.scale // 2))
        self._output_canvas.show(big, self.scale)
        self.unit_label.value = self._unit_html()

    def _unit_html(self) -> str:
        u, (i, j), k = self.unit, self.selected, self.window.value
        where = (f"window rows {_taps(u.window.rows)}, columns {_taps(u.window.cols)}"
                 + ("" if u.window.inside.all() else " (outside the input: padding)"))
        if u.argmax is None:
            said = (f"mean of the {k * k} cells = <b>{u.value:.4g}</b>; backward: each cell "
                    f"gets 1/{k * k} = {1 / (k * k):.4g} of the unit's gradient")
        else:
            said = (f"max = <b>{u.value:.4g}</b> at input (row {u.argmax[0]}, column "
                    f"{u.argmax[1]}); backward: the whole gradient goes to that cell, the "
                    f"others get 0")
        shown = np.where(np.isfinite(u.window.values[0]), u.window.values[0], np.nan)
        return (f"<b>output unit (row {i}, column {j})</b>: {where}<br>"
                f"{_matrix_html(shown)}{said}")

    def picture(self) -> bytes:
        """PNG: the input (window outlined), the output and the shifted output, with the
        size formula, the selected unit and the shift result."""
        panels = [(self.input_caption.value, self.input_view.value)]
        if self.output is not None:
            panels += [("output", self._output_canvas.rgb)]
            if self.shift.value:
                panels += [(f"shifted {self.shift.value} px", self.shifted_view.value)]
        lines = [views.html_to_text(v.value) for v in (self.size_label, self.unit_label,
                                                       self.shift_label)]
        return views.compose_picture("PoolingExplorer", panels, lines)

    def summary(self) -> str:
        """One line: the settings and the output size."""
        size = "no output" if self.output is None else "output {}x{}".format(*self.output.shape)
        return (f"PoolingExplorer: {self.mode.value} pooling on {self.image.value}, window "
                f"{self.window.value}, stride {self.stride.value}, padding "
                f"{self.padding.value} -> {size}")
