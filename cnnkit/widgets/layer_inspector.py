"""``LayerInspector`` (lessons 3 and 4): a network's layers and what they compute for an input."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from cnnkit import data, viz
from cnnkit._validate import is_int
from cnnkit.widgets import views
from cnnkit.widgets._common import (
    _as_image,
    _Pictured,
    _PixelCanvas,
    _show_png,
)


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
