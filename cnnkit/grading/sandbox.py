"""One bubblewrap sandbox per graded notebook, and a Jupyter kernel manager that starts kernels
in it.

The kernel sees read-only views of the Python environment (``sys.prefix`` and
``sys.base_prefix``), of the installed ``cnnkit`` package and of the system's ``/usr``, and can
write only to its own notebook folder (and a private ``/tmp`` of ``Limits.tmp_mb``). It has no
network (its own network namespace), its own PID namespace (it cannot see or signal the grader,
and every process it starts dies with it: ``--die-with-parent``), a cleared environment, and
resource limits (memory, file size, processes, open files, CPU time) set with ``prlimit``. When
the grader runs as root, each kernel runs as an unprivileged user of its own (``new_uid``, no
account, group nogroup; ``setpriv`` inside the sandbox): process limits do not bind root, and a
uid per kernel makes its process limit its own and its leftovers easy to end
(``end_processes_of``). The grader talks to it over IPC (Unix) sockets in a folder shared with
the sandbox, and interrupts a cell by a control message (signals do not cross the sandbox).
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

__all__ = ["Limits", "SandboxError", "require_bwrap", "sandbox_prefix", "kernel_manager",
           "UNPRIVILEGED", "new_uid", "end_processes_of", "write_hiding_stubs"]

UNPRIVILEGED = (65534, 65534)  # nobody, nogroup: the group; the user is one per kernel
_UID_BASE = 3_000_000 + (os.getpid() % 50_000) * 20  # unused by any account
_uids = itertools.count()
_INSTALL = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)"


class SandboxError(RuntimeError):
    """The sandbox cannot be set up (bwrap missing, ...)."""


@dataclass(frozen=True)
class Limits:
    """Per-kernel limits. memory_mb: heap and private writable memory (``RLIMIT_DATA``; torch
    reserves ~4 GB of address space it never uses, so the address space is not limited);
    file_mb: largest file written; processes: processes and threads of the grading user;
    open_files; cpu_seconds: CPU time of one kernel; tmp_mb: size of its private /tmp."""

    memory_mb: int = 3072
    file_mb: int = 64
    processes: int = 256
    open_files: int = 256
    cpu_seconds: int = 900
    tmp_mb: int = 64


def require_bwrap() -> str:
    """The path of ``bwrap``, ``prlimit`` and (as root) ``setpriv`` checked; raises
    ``SandboxError`` saying what to install otherwise."""
    found = shutil.which("bwrap")
    if not found:
        raise SandboxError(f"grading in a sandbox needs bubblewrap ('bwrap' is not on PATH): "
                           f"{_INSTALL}, or grade with --no-sandbox in a disposable container")
    for tool in ("prlimit", "setpriv") if os.geteuid() == 0 else ("prlimit",):
        if not shutil.which(tool):
            raise SandboxError(f"grading in a sandbox needs '{tool}' (util-linux)")
    return found


def _read_only_paths() -> list[Path]:
    """The Python environment and the installed cnnkit, resolved (no symlinked views)."""
    import cnnkit

    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
             Path(cnnkit.__file__).resolve().parent}
    return sorted(p for p in paths if p.exists() and not str(p).startswith("/usr/"))


def _parents(paths: list[Path]) -> list[Path]:
    """Every ancestor folder of ``paths`` below /, outermost first (created 0755 in the sandbox:
    bwrap would otherwise copy a private parent's mode, e.g. /root's 0700)."""
    seen: dict[Path, None] = {}
    for path in paths:
        for parent in reversed(path.parents):
            if parent != Path("/"):
                seen[parent] = None
    return list(seen)


def new_uid() -> int:
    """A user id of its own for the next kernel (when grading as root): its process limit
    binds that kernel alone, and what it leaves behind is found by its uid."""
    return _UID_BASE + next(_uids) % 20


def end_processes_of(uid: int, wait: float = 10.0) -> int:
    """Kill (SIGKILL, by pid) every process still running as ``uid`` and wait until none is
    left (dying children still count against the next kernel's process limit). Returns how
    many were found."""
    found = 0
    deadline = time.monotonic() + wait
    while True:
        pids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            uid_line = next((line for line in text.splitlines() if line.startswith("Uid:")), "")
            if uid_line.split()[1:2] == [str(uid)]:
                pids.append(int(status.parent.name))
        if not pids or time.monotonic() > deadline:
            return found
        found = max(found, len(pids))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)


_HIDDEN_STUB = '''"""{module}, hidden by the grader: this graded part forbids it."""
raise ImportError("{module} is not available while this part is graded: the part forbids it "
                  "(it is the reference your code is compared with). Write the code yourself.")
'''
_CNNKIT_STUB = '''"""cnnkit, hidden by the grader: only cnnkit.grading.probe is left."""
import sys

# compiled under a name outside cnnkit's folder, so that the probe's in-kernel detector (which
# flags code from cnnkit's files) does not take this finder, consulted by every import, for a
# forbidden call
exec(compile(\'\'\'
class _Hidden:
    """Says why any other part of cnnkit cannot be imported (its files are not there)."""

    def find_spec(self, name, path=None, target=None):
        if name.startswith("cnnkit.") and name not in ("cnnkit.grading", "cnnkit.grading.probe"):
            raise ImportError(name + " is not available while this part is graded: the part "
                              "forbids cnnkit (it holds the reference your code is compared "
                              "with). Write the code yourself.")
        return None
\'\'\', "<cnnkit hidden by the grader>", "exec"))
sys.meta_path.insert(0, _Hidden())  # noqa: F821 (defined by the exec above)
'''


def write_hiding_stubs(modules: tuple[str, ...], folder: Path) -> Path:
    """Write into ``folder`` the package files that stand in for hidden ``modules`` (an
    ``__init__.py`` per module that raises ``ImportError`` saying why; for ``cnnkit``, empty
    packages around the real ``cnnkit.grading.probe``); returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for module in modules:
        text = _CNNKIT_STUB if module == "cnnkit" else _HIDDEN_STUB.format(module=module)
        (folder / f"{module}.py").write_text(text, encoding="utf-8")
    (folder / "empty.py").write_text("", encoding="utf-8")
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def _hiding_arguments(modules: tuple[str, ...], stubs: Path) -> list[str]:
    """bwrap arguments that replace each of ``modules`` (importable packages, as found in this
    process) by an empty folder holding its stub ``__init__.py`` (``write_hiding_stubs``), so
    that nothing in the sandbox can load their code, under any name, by any route. ``cnnkit``
    keeps ``cnnkit.grading.probe``: hidden tests hand their outputs in through it."""
    args: list[str] = []
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None:
            continue  # not installed: nothing to hide
        places = [Path(p).resolve() for p in spec.submodule_search_locations or ()]
        if not places and spec.origin:  # a single-file module
            args += ["--ro-bind", str(stubs / f"{module}.py"), str(Path(spec.origin).resolve())]
        for place in places:
            args += ["--tmpfs", str(place),
                     "--ro-bind", str(stubs / f"{module}.py"), str(place / "__init__.py")]
            if module == "cnnkit":
                args += ["--dir", str(place / "grading"),
                         "--ro-bind", str(stubs / "empty.py"), str(place / "grading/__init__.py"),
                         "--ro-bind", str(Path(__file__).resolve().with_name("probe.py")),
                         str(place / "grading/probe.py")]
    return args


def sandbox_prefix(folder: Path, ipc: Path, limits: Limits, env: dict[str, str],
                   uid: int | None = None, hide: tuple[str, ...] = (),
                   stubs: Path | None = None) -> list[str]:
    """The command prefix that runs a command in the sandbox of ``folder`` (read-write, the
    working directory) with ``ipc`` (read-write: the kernel's sockets and connection file), as
    ``uid`` (and group nogroup) when run as root. ``hide``: packages the sandbox replaces by
    stubs that refuse to import (``stubs``: the folder ``write_hiding_stubs`` filled)."""
    bwrap = require_bwrap()
    mb = 1 << 20
    cmd = ["prlimit", f"--data={limits.memory_mb * mb}", f"--fsize={limits.file_mb * mb}",
           f"--nproc={limits.processes}", f"--nofile={limits.open_files}",
           f"--cpu={limits.cpu_seconds}", "--core=0", "--", bwrap,
           "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
           "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv",
           "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
           "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin",
           "--symlink", "usr/sbin", "/sbin", "--proc", "/proc", "--dev", "/dev",
           "--perms", "1777", "--size", str(limits.tmp_mb * mb), "--tmpfs", "/tmp",
           "--perms", "1777", "--size", str(limits.tmp_mb * mb), "--tmpfs", "/dev/shm"]
    if os.geteuid() != 0:
        cmd.insert(cmd.index("--unshare-ipc"), "--unshare-user")
    for name in ("ld.so.cache", "passwd", "group", "localtime"):
        if Path("/etc", name).exists():
            cmd += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    read_only = _read_only_paths()
    for parent in _parents([*read_only, folder, ipc]):
        cmd += ["--perms", "0755", "--dir", str(parent)]
    for path in read_only:
        cmd += ["--ro-bind", str(path), str(path)]
    if hide:
        if stubs is None:
            raise ValueError("hide needs stubs: the folder write_hiding_stubs filled")
        cmd += _hiding_arguments(tuple(hide), stubs)
    cmd += ["--bind", str(folder), str(folder), "--bind", str(ipc), str(ipc),
            "--chdir", str(folder)]
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    if os.geteuid() == 0:
        gid = UNPRIVILEGED[1]
        cmd += ["setpriv", f"--reuid={uid or UNPRIVILEGED[0]}", f"--regid={gid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    return cmd


def kernel_env(folder: Path, seed: str) -> dict[str, str]:
    """The kernel's whole environment: no grader secrets, HOME and caches in /tmp."""
    return {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp",
            "LANG": "C.UTF-8", "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
            "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "2", "MPLBACKEND": "agg",
            "CNNKIT_GRADING_SEED": seed, "TQDM_DISABLE": "0", "PWD": str(folder)}


class SandboxedKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel command runs behind ``prefix``; the connection file
    is handed to the sandbox's user; interrupts are control messages."""

    prefix: list[str] = []
    owner: tuple[int, int] | None = None

    def format_kernel_cmd(self, extra_arguments=None):
        return [*self.prefix, *super().format_kernel_cmd(extra_arguments)]

    def write_connection_file(self, **kwargs):
        result = super().write_connection_file(**kwargs)
        if self.owner is not None:
            os.chown(self.connection_file, *self.owner)
        return result


def kernel_manager(folder: Path, ipc: Path, seed: str, *, sandbox: bool,
                   limits: Limits | None = None, uid: int | None = None,
                   hide: tuple[str, ...] = (), stubs: Path | None = None) -> AsyncKernelManager:
    """A kernel manager for one notebook in ``folder``: sandboxed (IPC transport) or, with
    ``sandbox=False``, a plain local kernel with the same cleared environment. ``hide``,
    ``stubs``: packages the sandbox hides (``sandbox_prefix``; sandboxed kernels only)."""
    env = kernel_env(folder, seed)
    if hide and not sandbox:
        raise ValueError("hiding packages needs the sandbox (sandbox=True)")
    if sandbox:
        km = SandboxedKernelManager(kernel_name="python3", transport="ipc",
                                    ip=str(ipc / "kernel"))
        km.prefix = sandbox_prefix(folder, ipc, limits or Limits(), env, uid, hide, stubs)
        km.owner = (uid or UNPRIVILEGED[0], UNPRIVILEGED[1]) if os.geteuid() == 0 else None
        km.connection_file = str(ipc / "connection.json")
    else:
        km = AsyncKernelManager(kernel_name="python3")
        km.connection_file = str(ipc / "connection.json")
    km.kernel_spec.interrupt_mode = "message"
    km.kernel_spec.env = {}
    km._cnnkit_env = env  # noqa: SLF001 (read by the executor: start_kernel(env=...))
    return km
