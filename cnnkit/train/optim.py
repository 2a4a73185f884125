"""The optimizer and learning-rate schedule ``fit`` builds from names, or checks when given.

Schedulers step once per epoch, except those that plan the learning rate batch by batch
(``OneCycleLR``, ``CyclicLR``, or any scheduler with ``scheduler_interval="batch"``, e.g. a
``LambdaLR`` warm-up): those step after every optimizer step. :func:`scheduler_interval`
decides which.
"""

from __future__ import annotations

import torch
from torch import nn

from cnnkit._validate import check_choice, check_real

__all__ = ["OPTIMIZERS", "SCHEDULERS", "make_optimizer", "make_scheduler", "scheduler_interval",
           "current_lr"]

OPTIMIZERS = {"adam": 1e-3, "adamw": 1e-3, "sgd": 1e-2}
"""Optimizer names ``fit`` accepts, with their default learning rates."""

SCHEDULERS = ("step", "multistep", "cosine", "onecycle")
"""Scheduler names ``fit`` accepts: "step" (StepLR: lr x 0.1 every ``max(1, epochs // 3)``
epochs), "multistep" (lr x 0.1 at 50% and 75% of the epochs, He et al. 2016's ResNet recipe),
"cosine" (CosineAnnealingLR to 0 over ``epochs``), "onecycle" (OneCycleLR up to the optimizer's
lr and down again over every batch of the run: a per-batch schedule with warm-up)."""

_PER_BATCH = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)
_FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_Scheduler = torch.optim.lr_scheduler.LRScheduler | torch.optim.lr_scheduler.ReduceLROnPlateau


def _positive(value, name: str, zero_ok: bool = False) -> float:
    number = check_real(value, name)
    if number < 0 or (number == 0 and not zero_ok):
        raise ValueError(f"{name} must be {'>= 0' if zero_ok else '> 0'}; got {value!r}")
    return number


def _check_given_optimizer(model: nn.Module, optimizer, lr, momentum, weight_decay):
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


def make_optimizer(model: nn.Module, optimizer, lr, momentum, weight_decay
                   ) -> torch.optim.Optimizer:
    """The optimizer ``fit`` uses: a name of :data:`OPTIMIZERS` built on the model's trainable
    parameters (PyTorch's fused implementation when the parameters allow it: one kernel per
    step), or a given ``torch.optim.Optimizer`` checked to hold this model's parameters."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return _check_given_optimizer(model, optimizer, lr, momentum, weight_decay)
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))} or a "
                         f"torch.optim.Optimizer; got {optimizer!r}")
    name = optimizer.lower()
    lr = OPTIMIZERS[name] if lr is None else _positive(lr, "lr")
    weight_decay = 0.0 if weight_decay is None else _positive(weight_decay, "weight_decay", True)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True)")
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


def _named_scheduler(name: str, optimizer, epochs: int, batches: int | None):
    sched = torch.optim.lr_scheduler
    if name == "step":
        return sched.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "multistep":
        milestones = sorted({max(1, epochs // 2), max(1, (3 * epochs) // 4)})
        return sched.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "onecycle":
        if not batches:
            raise ValueError("scheduler='onecycle' needs a train loader with a length "
                             "(len(train) batches per epoch)")
        max_lr = [float(g["lr"]) for g in optimizer.param_groups]
        return sched.OneCycleLR(optimizer, max_lr=max_lr, epochs=epochs, steps_per_epoch=batches)
    raise ValueError(f"scheduler must be one of {', '.join(map(repr, SCHEDULERS))}, a "
                     f"scheduler or a function optimizer -> scheduler; got {name!r}")


def make_scheduler(scheduler, optimizer: torch.optim.Optimizer, epochs: int,
                   batches: int | None = None):
    """The scheduler ``fit`` uses (or None): a name of :data:`SCHEDULERS`, a function
    ``optimizer -> scheduler``, or a scheduler built on ``optimizer``. batches: batches per
    epoch (for "onecycle")."""
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        return _named_scheduler(scheduler, optimizer, epochs, batches)
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


def scheduler_interval(scheduler, interval: str = "auto") -> str:
    """"batch" or "epoch": when ``scheduler`` steps. "auto": per batch for ``OneCycleLR`` and
    ``CyclicLR`` (they count optimizer steps), per epoch for every other scheduler."""
    check_choice(interval, "scheduler_interval", ("auto", "epoch", "batch"))
    if interval == "auto":
        return "batch" if isinstance(scheduler, _PER_BATCH) else "epoch"
    if interval == "batch" and isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("scheduler_interval='batch' does not suit ReduceLROnPlateau (it steps "
                         "on the validation loss, once per epoch)")
    return interval


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    """The learning rate of the first parameter group, as a float."""
    lr = optimizer.param_groups[0]["lr"]
    return float(lr.item() if isinstance(lr, torch.Tensor) else lr)
