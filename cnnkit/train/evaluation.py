"""Evaluation done right: :func:`evaluate` (loss and accuracy) and :func:`predict` (classes).

:func:`evaluate` switches the model to ``eval()`` (dropout off, batch-norm running statistics),
runs without gradients, restores the previous mode, and divides by the number of samples
actually seen, so a short last batch counts what it holds (the MNIST tutorial's evaluation loop
divided by ``len(loader) * 64``). Accuracies are fractions in [0, 1]; losses are means per sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cnnkit._validate import check_int
from cnnkit.data import ImageDataset

__all__ = ["Evaluation", "evaluate", "predict", "confusion_matrix", "per_class_accuracy",
           "most_confused", "LossFn"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def check_batches(data, name: str) -> None:
    if isinstance(data, ImageDataset):
        raise TypeError(f"{name} must give batches (x, y); wrap the dataset in a loader, e.g. "
                        f"cnnkit.data.TensorLoader({name}, batch_size=64, mean=..., std=...)")
    if not isinstance(data, Iterable):
        raise TypeError(f"{name} must be an iterable of (x, y) batches (a TensorLoader or a "
                        f"DataLoader); got {type(data).__name__}")


def split_batch(batch, name: str) -> tuple[torch.Tensor, torch.Tensor]:
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
    check_batches(data, "data")
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    device = model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    samples = 0
    try:
        with torch.no_grad():
            for batch in data:
                x, y = split_batch(batch, "data")
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
    check_batches(data, "data")
    device = model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    preds, labels = [], []
    try:
        with torch.no_grad():
            for batch in data:
                x, y = split_batch(batch, "data")
                preds.append(model(x.to(device)).argmax(1).cpu())
                labels.append(y.cpu())
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("data gave no samples to predict")
    return torch.cat(preds), torch.cat(labels).to(torch.int64)


def confusion_matrix(predicted: torch.Tensor, true: torch.Tensor, num_classes: int
                     ) -> torch.Tensor:
    """Counts int64 (K, K): row = true class, column = predicted class.

    predicted, true: int64 (N,) class indices in 0..K-1 (e.g. from :func:`predict`).
    The diagonal holds the right answers; ``matrix.sum() == N``.
    """
    k = check_int(num_classes, "num_classes", 1)
    predicted, true = torch.as_tensor(predicted).cpu(), torch.as_tensor(true).cpu()
    if predicted.shape != true.shape or predicted.ndim != 1:
        raise ValueError(f"predicted and true must be two (N,) tensors; got shapes "
                         f"{tuple(predicted.shape)} and {tuple(true.shape)}")
    for name, t in (("predicted", predicted), ("true", true)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= k):
            raise ValueError(f"{name} must hold class indices 0..{k - 1}; found "
                             f"{int(t.min())}..{int(t.max())}")
    flat = true.to(torch.int64) * k + predicted.to(torch.int64)
    return torch.bincount(flat, minlength=k * k).reshape(k, k)


def per_class_accuracy(matrix: torch.Tensor) -> torch.Tensor:
    """float64 (K,): for each true class, the fraction classified right (NaN if it has no
    samples). matrix: a :func:`confusion_matrix` (K, K)."""
    matrix = torch.as_tensor(matrix)
    totals = matrix.sum(1).double()
    return torch.where(totals > 0, matrix.diagonal().double() / totals.clamp(min=1),
                       torch.full_like(totals, float("nan")))


def most_confused(matrix: torch.Tensor, k: int = 5) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells of a :func:`confusion_matrix`: ``(true, predicted,
    count)``, most frequent first (ties: by true, then predicted class); zero counts left out."""
    k = check_int(k, "k", 1)
    matrix = torch.as_tensor(matrix)
    cells = [(-int(matrix[t, p]), t, p) for t in range(matrix.shape[0])
             for p in range(matrix.shape[1]) if t != p and int(matrix[t, p]) > 0]
    return [(t, p, -c) for c, t, p in sorted(cells)[:k]]
