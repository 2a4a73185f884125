"""``autograde``: grade a folder of submissions, trusting nothing the grader does not own.

The pipeline, per run:

1. every submission is copied into ``out/.work`` and hashed (SHA-256) before any is run; the
   source notebooks are hashed too, and re-checked before each lesson (a changed source stops
   the run: ``RuntimeError``);
2. per lesson, the reference solution (the source notebook) runs once in a sandbox on the
   hidden inputs drawn from the secret: its hand-ins are the references, kept in memory;
3. per submission: ``execute.assemble`` (original locked cells, hidden tests included), one
   sandboxed kernel (``sandbox``), the hand-ins decoded and judged by the grader code, outside
   the kernel (``handin.verdict``): a part scores when every output matches and nothing
   forbidden was called. Errors, stderr or warnings of the student's kernel cost nothing by
   themselves. Submissions are graded one at a time, ``jobs`` at once (threads, each with its
   own sandbox), or as one task each on a Dask cluster (``scheduler``; the task runs the same
   code on a worker and returns the verdict as data: ``cnnkit.grading.remote``);
4. each verdict is saved by this process (the cluster's too) in
   ``out/.state/<student>/<lesson>.json`` (atomically): a re-run resumes,
   regrading only what changed (submission, source, secret, sandbox);
5. ``grades.csv``, ``totals.csv`` and ``review.csv`` are written atomically
   (``cnnkit._atomic.write_atomic``) and checked against the saved verdicts.

``out/.work`` holds only submissions and the sandboxes' folders (never a solution or a hidden
test: the notebook a kernel runs is not written to disk); it is deleted at the end, on Ctrl-C
or SIGTERM, and at the start of the next run if the grader was killed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import shutil
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from cnnkit._atomic import write_atomic
from cnnkit._validate import check_int
from cnnkit.grading import execute, feedback, handin, remote, review, similarity
from cnnkit.grading import sandbox as sandboxing
from cnnkit.grading.course import (
    GradingError,
    exercises_dir,
    find_submissions,
    graded_parts,
    restored_cells,
    select_lessons,
    source_notebook,
)
from cnnkit.grading.results import GradingResult, PartGrade, write_csvs
from cnnkit.grading.secret import fingerprint, lesson_seed, resolve_secret
from cnnkit.grading.state import (
    SavedVerdict,
    check_csv_against_verdicts,
    load_verdict,
    save_verdict,
    verdict_path,
)

__all__ = ["autograde", "REVIEW_COLUMNS"]

REVIEW_COLUMNS = ("student", "lesson", "flag", "detail")
_STATE_VERSION = 2  # 2: parts that forbid packages are graded in a clean room


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def configured_timeout(exercises: Path) -> int:
    """``Execute.timeout`` of ``exercises/nbgrader_config.py`` (60 if unset)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    path = exercises / "nbgrader_config.py"
    if path.is_file():
        config.merge(PyFileConfigLoader(path.name, path=str(exercises)).load_config())
    return int(config.Execute.get("timeout") or 60)


@dataclass
class _Settings:
    timeout: int
    sandboxed: bool
    secret: str
    limits: sandboxing.Limits
    log: logging.Logger
    jobs: int = 1
    scheduler: object = None  # a ``distributed.Client`` (``remote.connected``)

    def key(self) -> dict:
        return {"secret": fingerprint(self.secret), "sandbox": self.sandboxed,
                "timeout": self.timeout}


