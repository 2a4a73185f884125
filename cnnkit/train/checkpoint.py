"""Checkpoints that survive a crash and resume a run exactly.

After every epoch ``last.pt``, and ``best.pt`` whenever the validation accuracy improves (the
:class:`~cnnkit.train.Checkpoint` callback). Each is a ``torch.save`` dict (format
:data:`CHECKPOINT_FORMAT`) with the model, optimizer and scheduler state dicts, the RNG states
(Python, numpy, torch CPU and CUDA, and the :class:`~cnnkit.data.TensorLoader`'s generator), the
epoch, the history and the settings, written atomically by :func:`cnnkit._atomic.write_atomic`:
a crash or Ctrl-C mid-write leaves the previous checkpoint intact. Files are read back with
``torch.load(weights_only=True)``: loading a checkpoint never runs code from it.

Exact resume: ``fit(..., resume=True)`` restores everything from ``last.pt`` (:func:`restore`)
and continues with the next epoch. The states saved at the end of epoch k are all the run
depends on, so a run interrupted after epoch k (or during epoch k + 1) and resumed ends with the
same weights, bit for bit on the CPU, as the same run uninterrupted (same code, threads and
machine; see :mod:`cnnkit.seeding` for the limits). A corrupt file, a checkpoint of another model
or of other settings is a :class:`CheckpointError` that says what differs, never a silent fresh
start.
"""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnkit._atomic import write_atomic
from cnnkit.train.history import History

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "load_checkpoint"]

CHECKPOINT_FORMAT = "cnnkit.train.checkpoint/1"
"""The ``format`` entry of every checkpoint ``fit`` writes."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: corrupt, not a cnnkit checkpoint, or of another run."""


def rng_state() -> dict:
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


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],  # noqa: NPY002
                         n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(payload: dict, path: Path) -> None:
    """``torch.save(payload)`` to ``path`` atomically and durably (through
    :func:`cnnkit._atomic.write_atomic`: a temporary file in the same folder, fsync-ed, renamed
    over ``path``, the folder fsync-ed)."""
    write_atomic(path, lambda f: torch.save(payload, f))


def read_checkpoint(path: Path, map_location="cpu") -> dict:
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
    ckpt = read_checkpoint(path, map_location)
    if model is not None:
        load_model(model, ckpt, path)
    return ckpt


def load_model(model: nn.Module, ckpt: dict, path: Path) -> None:
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


def run_settings(optimizer, scheduler, train) -> dict:
    return {
        "optimizer": type(optimizer).__name__,
        "optimizer_defaults": _comparable(dict(optimizer.defaults)),
        "scheduler": None if scheduler is None else type(scheduler).__name__,
        "batches_per_epoch": len(train) if hasattr(train, "__len__") else None,
    }


def check_settings(saved: dict, now: dict, path: Path) -> None:
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


def payload(state: Any) -> dict:
    """Everything a run depends on after ``state.epoch``, as plain tensors and data."""
    loader = state.train
    return {
        "format": CHECKPOINT_FORMAT,
        "epoch": state.epoch,
        "epochs": state.epochs,
        "model_class": type(state.model).__name__,
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": None if state.scheduler is None else state.scheduler.state_dict(),
        "train_loader": loader.state_dict() if stateful(loader) else None,
        "rng": rng_state(),
        "history": state.history.to_dict(),
        "best_val_acc": state.best_val_acc,
        "settings": state.settings,
        "torch_version": str(torch.__version__),
    }


def stateful(loader: Any) -> bool:
    """True if ``loader`` can save and restore its shuffling state (a TensorLoader can)."""
    return callable(getattr(loader, "state_dict", None)) and callable(
        getattr(loader, "load_state_dict", None))


def restore(state: Any, path: Path) -> dict:
    """Load ``path`` (a ``last.pt``) into ``state``: model, optimizer, scheduler, loader state,
    history, epoch and best accuracy. Returns the RNG states, to set right before training
    continues (everything before may draw random numbers)."""
    if not path.exists():
        raise FileNotFoundError(f"resume=True but there is no checkpoint {path} (is "
                                "checkpoint_dir right?); use resume=False to start afresh")
    ckpt = read_checkpoint(path)  # on the CPU: RNG states must stay there
    check_settings(ckpt.get("settings", {}), state.settings, path)  # before touching the model
    load_model(state.model, ckpt, path)
    try:
        state.optimizer.load_state_dict(ckpt["optimizer"])
        if state.scheduler is not None:
            state.scheduler.load_state_dict(ckpt["scheduler"])
        if stateful(state.train) and ckpt.get("train_loader") is not None:
            state.train.load_state_dict(ckpt["train_loader"])
        history = History.from_dict(ckpt["history"])
        start = int(ckpt["epoch"])
        best = float(ckpt["best_val_acc"])
        rng = ckpt["rng"]
    except (KeyError, ValueError, TypeError, RuntimeError) as err:
        raise CheckpointError(f"{path} cannot be restored: {err}") from err
    if start > state.epochs:
        raise ValueError(f"epochs={state.epochs}, but the checkpoint {path} is already after "
                         f"epoch {start}: pass epochs >= {start}")
    history.selected_on, history.synthetic = state.history.selected_on, state.history.synthetic
    state.history, state.start_epoch, state.epoch, state.best_val_acc = history, start, start, best
    state.resumed_from = path
    return rng
