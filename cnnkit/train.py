"""Training a classifier: ``fit``, ``evaluate``, checkpoints, the ``History``, predictions.

The loop ``fit`` runs is the one lesson 4 writes by hand, once per batch::

    logits = model(x)                    # x: (B, C, H, W) -> logits (B, K)
    loss = loss_fn(logits, y)            # y: (B,) class indices; mean over the batch
    optimizer.zero_grad(); loss.backward(); optimizer.step()

plus what makes it usable: per-epoch metrics in a :class:`History`, evaluation done right,
progress bars, a learning-rate schedule, and checkpoints that survive a crash and resume exactly.

Evaluation (:func:`evaluate`) switches the model to ``eval()`` (dropout off, batch-norm running
statistics), runs without gradients, restores the previous mode, and divides by the number of
samples actually seen, so a short last batch counts what it holds (seed 001 divided by
``len(loader) * 64``). Accuracies are fractions in [0, 1]; losses are means per sample.

Checkpoints (``checkpoint_dir``): after every epoch ``last.pt``, and ``best.pt`` whenever the
validation accuracy improves. Each is a ``torch.save`` dict (format :data:`CHECKPOINT_FORMAT`)
with the model, optimizer and scheduler state dicts, the RNG states (Python, numpy, torch CPU
and CUDA, and the :class:`~cnnkit.data.TensorLoader`'s generator), the epoch, the history and
the settings. It is written atomically: to a temporary file in the same folder, flushed and
``fsync``-ed, then renamed over the old file with ``os.replace`` (and the folder synced), so a
crash or Ctrl-C mid-write leaves the previous checkpoint intact; a temporary file left by a
killed process is removed at the next save. Files are read back with
``torch.load(weights_only=True)``: loading a checkpoint never runs code from it.

Exact resume: ``fit(..., resume=True)`` restores everything from ``last.pt`` and continues
with the next epoch. Because the states saved at the end of epoch k are all the run depends on,
a run interrupted after epoch k (or during epoch k + 1) and resumed ends with the same weights,
bit for bit on the CPU, as the same run uninterrupted (same code, threads and machine; see
:mod:`cnnkit.seeding` for the limits). A corrupt file, a checkpoint of another model or other
settings is a :class:`CheckpointError` that says what differs, never a silent fresh start.

This module imports tqdm (progress) and matplotlib (``History.plot``) only when they are used.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import numbers
import os
import pickle
import random
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.data import ImageDataset, TensorLoader

__all__ = [
    "CHECKPOINT_FORMAT",
    "OPTIMIZERS",
    "SCHEDULERS",
    "CheckpointError",
    "Evaluation",
    "History",
    "fit",
    "evaluate",
    "predict",
    "prepare_image",
    "predict_image",
    "load_checkpoint",
]

CHECKPOINT_FORMAT = "cnnkit.train.checkpoint/1"
"""The ``format`` entry of every checkpoint this module writes."""

OPTIMIZERS = {"adam": 1e-3, "adamw": 1e-3, "sgd": 1e-2}
"""Optimizer names ``fit`` accepts, with their default learning rates."""

SCHEDULERS = ("step", "cosine")
"""Scheduler names ``fit`` accepts: "step" (StepLR: lr x 0.1 every ``max(1, epochs // 3)``
epochs) and "cosine" (CosineAnnealingLR over ``epochs``)."""

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, not a cnnkit checkpoint, or of another run."""


# --------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------


def _finite_or_none(v):
    return v if v is None or math.isfinite(v) else None


@dataclass
class History:
    """Per-epoch metrics of a training run, one list entry per epoch.

    epoch: 1, 2, ... train_loss: mean loss per sample over the epoch (while the weights were
    changing). train_acc: fraction of training samples classified right during the epoch.
    val_loss, val_acc: the same on the validation data after the epoch (``None`` without
    validation data). lr: learning rate during the epoch (of the first parameter group).
    seconds: wall-clock time of the epoch, validation included.

    ``table()`` is a text table, ``to_dict()`` / ``to_json()`` the data, ``plot()`` a figure
    of the loss and accuracy curves.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float | None] = field(default_factory=list)
    val_acc: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, **row: Any) -> None:
        """Add one epoch: every field given by name (``epoch=..., train_loss=..., ...``)."""
        names = [f.name for f in fields(self)]
        if sorted(row) != sorted(names):
            raise ValueError(f"append needs exactly the fields {names}; got {sorted(row)}")
        for name in names:
            getattr(self, name).append(row[name])

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the highest validation accuracy (the first of ties), or None."""
        scored = [(a, -e) for e, a in zip(self.epoch, self.val_acc, strict=True)
                  if a is not None and math.isfinite(a)]
        return -max(scored)[1] if scored else None

    def to_dict(self) -> dict[str, list]:
        """``{field: list of per-epoch values}`` (plain Python numbers, copies)."""
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        """The inverse of :meth:`to_dict` (also reads :meth:`to_json`'s output, parsed)."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"not a History: missing {missing}")
        lengths = {len(data[n]) for n in names}
        if len(lengths) != 1:
            raise ValueError("not a History: the per-epoch lists have different lengths")
        return cls(**{n: list(data[n]) for n in names})

    def to_json(self, path: str | os.PathLike[str] | None = None, indent: int | None = 2) -> str:
        """The history as JSON (non-finite numbers become null); also written to ``path``."""
        data = {k: [_finite_or_none(v) if isinstance(v, float) else v for v in vs]
                for k, vs in self.to_dict().items()}
        text = json.dumps(data, indent=indent, allow_nan=False)
        if path is not None:
            Path(path).write_text(text + "\n", encoding="utf-8")
        return text

    def table(self) -> str:
        """A text table, one row per epoch; the best validation accuracy is marked ``*``."""
        header = (f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {'val loss':>8}  "
                  f"{'val acc':>8}  {'lr':>9}  {'seconds':>7}")
        lines = [header]
        best = self.best_epoch

        def num(v, fmt, width):
            return f"{'-':>{width}}" if v is None else f"{v:{fmt}}"

        for i, e in enumerate(self.epoch):
            va = self.val_acc[i]
            lines.append(
                f"{e:>5}  {self.train_loss[i]:>10.4f}  {100 * self.train_acc[i]:>8.2f}%  "
                f"{num(self.val_loss[i], '>8.4f', 8)}  "
                f"{num(None if va is None else 100 * va, '>7.2f', 8)}{'' if va is None else '%'}"
                f"  {self.lr[i]:>9.3g}  {self.seconds[i]:>7.1f}"
                + ("  *" if e == best else "")
            )
        return "\n".join(lines)

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
        line = ax_loss.plot(self.epoch, self.train_loss, "o-", label=f"{prefix}train")[0]
        color = line.get_color()
        ax_acc.plot(self.epoch, [100 * a for a in self.train_acc], "o-", color=color,
                    label=f"{prefix}train")
        if any(v is not None for v in self.val_loss):
            nan = float("nan")
            ax_loss.plot(self.epoch, [nan if v is None else v for v in self.val_loss], "s--",
                         color=color, label=f"{prefix}validation")
            ax_acc.plot(self.epoch, [nan if v is None else 100 * v for v in self.val_acc], "s--",
                        color=color, label=f"{prefix}validation")
        for ax, title in ((ax_loss, "loss (mean per sample)"), (ax_acc, "accuracy (%)")):
            ax.set_xlabel("epoch")
            ax.set_title(title)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="small")
            if self.epoch:
                ax.xaxis.get_major_locator().set_params(integer=True)
        return fig


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`.

    loss: mean loss per sample. accuracy: fraction right, in [0, 1]. correct: how many were
    right. samples: how many samples were seen (the real count, short last batch included).
    """

    loss: float
    accuracy: float
    correct: int
    samples: int

    def __str__(self) -> str:
        return (f"loss {self.loss:.4f}, accuracy {100 * self.accuracy:.2f}% "
                f"({self.correct:,} / {self.samples:,})")


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _check_batches(data, name: str) -> None:
    if isinstance(data, ImageDataset):
        raise TypeError(f"{name} must give batches (x, y); wrap the dataset in a loader, e.g. "
                        f"cnnkit.data.TensorLoader({name}, batch_size=64, mean=..., std=...)")
    if not isinstance(data, Iterable):
        raise TypeError(f"{name} must be an iterable of (x, y) batches (a TensorLoader or a "
                        f"DataLoader); got {type(data).__name__}")


def _split_batch(batch, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"{name} must yield (x, y) pairs; got {type(batch).__name__}")
    return batch[0], batch[1]


def evaluate(model: nn.Module, data: Iterable, *, loss_fn: LossFn | None = None,
             device: str | torch.device | None = None) -> Evaluation:
    """Loss and accuracy of ``model`` on ``data``, counted over the real number of samples.

    model: maps x (B, C, H, W) to logits (B, K). data: batches (x, y), y: (B,) int64 class
    indices (a :class:`~cnnkit.data.TensorLoader` or a ``DataLoader``). loss_fn: mean loss of
    a batch, ``loss_fn(logits, y)`` (default: cross-entropy). device: where to compute
    (default: the model's).

    The model is put in ``eval()`` mode and run under ``torch.no_grad()``; its previous mode
    (training or not) is restored afterwards, even after an error.
    """
    _check_batches(data, "data")
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    samples = 0
    try:
        with torch.no_grad():
            for batch in data:
                x, y = _split_batch(batch, "data")
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                logits = model(x)
                n = y.shape[0]
                loss_sum += loss_fn(logits, y).double() * n
                correct += (logits.argmax(1) == y).sum()
                samples += n
    finally:
        model.train(was_training)
    if samples == 0:
        raise ValueError("data gave no samples to evaluate")
    c = int(correct)
    return Evaluation(float(loss_sum) / samples, c / samples, c, samples)


def predict(model: nn.Module, data: Iterable, *, device: str | torch.device | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true classes for every sample of ``data``: two int64 tensors (N,) on CPU.

    Use an unshuffled loader so that position i is sample i of the dataset (e.g. to find the
    most confused digits and show them). Mode handling as in :func:`evaluate`.
    """
    _check_batches(data, "data")
    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    preds, labels = [], []
    try:
        with torch.no_grad():
            for batch in data:
                x, y = _split_batch(batch, "data")
                preds.append(model(x.to(device)).argmax(1).cpu())
                labels.append(y.cpu())
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("data gave no samples to predict")
    return torch.cat(preds), torch.cat(labels).to(torch.int64)


# --------------------------------------------------------------------------------------
# Optimizer and scheduler
# --------------------------------------------------------------------------------------


def _positive(value, name: str, zero_ok: bool = False) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number; got {value!r}")
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'>= 0' if zero_ok else '> 0'}; got {value!r}")
    return float(value)


def _make_optimizer(model: nn.Module, optimizer, lr, momentum, weight_decay
                    ) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay)):
            if value is not None:
                raise ValueError(f"{name}: set it on the {type(optimizer).__name__} you pass as "
                                 "optimizer (it only applies to optimizer names)")
        mine = {id(p) for p in model.parameters()}
        theirs = [p for g in optimizer.param_groups for p in g["params"]]
        if not theirs or any(id(p) not in mine for p in theirs):
            raise ValueError("optimizer must be built on this model's parameters, e.g. "
                             "torch.optim.SGD(model.parameters(), lr=0.01)")
        return optimizer
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))} or a "
                         f"torch.optim.Optimizer; got {optimizer!r}")
    name = optimizer.lower()
    lr = OPTIMIZERS[name] if lr is None else _positive(lr, "lr")
    weight_decay = 0.0 if weight_decay is None else _positive(weight_decay, "weight_decay", True)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True)")
    # the fused implementation updates every parameter in one kernel per step instead of a
    # dozen small ones per tensor (same algorithm; about 0.4 ms less per LeNet step on a CPU)
    fused = {"fused": True} if all(
        p.dtype in _FUSED_DTYPES and p.device.type in ("cpu", "cuda") for p in params) else {}
    if name == "sgd":
        momentum = 0.9 if momentum is None else _positive(momentum, "momentum", True)
        if momentum >= 1:
            raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                               **fused)
    if momentum is not None:
        raise ValueError(f"momentum applies to optimizer='sgd' only ({name!r} has betas)")
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return cls(params, lr=lr, weight_decay=weight_decay, **fused)


_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_Scheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau


def _make_scheduler(scheduler, optimizer: torch.optim.Optimizer, epochs: int):
    sched = torch.optim.lr_scheduler
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        if scheduler == "step":
            return sched.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
        if scheduler == "cosine":
            return sched.CosineAnnealingLR(optimizer, T_max=epochs)
        raise ValueError(f"scheduler must be one of {', '.join(map(repr, SCHEDULERS))}, a "
                         f"scheduler or a function optimizer -> scheduler; got {scheduler!r}")
    if not isinstance(scheduler, _Scheduler) and callable(scheduler):
        scheduler = scheduler(optimizer)
        if not isinstance(scheduler, _Scheduler):
            raise TypeError("scheduler: the function must return a torch.optim.lr_scheduler "
                            f"scheduler; it returned {type(scheduler).__name__}")
    if not isinstance(scheduler, _Scheduler):
        raise TypeError(f"scheduler must be a name, a torch scheduler or a function optimizer "
                        f"-> scheduler; got {type(scheduler).__name__}")
    if scheduler.optimizer is not optimizer:
        raise ValueError("scheduler must be built on the optimizer fit uses: pass the optimizer "
                         "instance too, or a function such as "
                         "lambda opt: torch.optim.lr_scheduler.StepLR(opt, 5)")
    return scheduler


# --------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],  # noqa: NPY002
                         n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _save_atomic(obj: Any, path: Path) -> None:
    """``torch.save(obj)`` to ``path`` atomically: a temporary file in the same folder, flushed
    and fsync-ed, renamed over ``path``; the folder is fsync-ed so the rename is durable."""
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):  # from a killed earlier run
        with contextlib.suppress(OSError):
            leftover.unlink()
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # not every platform can open a folder
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read_checkpoint(path: Path, map_location="cpu") -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    corrupt = (f"{path} is corrupt or truncated, or not a checkpoint of torch.save; delete it "
               "(or choose another checkpoint_dir) to start afresh")
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; its index is at the end
        raise CheckpointError(f"{corrupt} (not a complete zip archive)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        lines = str(err).splitlines()
        why = next((line.strip() for line in lines if "Unsupported" in line),
                   lines[0] if lines else "")
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain data ({why}): it is not a "
            "checkpoint of cnnkit.train, and it is not loaded (loading it could run code)"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError,
            AttributeError, IndexError) as err:
        first = str(err).splitlines()[0] if str(err) else ""
        raise CheckpointError(f"{corrupt} ({type(err).__name__}: {first})") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a cnnkit.train checkpoint (format "
                              f"{ckpt.get('format') if isinstance(ckpt, dict) else None!r}, "
                              f"expected {CHECKPOINT_FORMAT!r})")
    return ckpt


def load_checkpoint(path: str | os.PathLike[str], model: nn.Module | None = None, *,
                    map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint written by :func:`fit`; load its weights into ``model`` if given.

    Returns the checkpoint dict: ``model`` (state dict), ``optimizer``, ``scheduler``,
    ``epoch`` (epochs completed), ``history`` (``History.from_dict`` rebuilds it), ``rng``,
    ``settings``... Raises :class:`CheckpointError` for a corrupt file or one whose weights do
    not fit ``model``. Typical use: ``load_checkpoint("runs/lenet/best.pt", model)``.
    """
    path = Path(path)
    ckpt = _read_checkpoint(path, map_location)
    if model is not None:
        _load_model(model, ckpt, path)
    return ckpt


def _load_model(model: nn.Module, ckpt: dict, path: Path) -> None:
    saved = ckpt.get("model_class")
    if saved is not None and saved != type(model).__name__:
        raise CheckpointError(f"{path} holds a {saved}, but the model is a "
                              f"{type(model).__name__}")
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, TypeError) as err:
        detail = " ".join(str(err).split())[:600]
        raise CheckpointError(f"{path} does not match the model: {detail}") from err


def _comparable(settings: dict) -> dict:
    return {k: v for k, v in settings.items()
            if v is None or isinstance(v, (bool, int, float, str, tuple, list))}


def _settings(optimizer, scheduler, train) -> dict:
    return {
        "optimizer": type(optimizer).__name__,
        "optimizer_defaults": _comparable(dict(optimizer.defaults)),
        "scheduler": None if scheduler is None else type(scheduler).__name__,
        "batches_per_epoch": len(train) if hasattr(train, "__len__") else None,
    }


def _check_settings(saved: dict, now: dict, path: Path) -> None:
    diffs = []
    for key in ("optimizer", "scheduler", "batches_per_epoch"):
        if saved.get(key) != now[key]:
            diffs.append(f"{key}: checkpoint {saved.get(key)!r}, now {now[key]!r}")
    a, b = saved.get("optimizer_defaults", {}), now["optimizer_defaults"]
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, (tuple, list)) and isinstance(vb, (tuple, list)):
            va, vb = list(va), list(vb)
        if va != vb:
            diffs.append(f"optimizer {key}: checkpoint {a.get(key)!r}, now {b.get(key)!r}")
    if diffs:
        raise CheckpointError(
            f"{path} was made with other settings, so the run cannot continue exactly: "
            + "; ".join(diffs) + ". Use the same settings, or resume=False to start afresh."
        )


