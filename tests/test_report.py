"""The instructor report: ``cnnkit.report`` and the ``cnnkit report`` command.

The fast tests execute tiny notebooks built here with nbformat (a kernel start each, a
second or two); runs are shared between assertions through module-scoped fixtures. The
parameter checks, ``--dry-run`` and the index builder need no kernel at all. The test
marked ``notebook`` runs the real first course notebook.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from cnnkit.cli import main
from cnnkit.metrics import METRIC_MIME
from cnnkit.report import (
    STATUS_SUFFIX,
    NotebookParameter,
    ParameterError,
    RunResult,
    check_allowed,
    convert_value,
    default_notebooks,
    make_run_id,
    notebook_parameters,
    parse_allowed,
    parse_parameter_option,
    plan_runs,
    read_metrics,
    record,
    record_history,
    run_course,
    run_notebook,
    split_values,
    write_atomic,
    write_index,
)
from cnnkit.report.memory import MEMORY_BUDGET_MB, MemoryMonitor

REPO = Path(__file__).resolve().parent.parent
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
MB = 2**20


def _notebook(path: Path, *cells: nbformat.NotebookNode) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = KERNELSPEC
    nb.cells = list(cells)
    nbformat.write(nb, path)
    return path


def _parameters_cell(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata.tags = ["parameters"]
    return cell


def make_good(folder: Path) -> Path:
    """A notebook with a ``parameters`` cell, that prints it and reads a file next to it."""
    (folder / "data.txt").write_text("relative-path-works")
    return _notebook(
        folder / "good.ipynb",
        nbformat.v4.new_markdown_cell("# A good notebook <with> & markup\n\n$\\sum_i x_i$"),
        _parameters_cell('greeting = "default"'),
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


def make_grid(folder: Path) -> Path:
    """Two parameters; records metrics; the run optimizer="bad", scale=2 fails on purpose."""
    return _notebook(
        folder / "grid.ipynb",
        _parameters_cell('optimizer = "sgd"  # the optimiser\nscale = 1  # a whole number'),
        nbformat.v4.new_code_cell(
            "from cnnkit.report import record\n"
            'record("epochs", scale)\n'
            'if optimizer == "bad" and scale == 2:\n'
            '    raise RuntimeError("deliberate failure")\n'
            'record("accuracy", 0.5 + 0.1 * scale + (0.05 if optimizer == "bad" else 0))\n'
            'record("data_source", "synthetic stand-in" if scale == 1 else "MNIST")\n'
            "from cnnkit.report import record_history\n"
            "record_history({'epoch': [1, 2, 3], 'train_loss': [1.0, 0.5 / scale, 0.2 / scale],\n"
            "                'val_acc': [0.3, 0.5, 0.5 + 0.1 * scale]})"
        ),
    )


def make_typed(folder: Path) -> Path:
    """A notebook whose parameters cover the types the report converts to (never run)."""
    return _notebook(
        folder / "typed.ipynb",
        _parameters_cell(
            "epochs: int = 3  # passes over the data\n"
            "lr = 0.01\n"
            'name = "lenet"\n'
            "augment = False\n"
            "sizes = [32, 64]\n"
            'data_dir = Path("data")\n'
            "limit = None\n"
        ),
        nbformat.v4.new_code_cell("print(epochs)"),
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


def read_results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


def rows_by_id(out: Path) -> dict[str, dict]:
    return {row["run_id"]: row for row in read_results(out)["runs"]}


GOOD_ID = "good__greeting-injected-42"
BROKEN_ID = "broken__greeting-injected-42"


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
    # Each run is named after its notebook and parameters.
    assert good.run_id == GOOD_ID and good.parameters == {"greeting": "injected-42"}
    assert (good.ipynb, good.html) == (out / f"{GOOD_ID}.ipynb", out / f"{GOOD_ID}.html")
    assert broken.status == "failed"
    assert (broken.ipynb, broken.html) == (out / f"{BROKEN_ID}.ipynb", out / f"{BROKEN_ID}.html")
    # Without a cell tagged "parameters" papermill puts the injected parameters first, so
    # "1 / 0" is the third cell executed, shown as In [3] in the executed notebook.
    assert broken.error == "ZeroDivisionError: division by zero in cell 3"
    assert all(r.seconds > 0 for r in course["results"])
    assert all(r.peak_memory_mb and r.peak_memory_mb > 10 for r in course["results"])


def test_parameter_is_injected_and_cwd_is_the_notebook_folder(course):
    nb = nbformat.read(course["out"] / f"{GOOD_ID}.ipynb", as_version=4)
    text = stream_text(nb)
    assert "greeting=injected-42" in text
    assert "greeting=default" not in text
    assert "relative-path-works" in text
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_html_renderings_exist(course):
    out = course["out"]
    good_html = (out / f"{GOOD_ID}.html").read_text(encoding="utf-8")
    assert good_html.lstrip().lower().startswith("<!doctype html>")
    assert "greeting=injected-42" in good_html
    assert "data.txt" in good_html  # the code is shown by default
    broken_html = (out / f"{BROKEN_ID}.html").read_text(encoding="utf-8")
    assert "ZeroDivisionError" in broken_html


def test_failed_notebook_keeps_its_error_output(course):
    nb = nbformat.read(course["out"] / f"{BROKEN_ID}.ipynb", as_version=4)
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
    assert f'href="{GOOD_ID}.html"' in page and f'href="{GOOD_ID}.ipynb"' in page
    assert f'href="{BROKEN_ID}.html"' in page and f'href="{BROKEN_ID}.ipynb"' in page
    assert 'class="status status-ok">ok<' in page
    assert 'class="status status-failed">failed<' in page
    assert "ZeroDivisionError: division by zero in cell 3" in page
    assert "greeting=injected-42" in page
    # Self-contained: no scripts, stylesheets or images fetched from elsewhere.
    assert "<script" not in page and "<link" not in page and "http" not in page


def test_results_json_and_status_files_match_the_results(course):
    out = course["out"]
    data = read_results(out)
    assert data["summary"]["total"] == 2
    assert (data["summary"]["ok"], data["summary"]["failed"]) == (1, 1)
    assert data["memory_budget_mb"] == 1536
    assert "generated" in data
    rows = rows_by_id(out)
    for result in course["results"]:
        row = rows[result.run_id]
        status = json.loads((out / f"{result.run_id}{STATUS_SUFFIX}").read_text())
        for key in ("status", "error", "parameters", "metrics"):
            assert row[key] == status[key] == result.to_dict()[key], key
        assert row["seconds"] == status["seconds"] == round(result.seconds, 3)
        assert row["peak_memory_mb"] == round(result.peak_memory_mb, 1)
        assert (row["html"], row["ipynb"]) == (result.html.name, result.ipynb.name)
        assert row["notebook"] == str(result.notebook.resolve())
    assert rows[BROKEN_ID]["error"] == "ZeroDivisionError: division by zero in cell 3"


def test_no_temporary_files_are_left(course):
    assert_no_temporary_files(course["out"])
    assert sorted(p.name for p in course["out"].iterdir()) == sorted(
        [
            *(f"{rid}{ext}" for rid in (GOOD_ID, BROKEN_ID) for ext in (".html", ".ipynb")),
            f"{GOOD_ID}{STATUS_SUFFIX}",
            f"{BROKEN_ID}{STATUS_SUFFIX}",
            "_static",  # MathJax for the HTML pages, copied once per folder
            "index.html",
            "results.csv",
            "results.json",
        ]
    )


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
    assert (tmp_path / "out" / f"slow{STATUS_SUFFIX}").is_file()
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
    assert " MB " in printed[1]  # peak memory of the kernel
    assert printed[2] == f"index: {out / 'index.html'}"
    assert "greeting=default" in stream_text(nbformat.read(out / "good.ipynb", as_version=4))
    assert (out / "good.html").is_file() and (out / "broken.html").is_file()
    assert_no_temporary_files(out)


def test_cli_exits_0_when_all_are_ok_and_no_input_hides_the_code(tmp_path, capsys):
    out = tmp_path / "reports"
    assert main(["report", str(make_good(tmp_path)), "--out", str(out), "--no-input"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"index: {out / 'index.html'}"
    page = (out / "good.html").read_text(encoding="utf-8")
    assert "relative-path-works" in page  # outputs stay
    assert "data.txt" not in page  # inputs go


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


def test_the_default_memory_budget_is_binders():
    """Binder gives 2 GB; JupyterLab needs some: 1.5 GB per lesson kernel, the budget `cnnkit
    report` checks and the nbval run checks for every lesson (conftest.py)."""
    assert MEMORY_BUDGET_MB == 1536


def test_python_dash_m_cnnkit_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "cnnkit", "report", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    for option in ("--timeout", "--out", "-p NAME=VALUE", "--grid", "--zip", "--jobs",
                   "--scheduler", "--no-input", "--dry-run", "--force", "--memory-budget-mb"):
        assert option in proc.stdout, option


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["-p", "optimiser=adam"], "has no parameter 'optimiser'; its parameters are: "
                                   "optimizer, scale"),
        (["-p", "scale=1,two"], "parameter 'scale' of grid.ipynb: 'two' is not an int"),
        (["-p", "scale=1.5"], "parameter 'scale' of grid.ipynb: '1.5' is not an int"),
        (["-p", "optimizer=a,b,c", "-p", "scale=1,2", "--zip"],
         "same number of values: optimizer has 3, scale has 2"),
        (["-p", "scale"], "expected NAME=VALUE"),
        (["-p", "scale=1", "-p", "scale=2"], "given twice"),
        (["-p", "scale=1", "--grid", "--zip"], "not allowed with argument"),
        (["--jobs", "0"], "must be at least 1"),
        (["--memory-budget-mb", "-5"], "must be positive"),
    ],
)
def test_cli_usage_errors_exit_2_and_write_nothing(tmp_path, capsys, options, message):
    grid = make_grid(tmp_path)
    out = tmp_path / "reports"
    assert main(["report", str(grid), "--out", str(out), *options]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("usage: cnnkit report")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.ipynb"]


def test_cli_parameter_unknown_to_one_of_several_notebooks(tmp_path, capsys):
    grid, broken = make_grid(tmp_path), make_broken(tmp_path)
    assert main(["report", str(grid), str(broken), "-p", "scale=2", "--out", str(tmp_path)]) == 2
    assert "broken.ipynb has no parameter 'scale'; it has no cell tagged 'parameters'" in (
        capsys.readouterr().err
    )


def test_dry_run_prints_the_runs_and_writes_nothing(tmp_path, capsys):
    grid = make_grid(tmp_path)
    out = tmp_path / "reports"
    argv = ["report", str(grid), "-p", "optimizer=sgd,adam", "-p", "scale=1,2", "--out", str(out)]
    assert main([*argv, "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "would run   grid  (optimizer=sgd, scale=1)  -> grid.html",
        "would run   grid__scale-2  (optimizer=sgd, scale=2)  -> grid__scale-2.html",
        "would run   grid__optimizer-adam  (optimizer=adam, scale=1)  -> grid__optimizer-adam.html",
        "would run   grid__optimizer-adam__scale-2  (optimizer=adam, scale=2)  "
        "-> grid__optimizer-adam__scale-2.html",
        f"4 runs into {out}, 0 up to date; --dry-run: nothing executed or written",
    ]
    assert main([*argv, "--zip", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[2] for line in lines[:-1]] == ["grid", "grid__optimizer-adam__scale-2"]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.ipynb"]


# --- parameters -------------------------------------------------------------------------


def test_notebook_parameters_infer_types_and_defaults(tmp_path):
    params = notebook_parameters(make_typed(tmp_path))
    assert list(params) == ["epochs", "lr", "name", "augment", "sizes", "data_dir", "limit"]
    assert {n: p.type for n, p in params.items()} == {
        "epochs": int, "lr": float, "name": str, "augment": bool, "sizes": list,
        "data_dir": None, "limit": None,
    }
    assert params["epochs"].default == 3 and params["epochs"].help == "passes over the data"
    assert params["sizes"].default == [32, 64]
    assert not params["data_dir"].has_default and params["data_dir"].default_text == (
        'Path("data")'
    )
    assert params["limit"].has_default and params["limit"].default is None
    assert notebook_parameters(make_broken(tmp_path)) == {}


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        (int, "12", 12), (int, "-3", -3), (float, "0.5", 0.5), (float, "1e-3", 0.001),
        (float, "2", 2.0), (str, "adam", "adam"), (str, '"a,b"', "a,b"), (str, "", ""),
        (bool, "true", True), (bool, "No", False), (bool, "1", True), (bool, "0", False),
        (bool, "YES", True), (bool, "off", False), (list, "[1, 2]", [1, 2]),
        (list, "(1, 2)", [1, 2]), (dict, "{'a': 1}", {"a": 1}), (None, "3", 3),
        (None, "'x'", "x"), (None, "data/raw", "data/raw"),
    ],
)
def test_convert_value_to_the_type_of_the_default(kind, text, expected):
    param = NotebookParameter("p", kind, "default")
    value = convert_value(param, text)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("kind", "text"),
    [(int, "1.5"), (int, "ten"), (float, "fast"), (bool, "maybe"), (bool, ""),
     (list, "[1, 2"), (list, "5"), (list, "{'a': 1}"), (dict, "[1]")],
)
def test_convert_value_rejects_values_naming_the_parameter(kind, text):
    param = NotebookParameter("rate", kind, "7")
    with pytest.raises(ParameterError, match=r"parameter 'rate' of nb.ipynb: .* \(default: 7\)"):
        convert_value(param, text, "nb.ipynb")


def test_split_values_and_parameter_options():
    assert split_values("1,2, 3") == ["1", "2", "3"]
    assert split_values("[1,2],[3,4]") == ["[1,2]", "[3,4]"]
    assert split_values("\"a,b\",'c,d',e") == ['"a,b"', "'c,d'", "e"]
    assert split_values("") == [""]
    assert parse_parameter_option("lr=0.1,0.01") == ("lr", ["0.1", "0.01"])
    assert parse_parameter_option("title=a=b") == ("title", ["a=b"])
    for bad in ("lr", "=1", "2x=1", "a-b=1"):
        with pytest.raises(ValueError):
            parse_parameter_option(bad)


def test_run_ids_are_stable_safe_and_distinct():
    assert make_run_id("04_mnist") == "04_mnist"
    assert make_run_id("04_mnist", {"optimizer": "adam", "lr": 0.01}) == (
        "04_mnist__lr-0.01__optimizer-adam"
    )
    assert make_run_id("n", {"flag": True, "sizes": [1, 2]}) == "n__flag-true__sizes-_1_2_~" + (
        make_run_id("n", {"flag": True, "sizes": [1, 2]}).rsplit("~", 1)[1]
    )
    odd = [make_run_id("n", {"p": v}) for v in ("a b", "a_b", "a/b", "a\\b", "", "..", "é")]
    assert odd[1] == "n__p-a_b"
    assert len(set(odd)) == len(odd)
    for rid in odd:
        assert "/" not in rid and "\\" not in rid and " " not in rid and rid.isascii()
    long = make_run_id("n", {"text": "x" * 500})
    assert len(long) <= 120 and long != make_run_id("n", {"text": "x" * 499})


def test_plan_runs_grid_zip_and_defaults(tmp_path):
    typed = make_typed(tmp_path)
    runs = plan_runs([typed], [("epochs", ["3", "5"]), ("augment", ["no", "yes"])])
    assert [r.run_id for r in runs] == [
        "typed", "typed__augment-true", "typed__epochs-5", "typed__augment-true__epochs-5",
    ]
    assert runs[3].parameters == {"epochs": 5, "augment": True}
    assert runs[0].effective == {
        "epochs": 3, "lr": 0.01, "name": "lenet", "augment": False, "sizes": [32, 64],
        "limit": None,
    }
    zipped = plan_runs([typed], {"lr": ["0.1", "0.2"], "name": ["a"]}, mode="zip")
    assert [r.parameters for r in zipped] == [
        {"lr": 0.1, "name": "a"}, {"lr": 0.2, "name": "a"},
    ]
    with pytest.raises(ParameterError, match="the same parameter values are given twice"):
        plan_runs([typed], {"epochs": ["4", "4"]})
    with pytest.raises(ParameterError, match="its parameters are: epochs, lr, name"):
        plan_runs([typed], {"epoch": ["4"]})


def test_record_outside_a_kernel_prints_and_checks_its_arguments(capsys):
    np = pytest.importorskip("numpy")
    record("accuracy", np.float32(0.25))
    record("losses", np.array([1.5, 0.5]))
    record("loss", math.nan)
    record("data_source", "synthetic")
    assert capsys.readouterr().out.splitlines() == [
        "accuracy = 0.25", "losses = [1.5, 0.5]", "loss = nan", "data_source = synthetic",
    ]
    with pytest.raises(ValueError, match="non-empty"):
        record("", 1)
    with pytest.raises(TypeError, match="must be a number"):
        record("model", object())


def test_read_metrics_takes_the_last_value_and_ignores_junk():
    def display(data):
        return nbformat.v4.new_output("display_data", data=data)

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        display({METRIC_MIME: {"name": "acc", "value": 0.5}, "text/plain": "acc = 0.5"}),
        display({METRIC_MIME: {"value": 1}}),  # no name
        display({"text/plain": "acc = 0.9"}),  # text only
        display({METRIC_MIME: json.dumps({"name": "loss", "value": 0.1})}),
        display({METRIC_MIME: {"name": "acc", "value": 0.75}}),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("x"), cell]
    assert read_metrics(nb) == {"loss": 0.1, "acc": 0.75}


def test_record_does_not_import_the_heavy_packages():
    code = (
        "import sys\n"
        "from cnnkit.report import record\n"
        "record('a', 1)\n"
        "heavy = {'papermill', 'nbconvert', 'nbformat', 'matplotlib', 'psutil', 'tqdm'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.splitlines() == ["a = 1", "[]"]


# --- a 2x2 grid: metrics, one failure, parallel runs, skipping ----------------------------

GRID_RUNS = ["grid", "grid__scale-2", "grid__optimizer-bad", "grid__optimizer-bad__scale-2"]
GRID_FAILED = "grid__optimizer-bad__scale-2"


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """``-p optimizer=sgd,bad -p scale=1,2 --grid --jobs 2``; (bad, 2) fails on purpose."""
    src = tmp_path_factory.mktemp("grid-src")
    out = tmp_path_factory.mktemp("grid-out") / "reports"
    notebook = make_grid(src)
    argv = ["report", str(notebook), "-p", "optimizer=sgd,bad", "-p", "scale=1,2", "--grid",
            "--out", str(out), "--timeout", "60"]
    code, printed = _run_cli([*argv, "--jobs", "2"])
    return {"notebook": notebook, "out": out, "argv": argv, "code": code, "printed": printed}


def _run_cli(argv: list[str]) -> tuple[int, list[str]]:
    """Run ``main(argv)``, returning its exit status and what it printed on stdout."""
    buf = io.StringIO()
    saved, sys.stdout = sys.stdout, buf
    try:
        code = main(argv)
    finally:
        sys.stdout = saved
    return code, buf.getvalue().splitlines()


def test_grid_runs_every_combination_and_one_failure_makes_exit_1(grid):
    assert grid["code"] == 1
    printed, out = grid["printed"], grid["out"]
    assert len(printed) == 5 and printed[-1] == f"index: {out / 'index.html'}"
    for line, rid in zip(printed, GRID_RUNS, strict=False):
        assert str(out / f"{rid}.html") in line
        assert line.startswith("failed" if rid == GRID_FAILED else "ok")
    assert "RuntimeError: deliberate failure in cell 3" in printed[3]
    for rid in GRID_RUNS:
        for ext in (".ipynb", ".html", STATUS_SUFFIX):
            assert (out / f"{rid}{ext}").is_file()
    assert_no_temporary_files(out)


def test_grid_metrics_are_read_back_from_the_notebooks(grid):
    rows = rows_by_id(grid["out"])
    assert list(rows) == ["grid", "grid__optimizer-bad", "grid__optimizer-bad__scale-2",
                          "grid__scale-2"]
    metrics = {rid: row["metrics"] for rid, row in rows.items()}
    assert metrics["grid"] == {"epochs": 1, "accuracy": 0.6, "data_source": "synthetic stand-in"}
    assert metrics["grid__scale-2"] == {"epochs": 2, "accuracy": 0.7, "data_source": "MNIST"}
    assert metrics["grid__optimizer-bad"]["accuracy"] == pytest.approx(0.65)
    assert metrics[GRID_FAILED] == {"epochs": 2}  # recorded before the failure
    assert rows[GRID_FAILED]["status"] == "failed"
    assert rows["grid__scale-2"]["effective_parameters"] == {"optimizer": "sgd", "scale": 2}
    assert rows["grid"]["synthetic_data"] and not rows["grid__scale-2"]["synthetic_data"]
    summary = read_results(grid["out"])["summary"]
    assert (summary["total"], summary["ok"], summary["failed"]) == (4, 3, 1)
    assert summary["synthetic_data"] == 2


def test_metric_output_format_in_the_executed_notebook(grid):
    nb = nbformat.read(grid["out"] / "grid__scale-2.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    shown = [o for o in outputs if METRIC_MIME in o.get("data", {})]
    assert [o.output_type for o in shown] == ["display_data"] * 4
    assert shown[1].data == {
        METRIC_MIME: {"name": "accuracy", "value": 0.7},
        "text/plain": "accuracy = 0.7",
    }
    page = (grid["out"] / "grid__scale-2.html").read_text(encoding="utf-8")
    assert "accuracy = 0.7" in page  # the text fallback is what HTML readers see


def test_grid_index_shows_runs_metrics_data_source_and_figures(grid):
    page = (grid["out"] / "index.html").read_text(encoding="utf-8")
    for rid in GRID_RUNS:
        assert f'href="{rid}.html"' in page and f'href="{rid}.ipynb"' in page
    assert page.count('class="status status-ok">ok<') == 3
    assert page.count('class="status status-failed">failed<') == 1
    assert "optimizer=bad, scale=2" in page
    assert "accuracy: 0.7" in page and "accuracy: 0.65" in page
    assert 'synthetic stand-in <span class="flag">synthetic</span>' in page
    assert "2 on synthetic stand-in data" in page
    # One comparison figure per numeric metric, embedded as PNG; the counter "epochs" (whole
    # numbers) is not charted. (The other two figures are learning curves.)
    comparisons = page.split("<h2>Comparisons</h2>")[1]
    assert comparisons.count('src="data:image/png;base64,') == 1
    assert page.count('src="data:image/png;base64,') == 3
    assert "accuracy by optimizer, scale (grid)" in page
    assert "epochs by" not in page


def test_grid_records_learning_curves_and_overlays_them(grid):
    rows = rows_by_id(grid["out"])
    curves = rows["grid__scale-2"]["curves"]
    assert curves == {"": {"epoch": [1, 2, 3], "train_loss": [1.0, 0.25, 0.1],
                           "val_acc": [0.3, 0.5, 0.7]}}
    assert "history" not in rows["grid__scale-2"]["metrics"]  # not a scalar metric
    assert rows[GRID_FAILED]["curves"] == {}  # it failed before recording them
    status = json.loads((grid["out"] / f"grid__scale-2{STATUS_SUFFIX}").read_text())
    assert status["curves"] == curves
    page = (grid["out"] / "index.html").read_text(encoding="utf-8")
    # One figure per recorded curve, every ok run a line in it: only the two recorded here.
    assert "<h2>Learning curves</h2>" in page
    assert "training loss per epoch (grid)" in page
    assert "validation accuracy per epoch (grid)" in page
    assert "validation loss per epoch" not in page
    assert "learning curves: history" in page
    header = next(csv.reader(io.StringIO((grid["out"] / "results.csv").read_text())))
    assert not any("history" in column for column in header)


def test_results_csv_has_the_same_table(grid):
    rows = list(csv.DictReader(io.StringIO((grid["out"] / "results.csv").read_text())))
    assert [r["run_id"] for r in rows] == list(rows_by_id(grid["out"]))
    first = rows[0]
    assert (first["status"], first["param.optimizer"], first["param.scale"]) == ("ok", "sgd", "1")
    assert (first["metric.accuracy"], first["data_source"], first["synthetic_data"]) == (
        "0.6", "synthetic stand-in", "true"
    )
    assert float(first["peak_memory_mb"]) > 10 and float(first["seconds"]) > 0
    assert rows[2]["status"] == "failed" and "deliberate" in rows[2]["error"]


def test_rerun_skips_complete_runs_and_retries_failed_ones(grid):
    out = grid["out"]
    before = {rid: (out / f"{rid}.html").stat().st_mtime_ns for rid in GRID_RUNS}
    code, printed = _run_cli(grid["argv"])
    assert code == 1
    for line, rid in zip(printed, GRID_RUNS, strict=False):
        assert line.endswith("(up to date, not re-run)") == (rid != GRID_FAILED), line
    after = {rid: (out / f"{rid}.html").stat().st_mtime_ns for rid in GRID_RUNS}
    assert {rid for rid in GRID_RUNS if after[rid] != before[rid]} == {GRID_FAILED}
    assert read_results(out)["summary"]["total"] == 4


def test_dry_run_knows_what_is_up_to_date_force_and_notebook_changes(grid, capsys):
    notebook, argv = grid["notebook"], [*grid["argv"], "--dry-run"]

    def states(*extra):
        assert main([*argv, *extra]) == 0
        return [line.split("  ")[0].strip() for line in capsys.readouterr().out.splitlines()[:-1]]

    assert states() == ["up to date", "up to date", "up to date", "would run"]
    assert states("--force") == ["would run"] * 4
    stat = notebook.stat()
    os.utime(notebook, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # edited since
    try:
        assert states() == ["would run"] * 4
    finally:
        os.utime(notebook, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert states()[0] == "up to date"


# --- learning curves: any History-like object ------------------------------------------------


class _AttributeHistory:
    """Per-epoch lists as attributes, no to_dict (duck typing)."""

    def __init__(self):
        self.train_loss = [2.0, 1.0]
        self.val_acc = [0.5, float("nan")]


class _AsDictHistory:
    def as_dict(self):
        return {"epoch": [3, 4], "val_loss": (0.5, 0.25), "lr": [0.1, 0.1], "notes": "x"}


def test_history_data_accepts_mappings_to_dict_as_dict_and_attributes(capsys):
    from cnnkit.report.history import history_data
    from cnnkit.train import History

    history = History()
    history.append(epoch=1, train_loss=1.5, train_acc=0.5, val_loss=None, val_acc=None,
                   lr=0.1, seconds=2.0)
    assert history_data(history) == {"epoch": [1], "train_loss": [1.5], "train_acc": [0.5],
                                     "val_loss": [None], "val_acc": [None]}
    assert history_data(_AttributeHistory()) == {
        "epoch": [1, 2], "train_loss": [2.0, 1.0], "val_acc": [0.5, None]}  # NaN: a gap
    assert history_data(_AsDictHistory()) == {"epoch": [3, 4], "val_loss": [0.5, 0.25]}
    record_history({"val_acc": [0.25, 0.5]}, label="LeNet")
    assert capsys.readouterr().out == (
        "history/LeNet: 2 epochs of val_acc (last epoch: val_acc 0.5)\n")


@pytest.mark.parametrize(
    ("history", "error", "message"),
    [({"epoch": [1]}, TypeError, "without any of them"),
     (object(), TypeError, "must be a History"),
     ({"val_acc": [0.5, "high"]}, TypeError, r"history\['val_acc'\] must be a list of numbers"),
     ({"val_acc": [0.5], "train_loss": [1.0, 2.0]}, ValueError, "differ in length")],
)
def test_record_history_refuses_what_is_not_a_history(history, error, message):
    with pytest.raises(error, match=message):
        record_history(history)
    with pytest.raises(ValueError, match="label must be a non-empty string"):
        record_history({"val_acc": [0.5]}, label="")


def test_split_curves_separates_histories_from_scalar_metrics():
    from cnnkit.report.history import split_curves

    curve = {"epoch": [1], "val_acc": [0.5]}
    metrics = {"accuracy": 0.5, "history": curve, "history/ResNet-20": curve,
               "history/odd": 3, "historyx": curve}
    assert split_curves(metrics) == (
        {"accuracy": 0.5, "history/odd": 3, "historyx": curve},
        {"": curve, "ResNet-20": curve},
    )


def test_varying_parameters_label_the_lines():
    from cnnkit.report.charts import varying_parameters

    runs = [{"effective_parameters": {"lr": 0.1, "optimizer": "adam", "seed": 0}},
            {"effective_parameters": {"lr": 0.1, "optimizer": "sgd", "seed": 1}}]
    assert varying_parameters(runs) == ["optimizer", "seed"]
    assert varying_parameters(runs[:1]) == []


# --- allowed values declared in the parameters cell -----------------------------------------


def make_declared(folder: Path, cell: str | None = None) -> Path:
    """A notebook whose parameters cell declares allowed values in its comments (never run)."""
    return _notebook(
        folder / "declared.ipynb",
        _parameters_cell(cell or (
            "digit = 7              # which MNIST digit, 0..9\n"
            'optimizer = "adam"     # one of: "adam", "sgd"; SGD uses momentum 0.9\n'
            "lr = 0.01              # learning rate, 1e-5..1\n"
            "epochs = 3             # 1..\n"
            "depth = 50             # one of: 18, 34, 50, 101, 152\n"
            "note = \"free\"          # anything goes (no declaration)\n"
        )),
        nbformat.v4.new_code_cell("print(digit)"),
    )


@pytest.mark.parametrize(
    ("comment", "low", "high", "choices"),
    [
        ("which MNIST digit, 0..9", 0, 9, None),
        ("1..", 1, None, None),
        ("at most ..0.5 of it", None, 0.5, None),
        ("learning rate, 1e-5..1", 1e-5, 1, None),
        ("-1..1", -1, 1, None),
        ('one of: "adam", "sgd"; SGD uses momentum 0.9', None, None, ("adam", "sgd")),
        ("One of: adam, sgd", None, None, ("adam", "sgd")),
        ("one of: 18, 34, 50", None, None, (18, 34, 50)),
        ("one of: 1, 2, 3; and 1..2", 1, 2, (1, 2, 3)),
    ],
)
def test_parse_allowed_reads_ranges_and_choices(comment, low, high, choices):
    allowed = parse_allowed(comment)
    assert (allowed.low, allowed.high, allowed.choices) == (low, high, choices)


@pytest.mark.parametrize("comment", ["which digit (0-9)", "see ../data", "wait...", "v1.2", ""])
def test_parse_allowed_ignores_prose(comment):
    assert parse_allowed(comment) is None


@pytest.mark.parametrize(
    ("comment", "why"),
    [("0..9 or 1..2", "more than one range"), ("9..0", "is empty"),
     ('one of: "a",, "b"', "empty choice"), ("one of: a b", "neither a Python literal")],
)
def test_parse_allowed_refuses_what_it_cannot_read(comment, why):
    with pytest.raises(ValueError, match=why):
        parse_allowed(comment)


def test_allowed_values_check_numbers_and_choices():
    allowed = parse_allowed("0..9")
    assert allowed.violation(0) is None and allowed.violation(9) is None
    assert allowed.violation(10) == "10 is outside 0..9"
    assert allowed.violation(-0.5) == "-0.5 is outside 0..9"
    assert allowed.violation(True) == "true is not a number in 0..9"
    choices = parse_allowed("one of: 1, 2")
    assert choices.violation(1.0) is None  # a float parameter given 1
    assert choices.violation(True) == "true is not one of 1, 2"  # True == 1, but not a choice
    assert parse_allowed("one of: a, b").violation("c") == "'c' is not one of 'a', 'b'"


def test_declared_values_reach_papermill_help_and_are_checked(tmp_path):
    notebook = make_declared(tmp_path)
    params = notebook_parameters(notebook)
    assert params["digit"].help == "which MNIST digit, 0..9"  # what papermill reports
    runs = plan_runs([notebook], [("digit", ["0", "9"]), ("optimizer", ["sgd"]),
                                  ("lr", ["1e-5"]), ("epochs", ["40"]), ("depth", ["152"]),
                                  ("note", ["whatever"])])
    assert [r.parameters["digit"] for r in runs] == [0, 9]
    assert check_allowed(params["digit"], 3, "declared.ipynb") == 3
    with pytest.raises(ParameterError, match=r"parameter 'digit' of declared.ipynb: 11 is "
                                             r"outside 0\.\.9 \(declared in the parameters cell"):
        plan_runs([notebook], {"digit": ["3", "11"]})
    with pytest.raises(ParameterError, match="'adagrad' is not one of 'adam', 'sgd'"):
        plan_runs([notebook], {"optimizer": ["adagrad"]})
    with pytest.raises(ParameterError, match="0 is outside 1.."):
        plan_runs([notebook], {"epochs": ["0"]})
    with pytest.raises(ParameterError, match="20 is not one of 18, 34, 50, 101, 152"):
        plan_runs([notebook], {"depth": ["20"]})


@pytest.mark.parametrize(
    ("option", "message"),
    [("digit=3,11", "parameter 'digit' of declared.ipynb: 11 is outside 0..9"),
     ("optimizer=adagrad", "parameter 'optimizer' of declared.ipynb: 'adagrad' is not one of "
                           "'adam', 'sgd'"),
     ("lr=2", "parameter 'lr' of declared.ipynb: 2 is outside 1e-05..1")],
)
def test_cli_refuses_values_outside_the_declaration_and_writes_nothing(
        tmp_path, capsys, option, message):
    notebook = make_declared(tmp_path)
    out = tmp_path / "reports"
    assert main(["report", str(notebook), "-p", option, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cnnkit report") and message in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["declared.ipynb"]


@pytest.mark.parametrize(
    ("cell", "message"),
    [("digit = 12  # 0..9", "its default 12 is outside 0..9"),
     ('name = "x"  # 1..3', "a range needs a number, and the default is a str"),
     ('name = "x"  # one of: "a", "b"', "its default 'x' is not one of 'a', 'b'"),
     ("n = 1  # one of: 1,, 2", "empty choice")],
)
def test_a_declaration_that_cannot_hold_is_a_usage_error(tmp_path, capsys, cell, message):
    notebook = make_declared(tmp_path, cell)
    out = tmp_path / "reports"
    assert main(["report", str(notebook), "--out", str(out), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "declared.ipynb, parameter" in err and "cannot use the allowed values" in err
    assert message in err
    assert not out.exists()


def test_the_course_notebooks_declare_readable_allowed_values():
    """The lessons' declarations parse, fit their types and allow their own defaults."""
    from cnnkit.report.allowed import allowed_values

    for notebook in default_notebooks(REPO):
        for param in notebook_parameters(notebook).values():
            allowed_values(param, notebook.name)  # raises ParameterError naming the problem