@dataclass
class _Lesson:
    name: str
    source: nbformat.NotebookNode
    sha: str
    parts: list[tuple[str, float]]
    secrets: set[str]
    references: dict[str, dict] | None = None
    release_view: Path | None = None
    # clean rooms: {packages hidden: parts graded in a run without them} (``_clean_rooms``)
    rooms: dict[tuple[str, ...], list[str]] = field(default_factory=dict)


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that the clean-up runs (a ``KeyboardInterrupt``:
    callers treat both alike)."""


@contextlib.contextmanager
def _cleanup_on_term() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _workspace(out: Path) -> Iterator[Path]:
    """``out/.work``: emptied at the start (a killed run's leftovers) and deleted at the end."""
    work = out / ".work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(mode=0o700)
    try:
        with _cleanup_on_term():
            yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _copy_submissions(found: dict[tuple[str, str], Path], work: Path
                      ) -> dict[tuple[str, str], tuple[Path, str]]:
    """Copy and hash every submission before any runs: ``{key: (copy, sha256)}``."""
    copies = {}
    for (student, lesson), path in sorted(found.items()):
        data = path.read_bytes()
        copy = work / "submitted" / student / f"{lesson}.ipynb"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(data)
        copies[(student, lesson)] = (copy, _sha256(data))
    return copies


def _load_lesson(base: Path, name: str) -> _Lesson:
    data = source_notebook(base, name).read_bytes()
    source = nbformat.reads(data.decode("utf-8"), as_version=4)
    return _Lesson(name, source, _sha256(data), graded_parts(source),
                   feedback.secret_lines(source))


def _verify_source(base: Path, lesson: _Lesson) -> None:
    if _sha256(source_notebook(base, lesson.name).read_bytes()) != lesson.sha:
        raise RuntimeError(f"{source_notebook(base, lesson.name)} changed while grading: "
                           "grading stopped (keep the sources as released while grading)")


def _references(lesson: _Lesson, work: Path, settings: _Settings) -> dict[str, dict]:
    """Run the reference solution on the hidden inputs: ``{part: payload}``."""
    nb = execute.assemble(lesson.source, lesson.source)
    run = execute.run(nb, work / "reference" / lesson.name, timeout=settings.timeout,
                      seed=lesson_seed(settings.secret, lesson.name),
                      sandbox=settings.sandboxed, limits=settings.limits)
    references = {}
    for part, _ in lesson.parts:
        found = run.payloads.get(part, [])
        problem = run.failed or run.errors.get(part) or ("" if len(found) == 1 else
                                                         f"{len(found)} hand-ins")
        if problem or found[0].get("error") or found[0].get("forbidden"):
            detail = problem or found[0].get("error") or found[0].get("forbidden")
            raise RuntimeError(f"the reference solution of {lesson.name}, part {part}, did not "
                               f"hand in cleanly: {detail}")
        references[part] = found[0]
    return references


def _clean_rooms(lesson: _Lesson, work: Path, settings: _Settings
                 ) -> dict[tuple[str, ...], list[str]]:
    """Which parts are graded in a clean room: a second run of the notebook in a sandbox where
    the packages a part forbids (its probe's ``forbid``) are replaced by stubs that refuse to
    import, so that no route (another name, a C function, a thread, a patched profiler) can
    reach them. A part qualifies when the reference solution, run there, hands in the same
    values as in the normal run; the others keep the in-kernel detection only (logged)."""
    if not settings.sandboxed:
        settings.log.warning("cnnkit.grading: without the sandbox no package can be hidden: "
                             "forbidden calls in %s are caught in the kernel only", lesson.name)
        return {}
    groups: dict[tuple[str, ...], list[str]] = {}
    for part, _ in lesson.parts:
        forbid = tuple(sorted(lesson.references[part].get("forbid") or ()))
        if forbid:
            groups.setdefault(forbid, []).append(part)
    nb = execute.assemble(lesson.source, lesson.source)
    rooms = {}
    for k, (hide, parts) in enumerate(sorted(groups.items())):
        run = execute.run(execute.clean_room(nb, set(parts)),
                          work / "reference" / f"{lesson.name}-room{k}", timeout=settings.timeout,
                          seed=lesson_seed(settings.secret, lesson.name), sandbox=True,
                          limits=settings.limits, hide=hide)
        for part in parts:
            found = run.payloads.get(part, [])
            why = run.failed or run.errors.get(part) or (
                "" if len(found) == 1 else f"{len(found)} hand-ins") or (
                "" if handin.verdict(found[0], lesson.references[part]).ok
                else "its values differ from the normal run's")
            if why:
                settings.log.warning("cnnkit.grading: %s, part %s: the reference does not run "
                                     "without %s (%s): forbidden calls are caught in the "
                                     "kernel only", lesson.name, part, ", ".join(hide), why)
            else:
                rooms.setdefault(hide, []).append(part)
    settings.log.info("cnnkit.grading: %s: clean rooms %s", lesson.name, rooms)
    return rooms


def _in_clean_rooms(lesson: _Lesson, nb: nbformat.NotebookNode, run: execute.Run,
                    folder: Path, settings: _Settings, passed: set[str]
                    ) -> tuple[execute.Run, list]:
    """``run`` with the hand-ins of the clean-room parts replaced by those of their clean-room
    runs (``_clean_rooms``), and the review flags of those runs. A room is run only if one of
    its parts is in ``passed`` (scored in the normal run): the others score 0 anyway."""
    payloads, errors, flags = dict(run.payloads), dict(run.errors), []
    for k, (hide, parts) in enumerate(sorted(lesson.rooms.items())):
        if not passed.intersection(parts):
            continue
        room = execute.run(execute.clean_room(nb, set(parts)), folder / f"room{k}",
                           timeout=settings.timeout, seed=lesson_seed(settings.secret, lesson.name),
                           sandbox=True, limits=settings.limits, hide=hide)
        flags += review.run_flags(room.payloads, room.failed)
        without = f"in the run where what this part forbids ({', '.join(hide)}) is hidden"
        first = _first_error_in_own_cells(room.notebook)
        if first:
            without += f", where a cell of yours failed: {first}"
        for part in parts:
            payloads[part] = [dict(p, error=f"{p['error']} ({without})") if p.get("error")
                              else p for p in room.payloads.get(part, [])]
            errors.pop(part, None)
            why = room.errors.get(part) or room.failed
            if why:
                errors[part] = f"{why} ({without})"
    return execute.Run(run.notebook, payloads, errors, run.failed), flags


def _first_error_in_own_cells(nb: nbformat.NotebookNode) -> str:
    """"Name: message" of the first error in a cell the student wrote (``_own_code``), or ""."""
    for cell in nb.cells:
        meta = execute.nbgrader_meta(cell)
        if cell.cell_type != "code" or (meta and not meta.get("solution")):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename')}: {output.get('evalue')}"[:200]
    return ""


def _part_verdicts(lesson: _Lesson, run: execute.Run) -> list[list]:
    rows = []
    for part, most in lesson.parts:
        found = run.payloads.get(part, [])
        if len(found) > 1:
            ok, text = False, "handed in more than once: not graded (see review.csv)"
        elif not found:
            why = run.errors.get(part) or run.failed or "the test cell did not run"
            ok, text = False, f"the hidden tests did not run: the test cell stopped ({why})"
        else:
            judged = handin.verdict(found[0], lesson.references[part])
            ok, text = judged.ok, judged.message
        rows.append([part, most if ok else 0.0, most, ("✔ " if ok else "✘ ") + text])
    return rows


def _own_code(nb: nbformat.NotebookNode) -> list[str]:
    """The code a student wrote: answer cells and cells without nbgrader metadata."""
    return [c.source for c in nb.cells if c.cell_type == "code"
            and (execute.nbgrader_meta(c).get("solution") or not execute.nbgrader_meta(c))]


def _grade_submission(lesson: _Lesson, student: str, copy: Path, work: Path, out: Path,
                      settings: _Settings) -> SavedVerdict:
    """Run and judge one submission; writes its feedback; returns its state."""
    state = SavedVerdict(key={}, status="graded")
    try:
        submitted = nbformat.read(str(copy), as_version=4)
    except Exception as err:  # not a notebook
        state.status, state.failed = "failed", f"unreadable notebook: {err}"[:300]
        state.parts = [[p, 0.0, m, "✘ unreadable notebook"] for p, m in lesson.parts]
        return state
    state.restored = restored_cells(copy, lesson.release_view)
    nb = execute.assemble(lesson.source, submitted)
    settings.log.info("cnnkit.grading: grading %s for %s", lesson.name, student)
    run = execute.run(nb, work / "run" / student / lesson.name, timeout=settings.timeout,
                      seed=lesson_seed(settings.secret, lesson.name),
                      sandbox=settings.sandboxed, limits=settings.limits)
    flags = review.static_flags(_own_code(submitted)) + review.run_flags(run.payloads, run.failed)
    if run.failed:
        settings.log.error("cnnkit.grading: %s, %s: %s", student, lesson.name, run.failed)
        state.status, state.failed = "failed", run.failed
        state.parts = [[p, 0.0, m, f"✘ the notebook could not be graded: {run.failed}"]
                       for p, m in lesson.parts]
    else:
        normal = _part_verdicts(lesson, run)
        passed = {row[0] for row in normal if row[3].startswith("✔")}
        judged, room_flags = _in_clean_rooms(lesson, nb, run, work / "run" / student /
                                             f"{lesson.name}-rooms", settings, passed)
        # a part scores when it scores in both runs; the feedback is the first failure's
        state.parts = [room if row[3].startswith("✔") else row
                       for row, room in zip(normal, _part_verdicts(lesson, judged), strict=True)]
        flags += [f for f in room_flags if f not in flags]
    state.flags = [list(f) for f in flags]
    if not run.failed:
        table = [(p, pts, m, text) for p, pts, m, text in state.parts]
        safe = feedback.scrub(run.notebook, lesson.secrets, table)
        feedback.write_notebook(safe, out / "autograded" / student / f"{lesson.name}.ipynb")
        feedback.write_html(safe, out / "feedback" / student / f"{lesson.name}.html")
    return state


def _release_view(source: nbformat.NotebookNode, path: Path) -> Path:
    """The source with hidden tests and solutions removed, written to ``path`` (for
    ``restored_cells``, which compares the locked cells: no solution or hidden test is
    written)."""
    nb = nbformat.from_dict(json.loads(json.dumps(source)))
    for cell in nb.cells:
        cell.source = feedback.HIDDEN.sub("", cell.source)
        if execute.nbgrader_meta(cell).get("solution"):
            cell.source = execute.STUB
    path.write_text(nbformat.writes(nb), encoding="utf-8")
    return path


def _record(result: GradingResult, student: str, lesson: _Lesson, state: SavedVerdict | None,
            out: Path) -> None:
    key = (student, lesson.name)
    if state is None:
        result.status[key] = "missing"
        result.grades += [PartGrade(student, lesson.name, p, 0.0, m) for p, m in lesson.parts]
        return
    result.status[key] = state.status
    if state.failed:
        result.failed[key] = state.failed
    if state.restored:
        result.restored[key] = list(state.restored)
    result.review += [(student, lesson.name, flag, detail) for flag, detail in state.flags]
    result.part_feedback[key] = {p: text for p, _, _, text in state.parts}
    html = out / "feedback" / student / f"{lesson.name}.html"
    if state.status == "graded" and html.is_file():
        result.feedback[key] = html
    result.grades += [PartGrade(student, lesson.name, p, float(pts), float(m))
                      for p, pts, m, _ in state.parts]


def _write_review(result: GradingResult) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REVIEW_COLUMNS)
    writer.writerows(result.review)
    write_atomic(result.out / "review.csv", buffer.getvalue())


