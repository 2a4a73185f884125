"""The nbgrader glue: import it lazily, configure it, run its converters in a temporary course
directory (``release`` uses ``generate_assignment``). Nothing here decides a grade: grading
runs in ``grader``, outside nbgrader (whose verdict is "the test cell ran without error in the
student's kernel")."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sysconfig
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

from cnnkit.grading.course import INSTALL_HINT

# What must never reach a student: nbgrader's markers (their regions are removed on release).
_SECRET_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


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


class Course:
    """A temporary nbgrader course directory holding copies of the lessons' sources."""

    def __init__(self, exercises: Path, names: list[str], timeout: float | None, log):
        self.nbg = _nbgrader()
        self.log = log
        self._cleanup = contextlib.ExitStack()
        try:
            self._cleanup.enter_context(_alembic_on_path())
            self.root = Path(self._cleanup.enter_context(
                tempfile.TemporaryDirectory(prefix="cnnkit-grading-")))
            self.config = _config(exercises, self.root, timeout)
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

    def __enter__(self) -> Course:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_logger(path: Path | None) -> tuple[logging.Logger, logging.Handler | None]:
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


def close_logger(log: logging.Logger, handler: logging.Handler | None) -> None:
    if handler is not None:
        log.removeHandler(handler)
        handler.close()


def copy_file(src: Path, dst: Path) -> Path:
    """Copy contents only: nbgrader leaves its outputs read-only, our copies stay writable."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    shutil.copyfile(src, dst)
    return dst



def generate_assignment(course: Course, lesson: str) -> None:
    """nbgrader generate_assignment: the release version, and the gradebook's copy of the
    source cells (what autograde restores). Raises RuntimeError if nbgrader fails."""
    try:
        course.run("GenerateAssignment", lesson, force=True, create_assignment=True)
    except Exception as err:
        raise RuntimeError(f"nbgrader generate_assignment failed for {lesson} (a problem in "
                           f"{lesson}.ipynb's nbgrader metadata?): {err}") from err


def check_release(folder: Path) -> None:
    """Refuse to hand out a release in which an nbgrader marker survived."""
    for file in folder.rglob("*"):
        if file.is_file() and file.suffix in {".ipynb", ".py", ".md", ".txt"}:
            text = file.read_text(encoding="utf-8", errors="replace")
            for marker in _SECRET_MARKERS:
                if marker in text:
                    raise RuntimeError(f"{file}: '{marker}' is still there after nbgrader "
                                       "generate_assignment; check that cell's nbgrader "
                                       "metadata (solution / grade cell) in the source")
