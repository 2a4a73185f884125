"""Results a notebook records for the instructor report: ``record(name, value)``.

A course notebook ends a training section with, say, ``record("best_accuracy", 0.91)``.
:func:`record` shows a one-line text in the notebook and, alongside it in the same display
output, the machine-readable form: a small JSON object under the MIME type
:data:`METRIC_MIME`::

    {"output_type": "display_data",
     "data": {"application/vnd.cnnkit.metric+json": {"name": "best_accuracy", "value": 0.91},
              "text/plain": "best_accuracy = 0.91"},
     "metadata": {}}

JupyterLab, nbconvert and GitHub do not know the MIME type and show the ``text/plain``
fallback; ``cnnkit report`` reads the JSON back from the executed notebook with
:func:`read_metrics` (the last value recorded under a name wins). No third-party package
(scrapbook is unmaintained) is involved.

This module imports only the standard library at import time, and IPython only inside
:func:`record` (it is already loaded in a kernel), so a notebook pays nothing for it.
``cnnkit.report.record`` is the same function.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

__all__ = ["METRIC_MIME", "display_metric", "read_metrics", "record"]

METRIC_MIME = "application/vnd.cnnkit.metric+json"
"""MIME type of the JSON object ``{"name": ..., "value": ...}`` that :func:`record` displays."""


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (numpy/torch scalars and arrays via ``item``/``tolist``).

    Non-finite floats become ``None`` (JSON has no NaN); the text fallback still shows them.
    Raises ``TypeError`` naming ``where`` for anything else.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    # numpy scalars/arrays and torch tensors, without importing either.
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        return _jsonable(value.item(), where)
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist(), where)
    raise TypeError(
        f"record: {where} must be a number, string, bool, None or a list/dict of those, "
        f"not {type(value).__name__}"
    )


def _text(name: str, value: Any, original: Any) -> str:
    """The human-readable fallback shown in notebooks: ``name = value``."""
    if isinstance(original, float) and not math.isfinite(original):
        shown = repr(original)
    elif isinstance(value, str):
        shown = value
    elif isinstance(value, float):
        shown = f"{value:.6g}"
    else:
        shown = json.dumps(value, ensure_ascii=False)
    return f"{name} = {shown}"


def record(name: str, value: Any) -> None:
    """Record a result of the notebook (accuracy, loss, seconds per epoch, data source, ...).

    Displays ``value`` as text (``name = value``) together with a JSON object under the
    MIME type :data:`METRIC_MIME` that ``cnnkit report`` reads back from the executed
    notebook and shows in its index and comparison figures. ``value`` must be JSON data:
    a number, string, bool, ``None``, or a list/dict of those; numpy scalars and arrays
    and torch tensors are converted with ``item()``/``tolist()``; NaN and infinities are
    stored as ``null``. Recording the same name again replaces the earlier value. A
    notebook that records the data it trained on should use the name ``data_source``
    (the report flags values that contain "synthetic"). Outside IPython (a plain Python
    script) the text is printed. Returns ``None`` so that it shows nothing extra as the
    last line of a cell.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"record: the name must be a non-empty string, not {name!r}")
    data = _jsonable(value, f"the value of {name!r}")
    display_metric(name, data, _text(name, data, value))


def display_metric(name: str, data: Any, text: str) -> None:
    """Show ``text`` and, in the same display output, ``{"name": name, "value": data}`` under
    :data:`METRIC_MIME` (``data`` already JSON data); outside IPython, print ``text``.

    The one place that writes a metric into a notebook: :func:`record` and
    ``cnnkit.report.record_history`` both call it.
    """
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover - IPython comes with the kernel
        shell = None
    if shell is None:
        print(text)
        return
    from IPython.display import display

    display({METRIC_MIME: {"name": name, "value": data}, "text/plain": text}, raw=True)


def read_metrics(nb: Any) -> dict[str, Any]:
    """The metrics recorded in an executed notebook (an nbformat node or dict), in order.

    Looks at the display outputs of the code cells for :data:`METRIC_MIME` data; a name
    recorded twice keeps its last value. Malformed entries are ignored.
    """
    metrics: dict[str, Any] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            payload = output.get("data", {}).get(METRIC_MIME)
            if isinstance(payload, str):
                try:
                    payload = json.loads(payload)
                except ValueError:
                    continue
            if isinstance(payload, Mapping) and isinstance(payload.get("name"), str):
                metrics.pop(payload["name"], None)  # re-recorded: move to the end
                metrics[payload["name"]] = payload.get("value")
    return metrics
