"""The graded exercises (exercises/source/<lesson>/<lesson>.ipynb, nbgrader format), their
release and the command line around them (cnnkit.grading, ``cnnkit exercises ...``).

Every lesson folder under exercises/source/ is picked up: a new lesson is tested by adding it.
Here: the sources' format, the student release (no solution, no hidden test), the guide, bad
requests and the CLI. Grading end to end (the round trip and the adversarial students) is in
test_grading_autograde.py, the grading machinery piece by piece in test_grading_units.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from cnnkit import checks, cli, grading

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
LESSONS = sorted(p.name for p in (EXERCISES / "source").iterdir()
                 if p.is_dir() and (p / f"{p.name}.ipynb").is_file())
# Seconds per cell in the round trip: the infinite loop costs this much per lesson. The slowest
# reference cell takes 1-6 s on a loaded 2-core machine (the first torch import, meta-device
# tracing); 20 leaves room for a slower machine without a flaky full-marks test.
TIMEOUT = 20

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def source_path(lesson: str) -> Path:
    return EXERCISES / "source" / lesson / f"{lesson}.ipynb"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def parts_with_answers(nb) -> list[tuple[str, float, list[str]]]:
    """[(test cell grade_id, points, [grade_ids of the answer cells since the previous test])]."""
    parts, answers = [], []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution"):
            answers.append(meta["grade_id"])
        elif meta.get("grade"):
            parts.append((meta["grade_id"], float(meta["points"]), answers))
            answers = []
    return parts


def test_every_lesson_folder_is_found():
    assert LESSONS, "no exercises/source/<lesson>/<lesson>.ipynb"
    assert grading.lessons() == LESSONS
    assert grading.lessons(EXERCISES) == LESSONS
    # every lesson notebook has its graded exercises, under the same name
    course = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    assert LESSONS == course


# --- the sources: nbgrader format -------------------------------------------------------------


@pytest.mark.parametrize("lesson", LESSONS)
def test_source_is_valid_nbgrader(lesson):
    nb = read(source_path(lesson))
    nbformat.validate(nb)
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    assert len(ids) == len(nb.cells), "every cell is an nbgrader cell (instructions locked)"
    previous = None
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        gid = meta["grade_id"]
        assert meta["schema_version"] == 3, gid
        assert not cell.get("outputs"), f"{gid}: store the source without outputs"
        has_solution = "### BEGIN SOLUTION" in cell.source
        has_hidden = "### BEGIN HIDDEN TESTS" in cell.source
        if meta["solution"]:
            assert cell.cell_type == "code" and not meta["grade"] and not meta["locked"], gid
            assert has_solution and "### END SOLUTION" in cell.source, gid
        elif meta["grade"]:
            assert cell.cell_type == "code" and meta["locked"], f"{gid}: lock the test cells"
            assert meta["points"] > 0, gid
            assert has_hidden and "### END HIDDEN TESTS" in cell.source, f"{gid}: hidden tests"
            visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
            assert "assert" in visible, f"{gid}: visible tests come before the hidden ones"
            # nbgrader puts a deleted test cell back after the previous answer or test cell
            # (OverwriteCells.add_missing_grade_cells): keep each test right after its answer
            assert previous is not None and nbgrader_meta(previous)["solution"], (
                f"{gid}: a test cell must directly follow its answer cell")
        else:
            assert meta["locked"], f"{gid}: instructions and given code are read-only"
            assert not has_solution and not has_hidden, gid
        previous = cell


@pytest.mark.parametrize("lesson", LESSONS)
def test_source_has_graded_parts_and_states_the_total(lesson):
    nb = read(source_path(lesson))
    parts = grading.graded_parts(nb)
    assert len(parts) >= 3, "at least three graded parts per lesson"
    total = sum(points for _, points in parts)
    header = nb.cells[0]
    assert header.cell_type == "markdown" and header.source.startswith("# ")
    assert not re.search(r"^ {4}", header.source, re.M), "indented: markdown would show code"
    stated = re.search(r"\*\*Total: (\d+) points\*\*", header.source)
    assert stated and float(stated.group(1)) == total, (
        f"the header must state the total, {total:g} points")
    for gid, points in parts:  # and each part's points where the part is described
        assert f"`{gid}` | {points:g} |" in header.source, gid
    assert all(answers for _, _, answers in parts_with_answers(nb))



def _top_level_names(source: str) -> set[str]:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: not an answer cell
        return set()
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.parametrize("lesson", LESSONS)
def test_no_graded_part_asks_for_what_a_lesson_exercise_asks_for(lesson):
    """A graded part is not a copy of a self-checked exercise of its lesson: no function or
    class the graded solutions define is one that the lesson's exercise stubs ask for (the
    lesson gives immediate feedback on those; the graded parts ask for a variant)."""
    lesson_nb = read(ROOT / "notebooks" / f"{lesson}.ipynb")
    asked = set().union(*(_top_level_names(c.source) for c in lesson_nb.cells
                          if c.cell_type == "code" and "NotImplementedError" in c.source))
    graded = set().union(*(_top_level_names(c.source) for c in read(source_path(lesson)).cells
                           if c.cell_type == "code" and nbgrader_meta(c).get("solution")))
    assert graded, f"{lesson}: no graded answer defines a function or class"
    assert not asked & graded, (f"{lesson}: the graded parts ask again for the lesson's "
                                f"exercise(s) {sorted(asked & graded)}")


def test_the_instructor_guide_lists_every_lesson_with_its_parts_and_points():
    guide = (EXERCISES / "README.md").read_text(encoding="utf-8")
    n_parts = n_points = 0
    for lesson in LESSONS:
        parts = grading.graded_parts(source_path(lesson))
        points = sum(p for _, p in parts)
        assert f"| `{lesson}` | {len(parts)} | {points:g} |" in guide, lesson
        n_parts, n_points = n_parts + len(parts), n_points + points
    assert f"Total: {n_points:g} points in {n_parts} parts." in guide

# --- release -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    pytest.importorskip("nbgrader", reason="pip install 'cnnkit[instructor]'")
    out = tmp_path_factory.mktemp("release")
    paths = grading.release(out)
    assert paths == [out / lesson / f"{lesson}.ipynb" for lesson in LESSONS]
    return out


def secret_lines(nb) -> set[str]:
    """Lines that exist only inside solution or hidden-test regions of the source."""
    inside, outside = set(), set()
    for cell in nb.cells:
        regions = SOLUTION.findall(cell.source) + HIDDEN.findall(cell.source)
        rest = HIDDEN.sub("", SOLUTION.sub("", cell.source))
        for region in regions:
            inside.update(line.strip() for line in region.splitlines())
        outside.update(line.strip() for line in rest.splitlines())
    return {line for line in inside - outside if len(line) > 3 and not line.startswith("#")}


def strings(node) -> list[str]:
    """Every string in a JSON document (keys and values), cell sources joined."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        if isinstance(node.get("source"), list):
            node = {**node, "source": "".join(node["source"])}
        return [*node.keys(), *(s for v in node.values() for s in strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


@pytest.mark.parametrize("lesson", LESSONS)
def test_release_has_no_solution_and_no_hidden_test(released, lesson):
    files = [p for p in (released / lesson).rglob("*") if p.is_file()]
    assert [p.name for p in files] == [f"{lesson}.ipynb"]
    raw = files[0].read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert marker not in raw
    # grep -x: no line of a solution or a hidden test is a line of the release, in its cells
    # or anywhere in the file (metadata included)
    released_lines = {line.strip() for text in strings(json.loads(raw))
                      for line in text.splitlines()}
    secrets = secret_lines(read(source_path(lesson)))
    assert len(secrets) > 10
    leaked = sorted(secrets & released_lines)
    assert not leaked, f"in the release: {leaked[:5]}"
    nb = read(files[0])
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code")
    n_stubs = sum("raise NotImplementedError()" in c.source for c in nb.cells
                  if nbgrader_meta(c).get("solution"))
    assert n_stubs == sum(len(a) for _, _, a in parts_with_answers(nb))
    for cell in nb.cells:  # what students must not change is locked
        if nbgrader_meta(cell).get("locked"):
            assert cell.metadata.get("editable") is False, nbgrader_meta(cell)["grade_id"]


# --- what is asked, and the command line -------------------------------------------------------


def test_bad_requests_are_clear(tmp_path):
    with pytest.raises(grading.GradingError, match="submissions folder not found"):
        grading.autograde(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(grading.GradingError, match="no submissions found"):
        grading.autograde(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(grading.GradingError, match="unknown lesson"):
        grading.release(tmp_path / "out", lessons=["99_nothing"])
    with pytest.raises(grading.GradingError, match="no exercises found"):
        grading.lessons(tmp_path)
    (tmp_path / "empty" / "bad name").mkdir()
    _, ignored = grading.find_submissions(tmp_path / "empty", LESSONS)
    assert "student folder name" in ignored[0]


def test_without_nbgrader_the_error_says_what_to_install(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "nbgrader", None)  # import nbgrader -> ImportError
    monkeypatch.setitem(sys.modules, "nbgrader.api", None)
    with pytest.raises(ImportError, match=re.escape(grading.INSTALL_HINT)):
        grading.release(tmp_path / "out")
    assert cli.main(["exercises", "release", "--out", str(tmp_path / "out")]) == 1


def test_cli_release_replaces_an_earlier_release(released, tmp_path, capsys):
    lesson = LESSONS[0]
    stale = tmp_path / lesson / "stale.txt"
    stale.parent.mkdir()
    stale.write_text("from last year")
    assert cli.main(["exercises", "release", "--out", str(tmp_path), "--lesson", lesson]) == 0
    assert str(tmp_path / lesson / f"{lesson}.ipynb") in capsys.readouterr().out
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [lesson]
    assert (tmp_path / lesson / f"{lesson}.ipynb").read_text() == (
        released / lesson / f"{lesson}.ipynb").read_text()
    assert cli.main(["exercises", "release", "--lesson", "99_nothing"]) == 2
    assert "unknown lesson" in capsys.readouterr().err


def test_cli_autograde_usage_errors(tmp_path, capsys):
    assert cli.main(["exercises", "autograde", str(tmp_path / "nope")]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli.main(["exercises", "autograde", str(tmp_path), "--timeout", "0"]) == 2
    assert cli.main(["exercises", "autograde", str(tmp_path), "--jobs", "0"]) == 2
    assert "jobs must be >= 1" in capsys.readouterr().err
    assert cli.main(["exercises"]) == 2


# --- the self-checks the graded tests use --------------------------------------------------------


def test_new_checks_accept_the_references_and_explain_mistakes():
    import numpy as np

    from cnnkit import conv, pool

    def layer(x, w, b, stride, padding):
        return conv.conv2d_loops(x, w, b, stride=stride, padding=padding)

    assert checks.check_conv_layer(layer)
    no_bias = checks.check_conv_layer(lambda x, w, b, s, p: layer(x, w, 0 * b, s, p))
    assert not no_bias and "bias" in no_bias.message
    assert "not attempted" in checks.check_conv_layer(None).message

    def backward(dout, x, w, stride, padding):
        _, dw, db = conv.conv2d_backward(dout, x, w, stride=stride, padding=padding)
        return dw, db

    assert checks.check_conv_backward_dw_db(backward)
    per_image = checks.check_conv_backward_dw_db(
        lambda d, x, w, s, p: (backward(d, x, w, s, p)[0], d.sum(axis=(2, 3))))
    assert not per_image and "db has shape" in per_image.message

    def indices(image, size, stride):
        out, idx = pool.max_pool2d(image[None, None], size, stride, return_indices=True)
        return out[0, 0], idx[0, 0]

    assert checks.check_max_pool_indices(indices)

    def window_positions(image, size, stride):
        out, idx = indices(image, size, stride)
        W = image.shape[1]
        rows, cols = idx // W, idx % W
        i, j = np.indices(idx.shape)
        return out, (rows - i * stride) * size + (cols - j * stride)

    local = checks.check_max_pool_indices(window_positions)
    assert not local and "row * W + column" in local.message

    def raises(*args):
        raise NotImplementedError

    assert "not attempted" in checks.check_max_pool_indices(raises).message
