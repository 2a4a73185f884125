"""Autograding end to end (``cnnkit.grading.autograde``), in ONE shared run over one folder that
holds every student of these tests: the round trip of every lesson (reference solution, the
untouched release, edited and deleted test cells, a hanging and a raising answer, a missing and a
crashing notebook) and the adversarial students of ``grading_students`` (library bypass, key
lookup, tampering, theft and sabotage, resource abuse, honest variants), built from the released
notebooks, with the points expected per part. Each notebook runs in its own bubblewrap sandbox
(skipped with the reason when bwrap is missing). A second call on the same folders checks that a
re-run resumes without running anything.

The run grades 25 notebooks plus one reference run per lesson (5-8 minutes on a loaded 2-core
machine; marked slow); two smaller runs check --jobs and a grader killed halfway. The saved
verdicts, the sandboxes and every temporary file live in pytest's temporary folders.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from pathlib import Path

import grading_students
import nbformat
import pytest

from cnnkit import grading
from cnnkit.grading import feedback

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
LESSONS = grading.lessons(EXERCISES)
SECRET = "ci-test-secret"
# Seconds per cell: the slowest reference cell takes 1-6 s on a loaded 2-core machine (the first
# torch import); 20 leaves room without a flaky full-marks test. A hang costs this much.
TIMEOUT = 20
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
# the round trip: (student, lessons)
ROUND_TRIP = {"reference": LESSONS, "untouched": LESSONS, "tampered": LESSONS[:1],
              "broken": LESSONS[:1]}


def source_nb(lesson: str) -> nbformat.NotebookNode:
    return nbformat.read(str(EXERCISES / "source" / lesson / f"{lesson}.ipynb"), as_version=4)


def meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def parts_with_answers(nb) -> list[tuple[str, float, list[str]]]:
    """[(test cell grade_id, points, [grade_ids of the answer cells since the previous test])]."""
    parts, answers = [], []
    for cell in nb.cells:
        if meta(cell).get("solution"):
            answers.append(meta(cell)["grade_id"])
        elif meta(cell).get("grade"):
            parts.append((meta(cell)["grade_id"], float(meta(cell)["points"]), answers))
            answers = []
    return parts


def submission(variant: str, release_nb, source):
    """A round-trip student's notebook, built from the release the way students change it."""
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    solutions = {meta(c)["grade_id"]: c.source for c in source.cells if meta(c).get("solution")}
    cells = {meta(c)["grade_id"]: c for c in nb.cells}
    parts = parts_with_answers(source)

    def answer(part: int, code: str | None = None):
        for gid in parts[part][2]:
            cells[gid].source = solutions[gid] if code is None else code

    if variant == "untouched":
        return nb
    for i in range(len(parts)):
        answer(i)
    if variant == "tampered":
        # 1: no answer, and the test cell edited to pass and to be worth more
        answer(0, STUB)
        cells[parts[0][0]].source = "print('all tests pass')"
        meta(cells[parts[0][0]])["points"] = 100
        # 2: right answer, test cell deleted; 3: no answer, test cell deleted
        answer(2, STUB)
        nb.cells = [c for c in nb.cells
                    if meta(c).get("grade_id") not in (parts[1][0], parts[2][0])]
    elif variant == "broken":
        answer(0, "while True:  # a hanging submission\n    pass")
        answer(1, "raise RuntimeError('my code is broken')")
    return nb


