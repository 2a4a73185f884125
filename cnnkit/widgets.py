"""ipywidgets front ends over the course's functions. No logic of their own: each widget reads
its controls, calls ``cnnkit`` functions, and shows what they return.

Every widget can be driven from Python (set a control's ``.value``; the views update
synchronously), which is how the tests use them without a browser.
"""

from __future__ import annotations

import html
import io

import ipywidgets as W
import numpy as np

from cnnkit import conv, data, drawing, kernels, pool, units, viz
from cnnkit import widget_views as views
from cnnkit._validate import check_choice, check_int, check_real, is_int

__all__ = ["KernelExplorer", "PoolingExplorer", "LayerInspector", "ResNetExplorer", "DigitPad"]

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


def _flat(m) -> str:
    """A small matrix on one line: rows separated by " | "."""
    return " | ".join(" ".join(f"{v:.3g}" for v in row) for row in np.asarray(m).reshape(
        -1, np.asarray(m).shape[-1]))


def _taps(coords) -> str:
    return ", ".join(str(int(c)) for c in coords)


def _formula_text(u, relu: bool) -> str:
    """sum of products + bias = pre-activation (-> ReLU) = value."""
    n = u.products.size
    text = (f"sum of the {n} products = {u.total:.4g}; + bias {u.bias:.4g} = "
            f"{u.pre_activation:.4g}")
    if relu:
        text += f"; ReLU: max(0, {u.pre_activation:.4g}) = {u.value:.4g}"
    return text + f"  ->  output value {u.value:.4g}"


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


def _lesson3_models() -> dict:
    """The three LeNets of lesson 3, untrained (seeded), with their input sizes."""
    import torch

    from cnnkit.models import LeNet5, LeNet5Classic, LeNetCIFAR

    with torch.random.fork_rng():
        torch.manual_seed(0)
        return {"LeNet-5 (1998)": (LeNet5Classic(), (1, 1, 32, 32)),
                "LeNet-5 (modern)": (LeNet5(), (1, 1, 28, 28)),
                "LeNet CIFAR": (LeNetCIFAR(), (1, 3, 32, 32))}


