"""Training a classifier: ``fit`` (callbacks), ``evaluate``, checkpoints, the ``History``.

=============== ===============================================================================
module          what it holds
=============== ===============================================================================
``loop``        :func:`fit`: the training loop, validation-based selection, the schedule
``callbacks``   :class:`Callback`, :class:`TrainState` and the built-ins (ProgressBar,
                EpochLog, Checkpoint, EarlyStopping, RestoreBest); ``LivePlot`` lives in
                :mod:`cnnkit.liveplot` (a view) and is importable from here lazily
``progress``    what ``fit`` shows by default, chosen from where it runs
``evaluation``  :func:`evaluate`, :func:`predict` (eval mode, no gradients, real counts), the
                confusion matrix and per-class accuracy
``optim``       optimizer and scheduler names, per-epoch or per-batch stepping
``checkpoint``  atomic ``last.pt`` / ``best.pt``, exact resume, :func:`load_checkpoint`
``history``     :class:`History`: per-epoch metrics and the run's labels
``images``      :func:`prepare_image` / :func:`predict_image` for one image of any size
=============== ===============================================================================

This package imports tqdm (progress) and matplotlib (``History.plot``, ``LivePlot``) only when
they are used.
"""

from cnnkit.train.callbacks import (
    Callback,
    CallbackList,
    Checkpoint,
    EarlyStopping,
    EpochLog,
    ProgressBar,
    RestoreBest,
    TrainState,
)
from cnnkit.train.checkpoint import CHECKPOINT_FORMAT, CheckpointError, load_checkpoint
from cnnkit.train.evaluation import (
    Evaluation,
    confusion_matrix,
    evaluate,
    most_confused,
    per_class_accuracy,
    predict,
)
from cnnkit.train.history import History
from cnnkit.train.images import predict_image, prepare_image
from cnnkit.train.loop import fit, split_of
from cnnkit.train.optim import OPTIMIZERS, SCHEDULERS
from cnnkit.train.progress import display_mode

__all__ = [
    # training and evaluating
    "fit", "evaluate", "predict", "Evaluation", "History", "split_of",
    "confusion_matrix", "per_class_accuracy", "most_confused",
    "OPTIMIZERS", "SCHEDULERS",
    # callbacks
    "Callback", "CallbackList", "TrainState", "ProgressBar", "EpochLog", "Checkpoint",
    "EarlyStopping", "RestoreBest", "LivePlot", "display_mode",
    # checkpoints
    "CHECKPOINT_FORMAT", "CheckpointError", "load_checkpoint",
    # one image
    "prepare_image", "predict_image",
]


def __getattr__(name: str):
    if name == "LivePlot":  # a view: matplotlib is imported only when it is asked for
        from cnnkit.liveplot import LivePlot

        return LivePlot
    raise AttributeError(f"module 'cnnkit.train' has no attribute {name!r}")
