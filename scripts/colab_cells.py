"""Put the Colab install cell and badge at the top of every lesson (idempotent).

The cell (deploy/colab/first_cell.ipy, placed right after the parameters cell) does nothing
where cnnkit is importable, and installs it where it is not (Colab). The badge opens the
lesson in Colab, beside Binder's. Re-execute the notebooks afterwards (`make notebooks`) so
their stored execution counts stay in order.

Usage: python scripts/colab_cells.py [--check] [NOTEBOOK ...]
(--check: exit 1 if a notebook lacks them)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
CELL = (ROOT / "deploy" / "colab" / "first_cell.ipy").read_text().strip()
REPO = "cnnkit/cnnkit"
MARK = "cnnkit-colab-install"


def badges(name: str) -> str:
    colab = f"https://colab.research.google.com/github/{REPO}/blob/main/notebooks/{name}"
    binder = f"https://mybinder.org/v2/gh/{REPO}/HEAD?urlpath=lab/tree/notebooks/{name}"
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})"
            f" [![Binder](https://mybinder.org/badge_logo.svg)]({binder})")


def updated(nb, name: str) -> bool:
    """Add or refresh the badge line and the install cell; True if anything changed."""
    changed = False
    first_md = next(c for c in nb.cells if c.cell_type == "markdown")
    line = badges(name)
    lines = first_md.source.splitlines()
    if not lines or "colab-badge.svg" not in lines[0]:
        first_md.source = line + "\n\n" + first_md.source
        changed = True
    elif lines[0] != line:
        first_md.source = "\n".join([line, *lines[1:]])
        changed = True
    install = next((c for c in nb.cells if c.cell_type == "code"
                    and MARK in c.get("metadata", {}).get("tags", [])), None)
    if install is None:
        install = nbformat.v4.new_code_cell(CELL, metadata={"tags": [MARK]})
        changed = True
    elif install.source != CELL:
        install.source = CELL
        changed = True
    # Right after the parameters cell (papermill and the tests want that one first; it needs
    # nothing installed), before the first cell that imports anything.
    parameters = next(c for c in nb.cells if c.cell_type == "code"
                      and "parameters" in c.get("metadata", {}).get("tags", []))
    where = nb.cells.index(parameters) + 1
    if install in nb.cells and nb.cells.index(install) != where:
        nb.cells.remove(install)
        where = nb.cells.index(parameters) + 1
        changed = True
    if install not in nb.cells:
        nb.cells.insert(where, install)
    install.pop("id", None) if nb.nbformat_minor < 5 else None
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="lessons to update (default: every notebooks/NN_*.ipynb)")
    args = parser.parse_args(argv)
    missing = []
    for path in args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if updated(nb, path.name):
            missing.append(path.name)
            if not args.check:
                nbformat.write(nb, path)
    if args.check and missing:
        print("missing or stale Colab cell/badge:", ", ".join(missing))
        return 1
    print("updated:" if missing else "all lessons current", ", ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