def _settings(base: Path, timeout: float | None, sandboxed: bool, secret: str | None,
              limits: sandboxing.Limits | None, log: logging.Logger) -> _Settings:
    if sandboxed:
        sandboxing.require_bwrap()
    else:
        message = ("cnnkit exercises autograde: --no-sandbox: student code runs with YOUR "
                   "permissions, can read the solutions and write anywhere you can; grade "
                   "this way only inside a disposable container or VM")
        print(message, file=sys.stderr)
        log.warning(message)
    seconds = max(1, round(timeout)) if timeout is not None else configured_timeout(base)
    return _Settings(seconds, sandboxed, resolve_secret(secret), limits or sandboxing.Limits(),
                     log)


def _logger(path: Path) -> tuple[logging.Logger, logging.Handler]:
    log = logging.getLogger(f"cnnkit.grading.run.{id(path)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)s] %(message)s"))
    log.addHandler(handler)
    return log, handler


def autograde(submissions: str | Path, out: str | Path = "build/grades", *,
              exercises: str | Path | None = None, timeout: float | None = None,
              lessons: Iterable[str] | None = None, progress: bool = True,
              sandbox: bool = True, secret: str | None = None,
              limits: sandboxing.Limits | None = None, jobs: int = 1,
              scheduler: object = None) -> GradingResult:
    """Autograde a folder of submissions (one subfolder per student); see the module docstring.

    submissions: ``<student>/<lesson>.ipynb`` or ``<student>/<lesson>/<lesson>.ipynb``.
    out: ``grades.csv`` (student,lesson,part,points,max), ``totals.csv``, ``review.csv``
        (student,lesson,flag,detail: for a person to look at), ``feedback/<student>/
        <lesson>.html``, ``autograded/<student>/<lesson>.ipynb`` (hidden tests removed),
        ``grading.log``, and ``.state/`` (saved verdicts, for resuming).
    timeout: seconds each cell may run (default ``Execute.timeout`` of
        ``exercises/nbgrader_config.py``, 60); a cell over it is interrupted.
    lessons: the lessons to grade (default: every lesson someone handed in); a student
        without a submission for one gets 0 points ("missing").
    sandbox: run each kernel in a bubblewrap sandbox (``cnnkit.grading.sandbox``); False
        only in a disposable container (a loud warning says so).
    secret: the grading secret (``cnnkit.grading.secret``); limits: ``sandboxing.Limits``.
    jobs: notebooks graded at once on this machine (1-16), each in its own sandbox.
    scheduler: a Dask scheduler address (``"tcp://host:8786"``) or ``distributed.Client``:
        every notebook is graded by a worker of that cluster (``cnnkit.grading.remote``; the
        workers need the course installed and ``out`` at the same path); not with ``jobs``.
        A notebook whose task fails (its workers died, ...) scores 0 as "failed", named in
        ``result.failed``, and is graded again by the next run.

    Raises ``GradingError`` for a bad request, ``SandboxError`` without bwrap, RuntimeError
    when a source changes or a reference solution fails. A submission that cannot be graded is
    reported in ``result.failed`` (0 points), not raised.
    """
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise GradingError(f"timeout must be a positive number of seconds; got {timeout!r}")
    try:
        jobs = check_int(jobs, "jobs", 1, 16)
    except (TypeError, ValueError) as err:
        raise GradingError(str(err)) from None
    if scheduler is not None and jobs > 1:
        raise GradingError("jobs and scheduler exclude each other: with a scheduler, the "
                           "cluster's workers decide how many notebooks run at once")
    base = exercises_dir(exercises)
    available = select_lessons(base, lessons)
    found, ignored = find_submissions(submissions, available)
    if not found:
        raise GradingError(f"no submissions found in {submissions}: expected "
                           f"<student>/<lesson>.ipynb with <lesson> one of "
                           f"{', '.join(available)}")
    names = available if lessons is not None else [
        name for name in available if any(k[1] == name for k in found)]
    students = sorted({student for student, _ in found})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = GradingResult(out=out, ignored=ignored)
    log, handler = _logger(result.log)
    try:
        settings = _settings(base, timeout, sandbox, secret, limits, log)
        settings.jobs = jobs
        with remote.connected(scheduler) as client, _workspace(out) as work:
            settings.scheduler = client
            copies = _copy_submissions(found, work)
            _grade_lessons(base, names, students, copies, work, out, settings, result,
                           progress)
    finally:
        log.removeHandler(handler)
        handler.close()
    order = {name: i for i, name in enumerate(names)}
    result.grades.sort(key=lambda g: (g.student, order[g.lesson]))  # stable: parts in order
    result.review.sort(key=lambda r: (r[0], order[r[1]]))
    write_csvs(result)
    _write_review(result)
    check_csv_against_verdicts(result.grades_csv, result.out, result.status)
    return result


