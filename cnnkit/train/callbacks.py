"""Callbacks: what happens around the training loop, as small objects ``fit`` calls.

``fit`` calls, for every callback in order::

    on_train_begin(state)                 once, before the first epoch (after a resume)
    on_batch_end(state)                   after every optimizer step
    on_epoch_end(state)                   after validation and the epoch's scheduler step
    on_train_end(state)                   once, always (also after an error or Ctrl-C)

``state`` is the :class:`TrainState`: the model, optimizer, scheduler, loaders, epoch and batch
counters, the last batch's loss, the :class:`~cnnkit.train.History`, and ``stop`` (set it to end
training after this epoch). Built-ins: :class:`ProgressBar` (tqdm), :class:`EpochLog` (one line
per epoch), :class:`Checkpoint` (``last.pt`` / ``best.pt``), :class:`EarlyStopping`,
:class:`RestoreBest` (end with the best epoch's weights);
``cnnkit.liveplot.LivePlot`` (live curves, a view: matplotlib) is in its own module.
A callback must not draw random numbers (exact resume relies on it).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from cnnkit._validate import check_choice, check_int, check_real
from cnnkit.train.checkpoint import payload, save_checkpoint
from cnnkit.train.history import History

__all__ = ["TrainState", "Callback", "CallbackList", "ProgressBar", "EpochLog", "Checkpoint",
           "EarlyStopping", "RestoreBest"]


@dataclass(eq=False)
class TrainState:
    """What callbacks see of a running ``fit``.

    model, optimizer, scheduler, train, val (loaders), loss_fn, device: as ``fit`` uses them.
    epochs: the run's total. start_epoch: epochs done before this call (a resume).
    epoch: the epoch running (1-based; after training, the last one run). batch: batches done
    in this epoch; batches: per epoch (None if the loader has no length). batch_loss: the last
    batch's mean loss (a detached 0-d tensor; ``float()`` it when you need it: that waits for
    the device). batch_size: its samples. history: the :class:`History` so far.
    best_val_acc: the best validation accuracy so far; improved: this epoch set it.
    stop: set True to end training after this epoch. interrupted: Ctrl-C ended training.
    notes: remarks for this epoch's log line. write: prints a line (a progress bar replaces it
    so lines and bar do not garble each other).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train: Iterable
    val: Iterable | None
    loss_fn: Callable
    device: torch.device
    epochs: int
    history: History
    settings: dict = field(default_factory=dict)
    step_per_batch: bool = False
    channels_last: bool = False
    start_epoch: int = 0
    epoch: int = 0
    batch: int = 0
    batches: int | None = None
    batch_loss: torch.Tensor | None = None
    batch_size: int = 0
    seen: int = 0
    loss_sum: torch.Tensor | None = None
    correct: torch.Tensor | None = None
    lr_at_start: float = 0.0
    epoch_start_time: float = 0.0
    best_val_acc: float = -math.inf
    improved: bool = False
    stop: bool = False
    interrupted: bool = False
    resumed_from: Path | None = None
    notes: list[str] = field(default_factory=list)
    write: Callable[[str], None] = print

    @property
    def synthetic(self) -> bool:
        """True when the run is on a synthetic stand-in (every line says so)."""
        return self.history.synthetic

    def begin_epoch(self, epoch: int, lr: float) -> None:
        """Reset the per-epoch counters for ``epoch``."""
        self.epoch, self.batch, self.seen, self.notes = epoch, 0, 0, []
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        self.correct = torch.zeros((), dtype=torch.int64, device=self.device)
        self.lr_at_start, self.epoch_start_time, self.improved = lr, time.perf_counter(), False

    def end_batch(self, loss: torch.Tensor, correct: torch.Tensor, n: int) -> None:
        """Count one batch: its mean ``loss`` (detached), how many were right, its size."""
        self.batch += 1
        self.batch_loss, self.batch_size = loss, n
        self.seen += n
        self.loss_sum += loss.double() * n
        self.correct += correct

    def running_loss(self) -> float:
        """Mean training loss per sample over this epoch so far."""
        return float(self.loss_sum) / self.seen if self.seen else math.nan

    def running_accuracy(self) -> float:
        """Fraction of this epoch's training samples classified right so far."""
        return int(self.correct) / self.seen if self.seen else math.nan

    def summary(self) -> str:
        """This epoch as one line: training and validation loss and accuracy, and the notes."""
        h, i = self.history, -1
        marker = "[synthetic stand-in] " if self.synthetic else ""
        line = (f"{marker}epoch {h.epoch[i]}/{self.epochs}: train loss {h.train_loss[i]:.4f} "
                f"acc {100 * h.train_acc[i]:.2f}%")
        if h.val_acc[i] is not None:
            name = "test (selection)" if h.selected_on == "test" else "val"
            line += f" | {name} loss {h.val_loss[i]:.4f} acc {100 * h.val_acc[i]:.2f}%"
        return line + "".join(f"  ({n})" for n in self.notes)


