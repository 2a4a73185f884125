"""Copies flagged: every answer compared with the published reference solution and with the
other students' answers to the same part (``copydetect``: winnowed fingerprints of the token
stream with names normalised, as MOSS does), for a person to look at; never a verdict.

``compare(answers, references)`` takes ``{(student, lesson, part): code}`` and
``{(lesson, part): reference code}`` and returns the rows of ``similarity.csv``:
``(student, lesson, part, compared_with, score)``, ``compared_with`` being ``"reference"`` or
another student, ``score`` the share of the student's code (in tokens) found in the other (0..1).
Trivial answers are left out: fewer than ``MIN_TOKENS`` tokens, or no function or class defined
(filled-in numbers).
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["MIN_TOKENS", "THRESHOLD", "COLUMNS", "compare", "flagged", "gather_and_compare"]

MIN_TOKENS = 40
THRESHOLD = 0.8  # flagged in review.csv at or above this share
COLUMNS = ("student", "lesson", "part", "compared_with", "score")
_NOISE, _GUARANTEE = 12, 16  # k-gram size and guarantee, in tokens


def _fingerprint(code: str):
    from copydetect import CodeFingerprint

    return CodeFingerprint("answer.py", _NOISE, _GUARANTEE - _NOISE + 1, fp=io.StringIO(code),
                           language="py")


def _share(a, b) -> float:
    """The share of ``a``'s tokens that also appear in ``b``."""
    from copydetect import compare_files

    if not len(a.hashes) or not len(b.hashes):
        return 0.0
    _, (share_a, _), _ = compare_files(a, b)
    return float(share_a)


def compare(answers: dict[tuple[str, str, str], str],
            references: dict[tuple[str, str], str]) -> list[tuple[str, str, str, str, float]]:
    """The rows of ``similarity.csv`` (see the module docstring), sorted."""
    prints = {}
    for key, code in answers.items():
        fp = _fingerprint(code)
        if len(fp.hashes) >= 2 and _tokens(code) >= MIN_TOKENS and _defines(code):
            prints[key] = fp
    rows = []
    reference_prints = {k: _fingerprint(v) for k, v in references.items()}
    for (student, lesson, part), fp in prints.items():
        ref = reference_prints.get((lesson, part))
        if ref is not None:
            rows.append((student, lesson, part, "reference", round(_share(fp, ref), 3)))
    by_part: dict[tuple[str, str], list[str]] = {}
    for student, lesson, part in prints:
        by_part.setdefault((lesson, part), []).append(student)
    for (lesson, part), students in by_part.items():
        for a, b in itertools.combinations(sorted(students), 2):
            fa, fb = prints[(a, lesson, part)], prints[(b, lesson, part)]
            score = round(max(_share(fa, fb), _share(fb, fa)), 3)
            rows.append((a, lesson, part, b, score))
    return sorted(rows)


def _defines(code: str) -> bool:
    """Whether ``code`` defines a function or a class (filled-in values are not compared)."""
    import ast

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "def " in code or "class " in code
    return any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree))


def _tokens(code: str) -> int:
    """Python tokens of ``code``, comments and blank lines left out."""
    import tokenize

    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    try:
        return sum(t.type not in skip for t in tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return len(code.split())


def flagged(rows: Iterable[tuple[str, str, str, str, float]]) -> list[tuple[str, str, str, str]]:
    """review.csv rows for the comparisons at or above ``THRESHOLD``."""
    out = []
    for student, lesson, part, other, score in rows:
        if score >= THRESHOLD:
            what = ("near-copy of the reference solution" if other == "reference"
                    else f"answer shared with {other}")
            out.append((student, lesson, "similar code", f"{part}: {what} ({score:.0%})"))
    return out


def _answers_by_part(source) -> dict[str, list[str]]:
    """``{test grade_id: [grade_ids of its answer cells]}`` of a source notebook."""
    from cnnkit.grading.execute import nbgrader_meta

    parts, pending = {}, []
    for cell in source.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution"):
            pending.append(gid)
        elif nbgrader_meta(cell).get("grade"):
            parts[gid], pending = pending, []
    return parts


def _cells(path: Path) -> dict[str, str] | None:
    """``{grade_id: source}`` of a submission, or None if it cannot be read."""
    import nbformat

    from cnnkit.grading.execute import nbgrader_meta

    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception:  # unreadable: grading reports it
        return None
    return {nbgrader_meta(c).get("grade_id"): c.source for c in nb.cells}


def gather_and_compare(sources: dict, submissions: dict[tuple[str, str], Path]
                       ) -> list[tuple[str, str, str, str, float]]:
    """``compare`` over the answers of ``submissions`` (``{(student, lesson): notebook}``),
    part by part, with the reference solutions of ``sources`` (``{lesson: source notebook}``);
    untouched answers (the release's stub) are left out."""
    from cnnkit.grading.execute import STUB, nbgrader_meta

    answers, references = {}, {}
    marker = re.compile(r"^\s*### (BEGIN|END) SOLUTION\n", re.M)
    mine = {key: _cells(path) for key, path in submissions.items()}
    for lesson, source in sources.items():
        cells = {nbgrader_meta(c).get("grade_id"): c.source for c in source.cells}
        for part, gids in _answers_by_part(source).items():
            references[(lesson, part)] = "\n".join(marker.sub("", cells[g]) for g in gids)
            for (student, name), found in mine.items():
                if name != lesson or found is None:
                    continue
                code = "\n".join(found.get(g, "") for g in gids)
                if code.strip() and STUB not in code:
                    answers[(student, lesson, part)] = code
    return compare(answers, references)
