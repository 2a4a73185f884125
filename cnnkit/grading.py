"""Graded exercises: release them to students and autograde what comes back, with nbgrader.

The graded exercises live in ``exercises/``, an nbgrader course directory::

    exercises/nbgrader_config.py                 settings (per-cell time limit, ...)
    exercises/source/<lesson>/<lesson>.ipynb     instructor version: solutions, hidden tests

Every lesson folder under ``source/`` is picked up; adding a lesson means adding its folder.
This module is the instructor workflow without JupyterHub or nbgrader's exchange:

- ``release(out)``: nbgrader ``generate_assignment`` for every lesson, into
  ``out/<lesson>/<lesson>.ipynb``: the student version, solutions replaced by
  ``raise NotImplementedError()``, hidden tests and outputs removed, test cells locked.
- ``autograde(submissions, out)``: ``submissions/<student>/<lesson>.ipynb`` (or
  ``submissions/<student>/<lesson>/<lesson>.ipynb``, nbgrader's own layout) -> nbgrader
  ``autograde`` and ``generate_feedback`` in a temporary course directory -> ``out/grades.csv``
  (one row per student, lesson and graded part: ``student,lesson,part,points,max``),
  ``out/totals.csv``, ``out/feedback/<student>/<lesson>.html``, the executed notebooks in
  ``out/autograded/<student>/<lesson>.ipynb`` and nbgrader's log in ``out/grading.log``.

What grading guarantees (nbgrader does the work; this module sets it up so):

- **Original tests.** Before a submission runs, every locked cell (instructions, test cells)
  is replaced by the version saved from the source notebook, hidden tests included; a deleted
  test cell is put back (``OverwriteCells.add_missing_cells``); changed point values are
  reset. Cells that were edited or deleted are listed in the result (``restored``).
- **Per part.** A part scores its points when its test cell runs without an error; an error in
  one cell does not stop the others (nbgrader executes with ``allow_errors``).
- **Per-cell time limit.** Each cell may run ``timeout`` seconds (``Execute.timeout``, 60 by
  default in ``exercises/nbgrader_config.py``). A cell that runs longer is interrupted (like
  pressing the stop button; ``Execute.interrupt_on_timeout``) and counts as an error, so a
  hanging part costs that part and ``timeout`` seconds, and the rest is graded. A kernel that
  does not respond to the interrupt (or dies) fails that one notebook: it is reported in
  ``failed`` and scores 0; the other submissions are graded.
- **A log without false alarms.** nbgrader warns "Attribute 'checksum' for cell X has
  changed!" for every test cell with hidden tests in every submission (see
  ``_HiddenTestsChecksumNotice``); ``grading.log`` keeps those as INFO notes and WARNING for
  cells a student really edited.
- **Nothing of the instructor's course directory is touched.** The gradebook (sqlite), the
  copies of the submissions and nbgrader's outputs live in a temporary directory that is
  deleted afterwards; only ``out`` is written.

Student code runs with your permissions: grade untrusted submissions in a container or VM.

nbgrader is an optional dependency: ``pip install 'cnnkit[instructor]'``. It is imported only
when a function here needs it. Like every computational module, this one imports neither
ipywidgets nor matplotlib.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import logging
import os
import re
import shutil
import sysconfig
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

__all__ = [
    "INSTALL_HINT",
    "GradingError",
    "PartGrade",
    "GradingResult",
    "exercises_dir",
    "lessons",
    "graded_parts",
    "find_submissions",
    "release",
    "autograde",
]

INSTALL_HINT = "pip install 'cnnkit[instructor]'"

CSV_COLUMNS = ("student", "lesson", "part", "points", "max")
TOTALS_COLUMNS = ("student", "lesson", "points", "max", "status")

_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")
# What must never reach a student: nbgrader's markers (their regions are removed on release).
_SECRET_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class GradingError(ValueError):
    """A problem with what was asked (missing folder, unknown lesson, no submissions...)."""


@dataclass(frozen=True)
class PartGrade:
    """One row of ``grades.csv``: the score of one graded part (test cell) of one lesson."""

    student: str
    lesson: str
    part: str  # the test cell's nbgrader grade_id
    points: float
    max: float


@dataclass
class GradingResult:
    """What ``autograde`` did.

    grades: one ``PartGrade`` per student, lesson and part (0 points for missing or failed
        submissions), in student, lesson, notebook order; also written to ``grades_csv``.
    status: ``{(student, lesson): "graded" | "missing" | "failed"}``.
    failed: ``{(student, lesson): reason}`` for notebooks nbgrader could not grade.
    restored: ``{(student, lesson): ["<grade_id> (edited)", ...]}``, the locked cells a
        submission had edited or deleted, graded with the original instead.
    ignored: notebooks and folders under the submissions folder that were not graded, each
        with the reason.
    feedback: ``{(student, lesson): path of the feedback HTML}``.
    """

    out: Path
    grades: list[PartGrade] = field(default_factory=list)
    status: dict[tuple[str, str], str] = field(default_factory=dict)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    restored: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    feedback: dict[tuple[str, str], Path] = field(default_factory=dict)

    @property
    def grades_csv(self) -> Path:
        return self.out / "grades.csv"

    @property
    def totals_csv(self) -> Path:
        return self.out / "totals.csv"

    @property
    def log(self) -> Path:
        return self.out / "grading.log"

    @property
    def ok(self) -> bool:
        """True when every submission could be graded (missing ones do not count)."""
        return not self.failed

    def totals(self) -> dict[tuple[str, str], tuple[float, float]]:
        """``{(student, lesson): (points, max)}``."""
        sums: dict[tuple[str, str], tuple[float, float]] = {}
        for g in self.grades:
            points, most = sums.get((g.student, g.lesson), (0.0, 0.0))
            sums[(g.student, g.lesson)] = (points + g.points, most + g.max)
        return sums


# --- the course directory --------------------------------------------------------------------


def exercises_dir(root: str | Path | None = None) -> Path:
    """The nbgrader course directory: ``root`` if given, else ``./exercises`` when it has a
    ``source/`` folder, else the ``exercises/`` of the repository that holds ``cnnkit``.
    Raises ``GradingError`` when the folder has no ``source/``.
    """
    if root is not None:
        base = Path(root)
    else:
        base = Path.cwd() / "exercises"
        if not (base / "source").is_dir():
            base = Path(__file__).resolve().parent.parent / "exercises"
    if not (base / "source").is_dir():
        raise GradingError(f"no exercises found: {base / 'source'} is not a folder (expected "
                           "<exercises>/source/<lesson>/<lesson>.ipynb)")
    return base


def lessons(exercises: str | Path | None = None) -> list[str]:
    """The lessons with graded exercises, sorted: every ``source/<lesson>/`` folder that holds
    ``<lesson>.ipynb``."""
    source = exercises_dir(exercises) / "source"
    return sorted(p.name for p in source.iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").is_file())


def _source_notebook(exercises: Path, lesson: str) -> Path:
    return exercises / "source" / lesson / f"{lesson}.ipynb"


def graded_parts(notebook: str | Path | nbformat.NotebookNode) -> list[tuple[str, float]]:
    """``[(grade_id, points), ...]`` of a notebook's autograder test cells, in notebook order."""
    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else nbformat.read(
        str(notebook), as_version=4)
    parts = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            parts.append((meta["grade_id"], float(meta.get("points", 0))))
    return parts


