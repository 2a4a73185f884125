"""Colab: the cell after the parameters of every lesson installs cnnkit where it is missing,
and does nothing elsewhere.

A fresh virtual environment that has the course's dependencies but not cnnkit (the situation on
Colab) runs the cell with the install pointed at this checkout; afterwards lesson 1's imports
work. Every lesson carries the same cell and a Colab badge (scripts/colab_cells.py puts them).
"""

from __future__ import annotations

import subprocess
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CELL = (ROOT / "deploy" / "colab" / "first_cell.ipy").read_text().strip()
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_every_lesson_starts_with_the_install_cell_and_a_colab_badge(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert code[1].source.strip() == CELL, (
        f"{path.name}: the code cell after the parameters must be deploy/colab/first_cell.ipy "
        "(python scripts/colab_cells.py puts it there)"
    )
    assert "colab.research.google.com" in nb.cells[0].source, f"{path.name}: no Colab badge"


@pytest.mark.slow
def test_the_cell_installs_cnnkit_where_it_is_missing(tmp_path):
    fresh = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=True).create(fresh)
    python = fresh / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site = subprocess.run([str(python), "-c", where], capture_output=True, text=True,
                          check=True).stdout.strip()
    # The course's dependencies (torch, IPython...) without cnnkit: this venv's site-packages
    # on the path, where cnnkit's editable install is not active (its .pth is not processed).
    (Path(site) / "course_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    missing = subprocess.run([str(python), "-c", "import cnnkit"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert missing.returncode != 0, "cnnkit must not be importable before the cell runs"

    lesson1 = nbformat.read(ROOT / "notebooks" / "01_convolution.ipynb", as_version=4)
    imports = [line for c in lesson1.cells if c.cell_type == "code"
               for line in c.source.splitlines() if line.startswith(("import ", "from "))]
    script = tmp_path / "colab.ipy"
    script.write_text(CELL + "\n" + "\n".join(imports) + "\nprint('IMPORTED', cnnkit.__file__)\n")
    run = subprocess.run(
        [str(python), "-m", "IPython", "--no-banner", "--quick", str(script)], cwd=tmp_path,
        env={"PATH": f"{fresh / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
             "CNNKIT_INSTALL": f"--no-deps {ROOT}", "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=600,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "installing it from --no-deps" in output, output[-2000:]
    imported = [line for line in output.splitlines() if line.startswith("IMPORTED")]
    assert imported and str(fresh) in imported[0], output[-2000:]
