"""Graded exercises: release them to students and autograde what comes back.

The graded exercises live in ``exercises/``, an nbgrader course directory::

    exercises/nbgrader_config.py                 settings (per-cell time limit, ...)
    exercises/source/<lesson>/<lesson>.ipynb     instructor version: solutions, hidden tests

Every lesson folder under ``source/`` is picked up; adding a lesson means adding its folder.
The package is the instructor workflow without JupyterHub or nbgrader's exchange, one idea per
module:

- ``course``: the layout (lessons, graded parts, the submissions a folder holds);
- ``workflow``: ``release(out)``, the student versions (through ``nbgrader_glue``: how
  nbgrader is imported, configured and run);
- ``grader``: ``autograde(submissions, out)``, the grading pipeline (hashes, resume, CSVs),
  built on ``execute`` (what runs: original locked cells, one kernel per notebook),
  ``sandbox`` (bubblewrap, limits, unprivileged user), ``probe`` (the only code of this
  package a student's kernel runs: hands outputs back as plain data), ``handin`` (the verdict,
  in the grader's process), ``feedback`` (what a student gets back, without the graded
  sources), ``review`` (signs of tampering), ``similarity`` (copies of the reference or of
  each other, with copydetect), ``state`` (the saved verdicts a re-run resumes from) and
  ``secret`` (the instructor's secret the hidden inputs are drawn from);
- ``results``: ``PartGrade``, ``GradingResult`` and the CSV files.

nbgrader is an optional dependency: ``pip install 'cnnkit[instructor]'``, imported only when a
function needs it. No module here imports ipywidgets or matplotlib.
"""

from __future__ import annotations

from cnnkit.grading.course import (
    INSTALL_HINT,
    GradingError,
    exercises_dir,
    find_submissions,
    graded_parts,
    lessons,
)
from cnnkit.grading.grader import autograde
from cnnkit.grading.results import CSV_COLUMNS, TOTALS_COLUMNS, GradingResult, PartGrade
from cnnkit.grading.sandbox import Limits, SandboxError
from cnnkit.grading.workflow import release

__all__ = [
    "INSTALL_HINT",
    "CSV_COLUMNS",
    "TOTALS_COLUMNS",
    "GradingError",
    "PartGrade",
    "GradingResult",
    "exercises_dir",
    "lessons",
    "graded_parts",
    "find_submissions",
    "release",
    "autograde",
    "Limits",
    "SandboxError",
]
