"""Hygiene of the committed course notebooks, and a check that nbval really compares outputs.

nbval itself runs every notebook (pytest collects notebooks/ with --nbval-lax): these tests check
what nbval does not: the notebooks are committed executed, clean and parameterisable.
"""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MACHINE_PATH = re.compile(r"/(work|tmp|root|home/[a-z][^/\s\"]*)/")


def test_the_course_has_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"
    assert NOTEBOOKS[0].name == "01_convolution.ipynb"


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.name)
def notebook(request):
    return request.param, nbformat.read(request.param, as_version=4)


def test_has_one_parameters_cell_before_other_code(notebook):
    _, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code"]
    tagged = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    assert tagged == [0], "the first code cell, and only it, must be tagged 'parameters'"


def test_committed_executed_in_order_without_errors(notebook):
    path, nb = notebook
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: run `make notebooks`"
    for c in code:
        for out in c.outputs:
            assert out.output_type != "error", f"stored error in {path.name}: {c.source[:60]}"
            if out.output_type == "stream":
                assert out.name != "stderr" or "Warning" not in out.text, out.text[:200]


def test_clean_and_small(notebook):
    path, nb = notebook
    text = path.read_text()
    assert "widgets" not in nb.metadata, "widget state must be stripped (make notebooks)"
    assert not MACHINE_PATH.search(text), f"{path.name} contains an absolute machine path"
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert len(text) < 600_000, f"{path.name} is {len(text) // 1000} kB: keep figures small"


def test_deterministic_cells_are_checked_by_nbval(notebook):
    path, nb = notebook
    checked = [c for c in nb.cells if c.cell_type == "code"
               and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    assert len(checked) >= 8, f"{path.name}: only {len(checked)} cells compared by nbval"
    for c in checked:
        assert c.outputs, f"a checked cell has no stored output: {c.source[:80]}"


def _tiny_notebook(path: Path, stored: str) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\nprint(6 * 7, 'took 12.5 ms')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
    cell.execution_count = 1
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def test_nbval_compares_checked_cells_and_sanitizes_timings(tmp_path):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    _tiny_notebook(good, "42 took 3.1 ms\n")  # a different timing is sanitized away
    _tiny_notebook(bad, "41 took 12.5 ms\n")  # a different number is not
    # the project's pytest options (nbval-lax, the sanitize file) apply to the tiny notebooks
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)]
    ok = subprocess.run([*cmd, str(good)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout[-2000:]
    ko = subprocess.run([*cmd, str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ko.returncode == 1, ko.stdout[-2000:]
    assert "41" in ko.stdout and "42" in ko.stdout


def test_sanitize_file_is_valid():
    text = (ROOT / "tests" / "nbval_sanitize.cfg").read_text()
    sections = re.findall(r"^\[(.+)\]$", text, flags=re.M)
    assert sections and len(sections) == text.count("regex:") == text.count("replace:")


def test_papermill_reads_every_parameter_and_its_help(notebook, caplog):
    """papermill's inspector understands every line of the parameters cell (a comment with an
    '=' in it, for instance, makes it skip the line), so `cnnkit report` sees each parameter's
    allowed values."""
    import papermill

    path, nb = notebook
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    names = [line.split("=")[0].strip() for line in cell.source.splitlines()
             if "=" in line.split("#")[0]]
    with caplog.at_level("WARNING"):
        found = papermill.inspect_notebook(str(path))
    assert "Unable to parse" not in caplog.text, caplog.text
    assert list(found) == names
    assert all(found[name]["help"] for name in names), f"{path.name}: a parameter lacks a comment"