class Callback:
    """Base class: override the hooks you need (each gets the :class:`TrainState`)."""

    def on_train_begin(self, state: TrainState) -> None:
        """Before the first epoch of this call (after a resume has restored the state)."""

    def on_batch_end(self, state: TrainState) -> None:
        """After every optimizer step (``state.batch``, ``state.batch_loss``)."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After validation, the history row and the epoch's scheduler step."""

    def on_train_end(self, state: TrainState) -> None:
        """Once at the end, always: after the last epoch, an early stop, an error or Ctrl-C."""


class CallbackList(Callback):
    """Several callbacks called in order; ``on_train_end`` reaches every one of them."""

    def __init__(self, callbacks: Sequence[Callback]):
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback objects (subclass "
                                f"cnnkit.train.Callback); got {type(cb).__name__}")
        self.callbacks = list(callbacks)

    def on_train_begin(self, state):
        for cb in self.callbacks:
            cb.on_train_begin(state)

    def on_batch_end(self, state):
        for cb in self.callbacks:
            cb.on_batch_end(state)

    def on_epoch_end(self, state):
        for cb in self.callbacks:
            cb.on_epoch_end(state)

    def on_train_end(self, state):
        errors = []
        for cb in self.callbacks:
            try:
                cb.on_train_end(state)
            except Exception as err:  # the others still close their bars and files
                errors.append(err)
        if errors:
            raise errors[0]


class EpochLog(Callback):
    """One line per epoch (:meth:`TrainState.summary`): for scripts and headless runs."""

    def on_train_begin(self, state):
        if state.resumed_from is not None:
            state.write(f"resumed from {state.resumed_from} after epoch {state.start_epoch}")

    def on_epoch_end(self, state):
        state.write(state.summary())


