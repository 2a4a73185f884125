"""JupyterHub for a class on one server: each student gets JupyterLab with the course.

Start it (as root, from the repository, with the course installed in its venv):

    .venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

What it sets up (docs/teaching-a-class.md walks through it):

- **Students** log in with their system account (PAM, JupyterHub's default; add accounts with
  `useradd -m`, or set CNNKIT_HUB_CREATE_USERS=1 to create them on first spawn). Each server is
  `jupyterhub-singleuser` from the course's venv, run as the student, in their home.
- **The course, copied on first start**: the lesson notebooks are copied into
  ``~/cnnkit-course/`` the first time a student's server starts; later starts keep the student's
  edits and only add lessons that are new (a copy-on-first-start refresh; delete a file to get
  the current version back).
- **Idle culling**: servers idle for CNNKIT_HUB_IDLE_TIMEOUT seconds (default 3600) are stopped by
  `jupyterhub-idle-culler`, so a class does not hold memory overnight.
- **Limits**: CNNKIT_HUB_MEM_LIMIT (default 2G, what Binder gives and what every lesson fits in)
  and CNNKIT_HUB_CPU_LIMIT (default 1) are passed to the spawner. The default local process
  spawner cannot enforce them (it only exports them as MEM_LIMIT / CPU_LIMIT); install
  `jupyterhub-systemdspawner` and set CNNKIT_HUB_SPAWNER=systemd to enforce them with cgroups.
- **nbgrader's exchange** at CNNKIT_HUB_EXCHANGE (default /srv/nbgrader/exchange), world-writable
  with the sticky bit as nbgrader requires, and a course id (CNNKIT_HUB_COURSE, default
  "cnnkit"), written to /etc/jupyter/nbgrader_config.py so `nbgrader release_assignment` by the
  instructor, `nbgrader fetch_assignment` / `submit` by students and `nbgrader collect` work.

Environment variables used by the tests (tests/test_hub.py): CNNKIT_HUB_AUTH=dummy (any user,
password CNNKIT_HUB_PASSWORD), CNNKIT_HUB_URL / CNNKIT_HUB_API_URL / CNNKIT_HUB_PROXY_API_URL
(addresses), CNNKIT_HUB_STATE (folder for the database, cookie secret and proxy token).
"""

# ruff: noqa: F821  (``c`` is the config object JupyterHub passes in)

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
VENV_BIN = Path(sys.executable).parent  # jupyterhub runs from the course's venv
STATE = Path(os.environ.get("CNNKIT_HUB_STATE", "/srv/jupyterhub"))
EXCHANGE = Path(os.environ.get("CNNKIT_HUB_EXCHANGE", "/srv/nbgrader/exchange"))
COURSE_ID = os.environ.get("CNNKIT_HUB_COURSE", "cnnkit")
COURSE_FOLDER = "cnnkit-course"

STATE.mkdir(parents=True, exist_ok=True)

# --- where it listens, where it keeps its state ---------------------------------------------
c.JupyterHub.bind_url = os.environ.get("CNNKIT_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_bind_url = os.environ.get("CNNKIT_HUB_API_URL", "http://127.0.0.1:8081")
c.ConfigurableHTTPProxy.api_url = os.environ.get("CNNKIT_HUB_PROXY_API_URL",
                                                 "http://127.0.0.1:8001")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True

# --- who may log in ---------------------------------------------------------------------------
if os.environ.get("CNNKIT_HUB_AUTH") == "dummy":  # tests and demos only: any name, one password
    c.JupyterHub.authenticator_class = "dummy"
    c.DummyAuthenticator.password = os.environ.get("CNNKIT_HUB_PASSWORD", "")
    c.Authenticator.allow_all = True
else:
    c.JupyterHub.authenticator_class = "pam"
    c.Authenticator.allow_all = os.environ.get("CNNKIT_HUB_ALLOW_ALL", "1") == "1"
c.Authenticator.admin_users = set(filter(None, os.environ.get("CNNKIT_HUB_ADMINS", "").split(",")))

# --- each student's server ------------------------------------------------------------------
if os.environ.get("CNNKIT_HUB_SPAWNER") == "systemd":
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = f"/lab/tree/{COURSE_FOLDER}/01_convolution.ipynb"
c.Spawner.notebook_dir = "~"
c.Spawner.mem_limit = os.environ.get("CNNKIT_HUB_MEM_LIMIT", "2G")
c.Spawner.cpu_limit = float(os.environ.get("CNNKIT_HUB_CPU_LIMIT", "1"))
c.Spawner.environment = {
    # The kernels run the course's venv, not the system Python.
    "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
}
if os.environ.get("CNNKIT_HUB_JUPYTER_CONFIG"):  # tests: nbgrader's config outside /etc
    c.Spawner.environment["JUPYTER_CONFIG_PATH"] = os.environ["CNNKIT_HUB_JUPYTER_CONFIG"]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120


def ensure_system_user(name: str) -> pwd.struct_passwd:
    """The student's account; created (home 0700) when CNNKIT_HUB_CREATE_USERS=1."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        if os.environ.get("CNNKIT_HUB_CREATE_USERS") != "1":
            raise
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    user = pwd.getpwnam(name)
    os.chmod(user.pw_dir, 0o700)
    return user


def copy_course(user: pwd.struct_passwd) -> None:
    """Copy the lessons into ~/cnnkit-course, adding new ones and keeping the student's edits."""
    home = Path(user.pw_dir)
    os.chmod(home, 0o700)  # students never read each other's work
    target = home / COURSE_FOLDER
    target.mkdir(exist_ok=True)
    os.chown(target, user.pw_uid, user.pw_gid)
    for notebook in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        copy = target / notebook.name
        if not copy.exists():
            shutil.copy2(notebook, copy)
            os.chown(copy, user.pw_uid, user.pw_gid)


def pre_spawn_hook(spawner) -> None:
    copy_course(ensure_system_user(spawner.user.name))


c.Spawner.pre_spawn_hook = pre_spawn_hook

# --- idle servers are stopped ----------------------------------------------------------------
IDLE_TIMEOUT = os.environ.get("CNNKIT_HUB_IDLE_TIMEOUT", "3600")
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={IDLE_TIMEOUT}"],
}]
# An instructor's script (or the tests) may drive the hub's REST API with an admin token.
if os.environ.get("CNNKIT_HUB_ADMIN_TOKEN"):
    c.JupyterHub.services.append(
        {"name": "course-admin", "api_token": os.environ["CNNKIT_HUB_ADMIN_TOKEN"]}
    )
    c.JupyterHub.load_roles.append(
        {"name": "admin", "services": ["course-admin"]}
    )


# --- nbgrader's exchange: release -> fetch -> submit -> collect ------------------------------
def setup_exchange() -> None:
    EXCHANGE.mkdir(parents=True, exist_ok=True)
    os.chmod(EXCHANGE, 0o1777)  # nbgrader: everyone writes, only owners delete
    config_dir = Path(os.environ.get("CNNKIT_HUB_JUPYTER_CONFIG", "/etc/jupyter"))
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
        f"c.Exchange.root = {str(EXCHANGE)!r}\n"
    )


if os.environ.get("CNNKIT_HUB_EXCHANGE_SETUP", "1") == "1":
    setup_exchange()
