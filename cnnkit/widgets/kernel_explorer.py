"""``KernelExplorer`` (lesson 1): a kernel on an image, one output pixel's arithmetic."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from cnnkit import conv, data, kernels, units
from cnnkit._validate import check_choice
from cnnkit.widgets import views
from cnnkit.widgets._common import (
    CUSTOM,
    _choose_image,
    _flat,
    _matrix_html,
    _Pictured,
    _PixelCanvas,
    _show_png,
    _taps,
)

OPERATIONS = ("correlation", "convolution")
CHANNELS = ("R", "G", "B")


class KernelExplorer(_Pictured):
    """Pick or edit a kernel, stride, padding and dilation; see the output, its size, and what
    any one output pixel computes.

    image: "photo" (Grace Hopper), "photo (RGB)" (in colour: one 3-channel filter, the kernel
    times a weight per channel), "digit" (a real MNIST ``digit``), a key of ``images``, or an
    array (H, W) / (3, H, W) / (H, W, 3) in [0, 1] (e.g. the notebook's digit image).
    operation: "correlation" (what CNN layers compute) or "convolution" (the kernel turned 180
    degrees first). bias, relu: the layer's bias and an optional ReLU after it.
    selected: the output unit (row, column) explained first (default: the middle one).

    Controls: ``kernel``, ``cells`` (the kernel's values; editing one switches to "custom"),
    ``rows``/``cols`` (the kernel's size, 1..7: custom kernels may be rectangular),
    ``operation``, ``bias``, ``relu``, ``mix`` (the filter's weight per colour channel, RGB
    input only), ``stride``, ``padding``, ``dilation``, ``image``.
    Views, all at one pixel scale (``scale`` screen pixels per image pixel) so that stride,
    padding and dilation visibly change the output's size: ``input_view`` (PNG: the padded
    input, padding tinted blue, the selected unit's window outlined tap by tap),
    ``output_view`` (an ipycanvas ``Canvas``: click or hover a pixel to select it),
    ``colorbar_view``, ``formula_view`` (HTML: window, weights, products, sum + bias, result),
    ``sliding_view`` (the weights that actually slide: flipped for a convolution),
    ``size_label``, ``meaning_label``.
    State after every update: ``output`` (Ho, Wo) or None, ``error``, ``selected`` (i, j),
    ``unit`` (``cnnkit.units.ConvUnit`` of the selected pixel). ``select(i, j)`` does from
    Python what a click does. The map comes from ``cnnkit.conv.conv2d``, the explanation from
    ``cnnkit.units.conv_unit``.
    """

    def __init__(self, kernel: str = "edge_detect", image="photo", stride: int = 1,
                 padding: int = 0, dilation: int = 1, images: dict | None = None, *,
                 digit: int = 7, operation: str = "correlation", bias: float = 0.0,
                 relu: bool = False, selected: tuple[int, int] | None = None):
        default = {"photo": data.sample_photo(), "photo (RGB)": data.sample_photo(gray=False),
                   "digit": data.mnist_digit(digit)}
        self.images, image = _choose_image(images, image, default)
        kernels.get(kernel)  # a clear KeyError for an unknown name, before building widgets
        operation = check_choice(operation, "operation", OPERATIONS)
        self.kernel = W.Dropdown(options=[*kernels.names(), CUSTOM], value=kernel,
                                 description="kernel")
        self.image = W.ToggleButtons(options=list(self.images), value=image, description="image")
        self.operation = W.ToggleButtons(options=OPERATIONS, value=operation,
                                         description="operation")
        self.stride = W.IntSlider(value=stride, min=1, max=4, description="stride")
        self.padding = W.IntSlider(value=padding, min=0, max=4, description="padding")
        self.dilation = W.IntSlider(value=dilation, min=1, max=3, description="dilation")
        self.rows = W.IntSlider(value=3, min=1, max=7, description="kernel rows")
        self.cols = W.IntSlider(value=3, min=1, max=7, description="kernel cols")
        self.bias = W.FloatText(value=bias, description="bias", layout=W.Layout(width="160px"))
        self.relu = W.Checkbox(value=relu, description="ReLU after the layer")
        self.mix = [W.FloatText(value=1 / 3, description=f"{c} weight",
                                layout=W.Layout(width="150px")) for c in CHANNELS]
        self.mix_box = W.HBox(self.mix)
        self.cells_box = W.GridBox(layout=W.Layout(grid_gap="2px"))
        self.cells: list[list[W.FloatText]] = []
        self.sliding_view, self.meaning_label, self.size_label = W.HTML(), W.HTML(), W.HTML()
        self.size_label.add_class("cnnkit-output-size")
        self.formula_view = W.HTML()
        self.formula_view.add_class("cnnkit-formula")
        self.input_view = W.Image(format="png")
        self.input_view.add_class("cnnkit-input-image")
        self._output_canvas = _PixelCanvas(self.select, "cnnkit-output-image")
        self.output_view = self._output_canvas.canvas
        self.colorbar_view = W.HTML()
        self._colorbar = ("gray", 0.0, 1.0)  # (cmap, lo, hi) of the output view
        self._syncing = False
        self.output: np.ndarray | None = None  # the last output, (Ho, Wo)
        self.error: str | None = None  # why the last update had no output
        self.selected: tuple[int, int] | None = None if selected is None else tuple(selected)
        self.unit = None
        self.scale = 1

        self._set_cells(kernels.get(kernel))
        self.kernel.observe(self._on_kernel, names="value")
        for control in (self.rows, self.cols):
            control.observe(self._on_size, names="value")
        for control in (self.image, self.stride, self.padding, self.dilation, self.operation,
                        self.bias, self.relu, *self.mix):
            control.observe(self._on_control, names="value")
        self.ui = self._layout()
        self.ui.add_class("cnnkit-kernel-explorer")
        self.update()

    def _layout(self) -> W.VBox:
        return W.VBox([
            W.HBox([self.kernel, self.image]),
            W.HBox([W.VBox([self.stride, self.padding, self.dilation, self.operation,
                            W.HBox([self.bias, self.relu])]),
                    W.VBox([W.Label("kernel values (edit me)"), self.cells_box,
                            self.rows, self.cols], layout=W.Layout(flex="0 0 auto")),
                    self.sliding_view]),
            self.mix_box,
            self.meaning_label,
            W.HBox([W.VBox([W.Label("input (padding in blue)"), self.input_view]),
                    W.VBox([W.Label("output (click or hover a pixel)"), self.output_view]),
                    self.colorbar_view],
                   layout=W.Layout(align_items="flex-start")),
            self.size_label,
            self.formula_view,
        ])

    # --- reading the controls -------------------------------------------------------------
    def kernel_values(self) -> np.ndarray:
        """The kernel currently in the editor, (kh, kw) float64."""
        return np.array([[cell.value for cell in row] for row in self.cells], dtype=np.float64)

    def current_image(self) -> np.ndarray:
        """The selected input image, (H, W) or (3, H, W) float32 in [0, 1]."""
        return self.images[self.image.value]

    def filter_weights(self) -> np.ndarray:
        """The layer's one filter as written, (C, kh, kw): the kernel, times each channel's
        weight for a colour input."""
        k = self.kernel_values()
        if self.current_image().ndim == 2:
            return k[None]
        return np.stack([m.value * k for m in self.mix])

    def output_pixels(self) -> np.ndarray | None:
        """What the output view shows: (Ho*scale, Wo*scale, 3) floats in [0, 1], or None."""
        return None if self.output is None else self._output_canvas.rgb

    def sliding_weights(self) -> np.ndarray:
        """The weights that slide over the input, (C, kh, kw): the filter, turned 180 degrees
        for a convolution."""
        w = self.filter_weights()
        return w[:, ::-1, ::-1].copy() if self.operation.value == "convolution" else w

    # --- events -----------------------------------------------------------------------------
    def _set_cells(self, values: np.ndarray) -> None:
        """Rebuild the editor grid for a kernel of this shape, holding these values."""
        self._syncing = True
        self.cells = [[W.FloatText(value=float(v), layout=W.Layout(width="62px")) for v in row]
                      for row in values]
        for row in self.cells:
            for cell in row:
                cell.observe(self._on_cell, names="value")
        self.cells_box.children = [cell for row in self.cells for cell in row]
        self.cells_box.layout.grid_template_columns = f"repeat({values.shape[1]}, 64px)"
        self.rows.value, self.cols.value = values.shape
        self._syncing = False

    def _on_kernel(self, change) -> None:
        if change["new"] != CUSTOM:
            self._set_cells(kernels.get(change["new"]))
        self.update()

    def _on_size(self, change) -> None:
        if self._syncing:
            return
        old = self.kernel_values()
        new = np.zeros((self.rows.value, self.cols.value))
        h, w = min(old.shape[0], new.shape[0]), min(old.shape[1], new.shape[1])
        new[:h, :w] = old[:h, :w]
        self._set_cells(new)
        if self.kernel.value != CUSTOM:
            self.kernel.value = CUSTOM  # _on_kernel keeps the resized grid and updates
        else:
            self.update()

    def _on_cell(self, change) -> None:
        if self._syncing:
            return
        if self.kernel.value != CUSTOM:
            self.kernel.value = CUSTOM  # _on_kernel keeps the edited grid and updates
        else:
            self.update()

    def _on_control(self, change) -> None:
        self.update()

    # --- the view -----------------------------------------------------------------------------
    def update(self) -> None:
        """Recompute the output, its size and the selected unit from the controls."""
        img = self.current_image()
        x = img if img.ndim == 3 else img[None]
        self.mix_box.layout.display = None if img.ndim == 3 else "none"
        self.scale = views.scale_for(img.shape)
        self._show_meaning()
        s, p, d = self.stride.value, self.padding.value, self.dilation.value
        try:
            out = conv.conv2d(x[None], self.sliding_weights()[None],
                              np.array([self.bias.value]), stride=s, padding=p,
                              dilation=d)[0, 0]
        except ValueError as err:
            self._show_error(str(err))
            return
        if self.relu.value:
            out = np.maximum(out, 0.0)
        self.output, self.error = out, None
        self._show_size()
        self._show_output()
        i, j = self.selected if self.selected is not None else (out.shape[0] // 2,
                                                               out.shape[1] // 2)
        self.select(min(i, out.shape[0] - 1), min(j, out.shape[1] - 1))

    def _show_meaning(self) -> None:
        name, w = self.kernel.value, self.sliding_weights()
        self.meaning_label.value = (
            f"<b>{html.escape(name)}</b>: "
            + html.escape(kernels.meaning(name) if name != CUSTOM else "your own weights")
            + f" (sum of weights {self.kernel_values().sum():.3g})"
        )
        flipped = self.operation.value == "convolution"
        title = ("convolution turns the kernel 180&deg;: these weights slide" if flipped
                 else "correlation: the kernel slides as written")
        self.sliding_view.value = (f"<div style='font-size:90%'>{title}<br>"
                                   f"{_matrix_html(w.sum(axis=0) if w.shape[0] > 1 else w[0])}"
                                   "</div>")

    def _show_error(self, message: str) -> None:
        self.output, self.error, self.unit = None, message, None
        self.size_label.value = f"<span style='color:#b00'>{html.escape(message)}</span>"
        self.formula_view.value = ""
        _show_png(self.input_view, self._input_big(None))

    def _show_size(self) -> None:
        img, k, out = self.current_image(), self.kernel_values(), self.output
        s, p, d = self.stride.value, self.padding.value, self.dilation.value
        H, Wd = img.shape[-2:]
        kh, kw = k.shape
        formula = " x ".join(
            f"floor(({n} + 2*{p} - {d}*({kk}-1) - 1)/{s}) + 1 = {conv.output_size(n, kk, s, p, d)}"
            for n, kk in ((H, kh), (Wd, kw))
        )
        self.size_label.value = (
            f"input {H}x{Wd}, kernel {kh}x{kw} &rarr; <b>output {out.shape[0]}x{out.shape[1]}</b>"
            f" (same pixel scale: {self.scale} screen px per pixel)<br><code>{formula}</code>"
        )

    def _colour_rule(self) -> tuple[str, float, float]:
        """(cmap, lo, hi) for the output: an image-like kernel (weights >= 0 summing to 1) in
        the input's range, signed outputs diverging around 0, others grey from 0."""
        k, out, img = self.filter_weights(), self.output, self.current_image()
        if k.min() >= 0 and abs(k.sum() - 1) < 1e-6 and not self.bias.value:
            return "gray", float(min(img.min(), 0)), float(max(img.max(), 1e-12))
        if out.min() < 0:
            m = float(np.abs(out).max()) or 1.0
            return views.DIVERGING, -m, m
        return "gray", 0.0, float(out.max()) or 1.0

    def _show_output(self) -> None:
        cmap, lo, hi = self._colour_rule()
        if cmap == "gray":
            rgb = views.grey_rgb(self.output, lo, hi)
        else:
            rgb = views.signed_rgb(self.output, hi)
        self._output_rgb, self._colorbar = rgb, (cmap, lo, hi)
        self.colorbar_view.value = views.colorbar_html(lo, hi, cmap,
                                                       self.output.shape[0] * self.scale,
                                                       "output value")

    def _input_big(self, unit) -> np.ndarray:
        """The padded input, enlarged, padding tinted, the unit's window outlined."""
        img, p = self.current_image(), self.padding.value
        x = img if img.ndim == 3 else img[None]
        xp = np.pad(x, ((0, 0), (p, p), (p, p)))
        rgb = views.to_rgb(xp if img.ndim == 3 else xp[0], signed=False,
                           lo=min(0.0, float(x.min())), hi=float(x.max()))
        if p:
            mask = np.ones(rgb.shape[:2], bool)
            mask[p:-p, p:-p] = False
            rgb[mask] = 0.5 * rgb[mask] + 0.5 * np.array(views.PADDED)
        big = views.enlarge(rgb, self.scale)
        if unit is not None:
            r, c = np.meshgrid(unit.window.rows, unit.window.cols, indexing="ij")
            views.outline(big, r, c, self.scale, offset=(p, p))
        return big

    def select(self, i: int, j: int) -> None:
        """Explain output unit (i, j): outline its window, fill the formula panel."""
        if self.output is None:
            return
        img = self.current_image()
        self.unit = units.conv_unit(img, self.filter_weights(), i, j, self.bias.value,
                                    self.stride.value, self.padding.value, self.dilation.value,
                                    flip=self.operation.value == "convolution",
                                    relu=self.relu.value)
        self.selected = (int(i), int(j))
        _show_png(self.input_view, self._input_big(self.unit))
        big = views.enlarge(self._output_rgb, self.scale)
        views.outline(big, [i], [j], self.scale, width=max(1, self.scale // 2))
        self._output_canvas.show(big, self.scale)
        self.formula_view.value = self._formula_html()

    def _formula_html(self) -> str:
        u, (i, j) = self.unit, self.selected
        chans = [""] if u.weights.shape[0] == 1 else [f" ({c})" for c in CHANNELS]
        tables = []
        for c, name in enumerate(chans):
            tables += [("window" + name, u.window.values[c]),
                       ("weights" + name, u.weights[c]),
                       ("products" + name, u.products[c])]
        grid = "<table><tr>" + "".join(
            f"<td style='padding:0 10px;vertical-align:top'><b>{html.escape(t)}</b><br>"
            f"{_matrix_html(m)}</td>" for t, m in tables) + "</tr></table>"
        return (
            f"<b>output pixel (row {i}, column {j})</b>: window rows "
            f"{_taps(u.window.rows)}, columns {_taps(u.window.cols)} of the input"
            f"{' (negative or past the edge: padding)' if not u.window.inside.all() else ''}"
            f"{grid}<code>{_formula_text(u, self.relu.value)}</code>"
        )

    def _formula_lines(self) -> list[str]:
        """The formula panel as text lines (for the static picture)."""
        if self.unit is None:
            return []
        i, j = self.selected
        u = self.unit
        lines = [f"output pixel (row {i}, column {j}): window rows {_taps(u.window.rows)}, "
                 f"columns {_taps(u.window.cols)}"]
        if u.weights.size <= 25:  # small enough to write out
            lines += [f"{name}: {_flat(m)}" for name, m in (
                ("window", u.window.values), ("weights", u.weights), ("products", u.products))]
        return [*lines, _formula_text(u, self.relu.value)]

    def picture(self) -> bytes:
        """PNG: the input (window outlined), the output (pixel outlined), the colour bar, the
        size formula and the selected pixel's arithmetic."""
        panels = [("input (padding in blue)", self.input_view.value)]
        if self.output is not None:
            cmap, lo, hi = self._colorbar
            bar = views.colorbar_png(lo, hi, cmap, self._output_canvas.rgb.shape[0], "value")
            panels += [(f"output {self.output.shape[0]}x{self.output.shape[1]}",
                        self._output_canvas.rgb), ("", bar)]
        lines = [views.html_to_text(self.meaning_label.value),
                 views.html_to_text(self.size_label.value), *self._formula_lines()]
        return views.compose_picture(f"KernelExplorer ({self.operation.value})", panels, lines)

    def summary(self) -> str:
        """One line: the kernel, the settings and the output size."""
        size = "no output" if self.output is None else "output {}x{}".format(*self.output.shape)
        return (f"KernelExplorer: {self.kernel.value} ({self.operation.value}) on "
                f"{self.image.value}, stride {self.stride.value}, padding {self.padding.value}, "
                f"dilation {self.dilation.value} -> {size}")


def _formula_text(u, relu: bool) -> str:
    """sum of products + bias = pre-activation (-> ReLU) = value."""
    n = u.products.size
    text = (f"sum of the {n} products = {u.total:.4g}; + bias {u.bias:.4g} = "
            f"{u.pre_activation:.4g}")
    if relu:
        text += f"; ReLU: max(0, {u.pre_activation:.4g}) = {u.value:.4g}"
    return text + f"  ->  output value {u.value:.4g}"
