"""Instructor reports: run course notebooks headless, over parameter grids, and compare them.

The pieces, in the order ``cnnkit report`` uses them:

* :func:`notebook_parameters` reads a notebook's ``parameters`` cell
  (``papermill.inspect_notebook``) and :func:`plan_runs` turns ``NAME=VALUE[,VALUE...]``
  options into runs (:class:`RunSpec`): every name must be a parameter of the notebook,
  every value converts to the type of its default, and several values make a grid
  (Cartesian product) or a zip (values paired). :class:`ParameterError` reports a problem
  before anything runs.
* :func:`run_report` executes the runs (``jobs`` at a time, each in its own process when
  more than one), skipping those whose outputs are complete and up to date, and then
  :func:`write_index` writes ``index.html``, ``results.json`` and ``results.csv``.
  :func:`run_notebook` executes one notebook with papermill; :func:`run_course` is the
  simple form: the same parameters for every notebook.
* Notebooks report results with :func:`record` (from :mod:`cnnkit.metrics`), which the
  report reads back from the executed notebooks.

Outputs of a run, all in the output folder and named by the run id (:func:`make_run_id`, e.g.
``04_mnist__optimizer-adam``): ``RUN.ipynb`` (the executed notebook, errors included),
``RUN.html`` and ``RUN.run.json`` (status, parameters, metrics, wall time, peak memory).

**Completeness.** Every file is written atomically (a temporary file in the same folder,
then ``os.replace``), and a run's files are written in a fixed order: the old
``RUN.run.json`` is deleted before the notebook starts, then ``RUN.ipynb``, then
``RUN.html``, and ``RUN.run.json`` last. A run is complete exactly when its status file
exists, so a run interrupted at any point (even killed) has none and is never mistaken
for a complete one: the index lists only runs with a status file, and the next
``cnnkit report`` runs it again. A complete run is skipped when its status is ``ok``, its
outputs exist and the notebook has not been modified since the run started (failed runs
are always retried; ``force`` redoes everything).

**Memory.** See :class:`_MemoryMonitor`: the peak resident memory of the kernel process
and its children, in MB (2**20 bytes), is recorded for every run and compared with a
budget (:data:`MEMORY_BUDGET_MB` by default, Binder's 2 GB less room for JupyterLab).

This module imports only the standard library at import time (papermill, nbconvert,
psutil, tqdm and matplotlib are imported where they are used), so notebooks can call
``cnnkit.report.record`` without paying for them.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import csv
import glob
import hashlib
import html
import io
import itertools
import json
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from cnnkit.metrics import METRIC_MIME, _jsonable, read_metrics, record

__all__ = [
    "MEMORY_BUDGET_MB",
    "METRIC_MIME",
    "NotebookParameter",
    "ParameterError",
    "RunResult",
    "RunSpec",
    "check_runs",
    "convert_value",
    "default_notebooks",
    "notebook_parameters",
    "parse_parameter_option",
    "plan_runs",
    "read_metrics",
    "record",
    "run_course",
    "is_up_to_date",
    "make_run_id",
    "run_notebook",
    "run_report",
    "split_values",
    "write_atomic",
    "write_index",
]

NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
"""Glob (inside ``notebooks/``) of the course notebooks, e.g. ``01_convolution.ipynb``."""

MEMORY_BUDGET_MB = 1536.0
"""Default memory budget per notebook in MB (2**20 bytes): Binder's 2 GB less headroom."""

STATUS_SUFFIX = ".run.json"
"""Suffix of a run's status file, written last: a run is complete when it exists."""

_STATUS_SCHEMA = 1
_MAX_ERROR_CHARS = 300
_MAX_RUN_ID = 120
_SYNTHETIC = "synthetic"


class ParameterError(ValueError):
    """A parameter option that cannot be used: unknown name, bad value, mismatched ``--zip``.

    Raised by :func:`plan_runs` before anything has run or been written (the command line
    reports it as a usage error, exit status 2).
    """


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """The outcome of executing one notebook (one run).

    ``error`` is a one-line summary for failures, such as
    ``"ZeroDivisionError: division by zero in cell 3"`` (the cell number is the execution
    count shown as ``In [3]`` in the executed notebook), and ``None`` for successes.
    ``parameters`` are those injected, ``metrics`` those the notebook recorded with
    :func:`record`, ``peak_memory_mb`` the kernel's peak resident memory (children
    included; ``None`` if it could not be measured) and ``skipped`` tells that the run was
    complete and up to date, so its earlier outputs were reused.
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
            "peak_memory_mb": _round_mb(self.peak_memory_mb),
            "metrics": self.metrics,
            "ipynb": str(self.ipynb),
            "html": str(self.html),
            "error": self.error,
            "skipped": self.skipped,
        }


def _round_mb(mb: float | None) -> float | None:
    """MB rounded to 0.1 for the reports (``None`` stays ``None``)."""
    return None if mb is None else round(mb, 1)


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


def _remove_leftover_temporaries(target: Path) -> None:
    """Delete temporary files of ``target`` that a killed earlier run left behind."""
    pattern = f".{glob.escape(target.name)}.*.tmp*"
    for leftover in target.parent.glob(pattern):
        with contextlib.suppress(OSError):
            leftover.unlink()


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
# Parameters: the notebook's parameters cell, conversion, grids
# --------------------------------------------------------------------------------------

_NO_DEFAULT: Any = object()  # the default is not a Python literal (e.g. Path("data"))
_TYPES: dict[str, type] = {
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "list": list,
    "tuple": tuple,
    "dict": dict,
}
_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})
_INT = re.compile(r"[+-]?\d[\d_]*")


@dataclass(frozen=True)
class NotebookParameter:
    """One assignment of a notebook's ``parameters`` cell, as papermill infers it.

    ``type`` is the annotation if there is one (``epochs: int = 3``), else the type of the
    default (``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple`` or ``dict``), or
    ``None`` when neither says (values are then read as Python literals, else strings).
    ``default`` is the default as a Python value (absent when it is not a literal) and
    ``default_text`` as written in the cell.
    """

    name: str
    type: type | None
    default_text: str
    help: str = ""
    default: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        """True if the default is a Python literal (so it can be compared with values)."""
        return self.default is not _NO_DEFAULT


def _format_escaped(path: Path) -> str:
    """``path`` as a string that survives papermill's ``str.format`` of notebook paths."""
    return str(path).replace("{", "{{").replace("}", "}}")