def round_trip_points(variant: str, parts) -> list[float]:
    full = [points for _, points, _ in parts]
    return {"reference": full, "untouched": [0.0] * len(parts),
            "tampered": [0.0, full[1], 0.0, *full[3:]],
            "broken": [0.0, 0.0, *full[2:]]}[variant]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One autograde over every student; returns (result, expected, folders, seconds)."""
    if not shutil.which("bwrap"):
        pytest.skip("bubblewrap (bwrap) is not installed: the graded kernels run in it")
    pytest.importorskip("nbgrader", reason="pip install 'cnnkit[instructor]'")
    base = tmp_path_factory.mktemp("grading")
    release, submissions, out = base / "release", base / "submissions", base / "grades"
    grading.release(release)
    expected: dict[tuple[str, str], list[float]] = {}
    for student, lessons in ROUND_TRIP.items():
        for lesson in lessons:
            release_nb = nbformat.read(str(release / lesson / f"{lesson}.ipynb"), as_version=4)
            # both layouts: <student>/<lesson>.ipynb and nbgrader's <student>/<lesson>/...
            folder = submissions / student / (lesson if student == "tampered" else "")
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(submission(student, release_nb, source_nb(lesson)),
                           str(folder / f"{lesson}.ipynb"))
            expected[(student, lesson)] = round_trip_points(
                student, parts_with_answers(source_nb(lesson)))
    (submissions / "reference" / "notes.ipynb").write_text("{}")  # not a lesson: ignored
    first = LESSONS[0]
    (submissions / "partial").mkdir()  # the untouched first lesson only: 0, others "missing"
    shutil.copy(release / first / f"{first}.ipynb", submissions / "partial")
    crashed = submission("reference", nbformat.read(str(release / first / f"{first}.ipynb"),
                                                    as_version=4), source_nb(first))
    answer = parts_with_answers(crashed)[0][2][0]
    for cell in crashed.cells:
        if meta(cell).get("grade_id") == answer:
            cell.source = "import os\n\nos._exit(1)"
    (submissions / "crashed").mkdir()
    nbformat.write(crashed, str(submissions / "crashed" / f"{first}.ipynb"))
    context = {"repo": str(ROOT), "out": str(out), "submissions": str(submissions),
               "pid": os.getpid()}
    for key, points in grading_students.build(release, source_nb, submissions,
                                              context).items():
        full = [p for _, p in grading.graded_parts(source_nb(key[1]))]
        expected[key] = [float(p) for p in points] if points is not None else full
    sources_before = sorted(p.name for p in (EXERCISES / "source").rglob("*"))
    start = time.perf_counter()
    result = grading.autograde(submissions, out, timeout=TIMEOUT, secret=SECRET,
                               progress=False)
    seconds = time.perf_counter() - start
    return result, expected, {"submissions": submissions, "out": out, "release": release,
                              "sources_before": sources_before}, seconds


def points_of(result, student, lesson) -> list[float]:
    return [g.points for g in result.grades if (g.student, g.lesson) == (student, lesson)]


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_part_scores_as_expected(run):
    result, expected, _, _ = run
    wrong = {key: (points_of(result, *key), want) for key, want in expected.items()
             if points_of(result, *key) != want}
    assert not wrong, {k: (v, result.part_feedback.get(k)) for k, v in wrong.items()}
    for key in expected:
        if key != ("crashed", LESSONS[0]):
            assert result.status[key] == "graded", key


def test_bypass_is_named_in_the_feedback(run):
    result, expected, _, _ = run
    for (student, lesson), points in expected.items():
        if not student.startswith("bypass"):
            continue
        lines = result.part_feedback[(student, lesson)]
        for (part, _), got in zip(grading.graded_parts(source_nb(lesson)), points,
                                     strict=True):
            if got == 0 and part != "parameter_counts":  # that one: a wrong key, not a call
                assert "forbids" in lines[part] or "did not run" in lines[part], lines[part]
    bypass = result.part_feedback[("bypass", LESSONS[0])]
    for part in ("conv_single", "conv_layer", "depthwise_conv", "output_size"):
        assert "forbids" in bypass[part], bypass[part]  # the visible checks passed, then caught


def test_evading_an_in_kernel_detector_does_not_pay(run):
    """A profiler hook switched off, torch called from C, scipy in a thread started before the
    watch: a detector in the student's kernel sees none of it; the clean-room run (the
    forbidden packages hidden from the sandbox) leaves the code nothing to call."""
    result, _, _, _ = run
    lines = result.part_feedback[("evade", "01_convolution")]
    for part in ("conv_single", "conv_layer", "depthwise_conv"):
        assert lines[part].startswith("✘") and "forbids" in lines[part], lines[part]
        assert "hidden" in lines[part], lines[part]
    assert lines["output_size"].startswith("✔") and lines["conv_backward"].startswith("✔")


def test_tampering_cannot_change_a_verdict(run):
    result, _, _, _ = run
    lines = result.part_feedback[("tamper", "01_convolution")]
    assert "more than once" in lines["output_size"]  # a made-up hand-in after the real one
    assert "wrong values" in lines["conv_single"] or "shape" in lines["conv_single"]
    assert "forbids" in lines["conv_layer"]  # an input transformer swapped in torch's conv
    assert "✘" in lines["depthwise_conv"] and "✘" in lines["conv_backward"]


def test_csvs_are_complete_and_atomic(run):
    result, _, folders, _ = run
    rows = csv_rows(result.grades_csv)
    assert list(rows[0]) == ["student", "lesson", "part", "points", "max"]
    assert [(r["student"], r["lesson"], r["part"], float(r["points"]), float(r["max"]))
            for r in rows] == [(g.student, g.lesson, g.part, g.points, g.max)
                               for g in result.grades]
    totals = csv_rows(result.totals_csv)
    assert list(totals[0]) == ["student", "lesson", "points", "max", "status"]
    assert not result.ok and list(result.failed) == [("crashed", LESSONS[0])]
    assert [s for s in result.ignored if "notes.ipynb" in s]
    assert not list(folders["out"].glob(".*.tmp")), "a temporary file of an atomic write"


def test_tampered_test_cells_are_restored_and_reported(run):
    result, _, folders, _ = run
    for lesson in ROUND_TRIP["tampered"]:
        parts = parts_with_answers(source_nb(lesson))
        assert result.restored[("tampered", lesson)] == [
            f"{parts[0][0]} (edited)", f"{parts[1][0]} (deleted)", f"{parts[2][0]} (deleted)"]
        executed = nbformat.read(str(folders["out"] / "autograded" / "tampered" /
                                     f"{lesson}.ipynb"), as_version=4)
        tests = {meta(c)["grade_id"]: c for c in executed.cells if meta(c).get("grade")}
        for gid, _, _ in parts[:3]:  # the original, its hidden tests left out, and it ran
            original = next(c.source for c in source_nb(lesson).cells
                            if meta(c).get("grade_id") == gid)
            assert tests[gid].source == feedback.HIDDEN.sub(feedback._NOTE, original)
            assert tests[gid].get("execution_count")
    assert {k for k in result.restored} == {("tampered", lesson)
                                            for lesson in ROUND_TRIP["tampered"]}


def outputs_of(path: Path) -> str:
    """Everything a notebook's code cells printed (not their code)."""
    nb = nbformat.read(str(path), as_version=4)
    return json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])