# --- offline pages and a quiet kernel ------------------------------------------------------


def test_run_pages_load_nothing_from_the_network(course):
    out = course["out"]
    page = (out / f"{GOOD_ID}.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script[^>]*\bsrc=[\"']([^\"']+)", page)
    assert scripts == ["_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"]
    assert (out / scripts[0].split("?")[0]).is_file()  # MathJax copied beside the pages
    assert (out / "_static/mathjax/config/TeX-AMS-MML_HTMLorMML-full.js").is_file()
    for remote in (r"<script[^>]*src=[\"']?(https?:)?//", r"import\(\s*[\"'](https?:)?//",
                   r"<link[^>]*href=[\"']?(https?:)?//", r"url\(\s*[\"']?(https?:)?//"):
        assert not re.search(remote, page), remote
    assert r"$\sum_i x_i$" in page  # the maths, for the local MathJax to typeset


@pytest.mark.browser
def test_run_page_typesets_its_maths_offline_in_chromium(course):
    """MathJax from the report folder typesets the page's maths with the network switched off."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = os.environ.get("CNNKIT_CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).is_file():
        pytest.skip(f"needs Chromium at {chromium} (apt-get install chromium)")
    page_path = course["out"] / f"{GOOD_ID}.html"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_context(offline=True).new_page()
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            page.goto(page_path.as_uri())
            page.wait_for_function(
                "window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"
                " && document.querySelector('.MathJax') !== null", timeout=60_000)
            typeset = page.evaluate("document.querySelectorAll('.MathJax').length")
        finally:
            browser.close()
    assert typeset >= 1
    assert [url for url in requested if not url.startswith("file:")] == []


def test_the_kernel_does_not_warn_about_tcp(tmp_path):
    """Kernels start over IPC, so ipykernel's "running over TCP without encryption" is gone."""
    if os.name != "posix":
        pytest.skip("IPC transport is POSIX only")
    notebook = make_good(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "cnnkit", "report", str(notebook), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "without encryption" not in proc.stderr and "over TCP" not in proc.stderr
    assert "greeting=default" in (tmp_path / "r" / "good.html").read_text(encoding="utf-8")


# --- completeness and atomicity --------------------------------------------------------


def test_index_lists_only_runs_whose_status_file_exists(tmp_path):
    """Outputs without a status file (an interrupted run) are never linked as complete."""
    out = tmp_path / "reports"
    out.mkdir()
    (out / "cut.html").write_text("<!DOCTYPE html><html><body><p>half wri")
    (out / "cut.ipynb").write_text('{"cells": [')
    status = {
        "schema": 1, "run_id": "done", "notebook": str(tmp_path / "gone.ipynb"),
        "notebook_name": "gone.ipynb", "source_mtime_ns": 0, "parameters": {"a": 1},
        "effective_parameters": {"a": 1}, "status": "ok", "error": None, "seconds": 1.5,
        "peak_memory_mb": 2000.0, "metrics": {"acc": 0.5}, "ipynb": "done.ipynb",
        "html": "done.html", "html_input": True,
    }
    write_atomic(out / f"done{STATUS_SUFFIX}", json.dumps(status))
    (out / "done.html").write_text("<!DOCTYPE html><html></html>")
    (out / "done.ipynb").write_text("{}")
    (out / f"junk{STATUS_SUFFIX}").write_text("{not json")
    index = write_index(out, memory_budget_mb=1500)
    page = index.read_text(encoding="utf-8")
    assert "cut.html" not in page and "cut.ipynb" not in page
    assert 'href="done.html"' in page
    assert "2000 over budget" in page and "1 over the memory budget" in page
    assert "outdated" in page  # its notebook is gone
    (row,) = read_results(out)["runs"]
    assert (row["run_id"], row["over_budget"], row["stale"]) == ("done", True, True)


def _wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.1)