def notebook_parameters(notebook: str | os.PathLike[str]) -> dict[str, NotebookParameter]:
    """The parameters of ``notebook``'s cell tagged ``parameters``, by name, in cell order.

    Uses ``papermill.inspect_notebook``; a notebook without such a cell has none (empty
    dict). Raises ``ParameterError`` if the notebook cannot be read.
    """
    import papermill

    notebook = Path(notebook)
    try:
        inferred = papermill.inspect_notebook(_format_escaped(notebook))
    except Exception as exc:  # unreadable JSON, no kernelspec, ...
        raise ParameterError(f"cannot read the parameters of {notebook}: {exc}") from exc
    params: dict[str, NotebookParameter] = {}
    for name, info in inferred.items():
        text = str(info.get("default", "")).strip()
        try:
            default = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            default = _NO_DEFAULT
        annotation = str(info.get("inferred_type_name") or "None").strip()
        kind = _TYPES.get(annotation.split("[")[0].lower())
        if kind is None and default is not _NO_DEFAULT and default is not None:
            kind = type(default) if type(default) in _TYPES.values() else None
        params[name] = NotebookParameter(
            name=name,
            type=kind,
            default_text=text,
            help=str(info.get("help", "") or "").strip(),
            default=default,
        )
    return params


def split_values(text: str) -> list[str]:
    """Split ``V1,V2,...`` at the commas outside brackets and quotes.

    ``"[1,2],[3,4]"`` gives two values and ``'"a,b",c'`` gives ``'"a,b"'`` and ``"c"``;
    values are stripped of surrounding blanks.
    """
    values: list[str] = []
    current: list[str] = []
    depth = 0
    quote_char: str | None = None
    for ch in text:
        if quote_char:
            if ch == quote_char:
                quote_char = None
        elif ch in "\"'":
            quote_char = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    values.append("".join(current).strip())
    return values


def parse_parameter_option(text: str) -> tuple[str, list[str]]:
    """Parse one ``-p NAME=VALUE[,VALUE...]`` option into the name and its value strings.

    Raises ``ValueError`` if there is no ``=`` or the name is not a Python identifier.
    """
    name, sep, values = text.partition("=")
    name = name.strip()
    if not sep:
        raise ValueError(f"expected NAME=VALUE[,VALUE...], got {text!r}")
    if not name.isidentifier():
        raise ValueError(f"not a parameter name: {name!r} (in {text!r})")
    return name, split_values(values)


def _unquote(text: str) -> str:
    """``text`` without one pair of matching surrounding quotes, if it has them."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _type_name(kind: type | None) -> str:
    """The name of a parameter type for messages (``"value"`` when unknown)."""
    return "value" if kind is None else kind.__name__


def convert_value(param: NotebookParameter, text: str, notebook: str = "") -> Any:
    """Convert the command-line ``text`` for ``param`` to the type of its default.

    ``bool`` accepts true/false, 1/0, yes/no, on/off (any case); ``int`` whole numbers
    only; ``float`` anything ``float()`` reads; ``str`` the text (surrounding quotes
    removed); ``list``/``tuple``/``dict`` a Python literal of that type (``[1, 2]``).
    Without a known type, a Python literal if ``text`` is one, else the text. Raises
    ``ParameterError`` naming the parameter (and ``notebook``) for a value that does not
    convert.
    """
    kind = param.type
    raw = text.strip()

    def bad(why: str = "") -> ParameterError:
        where = f" of {notebook}" if notebook else ""
        article = "an" if _type_name(kind)[0] in "aeiou" else "a"
        return ParameterError(
            f"parameter {param.name!r}{where}: {text!r} is not {article} {_type_name(kind)}"
            f"{why} (default: {param.default_text})"
        )

    if kind is bool:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise bad(" (use true/false, yes/no or 1/0)")
    if kind is int:
        if not _INT.fullmatch(raw):
            raise bad()
        return int(raw)
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise bad() from None
    if kind is str:
        return _unquote(text)
    if kind in (list, tuple, dict):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise bad(" (write it as a Python literal, e.g. [1, 2])") from None
        if kind in (list, tuple) and isinstance(value, (list, tuple)):
            return kind(value)
        if kind is dict and isinstance(value, dict):
            return value
        raise bad()
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _value_text(value: Any) -> str:
    """A short, readable text for a parameter or metric value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    return json.dumps(_jsonable(value, "value"), ensure_ascii=False, separators=(",", ":"))


