"""Fixtures for the browser tests: a throwaway JupyterLab server and Debian's headless Chromium.

``lab_server`` (one per session) serves a temporary copy of ``notebooks/`` (runs and saves never
touch the committed notebooks) from this interpreter's environment, on 127.0.0.1, a free port
and a random token, with its own config, data, runtime, settings and workspace folders so
nothing from the user's Jupyter setup leaks in. It is always shut down afterwards, kernels
included: first politely through the API, then by signal (the server's process group, then
every process it started that is still alive; kernels run in sessions of their own, so killing
the group alone would leave them behind). Tests use ``lab``: the same server, with the test's
kernels shut down when the test ends (one lesson's kernel at a time on a small machine).

``page`` is a fresh Chromium tab per test. ``artifacts`` is the test's folder under
``test-artifacts/browser/``: the test saves a screenshot of every step there; this file adds
``failure.png`` when a test fails, the browser console (``console.log``) and the server log.

Chromium and Playwright are required, not optional: when either is missing the tests fail and
say what to install (CI installs both). Playwright's own browser download is never used.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil  # a dependency of ipykernel, so always installed with the course
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the shared test helpers
from local_servers import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "test-artifacts" / "browser"

CHROMIUM = os.environ.get("CNNKIT_CHROMIUM", "/usr/bin/chromium")
# The machine has no internet: without the background-networking flags Chromium keeps trying
# (and failing) to reach Google's services. --no-sandbox: CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1400, "height": 1000}

LAB_START_TIMEOUT_S = 120  # a cold start on a busy 2-core machine takes 5-20 s
LAB_STOP_TIMEOUT_S = 20
ACTION_TIMEOUT_MS = 30_000  # one click, key press or element wait in the page

INSTALL_HINT = (
    "The browser tests drive JupyterLab in Debian's headless Chromium with Playwright for "
    "Python. Install both: `apt-get install chromium` (or set CNNKIT_CHROMIUM to a Chromium "
    "binary) and `pip install -e '.[dev]'` (which includes `playwright`). Do not run "
    "`playwright install`: these tests use the system Chromium."
)

# JupyterLab user settings for the test server: every cell attached to the page (the default
# windowing skips off-screen cells, which would hide their prompts and outputs from the test),
# and no news or update checks (no network here, and no toasts over the screenshots).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}
SERVER_CONFIG = {
    "LabApp": {
        "news_url": None,
        "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
        "extension_manager": "readonly",  # the default one queries PyPI
    },
    # A safety net should pytest itself be killed before its finalizers run: orphaned idle
    # kernels are culled and the idle server exits by itself (never reached in a normal run).
    "MappingKernelManager": {"cull_idle_timeout": 900, "cull_interval": 60},
    "ServerApp": {"shutdown_no_activity_timeout": 900},
}


def _browser_tools_problem() -> str | None:
    """Why the browser tests cannot run here (what is missing), or None when all is installed."""
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package `playwright` is not installed in this environment")
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"no Chromium executable at {CHROMIUM}")
    return ("; ".join(missing) + ".\n" + INSTALL_HINT) if missing else None


@pytest.fixture(scope="session")
def browser_tools_problem() -> str | None:
    """What is missing to run the browser tests, with what to install; None when nothing is."""
    return _browser_tools_problem()


# ---------------------------------------------------------------------------- the Lab server


@dataclass
class LabServer:
    """A running JupyterLab: where it is, how to talk to it, what it serves."""

    base_url: str  # "http://127.0.0.1:PORT/"
    token: str
    root: Path  # the temporary copy of notebooks/ it serves
    process: subprocess.Popen
    log: Path

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        """Call the server's REST API (``path`` like "api/sessions"); the decoded JSON or None."""
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method == "POST" else None,
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def notebook_url(self, notebook: str) -> str:
        """The URL a student would open for this notebook (``reset``: a fresh workspace)."""
        return f"{self.base_url}lab/tree/{notebook}?reset&token={self.token}"

    def kernel_state(self, notebook: str) -> str | None:
        """The execution state ("idle", "busy", "starting") of the notebook's kernel, or None."""
        for session in self.api("api/sessions"):
            if session.get("path") == notebook and session.get("kernel"):
                return session["kernel"].get("execution_state")
        return None

    def shutdown_kernels(self) -> None:
        """End every session and its kernel (best effort: the server may already be gone)."""
        try:
            for session in self.api("api/sessions"):
                self.api(f"api/sessions/{session['id']}", method="DELETE", timeout=30)
        except (OSError, urllib.error.URLError, ValueError):
            pass

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log, for error messages."""
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Shut the server and all its kernels down; kill whatever does not go by itself."""
        started = []  # every process the server started (kernels live in their own sessions)
        try:
            started = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            pass
        if self.process.poll() is None:
            try:
                self.api("api/shutdown", method="POST")  # stops the kernels, then the server
            except (OSError, urllib.error.URLError):
                pass
            try:
                self.process.wait(timeout=LAB_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        _kill_group(self.process.pid)
        self.process.wait(timeout=LAB_STOP_TIMEOUT_S)
        # psutil compares start times, so a recycled pid is never signalled by mistake.
        alive = [p for p in started if p.is_running()]
        for proc in alive:
            try:
                proc.terminate()
            except psutil.Error:
                pass
        _gone, still_alive = psutil.wait_procs(alive, timeout=5)
        for proc in still_alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(still_alive, timeout=5)


def _kill_group(pgid: int) -> None:
    """SIGTERM the process group started for the server, then SIGKILL what is left of it."""
    if os.name != "posix":
        return
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return  # nothing left in the group
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.1)


