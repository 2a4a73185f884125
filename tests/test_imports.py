"""Every module of the package imports on its own (also under the oldest and newest Python
`make test-pythons` runs), and the computational modules pull in neither ipywidgets nor
matplotlib."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import cnnkit

MODULES = sorted(m.name for m in pkgutil.walk_packages(cnnkit.__path__, "cnnkit."))
VIEWS = ("cnnkit.viz", "cnnkit.widget", "cnnkit.liveplot", "cnnkit.report", "cnnkit.grading",
         "cnnkit.cli", "cnnkit.__main__", "cnnkit.checks")


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name):
    importlib.import_module(name)


COMPUTATIONAL = [m for m in MODULES if not m.startswith(VIEWS)]


def test_computational_modules_import_no_gui_library():
    code = (
        "import importlib, sys\n"
        f"for name in {COMPUTATIONAL!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in ('ipywidgets', 'matplotlib', 'ipycanvas') if m in sys.modules)\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "", (
        f"importing the computational modules loaded {result.stdout.strip()}: move the view "
        "code to cnnkit.viz / cnnkit.widgets, or import it lazily"
    )
