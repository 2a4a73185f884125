"""The saved verdicts: one JSON file per graded notebook, ``out/.state/<student>/<lesson>.json``.

They are the run's gradebook: written atomically as soon as a notebook is graded (a grader
killed halfway keeps what it had graded), reused by the next run when nothing that decides the
verdict changed (``key``: the submission's and the source's SHA-256, the secret's fingerprint,
the sandbox setting, the time limit), and the CSVs are checked against them at the end. They
hold points and feedback lines, never a solution or a hidden test.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cnnkit._atomic import write_atomic

__all__ = ["SavedVerdict", "verdict_path", "load_verdict", "save_verdict",
           "check_csv_against_verdicts"]


@dataclass
class SavedVerdict:
    """One graded notebook: ``parts`` = [[part, points, max, feedback], ...]; ``flags`` =
    [[flag, detail], ...] for review.csv; ``restored``: locked cells the student changed."""

    key: dict
    status: str
    parts: list[list] = field(default_factory=list)
    failed: str = ""
    restored: list[str] = field(default_factory=list)
    flags: list[list[str]] = field(default_factory=list)


def verdict_path(out: Path, student: str, lesson: str) -> Path:
    return out / ".state" / student / f"{lesson}.json"


def load_verdict(path: Path, key: dict) -> SavedVerdict | None:
    """The verdict saved at ``path`` if it was made under ``key``, else None."""
    try:
        verdict = SavedVerdict(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None
    return verdict if verdict.key == key else None


def save_verdict(path: Path, verdict: SavedVerdict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(asdict(verdict), indent=1, ensure_ascii=False))


def check_csv_against_verdicts(grades_csv: Path, out: Path,
                               status: dict[tuple[str, str], str]) -> None:
    """Re-read ``grades.csv`` and compare every graded row with its saved verdict; raises
    ``RuntimeError`` on the first difference."""
    with open(grades_csv, newline="", encoding="utf-8") as f:
        rows = [(r["student"], r["lesson"], r["part"], float(r["points"]))
                for r in csv.DictReader(f)]
    for student, lesson, part, points in rows:
        if status.get((student, lesson)) == "missing":
            continue
        saved = json.loads(verdict_path(out, student, lesson).read_text("utf-8"))
        points_of = {p: float(pts) for p, pts, _, _ in saved["parts"]}
        if points_of.get(part) != points:
            raise RuntimeError(f"grades.csv disagrees with the saved verdict of {student}, "
                               f"{lesson}, {part}: {points} vs {points_of.get(part)}")