def _similarity(lessons_: list[_Lesson], copies: dict, result: GradingResult) -> None:
    """``similarity.csv`` and its flags in ``review.csv``."""
    notebooks = {key: copy for key, (copy, _) in copies.items()}
    rows = similarity.gather_and_compare({lesson.name: lesson.source for lesson in lessons_},
                                         notebooks)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(similarity.COLUMNS)
    writer.writerows(rows)
    write_atomic(result.out / "similarity.csv", buffer.getvalue())
    result.review += similarity.flagged(rows)


def _grade_lessons(base: Path, names: list[str], students: list[str], copies: dict,
                   work: Path, out: Path, settings: _Settings, result: GradingResult,
                   progress: bool) -> None:
    from tqdm.auto import tqdm

    lessons_ = [_load_lesson(base, name) for name in names]
    where = (f"on the Dask cluster at {settings.scheduler.scheduler.address}"
             if settings.scheduler is not None else f"{settings.jobs} at once")
    settings.log.info("cnnkit.grading: lessons %s, students %s, %d s per cell, sandbox %s, "
                      "%s", names, students, settings.timeout, settings.sandboxed, where)
    with tqdm(total=len(names) * len(students), desc="grading", unit="notebook",
              disable=not progress) as bar:
        for lesson in lessons_:
            _verify_source(base, lesson)
            states = _grade_lesson(lesson, students, copies, work, out, settings, bar)
            for student in students:  # in order, whatever order they were graded in
                _record(result, student, lesson, states[student], out)
    _similarity(lessons_, copies, result)


