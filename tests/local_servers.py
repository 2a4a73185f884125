"""Starting local servers in tests (JupyterLab, JupyterHub): a free port, and waiting until a
server answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_answer(url: str, proc: subprocess.Popen, seconds: float = 60,
                    what: str = "the server") -> bytes:
    """GET ``url`` until it answers 200, while ``proc`` (the server) is still coming up; returns
    the body. Fails if ``proc`` exits first or ``seconds`` pass (a proxy that answers 404 or 503
    before its backend is up counts as not yet answering)."""
    deadline = time.monotonic() + seconds
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read()
        except OSError as err:  # refused, or an HTTP error status (HTTPError is an OSError)
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} did not answer {url} within {seconds} s: "
                                     f"{err}") from err
            time.sleep(0.5)