def hidden_lines(nb) -> set[str]:
    """Lines only the hidden tests have (a line the visible part also shows is no secret)."""
    inside, outside = set(), set()
    for cell in nb.cells:
        for region in feedback.HIDDEN.findall(cell.source):
            inside.update(line.strip() for line in region.splitlines() if len(line.strip()) > 3)
        outside.update(line.strip() for line in feedback.HIDDEN.sub("", cell.source).splitlines())
    return inside - outside


def test_feedback_never_shows_solutions_or_hidden_tests(run):
    result, _, folders, _ = run
    for (student, lesson), html in result.feedback.items():
        text = html.read_text(encoding="utf-8")
        assert "<html" in text.lower() and "Grades:" in text and "BEGIN HIDDEN TESTS" not in text
        path = folders["out"] / "autograded" / student / f"{lesson}.ipynb"
        nb = nbformat.read(str(path), as_version=4)
        texts = [c.source for c in nb.cells] + [json.dumps(c.get("outputs", [])) for c in nb.cells]
        lines = {line.strip() for t in texts for line in t.replace("\\n", "\n").splitlines()}
        secrets = hidden_lines(source_nb(lesson))
        if student in ("untouched", "partial"):  # no answer of theirs is a solution line
            secrets |= feedback.secret_lines(source_nb(lesson))
        assert not secrets & lines, (student, lesson, sorted(secrets & lines)[:3])
        assert "vnd.cnnkit" not in outputs_of(path)