def _prepare_lab_home(home: Path) -> dict[str, str]:
    """Write the server's private config and settings under ``home``; its environment."""
    config, settings = home / "config", home / "settings"
    config.mkdir(parents=True)
    (config / "jupyter_server_config.json").write_text(json.dumps(SERVER_CONFIG))
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    for var in ("JUPYTER_TOKEN", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        env.pop(var, None)
    env.update(
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        IPYTHONDIR=str(home / "ipython"),
        # Kernels import the cnnkit of this checkout, whatever the environment has installed.
        PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p),
    )
    return env


def _start_lab(home: Path, root: Path, log: Path) -> LabServer:
    """Start JupyterLab serving ``root`` and wait until its API answers (bounded)."""
    env = _prepare_lab_home(home)
    token = secrets.token_hex(24)
    for _attempt in range(3):  # the free port may be taken between choosing and binding it
        port = free_port()
        command = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--allow-root",  # CI runs as root; without effect otherwise
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",  # fail instead of silently moving to another port
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
        ]
        with open(log, "ab") as out:
            process = subprocess.Popen(command, cwd=home, env=env, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        server = LabServer(f"http://127.0.0.1:{port}/", token, root, process, log)
        deadline = time.monotonic() + LAB_START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                server.api("api/status", timeout=5)
                return server
            except (OSError, urllib.error.URLError, ValueError):
                time.sleep(0.5)
        server.stop()
        if process.returncode is not None and re.search(
            r"already in use|Address already", server.log_tail()
        ):
            continue
        break
    pytest.fail(
        f"JupyterLab did not answer on 127.0.0.1 within {LAB_START_TIMEOUT_S} s "
        f"(exit code {process.returncode}). Command: {' '.join(command)}\n"
        f"Server log ({log}):\n{server.log_tail()}",
        pytrace=False,
    )


def _not_copied(folder: str, names: list[str]) -> set[str]:
    """What the served copy of notebooks/ leaves out: checkpoints, and anything that is not a
    file or folder (e.g. the sockets of kernels another process runs there)."""
    left_out = {".ipynb_checkpoints"}
    for name in names:
        path = Path(folder, name)
        if not (path.is_file() or path.is_dir()):
            left_out.add(name)
    return left_out


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """A JupyterLab server on a temporary copy of notebooks/; shut down (kernels too) after."""
    home = tmp_path_factory.mktemp("jupyterlab")
    root = home / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=_not_copied)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # one server per pytest-xdist worker
    log = ARTIFACTS / (f"jupyterlab-{worker}.log" if worker else "jupyterlab.log")
    log.write_bytes(b"")
    server = _start_lab(home, root, log)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lab(lab_server):
    """The session's JupyterLab server; the test's kernels are shut down when it ends."""
    yield lab_server
    if lab_server.process.poll() is None:
        lab_server.shutdown_kernels()


# ------------------------------------------------------------------------------ the browser


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's) driven by Playwright; fails, saying what to install.

    Module-scoped on purpose: while Playwright's sync API is alive its event loop is marked as
    running in the main thread (greenlets share the thread's state), so anything else using
    asyncio in this process (nbval's kernel client, the JupyterHub test, another Playwright)
    would fail. It lives only as long as the browser test module that uses it."""
    problem = _browser_tools_problem()
    if problem:
        pytest.fail(problem, pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def artifacts(request) -> Path:
    """This test's (emptied) folder under test-artifacts/browser/ for screenshots and logs."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    folder = ARTIFACTS / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
def page(browser, artifacts, request):
    """A fresh tab; on failure its screenshot goes to ``failure.png``, and its console log
    always goes to ``console.log``, both in the test's artifacts folder."""
    context = browser.new_context(viewport=VIEWPORT)
    tab = context.new_page()
    tab.set_default_timeout(ACTION_TIMEOUT_MS)
    tab.set_default_navigation_timeout(60_000)
    console: list[str] = []
    tab.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
    tab.on("pageerror", lambda err: console.append(f"[pageerror] {err}"))
    try:
        yield tab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            try:
                tab.screenshot(path=artifacts / "failure.png", timeout=10_000)
            except Exception as err:  # a crashed page must not hide the test's own failure
                console.append(f"[test] no failure screenshot: {err}")
        (artifacts / "console.log").write_text("\n".join(console) + "\n")
        context.close()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so ``page`` knows whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
