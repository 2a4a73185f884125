"""Instructor reports: execute the course notebooks and collect the results in one folder.

``run_notebook`` executes one notebook with papermill (parameters injected papermill-style
into the cell tagged ``parameters``) and writes the executed ``.ipynb`` and an HTML
rendering of it; ``run_course`` does that for several notebooks and adds an ``index.html``
overview and a ``results.json`` with the same information. A notebook that raises is a
result with status ``"failed"``, not an exception: its executed notebook, traceback
included, is written all the same.

Every file is written atomically (temporary file in the same folder, then ``os.replace``),
so a reader, a web server or an interrupted run never sees a half-written report.
This module needs no ipywidgets or matplotlib.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

__all__ = [
    "RunResult",
    "default_notebooks",
    "run_course",
    "run_notebook",
    "write_atomic",
]

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
"""Glob (inside ``notebooks/``) of the course notebooks, e.g. ``01_convolution.ipynb``."""

_MAX_ERROR_CHARS = 300


@dataclass
class RunResult:
    """The outcome of executing one notebook.

    ``error`` is a one-line summary for failures, such as
    ``"ZeroDivisionError: division by zero in cell 3"`` (the cell number is the execution
    count shown as ``In [3]`` in the executed notebook), and ``None`` for successes.
    """

    notebook: Path
    status: Literal["ok", "failed"]
    seconds: float
    ipynb: Path
    html: Path
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True if the notebook ran to the end without an error."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-serialisable data (paths as strings)."""
        return {
            "notebook": str(self.notebook),
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "ipynb": str(self.ipynb),
            "html": str(self.html),
            "error": self.error,
        }


# --------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------


