"""Run many notebooks: skip what is complete, fan out the rest, then write the index.

:func:`run_report` executes planned runs (:func:`~cnnkit.report.plan.plan_runs`) one at a time,
``jobs`` at a time in local processes, or on a Dask cluster (``scheduler``), all through
:func:`cnnkit.cluster.map_tasks`; :func:`run_course` is the simple form (the same parameters for
every notebook).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnkit.report.execute import one_line, run_notebook, write_page
from cnnkit.report.index import write_index
from cnnkit.report.memory import MEMORY_BUDGET_MB
from cnnkit.report.plan import RunSpec, make_run_id
from cnnkit.report.status import (
    RunResult,
    now,
    run_paths,
    status_data,
    up_to_date,
    write_status,
)

__all__ = ["check_runs", "run_course", "run_report"]

# papermill changes the working directory of its process while a notebook runs, so two
# notebooks must never run at once in one process (a Dask worker with several threads).
_ONE_NOTEBOOK_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class _Options:
    out: Path
    timeout: float | None
    include_input: bool
    kernel_name: str


def check_runs(runs: Sequence[RunSpec], out_dir: str | os.PathLike[str]) -> None:
    """Refuse runs that share outputs or would overwrite an input notebook (ValueError).

    :func:`run_report` checks this before running anything; it reads, never writes.
    """
    out = Path(out_dir)
    owners: dict[str, Path] = {}
    for spec in runs:
        if spec.run_id in owners:
            raise ValueError(
                f"notebooks {owners[spec.run_id]} and {spec.notebook} would both write "
                f"{spec.run_id}.html"
            )
        owners[spec.run_id] = spec.notebook
        target = out / f"{spec.run_id}.ipynb"
        if target.exists() and target.samefile(spec.notebook):
            raise ValueError(
                f"refusing to overwrite the input notebook {spec.notebook}: "
                "choose another output folder"
            )


def _reuse(spec: RunSpec, out: Path, data: dict[str, Any], include_input: bool) -> RunResult:
    """The result of a skipped run, re-rendering its HTML if ``include_input`` changed."""
    ipynb, html_path, status_path = run_paths(out, spec.run_id)
    if bool(data.get("html_input", True)) != include_input:
        import nbformat

        write_page(html_path, nbformat.read(ipynb, as_version=4), spec.run_id, include_input)
        data = dict(data, html_input=include_input)
        write_status(status_path, data)
    return RunResult(
        notebook=spec.notebook, status="ok", seconds=float(data.get("seconds") or 0.0),
        ipynb=ipynb, html=html_path, run_id=spec.run_id, parameters=dict(spec.parameters),
        metrics=dict(data.get("metrics") or {}), peak_memory_mb=data.get("peak_memory_mb"),
        skipped=True, curves=dict(data.get("curves") or {}),
    )


def record_crash(spec: RunSpec, options: _Options, error: str, started: str,
                 seconds: float = 0.0) -> RunResult:
    """A failed result for a run that could not run, with its status file written.

    Such failures (unknown kernel, unreadable notebook, a worker process that died) get a
    status file without outputs, so the index shows them.
    """
    ipynb, html_path, status_path = run_paths(options.out, spec.run_id)
    result = RunResult(
        notebook=spec.notebook, status="failed", seconds=seconds, ipynb=ipynb, html=html_path,
        error=error, run_id=spec.run_id, parameters=dict(spec.parameters),
    )
    try:
        mtime: int | None = spec.notebook.stat().st_mtime_ns
    except OSError:
        mtime = None
    effective = dict(spec.effective) | dict(spec.parameters)
    with contextlib.suppress(OSError):
        options.out.mkdir(parents=True, exist_ok=True)
        write_status(status_path,
                     status_data(result, effective, mtime, started, options.include_input))
    return result


def execute_run(task: tuple[RunSpec, _Options]) -> RunResult:
    """Run one planned run (what every worker process or Dask worker executes).

    A failure that is not the notebook's own is a failed result too (see :func:`record_crash`).
    """
    spec, options = task
    started, start = now(), time.perf_counter()
    with _ONE_NOTEBOOK_AT_A_TIME:
        try:
            return run_notebook(
                spec.notebook, options.out, spec.parameters, timeout=options.timeout,
                kernel_name=options.kernel_name, run_id=spec.run_id,
                include_input=options.include_input, effective_parameters=spec.effective,
            )
        except Exception as exc:
            message = one_line(str(exc))
            error = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
            return record_crash(spec, options, error, started, time.perf_counter() - start)


def _absolute(spec: RunSpec) -> RunSpec:
    """``spec`` with an absolute notebook path (workers may run elsewhere)."""
    return RunSpec(notebook=spec.notebook.resolve(), parameters=spec.parameters,
                   run_id=spec.run_id, effective=spec.effective)


def run_report(
    runs: Sequence[RunSpec],
    out_dir: str | os.PathLike[str],
    *,
    timeout: float | None = 600,
    jobs: int = 1,
    scheduler: Any = None,
    include_input: bool = True,
    force: bool = False,
    memory_budget_mb: float = MEMORY_BUDGET_MB,
    progress: bool = True,
    kernel_name: str = "python3",
) -> list[RunResult]:
    """Execute ``runs`` (from ``plan_runs``) into ``out_dir``, then write the index.

    Runs that are complete and up to date (``is_up_to_date``) are skipped unless ``force``;
    the others run through :func:`cnnkit.cluster.map_tasks`: one at a time, ``jobs`` at a time
    (each in a spawned worker process), or on the Dask cluster at ``scheduler`` (an address
    or a ``distributed.Client``; the workers must see ``out_dir`` and the notebooks at the
    same paths). Every run is attempted even if some fail; a tqdm bar on stderr counts them
    (``progress=False``: none). Finally ``write_index`` writes ``index.html``,
    ``results.json`` and ``results.csv`` for every run recorded in ``out_dir``. Returns the
    results in the order of ``runs``. Raises ``ValueError`` before anything runs if two runs
    would write the same files or one would overwrite its input notebook.
    """
    from cnnkit._validate import check_int
    from cnnkit.cluster import map_tasks

    check_int(jobs, "jobs", minimum=1)
    out = Path(out_dir).resolve()
    runs = list(runs)
    check_runs(runs, out)
    out.mkdir(parents=True, exist_ok=True)
    options = _Options(out, timeout, include_input, kernel_name)

    results: list[RunResult | None] = [None] * len(runs)
    todo: list[int] = []
    for i, spec in enumerate(runs):
        data = None if force else up_to_date(spec, out)
        if data is None:
            todo.append(i)
        else:
            results[i] = _reuse(spec, Path(out_dir), data, include_input)
    outcomes = map_tasks(
        execute_run, [(_absolute(runs[i]), options) for i in todo],
        names=[runs[i].run_id for i in todo], jobs=jobs, scheduler=scheduler,
        progress=progress, desc="runs", unit="run", already_done=len(runs) - len(todo),
    )
    for i, outcome in zip(todo, outcomes, strict=True):
        result = outcome.value if outcome.ok else record_crash(
            runs[i], options, outcome.error or "failed", now(), outcome.seconds)
        results[i] = _with_given_paths(result, runs[i], Path(out_dir))
    write_index(out, memory_budget_mb=memory_budget_mb)
    return [r for r in results if r is not None]


def _with_given_paths(result: RunResult, spec: RunSpec, out: Path) -> RunResult:
    """``result`` with the notebook and output paths as the caller gave them."""
    ipynb, html_path, _ = run_paths(out, spec.run_id)
    result.notebook, result.ipynb, result.html = spec.notebook, ipynb, html_path
    return result


def run_course(
    notebooks: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = 600,
    progress: bool = True,
    **options: Any,
) -> list[RunResult]:
    """Run every notebook once with the same ``parameters`` (Python values), via :func:`run_report`.

    Unlike ``plan_runs`` the parameters are not checked against the notebooks: they are
    injected papermill style into every notebook (at the top of one without a ``parameters``
    cell). Each run is named ``make_run_id`` of the notebook's stem and the parameters.
    ``options`` go to :func:`run_report` (``jobs``, ``force``, ``scheduler``, ...). Two
    notebooks with the same file name would overwrite each other's outputs, so that raises
    ``ValueError`` before anything runs.
    """
    given = dict(parameters or {})
    runs = [
        RunSpec(notebook=Path(nb), parameters=given, run_id=make_run_id(Path(nb).stem, given),
                effective=given)
        for nb in notebooks
    ]
    return run_report(runs, out_dir, timeout=timeout, progress=progress, **options)
