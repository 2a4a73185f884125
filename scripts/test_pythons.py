"""Run the unit tests under another Python (what `make test-pythons` runs for each version).

Usage: python scripts/test_pythons.py 3.10

Finds the interpreter (``python3.10`` on PATH, or pyenv's ``~/.pyenv/versions/3.10.*``), builds
``.venv/python3.10`` once (cnnkit with its dev extras; a stamp file makes later runs instant), then
runs the unit tests listed in UNIT_TESTS below (not those marked slow). If the interpreter
is missing, it says so and exits 0 (skipped, with the reason) unless CNNKIT_REQUIRE_PYTHONS=1.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKERS = "not slow and not notebook and not browser"
# What can break between Python versions is syntax, the standard library and the numerical
# stack, so: every module imported, and the unit tests of the numerics, models, data and
# training loop. (The notebook, browser, grading and server tests run under .venv's Python.)
UNIT_TESTS = ["tests/test_imports.py", "tests/test_conv.py", "tests/test_pool.py",
              "tests/test_nn.py", "tests/test_atomic.py", "tests/test_inspect.py",
              "tests/test_models_lenet.py", "tests/test_models_resnet.py", "tests/test_data.py",
              "tests/test_train.py", "tests/test_augment.py", "tests/test_units_and_drawing.py"]


def _works(python: str) -> bool:
    """True if ``python`` runs (a pyenv shim for a version not selected does not)."""
    try:
        return subprocess.run([python, "-c", "pass"], capture_output=True).returncode == 0
    except OSError:
        return False


def find_python(version: str) -> str | None:
    """pyenv's ``~/.pyenv/versions/X.Y.*`` first (newest patch), then ``pythonX.Y`` on PATH."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / "python")),
                        key=lambda p: [int(x) for x in Path(p).parents[1].name.split(".")
                                       if x.isdigit()])
    on_path = shutil.which(f"python{version}")
    for python in [*reversed(candidates), *([on_path] if on_path else [])]:
        if _works(python):
            return python
    return None


def run(cmd: list[str], **kwargs) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kwargs)


def ensure_venv(version: str, python: str) -> Path:
    venv = ROOT / ".venv" / f"python{version}"  # inside .venv: one ignored folder for tools
    stamp = venv / ".stamp-dev"
    pyproject = ROOT / "pyproject.toml"
    if stamp.exists() and stamp.stat().st_mtime >= pyproject.stat().st_mtime:
        return venv
    if not (venv / "bin" / "python").exists():
        run([python, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e", ".[dev]"],
        cwd=ROOT)
    stamp.touch()
    return venv


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    version = argv[0]
    python = find_python(version)
    if python is None:
        message = f"test-pythons: Python {version} not found (PATH or pyenv): its tests are SKIPPED"
        print(message, flush=True)
        return 1 if os.environ.get("CNNKIT_REQUIRE_PYTHONS") == "1" else 0
    venv = ensure_venv(version, python)
    print(f"test-pythons: unit tests under Python {version} ({venv.name})", flush=True)
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-m", MARKERS,
         "-p", "no:cacheprovider", *(t for t in UNIT_TESTS if (ROOT / t).exists())],
        cwd=ROOT,
    )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
