"""The course layout: where the graded sources are, which lessons and parts they hold, and which
submissions a folder holds. No nbgrader, no execution: plain files and notebook metadata.

Layout: ``exercises/source/<lesson>/<lesson>.ipynb`` (instructor versions);
``submissions/<student>/<lesson>.ipynb`` or ``submissions/<student>/<lesson>/<lesson>.ipynb``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

__all__ = ["INSTALL_HINT", "GradingError", "exercises_dir", "lessons", "graded_parts",
           "select_lessons", "source_notebook", "find_submissions", "locked_cells",
           "restored_cells"]

INSTALL_HINT = "pip install 'cnnkit[instructor]'"

_STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$")


class GradingError(ValueError):
    """A problem with what was asked (missing folder, unknown lesson, no submissions...)."""



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
            base = Path(__file__).resolve().parents[2] / "exercises"
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


def source_notebook(exercises: Path, lesson: str) -> Path:
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


def select_lessons(exercises: Path, wanted: Iterable[str] | None) -> list[str]:
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


def locked_cells(nb) -> dict[str, tuple[str, bool]]:
    """``{grade_id: (source, is_test_cell)}`` of a notebook's locked nbgrader cells."""
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") and (meta.get("locked") or meta.get("grade")):
            cells[meta["grade_id"]] = (cell.source, bool(meta.get("grade")))
    return cells



def restored_cells(submitted: Path, released: Path) -> list[str]:
    """Locked cells of the release that the submission edited or deleted."""
    try:
        sub = locked_cells(nbformat.read(str(submitted), as_version=4))
    except Exception:  # unreadable: nbgrader reports it when grading
        return []
    notes = []
    for grade_id, (source, is_test) in locked_cells(
            nbformat.read(str(released), as_version=4)).items():
        if grade_id not in sub:
            why = "" if is_test else "; not a test cell, so not put back"
            notes.append(f"{grade_id} (deleted{why})")
        elif sub[grade_id][0].strip() != source.strip():
            notes.append(f"{grade_id} (edited)")
    return notes