def test_the_kernel_can_neither_read_nor_write_outside_its_folder(run):
    result, _, folders, _ = run
    thief = outputs_of(folders["out"] / "autograded" / "thief" / "02_pooling.ipynb")
    for leaked in ("BEGIN SOLUTION", "grade_id", "wrote /", "CNNKIT_GRADING_SECRET=", SECRET,
                   "nbgrader"):
        assert leaked not in thief, leaked
    assert "could not write" in thief and "ProcessLookupError" in thief
    time.sleep(8)  # the thief's daemon would have struck by now (it died with its sandbox)
    assert sorted(p.name for p in (EXERCISES / "source").rglob("*")) == folders[
        "sources_before"], "a file was planted in exercises/source"
    assert csv_rows(result.grades_csv)[0]["student"] != "hacked"
    assert "hacked" not in result.grades_csv.read_text()
    honest = folders["submissions"] / "honest" / "01_convolution.ipynb"
    assert nbformat.read(str(honest), as_version=4).cells, "another submission was overwritten"
    assert points_of(result, "honest", "01_convolution") == [
        p for _, p in grading.graded_parts(source_nb("01_convolution"))]


def test_resources_are_limited_and_cost_only_the_abuser(run):
    _, _, folders, _ = run
    hog = outputs_of(folders["out"] / "autograded" / "hog" / "02_pooling.ipynb")
    for refused in ("memory refused", "disk refused", "fork refused", "network refused"):
        assert refused in hog, refused
    assert "allocated 6 GiB" not in hog and "network reached" not in hog


def test_review_lists_tampering_for_a_person(run):
    result, _, _, _ = run
    rows = csv_rows(result.out / "review.csv")
    assert list(rows[0]) == ["student", "lesson", "flag", "detail"]
    flags = {(r["student"], r["flag"]) for r in rows}
    for flag in ("touches sys.modules", "registers an input or AST transformer",
                 "patches a module (assigns to a module attribute)",
                 "handed in more than once"):
        assert ("tamper", flag) in flags, flag
    assert ("thief", "reads files outside its folder") in flags
    assert ("thief", "starts processes or sends signals") in flags
    assert ("hog", "uses the network") in flags
    assert ("bypass", "called a forbidden reference") in flags
    assert not {s for s, flag in flags if flag != "similar code"} & {
        "honest", "reference", "untouched"}


def test_infinite_loop_is_interrupted_and_costs_one_time_limit(run):
    result, _, folders, seconds = run
    lesson = LESSONS[0]
    parts = parts_with_answers(source_nb(lesson))
    executed = nbformat.read(str(folders["out"] / "autograded" / "broken" / f"{lesson}.ipynb"),
                             as_version=4)
    loop = next(c for c in executed.cells if meta(c).get("grade_id") == parts[0][2][0])
    assert {o.get("ename") for o in loop.outputs if o.output_type == "error"} & {
        "KeyboardInterrupt", "CellTimeoutError"}
    n_runs = len({k for k in result.status if result.status[k] != "missing"}) + len(LESSONS)
    assert seconds < n_runs * 60 + TIMEOUT


def test_a_notebook_that_kills_its_kernel_fails_alone(run):
    result, _, _, _ = run
    lesson = LESSONS[0]
    assert result.status[("crashed", lesson)] == "failed"
    assert "DeadKernelError" in result.failed[("crashed", lesson)]
    assert set(points_of(result, "crashed", lesson)) == {0.0}
    assert ("crashed", lesson) not in result.feedback
    for other in LESSONS[1:]:
        assert result.status[("crashed", other)] == "missing"
        assert set(points_of(result, "partial", other)) == {0.0}


def test_nothing_is_left_behind(run):
    _, _, folders, _ = run
    assert not (folders["out"] / ".work").exists()
    for top in ROOT.iterdir():  # not .venv: nbgrader ships a gradebook.db among its own tests
        if not top.name.startswith((".venv", ".git")):
            assert not list(top.glob("**/gradebook.db")) and top.name != "gradebook.db", top
    assert sorted(p.name for p in EXERCISES.iterdir()) == [
        "README.md", "nbgrader_config.py", "source"]