def _grade_lesson(lesson: _Lesson, students: list[str], copies: dict, work: Path, out: Path,
                  settings: _Settings, bar) -> dict[str, SavedVerdict | None]:
    """Every student's verdict for one lesson: saved ones reused, the others graded
    (``settings.jobs`` notebooks at once) and saved."""
    states: dict[str, SavedVerdict | None] = {}
    todo: dict[str, tuple[Path, dict, Path]] = {}
    for student in students:
        submitted = copies.get((student, lesson.name))
        if submitted is None:
            states[student] = None
            bar.update()
            continue
        key = {"version": _STATE_VERSION, "submission": submitted[1], "source": lesson.sha,
               **settings.key()}
        path = verdict_path(out, student, lesson.name)
        states[student] = load_verdict(path, key)
        if states[student] is None:
            todo[student] = (submitted[0], key, path)
        else:
            settings.log.info("cnnkit.grading: %s for %s unchanged: verdict reused",
                              lesson.name, student)
            bar.update()
    if todo and lesson.references is None:
        lesson.references = _references(lesson, work, settings)
        lesson.rooms = _clean_rooms(lesson, work, settings)
        lesson.release_view = _release_view(lesson.source, work / f"{lesson.name}-locked.ipynb")

    def grade(student: str) -> SavedVerdict:
        copy, key, path = todo[student]
        bar.set_postfix_str(f"{lesson.name}, {student}")
        state = _grade_submission(lesson, student, copy, work, out, settings)
        state.key = key
        save_verdict(path, state)
        bar.update()
        return state

    if settings.scheduler is not None and todo:
        states.update(_grade_on_cluster(lesson, todo, work, out, settings, bar))
    elif settings.jobs > 1 and len(todo) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(settings.jobs) as pool:
            states.update(zip(todo, pool.map(grade, todo), strict=True))
    else:
        states.update((student, grade(student)) for student in todo)
    return states


