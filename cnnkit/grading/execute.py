"""Run one notebook for grading: the submission with the original locked cells, executed cell by
cell (errors do not stop it, a cell over the time limit is interrupted), in a sandbox.

``assemble(source, submitted)`` rebuilds what is run: every locked cell (instructions, test
cells with their hidden tests) is the source's, answer cells are the student's, a deleted cell
is put back after the cell it followed (a deleted answer becomes the stub), the student's own
extra cells stay but lose any nbgrader metadata (they cannot claim to be tests).
``run(nb, folder, ...)`` executes it and returns a ``Run``: each test cell's hand-in payloads
and error, and the executed notebook. The notebook file itself is never written into the
sandbox: the kernel receives each cell only when it runs.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from cnnkit.grading import sandbox as sandboxing
from cnnkit.grading.feedback import HIDDEN
from cnnkit.grading.probe import MIME

__all__ = ["STUB", "nbgrader_meta", "assemble", "clean_room", "Run", "run"]

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _fresh(cell, source: str | None = None):
    new = copy.deepcopy(cell)
    if source is not None:
        new.source = source
    if new.cell_type == "code":
        new.outputs, new.execution_count = [], None
    return new


def assemble(source: nbformat.NotebookNode, submitted: nbformat.NotebookNode
             ) -> nbformat.NotebookNode:
    """The notebook to grade (see the module docstring); outputs cleared."""
    originals = {nbgrader_meta(c).get("grade_id"): c for c in source.cells}
    originals.pop(None, None)
    cells, placed = [], {}
    for cell in submitted.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid in originals and gid not in placed:
            original = originals[gid]
            mine = nbgrader_meta(original).get("solution") and cell.cell_type == original.cell_type
            cells.append(_fresh(original, cell.source if mine else None))
            placed[gid] = len(cells) - 1
        else:
            own = _fresh(cell)
            own.metadata.pop("nbgrader", None)
            cells.append(own)
    previous = None
    for original in source.cells:
        gid = nbgrader_meta(original)["grade_id"]
        if gid not in placed:
            stub = STUB if nbgrader_meta(original).get("solution") else None
            at = 0 if previous is None else placed[previous] + 1
            cells.insert(at, _fresh(original, stub))
            placed = {g: i + (i >= at) for g, i in placed.items()}
            placed[gid] = at
        previous = gid
    nb = copy.deepcopy(source)
    nb.cells = cells
    return nb


def clean_room(nb: nbformat.NotebookNode, parts: set[str]) -> nbformat.NotebookNode:
    """``nb`` (from ``assemble``) for a run with forbidden packages hidden: the test cells of
    ``parts`` keep only their hidden tests (the visible self-checks use ``cnnkit.checks``,
    hidden there), every other test cell is emptied; the student's cells and the lesson's
    other cells stay as they are (what fails without the hidden packages just fails)."""
    room = copy.deepcopy(nb)
    for cell in room.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        hidden = HIDDEN.findall(cell.source) if meta.get("grade_id") in parts else []
        cell.source = "".join(hidden) or "# (not run in this pass)"
    return room


@dataclass
class Run:
    """What one execution produced.

    payloads: ``{test grade_id: [payload, ...]}`` (one expected; more is tampering).
    errors: ``{test grade_id: "Name: message"}`` for test cells that ended in an error.
    failed: why the whole notebook could not run (dead kernel...), or "".
    notebook: the executed notebook (hidden tests included: never hand it out as is).
    """

    notebook: nbformat.NotebookNode
    payloads: dict[str, list[dict]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    failed: str = ""


def _collect(nb: nbformat.NotebookNode, tests: set[str]) -> tuple[dict, dict]:
    payloads: dict[str, list[dict]] = {}
    errors: dict[str, str] = {}
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if gid not in tests or cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {}) if output.get("output_type") in (
                "display_data", "execute_result") else {}
            if MIME in data and isinstance(data[MIME], dict):
                payloads.setdefault(gid, []).append(data[MIME])
            if output.get("output_type") == "error":
                errors[gid] = f"{output.get('ename')}: {output.get('evalue')}"[:300]
    return payloads, errors


def run(nb: nbformat.NotebookNode, folder: Path, *, timeout: int, seed: str, sandbox: bool,
        limits: sandboxing.Limits | None = None, hide: tuple[str, ...] = ()) -> Run:
    """Execute ``nb`` with ``folder`` (created, emptied) as its working directory; returns a
    ``Run``. ``hide``: packages the sandbox makes unimportable (the clean-room run of parts
    that forbid them; needs ``sandbox``). Never raises for what the notebook does; raises
    ``SandboxError`` if the sandbox cannot be set up."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    ipc = Path(tempfile.mkdtemp(prefix="cnnkit-ipc-"))  # short: socket paths have a limit
    stubs = sandboxing.write_hiding_stubs(hide, Path(tempfile.mkdtemp(prefix="cnnkit-hide-"))
                                          ) if hide else None
    uid = sandboxing.new_uid() if sandbox and os.geteuid() == 0 else None
    if uid is not None:
        for path in (folder, ipc):
            os.chown(path, uid, sandboxing.UNPRIVILEGED[1])
    executed = copy.deepcopy(nb)
    tests = {nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("grade")}
    km = sandboxing.kernel_manager(folder, ipc, seed, sandbox=sandbox, limits=limits, uid=uid,
                                   hide=hide, stubs=stubs)
    client = NotebookClient(executed, km=km, timeout=timeout, interrupt_on_timeout=True,
                            allow_errors=True, record_timing=False,
                            extra_arguments=["--HistoryManager.hist_file=:memory:",
                                             "--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(folder)}})
    failed = ""
    try:
        client.execute(env=km._cnnkit_env, stdout=subprocess.DEVNULL,  # noqa: SLF001
                       stderr=subprocess.DEVNULL)
    except DeadKernelError as err:
        failed = f"DeadKernelError: {err}: the code crashed the kernel or exited Python"
    except CellTimeoutError as err:
        failed = f"a cell ran past the time limit and did not stop when interrupted ({err})"
    except Exception as err:  # the kernel did not start, ...: this notebook fails alone
        failed = f"{type(err).__name__}: {err}"
    finally:
        atexit.unregister(client._cleanup_kernel)  # noqa: SLF001 (nbclient's, done already)
        if uid is not None:  # what the kernel left behind (a fork bomb's dying children...)
            sandboxing.end_processes_of(uid)
        shutil.rmtree(ipc, ignore_errors=True)
        if stubs is not None:
            shutil.rmtree(stubs, ignore_errors=True)
    payloads, errors = _collect(executed, tests)
    return Run(executed, payloads, errors, failed)