def _file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _temporary_path(target: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A fresh temporary file next to ``target``, removed on exit unless it was moved away."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _commit(tmp: Path, target: Path) -> None:
    """Flush ``tmp`` to disk, give it the usual permissions and rename it over ``target``."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.chmod(tmp, _file_mode())  # mkstemp creates 0o600 files
    os.replace(tmp, target)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    The data goes to a temporary file in the same folder, which is then renamed over
    ``path`` with ``os.replace``: readers see either the old file or the complete new one,
    never a partial write, and a failed write leaves no temporary file behind. ``str`` data
    is encoded as UTF-8. The parent folder must exist.
    """
    path = Path(path)
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    else:
        raise TypeError(f"write_atomic needs str or bytes, not {type(data).__name__}")
    with _temporary_path(path) as tmp:
        tmp.write_bytes(payload)
        _commit(tmp, path)
    return path


# --------------------------------------------------------------------------------------
# Running one notebook
# --------------------------------------------------------------------------------------


def _format_escaped(path: Path) -> str:
    """``path`` as a string that survives papermill's ``str.format`` of notebook paths."""
    return str(path).replace("{", "{{").replace("}", "}}")


def _one_line(text: str) -> str:
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


def _summarise(exc: BaseException, nb: Any, timeout: float | None) -> str:
    """A one-line summary of why a notebook failed."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        index = _failing_cell(nb)
        if index is None:
            index = exc.cell_index
        where = _cell_label(nb, index, exc.exec_count)
        # On a per-cell timeout the kernel is interrupted (``interrupt_on_timeout``), so the
        # cell's error output is a KeyboardInterrupt; report it as what it really was.
        if exc.ename == "KeyboardInterrupt" and timeout and nb is not None and index is not None:
            duration = nb.cells[index].get("metadata", {}).get("papermill", {}).get("duration")
            if duration is not None and duration >= timeout:
                return f"CellTimeoutError: cell did not finish within {timeout:g} s in {where}"
        evalue = _one_line(exc.evalue)
        head = f"{exc.ename}: {evalue}" if evalue else exc.ename
        return f"{head} in {where}"
    index = _failing_cell(nb)
    where = f" in {_cell_label(nb, index, None)}" if index is not None else ""
    message = _one_line(str(exc))
    head = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return f"{head}{where}"


def _render_html(nb: Any, title: str) -> str:
    """Render a notebook node to a standalone HTML page with nbconvert."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def run_notebook(
    notebook: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = 600,
    kernel_name: str = "python3",
) -> RunResult:
    """Execute ``notebook`` with papermill and write ``<stem>.ipynb`` and ``<stem>.html``.

    The notebook runs with its own folder as working directory (so relative paths inside
    it work), ``parameters`` injected after the cell tagged ``parameters`` (papermill
    style) and ``timeout`` seconds allowed per cell (``None`` or 0: no limit; a cell that
    runs too long is interrupted and counts as a failure). ``out_dir`` is created if
    needed. Both outputs are written atomically; papermill saves its output as it goes,
    so it writes to a temporary file that is renamed at the end.

    A notebook that raises does not raise here: the executed notebook (with the error
    output and papermill's error markers) and its HTML are still written, and the result
    has status ``"failed"`` and a one-line ``error`` summary. Errors that are not the
    notebook's fault (missing notebook, unknown kernel, ...) propagate.
    """
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook not found: {notebook}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ipynb_path = out / f"{notebook.stem}.ipynb"
    html_path = out / f"{notebook.stem}.html"
    if ipynb_path.exists() and ipynb_path.samefile(notebook):
        raise ValueError(
            f"refusing to overwrite the input notebook {notebook}: choose another out_dir"
        )

    engine_kwargs: dict[str, Any] = {}
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be positive (or None for no limit), not {timeout}")
    if timeout:
        engine_kwargs.update(
            execution_timeout=math.ceil(timeout),  # nbclient wants whole seconds
            interrupt_on_timeout=True,
            error_on_timeout={
                "ename": "CellTimeoutError",
                "evalue": f"cell did not finish within {timeout:g} s",
                "traceback": [],
            },
        )

    start = time.perf_counter()
    error: str | None = None
    with _temporary_path(ipynb_path, suffix=".tmp.ipynb") as tmp:
        try:
            papermill.execute_notebook(
                _format_escaped(notebook.resolve()),
                _format_escaped(tmp.resolve()),
                parameters=dict(parameters) if parameters else None,
                kernel_name=kernel_name,
                progress_bar=False,
                cwd=str(notebook.resolve().parent),
                **engine_kwargs,
            )
        except (PapermillExecutionError, CellTimeoutError, DeadKernelError) as exc:
            failure: BaseException | None = exc
        else:
            failure = None
        executed = nbformat.read(tmp, as_version=4)
        if failure is not None:
            error = _summarise(failure, executed, timeout)
        _commit(tmp, ipynb_path)
    write_atomic(html_path, _render_html(executed, notebook.stem))
    seconds = time.perf_counter() - start

    return RunResult(
        notebook=notebook,
        status="failed" if error else "ok",
        seconds=seconds,
        ipynb=ipynb_path,
        html=html_path,
        error=error,
    )


# --------------------------------------------------------------------------------------
# Running the course
# --------------------------------------------------------------------------------------


def run_course(
    notebooks: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = 600,
    progress: bool = True,
) -> list[RunResult]:
    """Run every notebook with :func:`run_notebook`, then write the overview files.

    All notebooks are run even if some fail. ``parameters`` go to every notebook. Writes
    ``out_dir/index.html`` (a self-contained page with one row per notebook: links to its
    HTML and executed notebook, status, run time and error summary) and
    ``out_dir/results.json`` (the same information), both atomically, and returns the
    results in the order of ``notebooks``. ``progress`` shows a tqdm bar on stderr.
    Two notebooks with the same file name would overwrite each other's outputs, so that
    raises ``ValueError`` before anything runs.
    """
    from tqdm.auto import tqdm

    paths = [Path(nb) for nb in notebooks]
    seen: dict[str, Path] = {}
    for path in paths:
        if path.stem in seen:
            raise ValueError(
                f"notebooks {seen[path.stem]} and {path} would both write {path.stem}.html"
            )
        seen[path.stem] = path
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    results: list[RunResult] = []
    bar = tqdm(paths, desc="notebooks", unit="nb", disable=not progress)
    for path in bar:
        bar.set_postfix_str(path.name)
        results.append(run_notebook(path, out, parameters=parameters, timeout=timeout))
    bar.close()

    generated = datetime.now(timezone.utc).astimezone()
    write_atomic(out / "index.html", _index_html(results, out, generated, parameters))
    write_atomic(
        out / "results.json",
        json.dumps(_results_data(results, generated, parameters), indent=2) + "\n",
    )
    return results


