"""Live training curves: :class:`LivePlot`, a ``fit`` callback that redraws ONE figure in place.

A view (it imports matplotlib), kept out of the computational ``cnnkit.train`` package, which
imports it only when it is shown. Two panels: loss and accuracy (%) against epochs, training
(solid: every few batches the running mean of the epoch so far, at its end the epoch's mean)
and validation (dashed, one point per epoch). The figure is a ``matplotlib.figure.Figure`` not
registered with pyplot (a notebook does not show it again at the end of the cell, and no figure
is leaked); it is rendered to PNG and shown through one IPython display handle, updated in
place: the notebook keeps one output, the final figure.
"""

from __future__ import annotations

import io
import math
import sys
import time

from matplotlib.figure import Figure

from cnnkit._validate import check_int, check_real
from cnnkit.train.callbacks import Callback, TrainState

__all__ = ["LivePlot"]


def _can_display() -> bool:
    """True inside IPython (a kernel or a terminal IPython); a script has nowhere to show."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    return get_ipython() is not None


def _display(obj, display_id: bool = True):
    """IPython's ``display`` (a seam for tests); returns the display handle."""
    from IPython.display import display

    return display(obj, display_id=display_id)


def _png_image(png: bytes):
    from IPython.display import Image

    return Image(data=png, format="png")


class LivePlot(Callback):
    """Loss and accuracy of training and validation, redrawn while ``fit`` runs.

    every: redraw every this many batches (default: about 8 times per epoch), and at the end of
    every epoch. min_seconds: skip a mid-epoch redraw if the last one was less than this long
    ago. max_share: also skip it while redrawing would take more than this fraction of the time
    (a redraw costs 0.1 to 1 s; None: no such limit). live: False draws only once, when
    training ends (headless kernels: the stored notebook keeps the final figure without paying
    for the frames).
    figsize, dpi: of the figure (inches, dots per inch).

    ``figure`` is the one Figure; ``frames`` counts the redraws.
    """

    def __init__(self, every: int | None = None, min_seconds: float = 0.5,
                 max_share: float | None = 0.1, live: bool = True,
                 figsize: tuple[float, float] = (8.0, 3.0), dpi: int = 100):
        self.every = None if every is None else check_int(every, "every", 1)
        self.min_seconds = check_real(min_seconds, "min_seconds", 0.0)
        self.max_share = None if max_share is None else check_real(max_share, "max_share",
                                                                    0.01, 1.0)
        self.live = bool(live)
        self.dpi = check_int(dpi, "dpi", 50)
        self.figure = Figure(figsize=figsize, dpi=self.dpi, layout="constrained")
        self.ax_loss, self.ax_acc = self.figure.subplots(1, 2)
        self.handle = None
        self.frames = 0
        self._reset_points()

    def _reset_points(self):
        self.train_x, self.train_loss, self.train_acc = [], [], []
        self.val_x, self.val_loss, self.val_acc = [], [], []
        self._last_draw = -math.inf
        self._draw_cost = 0.0

    # ---------------------------------------------------------------- the callback hooks

    def on_train_begin(self, state: TrainState) -> None:
        self._reset_points()
        h = state.history
        for e, tl, ta, vl, va in zip(h.epoch, h.train_loss, h.train_acc, h.val_loss, h.val_acc,
                                     strict=True):  # a resumed run: its earlier epochs
            self._add_train(e, tl, ta)
            if va is not None:
                self._add_val(e, vl, va)
        self._every = self.every or max(1, (state.batches or 64) // 8)
        self._title = self._make_title(state)
        if self.live:
            self._draw(state)

    def on_batch_end(self, state: TrainState) -> None:
        if not self.live:
            return
        wait = self.min_seconds if self.max_share is None else max(
            self.min_seconds, self._draw_cost * (1 / self.max_share - 1))
        if state.batch % self._every == 0 and time.perf_counter() - self._last_draw >= wait:
            self._flush_window(state)
            self._draw(state)

    def on_epoch_end(self, state: TrainState) -> None:
        h = state.history
        self._add_train(h.epoch[-1], h.train_loss[-1], h.train_acc[-1], replace_partial=True)
        if h.val_acc[-1] is not None:
            self._add_val(h.epoch[-1], h.val_loss[-1], h.val_acc[-1])
        if self.live:
            self._draw(state)

    def on_train_end(self, state: TrainState) -> None:
        if self.train_x or self.val_x:
            self._draw(state)

    # ---------------------------------------------------------------- points and drawing

    def _add_train(self, x, loss, acc, replace_partial: bool = False):
        if replace_partial:  # the epoch's points become its exact mean, at the epoch's end
            start = x - 1
            keep = [i for i, px in enumerate(self.train_x) if not start < px <= x]
            self.train_x = [self.train_x[i] for i in keep]
            self.train_loss = [self.train_loss[i] for i in keep]
            self.train_acc = [self.train_acc[i] for i in keep]
        self.train_x.append(x)
        self.train_loss.append(loss)
        self.train_acc.append(100 * acc)

    def _add_val(self, x, loss, acc):
        self.val_x.append(x)
        self.val_loss.append(loss)
        self.val_acc.append(100 * acc)

    def _flush_window(self, state: TrainState):
        """The running epoch as a point at the fraction of the epoch done."""
        if state.seen == 0:
            return
        x = state.epoch - 1 + (state.batch / state.batches if state.batches else 0.5)
        self.train_x.append(x)
        self.train_loss.append(state.running_loss())
        self.train_acc.append(100 * state.running_accuracy())

    @staticmethod
    def _make_title(state: TrainState) -> str:
        what = "test (selection)" if state.history.selected_on == "test" else "validation"
        marker = " [synthetic stand-in data]" if state.synthetic else ""
        return f"training (solid) and {what} (dashed){marker}"

    def _draw(self, state: TrainState) -> None:
        start = time.perf_counter()
        for ax in (self.ax_loss, self.ax_acc):
            ax.clear()
        val_name = "test (selection)" if state.history.selected_on == "test" else "validation"
        self.ax_loss.plot(self.train_x, self.train_loss, "-", color="C0", label="train")
        self.ax_acc.plot(self.train_x, self.train_acc, "-", color="C0", label="train")
        if self.val_x:
            self.ax_loss.plot(self.val_x, self.val_loss, "s--", color="C1", label=val_name)
            self.ax_acc.plot(self.val_x, self.val_acc, "s--", color="C1", label=val_name)
        for ax, title in ((self.ax_loss, "loss (mean per sample)"),
                          (self.ax_acc, "accuracy (%)")):
            ax.set_title(title, fontsize="medium")
            ax.set_xlabel("epoch")
            ax.set_xlim(0, max(state.epochs, 1))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small")
        self.ax_loss.set_ylabel("loss")
        self.ax_acc.set_ylabel("accuracy (%)")
        self.figure.suptitle(f"{self._title}: epoch {state.epoch}/{state.epochs}",
                             fontsize="medium")
        self._show()
        self._last_draw = time.perf_counter()
        self._draw_cost = self._last_draw - start
        self.frames += 1

    def _show(self) -> None:
        if self.handle is None and not _can_display():
            return  # a script: the figure stays available as ``self.figure``
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=self.dpi)
        image = _png_image(buf.getvalue())
        if self.handle is None:
            self.handle = _display(image)
        else:
            self.handle.update(image)
