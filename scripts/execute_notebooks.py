"""Re-execute course notebooks in place so their stored outputs are current (``make notebooks``).

Runs each notebook top to bottom in the current Python environment (nbclient), from the
notebook's own folder, with widget state stripped (the stored outputs are what nbval compares
and what a reader sees before running; widget models are rebuilt when the notebook is run) and
execution metadata (timestamps) removed so re-running an unchanged notebook changes little.
Writes atomically: a notebook that fails to execute is left untouched and the script exits 1.

Usage: python scripts/execute_notebooks.py notebooks/01_convolution.ipynb [...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from cnnkit._atomic import write_atomic
from cnnkit.report.memory import quiet_kernel_manager


def execute(path: Path, timeout: int = 900) -> float:
    """Execute ``path`` in place; return the seconds it took. Raises on a cell error."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        kernel_manager_class=quiet_kernel_manager(),  # IPC: no "TCP without encryption" warning
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
    )
    client.execute()
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    write_atomic(path, nbformat.writes(nb) + "\n")
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
