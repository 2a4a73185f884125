"""A Dask scheduler and two single-thread workers on 127.0.0.1, started as the real command-line
programs (``python -m dask scheduler|worker``), for the tests that grade or run reports on a
cluster (tests/test_cluster.py, tests/test_grading_cluster.py)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def _dask(*args: str, log: Path, pythonpath: str | None) -> subprocess.Popen:
    env = dict(os.environ)
    if pythonpath:  # the workers import functions of a test module
        env["PYTHONPATH"] = os.pathsep.join([pythonpath, os.environ.get("PYTHONPATH", "")])
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=out,
                                stderr=subprocess.STDOUT, env=env)


@contextlib.contextmanager
def local_cluster(folder: Path, pythonpath: str | None = None) -> Iterator[dict]:
    """Start the cluster (its log in ``folder/dask.log``), wait until both workers are
    connected, yield ``{"address", "workers" (their Popens), "log"}``; stop everything after."""
    import distributed

    log, scheduler_file = folder / "dask.log", folder / "scheduler.json"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                   "--scheduler-file", str(scheduler_file), log=log, pythonpath=pythonpath)]
    try:
        deadline = time.monotonic() + 120
        while not scheduler_file.exists():
            assert time.monotonic() < deadline, log.read_text()
            assert procs[0].poll() is None, log.read_text()
            time.sleep(0.2)
        address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(2):
            procs.append(_dask("worker", address, "--nthreads", "1", "--no-dashboard",
                               "--no-nanny", "--host", "127.0.0.1", log=log,
                               pythonpath=pythonpath))
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield {"address": address, "workers": procs[1:], "log": log}
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