class LayerInspector(_Pictured):
    """Pick a model, one of its layers and an input; see the layer's shapes, parameters,
    connections, MACs and receptive field, its weights, and what it computes for the input.

    models: {name: (model, input_size)}; default: the three LeNets of lesson 3, untrained
    (lesson 4 passes trained ones). model, layer: what to show first (default: the first of
    each). input: what to run through the model first: a digit label 0-9 (a real test
    digit), or an image array (H, W) / (C, H, W) in [0, 1] (centred in the model's input if
    smaller). mean, std: the training normalisation applied to every input (None: none).
    pad: a ``DigitPad`` whose drawn digit is one of the inputs ("drawn digit").
    Controls: ``model``, ``layer`` (the rows of ``cnnkit.inspect.layer_table``), ``input``.
    Views: ``info`` (HTML: the selected layer), ``input_view`` (PNG: the input, the selected
    unit's receptive field outlined), ``maps_view`` (ipycanvas ``Canvas``: the layer's feature
    maps for the input, at most 16; click a unit), ``unit_label`` (the unit's value, its
    receptive field), ``f6_view`` (classic LeNet-5, layers F6 and output: F6 as a 12x7 bitmap
    beside the ten prototypes, with the distances), ``overview_view`` (HTML: every layer's
    maps for the input), ``weights_view`` / ``weights_label``, ``table_view``.
    State: ``table``, ``row``, ``weights`` ((kind, array) or None), ``acts`` ({layer: output
    for the input}, from ``cnnkit.activations``), ``selected_unit`` ((map, i, j) or None),
    ``box`` (the unit's receptive field (top, left, bottom, right) in the input).
    ``select_unit(map, i, j)`` does what a click on the maps does.
    """

    def __init__(self, models: dict | None = None, model: str | None = None,
                 layer: str | None = None, *, input=None, mean=None, std=None, pad=None):
        from cnnkit import inspect

        self._inspect = inspect
        self.models = models or _lesson3_models()
        model = model if model is not None else next(iter(self.models))
        if model not in self.models:
            raise ValueError(f"model must be one of {list(self.models)}; got {model!r}")
        if (mean is None) != (std is None):
            raise ValueError("mean and std: give both or neither")
        self.mean, self.std, self.pad = mean, std, pad
        if pad is not None:  # a new drawing re-runs the model when it is the input shown
            pad.listeners.append(lambda _: self.refresh() if self.input.value == "drawn digit"
                                 else None)
        self._own_input = None if input is None or is_int(input) else _as_image(input, "input")
        self._first_input = input
        self.model = W.Dropdown(options=list(self.models), value=model, description="model")
        self.layer = W.Dropdown(description="layer")
        self.input = W.Dropdown(description="input")
        self.table_view, self.info = W.HTML(), W.HTML()
        self.info.add_class("cnnkit-layer-info")
        self.weights_label = W.HTML()
        self.weights_view = W.Image(format="png", layout=W.Layout(max_width="640px"))
        self.input_view = W.Image(format="png")
        self._maps_canvas = _PixelCanvas(self._on_map_cell, "cnnkit-feature-maps", hover=False)
        self.maps_view = self._maps_canvas.canvas
        self.unit_label, self.overview_view = W.HTML(), W.HTML()
        self.f6_view = W.Image(format="png")
        self.unit_label.add_class("cnnkit-unit-info")
        self.table = self.row = self.weights = None
        self.acts: dict[str, np.ndarray] = {}
        self.selected_unit: tuple[int, int, int] | None = None
        self.box: tuple[int, int, int, int] | None = None
        self._mosaic = None  # (maps shown, columns, map height, map width)
        self._syncing = False
        self._load_model(layer)
        self.model.observe(self._on_model, names="value")
        self.layer.observe(self._on_layer, names="value")
        self.input.observe(self._on_input, names="value")
        self.ui = W.VBox([
            W.HBox([self.model, self.layer, self.input]), self.info,
            W.HBox([W.VBox([W.Label("input (red: the unit's receptive field)"),
                            self.input_view]),
                    W.VBox([W.Label("the layer's maps for this input (click a unit)"),
                            self.maps_view]), self.f6_view],
                   layout=W.Layout(align_items="flex-start")),
            self.unit_label, self.weights_label, self.weights_view,
            W.HTML("<b>every layer for this input</b>"), self.overview_view, self.table_view])
        self.ui.add_class("cnnkit-layer-inspector")

    def current_module(self):
        """The selected layer's module."""
        net, _ = self.models[self.model.value]
        return net.get_submodule(self.row.name) if self.row.name else net

    # --- inputs -----------------------------------------------------------------------------
    def _input_options(self) -> list[str]:
        channels = self.models[self.model.value][1][1]
        options = [f"test digit {d}" for d in range(10)] if channels == 1 else ["photo"]
        if self.pad is not None and channels == 1:
            options.append("drawn digit")
        if self._own_input is not None and (self._own_input.ndim == 2) == (channels == 1):
            options.insert(0, "your input")
        return options

    def input_image(self) -> np.ndarray:
        """The selected input, (H, W) or (C, H, W) in [0, 1], before centring/normalising."""
        name = self.input.value
        if name == "your input":
            return self._own_input
        if name == "drawn digit":
            return self.pad.digit
        if name == "photo":
            size = self.models[self.model.value][1][2:]
            return data.sample_photo(size=tuple(size), gray=False)
        return data.mnist_digit(int(name.rsplit(" ", 1)[1]))

    def _load_model(self, layer: str | None = None) -> None:
        net, size = self.models[self.model.value]
        self.table = self._inspect.layer_table(net, size)
        names = self.table.names()
        if layer is not None and layer not in names:
            raise ValueError(f"layer must be one of {names}; got {layer!r}")
        options = self._input_options()
        first = self._first_input
        wanted = ("your input" if self._own_input is not None else
                  f"test digit {first}" if is_int(first) else self.input.value)
        self._syncing = True
        self.layer.options = [(f"{r.name or '(model)'} ({r.type})", r.name) for r in self.table]
        self.layer.value = layer if layer is not None else names[0]
        self.input.options = options
        self.input.value = wanted if wanted in options else options[0]
        self._syncing = False
        self.table_view.value = self.table._repr_html_()
        self._run()
        self.update()

    def _run(self) -> None:
        """Run the model on the selected input; refresh the overview of every layer."""
        from cnnkit import activations

        net, size = self.models[self.model.value]
        x = activations.model_input(self.input_image(), size, self.mean, self.std)
        self.acts = activations.activations(net, x)
        self._input_rgb = views.to_rgb(self._shown_input(size), signed=False, lo=0.0, hi=1.0)
        self.overview_view.value = _overview_html(self.table, self.acts)

    def _shown_input(self, size) -> np.ndarray:
        """The input as the model gets it, before normalisation: (H, W) or (3, H, W)."""
        from cnnkit import activations

        x = activations.model_input(self.input_image(), size)[0].numpy()
        return x[0] if x.shape[0] == 1 else x

    # --- events -----------------------------------------------------------------------------
    def _on_model(self, change) -> None:
        self._load_model()

    def _on_layer(self, change) -> None:
        if not self._syncing:
            self.update()

    def _on_input(self, change) -> None:
        if not self._syncing:
            self.refresh()

    def refresh(self) -> None:
        """Run the model again on the selected input (e.g. after drawing on the pad); redraw
        what depends on the input (the layer's table and weights do not)."""
        self._run()
        self._show_maps()
        self._show_f6()

    def update(self) -> None:
        """Show the selected layer (called on every change)."""
        self.row = self.table[self.layer.value]
        self.info.value = self._info_html()
        self._show_weights()
        self._show_maps()
        self._show_f6()

    def _info_html(self) -> str:
        row, totals, ins = self.row, self.table.totals, self._inspect
        share = (f" ({100 * row.trainable / totals.trainable:.1f}% of the model's "
                 f"{totals.trainable:,})" if totals.trainable else "")
        fmt, shape = ins.format_count, ins.format_shape
        shapes = ", ".join(shape(s) for s in row.input_shapes)
        weight = f", weight {shape(row.weight_shape)}" if row.weight_shape else ""
        return (
            f"<b>{html.escape(row.name)}</b> ({html.escape(row.type)}): input {shapes} &rarr; "
            f"output <b>{shape(row.output_shape)}</b>{weight}<br>"
            f"trainable parameters <b>{fmt(row.trainable)}</b>{share}, fixed {fmt(row.fixed)}; "
            f"connections {fmt(row.connections)}; MACs {fmt(row.macs)} per sample<br>"
            f"receptive field {ins.format_axes(row.rf)} input pixels per side, jump "
            f"{ins.format_jump(row)} (input pixels between neighbouring outputs)"
        )

    def _show_weights(self) -> None:
        row = self.row
        self.weights = self._inspect.weights_of(self.current_module())
        if self.weights is None:
            self.weights_label.value = f"<i>{html.escape(row.name)} has no weights to show</i>"
            self.weights_view.layout.display = "none"
            return
        kind, values = self.weights
        self.weights_label.value = f"{html.escape(row.name)}: {kind} {list(values.shape)}"
        fig = viz.show_weights(kind, values, f"{row.name} ({row.type}) weights")
        self.weights_view.value = viz.figure_to_png(fig)
        self.weights_view.layout.display = None

    # --- the layer's maps and one unit ----------------------------------------------------------
    def _layer_output(self) -> np.ndarray | None:
        """The selected layer's output for the input as (maps, H, W); vectors as (1, 1, n)."""
        out = self.acts.get(self.row.name)
        if out is None:
            return None
        return out if out.ndim == 3 else out.reshape(1, 1, -1)

    def _show_maps(self) -> None:
        out = self._layer_output()
        if out is None:
            self.maps_view.layout.display = "none"
            self.selected_unit = self.box = None
            self.unit_label.value = ""
            _show_png(self.input_view, views.enlarge(self._input_rgb, 5))
            return
        shown = out[:16]
        cols = min(len(shown), 8 if out.shape[1] > 1 else 1)
        big, scale = views.feature_mosaic(shown, cols)
        self._mosaic = (len(shown), cols, *out.shape[1:])
        self._maps_rgb, self._maps_scale = big, scale
        self.maps_view.layout.display = None
        c, i, j = self.selected_unit or (0, out.shape[1] // 2, out.shape[2] // 2)
        self.select_unit(min(c, len(shown) - 1), min(i, out.shape[1] - 1),
                         min(j, out.shape[2] - 1))

    def _on_map_cell(self, row: int, col: int) -> None:
        n, cols, h, w = self._mosaic
        k = (row // (h + 1)) * cols + col // (w + 1)
        i, j = row % (h + 1), col % (w + 1)
        if i < h and j < w and k < n:
            self.select_unit(k, i, j)

    def select_unit(self, c: int, i: int, j: int) -> None:
        """Select unit (i, j) of map c of the layer: outline its receptive field on the input."""
        from cnnkit import activations

        out = self._layer_output()
        value = float(out[c, i, j])
        size = self.models[self.model.value][1][2:]
        row = self.row
        spatial = self.acts[row.name].ndim == 3 and row.jump is not None and row.rf
        self.box = (activations.receptive_box(row.rf, row.jump, size, out.shape[1:], i, j)
                    if spatial else (0, 0, size[0] - 1, size[1] - 1))
        self.selected_unit = (int(c), int(i), int(j))
        big = views.enlarge(self._input_rgb, 5)
        views.outline_box(big, self.box, 5, color=(0.9, 0.1, 0.1))
        _show_png(self.input_view, big)
        _, cols, h, w = self._mosaic
        maps = self._maps_rgb.copy()
        views.outline(maps, [(c // cols) * (h + 1) + i], [(c % cols) * (w + 1) + j],
                      self._maps_scale, width=max(1, self._maps_scale // 3))
        self._maps_canvas.show(maps, self._maps_scale)
        where = (f"map {c}, row {i}, column {j}" if spatial else f"unit {j}")
        self.unit_label.value = (
            f"<b>{html.escape(row.name)}</b>, {where}: value <b>{value:.4g}</b>; it sees input "
            f"rows {self.box[0]}&ndash;{self.box[2]}, columns {self.box[1]}&ndash;{self.box[3]}"
            f" ({self.box[2] - self.box[0] + 1}x{self.box[3] - self.box[1] + 1} pixels; "
            f"receptive field {self._inspect.format_axes(row.rf)})")

    def _show_f6(self) -> None:
        """Classic LeNet-5 at F6 or output: F6 as a bitmap beside the prototypes."""
        net = self.models[self.model.value][0]
        rbf = getattr(net, "output", None)
        shape = getattr(rbf, "image_shape", None)
        if shape is None or self.row.name not in ("F6", "output") or "F6" not in self.acts:
            self.f6_view.layout.display = "none"
            return
        protos = rbf.prototype_images().double().numpy()
        f6 = self.acts["F6"].reshape(shape)
        scores = self.acts.get("output")
        self.f6_view.value = views.bitmaps_png([f6, *protos], ["F6", *map(str, range(10))],
                                               scores)
        self.f6_view.layout.display = None

    def picture(self) -> bytes:
        """PNG: the input with the unit's receptive field, the layer's maps, the weights."""
        panels = [("input", self.input_view.value)]
        if self.maps_view.layout.display != "none":
            panels.append((f"{self.row.name} for this input", self._maps_canvas.rgb))
        if self.f6_view.layout.display != "none":
            panels.append(("F6 and the prototypes", self.f6_view.value))
        if self.weights is not None:
            panels.append(("weights", self.weights_view.value))
        lines = [views.html_to_text(self.info.value), views.html_to_text(self.unit_label.value)]
        return views.compose_picture(f"LayerInspector: {self.model.value}, input "
                                     f"{self.input.value}", panels, lines)

    def summary(self) -> str:
        """One line: the model and the selected layer's output shape."""
        row = self.row
        return (f"LayerInspector: {self.model.value}, layer {row.name or '(model)'} "
                f"({row.type}) -> {self._inspect.format_shape(row.output_shape)}")


def _overview_html(table, acts: dict) -> str:
    """One line per layer with spatial maps: its name, shape and (at most 16) maps."""
    import base64

    rows = []
    for r in table:
        out = acts.get(r.name)
        if out is None or out.ndim != 3 or not r.name:
            continue
        big, _ = views.feature_mosaic(out[:16], len(out[:16]), height=40)
        src = base64.b64encode(views.png(big)).decode("ascii")
        rows.append(f"<tr><td style='padding-right:8px'><b>{html.escape(r.name)}</b><br>"
                    f"{'x'.join(map(str, out.shape))}</td><td><img src='data:image/png;base64,"
                    f"{src}'></td></tr>")
    return "<table>" + "".join(rows) + "</table>"


RESNET_DETAILS = ("stage", "block")  # rows of the ResNetExplorer's table: trace depth 1 or 2
RESNET_STAGES = ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")


class ResNetExplorer(_Pictured):
    """Choose a ResNet depth, an input size and a layer; see every stage's output shape and
    where the spatial size halves.

    depth: 18, 34, 50, 101 or 152 (``cnnkit.models.resnet``, built on the meta device: no
    weights in memory). image_size: side of the square input (32..512). layer: the row to
    select first (e.g. "layer2", or "layer2.0" with detail="block"). detail: "stage" (the
    model's children: stem, four stages, pool, fc) or "block" (every residual block).
    batch: N of the traced input (N, 3, image_size, image_size).
    Controls: ``depth`` (dropdown), ``image_size`` (slider, step 16), ``detail`` (toggle
    buttons "rows"), ``layer`` (dropdown of the table's rows).
    Views: ``size_label`` (HTML: the selected layer's input and output shapes, whether it
    halves the spatial size, its parameters, MACs and receptive field), ``halving_label``
    (where the spatial size shrinks), ``chart_view`` (PNG: the spatial size after each stage,
    the selected layer's stage in orange), ``table_view`` (HTML: the trace, selected row
    highlighted).
    State after every update: ``trace`` (the ``cnnkit.inspect.Trace`` shown),
    ``stages`` (the stage-level trace the chart is drawn from), ``row`` (the selected ``Row``),
    ``halvings`` ([(name, (H, W) in, (H, W) out)] for the rows that shrink the map).
    All the work is done by ``cnnkit.inspect.trace`` and ``cnnkit.viz``.
    """

    def __init__(self, depth: int = 50, image_size: int = 224, layer: str | None = None,
                 detail: str = "stage", batch: int = 1):
        from cnnkit import inspect
        from cnnkit.models.resnet_imagenet import RESNET_CONFIGS

        self._inspect = inspect
        depths = list(RESNET_CONFIGS)
        if depth not in depths:
            raise ValueError(f"depth must be one of {depths}; got {depth!r}")
        if not isinstance(image_size, int) or not 32 <= image_size <= 512:
            raise ValueError(f"image_size must be an int from 32 to 512; got {image_size!r}")
        if detail not in RESNET_DETAILS:
            raise ValueError(f"detail must be one of {list(RESNET_DETAILS)}; got {detail!r}")
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be an int >= 1; got {batch!r}")
        self.batch = batch
        self._models: dict = {}
        self.depth = W.Dropdown(options=[(f"ResNet-{d}", d) for d in depths], value=depth,
                                description="depth")
        self.image_size = W.IntSlider(value=image_size, min=32, max=512, step=16,
                                      description="input size")
        self.detail = W.ToggleButtons(options=list(RESNET_DETAILS), value=detail,
                                      description="rows")
        self.layer = W.Dropdown(description="layer")
        self.size_label = W.HTML()
        self.size_label.add_class("cnnkit-output-size")
        self.halving_label = W.HTML()
        self.chart_view = W.Image(format="png", layout=W.Layout(max_width="560px"))
        self.chart_view.add_class("cnnkit-output-image")
        self.table_view = W.HTML()
        self.trace = None
        self.stages = None
        self.row = None
        self.halvings: list = []
        self._syncing = False
        self._load(layer)
        for control in (self.depth, self.image_size, self.detail):
            control.observe(self._on_control, names="value")
        self.layer.observe(self._on_layer, names="value")
        self.ui = W.VBox([
            W.HBox([self.depth, self.image_size]),
            W.HBox([self.detail, self.layer]),
            self.size_label,
            self.halving_label,
            self.chart_view,
            self.table_view,
        ])
        self.ui.add_class("cnnkit-resnet-explorer")

    def input_size(self) -> tuple[int, int, int, int]:
        """The traced input's shape (N, 3, H, W)."""
        s = self.image_size.value
        return (self.batch, 3, s, s)

    def model(self):
        """The selected ResNet, on the meta device (built once per depth)."""
        import torch

        from cnnkit.models import resnet

        depth = self.depth.value
        if depth not in self._models:
            with torch.device("meta"):
                self._models[depth] = resnet(depth)
        return self._models[depth]

    def _load(self, layer: str | None = None) -> None:
        """Trace the selected model and input, refill the layer list, show the layer."""
        model, size = self.model(), self.input_size()
        self.stages = self._inspect.trace(model, size, depth=1)
        self.trace = (self.stages if self.detail.value == "stage"
                      else self._inspect.trace(model, size, depth=2))
        names = self.trace.names()
        if layer is not None and layer not in names:
            raise ValueError(f"layer must be one of {names}; got {layer!r}")
        if layer is None:  # keep the selection, or its stage, or that stage's last block
            old = self.layer.value or "layer1"
            stage = old.split(".")[0]
            blocks = [n for n in names if n.startswith(stage + ".")]
            layer = next((n for n in (old, stage) if n in names),
                         blocks[-1] if blocks else names[0])
        self._syncing = True
        self.layer.options = [(f"{r.name} ({r.type})", r.name) for r in self.trace]
        self.layer.value = layer
        self._syncing = False
        self.halvings = [
            (r.name, tuple(r.input_shapes[0][2:]), tuple(r.output_shape[2:]))
            for r in self.trace
            if r.input_shapes and len(r.input_shapes[0]) == 4 and r.output_shape is not None
            and len(r.output_shape) == 4 and r.output_shape[2:] != r.input_shapes[0][2:]
        ]
        steps = ", ".join(f"<b>{html.escape(n)}</b> ({_hw(a)} &rarr; {_hw(b)})"
                          for n, a, b in self.halvings)
        self.halving_label.value = (f"ResNet-{self.depth.value} on {_hw(size[2:])} images: the "
                                    f"spatial size shrinks at {steps}")
        self.update()

    def _on_control(self, change) -> None:
        self._load()

    def _on_layer(self, change) -> None:
        if not self._syncing:
            self.update()

    def update(self) -> None:
        """Show the selected layer: its shapes, table row and stage (called on every change)."""
        ins = self._inspect
        names = self.trace.names()
        index = names.index(self.layer.value)
        row = self.row = self.trace[index]
        totals = self.trace.totals
        x_shape = row.input_shapes[0] if row.input_shapes else None
        out = row.output_shape
        spatial = ""
        if x_shape is not None and len(x_shape) == 4 and out is not None and len(out) == 4:
            a, b = tuple(x_shape[2:]), tuple(out[2:])
            if a == b:
                spatial = f"keeps the spatial size {_hw(b)}"
            elif all(n == -(-m // 2) for m, n in zip(a, b, strict=True)):  # ceil(m / 2)
                spatial = f"<b>halves</b> the spatial size: {_hw(a)} &rarr; {_hw(b)}"
            else:
                spatial = f"shrinks the spatial size: {_hw(a)} &rarr; {_hw(b)}"
            spatial += f"; channels {x_shape[1]} &rarr; {out[1]}"
        share = (f" ({100 * row.trainable / totals.trainable:.1f}% of "
                 f"{totals.trainable:,})" if totals.trainable else "")
        self.size_label.value = (
            f"<b>{html.escape(row.name)}</b> ({html.escape(row.type)}): input "
            f"{ins.format_shape(x_shape)} &rarr; output <b>{ins.format_shape(out)}</b>"
            + (f"<br>{spatial}" if spatial else "")
            + f"<br>parameters {ins.format_count(row.trainable)}{share}; MACs "
            f"{ins.format_count(row.macs)} per image; receptive field "
            f"{ins.format_axes(row.rf)} input pixels per side, jump {ins.format_jump(row)}"
        )
        stage_rows = [r for r in self.stages if r.name in RESNET_STAGES]
        size = self.input_size()
        fig = viz.show_spatial_sizes(
            ["input", *(r.name for r in stage_rows)],
            [size[2:], *(r.output_shape[2:] for r in stage_rows)],
            [size[1], *(r.output_shape[1] for r in stage_rows)],
            highlight=row.name.split(".")[0],
            title=f"ResNet-{self.depth.value}: spatial size after each stage",
        )
        self.chart_view.value = viz.figure_to_png(fig)
        self.table_view.value = self.trace.to_html(highlight=index)

    def picture(self) -> bytes:
        """PNG: the selected layer's shapes and the chart of spatial sizes."""
        lines = [views.html_to_text(self.size_label.value),
                 views.html_to_text(self.halving_label.value)]
        return views.compose_picture("ResNetExplorer", [("", self.chart_view.value)], lines)

    def summary(self) -> str:
        """One line: the depth, the input and the selected layer's output shape."""
        return (f"ResNetExplorer: ResNet-{self.depth.value} on {_hw(self.input_size()[2:])} "
                f"images, layer {self.row.name} -> "
                f"{self._inspect.format_shape(self.row.output_shape)}")


def _hw(size) -> str:
    """(56, 56) -> "56x56"."""
    return "x".join(str(v) for v in size)


PAD_SIZE = 280  # px: the drawing canvas (ten canvas pixels per MNIST pixel)
PAD_PEN = 22  # px: the pen's diameter, about 2 MNIST pixels once fitted into 20x20


def _model_side(model) -> int:
    """28 or 32: the square input side the model accepts (a LeNet-5 of 1998 needs 32, the
    digit then sits in the middle of a 32x32 field, as in the paper)."""
    import torch

    was_training = model.training
    model.eval()
    try:
        for side in (28, 32):
            try:
                with torch.no_grad():
                    model(torch.zeros(1, 1, side, side))
                return side
            except (RuntimeError, ValueError):
                continue
    finally:
        model.train(was_training)
    raise ValueError("model accepts neither (1, 1, 28, 28) nor (1, 1, 32, 32) inputs")


class DigitPad(_Pictured):
    """Draw a digit with the mouse; see MNIST's preprocessing of it and the model's ten class
    probabilities, updated after every stroke (or upload a picture of a digit).

    model: a trained digit classifier (torch, input (1, 1, 28, 28) or (1, 1, 32, 32): the
    28x28 digit is then centred in 32x32). mean, std: the training normalisation (numbers,
    per-channel sequences or tensors, in [0, 1] units); None for none. classes: the ten names
    (default "0".."9"). pen: the pen's diameter in canvas pixels.
    Controls: ``canvas`` (ipycanvas ``Canvas``, 280x280: press, drag, release), ``clear_button``,
    ``upload`` (a photo or scan of a digit, dark on light or light on dark).
    Views: ``input_view`` (PNG: the 28x28 input the model gets), ``probabilities_view`` (HTML
    bars), ``prediction_label``.
    State: ``strokes`` (list of [(x, y), ...] in canvas pixels), ``ink`` (280x280 in [0, 1]),
    ``digit`` (28, 28) float32 (``cnnkit.drawing.mnist_preprocess``), ``probabilities`` (10,)
    float numpy or None before anything is drawn, ``prediction``.
    ``draw_strokes([[(x, y), ...], ...])`` draws from Python what the mouse draws.
    """

    def __init__(self, model, mean=None, std=None, *, classes=None, pen: float = PAD_PEN):
        from ipycanvas import Canvas

        self.model, self.mean, self.std = model, mean, std
        if (mean is None) != (std is None):
            raise ValueError("mean and std: give both or neither")
        self.side = _model_side(model)
        self.classes = [str(c) for c in (classes or range(10))]
        self.pen = check_real(pen, "pen", minimum=1.0)
        self.canvas = Canvas(width=PAD_SIZE, height=PAD_SIZE,
                             layout=W.Layout(width=f"{PAD_SIZE}px", height=f"{PAD_SIZE}px"))
        self.canvas.add_class("cnnkit-digit-canvas")
        self.clear_button = W.Button(description="clear", icon="eraser")
        self.upload = W.FileUpload(accept="image/*", multiple=False,
                                   description="upload a digit")
        self.input_view = W.Image(format="png")
        self.input_view.add_class("cnnkit-output-image")
        self.probabilities_view = W.HTML()
        self.probabilities_view.add_class("cnnkit-probabilities")
        self.prediction_label = W.HTML()
        self.prediction_label.add_class("cnnkit-output-size")
        self.strokes: list[list[tuple[float, float]]] = []
        self.ink = np.zeros((PAD_SIZE, PAD_SIZE), np.float32)
        self.digit = np.zeros((28, 28), np.float32)
        self.probabilities: np.ndarray | None = None
        self.prediction: str | None = None
        self.listeners: list = []  # called with the pad after every new prediction
        self._drawing = False

        self.canvas.on_mouse_down(self._pen_down)
        self.canvas.on_mouse_move(self._pen_move)
        self.canvas.on_mouse_up(self._pen_up)
        self.canvas.on_mouse_out(self._pen_up)
        self.clear_button.on_click(lambda _: self.clear())
        self.upload.observe(self._on_upload, names="value")
        self.ui = W.VBox([
            W.HBox([self.clear_button, self.upload]),
            W.HBox([W.VBox([W.Label("draw a digit (mouse)"), self.canvas]),
                    W.VBox([W.Label("what the model sees (MNIST preprocessing)"),
                            self.input_view]),
                    W.VBox([W.Label("class probabilities"), self.probabilities_view])],
                   layout=W.Layout(align_items="flex-start")),
            self.prediction_label,
        ])
        self.ui.add_class("cnnkit-digit-pad")
        self.clear()

    # --- drawing ------------------------------------------------------------------------------
    def _blank(self) -> None:
        self.canvas.fill_style = "black"
        self.canvas.fill_rect(0, 0, PAD_SIZE, PAD_SIZE)
        self.canvas.stroke_style = self.canvas.fill_style = "white"
        self.canvas.line_width = self.pen
        self.canvas.line_cap = self.canvas.line_join = "round"

    def clear(self) -> None:
        """Wipe the pad: no strokes, no prediction."""
        self.strokes, self._drawing = [], False
        self._blank()
        self.ink = np.zeros((PAD_SIZE, PAD_SIZE), np.float32)
        self.digit = np.zeros((28, 28), np.float32)
        self.probabilities, self.prediction = None, None
        self._show()

    def _pen_down(self, x: float, y: float) -> None:
        self._drawing = True
        self.strokes.append([(float(x), float(y))])
        self.canvas.fill_circle(x, y, self.pen / 2)

    def _pen_move(self, x: float, y: float) -> None:
        if not self._drawing:
            return
        (x0, y0) = self.strokes[-1][-1]
        self.strokes[-1].append((float(x), float(y)))
        self.canvas.stroke_line(x0, y0, x, y)

    def _pen_up(self, x: float, y: float) -> None:
        if self._drawing:
            self._drawing = False
            self.predict()

    def draw_strokes(self, strokes) -> None:
        """Add strokes (each a list of (x, y) canvas pixels) as the mouse would, then predict."""
        from ipycanvas import hold_canvas

        strokes = [[(float(x), float(y)) for x, y in stroke] for stroke in strokes]
        with hold_canvas():
            for stroke in strokes:
                self.canvas.fill_circle(*stroke[0], self.pen / 2)
                if len(stroke) > 1:
                    self.canvas.stroke_lines(stroke)
        self.strokes += strokes
        self.predict()

    def _on_upload(self, change) -> None:
        from PIL import Image

        files = change["new"]
        if not files:
            return
        with Image.open(io.BytesIO(bytes(files[0]["content"]))) as im:
            picture = np.asarray(im.convert("RGBA"))
        self.strokes = []
        self.ink = drawing.to_ink(picture).astype(np.float32)
        shown = np.asarray(Image.fromarray(np.uint8(255 * self.ink)).resize(
            (PAD_SIZE, PAD_SIZE)), dtype=np.uint8)
        self.canvas.put_image_data(np.repeat(shown[..., None], 3, axis=2), 0, 0)
        self._predict_ink()

    # --- the model ------------------------------------------------------------------------------
    def predict(self) -> None:
        """Rasterize the strokes, preprocess them as MNIST, run the model, show the result."""
        self.ink = drawing.rasterize_strokes(self.strokes, (PAD_SIZE, PAD_SIZE), self.pen) \
            if self.strokes else np.zeros((PAD_SIZE, PAD_SIZE), np.float32)
        self._predict_ink()

    def _predict_ink(self) -> None:
        from cnnkit.train import predict_image

        self.digit = drawing.mnist_preprocess(self.ink, invert=False)
        if not self.digit.any():
            self.probabilities, self.prediction = None, None
        else:
            pad = (self.side - 28) // 2
            x = np.pad(self.digit, pad)
            probs = predict_image(self.model, x, mean=self.mean, std=self.std, size=x.shape,
                                  channels=1)
            self.probabilities = probs.numpy().astype(np.float64)
            self.prediction = self.classes[int(self.probabilities.argmax())]
        self._show()
        for listener in self.listeners:
            listener(self)

    def _show(self) -> None:
        _show_png(self.input_view, views.enlarge(views.grey_rgb(self.digit, 0.0, 1.0), 6))
        p = self.probabilities
        if p is None:
            self.probabilities_view.value = _bars_html(np.zeros(len(self.classes)), self.classes)
            self.prediction_label.value = "draw a digit: the probabilities follow every stroke"
            return
        self.probabilities_view.value = _bars_html(p, self.classes)
        self.prediction_label.value = (
            f"predicted <b>{html.escape(self.prediction)}</b> ({100 * p.max():.1f}%) from "
            f"{len(self.strokes)} stroke{'s' if len(self.strokes) != 1 else ''}")

    def picture(self) -> bytes:
        """PNG: the drawing, the 28x28 input and the probabilities."""
        ink = views.grey_rgb(self.ink[::2, ::2], 0.0, 1.0)  # 140 px
        bars = (views.decode_png(_bars_png(self.probabilities, self.classes))
                if self.probabilities is not None else np.ones((10, 10, 3)))
        panels = [("drawing", ink), ("model input 28x28", self.input_view.value),
                  ("probabilities", bars)]
        return views.compose_picture("DigitPad", panels,
                                     [views.html_to_text(self.prediction_label.value)])

    def summary(self) -> str:
        """One line: the prediction."""
        if self.probabilities is None:
            return "DigitPad: nothing drawn yet"
        return (f"DigitPad: predicted {self.prediction} "
                f"({100 * self.probabilities.max():.1f}%)")


def _bars_html(p, classes) -> str:
    """Horizontal probability bars, the largest in orange."""
    top = int(np.argmax(p)) if np.any(p) else -1
    rows = "".join(
        f"<div style='display:flex;align-items:center;height:20px'>"
        f"<span style='width:18px;text-align:right;margin-right:4px'>{html.escape(c)}</span>"
        f"<span style='display:inline-block;height:14px;width:{160 * v:.0f}px;"
        f"background:{'#f28c00' if k == top else '#4c78a8'}'></span>"
        f"<span style='margin-left:4px'>{100 * v:.1f}%</span></div>"
        for k, (c, v) in enumerate(zip(classes, p, strict=True)))
    return f"<div style='font-family:monospace;font-size:12px;width:240px'>{rows}</div>"


def _bars_png(p, classes) -> bytes:
    """The probabilities as a small bar chart (for the static picture)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2.6, 1.68), dpi=100, layout="constrained")
    ax.bar(range(len(p)), 100 * np.asarray(p), color="#4c78a8")
    ax.set(xticks=range(len(p)), ylim=(0, 100), xlabel="class", ylabel="probability (%)")
    ax.set_xticklabels(classes)
    return viz.figure_to_png(fig)
