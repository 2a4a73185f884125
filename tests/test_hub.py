"""The class deployment (deploy/jupyterhub/) tested with the real thing.

JupyterHub (from PyPI) with configurable-http-proxy (npm) starts on 127.0.0.1 with the dummy
authenticator and the local process spawner; three students are created and get servers through
the REST API; lesson 1 runs top to bottom in one student's server through the Jupyter server's
kernel API; a student cannot read another's files (neither from a kernel nor through the other's
server); then everything stops and the accounts are removed.

Needs root (it creates the students' system accounts) and `configurable-http-proxy` on PATH
(`.ci/run` installs it with npm).
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import nbformat
import pytest
import requests
from local_servers import free_port, wait_for_answer

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
STUDENTS = ["cnnkithub1", "cnnkithub2", "cnnkithub3"]

pytestmark = pytest.mark.slow


def _require_environment() -> None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("creates system accounts for the students: run as root (CI does)")
    if shutil.which("configurable-http-proxy") is None:
        pytest.fail("configurable-http-proxy not on PATH: npm install -g configurable-http-proxy "
                    "(.ci/run installs it)")
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            sys.executable, "-c", "import cnnkit"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail("the course's Python is not usable by other accounts (students run it): "
                    f"{probe.stderr.strip()[-300:]}; make its folders traversable "
                    "(e.g. chmod o+x /root for pyenv's Python; .ci/run does it)")


class Hub:
    def __init__(self, base: str, token: str):
        self.base, self.headers = base, {"Authorization": f"token {token}"}

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.base}/hub/api{path}", headers=self.headers,
                                timeout=60, **kwargs)

    def start_server(self, name: str, seconds: float = 180) -> None:
        r = self.api("POST", f"/users/{name}/server")
        assert r.status_code in (201, 202), r.text
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{name}").json()
            server = model.get("servers", {}).get("", {})
            if server.get("ready"):
                return
            time.sleep(1)
        raise AssertionError(f"{name}'s server did not become ready: {model}")


def _execute(base: str, user: str, token: str, kernel_id: str, code: str,
             seconds: float = 300) -> dict:
    """Run ``code`` in a kernel of ``user``'s server over its websocket; return the reply,
    with the text of stream output and errors collected under "output"."""
    import asyncio
    import concurrent.futures

    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    ws_url = base.replace("http", "ws", 1) + f"/user/{user}/api/kernels/{kernel_id}/channels"
    msg_id = uuid.uuid4().hex
    message = {
        "header": {"msg_id": msg_id, "username": user, "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
    }

    async def run() -> dict:
        conn = await websocket_connect(
            HTTPRequest(ws_url, headers={"Authorization": f"token {token}"}))
        await conn.write_message(json.dumps(message))
        output, reply, idle = [], None, False
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:  # never wait past the deadline for a message that may not come
                raw = await asyncio.wait_for(conn.read_message(),
                                             max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if raw is None:
                break
            if isinstance(raw, bytes):  # a message with binary buffers (widgets): not ours
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind == "error":
                output.append("\n".join(content["traceback"]))
            elif kind == "execute_reply":
                reply = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            if reply is not None and idle:  # both, in either order (shell vs iopub channel)
                break
        conn.close()
        assert reply is not None, f"no reply within {seconds} s; output: {''.join(output)}"
        return {**reply, "output": "".join(output)}

    # In a thread of its own with a fresh event loop: the main thread's loop may be closed,
    # replaced or marked running by earlier tests of the same process (pytest runs them all in
    # one), and this test must not leave one behind for later tests (Playwright refuses to run
    # inside a running loop).
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


@pytest.fixture()
def hub(tmp_path):
    _require_environment()
    ports = {k: free_port() for k in ("hub", "api", "proxy")}
    admin_token = secrets.token_hex(16)
    env = {
        **os.environ,
        "CNNKIT_HUB_AUTH": "dummy", "CNNKIT_HUB_PASSWORD": secrets.token_hex(8),
        "CNNKIT_HUB_CREATE_USERS": "1", "CNNKIT_HUB_ADMIN_TOKEN": admin_token,
        "CNNKIT_HUB_URL": f"http://127.0.0.1:{ports['hub']}",
        "CNNKIT_HUB_API_URL": f"http://127.0.0.1:{ports['api']}",
        "CNNKIT_HUB_PROXY_API_URL": f"http://127.0.0.1:{ports['proxy']}",
        "CNNKIT_HUB_STATE": str(tmp_path / "state"),
        "CNNKIT_HUB_EXCHANGE": str(tmp_path / "exchange"),
        "CNNKIT_HUB_JUPYTER_CONFIG": str(tmp_path / "jupyter-config"),
    }
    log = open(tmp_path / "hub.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", str(CONFIG)],
                            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = env["CNNKIT_HUB_URL"]
    try:
        wait_for_answer(f"{base}/hub/api/", proc, seconds=90, what="JupyterHub")
        yield Hub(base, admin_token), tmp_path
    finally:
        hub_api = Hub(base, admin_token)
        for name in STUDENTS:
            try:
                hub_api.api("DELETE", f"/users/{name}/server")
            except requests.RequestException:
                pass
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        for name in STUDENTS:
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
            subprocess.run(["userdel", "--remove", name], capture_output=True)


def test_a_class_on_jupyterhub(hub):
    api, tmp_path = hub
    tokens = {}
    for name in STUDENTS:
        r = api.api("POST", f"/users/{name}")
        assert r.status_code in (201, 409), r.text
        r = api.api("POST", f"/users/{name}/tokens", json={"note": "test", "expires_in": 3600})
        assert r.status_code == 201, r.text
        tokens[name] = r.json()["token"]
        api.start_server(name)

    a, b = STUDENTS[0], STUDENTS[1]
    home_a, home_b = Path(pwd.getpwnam(a).pw_dir), Path(pwd.getpwnam(b).pw_dir)
    lessons = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in (home_a / "cnnkit-course").glob("*.ipynb")) == lessons

    base = api.base
    user_headers = {"Authorization": f"token {tokens[a]}"}
    contents = requests.get(f"{base}/user/{a}/api/contents/cnnkit-course", headers=user_headers,
                            timeout=30)
    assert contents.status_code == 200 and len(contents.json()["content"]) == len(lessons)

    # Isolation: through the other student's server, and from inside a kernel.
    other = requests.get(f"{base}/user/{b}/api/contents", headers=user_headers, timeout=30)
    assert other.status_code in (403, 404), other.status_code
    r = requests.post(f"{base}/user/{a}/api/kernels", headers=user_headers, json={}, timeout=60)
    assert r.status_code == 201, r.text
    kernel_id = r.json()["id"]
    probe = _execute(base, a, tokens[a], kernel_id,
                     f"import os\ntry:\n    os.listdir({str(home_b)!r})\n    print('READ')\n"
                     "except PermissionError:\n    print('DENIED')\nprint(os.getuid())")
    assert "DENIED" in probe["output"] and "READ" not in probe["output"], probe
    assert str(pwd.getpwnam(a).pw_uid) in probe["output"]

    # Lesson 1 top to bottom in the student's server (its own copy, from its own folder).
    notebook = nbformat.read(home_a / "cnnkit-course" / "01_convolution.ipynb", as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code"
                     and not c.source.lstrip().startswith(("%", "!")))
    setup = _execute(base, a, tokens[a], kernel_id,
                     "import os, matplotlib\nmatplotlib.use('Agg')\n"
                     f"os.chdir({str(home_a / 'cnnkit-course')!r})")
    assert setup["status"] == "ok", setup
    run = _execute(base, a, tokens[a], kernel_id, code, seconds=600)
    assert run["status"] == "ok", run["output"][-3000:]

    # nbgrader's exchange is there for release -> fetch -> submit -> collect.
    exchange = tmp_path / "exchange"
    assert exchange.is_dir() and (exchange.stat().st_mode & 0o1777) == 0o1777
    config = (tmp_path / "jupyter-config" / "nbgrader_config.py").read_text()
    assert str(exchange) in config and "course_id" in config

    for name in STUDENTS:
        assert api.api("DELETE", f"/users/{name}/server").status_code in (202, 204)
