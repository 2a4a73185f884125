"""Every lesson fits Binder, checked while nbval runs it.

Binder gives a session 2 GB; JupyterLab itself needs some, so each lesson's kernel (children
included) must peak at or below ``cnnkit.report.MEMORY_BUDGET_MB`` (1.5 GB). nbval already runs
every lesson top to bottom with its default parameters and the offline data (notebooks/), so
its kernel is measured there (``cnnkit.report.memory.MemoryMonitor``, the monitor `cnnkit
report` uses) instead of running the whole course a second time: after a lesson's last cell
its peak is checked (a failure is reported at that cell's teardown, naming the lesson and the
peak), and the end of the run prints every lesson's peak. Memory is stable enough to assert;
time is not, so run times are not asserted anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnkit.report import MEMORY_BUDGET_MB
from cnnkit.report.memory import MemoryMonitor

BUDGET_MB = MEMORY_BUDGET_MB  # Binder's 2 GB less what JupyterLab needs (tests/test_report.py)
LESSONS = Path(__file__).resolve().parent / "notebooks"
_monitors: dict[Path, MemoryMonitor] = {}
_peaks: dict[str, float | None] = {}


def _lesson_of(item: pytest.Item) -> Path | None:
    """The lesson notebook whose cell ``item`` is (nbval), or None."""
    path = Path(str(getattr(item, "path", getattr(item, "fspath", ""))))
    if path.suffix != ".ipynb" or path.parent != LESSONS or not path.name[:2].isdigit():
        return None
    return path


def _kernel_pid(item: pytest.Item) -> int | None:
    kernel = getattr(item.parent, "kernel", None)
    km = getattr(kernel, "km", None)
    provisioner = getattr(km, "provisioner", None)
    return getattr(provisioner, "pid", None) or getattr(
        getattr(provisioner, "process", None), "pid", None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """Start watching a lesson's kernel at its first cell (nbval starts it in setup)."""
    lesson = _lesson_of(item)
    if lesson is None or lesson in _monitors:
        return
    monitor = MemoryMonitor(interval=0.1)
    pid = _kernel_pid(item)
    if pid is not None:
        monitor.attach(pid)
    _monitors[lesson] = monitor


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After a lesson's last cell: its kernel's peak within the budget."""
    lesson = _lesson_of(item)
    if lesson is None or lesson not in _monitors:
        return
    if nextitem is not None and _lesson_of(nextitem) == lesson:
        _monitors[lesson].sample()
        return
    peak = _monitors.pop(lesson).stop()
    _peaks[lesson.name] = peak
    assert peak is not None, f"{lesson.name}: its kernel's memory could not be measured"
    assert peak <= BUDGET_MB, (
        f"{lesson.name} peaked at {peak:.0f} MB > {BUDGET_MB} MB, Binder's budget per "
        "lesson: fix the lesson (uint8 data, meta-device tracing, CPU-sized defaults), not the "
        "budget")


def pytest_terminal_summary(terminalreporter) -> None:
    if not _peaks:
        return
    terminalreporter.section("lesson kernels' peak memory (nbval run, default parameters)")
    for name, peak in sorted(_peaks.items()):
        shown = "not measured" if peak is None else f"{peak:6.0f} MB"
        terminalreporter.write_line(f"{name:<28} {shown}  (budget {BUDGET_MB} MB)")