def make_run_id(stem: str, parameters: Mapping[str, Any] | None = None) -> str:
    """The stable, filesystem-safe name of a run: ``stem__name-value__...``.

    Parameters are sorted by name; characters other than letters, digits and ``._+-``
    become ``_``, and then (or when the name would be long) a short hash of the exact
    parameters is appended, so different parameters never share a name.
    ``make_run_id("04_mnist", {"optimizer": "adam", "lr": 0.01})`` is
    ``"04_mnist__lr-0.01__optimizer-adam"``.
    """
    if not parameters:
        return stem
    parts = [stem]
    lossy = False
    for name in sorted(parameters):
        text = _value_text(parameters[name])
        safe = re.sub(r"[^A-Za-z0-9._+-]", "_", text)
        lossy = lossy or safe != text or not text
        parts.append(f"{name}-{safe}")
    rid = "__".join(parts)
    if lossy or len(rid) > _MAX_RUN_ID:
        canonical = json.dumps(
            {k: _jsonable(v, k) for k, v in parameters.items()}, sort_keys=True, default=str
        )
        digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:8]
        rid = f"{rid[:_MAX_RUN_ID - 9]}~{digest}"
    return rid


@dataclass(frozen=True)
class RunSpec:
    """One planned run: a notebook and the parameters injected into it.

    ``run_id`` names its outputs (from the parameters that differ from the notebook's
    defaults, so giving a default explicitly names the same run as not giving it);
    ``effective`` are all parameter values the run uses (defaults included, as far as
    they are literals), which the comparison figures group by.
    """

    notebook: Path
    parameters: Mapping[str, Any]
    run_id: str
    effective: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """``name=value, ...`` for the injected parameters, or ``"defaults"``."""
        return _describe(self.parameters)


def _describe(parameters: Mapping[str, Any]) -> str:
    """``name=value, ...``, or ``"defaults"`` when there are no parameters."""
    shown = [f"{k}={_value_text(v)}" for k, v in parameters.items()]
    return ", ".join(shown) if shown else "defaults"


def _differs(param: NotebookParameter | None, value: Any) -> bool:
    """True unless ``value`` is exactly the (literal) default of ``param``."""
    if param is None or not param.has_default:
        return True
    return not (type(value) is type(param.default) and value == param.default)


def plan_runs(
    notebooks: Iterable[str | os.PathLike[str]],
    parameters: Mapping[str, Sequence[str]] | Sequence[tuple[str, Sequence[str]]] = (),
    mode: Literal["grid", "zip"] = "grid",
) -> list[RunSpec]:
    """Validate parameter options against each notebook and list the runs, in order.

    ``parameters`` maps names to value strings as given on the command line (see
    :func:`parse_parameter_option`). Each name must be a parameter of every notebook
    (``ParameterError`` otherwise, listing the notebook's parameters) and each value must
    convert to the type of its default (:func:`convert_value`). With several values,
    ``mode="grid"`` runs every combination (names in the order given) and ``"zip"`` pairs
    the i-th values (a name with a single value goes with all of them; other lengths must
    match). Two runs that would write the same files are an error. Nothing is executed.
    """
    items = list(parameters.items()) if isinstance(parameters, Mapping) else list(parameters)
    names: list[str] = []
    for name, values in items:
        if name in names:
            raise ParameterError(
                f"parameter {name!r} is given twice; give several values as {name}=V1,V2"
            )
        if not list(values):
            raise ParameterError(f"parameter {name!r} has no value")
        names.append(name)
    if mode not in ("grid", "zip"):
        raise ValueError(f"mode must be 'grid' or 'zip', not {mode!r}")
    if mode == "zip":
        lengths = {name: len(values) for name, values in items if len(values) > 1}
        if len(set(lengths.values())) > 1:
            counts = ", ".join(f"{n} has {k}" for n, k in lengths.items())
            raise ParameterError(
                f"--zip pairs the values of the parameters, so they need the same number "
                f"of values: {counts}"
            )

    runs: list[RunSpec] = []
    owners: dict[str, Path] = {}
    for nb in notebooks:
        path = Path(nb)
        try:
            params = notebook_parameters(path)
        except ParameterError:
            if items:
                raise
            params = {}  # no options to check; defaults are only informative then
        unknown = [name for name in names if name not in params]
        if unknown:
            valid = ", ".join(params) if params else "(none)"
            what = "parameters" if len(unknown) > 1 else "parameter"
            raise ParameterError(
                f"{path.name} has no {what} {', '.join(map(repr, unknown))}; "
                + (
                    f"its parameters are: {valid}"
                    if params
                    else "it has no cell tagged 'parameters'"
                )
            )
        converted = [
            [convert_value(params[name], text, path.name) for text in values]
            for name, values in items
        ]
        if mode == "grid":
            combos = list(itertools.product(*converted))
        else:
            n = max((len(v) for v in converted), default=1)
            combos = [tuple(v[i] if len(v) > 1 else v[0] for v in converted) for i in range(n)]
        defaults = {n: p.default for n, p in params.items() if p.has_default}
        for combo in combos:
            given = dict(zip(names, combo, strict=True))
            id_params = {k: v for k, v in given.items() if _differs(params.get(k), v)}
            rid = make_run_id(path.stem, id_params)
            if rid in owners:
                other = owners[rid]
                why = (
                    f"{other} and {path} have the same name"
                    if other != path
                    else "the same parameter values are given twice"
                )
                raise ParameterError(f"two runs would both write {rid}.ipynb: {why}")
            owners[rid] = path
            runs.append(
                RunSpec(notebook=path, parameters=given, run_id=rid, effective=defaults | given)
            )
    return runs


# --------------------------------------------------------------------------------------
# Peak memory of the kernel
# --------------------------------------------------------------------------------------


def _high_water_mark(proc: Any) -> int | None:
    """The peak resident set of ``proc`` (a psutil.Process) in bytes, where the OS keeps it.

    Linux: ``VmHWM`` of ``/proc/PID/status``; Windows: the peak working set; elsewhere
    ``None`` (then only the polled values count).
    """
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{proc.pid}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None
    if sys.platform == "win32":
        return getattr(proc.memory_info(), "peak_wset", None)
    return None