def _select_lessons(exercises: Path, wanted: Iterable[str] | None) -> list[str]:
    available = lessons(exercises)
    if not available:
        raise GradingError(f"no lessons in {exercises / 'source'} (expected "
                           "source/<lesson>/<lesson>.ipynb)")
    if wanted is None:
        return available
    wanted = list(dict.fromkeys(wanted))
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise GradingError(f"unknown lesson(s) {', '.join(unknown)}; the exercises have: "
                           f"{', '.join(available)}")
    return wanted


# --- nbgrader, imported lazily ----------------------------------------------------------------


def _nbgrader():
    """Import what this module uses from nbgrader, with a clear error when it is missing."""
    try:
        from nbgrader.api import Gradebook, MissingEntry
        from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
        from nbgrader.coursedir import CourseDirectory
    except ImportError as err:
        raise ImportError(f"grading the exercises needs nbgrader, an optional dependency of "
                          f"cnnkit: {INSTALL_HINT}  ({err})") from err
    return {"Gradebook": Gradebook, "MissingEntry": MissingEntry, "Autograde": Autograde,
            "GenerateAssignment": GenerateAssignment, "GenerateFeedback": GenerateFeedback,
            "CourseDirectory": CourseDirectory}


def _config(exercises: Path, root: Path, timeout: float | None):
    """nbgrader settings: ``exercises/nbgrader_config.py``, then the temporary course
    directory ``root`` (with its own gradebook), the time limit, and the guarantees this
    module documents (which the config file cannot switch off)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    config_file = exercises / "nbgrader_config.py"
    if config_file.is_file():
        config.merge(PyFileConfigLoader(config_file.name, path=str(exercises)).load_config())
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    if timeout is not None:
        config.Execute.timeout = max(1, round(timeout))  # nbgrader wants whole seconds
    if not config.Execute.get("timeout"):  # None or 0 would mean "no limit"
        config.Execute.timeout = 60
    config.Execute.interrupt_on_timeout = True
    config.OverwriteCells.add_missing_cells = True
    if "extra_arguments" not in config.Execute:
        # student code stays out of your IPython history; the kernel's own notices (e.g.
        # ipykernel's "running over TCP without encryption", once per notebook) stay quiet
        config.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:",
                                          "--IPKernelApp.log_level=ERROR"]
    return config


@contextlib.contextmanager
def _alembic_on_path() -> Iterator[None]:
    """Make sure the ``alembic`` command is found while nbgrader runs.

    nbgrader creates a gradebook by running ``alembic heads`` as a subprocess found on PATH
    (``nbgrader.api.get_alembic_version``). From an environment that is not activated
    (``.venv/bin/cnnkit ...``) it is not on PATH, although it is installed next to this
    Python: put that scripts folder at the end of PATH for the duration.
    """
    if shutil.which("alembic"):
        yield
        return
    scripts = sysconfig.get_path("scripts")
    if not shutil.which("alembic", path=scripts):
        raise ImportError("nbgrader needs the 'alembic' command, which is missing from "
                          f"{scripts}: {INSTALL_HINT}")
    old = os.environ.get("PATH")
    os.environ["PATH"] = os.pathsep.join(p for p in (old, scripts) if p)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = old


class _Course:
    """A temporary nbgrader course directory holding copies of the lessons' sources."""

    def __init__(self, exercises: Path, names: list[str], timeout: float | None, log):
        self.nbg = _nbgrader()
        self.log = log
        self.checksum_notice = _HiddenTestsChecksumNotice()
        self._cleanup = contextlib.ExitStack()
        try:
            self._cleanup.enter_context(_alembic_on_path())
            self.root = Path(self._cleanup.enter_context(
                tempfile.TemporaryDirectory(prefix="cnnkit-grading-")))
            self.config = _config(exercises, self.root, timeout)
            log.addFilter(self.checksum_notice)
            self._cleanup.callback(log.removeFilter, self.checksum_notice)
            for lesson in names:
                shutil.copytree(exercises / "source" / lesson, self.root / "source" / lesson,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints",
                                                              "__pycache__"))
            self.coursedir = self.nbg["CourseDirectory"](config=self.config, log=log)
        except BaseException:
            self._cleanup.close()
            raise

    @property
    def timeout(self) -> int:
        return int(self.config.Execute.timeout)

    @property
    def db_url(self) -> str:
        return self.coursedir.db_url

    def run(self, converter: str, lesson: str, student: str = ".", config=None, **traits):
        """Run one nbgrader converter for one lesson (and student); raises on failure."""
        self.coursedir.assignment_id = lesson
        self.coursedir.student_id = student
        app = self.nbg[converter](coursedir=self.coursedir, config=config or self.config,
                                  log=self.log)
        for name, value in traits.items():
            setattr(app, name, value)
        with warnings.catch_warnings():
            # nbgrader 0.9 internals, nothing an instructor can act on: SQLAlchemy 2's
            # "not in session" autoflush notices, and cells it puts back without an id
            warnings.filterwarnings("ignore", message=".*not in session.*")
            warnings.filterwarnings("ignore", message="Cell is missing an id field")
            app.start()

    def close(self) -> None:
        """Delete the temporary course directory (gradebook included); restore PATH."""
        self._cleanup.close()

    def __enter__(self) -> _Course:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _HiddenTestsChecksumNotice(logging.Filter):
    """Turn nbgrader's false checksum warning for test cells with hidden tests into a note.

    ``generate_assignment`` saves each locked cell, with its checksum, to the gradebook
    *before* ``ClearHiddenTests`` removes the hidden tests, then recomputes the checksum of
    what remains for the release (``ComputeChecksums`` runs again). A test cell with hidden
    tests therefore never matches the gradebook: ``OverwriteCells`` warns "Attribute
    'checksum' for cell X has changed!" for every submission, edited or not, and puts the
    saved source back (which is how the hidden tests return). nbgrader issue #1961. For the
    cells in ``expected`` (hidden tests, and the submission did not edit them) the warning is
    logged as INFO with this explanation; a real edit stays a WARNING.
    """

    def __init__(self) -> None:
        super().__init__()
        self.expected: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if (record.levelno == logging.WARNING and len(args) >= 2 and args[0] == "checksum"
                and args[1] in self.expected and "has changed" in str(record.msg)):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = str(record.msg) + (" -- expected: the release leaves out this cell's "
                                            "hidden tests; the original cell is restored")
        return True


