"""Grading on a Dask cluster (``autograde(scheduler=...)``, ``cnnkit exercises autograde
--scheduler``): the same CSVs as a local run, a worker killed mid-run loses or doubles no grade,
and a notebook whose task fails is a "failed" grade for that student alone, named, not a crash.

The slow test starts a real scheduler and two single-thread workers as separate processes on
127.0.0.1 (``dask scheduler`` / ``dask worker --no-nanny``) and grades five students of lesson 1
(the reference solution, the untouched release, and the bypass, tamper and honest students of
``grading_students``) once here and once through the cluster, killing the worker that is busy
with a notebook. About a minute and a half on a loaded 2-core machine.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import grading_students
import nbformat
import pytest
from local_dask import local_cluster
from tqdm.auto import tqdm

from cnnkit import grading
from cnnkit.cli import main
from cnnkit.cluster import Outcome
from cnnkit.grading import grader, remote
from cnnkit.grading.state import load_verdict, verdict_path

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
LESSON = "01_convolution"
SECRET = "ci-test-secret"
TIMEOUT = 20  # seconds per cell, as in test_grading_autograde
EXPECTED = {"reference": 14.0, "untouched": 0.0, "bypass": 4.0, "tamper": 0.0, "honest": 14.0}


def test_jobs_and_scheduler_exclude_each_other(tmp_path, capsys):
    (tmp_path / "class" / "ann").mkdir(parents=True)
    (tmp_path / "class" / "ann" / f"{LESSON}.ipynb").write_text("{}")
    with pytest.raises(grading.GradingError, match="jobs and scheduler exclude each other"):
        grading.autograde(tmp_path / "class", tmp_path / "out", jobs=2, progress=False,
                          scheduler="tcp://127.0.0.1:9")
    assert main(["exercises", "autograde", str(tmp_path / "class"), "--jobs", "2",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2  # a usage error
    assert "not allowed with argument --jobs" in capsys.readouterr().err


def test_an_unreachable_scheduler_stops_the_run_before_anything_runs(tmp_path, monkeypatch,
                                                                     capsys):
    pytest.importorskip("distributed")
    if not shutil.which("bwrap"):
        pytest.skip("bubblewrap (bwrap) is not installed: autograde checks for it first")
    monkeypatch.setattr("cnnkit.cluster.CONNECT_TIMEOUT", "1s")
    (tmp_path / "class" / "ann").mkdir(parents=True)
    (tmp_path / "class" / "ann" / f"{LESSON}.ipynb").write_text("{}")
    code = main(["exercises", "autograde", str(tmp_path / "class"), "--out",
                 str(tmp_path / "out"), "--secret", SECRET, "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in capsys.readouterr().err
    assert not (tmp_path / "out" / ".work").exists()
    assert not (tmp_path / "out" / ".state").exists()  # nothing was graded


def test_a_failed_task_is_a_failed_grade_for_that_student_alone(tmp_path, monkeypatch, caplog):
    """map_tasks reports one task as failed: that student scores 0 ("failed", named in the
    log); the verdict is saved (the CSVs are checked against it) under a key the next run does
    not reuse, so the notebook is graded again."""
    lesson = grader._load_lesson(EXERCISES, LESSON)
    lesson.references, lesson.release_view = {}, tmp_path / "locked.ipynb"
    parts = [[part, most, most, "✔ ok"] for part, most in lesson.parts]

    def fake_map_tasks(function, tasks, *, names, **options):
        assert function is remote.grade_task
        assert json.loads(json.dumps(tasks)) == tasks  # plain data only
        assert [t["student"] for t in tasks] == ["ann", "bob"]
        assert "log" not in tasks[0]["settings"]
        done = {"status": "graded", "parts": parts, "failed": "", "restored": [],
                "flags": [], "worker": "host:1"}
        outcomes = [Outcome(names[0], value=done),
                    Outcome(names[1], error="KilledWorker: all those workers died")]
        for index, outcome in enumerate(outcomes):  # each verdict is saved as its task ends
            options["on_outcome"](index, outcome)
        return outcomes

    monkeypatch.setattr("cnnkit.cluster.map_tasks", fake_map_tasks)
    log = logging.getLogger("test_grading_cluster")
    settings = grader._Settings(TIMEOUT, True, SECRET, grading.Limits(), log,
                                scheduler="tcp://127.0.0.1:9")
    todo = {name: (tmp_path / f"{name}.ipynb", {"submission": name},
                   verdict_path(tmp_path, name, LESSON)) for name in ("ann", "bob")}
    with caplog.at_level(logging.INFO, logger=log.name), tqdm(disable=True) as bar:
        states = grader._grade_on_cluster(lesson, todo, tmp_path, tmp_path, settings, bar)
    assert states["ann"].status == "graded" and states["ann"].parts == parts
    assert states["bob"].status == "failed" and "KilledWorker" in states["bob"].failed
    assert [p[1] for p in states["bob"].parts] == [0.0] * len(lesson.parts)
    assert f"bob, {LESSON}: the grading task failed on the cluster: KilledWorker" in caplog.text
    assert "graded by worker host:1" in caplog.text
    assert load_verdict(todo["ann"][2], todo["ann"][1]) == states["ann"]
    assert todo["bob"][2].is_file() and load_verdict(todo["bob"][2], todo["bob"][1]) is None


# --- a real Dask cluster on this machine -----------------------------------------------


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two single-thread workers on 127.0.0.1 (fresh: the test kills one)."""
    pytest.importorskip("distributed")
    with local_cluster(tmp_path) as cluster:
        yield cluster