class _MemoryMonitor:
    """Peak resident memory (RSS) of a kernel process together with its child processes.

    How it measures, and why this way: the kernel is started by a ``KernelManager``
    subclass (given to nbclient as ``kernel_manager_class`` through papermill's engine
    keyword arguments) that hands the kernel's process id to this monitor; a daemon thread then
    samples, every ``interval`` seconds, the RSS of the kernel and all its descendants
    (psutil) and keeps the largest sum, and nbclient's ``on_cell_executed`` hook takes one
    more sample after every cell. On Linux (and Windows) the kernel's own high-water mark
    (``VmHWM``, kept by the OS) is read at each sample too, so a short spike in the kernel
    itself, freed before the next poll, still counts exactly. The result is
    ``max(largest polled sum over the process tree, largest single-process peak)``: exact
    for a kernel working alone, and within one polling interval for work in child
    processes (DataLoader workers).

    The alternative, a final cell reading ``resource.getrusage`` inside the kernel, is
    exact too but adds a cell that would have to be removed from the saved notebook,
    never runs when a cell fails or times out (the runs where memory matters most), gives
    only the largest single child rather than the tree (and counts a short subprocess
    forked from a big kernel at the kernel's size: lesson 1 shows 464 MB of "children" that
    way, for a kernel peaking at 673 MB), and does not exist on Windows.

    Children count with their *unique* memory (USS: pages no other process maps), not their
    RSS: a child forked from the kernel shares all of the kernel's pages until it execs or
    writes, and counting its RSS would count the kernel twice. (``import torch`` runs
    ``ldconfig -p`` in a subprocess while the kernel holds ~460 MB: summing RSS reported ~900 MB
    for lesson 1 whenever a sample fell in that instant.) Forked DataLoader workers count with
    what they allocate themselves, which is what they add. Without psutil nothing is measured
    (``None``).
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self.measured = False
        self._root: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, pid: int) -> None:
        """Start watching the process ``pid`` (the kernel) and its descendants."""
        try:
            import psutil

            self._root = psutil.Process(pid)
        except Exception:  # psutil missing, or the kernel already gone
            return
        self.sample()
        self._thread = threading.Thread(target=self._poll, name="cnnkit-memory", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        """The sampling thread: one sample every ``interval`` seconds until stopped."""
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self, **_hook_arguments: Any) -> None:
        """Take one sample now (also usable as an nbclient cell hook)."""
        root = self._root
        if root is None:
            return
        import psutil

        with self._lock:
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:  # the kernel has exited
                return
            total = 0
            peak = self.peak_bytes
            for proc in procs:
                try:
                    if proc is root:
                        total += proc.memory_info().rss
                        hwm = _high_water_mark(proc)
                        if hwm:
                            peak = max(peak, hwm)
                    else:
                        total += _unique_bytes(proc)
                except psutil.Error:
                    continue
            self.peak_bytes = max(peak, total)
            self.measured = True

    def stop(self) -> float | None:
        """Stop sampling; the peak in MB (2**20 bytes), or ``None`` if never measured."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.peak_bytes / 2**20 if self.measured else None


def _unique_bytes(proc: Any) -> int:
    """Memory only this process maps (USS); RSS minus shared file pages if USS is unreadable."""
    import psutil

    try:
        return int(proc.memory_full_info().uss)
    except (psutil.AccessDenied, AttributeError, NotImplementedError):
        info = proc.memory_info()
        return int(info.rss - getattr(info, "shared", 0))


def _monitored_kernel_manager(monitor: _MemoryMonitor) -> type:
    """An ``AsyncKernelManager`` subclass (nbclient's default) that reports its kernel's pid."""
    from jupyter_client import AsyncKernelManager

    class MonitoredKernelManager(AsyncKernelManager):
        """Starts the kernel as usual, then lets ``monitor`` watch its process."""

        async def start_kernel(self, **kw: Any) -> None:
            await super().start_kernel(**kw)
            provisioner = self.provisioner
            pid = getattr(provisioner, "pid", None) or getattr(
                getattr(provisioner, "process", None), "pid", None
            )
            if pid:
                monitor.attach(int(pid))

    return MonitoredKernelManager


# --------------------------------------------------------------------------------------
# Running one notebook
# --------------------------------------------------------------------------------------


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


