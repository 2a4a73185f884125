"""ipywidgets front ends over the course's functions. No logic of their own: each widget reads
its controls, calls ``cnnkit`` functions, and shows what they return.

Every widget can be driven from Python (set a control's ``.value``; the views update
synchronously), which is how the tests use them without a browser.
"""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from cnnkit import conv, data, kernels, pool, viz
from cnnkit import widget_views as views

__all__ = ["KernelExplorer", "PoolingExplorer", "LayerInspector", "ResNetExplorer"]

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


class KernelExplorer(_Pictured):
    """Pick or edit a kernel, stride, padding and dilation; see the output and its size live.

    Controls: ``kernel`` (a named kernel or "custom"), ``cells`` (the kernel's values, editable:
    editing one switches to "custom"), ``stride``, ``padding``, ``dilation``, ``image``
    ("photo" = Grace Hopper, "digit" = a real MNIST 7).
    Views: ``input_view`` and ``output_view`` (PNG images), ``size_label`` (the output size and
    the formula that gave it), ``meaning_label``.
    Display it as the last expression of a cell, or with ``display(explorer)``.
    """

    def __init__(self, kernel: str = "edge_detect", image: str = "photo", stride: int = 1,
                 padding: int = 0, dilation: int = 1, images: dict | None = None):
        self.images = images or {"photo": data.sample_photo(), "digit": data.mnist_digit(7)}
        if image not in self.images:
            raise ValueError(f"image must be one of {list(self.images)}; got {image!r}")
        kernels.get(kernel)  # a clear KeyError for an unknown name, before building widgets
        self.kernel = W.Dropdown(options=[*kernels.names(), CUSTOM], value=kernel,
                                 description="kernel")
        self.image = W.ToggleButtons(options=list(self.images), value=image, description="image")
        self.stride = W.IntSlider(value=stride, min=1, max=4, description="stride")
        self.padding = W.IntSlider(value=padding, min=0, max=4, description="padding")
        self.dilation = W.IntSlider(value=dilation, min=1, max=3, description="dilation")
        self.cells_box = W.GridBox(layout=W.Layout(grid_gap="2px"))
        self.cells: list[list[W.FloatText]] = []
        self.meaning_label = W.HTML()
        self.size_label = W.HTML()
        self.size_label.add_class("cnnkit-output-size")
        self.input_view = W.Image(format="png", layout=W.Layout(width="240px"))
        self.output_view = W.Image(format="png", layout=W.Layout(width="240px"))
        self.output_view.add_class("cnnkit-output-image")
        self._syncing = False
        self.output: np.ndarray | None = None  # the last output, (Ho, Wo)
        self.error: str | None = None  # why the last update had no output

        self._set_cells(kernels.get(kernel))
        self.kernel.observe(self._on_kernel, names="value")
        for control in (self.image, self.stride, self.padding, self.dilation):
            control.observe(self._on_control, names="value")
        self.ui = W.VBox([
            W.HBox([self.kernel, self.image]),
            W.HBox([W.VBox([self.stride, self.padding, self.dilation]),
                    W.VBox([W.Label("kernel values (edit me)"), self.cells_box])]),
            self.meaning_label,
            W.HBox([W.VBox([W.Label("input"), self.input_view]),
                    W.VBox([W.Label("output"), self.output_view])]),
            self.size_label,
        ])
        self.ui.add_class("cnnkit-kernel-explorer")
        self._show_input()
        self.update()

    # --- reading the controls -------------------------------------------------------------
    def kernel_values(self) -> np.ndarray:
        """The kernel currently in the editor, (kh, kw) float64."""
        return np.array([[cell.value for cell in row] for row in self.cells], dtype=np.float64)

    def current_image(self) -> np.ndarray:
        """The selected input image, (H, W) float32 in [0, 1]."""
        return self.images[self.image.value]

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
        self._syncing = False

    def _on_kernel(self, change) -> None:
        if change["new"] != CUSTOM:
            self._set_cells(kernels.get(change["new"]))
        self.update()

    def _on_cell(self, change) -> None:
        if self._syncing:
            return
        if self.kernel.value != CUSTOM:
            self.kernel.value = CUSTOM  # _on_kernel keeps the edited grid and updates
        else:
            self.update()

    def _on_control(self, change) -> None:
        if change["owner"] is self.image:
            self._show_input()
        self.update()

    def _show_input(self) -> None:
        self.input_view.value = viz.array_to_png(self.current_image())

    # --- the view -----------------------------------------------------------------------------
    def update(self) -> None:
        """Recompute the output and its size from the controls (called on every change)."""
        img = self.current_image()
        k = self.kernel_values()
        s, p, d = self.stride.value, self.padding.value, self.dilation.value
        name = self.kernel.value
        self.meaning_label.value = (
            f"<b>{html.escape(name)}</b>: "
            + html.escape(kernels.meaning(name) if name != CUSTOM else "your own weights")
            + f" (sum of weights {k.sum():.3g})"
        )
        try:
            out = conv.conv2d(img[None, None], k[None, None], stride=s, padding=p,
                              dilation=d)[0, 0]
        except ValueError as err:
            self.output, self.error = None, str(err)
            self.size_label.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            return
        H, Wd = img.shape
        kh, kw = k.shape
        formula = " x ".join(
            f"floor(({n} + 2*{p} - {d}*({kk}-1) - 1)/{s}) + 1 = {conv.output_size(n, kk, s, p, d)}"
            for n, kk in ((H, kh), (Wd, kw))
        )
        self.size_label.value = (
            f"input {H}x{Wd}, kernel {kh}x{kw} &rarr; <b>output {out.shape[0]}x{out.shape[1]}</b>"
            f"<br><code>{formula}</code>"
        )
        self.output_view.value = viz.array_to_png(out)
        self.output, self.error = out, None

    def picture(self) -> bytes:
        """PNG: the input and output views with the kernel and the size formula."""
        panels = [("input", self.input_view.value)]
        if self.output is not None:
            panels.append(("output", self.output_view.value))
        lines = [views.html_to_text(self.meaning_label.value),
                 views.html_to_text(self.size_label.value)]
        return views.compose_picture("KernelExplorer", panels, lines)

    def summary(self) -> str:
        """One line: the kernel, the settings and the output size."""
        size = "no output" if self.output is None else "output {}x{}".format(*self.output.shape)
        return (f"KernelExplorer: {self.kernel.value} on {self.image.value}, stride "
                f"{self.stride.value}, padding {self.padding.value}, dilation "
                f"{self.dilation.value} -> {size}")


