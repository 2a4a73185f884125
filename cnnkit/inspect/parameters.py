"""Parameter counts of a module: the one ``sum(p.numel() ...)`` of the package."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["count_parameters", "fixed_buffers", "count_fixed_buffers"]


def count_parameters(module: nn.Module, trainable: bool | None = None) -> int:
    """The number of parameter values of ``module`` and its children, each parameter once.

    trainable: None for all of them; True for those with ``requires_grad``; False for the
    frozen ones.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if trainable not in (None, True, False):
        raise ValueError(f"trainable must be None, True or False; got {trainable!r}")
    return sum(p.numel() for p in module.parameters()
               if trainable is None or p.requires_grad == trainable)


def fixed_buffers(module: nn.Module, recurse: bool = True) -> Iterator[torch.Tensor]:
    """The persistent floating-point buffers of ``module`` (fixed weights such as the RBF
    prototypes, BatchNorm's running statistics: what Keras calls non-trainable parameters),
    each once; with ``recurse``, its children's too."""
    seen: set[int] = set()
    for m in (module.modules() if recurse else [module]):
        for name, b in m.named_buffers(recurse=False):
            if (b is not None and name not in m._non_persistent_buffers_set
                    and b.is_floating_point() and id(b) not in seen):
                seen.add(id(b))
                yield b


def count_fixed_buffers(module: nn.Module, recurse: bool = True) -> int:
    """The number of values in ``fixed_buffers(module, recurse)``."""
    return sum(b.numel() for b in fixed_buffers(module, recurse))
