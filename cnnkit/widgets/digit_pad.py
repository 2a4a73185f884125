"""``DigitPad`` (lesson 4): draw a digit, see MNIST's preprocessing and the probabilities."""

from __future__ import annotations

import html
import io

import ipywidgets as W
import numpy as np

from cnnkit import drawing, viz
from cnnkit._validate import check_real
from cnnkit.widgets import views
from cnnkit.widgets._common import (
    _Pictured,
    _show_png,
)

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
