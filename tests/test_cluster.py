"""``cnnkit.cluster.map_tasks``: in this process, in N local processes, and on a Dask cluster.

The Dask tests start a real scheduler and two workers as separate processes on 127.0.0.1
(``dask scheduler`` / ``dask worker --nthreads 1``), run tasks and a small report grid through
them, and compare with a local run.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import nbformat
import pytest
from local_dask import local_cluster

from cnnkit.cli import main
from cnnkit.cluster import Outcome, map_tasks
from cnnkit.report import plan_runs, run_report

HERE = Path(__file__).resolve().parent


def slow_square(x: float) -> float:
    """x squared, after sleeping longer for smaller x (so completion order is reversed)."""
    time.sleep(0.3 / (1 + abs(x)))
    if x < 0:
        raise ValueError(f"negative input {x}\nsecond line")
    return x * x


def test_in_process_keeps_order_and_reports_failures_by_name(capsys):
    outcomes = map_tasks(slow_square, [3, -1, 2], names=["three", "minus one", "two"],
                         progress=False)
    assert [o.name for o in outcomes] == ["three", "minus one", "two"]
    assert [o.value for o in outcomes] == [9, None, 4]
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error == "ValueError: negative input -1"  # first line only
    assert all(o.seconds > 0 for o in outcomes)
    assert capsys.readouterr().err == ""  # progress=False: no bar


def test_default_names_and_argument_checks():
    assert [o.name for o in map_tasks(abs, [-1, -2], progress=False)] == ["task 1", "task 2"]
    assert map_tasks(abs, [], progress=False) == []
    with pytest.raises(ValueError, match="one entry per task"):
        map_tasks(abs, [1, 2], names=["a"], progress=False)
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        map_tasks(abs, [1], jobs=0, progress=False)
    with pytest.raises(TypeError, match="jobs must be an int"):
        map_tasks(abs, [1], jobs=True, progress=False)


def test_each_outcome_is_handed_over_as_soon_as_it_ends():
    seen = []
    map_tasks(abs, [-1, -2, 3], progress=False,
              on_outcome=lambda i, outcome: seen.append((i, outcome.value)))
    assert seen == [(0, 1), (1, 2), (2, 3)]

    def interrupted_after_the_second(i, outcome):  # a caller saving each result, then Ctrl-C
        seen.append(i)
        if i == 1:
            raise KeyboardInterrupt

    seen.clear()
    with pytest.raises(KeyboardInterrupt):
        map_tasks(abs, [-1, -2, 3], progress=False, on_outcome=interrupted_after_the_second)
    assert seen == [0, 1]  # what ended before the interruption was handed over


def test_progress_bar_counts_every_task_and_what_was_done_before(capsys):
    map_tasks(abs, [-1, -2], desc="runs", unit="run", already_done=3)
    err = capsys.readouterr().err
    assert "runs" in err and "5/5" in err


def test_process_pool_keeps_input_order_and_names_dead_workers():
    # Standard-library functions: the spawned workers need not import this test module.
    outcomes = map_tasks(math.sqrt, [16, 1, -1, 9], jobs=2, progress=False)
    assert [o.value for o in outcomes] == [4, 1, None, 3]
    assert outcomes[2].error == "ValueError: math domain error"
    crashed = map_tasks(os._exit, [3, 3], jobs=2, names=["dies", "dies too"], progress=False)
    assert [o.name for o in crashed] == ["dies", "dies too"]
    assert all(o.error.startswith("BrokenProcessPool") for o in crashed)


# --- a real Dask cluster on this machine -----------------------------------------------


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A scheduler and two single-thread workers on 127.0.0.1; yields the scheduler address."""
    pytest.importorskip("distributed")
    with local_cluster(tmp_path_factory.mktemp("dask"), pythonpath=str(HERE)) as cluster:
        yield cluster


