"""Grading notebooks on a Dask cluster: one task per submission, through ``cnnkit.cluster``.

The grader process keeps what decides and records a grade: it hashes the submissions, runs the
reference solutions, saves the verdicts, writes the CSVs. A task (:func:`grade_task`, module
level so that it pickles by reference) carries only plain data: the lesson (its source
notebook as JSON text, graded parts, secret lines and the reference hand-ins), the student, the
paths of the submission's copy, of the work and output folders, and the settings (no logger).
On the worker it rebuilds the lesson and the settings and calls the same
``grader._grade_submission`` as a local run: the submission runs in a bubblewrap sandbox there,
its hand-ins are judged by the grader code in the worker's process (never by the student's
kernel), the feedback files are written to the output folder, and the verdict comes back as a
dict.

Workers need the course installed (same version as the grader) and the grader's output folder
(``OUT/.work`` holds the submissions' copies) at the same path: a shared or identical file
system.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import nbformat

from cnnkit.grading import sandbox as sandboxing
from cnnkit.grading.state import SavedVerdict

__all__ = ["connected", "task_for", "grade_task", "verdict_of", "failed_verdict"]

_LOG = logging.getLogger("cnnkit.grading.remote")


@contextlib.contextmanager
def connected(scheduler: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for the whole run: ``scheduler`` itself if it is one (left
    open), a new one for an address (closed at the end), None for None. An unreachable
    address raises ``ConnectionError`` at once, before any reference solution runs."""
    if scheduler is None or not isinstance(scheduler, str):
        yield scheduler
        return
    from cnnkit import cluster

    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - distributed ships with the instructor extra
        raise ImportError("grading on a Dask cluster needs the distributed package: pip "
                          "install 'cnnkit[instructor]'") from exc
    try:
        client = Client(scheduler, timeout=cluster.CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    try:
        yield client
    finally:
        client.close()


def task_for(lesson: Any, student: str, copy: Path, work: Path, out: Path,
             settings: Any) -> dict:
    """The plain-data task grading ``student``'s ``copy`` of ``lesson`` (a ``grader._Lesson``
    whose references are computed) under ``settings`` (a ``grader._Settings``)."""
    return {
        "lesson": {"name": lesson.name, "source": nbformat.writes(lesson.source),
                   "sha": lesson.sha, "parts": [list(p) for p in lesson.parts],
                   "secrets": sorted(lesson.secrets), "references": lesson.references,
                   "release_view": str(lesson.release_view),
                   "rooms": [[list(hide), parts] for hide, parts in lesson.rooms.items()]},
        "student": student, "copy": str(copy), "work": str(work), "out": str(out),
        "settings": {"timeout": settings.timeout, "sandboxed": settings.sandboxed,
                     "secret": settings.secret, "limits": asdict(settings.limits)},
    }


def grade_task(task: dict) -> dict:
    """Run on a worker: grade one submission; returns the verdict as a dict (``SavedVerdict``
    fields without ``key``) plus ``worker``, ``"host:pid"`` of the process that graded it."""
    from cnnkit.grading import grader

    spec, given = task["lesson"], task["settings"]
    lesson = grader._Lesson(  # noqa: SLF001 (this module is the grader's remote half)
        spec["name"], nbformat.reads(spec["source"], as_version=4), spec["sha"],
        [(part, float(most)) for part, most in spec["parts"]], set(spec["secrets"]),
        references=spec["references"], release_view=Path(spec["release_view"]),
        rooms={tuple(hide): list(parts) for hide, parts in spec["rooms"]})
    settings = grader._Settings(  # noqa: SLF001
        given["timeout"], given["sandboxed"], given["secret"],
        sandboxing.Limits(**given["limits"]), _LOG)
    state = grader._grade_submission(  # noqa: SLF001
        lesson, task["student"], Path(task["copy"]), Path(task["work"]), Path(task["out"]),
        settings)
    verdict = asdict(state)
    verdict.pop("key")
    verdict["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return verdict


def verdict_of(value: dict, key: dict) -> SavedVerdict:
    """The ``SavedVerdict`` of a task's returned dict, made under ``key``."""
    fields = {name: value[name] for name in ("status", "parts", "failed", "restored", "flags")}
    return SavedVerdict(key=key, **fields)


def failed_verdict(parts: list[tuple[str, float]], error: str, key: dict) -> SavedVerdict:
    """0 points for every part of a notebook whose task failed (``error``: one line). Its key
    is marked so that the next run grades the notebook again instead of reusing this."""
    why = f"the grading task failed ({error})"
    return SavedVerdict(key={**key, "task_failed": True}, status="failed", failed=why,
                        parts=[[part, 0.0, most, f"✘ the notebook could not be graded: {why}"]
                               for part, most in parts])
