"""Execute one notebook with papermill: ``RUN.ipynb``, ``RUN.html`` and ``RUN.run.json``.

:func:`run_notebook` runs a notebook from its own folder with parameters injected, measures
the kernel's peak memory (:mod:`cnnkit.report.memory`), summarises a failure in one line
(``"ZeroDivisionError: division by zero in cell 3"``), renders an offline HTML page
(:mod:`cnnkit.report.render`) and writes the status file last (:mod:`cnnkit.report.status`).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cnnkit._atomic import remove_stale_temporaries, write_atomic
from cnnkit.metrics import read_metrics
from cnnkit.report.history import split_curves
from cnnkit.report.memory import MemoryMonitor, monitored_kernel_manager
from cnnkit.report.params import format_escaped
from cnnkit.report.plan import make_run_id
from cnnkit.report.render import install_mathjax, render_html
from cnnkit.report.status import RunResult, now, run_paths, status_data, write_status

__all__ = ["run_notebook"]

_MAX_ERROR_CHARS = 300


def one_line(text: str) -> str:
    """The first non-empty line of ``text``, shortened to a sensible length."""
    line = next((ln.strip() for ln in str(text).splitlines() if ln.strip()), "")
    if len(line) > _MAX_ERROR_CHARS:
        line = line[: _MAX_ERROR_CHARS - 1] + "…"
    return line


def _cell_label(nb: Any, index: int | None, exec_count: int | None) -> str:
    """Name a cell as the user sees it: its ``In [n]`` number, else its position."""
    if exec_count is None and nb is not None and index is not None and index < len(nb.cells):
        exec_count = nb.cells[index].get("execution_count")
    if exec_count is not None:
        return f"cell {exec_count}"
    return f"cell #{index + 1} of the executed notebook" if index is not None else "a cell"


def _failing_cell(nb: Any) -> int | None:
    """Index of the cell papermill marked as failed (or still running), if any."""
    if nb is None:
        return None
    for status in ("failed", "running"):
        for i, cell in enumerate(nb.cells):
            if cell.get("metadata", {}).get("papermill", {}).get("status") == status:
                return i
    return None


def _timed_out(nb: Any, index: int | None, timeout: float | None) -> bool:
    """True if cell ``index`` ran for the whole per-cell ``timeout``."""
    if not timeout or nb is None or index is None:
        return False
    duration = nb.cells[index].get("metadata", {}).get("papermill", {}).get("duration")
    return duration is not None and duration >= timeout


def summarise_failure(exc: BaseException, nb: Any, timeout: float | None) -> str:
    """A one-line summary of why a notebook failed, naming the cell as ``In [n]`` shows it."""
    from papermill.exceptions import PapermillExecutionError

    index = _failing_cell(nb)
    if isinstance(exc, PapermillExecutionError):
        index = exc.cell_index if index is None else index
        where = _cell_label(nb, index, exc.exec_count)
        # On a per-cell timeout the kernel is interrupted (``interrupt_on_timeout``), so the
        # cell's error output is a KeyboardInterrupt; report it as what it really was.
        if exc.ename == "KeyboardInterrupt" and _timed_out(nb, index, timeout):
            return f"CellTimeoutError: cell did not finish within {timeout:g} s in {where}"
        evalue = one_line(exc.evalue)
        return f"{exc.ename}: {evalue} in {where}" if evalue else f"{exc.ename} in {where}"
    where = f" in {_cell_label(nb, index, None)}" if index is not None else ""
    message = one_line(str(exc))
    head = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"{head}{where}"


def _engine_options(monitor: MemoryMonitor, timeout: float | None) -> dict[str, Any]:
    """nbclient options: the monitored kernel manager, and the per-cell timeout if any."""
    options: dict[str, Any] = {
        "kernel_manager_class": monitored_kernel_manager(monitor),
        "on_cell_executed": monitor.sample,
    }
    if timeout:
        options.update(
            execution_timeout=math.ceil(timeout),  # nbclient wants whole seconds
            interrupt_on_timeout=True,
            error_on_timeout={
                "ename": "CellTimeoutError",
                "evalue": f"cell did not finish within {timeout:g} s",
                "traceback": [],
            },
        )
    return options


@contextlib.contextmanager
def _scratch_folder(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target`` (removed on exit), after removing stale ones."""
    remove_stale_temporaries(target)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _execute(notebook: Path, ipynb_path: Path, parameters, kernel_name: str,
             timeout: float | None) -> tuple[Any, str | None, float | None]:
    """Run papermill; write the executed notebook to ``ipynb_path`` (atomically).

    Returns the executed notebook node, the one-line error (``None`` if it ran through) and
    the kernel's peak memory in MB.
    """
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    monitor = MemoryMonitor()
    failure: BaseException | None = None
    with _scratch_folder(ipynb_path) as scratch:
        executed_path = scratch / "executed.ipynb"
        try:
            papermill.execute_notebook(
                format_escaped(notebook.resolve()), format_escaped(executed_path.resolve()),
                parameters=dict(parameters) if parameters else None, kernel_name=kernel_name,
                progress_bar=False, cwd=str(notebook.resolve().parent),
                **_engine_options(monitor, timeout),
            )
        except (PapermillExecutionError, CellTimeoutError, DeadKernelError) as exc:
            failure = exc
        finally:
            peak_mb = monitor.stop()
        executed = nbformat.read(executed_path, as_version=4)
        write_atomic(ipynb_path, executed_path.read_bytes())
    error = None if failure is None else summarise_failure(failure, executed, timeout)
    return executed, error, peak_mb


