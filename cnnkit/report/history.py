"""Learning curves a notebook records for the report: ``record_history(history, label)``.

The report overlays the curves of the runs of a grid, one figure per curve (training and
validation loss and accuracy per epoch), one line per run. :func:`record_history` takes
anything with per-epoch lists (duck typing, so any ``History`` works): a mapping, an object
with ``to_dict()`` or ``as_dict()``, or one with the lists as attributes. It records them as
the metric ``history`` (``history/LABEL`` with a label, for notebooks that train several
models), which :func:`split_curves` separates from the scalar metrics when the report reads the
notebook back. Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cnnkit.metrics import _jsonable, display_metric

__all__ = ["CURVES", "HISTORY_METRIC", "history_data", "record_history", "split_curves"]

HISTORY_METRIC = "history"
"""Metric name of a recorded history; ``history/LABEL`` for a labelled one."""

CURVES = {
    "train_loss": "training loss",
    "val_loss": "validation loss",
    "train_acc": "training accuracy",
    "val_acc": "validation accuracy",
}
"""The per-epoch curves the report draws, with their axis labels."""

_KEYS = ("epoch", *CURVES)


def _as_mapping(history: Any) -> Mapping[str, Any]:
    if isinstance(history, Mapping):
        return history
    for method in ("to_dict", "as_dict"):
        convert = getattr(history, method, None)
        if callable(convert):
            data = convert()
            if isinstance(data, Mapping):
                return data
    return {key: getattr(history, key) for key in _KEYS if hasattr(history, key)}


def _per_epoch(key: str, values: Any) -> list[float | None]:
    values = _jsonable(values, f"history[{key!r}]")
    if not isinstance(values, list) or not all(
        v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values
    ):
        raise TypeError(f"record_history: history[{key!r}] must be a list of numbers (None "
                        f"for a missing value); got {values!r:.80}")
    return values


def history_data(history: Any) -> dict[str, list[float | None]]:
    """The per-epoch lists of ``history`` the report uses: ``epoch`` and :data:`CURVES` keys.

    Keys it lacks are left out (``epoch`` defaults to 1, 2, ...); non-finite values become
    ``None``. Raises ``TypeError`` if it has none of the curves or a value is not a list of
    numbers, ``ValueError`` if the lists have different lengths.
    """
    source = _as_mapping(history)
    data = {key: _per_epoch(key, source[key]) for key in _KEYS if key in source}
    if not any(key in data for key in CURVES):
        raise TypeError(
            "record_history: history must be a History, a mapping or an object with per-epoch "
            f"lists ({', '.join(CURVES)}); got {type(history).__name__} without any of them"
        )
    lengths = {key: len(values) for key, values in data.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"record_history: the per-epoch lists differ in length: {lengths}")
    data.setdefault("epoch", list(range(1, next(iter(lengths.values())) + 1)))
    return {"epoch": data.pop("epoch"), **data}


def _summary(name: str, data: Mapping[str, list]) -> str:
    epochs = len(data["epoch"])
    shown = [k for k in CURVES if k in data]
    last = [f"{k} {data[k][-1]:.4g}" for k in shown if data[k] and data[k][-1] is not None]
    tail = f" (last epoch: {', '.join(last)})" if last else ""
    return f"{name}: {epochs} epoch{'s' if epochs != 1 else ''} of {', '.join(shown)}{tail}"


def record_history(history: Any, label: str | None = None) -> None:
    """Record ``history``'s learning curves for the report (see :func:`history_data`).

    label: names the model when a notebook trains several (``"LeNet"``, ``"ResNet-20"``);
    recording the same label again replaces the earlier curves. Shows a one-line summary in
    the notebook (printed outside IPython) and returns ``None``.
    """
    if label is not None and (not isinstance(label, str) or not label.strip()):
        raise ValueError(f"record_history: label must be a non-empty string; got {label!r}")
    name = HISTORY_METRIC if label is None else f"{HISTORY_METRIC}/{label}"
    data = history_data(history)
    display_metric(name, data, _summary(name, data))


def _curve_label(name: str) -> str | None:
    """``""`` for ``history``, ``"LeNet"`` for ``history/LeNet``, ``None`` for other names."""
    if name == HISTORY_METRIC:
        return ""
    prefix = HISTORY_METRIC + "/"
    return name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else None


def _is_curves(value: Any) -> bool:
    return isinstance(value, Mapping) and isinstance(value.get("epoch"), list) and any(
        isinstance(value.get(k), list) for k in CURVES)


def split_curves(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict]]:
    """``(other metrics, curves by label)`` from metrics read back from a notebook."""
    others: dict[str, Any] = {}
    curves: dict[str, dict] = {}
    for name, value in metrics.items():
        label = _curve_label(name)
        if label is not None and _is_curves(value):
            curves[label] = dict(value)
        else:
            others[name] = value
    return others, curves


def finite(value: Any) -> float:
    """``value`` as a float, NaN for ``None`` or anything not finite (a gap in a line)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return math.nan