def _results_data(
    results: list[RunResult], generated: datetime, parameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What ``results.json`` holds."""
    return {
        "generated": generated.isoformat(timespec="seconds"),
        "parameters": dict(parameters) if parameters else {},
        "summary": {
            "total": len(results),
            "ok": sum(r.ok for r in results),
            "failed": sum(not r.ok for r in results),
        },
        "notebooks": [r.to_dict() for r in results],
    }


def _href(path: Path, base: Path) -> str:
    """A URL for ``path`` relative to ``base`` (the folder index.html lives in)."""
    try:
        rel = os.path.relpath(path, base)
    except ValueError:  # another drive on Windows
        rel = str(path.resolve())
    return quote(Path(rel).as_posix())


_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 64rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #ddd;
         vertical-align: top; }
th { background: #f5f5f5; }
td.seconds { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.status { font-weight: 600; padding: .1rem .5rem; border-radius: .3rem; }
.status-ok { color: #14532d; background: #dcfce7; }
.status-failed { color: #7f1d1d; background: #fee2e2; }
.error { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem;
         color: #7f1d1d; }
"""


def _index_html(
    results: list[RunResult],
    out_dir: Path,
    generated: datetime,
    parameters: Mapping[str, Any] | None,
) -> str:
    """The self-contained ``index.html`` page (every inserted value is HTML-escaped)."""
    e = html.escape
    n_ok = sum(r.ok for r in results)
    rows = []
    for r in results:
        rows.append(
            "<tr>"
            f'<td><a href="{e(_href(r.html, out_dir))}">{e(r.notebook.name)}</a></td>'
            f'<td><a href="{e(_href(r.ipynb, out_dir))}">{e(r.ipynb.name)}</a></td>'
            f'<td><span class="status status-{e(r.status)}">{e(r.status)}</span></td>'
            f'<td class="seconds">{r.seconds:.1f}</td>'
            f'<td class="error">{e(r.error or "")}</td>'
            "</tr>"
        )
    params = ""
    if parameters:
        params = (
            '<p class="meta">Parameters: <code>'
            + e(json.dumps(dict(parameters), default=str))
            + "</code></p>"
        )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cnnkit course report</title>
<style>{_INDEX_CSS}</style>
</head>
<body>
<h1>cnnkit course report</h1>
<p class="meta">Generated {e(generated.strftime("%Y-%m-%d %H:%M:%S %Z").strip())} &middot;
{n_ok} of {len(results)} notebooks ok</p>
{params}
<table>
<thead><tr><th>Notebook</th><th>Executed notebook</th><th>Status</th><th>Seconds</th>
<th>Error</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
</body>
</html>
"""


# --------------------------------------------------------------------------------------
# Finding the course notebooks
# --------------------------------------------------------------------------------------


def default_notebooks(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The course notebooks ``notebooks/[0-9][0-9]_*.ipynb`` under ``root``, sorted by name.

    Without ``root`` the current directory is used, or, when it has no ``notebooks/``
    folder, the repository that contains the installed ``cnnkit`` package. Raises
    ``FileNotFoundError`` naming the folder searched if no notebook is found.
    """
    if root is not None:
        base = Path(root)
    else:
        base = Path.cwd()
        if not (base / "notebooks").is_dir():
            base = Path(__file__).resolve().parent.parent
    folder = base / "notebooks"
    found = sorted(p for p in folder.glob(NOTEBOOK_PATTERN) if p.is_file())
    if not found:
        raise FileNotFoundError(f"no course notebooks ({NOTEBOOK_PATTERN}) found in {folder}")
    return found