def test_a_rerun_resumes_without_running_anything(run):
    result, _, folders, _ = run
    start = time.perf_counter()
    again = grading.autograde(folders["submissions"], folders["out"], timeout=TIMEOUT,
                              secret=SECRET, progress=False)
    assert time.perf_counter() - start < 30  # no kernel started: every verdict was saved
    assert [(g.student, g.lesson, g.part, g.points) for g in again.grades] == [
        (g.student, g.lesson, g.part, g.points) for g in result.grades]
    assert "verdict reused" in again.log.read_text(encoding="utf-8")
    assert re.search(r"grading \S+ for", again.log.read_text(encoding="utf-8")) is None


def test_similar_answers_are_listed_for_a_person(run):
    result, _, _, _ = run
    rows = csv_rows(result.out / "similarity.csv")
    assert list(rows[0]) == ["student", "lesson", "part", "compared_with", "score"]
    score = {(r["student"], r["lesson"], r["part"], r["compared_with"]): float(r["score"])
             for r in rows}
    assert score[("reference", "01_convolution", "conv_layer", "reference")] == 1.0
    assert score[("honest", "01_convolution", "conv_layer", "reference")] < 0.5
    assert score[("hog", "02_pooling", "max_pool_indices", "thief")] == 1.0
    flagged = {(r["student"], r["detail"]) for r in csv_rows(result.out / "review.csv")
               if r["flag"] == "similar code"}
    assert ("hog", "max_pool_indices: answer shared with thief (100%)") in flagged
    assert not [s for s, detail in flagged if s == "honest" and "conv_layer" in detail]
    assert not [r for r in rows if r["part"] == "parameter_counts"]  # numbers: not compared


def test_jobs_grade_the_same_as_one_at_a_time(run, tmp_path):
    result, _, folders, _ = run
    lesson, students = "02_pooling", ("bypass", "thief", "untouched")
    for student in students:  # a smaller class: the same notebooks
        (tmp_path / "class" / student).mkdir(parents=True)
        shutil.copy(folders["submissions"] / student / f"{lesson}.ipynb",
                    tmp_path / "class" / student)
    parallel = grading.autograde(tmp_path / "class", tmp_path / "jobs", timeout=TIMEOUT,
                                 secret=SECRET, progress=False, lessons=[lesson], jobs=2)
    assert "2 at once" in parallel.log.read_text(encoding="utf-8")

    def rows(res, name):
        return [r for r in csv_rows(res.out / name) if r["lesson"] == lesson
                and r["student"] in students and r.get("flag") != "similar code"]

    for name in ("grades.csv", "totals.csv", "review.csv"):
        assert rows(parallel, name) == rows(result, name), name


def test_a_grader_killed_halfway_leaves_no_sources_and_resumes(run, tmp_path):
    import signal
    import subprocess
    import sys

    _, _, folders, _ = run
    lesson, students = "02_pooling", ("bypass", "thief", "untouched")
    for student in students:
        (tmp_path / "class" / student).mkdir(parents=True)
        shutil.copy(folders["submissions"] / student / f"{lesson}.ipynb",
                    tmp_path / "class" / student)
    out = tmp_path / "killed"
    grader = subprocess.Popen([sys.executable, "-m", "cnnkit", "exercises", "autograde",
                               str(tmp_path / "class"), "--out", str(out), "--lesson", lesson,
                               "--secret", SECRET, "--timeout", str(TIMEOUT)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(out.glob(".state/*/*.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    grader.send_signal(signal.SIGTERM)
    assert grader.wait(timeout=60) != 0
    assert list(out.glob(".state/*/*.json")), "nothing was graded before the kill"
    assert not (out / ".work").exists(), "the work folder outlived the grader"
    secrets = hidden_lines(source_nb(lesson)) | {"BEGIN HIDDEN TESTS"}
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert not [line for line in secrets if line in text], path
    done = len(list(out.glob(".state/*/*.json")))
    resumed = grading.autograde(tmp_path / "class", out, timeout=TIMEOUT, secret=SECRET,
                                progress=False, lessons=[lesson])
    assert resumed.log.read_text(encoding="utf-8").count("verdict reused") == done
    assert [g.points for g in resumed.grades] == [
        g.points for g in run[0].grades if g.lesson == lesson and g.student in students]