@pytest.mark.slow
def test_dask_gives_what_a_local_run_gives(dask_cluster):
    tasks = [0, 1, 2, 3, -5, 4]
    names = [f"square of {t}" for t in tasks]
    local = map_tasks(slow_square, tasks, names=names, progress=False)
    remote = map_tasks(slow_square, tasks, names=names, scheduler=dask_cluster["address"],
                       progress=False)
    assert [(o.name, o.value, o.error) for o in remote] == [
        (o.name, o.value, o.error) for o in local]
    assert remote[4].error == "ValueError: negative input -5"


@pytest.mark.slow
def test_dask_reruns_the_task_of_a_worker_that_dies(dask_cluster, tmp_path):
    """A worker killed mid-task: the scheduler runs its task again on the other worker."""
    from distributed import Client

    with Client(dask_cluster["address"], timeout="60s") as client:
        pids = client.run(os.getpid)
        outcomes = map_tasks(time.sleep, [1.5] * 4, scheduler=client, progress=False,
                             names=[f"sleep {i}" for i in range(4)])
        assert all(o.ok for o in outcomes)
        future = client.submit(time.sleep, 5, pure=False)
        deadline = time.monotonic() + 30
        while not client.processing() or not any(client.processing().values()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        busy = next(w for w, keys in client.processing().items() if keys)
        os.kill(pids[busy], 9)
        future.result(timeout=120)  # re-run on the surviving worker
        assert sum(1 for p in dask_cluster["workers"] if p.poll() is None) == 1


def _scratch_grid(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3",
                              "language": "python"}
    params = nbformat.v4.new_code_cell("scale = 1  # 1..3\nname = 'a'  # one of: a, b")
    params.metadata.tags = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(
        "from cnnkit.report import record, record_history\n"
        "record('accuracy', 0.5 + 0.1 * scale)\n"
        "record_history({'train_loss': [1.0, 1.0 / scale], 'val_acc': [0.2, 0.2 * scale]})\n"
        "assert name != 'b' or scale != 3, 'deliberate failure'"
    )]
    path = folder / "scratch.ipynb"
    nbformat.write(nb, path)
    return path


def _comparable(out: Path) -> list[tuple]:
    rows = json.loads((out / "results.json").read_text())["runs"]
    return [(r["run_id"], r["status"], r["error"], r["effective_parameters"], r["metrics"],
             r["curves"]) for r in rows]


@pytest.mark.slow
def test_a_report_grid_through_dask_equals_a_local_run(dask_cluster, tmp_path, capsys):
    notebook = _scratch_grid(tmp_path)
    runs = plan_runs([notebook], [("scale", ["1", "3"]), ("name", ["a", "b"])])
    local = run_report(runs, tmp_path / "local", timeout=60, progress=False)
    assert [r.run_id for r in local] == [s.run_id for s in runs]
    remote_out = tmp_path / "remote"
    code = main(["report", str(notebook), "-p", "scale=1,3", "-p", "name=a,b", "--timeout", "60",
                 "--out", str(remote_out), "--scheduler", dask_cluster["address"]])
    assert code == 1  # the deliberate failure
    printed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in printed[:-1]] == ["ok", "ok", "ok", "failed"]
    assert "AssertionError: deliberate failure" in printed[3]
    assert [r.status for r in local] == ["ok", "ok", "ok", "failed"]
    assert _comparable(remote_out) == _comparable(tmp_path / "local")
    assert (remote_out / "_static" / "mathjax" / "MathJax.js").is_file()
    for spec in runs:
        assert (remote_out / f"{spec.run_id}.html").is_file()


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("cnnkit.cluster.CONNECT_TIMEOUT", "1s")
    pytest.importorskip("distributed")
    with pytest.raises(ConnectionError, match="cannot reach the Dask scheduler at tcp://"):
        map_tasks(abs, [1], scheduler="tcp://127.0.0.1:9", progress=False)


def test_outcome_ok():
    assert Outcome("a", value=None).ok and not Outcome("a", error="E: x").ok
