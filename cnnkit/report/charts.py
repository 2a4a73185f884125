"""The comparison figures of ``index.html``, as base64 PNGs (matplotlib, Agg, no pyplot).

* :func:`learning_curve_figures`: per notebook, one figure per curve (training/validation loss
  and accuracy per epoch), one line per run (and per model label when a run trained several),
  labelled by the parameters that differ between the runs.
* :func:`scalar_figures`: per notebook, a grouped bar chart per numeric metric recorded by at
  least two runs; counters (metrics whose values are all whole numbers, such as ``epochs``)
  are not charted.

Rows are those of :func:`cnnkit.report.results.collect` (only ok, current runs are charted).
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cnnkit.report.history import CURVES, finite
from cnnkit.report.params import value_text

__all__ = ["is_number", "learning_curve_figures", "scalar_figures", "varying_parameters"]

Row = Mapping[str, Any]
Figure = tuple[str, str]  # (caption, base64 PNG)
_LINE_STYLES = ("-", "--", ":", "-.")


def is_number(value: Any) -> bool:
    """True for finite ints and floats (not bools): what the figures can plot."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def varying_parameters(runs: Sequence[Row]) -> list[str]:
    """Names of the effective parameters whose values differ between ``runs``, in order."""
    names = dict.fromkeys(k for r in runs for k in r["effective_parameters"])
    return [n for n in names
            if len({_key(r["effective_parameters"].get(n)) for r in runs}) > 1]


def _run_label(run: Row, varying: Sequence[str]) -> str:
    if not varying:
        return run["run_id"]
    return ", ".join(f"{n}={value_text(run['effective_parameters'].get(n))}" for n in varying)


def _by_notebook(rows: Iterable[Row]) -> list[list[Row]]:
    groups: dict[str, list[Row]] = {}
    for r in rows:
        if r["status"] == "ok" and not r["stale"]:
            groups.setdefault(r["notebook"], []).append(r)
    return list(groups.values())


def _new_figure(size: tuple[float, float]) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


# --- learning curves -------------------------------------------------------------------------


def _curve_figure(curve: str, group: Sequence[Row]) -> Figure | None:
    """Every run's (and model label's) ``curve`` on one axis, or ``None`` if none has it."""
    varying = varying_parameters(group)
    labels = list(dict.fromkeys(label for r in group for label in r["curves"]))
    lines = [
        (r, label, r["curves"][label]) for r in group for label in labels
        if label in r["curves"] and any(is_number(v) for v in r["curves"][label].get(curve, []))
    ]
    if not lines:
        return None
    stem = Path(group[0]["notebook_name"]).stem
    caption = f"{CURVES[curve]} per epoch ({stem})"
    fig, ax = _new_figure((5.6, 3.4))
    colours = {r["run_id"]: f"C{i % 10}" for i, r in enumerate(group)}
    for run, label, data in lines:
        name = " · ".join(p for p in (_run_label(run, varying), label) if p)
        ax.plot(data["epoch"], [finite(v) for v in data[curve]], marker="o", markersize=3,
                color=colours[run["run_id"]], label=name,
                linestyle=_LINE_STYLES[labels.index(label) % len(_LINE_STYLES)])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(CURVES[curve])
    ax.set_title(caption, fontsize=10)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return caption, _png(fig)


def learning_curve_figures(rows: Sequence[Row]) -> list[Figure]:
    """One figure per notebook and curve that some ok, current run recorded."""
    figures = []
    for group in _by_notebook(rows):
        for curve in CURVES:
            figure = _curve_figure(curve, group)
            if figure is not None:
                figures.append(figure)
    return figures


# --- scalar metrics ----------------------------------------------------------------------------


def _is_counter(values: Sequence[Any]) -> bool:
    """Whole numbers only (ints, not floats): a count such as ``epochs``, not a measurement."""
    return all(isinstance(v, int) for v in values)


def scalar_figures(rows: Sequence[Row]) -> list[Figure]:
    """(caption, PNG) per notebook and charted metric with at least two ok, current runs."""
    figures = []
    for group in _by_notebook(rows):
        names = dict.fromkeys(k for r in group for k, v in r["metrics"].items() if is_number(v))
        for metric in names:
            runs = [r for r in group if is_number(r["metrics"].get(metric))]
            if len(runs) >= 2 and not _is_counter([r["metrics"][metric] for r in runs]):
                figures.append(_bar_chart(metric, runs))
    return figures


def _ordered(values: Iterable[Any]) -> list[Any]:
    """Distinct values (by JSON), sorted if all are numbers, else in order of appearance."""
    items = list({_key(v): v for v in values}.values())
    if all(is_number(v) for v in items):
        items.sort()
    return items


def _bar_layout(metric: str, runs: Sequence[Row]):
    """x values, bar series, {(x, series): value}, x tick labels, caption, x-axis name."""
    varying = varying_parameters(runs)
    stem = Path(runs[0]["notebook_name"]).stem
    if not varying:
        xs = [r["run_id"] for r in runs]
        values = {(_key(r["run_id"]), _key([])): float(r["metrics"][metric]) for r in runs}
        return xs, [[]], values, xs, f"{metric} by run ({stem})", "run", []

    def params(r: Row, names: Sequence[str]) -> list[Any]:
        return [r["effective_parameters"].get(n) for n in names]

    x_name, others = varying[0], varying[1:]
    xs = _ordered(r["effective_parameters"].get(x_name) for r in runs)
    series = _ordered(params(r, others) for r in runs)
    values = {(_key(r["effective_parameters"].get(x_name)), _key(params(r, others))):
              float(r["metrics"][metric]) for r in runs}
    caption = f"{metric} by {', '.join(varying)} ({stem})"
    return xs, series, values, [value_text(x) for x in xs], caption, x_name, others


def _bar_chart(metric: str, runs: Sequence[Row]) -> Figure:
    """A grouped bar chart of ``metric`` over the parameters that vary between ``runs``.

    The first varying parameter is the x axis; combinations of the others are the bar
    groups (legend). Without varying parameters, one bar per run.
    """
    xs, series, values, labels, caption, x_name, others = _bar_layout(metric, runs)
    fig, ax = _new_figure((6.4, 3.4))
    width = 0.8 / max(len(series), 1)
    for j, combo in enumerate(series):
        heights = [values.get((_key(x), _key(combo)), math.nan) for x in xs]
        positions = [i - 0.4 + width * (j + 0.5) for i in range(len(xs))]
        label = ", ".join(f"{n}={value_text(v)}" for n, v in zip(others, combo, strict=True))
        bars = ax.bar(positions, heights, width, label=label or None)
        ax.bar_label(bars, labels=[f"{h:.3g}" if math.isfinite(h) else "" for h in heights],
                     fontsize=8, padding=2)
    ax.set_xticks(range(len(xs)), labels, rotation=0 if len(xs) <= 6 else 30)
    ax.set_xlabel(x_name)
    ax.set_ylabel(metric)
    ax.set_title(caption, fontsize=10)
    ax.margins(y=0.15)
    if len(series) > 1:
        ax.legend(title=", ".join(others), fontsize="small", title_fontsize="small",
                  loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return caption, _png(fig)