# --------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------


class _Quiet:
    """Stands in for a tqdm bar when progress is off."""

    def update(self, n=1):
        pass

    def set_postfix_str(self, s="", refresh=True):
        pass

    def close(self):
        pass

    @staticmethod
    def write(s):
        pass


def _lr(optimizer: torch.optim.Optimizer) -> float:
    lr = optimizer.param_groups[0]["lr"]
    return float(lr.item() if isinstance(lr, torch.Tensor) else lr)


def fit(model: nn.Module, train: Iterable, val: Iterable | None = None, epochs: int = 10, *,
        optimizer: str | torch.optim.Optimizer = "adam", lr: float | None = None,
        momentum: float | None = None, weight_decay: float | None = None,
        scheduler=None, loss_fn: LossFn | None = None,
        device: str | torch.device | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
        progress: bool = True, channels_last: bool = False) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs; return the :class:`History`.

    model: maps x (B, C, H, W) to logits (B, K); it is trained in place.
    train, val: batches (x, y) with y (B,) int64 class indices, e.g.
    :class:`~cnnkit.data.TensorLoader` (its shuffling state is checkpointed) or a
    ``DataLoader``. ``val`` is evaluated after every epoch (:func:`evaluate`).
    epochs: the total number of epochs of the run (a resumed run continues up to it).
    optimizer: "adam" (default lr 1e-3), "adamw" (1e-3) or "sgd" (lr 0.01, momentum 0.9),
    built on the model's trainable parameters with ``lr``, ``momentum`` (SGD only) and
    ``weight_decay`` (default 0), in PyTorch's fused implementation (one kernel per step) when
    the parameters allow it; or a ready ``torch.optim.Optimizer`` (then leave those three
    unset).
    scheduler: stepped once after every epoch. None; "step" (lr x 0.1 every
    ``max(1, epochs // 3)`` epochs); "cosine" (cosine annealing to 0 over ``epochs``); a
    function ``optimizer -> scheduler`` such as
    ``lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)``; or a
    scheduler built on the optimizer you pass. ``ReduceLROnPlateau`` is stepped with the
    validation loss (the training loss without ``val``).
    loss_fn: ``loss_fn(logits, y)`` -> mean loss of the batch (default cross-entropy).
    device: where to train (the model is moved there); default: where the model is.
    checkpoint_dir: folder for ``last.pt`` (every epoch) and ``best.pt`` (best validation
    accuracy; only with ``val``), written atomically; created if needed.
    resume: continue the run saved in ``checkpoint_dir/last.pt`` (weights, optimizer,
    scheduler, RNG and loader states, history) from the next epoch; the result is the same,
    bit for bit on the CPU, as an uninterrupted run. A missing, corrupt or mismatched
    checkpoint is an error, never a silent fresh start.
    progress: tqdm bars (epochs, and batches with the running loss) and one line per epoch;
    ``False`` prints nothing.
    channels_last: store the model's 4-D weights and every 4-D batch in
    ``torch.channels_last`` memory format (same values, pixels stored channel-minor). On the CPU
    oneDNN's convolutions and pooling are much faster that way (LeNet-5: about 1.6x per
    training step); the model stays channels_last after ``fit``.

    Ctrl-C (KeyboardInterrupt) stops training; the last checkpoint stays intact and a message
    says how to resume.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    _check_batches(train, "train")
    if val is not None:
        _check_batches(val, "val")
    if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int; got {epochs!r}")
    epochs = int(epochs)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function (logits, y) -> loss; got {loss_fn!r}")
    if device is not None:
        device = torch.device(device)
        model.to(device)
    else:
        device = _model_device(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    sched = _make_scheduler(scheduler, opt, epochs)
    plateau = isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)
    stateful_loader = callable(getattr(train, "state_dict", None)) and callable(
        getattr(train, "load_state_dict", None))
    settings = _settings(opt, sched, train)

    ckpt_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if resume and ckpt_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (the folder of the run to continue)")
    if ckpt_dir is not None:
        if ckpt_dir.exists() and not ckpt_dir.is_dir():
            raise NotADirectoryError(f"checkpoint_dir must be a folder; {ckpt_dir} is a file")
        ckpt_dir.mkdir(parents=True, exist_ok=True)

    history = History()
    start, best_acc = 0, -math.inf
    if resume:
        path = ckpt_dir / "last.pt"
        if not path.exists():
            raise FileNotFoundError(f"resume=True but there is no checkpoint {path} (is "
                                    "checkpoint_dir right?); use resume=False to start afresh")
        ckpt = _read_checkpoint(path)  # on the CPU: RNG states must stay there
        _check_settings(ckpt.get("settings", {}), settings, path)  # before touching the model
        _load_model(model, ckpt, path)
        try:
            opt.load_state_dict(ckpt["optimizer"])
            if sched is not None:
                sched.load_state_dict(ckpt["scheduler"])
            if stateful_loader and ckpt.get("train_loader") is not None:
                train.load_state_dict(ckpt["train_loader"])
            history = History.from_dict(ckpt["history"])
            start = int(ckpt["epoch"])
            best_acc = float(ckpt["best_val_acc"])
            rng = ckpt["rng"]
        except (KeyError, ValueError, TypeError, RuntimeError) as err:
            raise CheckpointError(f"{path} cannot be restored: {err}") from err
        if start > epochs:
            raise ValueError(f"epochs={epochs}, but the checkpoint {path} is already after epoch "
                             f"{start}: pass epochs >= {start}")
        _set_rng_state(rng)  # last: everything above may have drawn random numbers

    if progress:
        from tqdm.auto import tqdm  # only here: in a notebook it loads ipywidgets

        epoch_bar = tqdm(total=epochs, initial=start, desc="epochs", unit="epoch")
        write = epoch_bar.write
    else:
        tqdm, epoch_bar, write = None, _Quiet(), _Quiet.write
    if resume:
        write(f"resumed from {ckpt_dir / 'last.pt'} after epoch {start}")
    n_batches = len(train) if hasattr(train, "__len__") else None
    refresh = max(1, (n_batches or 100) // 50)
    epoch = saved = start
    try:
        for epoch in range(start + 1, epochs + 1):
            t0 = time.perf_counter()
            lr_now = _lr(opt)
            bar = (tqdm(total=n_batches, desc=f"epoch {epoch}", unit="batch", leave=False)
                   if tqdm is not None else _Quiet())
            model.train()
            loss_sum = torch.zeros((), dtype=torch.float64, device=device)
            correct = torch.zeros((), dtype=torch.int64, device=device)
            seen = 0
            pending = 0
            for batch in train:
                x, y = _split_batch(batch, "train")
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if channels_last and x.ndim == 4:
                    x = x.contiguous(memory_format=torch.channels_last)
                logits = model(x)
                loss = loss_fn(logits, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                n = y.shape[0]
                seen += n
                loss_sum += loss.detach().double() * n
                correct += (logits.detach().argmax(1) == y).sum()
                pending += 1
                if pending == refresh:
                    bar.set_postfix_str(f"loss {float(loss_sum) / seen:.4f}", refresh=False)
                    bar.update(pending)
                    pending = 0
            bar.update(pending)
            bar.close()
            if seen == 0:
                raise ValueError("train gave no batches")
            train_loss, train_acc = float(loss_sum) / seen, int(correct) / seen
            val_loss = val_acc = None
            if val is not None:
                result = evaluate(model, val, loss_fn=loss_fn, device=device)
                val_loss, val_acc = result.loss, result.accuracy
            if sched is not None:
                if plateau:
                    sched.step(val_loss if val_loss is not None else train_loss)
                else:
                    sched.step()
            history.append(epoch=epoch, train_loss=train_loss, train_acc=train_acc,
                           val_loss=val_loss, val_acc=val_acc, lr=lr_now,
                           seconds=time.perf_counter() - t0)
            improved = val_acc is not None and math.isfinite(val_loss) and val_acc > best_acc
            if improved:
                best_acc = val_acc
            summary = (f"epoch {epoch}/{epochs}: train loss {train_loss:.4f} acc "
                       f"{100 * train_acc:.2f}%")
            if val_acc is not None:
                summary += f" | val loss {val_loss:.4f} acc {100 * val_acc:.2f}%"
            if not math.isfinite(train_loss):
                summary += "  (the loss is not finite: training diverged; try a smaller lr)"
            if ckpt_dir is not None:
                payload = {
                    "format": CHECKPOINT_FORMAT,
                    "epoch": epoch,
                    "epochs": epochs,
                    "model_class": type(model).__name__,
                    "model": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": None if sched is None else sched.state_dict(),
                    "train_loader": train.state_dict() if stateful_loader else None,
                    "rng": _rng_state(),
                    "history": history.to_dict(),
                    "best_val_acc": best_acc,
                    "settings": settings,
                    "torch_version": str(torch.__version__),
                }
                _save_atomic(payload, ckpt_dir / "last.pt")
                saved = epoch
                if improved:
                    _save_atomic(payload, ckpt_dir / "best.pt")
                    summary += "  (best so far: saved best.pt)"
            write(summary)
            epoch_bar.set_postfix_str(
                f"val acc {100 * val_acc:.2f}%" if val_acc is not None
                else f"train loss {train_loss:.4f}", refresh=False)
            epoch_bar.update(1)
    except KeyboardInterrupt:
        epoch_bar.close()
        if ckpt_dir is not None and saved > 0:
            print(f"interrupted in epoch {epoch}; {ckpt_dir / 'last.pt'} holds the run after "
                  f"epoch {saved}: fit(..., resume=True) continues it")
        raise
    finally:
        epoch_bar.close()
    return history


# --------------------------------------------------------------------------------------
# One image
# --------------------------------------------------------------------------------------

_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as Pillow's convert("L")


def _image_array(image) -> torch.Tensor:
    """Any image -> float32 (C, H, W) in [0, 1], C in {1, 3, 4} (4: with alpha)."""
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)) or hasattr(
            image, "read"):
        from PIL import Image

        src = io.BytesIO(bytes(image)) if isinstance(image, (bytes, bytearray, memoryview)) \
            else image
        with Image.open(src) as img:
            img.load()
            image = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info
                                else "RGB" if img.mode not in ("L", "1", "I", "F") else "L")
    if type(image).__module__.startswith("PIL."):
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image = np.asarray(image)
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
            arr = np.moveaxis(arr, -1, 0)  # (H, W, C) -> (C, H, W)
        elif arr.ndim != 2:
            raise ValueError(f"image: a numpy array must be (H, W) or (H, W, C) with C in "
                             f"1/3/4; got shape {arr.shape}")
        x = torch.from_numpy(np.ascontiguousarray(arr))
    elif isinstance(image, torch.Tensor):
        x = image.detach().cpu()
        if x.ndim == 4 and x.shape[0] == 1:
            x = x[0]
        if x.ndim == 3 and x.shape[0] not in (1, 3, 4):
            raise ValueError(f"image: a tensor must be (H, W) or (C, H, W) with C in 1/3/4; got "
                             f"shape {tuple(image.shape)}")
        if x.ndim not in (2, 3):
            raise ValueError(f"image: a tensor must be (H, W) or (C, H, W); got shape "
                             f"{tuple(image.shape)}")
    else:
        raise TypeError(f"image must be a file path, bytes, a PIL image, a numpy array or a "
                        f"tensor; got {type(image).__name__}")
    if x.ndim == 2:
        x = x[None]
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255
    elif x.dtype == torch.bool:
        x = x.to(torch.float32)
    elif x.is_floating_point():
        x = x.to(torch.float32)
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(f"image: float pixels must be in [0, 1]; got {lo:g}..{hi:g} "
                             "(divide 0..255 values by 255)")
    else:
        raise TypeError(f"image: pixels must be uint8 (0..255), bool or float in [0, 1]; got "
                        f"{x.dtype}")
    if min(x.shape[1:]) < 1:
        raise ValueError(f"image is empty: shape {tuple(x.shape)}")
    return x