def _build_class(base: Path) -> Path:
    """Five students of lesson 1 in ``base/class`` (``EXPECTED`` gives their points)."""
    release = base / "release"
    grading.release(release, lessons=[LESSON])
    released = nbformat.read(str(release / LESSON / f"{LESSON}.ipynb"), as_version=4)
    source = nbformat.read(str(EXERCISES / "source" / LESSON / f"{LESSON}.ipynb"), as_version=4)
    context = {"repo": str(ROOT), "out": str(base / "out"), "submissions": str(base / "class"),
               "pid": os.getpid()}
    chosen = {"reference": ({}, [])}
    for student, lessons in grading_students.students(context).items():
        if LESSON in lessons:
            answers, extra, _ = lessons[LESSON]
            chosen[student] = (answers, extra)
    for student in EXPECTED:
        (base / "class" / student).mkdir(parents=True)
        nb = (released if student == "untouched" else
              grading_students.build_one(released, source, *chosen[student]))
        nbformat.write(nb, str(base / "class" / student / f"{LESSON}.ipynb"))
    return base / "class"


def _kill_a_busy_worker(address: str, stop: threading.Event) -> tuple[int, int] | None:
    """Wait until a worker has run a grading task for a second; kill it (SIGKILL) while it
    still has one. Returns (the killed worker's PID, the index of its task), or None if
    grading ended first."""
    from distributed import Client

    def busy_now(client) -> dict:
        return {w: [str(k) for k in keys if str(k).startswith("cnnkit-")]
                for w, keys in client.processing().items()}

    with Client(address, timeout="60s") as client:
        pids = client.run(os.getpid)
        while not stop.is_set():
            if any(busy_now(client).values()):
                time.sleep(1)
                worker, keys = next(((w, k) for w, k in busy_now(client).items() if k),
                                    (None, None))
                if worker is not None:
                    os.kill(pids[worker], signal.SIGKILL)
                    return pids[worker], int(keys[0].rsplit("-", 1)[1])
            time.sleep(0.1)
    return None


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_the_cluster_grades_like_a_local_run_despite_a_killed_worker(dask_cluster, tmp_path):
    if not shutil.which("bwrap"):
        pytest.skip("bubblewrap (bwrap) is not installed: the graded kernels run in it")
    pytest.importorskip("nbgrader", reason="pip install 'cnnkit[instructor]'")
    submissions = _build_class(tmp_path)
    local = grading.autograde(submissions, tmp_path / "local", timeout=TIMEOUT, secret=SECRET,
                              progress=False, lessons=[LESSON])
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=lambda: killed.append(
        _kill_a_busy_worker(dask_cluster["address"], stop)))
    killer.start()
    try:
        code = main(["exercises", "autograde", str(submissions), "--out",
                     str(tmp_path / "cluster"), "--lesson", LESSON, "--secret", SECRET,
                     "--timeout", str(TIMEOUT), "--scheduler", dask_cluster["address"]])
    finally:
        stop.set()
        killer.join(timeout=120)
    assert killed and killed[0] is not None, "no worker was busy with a notebook"
    pid, task = killed[0]
    assert sum(1 for p in dask_cluster["workers"] if p.poll() is None) == 1
    assert code == 0  # every notebook graded: the killed worker's task ran again elsewhere
    out = tmp_path / "cluster"
    log = (out / "grading.log").read_text(encoding="utf-8")
    assert f"on the Dask cluster at {dask_cluster['address']}" in log
    graded_by = {line.split(" for ")[1].split()[0]: line.split("graded by worker ")[1].split()[0]
                 for line in log.splitlines() if "graded by worker" in line}
    assert log.count("graded by worker") == len(graded_by) == len(EXPECTED)  # each once
    assert not graded_by[sorted(EXPECTED)[task]].endswith(f":{pid}")  # re-run elsewhere
    grades = _rows(out / "grades.csv")
    keys = [(r["student"], r["part"]) for r in grades]
    assert len(keys) == len(set(keys)) == len(EXPECTED) * len(grading.graded_parts(
        nbformat.read(str(EXERCISES / "source" / LESSON / f"{LESSON}.ipynb"), as_version=4)))
    totals = {r["student"]: float(r["points"]) for r in _rows(out / "totals.csv")}
    assert totals == EXPECTED
    for name in ("grades.csv", "totals.csv", "review.csv"):
        assert (out / name).read_text() == (local.out / name).read_text(), name
    for student in EXPECTED:
        assert (out / "feedback" / student / f"{LESSON}.html").is_file()
    assert not (out / ".work").exists()