def test_a_killed_run_is_incomplete_and_runs_again(tmp_path, capsys):
    """SIGKILL in the middle of a (forced) re-run: the old outputs are not linked as complete."""
    psutil = pytest.importorskip("psutil")
    if os.name != "posix":
        pytest.skip("needs SIGKILL")
    src = tmp_path / "src"
    src.mkdir()
    notebook = _notebook(
        src / "slow.ipynb",
        nbformat.v4.new_code_cell(
            "import os, time\n"
            "if os.path.exists('sleep.flag'):\n"
            "    open('started', 'w').close()\n"
            "    deadline = time.time() + 60\n"
            "    while os.path.exists('sleep.flag') and time.time() < deadline:\n"
            "        time.sleep(0.1)\n"
            "print('finished')"
        ),
    )
    out = tmp_path / "reports"
    assert main(["report", str(notebook), "--out", str(out)]) == 0  # complete
    capsys.readouterr()
    status = out / f"slow{STATUS_SUFFIX}"
    assert status.is_file()

    (src / "sleep.flag").touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnkit", "report", str(notebook), "--out", str(out), "--force"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(src / "started", timeout=90)  # --force started it again
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        for p in family:  # the command and the kernel it started, at once
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        (src / "sleep.flag").unlink(missing_ok=True)
        if proc.poll() is None:
            proc.kill()
    assert not status.exists()  # deleted before the notebook started: not complete
    page = write_index(out).read_text(encoding="utf-8")
    assert "slow" not in page

    assert main(["report", str(notebook), "--out", str(out)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("ok") and "up to date" not in line  # ran again, not skipped
    assert status.is_file() and 'href="slow.html"' in (out / "index.html").read_text()
    assert "finished" in stream_text(nbformat.read(out / "slow.ipynb", as_version=4))
    assert "sleep.flag" in (out / "slow.html").read_text(encoding="utf-8")  # the code

    # Up to date, so not run again; --no-input only renders the HTML again, without code.
    assert main(["report", str(notebook), "--out", str(out), "--no-input"]) == 0
    assert "(up to date, not re-run)" in capsys.readouterr().out
    page = (out / "slow.html").read_text(encoding="utf-8")
    assert "sleep.flag" not in page and "finished" in page
    assert json.loads(status.read_text())["html_input"] is False
    assert_no_temporary_files(out)


# --- memory ---------------------------------------------------------------------------


def test_peak_memory_counts_the_kernel_and_its_children(tmp_path, capsys):
    """The kernel holds 300 MB while a child process holds 200 MB more: >= 500 MB."""
    notebook = _notebook(
        tmp_path / "memory.ipynb",
        nbformat.v4.new_code_cell(
            "import subprocess, sys\n"
            "held = b'x' * (300 * 2**20)\n"
            "child = 'x = b\"x\" * (200 * 2**20); import time; time.sleep(1.5)'\n"
            "subprocess.run([sys.executable, '-c', child], check=True)\n"
            "del held"
        ),
    )
    out = tmp_path / "reports"
    assert main(["report", str(notebook), "--out", str(out), "--memory-budget-mb", "400"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "(over the 400 MB memory budget)" in line
    (row,) = read_results(out)["runs"]
    assert row["peak_memory_mb"] >= 500
    assert row["over_budget"] is True
    assert "over budget" in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmHWM from /proc")
def test_memory_monitor_sees_a_peak_that_was_freed_before_it_looked():
    """The kernel's own high-water mark counts, however short the spike and the polling."""
    code = (
        "import sys\n"
        "x = b'x' * (300 * 2**20)\n"
        "del x\n"
        "print('freed', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "freed"
        monitor = MemoryMonitor(interval=60)  # one sample on attach, no polling in time
        monitor.attach(proc.pid)
        peak = monitor.stop()
    finally:
        proc.communicate("")
    assert peak is not None and peak >= 300


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
    (row,) = read_results(out)["runs"]
    assert row["peak_memory_mb"] > 100 and row["seconds"] > 0
    assert_no_temporary_files(out)
