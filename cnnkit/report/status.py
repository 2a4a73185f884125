"""A run's outcome (:class:`RunResult`) and its status file ``RUN.run.json``.

A run writes ``RUN.ipynb``, ``RUN.html`` and, last, ``RUN.run.json`` (status, parameters,
metrics, learning curves, wall time, peak memory), each atomically; the status file is deleted
before the notebook starts. A run is complete exactly when its status file exists, so a run
interrupted at any point (even killed) is never mistaken for a complete one. A complete run
is reusable when its status is ``ok``, its outputs exist and its notebook has not been
modified since the run started (:func:`is_up_to_date`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from cnnkit._atomic import write_atomic
from cnnkit.metrics import _jsonable
from cnnkit.report.plan import RunSpec

__all__ = ["STATUS_SUFFIX", "RunResult", "is_up_to_date", "read_status", "run_paths"]

STATUS_SUFFIX = ".run.json"
"""Suffix of a run's status file, written last: a run is complete when it exists."""

STATUS_SCHEMA = 1


@dataclass
class RunResult:
    """The outcome of executing one notebook (one run).

    ``error`` is a one-line summary for failures, such as
    ``"ZeroDivisionError: division by zero in cell 3"`` (the cell number is the execution
    count shown as ``In [3]`` in the executed notebook), and ``None`` for successes.
    ``parameters`` are those injected, ``metrics`` those the notebook recorded with
    ``record``, ``curves`` the learning curves it recorded with ``record_history`` (label ->
    ``{"epoch": [...], "val_acc": [...], ...}``), ``peak_memory_mb`` the kernel's peak resident
    memory in MB (children included; ``None`` if it could not be measured) and ``skipped``
    tells that the run was complete and up to date, so its earlier outputs were reused.
    """

    notebook: Path
    status: Literal["ok", "failed"]
    seconds: float
    ipynb: Path
    html: Path
    error: str | None = None
    run_id: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    peak_memory_mb: float | None = None
    skipped: bool = False
    curves: dict[str, dict[str, list]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if the notebook ran to the end without an error."""
        return self.status == "ok"

    @property
    def data_source(self) -> Any:
        """The ``data_source`` metric the notebook recorded, if any."""
        return self.metrics.get("data_source")

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-serialisable data (paths as strings)."""
        return {
            "run_id": self.run_id,
            "notebook": str(self.notebook),
            "parameters": _jsonable(self.parameters, "parameters"),
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "peak_memory_mb": round_mb(self.peak_memory_mb),
            "metrics": self.metrics,
            "curves": self.curves,
            "ipynb": str(self.ipynb),
            "html": str(self.html),
            "error": self.error,
            "skipped": self.skipped,
        }


def round_mb(mb: float | None) -> float | None:
    """MB rounded to 0.1 for the reports (``None`` stays ``None``)."""
    return None if mb is None else round(mb, 1)


def now() -> str:
    """The local time now, ISO 8601 to the second, with its UTC offset."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def run_paths(out: Path, rid: str) -> tuple[Path, Path, Path]:
    """The executed notebook, HTML page and status file of run ``rid`` in ``out``."""
    return out / f"{rid}.ipynb", out / f"{rid}.html", out / f"{rid}{STATUS_SUFFIX}"


def status_data(
    result: RunResult,
    effective: Mapping[str, Any],
    source_mtime_ns: int | None,
    started: str,
    include_input: bool,
) -> dict[str, Any]:
    """What ``RUN.run.json`` holds (paths of the outputs relative to its folder)."""
    folder = result.ipynb.parent
    return {
        "schema": STATUS_SCHEMA,
        "run_id": result.run_id,
        "notebook": str(result.notebook.resolve()),
        "notebook_name": result.notebook.name,
        "source_mtime_ns": source_mtime_ns,
        "parameters": _jsonable(result.parameters, "parameters"),
        "effective_parameters": _jsonable(dict(effective), "parameters"),
        "status": result.status,
        "error": result.error,
        "started": started,
        "finished": now(),
        "seconds": round(result.seconds, 3),
        "peak_memory_mb": round_mb(result.peak_memory_mb),
        "metrics": result.metrics,
        "curves": result.curves,
        "ipynb": result.ipynb.name if (folder / result.ipynb.name).is_file() else None,
        "html": result.html.name if (folder / result.html.name).is_file() else None,
        "html_input": include_input,
    }


def write_status(path: Path, data: Mapping[str, Any]) -> None:
    """Write a run's status file atomically (as JSON)."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def read_status(path: Path) -> dict[str, Any] | None:
    """The content of a status file, or ``None`` if it is missing or not one of ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != STATUS_SCHEMA:
        return None
    if data.get("status") not in ("ok", "failed") or not isinstance(data.get("run_id"), str):
        return None
    return data


def _modified_since(notebook: Path, data: Mapping[str, Any]) -> bool:
    try:
        return notebook.stat().st_mtime_ns > int(data.get("source_mtime_ns") or -1)
    except (OSError, ValueError):
        return True


def up_to_date(spec: RunSpec, out: Path) -> dict[str, Any] | None:
    """The status of ``spec``'s earlier run if it can be reused, else ``None``.

    Reusable: the status file exists (so every output was written completely), says
    ``ok``, belongs to this notebook and run, its outputs exist, and the notebook has not
    been modified since that run started.
    """
    ipynb, html_path, status_path = run_paths(out, spec.run_id)
    data = read_status(status_path)
    if data is None or data["status"] != "ok" or data["run_id"] != spec.run_id:
        return None
    if data.get("notebook") != str(spec.notebook.resolve()):
        return None
    if data.get("ipynb") != ipynb.name or data.get("html") != html_path.name:
        return None
    if not (ipynb.is_file() and html_path.is_file()):
        return None
    return None if _modified_since(spec.notebook, data) else data


def is_up_to_date(spec: RunSpec, out_dir: str | os.PathLike[str]) -> bool:
    """True if ``spec`` has complete, ok outputs in ``out_dir`` newer than its notebook."""
    return up_to_date(spec, Path(out_dir)) is not None
