"""The graded exercises (exercises/source/<lesson>/<lesson>.ipynb, nbgrader format) and the
instructor workflow around them (cnnkit.grading, ``cnnkit exercises ...``).

Every lesson folder under exercises/source/ is picked up: a new lesson is tested by adding it.
The round trip, per lesson: the student release keeps no solution and no hidden test; the
reference solution scores full marks; the untouched release scores zero without breaking
grading; a submission that edits or deletes test cells is graded with the original tests; an
infinite loop is stopped by the per-cell time limit and a part that raises costs only that
part. The submissions are built from the release generically (no per-lesson code), and all of
them are graded in one ``autograde`` call shared by the tests (nbgrader starts one kernel per
notebook). The gradebook and every nbgrader folder live in temporary directories.
"""

from __future__ import annotations

import csv
import json
import re
import time
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


# --- the round trip ----------------------------------------------------------------------------

STUDENTS = ("reference", "untouched", "tampered", "broken")
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def submission(variant: str, release_nb, source_nb):
    """A student's notebook, built from the release the way students change it."""
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))  # a deep copy
    solutions = {nbgrader_meta(c)["grade_id"]: c.source for c in source_nb.cells
                 if nbgrader_meta(c).get("solution")}
    cells = {nbgrader_meta(c)["grade_id"]: c for c in nb.cells}
    parts = parts_with_answers(source_nb)

    def answer(part: int, source: str | None = None):
        for gid in parts[part][2]:
            cells[gid].source = solutions[gid] if source is None else source

    if variant == "untouched":
        return nb
    for i in range(len(parts)):
        answer(i)
    if variant == "tampered":
        # 1: no answer, and the test cell edited to pass and to be worth more
        answer(0, STUB)
        cells[parts[0][0]].source = "print('all tests pass')"
        nbgrader_meta(cells[parts[0][0]])["points"] = 100
        # 2: right answer, test cell deleted; 3: no answer, test cell deleted
        answer(2, STUB)
        nb.cells = [c for c in nb.cells
                    if nbgrader_meta(c).get("grade_id") not in (parts[1][0], parts[2][0])]
    elif variant == "broken":
        answer(0, "while True:  # a hanging submission\n    pass")
        answer(1, "raise RuntimeError('my code is broken')")
    return nb


def expected_points(variant: str, parts) -> list[float]:
    full = [points for _, points, _ in parts]
    if variant == "reference":
        return full
    if variant == "untouched":
        return [0.0] * len(parts)
    if variant == "tampered":
        return [0.0, full[1], 0.0, *full[3:]]
    if variant == "broken":
        return [0.0, 0.0, *full[2:]]
    raise AssertionError(variant)


# The tests that use this fixture are marked slow: grading every lesson's submissions takes
# about 4 minutes (6 of them are one time limit each).
@pytest.fixture(scope="module")
def graded(released, tmp_path_factory):
    submissions = tmp_path_factory.mktemp("submissions")
    for lesson in LESSONS:
        release_nb = read(released / lesson / f"{lesson}.ipynb")
        source_nb = read(source_path(lesson))
        for student in STUDENTS:
            # both layouts: <student>/<lesson>.ipynb and nbgrader's <student>/<lesson>/...
            folder = submissions / student / (lesson if student == "tampered" else "")
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(submission(student, release_nb, source_nb),
                           str(folder / f"{lesson}.ipynb"))
    (submissions / "reference" / "notes.ipynb").write_text("{}")  # not a lesson: ignored
    # a student who handed in the first lesson only: the others score 0, "missing"
    (submissions / "partial").mkdir()
    nbformat.write(read(released / LESSONS[0] / f"{LESSONS[0]}.ipynb"),
                   str(submissions / "partial" / f"{LESSONS[0]}.ipynb"))
    # a student whose code kills the kernel: that notebook fails, 0 points, the others are graded
    crashed = submission("reference", read(released / LESSONS[0] / f"{LESSONS[0]}.ipynb"),
                         read(source_path(LESSONS[0])))
    first_answer = parts_with_answers(crashed)[0][2][0]
    for cell in crashed.cells:
        if nbgrader_meta(cell).get("grade_id") == first_answer:
            cell.source = "import os\n\nos._exit(1)"
    (submissions / "crashed").mkdir()
    nbformat.write(crashed, str(submissions / "crashed" / f"{LESSONS[0]}.ipynb"))
    out = tmp_path_factory.mktemp("grades")
    start = time.perf_counter()
    result = grading.autograde(submissions, out, timeout=TIMEOUT)
    result.seconds = time.perf_counter() - start
    return result


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def points_of(result, student, lesson) -> list[float]:
    return [g.points for g in result.grades if (g.student, g.lesson) == (student, lesson)]


