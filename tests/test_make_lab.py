"""`make lab` (scripts/lab.py): starts as root, opens no browser where there is none, and prints
the URL with its token as its last line; the server then answers on that URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from local_servers import free_port, wait_for_answer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import lab  # noqa: E402


def test_root_gets_allow_root_and_no_browser_means_no_browser(monkeypatch):
    monkeypatch.setattr(lab, "running_as_root", lambda: True)
    cmd = lab.lab_command(port=9999, ip=None, open_browser=False)
    assert "--allow-root" in cmd and "--no-browser" in cmd and "--port=9999" in cmd
    monkeypatch.setattr(lab, "running_as_root", lambda: False)
    assert "--allow-root" not in lab.lab_command(port=None, ip=None, open_browser=True)


def test_no_display_means_no_browser(monkeypatch):
    monkeypatch.setattr(lab.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert lab.browser_available() is False


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="checks the root path of `make lab`; this run is not root")
def test_lab_starts_as_root_and_prints_the_url_last(tmp_path):
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config")}
    env.pop("DISPLAY", None)
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "lab.py"), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Open: "):
                break
        output = "\n".join(lines)
        assert "Running as root: starting JupyterLab with --allow-root." in output, output
        assert lines and lines[-1].startswith("Open: "), output
        url = lines[-1].removeprefix("Open: ")
        assert f":{port}/" in url and "token=" in url
        token = url.split("token=")[1]
        status = json.loads(wait_for_answer(f"http://127.0.0.1:{port}/api/status?token={token}",
                                             proc, what="JupyterLab"))
        assert "started" in status
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
