"""Atomic, durable file writes: readers see the old file or the complete new one, never a part.

One mechanism for checkpoints, reports, grades and re-executed notebooks: write a temporary file
in the target's folder, flush and fsync it, ``os.replace`` it over the target, then fsync the
folder so the rename survives a crash. A failure (or Ctrl-C) leaves the old file untouched and no
temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_open", "write_atomic", "remove_stale_temporaries"]


def _file_mode() -> int:
    """The permission bits a plain ``open(path, "w")`` would give (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> None:
    """Delete temporary files an earlier, killed write of ``path`` left in its folder."""
    path = Path(path)
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb",
                encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` atomically when the ``with`` block ends.

    mode: "wb" (bytes, default) or "w" (text, ``encoding`` default UTF-8). The folder must exist.
    If the block raises, ``path`` is left as it was and the temporary file is removed.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb'; got {mode!r}")
    path = Path(path)
    remove_stale_temporaries(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        text = mode == "w"
        with os.fdopen(fd, mode, encoding=(encoding or "utf-8") if text else None,
                       newline="" if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_folder(path.parent)


def write_atomic(path: str | os.PathLike[str], data: str | bytes | Callable[[IO], None]) -> Path:
    """Write ``data`` to ``path`` atomically and durably; return the path.

    data: ``str`` (written as UTF-8), ``bytes``, or a function ``f(file)`` that writes into an
    open binary file (e.g. ``lambda f: torch.save(obj, f)``).
    """
    path = Path(path)
    if isinstance(data, str):
        with atomic_open(path, "w") as f:
            f.write(data)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        with atomic_open(path, "wb") as f:
            f.write(data)
    elif callable(data):
        with atomic_open(path, "wb") as f:
            data(f)
    else:
        raise TypeError(
            f"data must be str, bytes or a function of the open file; got {type(data).__name__}"
        )
    return path