def _logger(path: Path | None) -> tuple[logging.Logger, logging.Handler | None]:
    """A private logger for nbgrader's messages, written to ``path`` (warnings and errors are
    also shown on stderr when no file is given)."""
    log = logging.getLogger(f"cnnkit.grading.nbgrader.{id(path)}")
    log.propagate = False
    log.setLevel(logging.INFO)
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler()
        handler.setLevel(logging.WARNING)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    log.addHandler(handler)
    return log, handler


def _close_logger(log: logging.Logger, handler: logging.Handler | None) -> None:
    if handler is not None:
        log.removeHandler(handler)
        handler.close()


def _copy_file(src: Path, dst: Path) -> Path:
    """Copy contents only: nbgrader leaves its outputs read-only, our copies stay writable."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    shutil.copyfile(src, dst)
    return dst


# --- release ---------------------------------------------------------------------------------


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
    names = _select_lessons(base, lessons)
    out = Path(out)
    log, handler = _logger(None)
    written = []
    try:
        with _Course(base, names, None, log) as course:
            for lesson in names:
                _generate_assignment(course, lesson)
                released = course.root / "release" / lesson
                _check_release(released)
                dest = out / lesson
                if dest.exists():
                    shutil.rmtree(dest)
                for file in sorted(p for p in released.rglob("*") if p.is_file()):
                    _copy_file(file, dest / file.relative_to(released))
                written.append(dest / f"{lesson}.ipynb")
    finally:
        _close_logger(log, handler)
    return written


def _generate_assignment(course: _Course, lesson: str) -> None:
    """nbgrader generate_assignment: the release version, and the gradebook's copy of the
    source cells (what autograde restores). Raises RuntimeError if nbgrader fails."""
    try:
        course.run("GenerateAssignment", lesson, force=True, create_assignment=True)
    except Exception as err:
        raise RuntimeError(f"nbgrader generate_assignment failed for {lesson} (a problem in "
                           f"{lesson}.ipynb's nbgrader metadata?): {err}") from err


def _check_release(folder: Path) -> None:
    """Refuse to hand out a release in which an nbgrader marker survived."""
    for file in folder.rglob("*"):
        if file.is_file() and file.suffix in {".ipynb", ".py", ".md", ".txt"}:
            text = file.read_text(encoding="utf-8", errors="replace")
            for marker in _SECRET_MARKERS:
                if marker in text:
                    raise RuntimeError(f"{file}: '{marker}' is still there after nbgrader "
                                       "generate_assignment; check that cell's nbgrader "
                                       "metadata (solution / grade cell) in the source")


# --- autograde -------------------------------------------------------------------------------


def find_submissions(submissions: str | Path, lesson_names: Iterable[str]
                     ) -> tuple[dict[tuple[str, str], Path], list[str]]:
    """Map ``(student, lesson) -> notebook`` for a folder with one subfolder per student.

    A student's notebook for a lesson is ``<student>/<lesson>.ipynb`` or
    ``<student>/<lesson>/<lesson>.ipynb``. Returns the map and the list of what was ignored
    (other notebooks, files at the top level, folder names nbgrader cannot use as student
    ids), each with the reason.
    """
    root = Path(submissions)
    if not root.is_dir():
        raise GradingError(f"submissions folder not found: {root}")
    names = set(lesson_names)
    found: dict[tuple[str, str], Path] = {}
    ignored: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            ignored.append(f"{entry}: not in a student folder (expected "
                           f"{root}/<student>/<lesson>.ipynb)")
            continue
        student = entry.name
        if not _STUDENT_ID.match(student):
            ignored.append(f"{entry}: a student folder name may only hold letters, digits and "
                           ". _ @ + -")
            continue
        for nb in sorted(entry.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in nb.parts:
                continue
            rel = nb.relative_to(entry)
            lesson = nb.stem
            valid = lesson in names and (len(rel.parts) == 1
                                         or rel.parts == (lesson, f"{lesson}.ipynb"))
            if not valid:
                ignored.append(f"{nb}: not a lesson notebook (expected <student>/<lesson>.ipynb "
                               f"with <lesson> one of {', '.join(sorted(names))})")
            elif (student, lesson) in found:
                ignored.append(f"{nb}: a second notebook for {lesson}; graded "
                               f"{found[(student, lesson)]}")
            else:
                found[(student, lesson)] = nb
    return found, ignored


def _locked_cells(nb) -> dict[str, tuple[str, bool]]:
    """``{grade_id: (source, is_test_cell)}`` of a notebook's locked nbgrader cells."""
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") and (meta.get("locked") or meta.get("grade")):
            cells[meta["grade_id"]] = (cell.source, bool(meta.get("grade")))
    return cells