def _grade_on_cluster(lesson: _Lesson, todo: dict[str, tuple[Path, dict, Path]], work: Path,
                      out: Path, settings: _Settings, bar) -> dict[str, SavedVerdict]:
    """Grade ``todo`` ({student: (copy, key, verdict path)}) on the Dask cluster, one task per
    notebook (``cnnkit.cluster.map_tasks``); save each verdict here as soon as its task ends
    (an interrupted run keeps every finished verdict). A failed task is a "failed" verdict for
    that student (saved so that the CSVs can be checked, under a key the next run does not
    reuse), logged with the student's and the lesson's names."""
    from cnnkit.cluster import map_tasks

    students = list(todo)
    tasks = [remote.task_for(lesson, s, todo[s][0], work, out, settings) for s in students]
    states: dict[str, SavedVerdict] = {}

    def save(index: int, outcome) -> None:
        student = students[index]
        _, key, path = todo[student]
        if outcome.ok:
            state = remote.verdict_of(outcome.value, key)
            settings.log.info("cnnkit.grading: %s for %s graded by worker %s (%.1f s after "
                              "the lesson was sent)", lesson.name, student,
                              outcome.value["worker"], outcome.seconds)
            if state.failed:
                settings.log.error("cnnkit.grading: %s, %s: %s", student, lesson.name,
                                   state.failed)
        else:
            state = remote.failed_verdict(lesson.parts, outcome.error, key)
            settings.log.error("cnnkit.grading: %s, %s: the grading task failed on the "
                               "cluster: %s", student, lesson.name, outcome.error)
        save_verdict(path, state)
        states[student] = state
        bar.update()

    map_tasks(remote.grade_task, tasks, scheduler=settings.scheduler,
              names=[f"{lesson.name}, {s}" for s in students], progress=not bar.disable,
              desc=f"{lesson.name} on the cluster", unit="notebook", on_outcome=save)
    return {student: states[student] for student in students}