def write_page(html_path: Path, executed: Any, title: str, include_input: bool) -> None:
    """Render ``executed`` to ``html_path`` (atomically), with MathJax copied beside it."""
    install_mathjax(html_path.parent)
    write_atomic(html_path, render_html(executed, title, include_input))


def _check_arguments(notebook: Path, ipynb_path: Path, timeout: float | None) -> None:
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook not found: {notebook}")
    if ipynb_path.exists() and ipynb_path.samefile(notebook):
        raise ValueError(
            f"refusing to overwrite the input notebook {notebook}: choose another out_dir"
        )
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be positive (or None for no limit), not {timeout}")


def run_notebook(
    notebook: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = 600,
    kernel_name: str = "python3",
    *,
    run_id: str | None = None,
    include_input: bool = True,
    effective_parameters: Mapping[str, Any] | None = None,
) -> RunResult:
    """Execute ``notebook`` with papermill and write ``RUN.ipynb``, ``RUN.html``, ``RUN.run.json``.

    ``RUN`` is ``run_id`` (default: ``make_run_id`` of the notebook's stem and
    ``parameters``). The notebook runs with its own folder as working directory (so
    relative paths inside it work), ``parameters`` injected after the cell tagged
    ``parameters`` (papermill style) and ``timeout`` seconds allowed per cell (``None`` or
    0: no limit; a cell that runs too long is interrupted and counts as a failure).
    ``include_input=False`` leaves the code out of the HTML. ``out_dir`` is created if
    needed.

    The status file (status, error, parameters, metrics and learning curves the notebook
    recorded, wall time, peak memory of the kernel and its children) is deleted first and
    written last, each file atomically, so the run counts as complete only once everything
    is in place. A notebook that raises does not raise here: its executed notebook (error
    output included), HTML and status are still written, and the result has status
    ``"failed"`` and a one-line ``error``. Errors that are not the notebook's fault (missing
    notebook, unknown kernel, ...) propagate.
    """
    notebook = Path(notebook)
    rid = run_id or make_run_id(notebook.stem, parameters)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ipynb_path, html_path, status_path = run_paths(out, rid)
    _check_arguments(notebook, ipynb_path, timeout)

    # From here on the run is incomplete until its status file is written again.
    status_path.unlink(missing_ok=True)
    source_mtime_ns = notebook.stat().st_mtime_ns
    started, start = now(), time.perf_counter()
    executed, error, peak_mb = _execute(notebook, ipynb_path, parameters, kernel_name, timeout)
    write_page(html_path, executed, rid, include_input)
    metrics, curves = split_curves(read_metrics(executed))
    result = RunResult(
        notebook=notebook, status="failed" if error else "ok",
        seconds=time.perf_counter() - start, ipynb=ipynb_path, html=html_path, error=error,
        run_id=rid, parameters=dict(parameters or {}), metrics=metrics,
        peak_memory_mb=peak_mb, curves=curves,
    )
    effective = dict(effective_parameters or {}) | dict(parameters or {})
    write_status(status_path,
                 status_data(result, effective, source_mtime_ns, started, include_input))
    return result