def _render_html(nb: Any, title: str, include_input: bool = True) -> str:
    """Render a notebook node to a standalone HTML page with nbconvert.

    Without ``include_input`` the code cells' inputs and the In/Out prompts are left out
    (``TemplateExporter.exclude_input`` and friends); markdown and outputs stay.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        exclude_input=not include_input,
        exclude_input_prompt=not include_input,
        exclude_output_prompt=not include_input,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def _run_paths(out: Path, rid: str) -> tuple[Path, Path, Path]:
    """The executed notebook, HTML page and status file of run ``rid`` in ``out``."""
    return out / f"{rid}.ipynb", out / f"{rid}.html", out / f"{rid}{STATUS_SUFFIX}"


def _now() -> str:
    """The local time now, ISO 8601 to the second, with its UTC offset."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def _write_status(path: Path, data: Mapping[str, Any]) -> None:
    """Write a run's status file atomically (as JSON)."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


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

    ``RUN`` is ``run_id`` (default: :func:`make_run_id` of the notebook's stem and
    ``parameters``). The notebook runs with its own folder as working directory (so
    relative paths inside it work), ``parameters`` injected after the cell tagged
    ``parameters`` (papermill style) and ``timeout`` seconds allowed per cell (``None`` or
    0: no limit; a cell that runs too long is interrupted and counts as a failure).
    ``include_input=False`` leaves the code out of the HTML. ``out_dir`` is created if
    needed.

    The status file (status, error, parameters, metrics recorded with :func:`record`,
    wall time, peak memory of the kernel and its children) is deleted first and written
    last, each file atomically, so the run counts as complete only once everything is in
    place. A notebook that raises does not raise here: the executed notebook (with the
    error output and papermill's error markers), its HTML and status are still written,
    and the result has status ``"failed"`` and a one-line ``error`` summary. Errors that
    are not the notebook's fault (missing notebook, unknown kernel, ...) propagate.
    """
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook not found: {notebook}")
    rid = run_id or make_run_id(notebook.stem, parameters)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ipynb_path, html_path, status_path = _run_paths(out, rid)
    if ipynb_path.exists() and ipynb_path.samefile(notebook):
        raise ValueError(
            f"refusing to overwrite the input notebook {notebook}: choose another out_dir"
        )
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be positive (or None for no limit), not {timeout}")

    # From here on the run is incomplete until its status file is written again.
    status_path.unlink(missing_ok=True)
    for target in (ipynb_path, html_path, status_path):
        _remove_leftover_temporaries(target)
    source_mtime_ns = notebook.stat().st_mtime_ns
    started = _now()

    monitor = _MemoryMonitor()
    engine_kwargs: dict[str, Any] = {
        "kernel_manager_class": _monitored_kernel_manager(monitor),
        "on_cell_executed": monitor.sample,
    }
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
        finally:
            peak_mb = monitor.stop()
        executed = nbformat.read(tmp, as_version=4)
        if failure is not None:
            error = _summarise(failure, executed, timeout)
        _commit(tmp, ipynb_path)
    write_atomic(html_path, _render_html(executed, rid, include_input))
    seconds = time.perf_counter() - start

    result = RunResult(
        notebook=notebook,
        status="failed" if error else "ok",
        seconds=seconds,
        ipynb=ipynb_path,
        html=html_path,
        error=error,
        run_id=rid,
        parameters=dict(parameters or {}),
        metrics=read_metrics(executed),
        peak_memory_mb=peak_mb,
    )
    effective = dict(effective_parameters or {}) | dict(parameters or {})
    _write_status(
        status_path,
        _status_data(result, effective, source_mtime_ns, started, include_input),
    )
    return result


def _status_data(
    result: RunResult,
    effective: Mapping[str, Any],
    source_mtime_ns: int | None,
    started: str,
    include_input: bool,
) -> dict[str, Any]:
    """What ``RUN.run.json`` holds (paths of the outputs relative to its folder)."""
    folder = result.ipynb.parent
    return {
        "schema": _STATUS_SCHEMA,
        "run_id": result.run_id,
        "notebook": str(result.notebook.resolve()),
        "notebook_name": result.notebook.name,
        "source_mtime_ns": source_mtime_ns,
        "parameters": _jsonable(result.parameters, "parameters"),
        "effective_parameters": _jsonable(dict(effective), "parameters"),
        "status": result.status,
        "error": result.error,
        "started": started,
        "finished": _now(),
        "seconds": round(result.seconds, 3),
        "peak_memory_mb": _round_mb(result.peak_memory_mb),
        "metrics": result.metrics,
        "ipynb": result.ipynb.name if (folder / result.ipynb.name).is_file() else None,
        "html": result.html.name if (folder / result.html.name).is_file() else None,
        "html_input": include_input,
    }


# --------------------------------------------------------------------------------------
# Running many: skip what is complete, bounded parallelism, then the index
# --------------------------------------------------------------------------------------


