"""What ``fit`` shows while it trains, by default: chosen from where it runs.

``fit(progress=None)`` (the default) picks the callbacks from :func:`display_mode`:

========== ====================================================== ===========================
mode       where                                                   shown
========== ====================================================== ===========================
``live``   a Jupyter kernel with a frontend (JupyterLab, Notebook, a progress bar (batch, loss,
           JupyterHub, Binder: their server sets                   ETA) and live curves
           ``JPY_SESSION_NAME`` for the kernel)                    (``LivePlot``)
``kernel`` a kernel without a frontend (papermill, nbclient,       one line per epoch, and
           nbval: nobody watches; nothing sets                     the final curves once
           ``JPY_SESSION_NAME``)                                   (stored in the notebook)
``lines``  anything else (a script, a terminal, ``cnnkit report``) one line per epoch
========== ====================================================== ===========================

The environment variable ``CNNKIT_PROGRESS`` (``live``, ``kernel`` or ``lines``) overrides the
detection, e.g. ``CNNKIT_PROGRESS=live`` for an editor whose kernels are not started by a
Jupyter server. ``progress=True`` shows a progress bar and the epoch lines outside a live
frontend (the terminal view), ``progress=False`` nothing; pass your own ``callbacks`` for
anything else.
"""

from __future__ import annotations

import os
import sys

from cnnkit.train.callbacks import Callback, EpochLog, ProgressBar

__all__ = ["MODES", "display_mode", "progress_callbacks"]

MODES = ("live", "kernel", "lines")


def _in_kernel() -> bool:
    """True inside an IPython kernel (not a terminal IPython, not plain Python)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def display_mode() -> str:
    """"live", "kernel" or "lines": see the module docstring."""
    forced = os.environ.get("CNNKIT_PROGRESS", "").strip().lower()
    if forced:
        if forced not in MODES:
            raise ValueError(f"CNNKIT_PROGRESS must be one of {', '.join(MODES)}; got {forced!r}")
        return forced
    if not _in_kernel():
        return "lines"
    return "live" if os.environ.get("JPY_SESSION_NAME") else "kernel"


def progress_callbacks(progress) -> list[Callback]:
    """The callbacks ``fit(progress=...)`` adds: None (by :func:`display_mode`), True (a bar
    and lines, or the live view in a frontend) or False (none)."""
    if progress is False:
        return []
    if progress is not None and progress is not True:
        raise TypeError(f"progress must be None (automatic), True or False; got {progress!r}")
    mode = display_mode()
    if mode == "live" or mode == "kernel":
        from cnnkit.liveplot import LivePlot  # a view: matplotlib only when it is shown

        if mode == "live":
            return [ProgressBar(), LivePlot()]
        return [EpochLog(), LivePlot(live=False)] if progress is None else \
            [ProgressBar(), EpochLog(), LivePlot(live=False)]
    return [EpochLog()] if progress is None else [ProgressBar(), EpochLog()]