def _restored_cells(submitted: Path, released: Path) -> list[str]:
    """Locked cells of the release that the submission edited or deleted."""
    try:
        sub = _locked_cells(nbformat.read(str(submitted), as_version=4))
    except Exception:  # unreadable: nbgrader reports it when grading
        return []
    notes = []
    for grade_id, (source, is_test) in _locked_cells(
            nbformat.read(str(released), as_version=4)).items():
        if grade_id not in sub:
            why = "" if is_test else "; not a test cell, so not put back"
            notes.append(f"{grade_id} (deleted{why})")
        elif sub[grade_id][0].strip() != source.strip():
            notes.append(f"{grade_id} (edited)")
    return notes


class _ErrorRecords(logging.Handler):
    """Keeps the errors nbgrader logs while grading one notebook, to say why it failed."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def reason(self) -> str:
        """Why the notebook failed: the exception nbgrader logged last (explained for the two
        usual causes), else its first error message; '' if it logged none."""
        exception = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Interrupt))(?::\s*(.*))?$")
        for message in reversed(self.messages):
            if not message.startswith("Traceback"):
                continue
            for line in reversed(message.strip().splitlines()):
                found = exception.match(line.strip())
                if found:
                    name = found.group(1).rsplit(".", 1)[-1]
                    text = f"{name}: {found.group(2) or ''}".strip(": ")
                    if name == "DeadKernelError":
                        return f"{text}: the student's code crashed the kernel or exited Python"
                    if name == "CellTimeoutError" and "IOPub" in message:
                        return ("a cell ran past the time limit and did not stop when "
                                f"interrupted ({text})")
                    return text
        return self.messages[0] if self.messages else ""


def _hidden_test_cells(nb) -> set[str]:
    """grade_ids of the test cells that have hidden tests."""
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade") and "BEGIN HIDDEN TESTS" in c.source}


def _scores(course: _Course, lesson: str, student: str) -> dict[str, tuple[float, float]]:
    """``{grade_id: (points, max)}`` from the gradebook for one graded submission."""
    with course.nbg["Gradebook"](course.db_url) as gb:
        nb = gb.find_submission_notebook(lesson, lesson, student)
        return {g.name: (float(g.score or 0.0), float(g.max_score)) for g in nb.grades}


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
    available = _select_lessons(base, lessons)
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
    log, handler = _logger(result.log)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(lessons_) * len(students), desc="grading", unit="notebook",
               disable=not progress)
    try:
        with _Course(base, lessons_, timeout, log) as course:
            log.info("cnnkit.grading: lessons %s, students %s, %d s per cell", lessons_,
                     students, course.timeout)
            feedback_config = copy.deepcopy(course.config)
            feedback_config.HTMLExporter.template_name = "feedback"
            for lesson in lessons_:
                _generate_assignment(course, lesson)
                source = nbformat.read(str(_source_notebook(course.root, lesson)), as_version=4)
                released = course.root / "release" / lesson / f"{lesson}.ipynb"
                for student in students:
                    bar.set_postfix_str(f"{lesson}, {student}")
                    _grade_one(course, result, source, released, lesson, student,
                               found.get((student, lesson)), feedback_config)
                    bar.update()
    finally:
        bar.close()
        _close_logger(log, handler)
    order = {lesson: i for i, lesson in enumerate(lessons_)}
    result.grades.sort(key=lambda g: (g.student, order[g.lesson]))  # stable: parts stay in order
    _write_csvs(result)
    return result


def _grade_one(course: _Course, result: GradingResult, source, released: Path, lesson: str,
               student: str, notebook: Path | None, feedback_config) -> None:
    """Grade one student's notebook for one lesson (or record it missing or failed)."""
    key = (student, lesson)
    scores: dict[str, tuple[float, float]] = {}
    if notebook is None:
        result.status[key] = "missing"
    else:
        submitted = course.root / "submitted" / student / lesson / f"{lesson}.ipynb"
        _copy_file(notebook, submitted)
        restored = _restored_cells(submitted, released)
        if restored:
            result.restored[key] = restored
        edited = {note.split(" ")[0] for note in restored}
        course.checksum_notice.expected = {gid for gid in _hidden_test_cells(source)
                                           if gid not in edited}
        course.log.info("cnnkit.grading: grading %s for %s", lesson, student)
        errors = _ErrorRecords()
        try:
            course.log.addHandler(errors)
            try:
                course.run("Autograde", lesson, student, force=True, create_student=True)
            finally:
                course.log.removeHandler(errors)
            scores = _scores(course, lesson, student)
        except Exception as err:  # nbgrader logged the details
            result.status[key] = "failed"
            result.failed[key] = f"{errors.reason() or err} (details in {result.log})"
            scores = {}
        else:
            result.status[key] = "graded"
            autograded = course.root / "autograded" / student / lesson / f"{lesson}.ipynb"
            _copy_file(autograded, result.out / "autograded" / student / f"{lesson}.ipynb")
            try:
                course.run("GenerateFeedback", lesson, student, config=feedback_config,
                           force=True)
                html = course.root / "feedback" / student / lesson / f"{lesson}.html"
                result.feedback[key] = _copy_file(
                    html, result.out / "feedback" / student / f"{lesson}.html")
            except Exception as err:  # grades stand without feedback
                course.log.error("cnnkit.grading: no feedback for %s, %s: %s", student,
                                 lesson, err)
    for part, most in graded_parts(source):
        points, _ = scores.get(part, (0.0, most))
        result.grades.append(PartGrade(student, lesson, part, points, most))


def _number(x: float) -> str:
    return f"{x:g}"


def _write_csvs(result: GradingResult) -> None:
    with open(result.grades_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for g in result.grades:
            writer.writerow((g.student, g.lesson, g.part, _number(g.points), _number(g.max)))
    with open(result.totals_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(TOTALS_COLUMNS)
        for (student, lesson), (points, most) in result.totals().items():
            writer.writerow((student, lesson, _number(points), _number(most),
                             result.status[(student, lesson)]))