def prepare_image(image, size: int | Sequence[int], channels: int = 1,
                  invert: bool | str = False) -> torch.Tensor:
    """One image of any size and colour as a model input: float32 (channels, H, W) in [0, 1].

    image: a file path, bytes (e.g. from ``ipywidgets.FileUpload``), a PIL image, a numpy
    array (H, W) or (H, W, C), or a tensor (H, W) or (C, H, W); uint8 0..255 or float in
    [0, 1]; C = 1 (grey), 3 (RGB) or 4 (RGBA: transparent parts become white, as a page).
    size: the model's input (H, W) (or one int for a square); the image is resized to it
    (bilinear, antialiased; the aspect ratio is not kept).
    channels: 1 (colour -> grey by luminance, 0.299 R + 0.587 G + 0.114 B) or 3 (grey is
    repeated). invert: True to turn dark-on-light into light-on-dark (MNIST digits are
    white on black); "auto" inverts when the image's border is mostly light.
    """
    if isinstance(size, numbers.Integral):
        size = (int(size), int(size))
    if len(size) != 2 or min(int(s) for s in size) < 1:
        raise ValueError(f"size must be (H, W) with positive ints; got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    if invert not in (True, False, "auto"):
        raise ValueError(f"invert must be True, False or 'auto'; got {invert!r}")
    x = _image_array(image)
    if x.shape[0] == 4:  # composite over white
        alpha = x[3:]
        x = x[:3] * alpha + (1 - alpha)
    if channels == 1 and x.shape[0] == 3:
        x = (torch.tensor(_LUMA).reshape(3, 1, 1) * x).sum(0, keepdim=True)
    elif channels == 3 and x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    if invert == "auto":
        border = torch.cat([x[:, 0].reshape(-1), x[:, -1].reshape(-1),
                            x[:, :, 0].reshape(-1), x[:, :, -1].reshape(-1)])
        invert = bool(border.mean() > 0.5)
    if invert:
        x = 1 - x
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[1:]) != size:
        x = F.interpolate(x[None], size=size, mode="bilinear", antialias=True,
                          align_corners=False)[0]
    return x.clamp_(0, 1).contiguous()