def _read_status(path: Path) -> dict[str, Any] | None:
    """The content of a status file, or ``None`` if it is missing or not one of ours."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("schema") != _STATUS_SCHEMA:
        return None
    if data.get("status") not in ("ok", "failed") or not isinstance(data.get("run_id"), str):
        return None
    return data


def _up_to_date(spec: RunSpec, out: Path) -> dict[str, Any] | None:
    """The status of ``spec``'s earlier run if it can be reused, else ``None``.

    Reusable: the status file exists (so every output was written completely), says
    ``ok``, belongs to this notebook and run, its outputs exist, and the notebook has not
    been modified since that run started.
    """
    ipynb, html_path, status_path = _run_paths(out, spec.run_id)
    data = _read_status(status_path)
    if data is None or data["status"] != "ok" or data["run_id"] != spec.run_id:
        return None
    if data.get("notebook") != str(spec.notebook.resolve()):
        return None
    if data.get("ipynb") != ipynb.name or data.get("html") != html_path.name:
        return None
    if not (ipynb.is_file() and html_path.is_file()):
        return None
    try:
        if spec.notebook.stat().st_mtime_ns > int(data.get("source_mtime_ns") or -1):
            return None
    except OSError:
        return None
    return data


def is_up_to_date(spec: RunSpec, out_dir: str | os.PathLike[str]) -> bool:
    """True if ``spec`` has complete, ok outputs in ``out_dir`` newer than its notebook."""
    return _up_to_date(spec, Path(out_dir)) is not None


def _reuse(spec: RunSpec, out: Path, data: dict[str, Any], include_input: bool) -> RunResult:
    """The result of a skipped run, re-rendering its HTML if ``include_input`` changed."""
    ipynb, html_path, status_path = _run_paths(out, spec.run_id)
    if bool(data.get("html_input", True)) != include_input:
        import nbformat

        executed = nbformat.read(ipynb, as_version=4)
        write_atomic(html_path, _render_html(executed, spec.run_id, include_input))
        data = dict(data, html_input=include_input)
        _write_status(status_path, data)
    return RunResult(
        notebook=spec.notebook,
        status="ok",
        seconds=float(data.get("seconds") or 0.0),
        ipynb=ipynb,
        html=html_path,
        run_id=spec.run_id,
        parameters=dict(spec.parameters),
        metrics=dict(data.get("metrics") or {}),
        peak_memory_mb=data.get("peak_memory_mb"),
        skipped=True,
    )


def _execute(
    spec: RunSpec, out: Path, timeout: float | None, include_input: bool, kernel_name: str
) -> RunResult:
    """Run ``spec``; a failure that is not the notebook's own is a failed result too.

    This is what each worker process runs. Such failures (unknown kernel, unreadable
    notebook, ...) get a status file without outputs, so the index shows them.
    """
    start = time.perf_counter()
    started = _now()
    try:
        return run_notebook(
            spec.notebook,
            out,
            spec.parameters,
            timeout=timeout,
            kernel_name=kernel_name,
            run_id=spec.run_id,
            include_input=include_input,
            effective_parameters=spec.effective,
        )
    except Exception as exc:
        return _record_crash(spec, out, exc, time.perf_counter() - start, started, include_input)


def _record_crash(
    spec: RunSpec,
    out: Path,
    exc: BaseException,
    seconds: float,
    started: str,
    include_input: bool,
) -> RunResult:
    """A failed result for a run that could not run, with its status file written."""
    ipynb, html_path, status_path = _run_paths(out, spec.run_id)
    message = _one_line(str(exc))
    result = RunResult(
        notebook=spec.notebook,
        status="failed",
        seconds=seconds,
        ipynb=ipynb,
        html=html_path,
        error=f"{type(exc).__name__}: {message}" if message else type(exc).__name__,
        run_id=spec.run_id,
        parameters=dict(spec.parameters),
    )
    try:
        mtime: int | None = spec.notebook.stat().st_mtime_ns
    except OSError:
        mtime = None
    with contextlib.suppress(OSError):
        out.mkdir(parents=True, exist_ok=True)
        _write_status(
            status_path,
            _status_data(
                result, dict(spec.effective) | dict(spec.parameters), mtime, started, include_input
            ),
        )
    return result


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


def run_report(
    runs: Sequence[RunSpec],
    out_dir: str | os.PathLike[str],
    *,
    timeout: float | None = 600,
    jobs: int = 1,
    include_input: bool = True,
    force: bool = False,
    memory_budget_mb: float = MEMORY_BUDGET_MB,
    progress: bool = True,
    kernel_name: str = "python3",
) -> list[RunResult]:
    """Execute ``runs`` (from :func:`plan_runs`) into ``out_dir``, then write the index.

    Runs that are complete and up to date (see :func:`is_up_to_date`) are skipped unless
    ``force``; the others run ``jobs`` at a time (``jobs > 1``: each in a worker process
    of its own, started with ``spawn``). Every run is attempted even if some fail. A tqdm
    bar on stderr shows progress across runs (``progress=False``: none). Finally
    :func:`write_index` writes ``index.html``, ``results.json`` and ``results.csv`` for
    every run recorded in ``out_dir``. Returns the results in the order of ``runs``.
    Raises ``ValueError`` before anything runs if two runs would write the same files or
    one would overwrite its input notebook.
    """
    from tqdm.auto import tqdm

    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    out = Path(out_dir)
    runs = list(runs)
    check_runs(runs, out)
    out.mkdir(parents=True, exist_ok=True)

    results: list[RunResult | None] = [None] * len(runs)
    todo: list[int] = []
    for i, spec in enumerate(runs):
        data = None if force else _up_to_date(spec, out)
        if data is not None:
            results[i] = _reuse(spec, out, data, include_input)
        else:
            todo.append(i)

    bar = tqdm(
        total=len(runs), initial=len(runs) - len(todo), desc="runs", unit="run",
        disable=not progress,
    )
    try:
        if jobs == 1 or len(todo) <= 1:
            for i in todo:
                bar.set_postfix_str(runs[i].run_id)
                results[i] = _execute(runs[i], out, timeout, include_input, kernel_name)
                bar.update()
        else:
            _execute_in_pool(runs, todo, results, out, timeout, include_input, kernel_name,
                             jobs, bar)
    finally:
        bar.close()

    write_index(out, memory_budget_mb=memory_budget_mb)
    return [r for r in results if r is not None]


def _execute_in_pool(
    runs: Sequence[RunSpec],
    todo: Sequence[int],
    results: list[RunResult | None],
    out: Path,
    timeout: float | None,
    include_input: bool,
    kernel_name: str,
    jobs: int,
    bar: Any,
) -> None:
    """Run ``todo`` in up to ``jobs`` worker processes, filling ``results`` as they finish.

    Processes, not threads: papermill changes the working directory of its process while
    a notebook runs, and each worker's kernel is then the only child the memory monitor
    sees. A worker that dies takes its run down as failed, not the others.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context) as pool:
        futures = {
            pool.submit(_execute, runs[i], out, timeout, include_input, kernel_name): i
            for i in todo
        }
        started = {i: time.perf_counter() for i in todo}
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as exc:  # the worker process died (BrokenProcessPool, ...)
                    results[i] = _record_crash(
                        runs[i], out, exc, time.perf_counter() - started[i], _now(),
                        include_input,
                    )
                bar.set_postfix_str(runs[i].run_id)
                bar.update()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def run_course(
    notebooks: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = 600,
    progress: bool = True,
    **options: Any,
) -> list[RunResult]:
    """Run every notebook once with the same ``parameters`` (Python values), via :func:`run_report`.

    Unlike :func:`plan_runs` the parameters are not checked against the notebooks: they
    are injected papermill style into every notebook (at the top of one without a
    ``parameters`` cell). Each run is named :func:`make_run_id` of the notebook's stem and the
    parameters. ``options`` go to :func:`run_report` (``jobs``, ``force``, ...). Two
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


# --------------------------------------------------------------------------------------
# The index: index.html, results.json, results.csv
# --------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    """True for finite ints and floats (not bools): what the figures can plot."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value)


