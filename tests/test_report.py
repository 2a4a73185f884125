"""The instructor report: ``cnnkit.report`` and the ``cnnkit report`` command.

The fast tests execute tiny notebooks built here with nbformat (a kernel start each, about a
second); the test marked ``notebook`` runs the real first course notebook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cnnkit.cli import main
from cnnkit.report import RunResult, default_notebooks, run_course, run_notebook, write_atomic

REPO = Path(__file__).resolve().parent.parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


def _notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = KERNELSPEC
    nb.cells = list(cells)
    nbformat.write(nb, path)
    return path


def make_good(folder: Path) -> Path:
    """A notebook with a ``parameters`` cell, that prints it and reads a file next to it."""
    (folder / "data.txt").write_text("relative-path-works")
    params = nbformat.v4.new_code_cell('greeting = "default"')
    params.metadata.tags = ["parameters"]
    return _notebook(
        folder / "good.ipynb",
        nbformat.v4.new_markdown_cell("# A good notebook <with> & markup"),
        params,
        nbformat.v4.new_code_cell('print(f"greeting={greeting}")'),
        nbformat.v4.new_code_cell('print(open("data.txt").read())'),
    )


def make_broken(folder: Path) -> Path:
    """A notebook whose second code cell raises ZeroDivisionError."""
    return _notebook(
        folder / "broken.ipynb",
        nbformat.v4.new_code_cell('print("before the error")'),
        nbformat.v4.new_code_cell("1 / 0"),
        nbformat.v4.new_code_cell('print("never printed")'),
    )


def stream_text(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "stream"
    )


def assert_no_temporary_files(folder: Path) -> None:
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".") or ".tmp" in p.name]
    assert leftovers == []


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """Good and broken notebook run once through ``run_course`` with a parameter."""
    src = tmp_path_factory.mktemp("src")
    out = tmp_path_factory.mktemp("out") / "report"  # does not exist yet
    good, broken = make_good(src), make_broken(src)
    results = run_course(
        [good, broken], out, parameters={"greeting": "injected-42"}, timeout=60, progress=False
    )
    return {"good": good, "broken": broken, "out": out, "results": results}


# --- run_course / run_notebook ------------------------------------------------------------


def test_results_have_status_paths_and_errors(course):
    good, broken = course["results"]
    out = course["out"]
    assert isinstance(good, RunResult)
    assert (good.notebook, good.status, good.error) == (course["good"], "ok", None)
    assert (good.ipynb, good.html) == (out / "good.ipynb", out / "good.html")
    assert broken.status == "failed"
    assert (broken.ipynb, broken.html) == (out / "broken.ipynb", out / "broken.html")
    # Without a cell tagged "parameters" papermill puts the injected parameters first, so
    # "1 / 0" is the third cell executed, shown as In [3] in the executed notebook.
    assert broken.error == "ZeroDivisionError: division by zero in cell 3"
    assert all(r.seconds > 0 for r in course["results"])


def test_parameter_is_injected_and_cwd_is_the_notebook_folder(course):
    nb = nbformat.read(course["out"] / "good.ipynb", as_version=4)
    text = stream_text(nb)
    assert "greeting=injected-42" in text
    assert "greeting=default" not in text
    assert "relative-path-works" in text
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_html_renderings_exist(course):
    out = course["out"]
    good_html = (out / "good.html").read_text(encoding="utf-8")
    assert good_html.lstrip().lower().startswith("<!doctype html>")
    assert "greeting=injected-42" in good_html
    broken_html = (out / "broken.html").read_text(encoding="utf-8")
    assert "ZeroDivisionError" in broken_html


def test_failed_notebook_keeps_its_error_output(course):
    nb = nbformat.read(course["out"] / "broken.ipynb", as_version=4)
    errors = [
        out
        for c in nb.cells
        if c.cell_type == "code"
        for out in c.outputs
        if out.output_type == "error"
    ]
    assert [(e.ename, e.evalue) for e in errors] == [("ZeroDivisionError", "division by zero")]
    text = stream_text(nb)
    assert "before the error" in text and "never printed" not in text


def test_index_html_lists_every_notebook(course):
    page = (course["out"] / "index.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>" in page
    assert 'href="good.html"' in page and 'href="good.ipynb"' in page
    assert 'href="broken.html"' in page and 'href="broken.ipynb"' in page
    assert 'class="status status-ok">ok<' in page
    assert 'class="status status-failed">failed<' in page
    assert "ZeroDivisionError: division by zero in cell 3" in page
    # Self-contained: no scripts, stylesheets or images fetched from elsewhere.
    assert "<script" not in page and "<link" not in page and "http" not in page


def test_results_json_matches_the_results(course):
    data = json.loads((course["out"] / "results.json").read_text(encoding="utf-8"))
    assert data["summary"] == {"total": 2, "ok": 1, "failed": 1}
    assert data["parameters"] == {"greeting": "injected-42"}
    assert "generated" in data
    assert data["notebooks"] == [r.to_dict() for r in course["results"]]
    assert [(n["status"], n["error"]) for n in data["notebooks"]] == [
        ("ok", None),
        ("failed", "ZeroDivisionError: division by zero in cell 3"),
    ]


def test_no_temporary_files_are_left(course):
    assert_no_temporary_files(course["out"])
    assert sorted(p.name for p in course["out"].iterdir()) == [
        "broken.html",
        "broken.ipynb",
        "good.html",
        "good.ipynb",
        "index.html",
        "results.json",
    ]


def test_index_escapes_what_it_shows(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    odd = _notebook(
        src / "a&b <x>.ipynb",
        nbformat.v4.new_code_cell('raise ValueError("<b>bold</b> & \\"quoted\\"")'),
    )
    (result,) = run_course([odd], tmp_path / "out", progress=False)
    assert result.status == "failed"
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt; &amp;" in page
    assert "a&amp;b &lt;x&gt;.ipynb" in page
    assert 'href="a%26b%20%3Cx%3E.html"' in page
    assert (tmp_path / "out" / "a&b <x>.html").is_file()


def test_a_cell_over_the_timeout_is_interrupted_and_reported(tmp_path):
    slow = _notebook(
        tmp_path / "slow.ipynb",
        nbformat.v4.new_code_cell("import time\ntime.sleep(60)"),
        nbformat.v4.new_code_cell('print("never printed")'),
    )
    result = run_notebook(slow, tmp_path / "out", timeout=1)
    assert result.status == "failed"
    assert result.error == "CellTimeoutError: cell did not finish within 1 s in cell 1"
    assert result.seconds < 30
    assert result.html.is_file()
    assert_no_temporary_files(tmp_path / "out")


def test_refuses_to_overwrite_the_input_notebook(tmp_path):
    good = make_good(tmp_path)
    with pytest.raises(ValueError, match="overwrite"):
        run_notebook(good, tmp_path)


# --- the command line -------------------------------------------------------------------


def test_cli_exits_1_when_a_notebook_fails_and_still_reports_the_others(tmp_path, capsys):
    good, broken = make_good(tmp_path), make_broken(tmp_path)
    out = tmp_path / "reports"
    assert main(["report", str(broken), str(good), "--out", str(out), "--timeout", "60"]) == 1
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("failed") and str(out / "broken.html") in printed[0]
    assert "ZeroDivisionError: division by zero in cell 2" in printed[0]  # no injected cell
    assert printed[1].startswith("ok") and str(out / "good.html") in printed[1]
    assert printed[2] == f"index: {out / 'index.html'}"
    assert "greeting=default" in stream_text(nbformat.read(out / "good.ipynb", as_version=4))
    assert (out / "good.html").is_file() and (out / "broken.html").is_file()
    assert_no_temporary_files(out)


def test_cli_exits_0_when_all_are_ok(tmp_path, capsys):
    out = tmp_path / "reports"
    assert main(["report", str(make_good(tmp_path)), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"index: {out / 'index.html'}"


def test_cli_missing_notebook_is_a_usage_error(tmp_path, capsys):
    good = make_good(tmp_path)
    missing = tmp_path / "nope.ipynb"
    out = tmp_path / "reports"
    assert main(["report", str(good), str(missing), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "notebook not found" in err and str(missing) in err
    assert not out.exists()  # nothing was run


def test_cli_bad_timeout_is_a_usage_error(capsys):
    assert main(["report", "--timeout", "soon"]) == 2
    assert "soon" in capsys.readouterr().err


def test_python_dash_m_cnnkit_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "cnnkit", "report", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "--timeout" in proc.stdout and "--out" in proc.stdout


# --- helpers ----------------------------------------------------------------------------


def test_write_atomic_writes_replaces_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "page.html"
    write_atomic(target, "first é")
    assert target.read_text(encoding="utf-8") == "first é"
    write_atomic(target, b"\x00second")
    assert target.read_bytes() == b"\x00second"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]
    if os.name == "posix":  # not the 0o600 of the temporary file
        assert target.stat().st_mode & 0o044


def test_write_atomic_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "data.json"
    write_atomic(target, "old")
    with pytest.raises(TypeError):
        write_atomic(target, 12345)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"]


def test_default_notebooks_finds_numbered_notebooks_sorted(tmp_path):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ["02_b.ipynb", "01_a.ipynb", "scratch.ipynb", "1_short.ipynb", "10_c.txt"]:
        (folder / name).write_text("{}")
    assert default_notebooks(tmp_path) == [folder / "01_a.ipynb", folder / "02_b.ipynb"]


def test_default_notebooks_without_notebooks_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no course notebooks"):
        default_notebooks(tmp_path)


def test_default_notebooks_falls_back_to_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = default_notebooks()
    assert found and all(p.parent == REPO / "notebooks" for p in found)


# --- the real course --------------------------------------------------------------------


@pytest.mark.notebook
def test_report_on_the_first_course_notebook(tmp_path, capsys):
    notebook = REPO / "notebooks" / "01_convolution.ipynb"
    assert notebook.is_file(), f"{notebook} is missing"
    out = tmp_path / "reports"
    assert main(["report", str(notebook), "--out", str(out)]) == 0, capsys.readouterr()
    assert (out / "01_convolution.html").is_file()
    assert (out / "01_convolution.ipynb").is_file()
    page = (out / "index.html").read_text(encoding="utf-8")
    assert 'href="01_convolution.html"' in page
    assert 'class="status status-ok">ok<' in page
    assert_no_temporary_files(out)
