"""``fit``: the training loop lesson 4 writes by hand, once per batch::

    logits = model(x)                    # x: (B, C, H, W) -> logits (B, K)
    loss = loss_fn(logits, y)            # y: (B,) class indices; mean over the batch
    optimizer.zero_grad(); loss.backward(); optimizer.step()

plus what makes it usable, each in its own place: validation and the selection of the best
epoch on it (never on the test split), a learning-rate schedule (per epoch or per batch),
checkpoints and exact resume (:mod:`cnnkit.train.checkpoint`), and everything shown or decided
around the loop as callbacks (:mod:`cnnkit.train.callbacks`, :mod:`cnnkit.train.progress`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cnnkit._validate import check_int
from cnnkit.train.callbacks import Callback, CallbackList, Checkpoint, TrainState
from cnnkit.train.checkpoint import restore, run_settings, set_rng_state
from cnnkit.train.evaluation import LossFn, check_batches, evaluate, model_device, split_batch
from cnnkit.train.history import History
from cnnkit.train.optim import current_lr, make_optimizer, make_scheduler, scheduler_interval
from cnnkit.train.progress import progress_callbacks

__all__ = ["fit", "split_of", "TEST_AS_VAL_MESSAGE"]

TEST_AS_VAL_MESSAGE = (
    "val is the test split. Choosing the best epoch, early stopping and best.pt on test data "
    "overstates the accuracy and leaves no honest test. Carve a validation split from the "
    "training data: train_set, val_set = cnnkit.data.train_val_split(train_set, 5000); pass a "
    "loader of val_set as val, and evaluate the test split once, after fit, with evaluate(). "
    "(allow_test_as_val=True does it anyway; the history then labels the selection as made on "
    "test data.)"
)


def split_of(data) -> str | None:
    """The split ("train", "val", "test") a loader's data is, if it knows (a TensorLoader of an
    ImageDataset, or a DataLoader over one); None otherwise."""
    split = getattr(data, "split", None)
    if not isinstance(split, str):
        split = getattr(getattr(data, "dataset", None), "split", None)
    return split if isinstance(split, str) else None


def _is_synthetic(*loaders) -> bool:
    return any(bool(getattr(d, "is_synthetic", False)
                    or getattr(getattr(d, "dataset", None), "is_synthetic", False))
               for d in loaders if d is not None)


def _selected_on(val, allow_test_as_val: bool) -> str:
    if val is None or split_of(val) != "test":
        return "val"
    if not allow_test_as_val:
        raise ValueError(TEST_AS_VAL_MESSAGE)
    return "test"


def _state(model, train, val, epochs, *, optimizer, lr, momentum, weight_decay, scheduler,
           interval, loss_fn, device, channels_last, allow_test_as_val) -> TrainState:
    """Check fit's arguments and build the optimizer, scheduler and the :class:`TrainState`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    check_batches(train, "train")
    if val is not None:
        check_batches(val, "val")
    epochs = check_int(epochs, "epochs", 1)
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function (logits, y) -> loss; got {loss_fn!r}")
    if device is not None:
        device = torch.device(device)
        model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    history = History(selected_on=_selected_on(val, allow_test_as_val),
                      synthetic=_is_synthetic(train, val))
    batches = len(train) if hasattr(train, "__len__") else None
    opt = make_optimizer(model, optimizer, lr, momentum, weight_decay)
    sched = make_scheduler(scheduler, opt, epochs, batches)
    per_batch = sched is not None and scheduler_interval(sched, interval) == "batch"
    return TrainState(model=model, optimizer=opt, scheduler=sched, train=train, val=val,
                      loss_fn=loss_fn, device=device or model_device(model), epochs=epochs,
                      history=history, settings=run_settings(opt, sched, train),
                      step_per_batch=per_batch, channels_last=bool(channels_last),
                      batches=batches)


def train_epoch(state: TrainState, callbacks: Callback) -> None:
    """One pass over ``state.train``: forward, loss, backward, step (and a per-batch scheduler
    step), counting loss and accuracy; ``callbacks.on_batch_end`` after every batch."""
    model, opt, device = state.model, state.optimizer, state.device
    model.train()
    for batch in state.train:
        x, y = split_batch(batch, "train")
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if state.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        loss = state.loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if state.step_per_batch:
            state.scheduler.step()
        state.end_batch(loss.detach(), (logits.detach().argmax(1) == y).sum(), y.shape[0])
        callbacks.on_batch_end(state)
    if state.seen == 0:
        raise ValueError("train gave no batches")


