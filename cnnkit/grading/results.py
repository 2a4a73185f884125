"""What grading produces: one ``PartGrade`` per student, lesson and part, gathered in a
``GradingResult``, and the CSV files written from it."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from cnnkit._atomic import write_atomic

__all__ = ["CSV_COLUMNS", "TOTALS_COLUMNS", "PartGrade", "GradingResult", "write_csvs"]

CSV_COLUMNS = ("student", "lesson", "part", "points", "max")
TOTALS_COLUMNS = ("student", "lesson", "points", "max", "status")


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
    failed: ``{(student, lesson): reason}`` for notebooks that could not be graded.
    restored: ``{(student, lesson): ["<grade_id> (edited)", ...]}``, the locked cells a
        submission had edited or deleted, graded with the original instead.
    ignored: notebooks and folders under the submissions folder that were not graded, each
        with the reason.
    feedback: ``{(student, lesson): path of the feedback HTML}``.
    part_feedback: ``{(student, lesson): {part: the grader's line of feedback}}``.
    review: ``[(student, lesson, flag, detail)]``, the rows of ``review.csv``: signs of
        tampering for a person to look at, never a verdict.
    """

    out: Path
    grades: list[PartGrade] = field(default_factory=list)
    status: dict[tuple[str, str], str] = field(default_factory=dict)
    failed: dict[tuple[str, str], str] = field(default_factory=dict)
    restored: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    feedback: dict[tuple[str, str], Path] = field(default_factory=dict)
    part_feedback: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    review: list[tuple[str, str, str, str]] = field(default_factory=list)

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



def _number(x: float) -> str:
    return f"{x:g}"


def _csv_text(header: tuple[str, ...], rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_csvs(result: GradingResult) -> None:
    """``grades.csv`` and ``totals.csv``, each written atomically (``write_atomic``)."""
    write_atomic(result.grades_csv, _csv_text(CSV_COLUMNS, (
        (g.student, g.lesson, g.part, _number(g.points), _number(g.max))
        for g in result.grades)))
    write_atomic(result.totals_csv, _csv_text(TOTALS_COLUMNS, (
        (student, lesson, _number(points), _number(most), result.status[(student, lesson)])
        for (student, lesson), (points, most) in result.totals().items())))
