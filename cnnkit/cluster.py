"""Run one function over many tasks: here, in N local processes, or on a Dask cluster.

:func:`map_tasks` is the one fan-out mechanism of the instructor tools (report grids, grading):

* ``scheduler=None, jobs=1``: one after the other in this process (nothing is pickled);
* ``scheduler=None, jobs=N``: N worker processes started with ``spawn``
  (``concurrent.futures.ProcessPoolExecutor``);
* ``scheduler="tcp://host:8786"`` (or a ``distributed.Client``): every task is submitted to a
  Dask distributed cluster (``dask scheduler`` / ``dask worker`` on machines with the course
  installed and the same paths visible: a shared or identical file system). A worker that dies
  mid-task has its task re-run elsewhere by the scheduler; only a task that kills several
  workers in a row fails (``KilledWorker``).

Whatever the engine, the results come back as :class:`Outcome` s in the order of ``tasks``; a task
that raises (or whose worker process dies) is an outcome with ``error`` set and its ``name``, and
the other tasks still run. One tqdm bar on stderr counts every task.

``function`` and the tasks must be picklable (a module-level function, plain data) for the
process pool and the cluster. Ctrl-C cancels what has not started and re-raises.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cnnkit._validate import check_int

__all__ = ["CONNECT_TIMEOUT", "Outcome", "error_line", "map_tasks"]

_MAX_ERROR_CHARS = 300
CONNECT_TIMEOUT = "30s"
"""How long :func:`map_tasks` tries to reach a Dask scheduler given by address."""


@dataclass
class Outcome:
    """The result of one task: ``value`` if it returned, else ``error`` (one line).

    name: the task's name (for messages); seconds: wall time seen by the caller (for the
    process pool and the cluster: from submission to completion).
    """

    name: str
    value: Any = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True if the task returned normally."""
        return self.error is None


def error_line(exc: BaseException) -> str:
    """``"TypeName: first line of the message"``, shortened to a sensible length."""
    text = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), "")
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 1] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def map_tasks(
    function: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    names: Sequence[str] | None = None,
    jobs: int = 1,
    scheduler: Any = None,
    progress: bool = True,
    desc: str = "tasks",
    unit: str = "task",
    already_done: int = 0,
    on_outcome: Callable[[int, Outcome], None] | None = None,
) -> list[Outcome]:
    """``function(task)`` for every task; the outcomes in the order of ``tasks``.

    names: one per task, shown in the progress bar and in errors (default ``"task 1"``, ...).
    jobs: local worker processes (>= 1; ignored with a ``scheduler``).
    scheduler: ``None`` (local), a Dask scheduler address (``"tcp://127.0.0.1:8786"``) or a
    ``distributed.Client`` (left open).
    progress: show a tqdm bar (``desc``, ``unit``) whose total is ``already_done + len(tasks)``
    and which starts at ``already_done`` (work a caller skipped, such as up-to-date runs).
    on_outcome: called in this thread as ``on_outcome(index, outcome)`` as soon as each task
    ends (in the order they end), so that a caller can save each result at once: an interrupted
    run then keeps what finished.
    """
    tasks = list(tasks)
    check_int(jobs, "jobs", minimum=1)
    check_int(already_done, "already_done", minimum=0)
    labels = _task_names(names, len(tasks))
    from tqdm.auto import tqdm

    outcomes: list[Outcome | None] = [None] * len(tasks)
    with tqdm(total=already_done + len(tasks), initial=already_done, desc=desc, unit=unit,
              disable=not progress) as bar:
        if scheduler is not None:
            stream = _on_cluster(function, tasks, labels, scheduler)
        elif jobs == 1 or len(tasks) <= 1:
            stream = _in_process(function, tasks, labels)
        else:
            stream = _in_pool(function, tasks, labels, jobs)
        for index, outcome in stream:
            outcomes[index] = outcome
            if on_outcome is not None:
                on_outcome(index, outcome)
            bar.set_postfix_str(outcome.name, refresh=False)
            bar.update()
    return [o for o in outcomes if o is not None]


def _task_names(names: Sequence[str] | None, count: int) -> list[str]:
    if names is None:
        return [f"task {i + 1}" for i in range(count)]
    labels = [str(n) for n in names]
    if len(labels) != count:
        raise ValueError(f"names must have one entry per task ({count}); got {len(labels)}")
    return labels


def _in_process(function, tasks, labels) -> Iterator[tuple[int, Outcome]]:
    for i, task in enumerate(tasks):
        start = time.perf_counter()
        try:
            outcome = Outcome(labels[i], value=function(task))
        except Exception as exc:
            outcome = Outcome(labels[i], error=error_line(exc))
        outcome.seconds = time.perf_counter() - start
        yield i, outcome


def _in_pool(function, tasks, labels, jobs) -> Iterator[tuple[int, Outcome]]:
    """Up to ``jobs`` spawned processes; a process that dies fails its task, not the others."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context) as pool:
        start = time.perf_counter()
        futures = {pool.submit(function, task): i for i, task in enumerate(tasks)}
        try:
            for future in as_completed(futures):
                i = futures[future]
                yield i, _from_future(labels[i], future.result, start)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _from_future(name: str, result: Callable[[], Any], start: float) -> Outcome:
    try:
        outcome = Outcome(name, value=result())
    except Exception as exc:  # the task raised, or its worker died (BrokenProcessPool, ...)
        outcome = Outcome(name, error=error_line(exc))
    outcome.seconds = time.perf_counter() - start
    return outcome


def _connect(client_class: type, address: str) -> Any:
    try:
        return client_class(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ConnectionError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


def _on_cluster(function, tasks, labels, scheduler) -> Iterator[tuple[int, Outcome]]:
    """Submit every task to the Dask cluster and yield the outcomes as they complete."""
    try:
        from distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - distributed ships with the instructor extra
        raise ImportError(
            "a Dask scheduler needs the distributed package: pip install 'cnnkit[instructor]'"
        ) from exc
    own = isinstance(scheduler, str)
    client = _connect(Client, scheduler) if own else scheduler
    try:
        run = uuid.uuid4().hex[:8]
        start = time.perf_counter()
        futures = [
            client.submit(function, task, key=f"cnnkit-{run}-{i}", pure=False)
            for i, task in enumerate(tasks)
        ]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures, loop=client.loop):
                i = index[future.key]
                yield i, _from_future(labels[i], future.result, start)
        except BaseException:
            client.cancel(futures)
            raise
    finally:
        if own:
            client.close()
