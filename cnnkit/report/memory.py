"""Peak memory of a notebook's kernel: the kernel process and its children, in MB (2**20 bytes).

:class:`MemoryMonitor` samples the process tree; :func:`monitored_kernel_manager` gives nbclient a
kernel manager that hands the kernel's process id to the monitor and starts the kernel over IPC
(local sockets) where it can, so the kernel does not warn that it runs over TCP unencrypted.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from typing import Any

__all__ = ["MEMORY_BUDGET_MB", "MemoryMonitor", "monitored_kernel_manager", "quiet_kernel_manager"]

MEMORY_BUDGET_MB = 1536.0
"""Default memory budget per notebook in MB (2**20 bytes): Binder's 2 GB less headroom."""

def _high_water_mark(proc: Any) -> int | None:
    """The peak resident set of ``proc`` (a psutil.Process) in bytes, where the OS keeps it.

    Linux: ``VmHWM`` of ``/proc/PID/status``; Windows: the peak working set; elsewhere
    ``None`` (then only the polled values count).
    """
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{proc.pid}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
        return None
    if sys.platform == "win32":
        return getattr(proc.memory_info(), "peak_wset", None)
    return None


class MemoryMonitor:
    """Peak resident memory of a kernel process together with its child processes.

    A daemon thread samples every ``interval`` seconds (and nbclient's ``on_cell_executed``
    hook once more after every cell) the kernel's RSS plus its descendants' unique memory (USS:
    a child forked from the kernel shares the kernel's pages, and counting its RSS would count
    the kernel twice), keeping the largest sum. On Linux and Windows the kernel's own
    high-water mark (``VmHWM``, kept by the OS) is read at each sample too, so a short spike in
    the kernel itself, freed before the next poll, still counts exactly. Result:
    ``max(largest polled sum, largest kernel peak)``: exact for a kernel working alone, within
    one polling interval for work in child processes (DataLoader workers). Measured from
    outside, unlike a final ``resource.getrusage`` cell, so it also works for a failing or
    timed-out notebook and leaves the saved notebook unchanged. Without psutil nothing is
    measured (``None``).
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self.measured = False
        self._root: Any = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def attach(self, pid: int) -> None:
        """Start watching the process ``pid`` (the kernel) and its descendants."""
        try:
            import psutil

            self._root = psutil.Process(pid)
        except Exception:  # psutil missing, or the kernel already gone
            return
        self.sample()
        self._thread = threading.Thread(target=self._poll, name="cnnkit-memory", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        """The sampling thread: one sample every ``interval`` seconds until stopped."""
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self, **_hook_arguments: Any) -> None:
        """Take one sample now (also usable as an nbclient cell hook)."""
        root = self._root
        if root is None:
            return
        import psutil

        with self._lock:
            try:
                children = root.children(recursive=True)
            except psutil.Error:  # the kernel has exited
                return
            total, peak = 0, self.peak_bytes
            for proc in [root, *children]:
                try:
                    if proc is root:
                        total += proc.memory_info().rss
                        peak = max(peak, _high_water_mark(proc) or 0)
                    else:
                        total += _unique_bytes(proc)
                except psutil.Error:
                    continue
            self.peak_bytes = max(peak, total)
            self.measured = True

    def stop(self) -> float | None:
        """Stop sampling; the peak in MB (2**20 bytes), or ``None`` if never measured."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.peak_bytes / 2**20 if self.measured else None


def _unique_bytes(proc: Any) -> int:
    """Memory only this process maps (USS); RSS minus shared file pages if USS is unreadable."""
    import psutil

    try:
        return int(proc.memory_full_info().uss)
    except (psutil.AccessDenied, AttributeError, NotImplementedError):
        info = proc.memory_info()
        return int(info.rss - getattr(info, "shared", 0))


_MAX_SOCKET_PATH = 100  # AF_UNIX paths are limited to 104-108 bytes


def _ipc_possible() -> bool:
    """True where kernels can use IPC sockets: POSIX, and a runtime folder with short paths."""
    if os.name != "posix":
        return False
    from jupyter_core.paths import jupyter_runtime_dir

    # the sockets are RUNTIME/kernel-<12 hex digits>-ipc-N: 28 characters more
    return len(os.path.abspath(jupyter_runtime_dir())) + 28 < _MAX_SOCKET_PATH


def quiet_kernel_manager() -> type:
    """nbclient's kernel manager (``AsyncKernelManager``) starting kernels over IPC if possible.

    IPC: local sockets in Jupyter's runtime folder, where :func:`_ipc_possible`; then ipykernel
    does not warn on every start that it "is running over TCP without encryption". Elsewhere
    TCP on localhost as usual.
    """
    from jupyter_client import AsyncKernelManager
    from jupyter_client.localinterfaces import localhost
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets import CaselessStrEnum, default

    chosen = "ipc" if _ipc_possible() else "tcp"

    class QuietKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value=chosen, config=True)

        @default("ip")
        def _unique_socket_path(self) -> str:
            # jupyter_client's default is relative to the working directory and numbered by
            # the files already there: kernels started at once in one folder could collide.
            if self.transport != "ipc":
                return localhost()
            runtime = jupyter_runtime_dir()
            os.makedirs(runtime, mode=0o700, exist_ok=True)
            return os.path.join(runtime, f"kernel-{uuid.uuid4().hex[:12]}-ipc")

    return QuietKernelManager


def monitored_kernel_manager(monitor: MemoryMonitor) -> type:
    """A :func:`quiet_kernel_manager` that hands its kernel's process id to ``monitor``."""

    class MonitoredKernelManager(quiet_kernel_manager()):
        """Starts the kernel as usual, then lets ``monitor`` watch its process."""

        async def start_kernel(self, **kw: Any) -> None:
            await super().start_kernel(**kw)
            provisioner = self.provisioner
            pid = getattr(provisioner, "pid", None) or getattr(
                getattr(provisioner, "process", None), "pid", None
            )
            if pid:
                monitor.attach(int(pid))

    return MonitoredKernelManager
