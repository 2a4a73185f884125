"""The record of a training run: :class:`History`, one entry per epoch, plus the run's labels.

Which data chose the model matters: ``selected_on`` is "val" (a validation split carved from
the training data: honest) or "test" (only with ``fit(..., allow_test_as_val=True)``: the
selection then overstates accuracy, and every name and header says so). ``synthetic`` marks a
run on a synthetic stand-in; every metric name from :meth:`History.metrics` then carries
"synthetic".
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cnnkit._validate import check_choice

__all__ = ["History", "EPOCH_FIELDS"]

EPOCH_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")
"""The per-epoch lists of a :class:`History`, in order."""


def _finite_or_none(v):
    return v if v is None or math.isfinite(v) else None


@dataclass
class History:
    """Per-epoch metrics of a training run, one list entry per epoch.

    epoch: 1, 2, ... train_loss: mean loss per sample over the epoch (while the weights were
    changing). train_acc: fraction of training samples classified right during the epoch.
    val_loss, val_acc: the same on the selection data (``val``) after the epoch (``None``
    without it). lr: learning rate at the start of the epoch (first parameter group).
    seconds: wall-clock time of the epoch, validation included.

    Run labels: selected_on: "val" or "test", the split ``val_*`` were measured on (see the
    module docstring). synthetic: trained on a synthetic stand-in. test_loss, test_accuracy:
    the test split's result, set once after training with :meth:`set_test`.

    ``best_epoch`` / ``val_accuracy`` are the selection; ``metrics()`` the named results to
    record; ``table()`` a text table; ``to_dict()`` / ``to_json()`` the data; ``plot()`` the
    loss and accuracy curves.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    selected_on: str = "val"
    synthetic: bool = False
    test_loss: float | None = None
    test_accuracy: float | None = None

    def __post_init__(self) -> None:
        check_choice(self.selected_on, "selected_on", ("val", "test"))

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, **row: Any) -> None:
        """Add one epoch: every per-epoch field given by name (``epoch=..., train_loss=...``)."""
        if sorted(row) != sorted(EPOCH_FIELDS):
            raise ValueError(f"append needs exactly the fields {list(EPOCH_FIELDS)}; got "
                             f"{sorted(row)}")
        for name in EPOCH_FIELDS:
            getattr(self, name).append(row[name])

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the highest ``val_acc`` (the first of ties), or None without any."""
        scored = [(a, -e) for e, a in zip(self.epoch, self.val_acc, strict=True)
                  if a is not None and math.isfinite(a)]
        return -max(scored)[1] if scored else None

    @property
    def val_accuracy(self) -> float | None:
        """``val_acc`` of the best epoch: the accuracy that chose the model (None without val)."""
        best = self.best_epoch
        return None if best is None else self.val_acc[self.epoch.index(best)]

    def set_test(self, result) -> None:
        """Record the test split's result (an :class:`~cnnkit.train.Evaluation`), once.

        The test set is used once, after training, on the chosen model: a second call is an
        error (evaluate variants on the validation split instead).
        """
        if self.test_accuracy is not None:
            raise ValueError("the test result is already recorded: the test set is used once, "
                             "at the end; compare models on the validation split")
        self.test_loss, self.test_accuracy = float(result.loss), float(result.accuracy)

    def metric_name(self, name: str) -> str:
        """``name`` as recorded: "selected_on_test" / "synthetic" appended where they apply."""
        if self.selected_on == "test" and (name.startswith("val_") or name == "best_epoch"):
            name = name.replace("val_", "test_", 1) + "_selected_on_test"
        return f"{name}_synthetic" if self.synthetic else name

    def metrics(self) -> dict[str, Any]:
        """The run's results by name, for ``record``: ``val_accuracy`` (best, the selection),
        ``best_epoch``, ``epochs``, and ``test_accuracy`` / ``test_loss`` once set; names carry
        the labels of :meth:`metric_name`."""
        out: dict[str, Any] = {}
        if self.val_accuracy is not None:
            out[self.metric_name("val_accuracy")] = self.val_accuracy
            out[self.metric_name("best_epoch")] = self.best_epoch
        out[self.metric_name("epochs")] = len(self)
        if self.test_accuracy is not None:
            out[self.metric_name("test_accuracy")] = self.test_accuracy
            out[self.metric_name("test_loss")] = self.test_loss
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{field: list of per-epoch values}`` (copies) plus the run labels."""
        out: dict[str, Any] = {name: list(getattr(self, name)) for name in EPOCH_FIELDS}
        out.update(selected_on=self.selected_on, synthetic=self.synthetic,
                   test_loss=self.test_loss, test_accuracy=self.test_accuracy)
        return out

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """The inverse of :meth:`to_dict` (also reads :meth:`to_json`'s output, parsed)."""
        missing = [n for n in EPOCH_FIELDS if n not in data]
        if missing:
            raise ValueError(f"not a History: missing {missing}")
        if len({len(data[n]) for n in EPOCH_FIELDS}) != 1:
            raise ValueError("not a History: the per-epoch lists have different lengths")
        labels = {f.name: data[f.name] for f in fields(cls)
                  if f.name not in EPOCH_FIELDS and f.name in data}
        return cls(**{n: list(data[n]) for n in EPOCH_FIELDS}, **labels)

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int | None = 2) -> str:
        """The history as JSON (non-finite numbers become null); also written to ``path``."""
        def clean(v):
            if isinstance(v, list):
                return [clean(x) for x in v]
            return _finite_or_none(v) if isinstance(v, float) else v

        text = json.dumps({k: clean(v) for k, v in self.to_dict().items()}, indent=indent,
                          allow_nan=False)
        if path is not None:
            from cnnkit._atomic import write_atomic

            write_atomic(Path(path), text + "\n")
        return text

    @property
    def _val_label(self) -> str:
        return "test" if self.selected_on == "test" else "val"

    def table(self) -> str:
        """A text table, one row per epoch; the selected (best) epoch is marked ``*``."""
        v = self._val_label
        header = (f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {v + ' loss':>8}  "
                  f"{v + ' acc':>8}  {'lr':>9}  {'seconds':>7}")
        lines = [header]
        best = self.best_epoch

        def num(x, fmt, width):
            return f"{'-':>{width}}" if x is None else f"{x:{fmt}}"

        for i, e in enumerate(self.epoch):
            va = self.val_acc[i]
            lines.append(
                f"{e:>5}  {self.train_loss[i]:>10.4f}  {100 * self.train_acc[i]:>8.2f}%  "
                f"{num(self.val_loss[i], '>8.4f', 8)}  "
                f"{num(None if va is None else 100 * va, '>7.2f', 8)}{'' if va is None else '%'}"
                f"  {self.lr[i]:>9.3g}  {self.seconds[i]:>7.1f}"
                + ("  *" if e == best else "")
            )
        notes = []
        if self.selected_on == "test":
            notes.append("selected on TEST data (allow_test_as_val=True): the best accuracy "
                         "overstates what the model will do on new data")
        if self.synthetic:
            notes.append("synthetic stand-in data: these numbers say nothing about the real "
                         "dataset")
        return "\n".join(lines + [f"({n})" for n in notes])

    def __str__(self) -> str:
        return self.table()

    def plot(self, axes=None, label: str | None = None):
        """Loss (left) and accuracy in % (right) per epoch; returns the matplotlib Figure.

        Training curves are solid, validation curves dashed. axes: a pair of matplotlib Axes
        to draw into (to overlay several runs, e.g. Adam vs SGD: pass the same axes and a
        ``label`` per run); by default a new figure.
        """
        import matplotlib.pyplot as plt  # only here: computational modules stay matplotlib-free

        if axes is None:
            fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
        else:
            if len(axes) != 2:
                raise ValueError("axes must be a pair of Axes (loss, accuracy)")
            fig = axes[0].figure
        ax_loss, ax_acc = axes
        prefix = f"{label}: " if label else ""
        val_name = "test (selection)" if self.selected_on == "test" else "validation"
        line = ax_loss.plot(self.epoch, self.train_loss, "o-", label=f"{prefix}train")[0]
        color = line.get_color()
        ax_acc.plot(self.epoch, [100 * a for a in self.train_acc], "o-", color=color,
                    label=f"{prefix}train")
        if any(v is not None for v in self.val_loss):
            nan = float("nan")
            ax_loss.plot(self.epoch, [nan if v is None else v for v in self.val_loss], "s--",
                         color=color, label=f"{prefix}{val_name}")
            ax_acc.plot(self.epoch, [nan if v is None else 100 * v for v in self.val_acc], "s--",
                        color=color, label=f"{prefix}{val_name}")
        for ax, title in ((ax_loss, "loss (mean per sample)"), (ax_acc, "accuracy (%)")):
            ax.set_xlabel("epoch")
            ax.set_title(title + (" [synthetic data]" if self.synthetic else ""))
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small")
            if self.epoch:
                ax.xaxis.get_major_locator().set_params(integer=True)
        return fig
