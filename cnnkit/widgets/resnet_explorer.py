"""``ResNetExplorer`` (lesson 6): every stage's shape for a ResNet depth and input size."""

from __future__ import annotations

import html

import ipywidgets as W

from cnnkit import viz
from cnnkit.widgets import views
from cnnkit.widgets._common import (
    _Pictured,
)

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