def _is_synthetic(value: Any) -> bool:
    """True if a ``data_source`` value says the data were a synthetic stand-in."""
    return value is not None and _SYNTHETIC in str(value).lower()


def _existing_output(out: Path, name: Any) -> str | None:
    """``name`` if it is a plain file name of an existing file in ``out``, else ``None``."""
    if not isinstance(name, str) or not name or Path(name).name != name:
        return None
    return name if (out / name).is_file() else None


def _collect(out: Path, memory_budget_mb: float) -> list[dict[str, Any]]:
    """One row per complete run recorded in ``out`` (its status file exists), sorted.

    Rows are sorted by notebook file name, the run with default parameters first, then
    by run id. ``stale`` marks runs whose notebook has changed (or gone) since.
    """
    rows = []
    for path in out.glob(f"*{glob.escape(STATUS_SUFFIX)}"):
        data = _read_status(path)
        if data is None or path.name != f"{data['run_id']}{STATUS_SUFFIX}":
            continue
        notebook = Path(str(data.get("notebook", "")))
        try:
            stale = notebook.stat().st_mtime_ns > int(data.get("source_mtime_ns") or -1)
        except (OSError, ValueError):
            stale = True
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        peak = data.get("peak_memory_mb")
        source = metrics.get("data_source")
        rows.append(
            {
                "run_id": data["run_id"],
                "notebook": str(notebook),
                "notebook_name": data.get("notebook_name") or notebook.name,
                "parameters": data.get("parameters") or {},
                "effective_parameters": data.get("effective_parameters") or {},
                "status": data["status"],
                "stale": stale,
                "error": data.get("error"),
                "seconds": data.get("seconds"),
                "peak_memory_mb": peak,
                "over_budget": (peak > memory_budget_mb) if _is_number(peak) else None,
                "data_source": source,
                "synthetic_data": _is_synthetic(source),
                "metrics": metrics,
                "started": data.get("started"),
                "finished": data.get("finished"),
                "ipynb": _existing_output(out, data.get("ipynb")),
                "html": _existing_output(out, data.get("html")),
            }
        )
    rows.sort(
        key=lambda r: (
            r["notebook_name"],
            r["run_id"] != Path(r["notebook_name"]).stem,  # defaults first
            r["run_id"],
        )
    )
    return rows


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
    rows = _collect(out, memory_budget_mb)
    generated = datetime.now(timezone.utc).astimezone()
    summary = {
        "total": len(rows),
        "ok": sum(r["status"] == "ok" for r in rows),
        "failed": sum(r["status"] == "failed" for r in rows),
        "over_budget": sum(bool(r["over_budget"]) for r in rows),
        "synthetic_data": sum(r["synthetic_data"] for r in rows),
        "stale": sum(r["stale"] for r in rows),
    }
    data = {
        "generated": generated.isoformat(timespec="seconds"),
        "memory_budget_mb": memory_budget_mb,
        "summary": summary,
        "runs": rows,
    }
    write_atomic(out / "results.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    write_atomic(out / "results.csv", _results_csv(rows))
    figures = _comparison_figures(rows)
    index = out / "index.html"
    write_atomic(index, _index_html(rows, summary, figures, generated, memory_budget_mb))
    return index


_CSV_FIXED = [
    "run_id", "notebook", "status", "stale", "error", "seconds", "peak_memory_mb",
    "over_budget", "data_source", "synthetic_data",
]


def _csv_cell(value: Any) -> str:
    """A CSV cell: empty for ``None``, true/false, JSON for lists and dicts."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _results_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """The table as CSV: fixed columns, ``param.NAME`` and ``metric.NAME``, then the files."""
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


def _comparison_figures(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(caption, base64 PNG) per notebook and numeric metric with at least two ok runs."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r["status"] == "ok" and not r["stale"]:
            groups.setdefault(r["notebook"], []).append(r)
    figures = []
    for group in groups.values():
        names = dict.fromkeys(
            k for r in group for k, v in r["metrics"].items() if _is_number(v)
        )
        for metric in names:
            runs = [r for r in group if _is_number(r["metrics"].get(metric))]
            if len(runs) >= 2:
                figures.append(_bar_chart(metric, runs))
    return figures


def _ordered(values: Iterable[Any]) -> list[Any]:
    """Distinct values (by JSON), sorted if all are numbers, else in order of appearance."""
    distinct = {json.dumps(v, sort_keys=True, default=str): v for v in values}
    items = list(distinct.values())
    if all(_is_number(v) for v in items):
        items.sort()
    return items


def _bar_chart(metric: str, runs: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """A grouped bar chart of ``metric`` over the parameters that vary between ``runs``.

    The first varying parameter is the x axis; combinations of the others are the bar
    groups (legend). Without varying parameters, one bar per run.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def key(v: Any) -> str:
        return json.dumps(v, sort_keys=True, default=str)

    names = list(dict.fromkeys(k for r in runs for k in r["effective_parameters"]))
    varying = [
        n for n in names
        if len({key(r["effective_parameters"].get(n)) for r in runs}) > 1
    ]
    stem = Path(runs[0]["notebook_name"]).stem
    if varying:
        x_name = varying[0]
        xs = _ordered(r["effective_parameters"].get(x_name) for r in runs)
        series = _ordered(
            [r["effective_parameters"].get(n) for n in varying[1:]] for r in runs
        )
        values = {
            (key(r["effective_parameters"].get(x_name)),
             key([r["effective_parameters"].get(n) for n in varying[1:]])):
            float(r["metrics"][metric])
            for r in runs
        }
        labels = [_value_text(x) for x in xs]
        caption = f"{metric} by {', '.join(varying)} ({stem})"
    else:
        x_name = "run"
        xs = [r["run_id"] for r in runs]
        series = [[]]
        values = {(key(r["run_id"]), key([])): float(r["metrics"][metric]) for r in runs}
        labels = xs
        caption = f"{metric} by run ({stem})"

    fig = Figure(figsize=(6.4, 3.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(len(series), 1)
    for j, combo in enumerate(series):
        heights = [values.get((key(x), key(combo)), math.nan) for x in xs]
        positions = [i - 0.4 + width * (j + 0.5) for i in range(len(xs))]
        label = ", ".join(f"{n}={_value_text(v)}" for n, v in zip(varying[1:], combo,
                                                                  strict=False))
        bars = ax.bar(positions, heights, width, label=label or None)
        ax.bar_label(
            bars, labels=[f"{h:.3g}" if math.isfinite(h) else "" for h in heights],
            fontsize=8, padding=2,
        )
    ax.set_xticks(range(len(xs)), labels, rotation=0 if len(xs) <= 6 else 30)
    ax.set_xlabel(x_name)
    ax.set_ylabel(metric)
    ax.set_title(caption, fontsize=10)
    ax.margins(y=0.15)
    if len(series) > 1:
        ax.legend(
            title=", ".join(varying[1:]), fontsize="small", title_fontsize="small",
            loc="upper left", bbox_to_anchor=(1.01, 1.0),
        )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return caption, base64.b64encode(buf.getvalue()).decode("ascii")


_INDEX_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 80rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
.meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin-top: 1rem; }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid #ddd;
         vertical-align: top; }
th { background: #f5f5f5; }
td.seconds, td.memory { text-align: right; font-variant-numeric: tabular-nums;
                        white-space: nowrap; }
td.params, td.metrics { font-size: .9rem; }
.status { font-weight: 600; padding: .1rem .5rem; border-radius: .3rem; }
.status-ok { color: #14532d; background: #dcfce7; }
.status-failed { color: #7f1d1d; background: #fee2e2; }
.flag { font-size: .8rem; font-weight: 600; padding: .05rem .4rem; border-radius: .3rem;
        color: #713f12; background: #fef3c7; white-space: nowrap; }
td.over-budget { color: #7f1d1d; font-weight: 600; }
.error { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem;
         color: #7f1d1d; }
figure { display: inline-block; margin: 0 1rem 1rem 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .85rem; }
"""


def _metric_text(value: Any) -> str:
    """A metric value for the index table (floats to 4 significant digits)."""
    if _is_number(value) and isinstance(value, float):
        return f"{value:.4g}"
    return _value_text(value)


def _index_html(
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, int],
    figures: Sequence[tuple[str, str]],
    generated: datetime,
    memory_budget_mb: float,
) -> str:
    """The self-contained ``index.html`` page (every inserted value is HTML-escaped)."""
    e = html.escape
    body = []
    for r in rows:
        name = e(r["notebook_name"])
        first = f'<a href="{e(quote(r["html"]))}">{name}</a>' if r["html"] else name
        second = (
            f'<a href="{e(quote(r["ipynb"]))}">{e(r["ipynb"])}</a>' if r["ipynb"] else ""
        )
        params = _describe(r["parameters"])
        status = f'<span class="status status-{e(r["status"])}">{e(r["status"])}</span>'
        if r["stale"]:
            status += ' <span class="flag" title="the notebook changed since">outdated</span>'
        metrics = "<br>".join(
            f"{e(k)}: {e(_metric_text(v))}" for k, v in r["metrics"].items()
            if k != "data_source"
        )
        source = "" if r["data_source"] is None else e(_value_text(r["data_source"]))
        if r["synthetic_data"]:
            source += ' <span class="flag">synthetic</span>'
        seconds = f"{r['seconds']:.1f}" if _is_number(r["seconds"]) else ""
        peak = r["peak_memory_mb"]
        if _is_number(peak):
            memory_cls = "memory over-budget" if r["over_budget"] else "memory"
            memory = f"{peak:.0f}" + (" over budget" if r["over_budget"] else "")
        else:
            memory_cls, memory = "memory", "n/a"
        body.append(
            "<tr>"
            f"<td>{first}</td><td>{second}</td>"
            f'<td class="params">{e(params)}</td>'
            f"<td>{status}</td>"
            f'<td class="metrics">{metrics}</td>'
            f"<td>{source}</td>"
            f'<td class="seconds">{seconds}</td>'
            f'<td class="{memory_cls}">{memory}</td>'
            f'<td class="error">{e(r["error"] or "")}</td>'
            "</tr>"
        )
    notes = [f"{summary['ok']} of {summary['total']} runs ok"]
    if summary["over_budget"]:
        notes.append(f"{summary['over_budget']} over the memory budget")
    if summary["synthetic_data"]:
        notes.append(f"{summary['synthetic_data']} on synthetic stand-in data")
    if summary["stale"]:
        notes.append(f"{summary['stale']} outdated")
    figure_html = "".join(
        f'<figure><img alt="{e(caption)}" src="data:image/png;base64,{png}">'
        f"<figcaption>{e(caption)}</figcaption></figure>\n"
        for caption, png in figures
    )
    comparisons = f"<h2>Comparisons</h2>\n{figure_html}" if figures else ""
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
{e(" · ".join(notes))} &middot; memory budget {memory_budget_mb:g} MB per notebook</p>
<table>
<thead><tr><th>Notebook</th><th>Executed notebook</th><th>Parameters</th><th>Status</th>
<th>Metrics</th><th>Data</th><th>Seconds</th><th>Peak MB</th><th>Error</th></tr></thead>
<tbody>
{chr(10).join(body)}
</tbody>
</table>
{comparisons}</body>
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
