"""The one contract of the per-channel statistics self-checks (lesson 4's ``check_mean_std``,
lesson 5's ``check_channel_stats``): what is right, how close is close, what each usual
mistake is called.

Right: for uint8 images (N, C, H, W) of pixels 0..255, a pair (mean, std) of C numbers each
(tuple, list, array or tensor), in [0, 1] units (pixel / 255), over all N * H * W pixels of
each channel; std the population standard deviation (ddof=0: divide by the count). Compared
with :class:`cnnkit.data.ImageDataset`'s ``mean()`` / ``std()`` (exact), within ``ATOL +
RTOL * |expected|``: float32 arithmetic passes, the sample std (ddof=1) does not on batches
of up to ~50,000 pixels per channel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from cnnkit.checks._result import CheckResult, _as_floats, _call, _not_attempted, compare

ATOL = 1e-6
RTOL = 1e-5

_PIXEL_UNITS = "pixels are 0..255: give the statistics in [0, 1] units (divide by 255)"
_PER_IMAGE = ("that is the mean of per-image stds (each image's own std, averaged), a smaller "
              "quantity: take the std over all pixels of a channel at once")


def reference_stats(images) -> tuple[np.ndarray, np.ndarray]:
    """(mean (C,), std (C,)) float64 of uint8 ``images`` (N, C, H, W), in [0, 1] units, from
    :class:`cnnkit.data.ImageDataset` (population std)."""
    import torch

    from cnnkit.data import ImageDataset

    ds = ImageDataset(images, torch.zeros(images.shape[0], dtype=torch.int64), ("x",), "check")
    return np.array(ds.mean()), np.array(ds.std())


def _count_failure(name: str, values: tuple, n: int, c: int, where: str) -> CheckResult | None:
    if len(values) == c:
        return None
    if len(values) == 1:
        hint = "you averaged over the channels too"
    elif len(values) == n:
        hint = "that is one value per image: reduce over N, H and W together"
    else:
        hint = "reduce over every axis but the channel axis"
    return CheckResult(False, f"{where}: {name} has {len(values)} values, expected one value "
                              f"per channel ({c}): {hint}")


def stats_failure(got, images, *, where: str) -> CheckResult | None:
    """Grade a student's ``got`` = (mean, std) for uint8 ``images`` (N, C, H, W): None when
    right, else the failure (not a pair, not numbers, a count that is not one per channel, or
    the first wrong value with the usual mistake it matches)."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return CheckResult(False, f"{where}: return a pair (mean, std), each with one value per "
                                  f"channel; got {type(got).__name__}")
    got_mean, got_std = (_as_floats(v) for v in got)
    if got_mean is None or got_std is None:
        return CheckResult(False, f"{where}: mean and std must be numbers, one per channel")
    n, c = images.shape[:2]
    for name, values in (("mean", got_mean), ("std", got_std)):
        failure = _count_failure(name, values, n, c, where)
        if failure is not None:
            return failure
    mean, std = reference_stats(images)
    x = images.numpy().astype(np.float64) / 255
    failure = compare(got_mean, mean, atol=ATOL, rtol=RTOL, what="mean", where=where, variants=[
        (lambda: mean * 255, _PIXEL_UNITS),
        (lambda: np.full(c, x.mean()), "every channel got the mean of all channels: keep the "
                                       "channel axis"),
    ], otherwise="average over N, H and W: one value per channel")
    if failure is not None:
        return failure
    return compare(got_std, std, atol=ATOL, rtol=RTOL, what="std", where=where, variants=[
        (lambda: std * 255, _PIXEL_UNITS),
        (lambda: x.std(axis=(0, 2, 3), ddof=1), "that is the sample std (divides by M - 1): use "
                                                "the population std (torch: correction=0, "
                                                "numpy: the default ddof=0)"),
        (lambda: x.std(axis=(2, 3)).mean(axis=0), _PER_IMAGE),
        (lambda: x.std(axis=(2, 3), ddof=1).mean(axis=0), _PER_IMAGE),  # torch's default
        (lambda: np.full(c, x.std()), "every channel got the std of all channels: keep the "
                                      "channel axis"),
    ], otherwise="the std over N, H and W of each channel, around that channel's mean")


def check_stats_fn(fn: Callable, cases: Iterable[tuple[str, object]], *, todo: str
                   ) -> CheckResult | None:
    """Run a student's ``fn(images) -> (mean, std)`` on each (where, uint8 images (N, C, H, W))
    of ``cases``: None when right on all of them, else the first failure. A function that
    raises ``NotImplementedError`` or returns None is not attempted yet ("not attempted yet:
    ``todo``"); ``fn`` gets a copy of the images."""
    for where, images in cases:
        got, failure = _call(fn, images.clone(), where=where, todo=todo)
        if failure is not None:
            return failure
        if got is None:
            return _not_attempted(todo)
        failure = stats_failure(got, images, where=where)
        if failure is not None:
            return failure
    return None