POOL_MODES = ("max", "avg")


class PoolingExplorer(_Pictured):
    """Pick a pooling window, stride, padding and mode; see the output, its size, and (for max
    pooling) which input pixels were kept.

    Controls: ``window`` (square window size), ``stride``, ``padding``, ``mode`` ("max" or
    "avg"), ``image`` ("photo" = Grace Hopper, "digit" = a real MNIST 7).
    Views: ``input_view`` (PNG: the input; in max mode the pixels each window's maximum came
    from are painted red), ``output_view`` (PNG: the pooled image; hidden while the settings
    are invalid), ``size_label`` (the output size and the formula, or why there is no output),
    ``selection_label`` (what the red pixels mean).
    State after every update: ``output`` (Ho, Wo) or None, ``indices`` (Ho, Wo) flat argmax
    positions in max mode (else None), ``error`` (why there is no output, else None).
    Invalid settings (padding above window // 2, a window larger than the padded image) are
    reported in ``size_label``, never raised. All the work is done by ``cnnkit.pool``,
    ``cnnkit.conv.output_size`` and ``cnnkit.viz``.
    """

    def __init__(self, image: str = "photo", window: int = 2, stride: int = 2, padding: int = 0,
                 mode: str = "max", images: dict | None = None):
        self.images = images or {"photo": data.sample_photo(), "digit": data.mnist_digit(7)}
        if image not in self.images:
            raise ValueError(f"image must be one of {list(self.images)}; got {image!r}")
        if mode not in POOL_MODES:
            raise ValueError(f"mode must be one of {list(POOL_MODES)}; got {mode!r}")
        self.image = W.ToggleButtons(options=list(self.images), value=image, description="image")
        self.mode = W.ToggleButtons(options=list(POOL_MODES), value=mode, description="mode")
        self.window = W.IntSlider(value=window, min=1, max=8, description="window")
        self.stride = W.IntSlider(value=stride, min=1, max=8, description="stride")
        self.padding = W.IntSlider(value=padding, min=0, max=4, description="padding")
        self.size_label = W.HTML()
        self.size_label.add_class("cnnkit-output-size")
        self.selection_label = W.HTML()
        self.input_caption = W.Label()
        self.input_view = W.Image(format="png", layout=W.Layout(width="240px"))
        self.output_view = W.Image(format="png", layout=W.Layout(width="240px"))
        self.output_view.add_class("cnnkit-output-image")
        self.output: np.ndarray | None = None  # the last output, (Ho, Wo)
        self.indices: np.ndarray | None = None  # its argmax positions (max mode), (Ho, Wo)
        self.error: str | None = None  # why the last update had no output

        for control in (self.image, self.mode, self.window, self.stride, self.padding):
            control.observe(self._on_control, names="value")
        self.ui = W.VBox([
            W.HBox([self.image, self.mode]),
            W.HBox([self.window, self.stride, self.padding]),
            W.HBox([W.VBox([self.input_caption, self.input_view]),
                    W.VBox([W.Label("output"), self.output_view])]),
            self.size_label,
            self.selection_label,
        ])
        self.ui.add_class("cnnkit-pooling-explorer")
        self.update()

    def current_image(self) -> np.ndarray:
        """The selected input image, (H, W) float32 in [0, 1]."""
        return self.images[self.image.value]

    def _on_control(self, change) -> None:
        self.update()

    def _show_error(self, message: str) -> None:
        self.output, self.indices, self.error = None, None, message
        self.size_label.value = (
            f"<span style='color:#b00'>no output: {html.escape(message)}</span>"
        )
        self.selection_label.value = ""
        self.input_caption.value = "input"
        self.input_view.value = viz.array_to_png(self.current_image())
        self.output_view.layout.visibility = "hidden"

    def update(self) -> None:
        """Recompute the output, its size and the selected pixels from the controls."""
        img = self.current_image()
        k, s, p, mode = self.window.value, self.stride.value, self.padding.value, self.mode.value
        try:
            if mode == "max":
                out, idx = pool.max_pool2d(img[None, None], k, s, p, return_indices=True)
                out, idx = out[0, 0], idx[0, 0]
            else:
                out, idx = pool.avg_pool2d(img[None, None], k, s, p)[0, 0], None
        except ValueError as err:
            self._show_error(str(err))
            return
        H, Wd = img.shape
        formula = " x ".join(
            f"floor(({n} + 2*{p} - {k})/{s}) + 1 = {conv.output_size(n, k, s, p)}"
            for n in (H, Wd)
        )
        self.size_label.value = (
            f"input {H}x{Wd}, {mode} pooling, window {k}x{k}, stride {s}, padding {p} "
            f"&rarr; <b>output {out.shape[0]}x{out.shape[1]}</b><br><code>{formula}</code>"
        )
        if idx is None:
            self.input_caption.value = "input"
            self.input_view.value = viz.array_to_png(img)
            self.selection_label.value = (
                f"average pooling keeps no single pixel: each output is the mean of its "
                f"{k * k} window cells (padded zeros count)"
            )
        else:
            kept = np.unique(idx).size
            self.input_caption.value = "input (red: the pixels max pooling keeps)"
            self.input_view.value = viz.rgb_to_png(viz.highlight_pixels(img, idx))
            self.selection_label.value = (
                f"red: the {kept} input pixels ({100 * kept / img.size:.0f}% of {img.size}) "
                f"that the {out.size} windows took their maximum from; on ties (e.g. a flat "
                f"black background) the first cell of the window, in reading order, wins"
            )
        self.output_view.value = viz.array_to_png(out)
        self.output_view.layout.visibility = "visible"
        self.output, self.indices, self.error = out, idx, None

    def picture(self) -> bytes:
        """PNG: the input (kept pixels in red) and the pooled output, with the size formula."""
        panels = [(self.input_caption.value, self.input_view.value)]
        if self.output is not None:
            panels.append(("output", self.output_view.value))
        lines = [views.html_to_text(self.size_label.value),
                 views.html_to_text(self.selection_label.value)]
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
    """Pick a model and one of its layers; see the layer's shapes, parameters, connections,
    MACs and receptive field, and its weights as images.

    models: {name: (model, input_size)}; default: the three LeNets of lesson 3, untrained
    (lesson 4 passes trained ones). model, layer: what to show first (default: the first of
    each).
    Controls: ``model`` and ``layer`` (dropdowns; the layers are the rows of the model's
    ``cnnkit.inspect.layer_table``). Views: ``table_view`` (HTML: the whole layer table),
    ``info`` (HTML: the selected layer), ``weights_view`` (PNG of its weights, hidden when the
    layer has none) and ``weights_label``.
    State: ``table`` (the layer table), ``row`` (the selected ``Row``), ``weights`` ((kind,
    array) from ``cnnkit.inspect.weights_of``, or None).
    """

    def __init__(self, models: dict | None = None, model: str | None = None,
                 layer: str | None = None):
        from cnnkit import inspect

        self._inspect = inspect
        self.models = models or _lesson3_models()
        model = model if model is not None else next(iter(self.models))
        if model not in self.models:
            raise ValueError(f"model must be one of {list(self.models)}; got {model!r}")
        self.model = W.Dropdown(options=list(self.models), value=model, description="model")
        self.layer = W.Dropdown(description="layer")
        self.table_view = W.HTML()
        self.info = W.HTML()
        self.info.add_class("cnnkit-layer-info")
        self.weights_label = W.HTML()
        self.weights_view = W.Image(format="png", layout=W.Layout(max_width="640px"))
        self.table = None
        self.row = None
        self.weights: tuple[str, np.ndarray] | None = None
        self._syncing = False
        self._load_model(layer)
        self.model.observe(self._on_model, names="value")
        self.layer.observe(self._on_layer, names="value")
        self.ui = W.VBox([W.HBox([self.model, self.layer]), self.info, self.weights_label,
                          self.weights_view, self.table_view])
        self.ui.add_class("cnnkit-layer-inspector")

    def current_module(self):
        """The selected layer's module."""
        net, _ = self.models[self.model.value]
        return net.get_submodule(self.row.name) if self.row.name else net

    def _load_model(self, layer: str | None = None) -> None:
        net, size = self.models[self.model.value]
        self.table = self._inspect.layer_table(net, size)
        names = self.table.names()
        if layer is not None and layer not in names:
            raise ValueError(f"layer must be one of {names}; got {layer!r}")
        self._syncing = True
        self.layer.options = [(f"{r.name or '(model)'} ({r.type})", r.name) for r in self.table]
        self.layer.value = layer if layer is not None else names[0]
        self._syncing = False
        self.table_view.value = self.table._repr_html_()
        self.update()

    def _on_model(self, change) -> None:
        self._load_model()

    def _on_layer(self, change) -> None:
        if not self._syncing:
            self.update()

    def update(self) -> None:
        """Show the selected layer (called on every change)."""
        row = self.table[self.layer.value]
        self.row, totals = row, self.table.totals
        share = (f" ({100 * row.trainable / totals.trainable:.1f}% of the model's "
                 f"{totals.trainable:,})" if totals.trainable else "")
        ins = self._inspect
        fmt, shape = ins.format_count, ins.format_shape
        shapes = ", ".join(shape(s) for s in row.input_shapes)
        weight = f", weight {shape(row.weight_shape)}" if row.weight_shape else ""
        self.info.value = (
            f"<b>{html.escape(row.name)}</b> ({html.escape(row.type)}): input {shapes} &rarr; "
            f"output <b>{shape(row.output_shape)}</b>{weight}<br>"
            f"trainable parameters <b>{fmt(row.trainable)}</b>{share}, fixed {fmt(row.fixed)}; "
            f"connections {fmt(row.connections)}; MACs {fmt(row.macs)} per sample<br>"
            f"receptive field {ins.format_axes(row.rf)} input pixels per side, jump "
            f"{ins.format_jump(row)} (input pixels between neighbouring outputs)"
        )
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

    def picture(self) -> bytes:
        """PNG: the selected layer's description and its weights."""
        panels = [] if self.weights is None else [("weights", self.weights_view.value)]
        lines = [views.html_to_text(self.info.value), views.html_to_text(self.weights_label.value)]
        return views.compose_picture(f"LayerInspector: {self.model.value}", panels, lines)

    def summary(self) -> str:
        """One line: the model and the selected layer's output shape."""
        row = self.row
        return (f"LayerInspector: {self.model.value}, layer {row.name or '(model)'} "
                f"({row.type}) -> {self._inspect.format_shape(row.output_shape)}")


RESNET_DETAILS = ("stage", "block")  # rows of the ResNetExplorer's table: trace depth 1 or 2
RESNET_STAGES = ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")


def _highlight_row(table_html: str, index: int) -> str:
    """The HTML of a ``cnnkit.inspect.Trace`` with its body row ``index`` highlighted."""
    head, sep, rest = table_html.partition("<tbody>")
    body, end, tail = rest.partition("</tbody>")
    rows = body.split("<tr>")[1:]  # each: "<td>...</td></tr>"
    marked = "<tr class='cnnkit-selected' style='background:#ffe9b3;font-weight:bold'>"
    body = "".join((marked if i == index else "<tr>") + r for i, r in enumerate(rows))
    return head + sep + body + end + tail


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
        from cnnkit.models.resnet import RESNET_CONFIGS

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
        self.table_view.value = _highlight_row(self.trace._repr_html_(), index)

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
