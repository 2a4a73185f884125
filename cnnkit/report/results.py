"""The table of a report folder: one row per complete run, as ``results.json`` and ``results.csv``.

:func:`collect` reads every status file ``RUN.run.json`` in the folder (so several
``cnnkit report`` commands with the same output folder build one comparison), flags runs
whose notebook changed since (``stale``), over the memory budget, or on synthetic data.
"""

from __future__ import annotations

import csv
import glob
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cnnkit.report.charts import is_number
from cnnkit.report.status import STATUS_SUFFIX, read_status

__all__ = ["collect", "results_csv", "results_json", "summarise"]

_SYNTHETIC = "synthetic"
_CSV_FIXED = [
    "run_id", "notebook", "status", "stale", "error", "seconds", "peak_memory_mb",
    "over_budget", "data_source", "synthetic_data",
]


def _is_synthetic(value: Any) -> bool:
    """True if a ``data_source`` value says the data were a synthetic stand-in."""
    return value is not None and _SYNTHETIC in str(value).lower()


def _existing_output(out: Path, name: Any) -> str | None:
    """``name`` if it is a plain file name of an existing file in ``out``, else ``None``."""
    if not isinstance(name, str) or not name or Path(name).name != name:
        return None
    return name if (out / name).is_file() else None


def _is_stale(notebook: Path, data: Mapping[str, Any]) -> bool:
    try:
        return notebook.stat().st_mtime_ns > int(data.get("source_mtime_ns") or -1)
    except (OSError, ValueError):
        return True


def _mapping(value: Any) -> dict:
    return dict(value) if isinstance(value, dict) else {}


def _row(out: Path, data: Mapping[str, Any], memory_budget_mb: float) -> dict[str, Any]:
    notebook = Path(str(data.get("notebook", "")))
    metrics = _mapping(data.get("metrics"))
    peak = data.get("peak_memory_mb")
    source = metrics.get("data_source")
    return {
        "run_id": data["run_id"],
        "notebook": str(notebook),
        "notebook_name": data.get("notebook_name") or notebook.name,
        "parameters": data.get("parameters") or {},
        "effective_parameters": data.get("effective_parameters") or {},
        "status": data["status"],
        "stale": _is_stale(notebook, data),
        "error": data.get("error"),
        "seconds": data.get("seconds"),
        "peak_memory_mb": peak,
        "over_budget": (peak > memory_budget_mb) if is_number(peak) else None,
        "data_source": source,
        "synthetic_data": _is_synthetic(source),
        "metrics": metrics,
        "curves": _mapping(data.get("curves")),
        "started": data.get("started"),
        "finished": data.get("finished"),
        "ipynb": _existing_output(out, data.get("ipynb")),
        "html": _existing_output(out, data.get("html")),
    }


def collect(out: Path, memory_budget_mb: float) -> list[dict[str, Any]]:
    """One row per complete run recorded in ``out`` (its status file exists), sorted.

    Rows are sorted by notebook file name, the run with default parameters first, then by
    run id. ``stale`` marks runs whose notebook has changed (or gone) since.
    """
    rows = []
    for path in out.glob(f"*{glob.escape(STATUS_SUFFIX)}"):
        data = read_status(path)
        if data is not None and path.name == f"{data['run_id']}{STATUS_SUFFIX}":
            rows.append(_row(out, data, memory_budget_mb))
    rows.sort(key=lambda r: (
        r["notebook_name"],
        r["run_id"] != Path(r["notebook_name"]).stem,  # defaults first
        r["run_id"],
    ))
    return rows


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Counts of runs: total, ok, failed, over budget, on synthetic data, stale."""
    return {
        "total": len(rows),
        "ok": sum(r["status"] == "ok" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "over_budget": sum(bool(r["over_budget"]) for r in rows),
        "synthetic_data": sum(r["synthetic_data"] for r in rows),
        "stale": sum(r["stale"] for r in rows),
    }


def results_json(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, int],
                 generated: str, memory_budget_mb: float) -> str:
    """``results.json``: when, the memory budget, the summary and every row."""
    data = {"generated": generated, "memory_budget_mb": memory_budget_mb,
            "summary": dict(summary), "runs": list(rows)}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _csv_cell(value: Any) -> str:
    """A CSV cell: empty for ``None``, true/false, JSON for lists and dicts."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def results_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The table as CSV: fixed columns, ``param.NAME`` and ``metric.NAME``, then the files.

    Learning curves stay in ``results.json`` (lists per epoch do not fit a cell).
    """
    params = list(dict.fromkeys(k for r in rows for k in r["effective_parameters"]))
    metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"] if k != "data_source"))
    header = [*_CSV_FIXED, *(f"param.{p}" for p in params), *(f"metric.{m}" for m in metrics),
              "html", "ipynb"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow(
            [_csv_cell(r[c] if c != "notebook" else r["notebook_name"]) for c in _CSV_FIXED]
            + [_csv_cell(r["effective_parameters"].get(p)) for p in params]
            + [_csv_cell(r["metrics"].get(m)) for m in metrics]
            + [_csv_cell(r["html"]), _csv_cell(r["ipynb"])]
        )
    return buf.getvalue()