class ProgressBar(Callback):
    """A tqdm bar (``tqdm.auto``: a widget in Jupyter, text in a terminal) over every batch of
    the run: the epoch, the running training loss and the time left (ETA).

    refresh: update the bar every this many batches (default: about 50 updates per epoch;
    each update waits for the device to read the loss).
    """

    def __init__(self, refresh: int | None = None):
        self.refresh = None if refresh is None else check_int(refresh, "refresh", 1)
        self.bar = None
        self._pending = 0

    def on_train_begin(self, state):
        from tqdm.auto import tqdm  # only here: in a notebook it loads ipywidgets

        n = state.batches
        self._every = self.refresh or max(1, (n or 100) // 50)
        self._marker = "[synthetic] " if state.synthetic else ""
        self.bar = tqdm(total=None if n is None else n * state.epochs,
                        initial=0 if n is None else n * state.start_epoch, unit="batch",
                        desc=f"{self._marker}epoch {state.start_epoch + 1}/{state.epochs}")
        state.write = tqdm.write
        self._pending = 0

    def _flush(self):
        if self.bar is not None and self._pending:
            self.bar.update(self._pending)
            self._pending = 0

    def on_batch_end(self, state):
        if state.batch == 1:
            self.bar.set_description_str(f"{self._marker}epoch {state.epoch}/{state.epochs}",
                                         refresh=False)
        self._pending += 1
        if self._pending >= self._every:
            self.bar.set_postfix_str(f"loss {state.running_loss():.4f}", refresh=False)
            self._flush()

    def on_epoch_end(self, state):
        h = state.history
        self.bar.set_postfix_str(
            f"train loss {h.train_loss[-1]:.4f}" + ("" if h.val_acc[-1] is None else
                                                   f", val acc {100 * h.val_acc[-1]:.2f}%"),
            refresh=False)
        self._flush()

    def on_train_end(self, state):
        if self.bar is not None:
            self._flush()
            self.bar.close()
            self.bar = None
        state.write = print


class Checkpoint(Callback):
    """``last.pt`` after every epoch and ``best.pt`` whenever the validation accuracy improves,
    in ``folder`` (created if needed), written atomically (see :mod:`cnnkit.train.checkpoint`).
    After Ctrl-C it says which epoch ``last.pt`` holds and how to resume."""

    def __init__(self, folder):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise NotADirectoryError(f"checkpoint_dir must be a folder; {self.folder} is a file")
        self.saved = 0

    def on_train_begin(self, state):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.saved = state.start_epoch

    def on_epoch_end(self, state):
        data = payload(state)
        save_checkpoint(data, self.folder / "last.pt")
        self.saved = state.epoch
        if state.improved:
            save_checkpoint(data, self.folder / "best.pt")
            state.notes.append("best so far: saved best.pt")

    def on_train_end(self, state):
        if state.interrupted and self.saved > 0:
            print(f"interrupted in epoch {state.epoch}; {self.folder / 'last.pt'} holds the run "
                  f"after epoch {self.saved}: fit(..., resume=True) continues it")


class EarlyStopping(Callback):
    """Stop when the validation metric has not improved for ``patience`` epochs.

    monitor: "val_acc" (higher is better) or "val_loss" (lower is better); min_delta: the
    smallest change that counts as an improvement. Needs ``val`` (never the training data).
    The rule reads only the :class:`History`, so a resumed run stops where the uninterrupted one
    would. The model keeps the last epoch's weights: ``best.pt`` (with ``checkpoint_dir``) holds
    the best ones.
    """

    def __init__(self, patience: int = 3, monitor: str = "val_acc", min_delta: float = 0.0):
        self.patience = check_int(patience, "patience", 1)
        self.monitor = check_choice(monitor, "monitor", ("val_acc", "val_loss"))
        self.min_delta = check_real(min_delta, "min_delta", 0.0)

    def on_train_begin(self, state):
        if state.val is None:
            raise ValueError("EarlyStopping needs validation data: pass val= to fit (a loader "
                             "of a split made by cnnkit.data.train_val_split)")

    def best_epoch(self, history: History) -> int | None:
        """The epoch of the best monitored value (the first that beat the previous best by
        more than ``min_delta``)."""
        sign = 1.0 if self.monitor == "val_acc" else -1.0
        best, best_epoch = -math.inf, None
        for e, v in zip(history.epoch, getattr(history, self.monitor), strict=True):
            if v is not None and math.isfinite(v) and sign * v > best + self.min_delta:
                best, best_epoch = sign * v, e
        return best_epoch

    def on_epoch_end(self, state):
        best = self.best_epoch(state.history)
        waited = state.epoch - (best if best is not None else 0)
        if waited >= self.patience:
            state.stop = True
            state.notes.append(f"early stop: no {self.monitor} improvement for {waited} epochs; "
                               f"best epoch {best}")


class RestoreBest(Callback):
    """End training with the weights of the best validation epoch (:attr:`History.best_epoch`),
    so that the test split, evaluated once after ``fit``, measures the model the validation data
    chose. The best weights are kept as a copy on the CPU; after a resume whose best epoch came
    before it, they are read from ``best.pt`` in ``checkpoint_dir``. Not after Ctrl-C (the run
    is unfinished). Needs ``val``."""

    def __init__(self, checkpoint_dir=None):
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.best: dict | None = None

    def on_train_begin(self, state):
        if state.val is None:
            raise ValueError("RestoreBest needs validation data: pass val= to fit")
        self.best = None

    def on_epoch_end(self, state):
        if state.improved:
            self.best = {k: v.detach().to("cpu", copy=True)
                         for k, v in state.model.state_dict().items()}

    def on_train_end(self, state):
        if state.interrupted or state.history.best_epoch is None:
            return
        if self.best is None:  # the best epoch was before this call (a resumed run)
            from cnnkit.train.checkpoint import load_checkpoint

            if self.checkpoint_dir is None:
                raise ValueError("RestoreBest: the best epoch was before the resume; pass "
                                 "RestoreBest(checkpoint_dir) to read it from best.pt")
            load_checkpoint(self.checkpoint_dir / "best.pt", state.model)
        else:
            state.model.load_state_dict(self.best)
        state.notes.append(f"restored the weights of epoch {state.history.best_epoch}")
