"""The instructor workflow: release the student versions, autograde a folder of submissions.

``release(out)`` writes ``out/<lesson>/<lesson>.ipynb`` for every lesson; ``autograde(submissions,
out)`` grades ``submissions/<student>/<lesson>.ipynb`` into ``out/grades.csv``, ``totals.csv`` and
feedback. How nbgrader is driven lives in ``nbgrader_glue``; the layout in ``course``.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterable
from pathlib import Path

import nbformat

from cnnkit.grading.course import (
    GradingError,
    exercises_dir,
    find_submissions,
    graded_parts,
    restored_cells,
    select_lessons,
    source_notebook,
)
from cnnkit.grading.nbgrader_glue import (
    Course,
    ErrorRecords,
    check_release,
    close_logger,
    copy_file,
    generate_assignment,
    hidden_test_cells,
    make_logger,
)
from cnnkit.grading.nbgrader_glue import (
    scores as gradebook_scores,
)
from cnnkit.grading.results import GradingResult, PartGrade, write_csvs

__all__ = ["release", "autograde"]


def release(out: str | Path = "build/release", *, exercises: str | Path | None = None,
            lessons: Iterable[str] | None = None) -> list[Path]:
    """Generate the student version of every lesson (or of ``lessons``) into ``out``.

    Writes ``out/<lesson>/<lesson>.ipynb`` (and any other files of the lesson's source
    folder), replacing an earlier release of the same lesson. Solutions are replaced by
    nbgrader's stub (``# YOUR CODE HERE`` / ``raise NotImplementedError()``), hidden tests and
    outputs removed, read-only and test cells locked. Returns the notebooks written.
    Raises ``GradingError`` for unknown lessons, ``ImportError`` without nbgrader, and
    ``RuntimeError`` if nbgrader fails or a solution/hidden-test marker survived.
    """
    base = exercises_dir(exercises)
    names = select_lessons(base, lessons)
    out = Path(out)
    log, handler = make_logger(None)
    written = []
    try:
        with Course(base, names, None, log) as course:
            for lesson in names:
                generate_assignment(course, lesson)
                released = course.root / "release" / lesson
                check_release(released)
                dest = out / lesson
                if dest.exists():
                    shutil.rmtree(dest)
                for file in sorted(p for p in released.rglob("*") if p.is_file()):
                    copy_file(file, dest / file.relative_to(released))
                written.append(dest / f"{lesson}.ipynb")
    finally:
        close_logger(log, handler)
    return written

def autograde(submissions: str | Path, out: str | Path = "build/grades", *,
              exercises: str | Path | None = None, timeout: float | None = None,
              lessons: Iterable[str] | None = None, progress: bool = True) -> GradingResult:
    """Autograde a folder of submissions (one subfolder per student) with nbgrader.

    submissions: ``<student>/<lesson>.ipynb`` or ``<student>/<lesson>/<lesson>.ipynb``.
    out: where ``grades.csv``, ``totals.csv``, ``feedback/<student>/<lesson>.html``,
        ``autograded/<student>/<lesson>.ipynb`` and ``grading.log`` are written.
    timeout: seconds each cell may run (default: ``Execute.timeout`` from
        ``exercises/nbgrader_config.py``, 60). A cell over the limit is interrupted and
        scores as an error; the rest of the notebook is still graded.
    lessons: the lessons to grade (default: every lesson with at least one submission). A
        student without a submission for a graded lesson gets 0 points (status "missing").
    progress: a progress bar (tqdm, on stderr) over the (lesson, student) notebooks;
        False: none.

    Every submission is graded against the current source notebooks (their tests, points and
    hidden tests): keep a lesson's source as it was released while its grading is open.
    Returns a ``GradingResult``. Raises ``GradingError`` for a bad request (no such folder,
    nothing to grade, unknown lesson), ``ImportError`` without nbgrader and ``RuntimeError``
    when a source notebook cannot be turned into an assignment; a submission that nbgrader
    cannot grade is reported in ``result.failed`` (and scores 0), not raised.
    """
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise GradingError(f"timeout must be a positive number of seconds; got {timeout!r}")
    base = exercises_dir(exercises)
    available = select_lessons(base, lessons)
    found, ignored = find_submissions(submissions, available)
    students = sorted({student for student, _ in found})
    # by default, the lessons someone handed in: lessons not yet due do not give everyone zeros
    lessons_ = available if lessons is not None else [
        lesson for lesson in available if any(k[1] == lesson for k in found)]
    if not found:
        raise GradingError(f"no submissions found in {submissions}: expected "
                           f"<student>/<lesson>.ipynb with <lesson> one of "
                           f"{', '.join(available)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = GradingResult(out=out, ignored=ignored)
    log, handler = make_logger(result.log)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(lessons_) * len(students), desc="grading", unit="notebook",
               disable=not progress)
    try:
        with Course(base, lessons_, timeout, log) as course:
            log.info("cnnkit.grading: lessons %s, students %s, %d s per cell", lessons_,
                     students, course.timeout)
            feedback_config = copy.deepcopy(course.config)
            feedback_config.HTMLExporter.template_name = "feedback"
            for lesson in lessons_:
                generate_assignment(course, lesson)
                source = nbformat.read(str(source_notebook(course.root, lesson)), as_version=4)
                released = course.root / "release" / lesson / f"{lesson}.ipynb"
                for student in students:
                    bar.set_postfix_str(f"{lesson}, {student}")
                    _grade_one(course, result, source, released, lesson, student,
                               found.get((student, lesson)), feedback_config)
                    bar.update()
    finally:
        bar.close()
        close_logger(log, handler)
    order = {lesson: i for i, lesson in enumerate(lessons_)}
    result.grades.sort(key=lambda g: (g.student, order[g.lesson]))  # stable: parts stay in order
    write_csvs(result)
    return result


def _grade_one(course: Course, result: GradingResult, source, released: Path, lesson: str,
               student: str, notebook: Path | None, feedback_config) -> None:
    """Grade one student's notebook for one lesson (or record it missing or failed)."""
    key = (student, lesson)
    scores: dict[str, tuple[float, float]] = {}
    if notebook is None:
        result.status[key] = "missing"
    else:
        submitted = course.root / "submitted" / student / lesson / f"{lesson}.ipynb"
        copy_file(notebook, submitted)
        restored = restored_cells(submitted, released)
        if restored:
            result.restored[key] = restored
        edited = {note.split(" ")[0] for note in restored}
        course.checksum_notice.expected = {gid for gid in hidden_test_cells(source)
                                           if gid not in edited}
        course.log.info("cnnkit.grading: grading %s for %s", lesson, student)
        errors = ErrorRecords()
        try:
            course.log.addHandler(errors)
            try:
                course.run("Autograde", lesson, student, force=True, create_student=True)
            finally:
                course.log.removeHandler(errors)
            scores = gradebook_scores(course, lesson, student)
        except Exception as err:  # nbgrader logged the details
            result.status[key] = "failed"
            result.failed[key] = f"{errors.reason() or err} (details in {result.log})"
            scores = {}
        else:
            result.status[key] = "graded"
            autograded = course.root / "autograded" / student / lesson / f"{lesson}.ipynb"
            copy_file(autograded, result.out / "autograded" / student / f"{lesson}.ipynb")
            try:
                course.run("GenerateFeedback", lesson, student, config=feedback_config,
                           force=True)
                html = course.root / "feedback" / student / lesson / f"{lesson}.html"
                result.feedback[key] = copy_file(
                    html, result.out / "feedback" / student / f"{lesson}.html")
            except Exception as err:  # grades stand without feedback
                course.log.error("cnnkit.grading: no feedback for %s, %s: %s", student,
                                 lesson, err)
    for part, most in graded_parts(source):
        points, _ = scores.get(part, (0.0, most))
        result.grades.append(PartGrade(student, lesson, part, points, most))