def predict_image(model: nn.Module, image, data=None, *, mean=None, std=None, size=None,
                  channels: int | None = None, invert: bool | str = False,
                  device: str | torch.device | None = None) -> torch.Tensor:
    """Class probabilities (K,) float32 for one image of any size and colour.

    The image is prepared as in training (:func:`prepare_image`: resized to the model's
    input, converted to its number of channels), normalised as in training, and run through
    the model in eval mode without gradients (its mode is restored); softmax gives the
    probabilities, on the CPU.

    data: the *training* loader (:class:`~cnnkit.data.TensorLoader`: input shape, mean and
    std) or training dataset (:class:`~cnnkit.data.ImageDataset`: shape, ``mean()``,
    ``std()``). Explicit ``mean``/``std`` (per channel, [0, 1] units), ``size`` (H, W) and
    ``channels`` override it; without either, the model's ``image_size``/``in_channels``
    attributes are used if it has them, and no normalisation beyond [0, 1].
    invert: see :func:`prepare_image` ("auto" suits a digit drawn dark on light).
    """
    if data is not None:
        if isinstance(data, TensorLoader):
            d_shape, d_mean, d_std = data.image_shape, data.mean, data.std
        elif isinstance(data, ImageDataset):
            d_shape, d_mean, d_std = data.image_shape, data.mean(), data.std()
        else:
            raise TypeError(f"data must be the training TensorLoader or ImageDataset; got "
                            f"{type(data).__name__}")
        channels = d_shape[0] if channels is None else channels
        size = d_shape[1:] if size is None else size
        mean = d_mean if mean is None else mean
        std = d_std if std is None else std
    if size is None:
        side = getattr(model, "image_size", None)
        if not isinstance(side, int):
            raise ValueError("size: give the model's input size (H, W), or pass the training "
                             "loader as data")
        size = side
    if channels is None:
        channels = getattr(model, "in_channels", 1)
    if (mean is None) != (std is None):
        raise ValueError("mean and std: give both or neither")
    x = prepare_image(image, size, channels, invert)
    if mean is not None:
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        s = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        if m.shape[0] not in (1, channels) or s.shape[0] not in (1, channels):
            raise ValueError(f"mean and std must have 1 or {channels} values; got {mean!r}, "
                             f"{std!r}")
        x = (x - m) / s
    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x[None].to(device))
    finally:
        model.train(was_training)
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise ValueError(f"the model must return logits (1, K) for one image; got shape "
                         f"{tuple(logits.shape)}")
    return torch.softmax(logits[0].float(), dim=0).cpu()
