"""Re-execute course notebooks in place so their stored outputs are current (``make notebooks``).

Runs each notebook top to bottom in the current Python environment (nbclient), from the
notebook's own folder, with widget state stripped (the stored outputs are what nbval compares
and what a reader sees before running; widget models are rebuilt when the notebook is run) and
execution metadata (timestamps) removed so re-running an unchanged notebook changes little.
Writes atomically: a notebook that fails to execute is left untouched and the script exits 1.

Usage: python scripts/execute_notebooks.py notebooks/01_convolution.ipynb [...]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute(path: Path, timeout: int = 900) -> float:
    """Execute ``path`` in place; return the seconds it took. Raises on a cell error."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
    )
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".ipynb.tmp")
    os.close(fd)
    try:
        nbformat.write(nb, tmp)
        os.chmod(tmp, path.stat().st_mode)  # mkstemp makes it private; keep the original's mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return seconds


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    failed = 0
    for name in argv:
        path = Path(name)
        try:
            seconds = execute(path)
        except CellExecutionError as err:
            failed += 1
            print(f"FAILED {path}: {str(err).splitlines()[-1] if str(err) else err}")
            continue
        print(f"ok     {path} ({seconds:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