def finish_epoch(state: TrainState) -> None:
    """Validate, step a per-epoch scheduler, append the history row, track the best epoch."""
    train_loss, train_acc = state.running_loss(), state.running_accuracy()
    val_loss = val_acc = None
    if state.val is not None:
        result = evaluate(state.model, state.val, loss_fn=state.loss_fn, device=state.device)
        val_loss, val_acc = result.loss, result.accuracy
    sched = state.scheduler
    if sched is not None and not state.step_per_batch:
        if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
            sched.step(val_loss if val_loss is not None else train_loss)
        else:
            sched.step()
    state.history.append(epoch=state.epoch, train_loss=train_loss, train_acc=train_acc,
                         val_loss=val_loss, val_acc=val_acc, lr=state.lr_at_start,
                         seconds=time.perf_counter() - state.epoch_start_time)
    best = state.best_val_acc
    state.improved = val_acc is not None and math.isfinite(val_loss) and val_acc > best
    if state.improved:
        state.best_val_acc = val_acc
    if not math.isfinite(train_loss):
        state.notes.append("the loss is not finite: training diverged; try a smaller lr")


def fit(model: nn.Module, train: Iterable, val: Iterable | None = None, epochs: int = 10, *,
        optimizer: str | torch.optim.Optimizer = "adam", lr: float | None = None,
        momentum: float | None = None, weight_decay: float | None = None,
        scheduler=None, scheduler_interval: str = "auto", loss_fn: LossFn | None = None,
        device: str | torch.device | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
        callbacks: Sequence[Callback] | None = None, allow_test_as_val: bool = False,
        progress: bool | None = None, channels_last: bool = False) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs; return the :class:`History`.

    model: maps x (B, C, H, W) to logits (B, K); trained in place.
    train, val: batches (x, y), y (B,) int64 class indices: a
    :class:`~cnnkit.data.TensorLoader` (its shuffling state is checkpointed) or a
    ``DataLoader``. ``val`` is evaluated after every epoch; the best epoch, early stopping and
    ``best.pt`` are chosen on it. It must be a validation split
    (:func:`cnnkit.data.train_val_split`), not the test split: a loader of a test split is
    refused unless ``allow_test_as_val=True``, and then the history says the selection was made
    on test data. Evaluate the test split once, after ``fit``, with :func:`evaluate`
    (``history.set_test(result)`` records it).
    epochs: the run's total (a resumed run continues up to it).
    optimizer: "adam" (default lr 1e-3), "adamw" (1e-3) or "sgd" (lr 0.01, momentum 0.9) with
    ``lr``, ``momentum`` (SGD only), ``weight_decay`` (default 0); or a ready
    ``torch.optim.Optimizer`` (then leave those three unset).
    scheduler: None; a name of :data:`~cnnkit.train.SCHEDULERS` ("step", "multistep",
    "cosine", "onecycle"); a function ``optimizer -> scheduler``; or a scheduler built on the
    optimizer you pass. ``ReduceLROnPlateau`` steps with the validation loss.
    scheduler_interval: "auto" (per batch for OneCycleLR/CyclicLR, else per epoch), "epoch" or
    "batch" (e.g. a ``LambdaLR`` warm-up over the first batches).
    loss_fn: ``loss_fn(logits, y)`` -> mean loss of the batch (default cross-entropy).
    device: where to train (the model is moved there); default: where the model is.
    checkpoint_dir: folder for ``last.pt`` (every epoch) and ``best.pt`` (best validation
    accuracy), written atomically. resume: continue the run in ``checkpoint_dir/last.pt``
    exactly (bit for bit on the CPU); a missing, corrupt or mismatched checkpoint is an error.
    callbacks: your own :class:`~cnnkit.train.Callback` objects (e.g. ``EarlyStopping``),
    called before the built-in ones. progress: None (default: chosen by where it runs, see
    :mod:`cnnkit.train.progress`: a bar and live curves in Jupyter, one line per epoch
    headless), True (a progress bar and epoch lines) or False (nothing).
    channels_last: the model's 4-D weights and every batch in ``torch.channels_last`` memory
    format (oneDNN's CPU convolutions are much faster that way; LeNet-5 about 1.6x).

    Ctrl-C stops training; the last checkpoint stays intact and a message says how to resume.
    """
    state = _state(model, train, val, epochs, optimizer=optimizer, lr=lr, momentum=momentum,
                   weight_decay=weight_decay, scheduler=scheduler, interval=scheduler_interval,
                   loss_fn=loss_fn, device=device, channels_last=channels_last,
                   allow_test_as_val=allow_test_as_val)
    if resume and checkpoint_dir is None:
        raise ValueError("resume=True needs checkpoint_dir (the folder of the run to continue)")
    saving = [] if checkpoint_dir is None else [Checkpoint(checkpoint_dir)]
    calls = CallbackList([*(callbacks or ()), *saving, *progress_callbacks(progress)])
    rng = restore(state, Path(checkpoint_dir) / "last.pt") if resume else None
    try:
        calls.on_train_begin(state)
        if rng is not None:
            set_rng_state(rng)  # last: everything before may have drawn random numbers
        for epoch in range(state.start_epoch + 1, state.epochs + 1):
            state.begin_epoch(epoch, current_lr(state.optimizer))
            train_epoch(state, calls)
            finish_epoch(state)
            calls.on_epoch_end(state)
            if state.stop:
                break
    except KeyboardInterrupt:
        state.interrupted = True
        raise
    finally:
        calls.on_train_end(state)
    return state.history