@pytest.mark.slow
def test_grades_csv(graded):
    rows = csv_rows(graded.grades_csv)
    assert list(rows[0]) == ["student", "lesson", "part", "points", "max"]
    assert len(rows) == len(graded.grades) == (len(STUDENTS) + 2) * sum(  # partial, crashed
        len(grading.graded_parts(source_path(lesson))) for lesson in LESSONS)
    assert [(r["student"], r["lesson"], r["part"], float(r["points"]), float(r["max"]))
            for r in rows] == [(g.student, g.lesson, g.part, g.points, g.max)
                               for g in graded.grades]
    totals = csv_rows(graded.totals_csv)
    assert list(totals[0]) == ["student", "lesson", "points", "max", "status"]
    assert {r["status"] for r in totals if r["student"] in STUDENTS} == {"graded"}
    assert not graded.ok and list(graded.failed) == [("crashed", LESSONS[0])]
    assert [s for s in graded.ignored if "notes.ipynb" in s]


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
@pytest.mark.parametrize("student", STUDENTS)
def test_each_part_scores_as_expected(graded, lesson, student):
    parts = parts_with_answers(read(source_path(lesson)))
    rows = [g for g in graded.grades if (g.student, g.lesson) == (student, lesson)]
    assert [g.part for g in rows] == [gid for gid, _, _ in parts]
    assert [g.max for g in rows] == [points for _, points, _ in parts]  # not the edited 100
    assert points_of(graded, student, lesson) == expected_points(student, parts)
    assert graded.status[(student, lesson)] == "graded"
    feedback = graded.feedback[(student, lesson)]
    assert feedback == graded.out / "feedback" / student / f"{lesson}.html"
    assert "<html" in feedback.read_text(encoding="utf-8").lower()
    assert (graded.out / "autograded" / student / f"{lesson}.ipynb").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_tampered_test_cells_are_restored_and_reported(graded, lesson):
    parts = parts_with_answers(read(source_path(lesson)))
    assert graded.restored[("tampered", lesson)] == [
        f"{parts[0][0]} (edited)", f"{parts[1][0]} (deleted)", f"{parts[2][0]} (deleted)"]
    executed = read(graded.out / "autograded" / "tampered" / f"{lesson}.ipynb")
    tests = {nbgrader_meta(c)["grade_id"]: c for c in executed.cells
             if nbgrader_meta(c).get("grade")}
    source_tests = {nbgrader_meta(c)["grade_id"]: c.source for c in read(source_path(lesson)).cells
                    if nbgrader_meta(c).get("grade")}
    assert tests[parts[0][0]].source == source_tests[parts[0][0]]  # hidden tests included
    for gid, _, _ in parts[1:3]:  # put back (with nbgrader's note) and run
        assert source_tests[gid] in tests[gid].source
        assert tests[gid].get("execution_count")
    # nobody else touched a locked cell; the hidden tests' checksum difference is no tampering
    assert set(graded.restored) == {("tampered", lesson) for lesson in LESSONS}


def log_sections(log: Path) -> dict[tuple[str, str], str]:
    """grading.log split per (student, lesson)."""
    pieces = re.split(r"^\[INFO\] cnnkit\.grading: grading (\S+) for (\S+)$",
                      log.read_text(encoding="utf-8"), flags=re.M)
    return {(student, lesson): text
            for lesson, student, text in zip(pieces[1::3], pieces[2::3], pieces[3::3], strict=True)}


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_checksum_warnings_only_for_real_edits(graded, lesson):
    """nbgrader warns that the checksum of every test cell with hidden tests changed, for
    every submission (the gradebook keeps the checksum computed before the hidden tests were
    removed, nbgrader #1961): the log turns those into notes, real edits stay warnings."""
    sections = log_sections(graded.log)
    checksum = re.compile(r"^\[(\w+)\] Attribute 'checksum' for cell (\S+) has changed", re.M)
    for student in ("reference", "untouched", "broken"):
        found = checksum.findall(sections[(student, lesson)])
        assert found and {level for level, _ in found} == {"INFO"}, student
    edited = parts_with_answers(read(source_path(lesson)))[0][0]
    found = checksum.findall(sections[("tampered", lesson)])
    assert ("WARNING", edited) in found
    assert {cell for level, cell in found if level == "WARNING"} == {edited}


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS)
def test_infinite_loop_is_interrupted(graded, lesson):
    parts = parts_with_answers(read(source_path(lesson)))
    executed = read(graded.out / "autograded" / "broken" / f"{lesson}.ipynb")
    loop = next(c for c in executed.cells if nbgrader_meta(c).get("grade_id") == parts[0][2][0])
    errors = [o for o in loop.outputs if o.output_type == "error"]
    assert errors and {"KeyboardInterrupt", "CellTimeoutError"} & {o.ename for o in errors}
    # the loop cost one time limit per lesson, not the whole run
    assert graded.seconds < len(LESSONS) * (TIMEOUT + 60)


@pytest.mark.slow
def test_a_notebook_that_kills_its_kernel_fails_alone(graded):
    lesson = LESSONS[0]
    assert graded.status[("crashed", lesson)] == "failed"
    assert "DeadKernelError" in graded.failed[("crashed", lesson)]
    assert set(points_of(graded, "crashed", lesson)) == {0.0}
    assert ("crashed", lesson) not in graded.feedback
    for other in LESSONS[1:]:
        assert graded.status[("crashed", other)] == "missing"
    assert all(graded.status[(s, lesson)] == "graded" for s in STUDENTS)


@pytest.mark.slow
def test_the_gradebook_stays_out_of_the_repository(graded):
    for top in ROOT.iterdir():  # not .venv: nbgrader ships a gradebook.db among its own tests
        if top.name not in {".venv", ".git"}:
            assert not list(top.glob("**/gradebook.db")) and top.name != "gradebook.db", top
    assert sorted(p.name for p in EXERCISES.iterdir()) == [
        "README.md", "nbgrader_config.py", "source"]


# --- what is asked, and the command line -------------------------------------------------------


@pytest.mark.slow
def test_missing_submissions_score_zero(graded):
    assert points_of(graded, "partial", LESSONS[0]) == [0.0] * len(
        grading.graded_parts(source_path(LESSONS[0])))
    assert graded.status[("partial", LESSONS[0])] == "graded"
    for lesson in LESSONS[1:]:
        assert graded.status[("partial", lesson)] == "missing"
        assert points_of(graded, "partial", lesson) == [0.0] * len(
            grading.graded_parts(source_path(lesson)))
        assert ("partial", lesson) not in graded.feedback
    totals = {(r["student"], r["lesson"]): r for r in csv_rows(graded.totals_csv)}
    assert totals[("partial", LESSONS[-1])]["status"] == ("missing" if len(LESSONS) > 1
                                                           else "graded")


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
