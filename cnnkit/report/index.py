"""``index.html``, ``results.json`` and ``results.csv`` of a report folder.

The page is rendered from the Jinja2 template ``templates/index.html.j2`` (autoescaped: every
value shown is HTML-escaped) and is self-contained: its figures are embedded PNGs, nothing is
fetched from elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cnnkit._atomic import write_atomic
from cnnkit.report.memory import MEMORY_BUDGET_MB
from cnnkit.report.params import describe, value_text
from cnnkit.report.results import collect, results_csv, results_json, summarise

__all__ = ["write_index"]

_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _metric_text(value: Any) -> str:
    """A metric value for the index table (floats to 4 significant digits)."""
    if isinstance(value, float) and not isinstance(value, bool):
        return f"{value:.4g}"
    return value_text(value)


def _memory(row: Mapping[str, Any]) -> tuple[str, str]:
    """(CSS class, text) of the peak-memory cell."""
    peak = row["peak_memory_mb"]
    if isinstance(peak, bool) or not isinstance(peak, (int, float)):
        return "memory", "n/a"
    if row["over_budget"]:
        return "memory over-budget", f"{peak:.0f} over budget"
    return "memory", f"{peak:.0f}"


def _view(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the template shows of one row, as text (the template escapes it)."""
    memory_class, memory = _memory(row)
    seconds = row["seconds"]
    return {
        "name": row["notebook_name"],
        "html": quote(row["html"]) if row["html"] else None,
        "ipynb": row["ipynb"],
        "ipynb_href": quote(row["ipynb"]) if row["ipynb"] else None,
        "parameters": describe(row["parameters"]),
        "status": row["status"],
        "stale": row["stale"],
        "metrics": [f"{k}: {_metric_text(v)}" for k, v in row["metrics"].items()
                    if k != "data_source"],
        "curves": ", ".join(label or "history" for label in row["curves"]),
        "source": None if row["data_source"] is None else value_text(row["data_source"]),
        "synthetic": row["synthetic_data"],
        "seconds": f"{seconds:.1f}" if isinstance(seconds, (int, float)) else "",
        "memory_class": memory_class,
        "memory": memory,
        "error": row["error"] or "",
    }


def _notes(summary: Mapping[str, int]) -> str:
    notes = [f"{summary['ok']} of {summary['total']} runs ok"]
    if summary["over_budget"]:
        notes.append(f"{summary['over_budget']} over the memory budget")
    if summary["synthetic_data"]:
        notes.append(f"{summary['synthetic_data']} on synthetic stand-in data")
    if summary["stale"]:
        notes.append(f"{summary['stale']} outdated")
    return " · ".join(notes)


def render_index(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, int],
                 generated: datetime, memory_budget_mb: float) -> str:
    """The ``index.html`` page for ``rows`` (see :func:`cnnkit.report.results.collect`)."""
    import jinja2

    from cnnkit.report.charts import learning_curve_figures, scalar_figures

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(_TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("index.html.j2").render(
        rows=[_view(r) for r in rows],
        generated=generated.strftime("%Y-%m-%d %H:%M:%S %Z").strip(),
        notes=_notes(summary),
        memory_budget=f"{memory_budget_mb:g}",
        curves=learning_curve_figures(rows),
        comparisons=scalar_figures(rows),
    )


def write_index(
    out_dir: str | os.PathLike[str], memory_budget_mb: float = MEMORY_BUDGET_MB
) -> Path:
    """(Re)write ``index.html``, ``results.json`` and ``results.csv`` of ``out_dir``.

    They list every complete run recorded in the folder (every ``RUN.run.json``), so
    several ``cnnkit report`` commands with the same output folder build one comparison;
    delete a run's files to drop it. Each file is written atomically. Returns the path of
    ``index.html``.
    """
    out = Path(out_dir)
    rows = collect(out, memory_budget_mb)
    summary = summarise(rows)
    generated = datetime.now(timezone.utc).astimezone()
    write_atomic(out / "results.json", results_json(
        rows, summary, generated.isoformat(timespec="seconds"), memory_budget_mb))
    write_atomic(out / "results.csv", results_csv(rows))
    index = out / "index.html"
    write_atomic(index, render_index(rows, summary, generated, memory_budget_mb))
    return index
