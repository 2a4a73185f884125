"""Release: the student version of every lesson, made by nbgrader's ``generate_assignment``.

``release(out)`` writes ``out/<lesson>/<lesson>.ipynb`` for every lesson (solutions replaced by
stubs, hidden tests and outputs removed, test cells locked). How nbgrader is driven lives in
``nbgrader_glue``; grading the submissions in ``grader``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from cnnkit.grading.course import (
    exercises_dir,
    select_lessons,
)
from cnnkit.grading.nbgrader_glue import (
    Course,
    check_release,
    close_logger,
    copy_file,
    generate_assignment,
    make_logger,
)

__all__ = ["release"]


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
