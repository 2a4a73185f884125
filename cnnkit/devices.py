"""Where to compute: one rule for every lesson.

``pick_device("auto")`` is a CUDA GPU when PyTorch sees one (Colab, a lab machine), else Apple's
MPS, else the CPU; any other value is taken as given and checked. Lessons expose it as a
``device = "auto"`` parameter, so an instructor can force ``-p device=cpu`` in a report.
"""

from __future__ import annotations

import torch

__all__ = ["pick_device"]


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """The device to train on.

    device: "auto" (CUDA if available, else MPS if available, else CPU), or anything
    ``torch.device`` accepts ("cpu", "cuda", "cuda:1", ...), which must be available here.
    Returns: a ``torch.device``.
    """
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f'device must be "auto", "cpu", "cuda[:N]" or "mps"; got {device!r}') \
            from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f'device={device!r}: PyTorch sees no CUDA GPU here; use "auto" or "cpu"')
    if chosen.type == "cuda" and chosen.index is not None \
            and chosen.index >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} GPU(s) here")
    return chosen
