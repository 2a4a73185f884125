"""The three descriptions of the course's runtime environment stay in step.

* ``pyproject.toml`` ``[project].dependencies``: what pip installs (``make lab``, CI);
* ``environment.yml``: the local conda route (conda-forge names, same lower bounds,
  plus ``-e .`` in its pip section);
* ``binder/environment.yml`` + ``binder/postBuild``: what Binder (repo2docker) builds:
  Python 3.11 and CPU-only PyTorch, with cnnkit installed by postBuild.

When repo2docker is installed, the last test also asks it to generate the Dockerfile for
this repository (``--no-build``: offline, no Docker daemon needed).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
CONDA_ENV = ROOT / "environment.yml"
BINDER_ENV = ROOT / "binder" / "environment.yml"
POST_BUILD = ROOT / "binder" / "postBuild"

# conda-forge package name -> the PyPI distribution it provides.
CONDA_TO_PYPI = {
    "pytorch": "torch",
    "pytorch-cpu": "torch",
    # matplotlib without the Qt GUI toolkit (binder/environment.yml: smaller image).
    "matplotlib-base": "matplotlib",
}
# Present in the conda files but not runtime dependencies of cnnkit.
NOT_RUNTIME = {"python", "pip"}
# pip-section entries that install the repository itself rather than a package.
LOCAL_PIP_ENTRIES = {"-e .", "-e ./", ".", "./"}

_CONDA_SPEC = re.compile(r"^(?:[\w.-]+::)?(?P<name>[A-Za-z0-9_.-]+)\s*(?P<rest>.*)$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ---------------------------------------------------------------------------- parsing


def pyproject() -> dict:
    with PYPROJECT.open("rb") as f:
        return tomllib.load(f)


def pyproject_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in pyproject()["project"]["dependencies"]]
    return {normalize(r.name): r for r in reqs}


def load_env(path: Path) -> dict:
    with path.open() as f:
        env = yaml.safe_load(f)
    assert isinstance(env, dict), f"{rel(path)} must be a mapping, got {type(env).__name__}"
    return env


class CondaSpec:
    """Just enough of a conda MatchSpec: ``[channel::]name[ ][version][ build]``."""

    def __init__(self, spec: str):
        match = _CONDA_SPEC.match(spec.strip())
        assert match, f"cannot parse conda spec {spec!r}"
        self.spec = spec.strip()
        self.conda_name = match["name"].lower()
        # "numpy >= 1.24" -> ">=1.24"; then the version and build are space-separated.
        rest = re.sub(r"([<>=!~])\s+", r"\1", match["rest"].strip())
        parts = rest.split(maxsplit=1)
        self.version = parts[0] if parts else ""
        self.build = parts[1] if len(parts) > 1 else ""

    @property
    def pypi_name(self) -> str:
        return normalize(CONDA_TO_PYPI.get(self.conda_name, self.conda_name))

    @property
    def lower_bound(self) -> Version | None:
        bounds = [c[2:] for c in self.version.split(",") if c.startswith(">=")]
        return Version(bounds[0]) if bounds else None


def conda_specs(env: dict) -> list[CondaSpec]:
    return [CondaSpec(d) for d in env.get("dependencies") or [] if isinstance(d, str)]


def pip_entries(env: dict) -> list[str]:
    entries: list[str] = []
    for dep in env.get("dependencies") or []:
        if isinstance(dep, dict) and "pip" in dep:
            entries.extend(str(e).strip() for e in dep["pip"] or [])
    return entries


def pip_packages(env: dict) -> list[str]:
    """Packages (normalized names) that an env file's pip section installs."""
    return [
        normalize(Requirement(e).name)
        for e in pip_entries(env)
        if e not in LOCAL_PIP_ENTRIES and not e.startswith("-")
    ]


def env_packages(env: dict) -> list[str]:
    """Runtime packages (PyPI names) an env file installs, duplicates kept."""
    names = [s.pypi_name for s in conda_specs(env) if s.conda_name not in NOT_RUNTIME]
    return names + pip_packages(env)


def pyproject_lower_bound(req: Requirement) -> Version | None:
    bounds = [Version(s.version) for s in req.specifier if s.operator == ">="]
    return bounds[0] if bounds else None


# ---------------------------------------------------------------- (a) same package set


def test_all_three_files_list_the_same_runtime_packages():
    sources = {
        rel(PYPROJECT): set(pyproject_requirements()),
        rel(CONDA_ENV): set(env_packages(load_env(CONDA_ENV))),
        rel(BINDER_ENV): set(env_packages(load_env(BINDER_ENV))),
    }
    problems = []
    for package in sorted(set().union(*sources.values())):
        missing = [src for src, names in sources.items() if package not in names]
        if missing:
            problems.append(f"  {package}: missing from {', '.join(missing)}")
    assert not problems, (
        "runtime packages differ between pyproject.toml [project].dependencies, "
        "environment.yml and binder/environment.yml (conda names mapped: "
        f"{CONDA_TO_PYPI}):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("path", [CONDA_ENV, BINDER_ENV], ids=rel)
def test_no_package_is_listed_twice(path):
    names = env_packages(load_env(path))
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"{rel(path)} lists these more than once (conda names mapped): {twice}"


# ------------------------------------------------------------------- (b) lower bounds


def test_lower_bounds_match_pyproject():
    path = CONDA_ENV
    reqs = pyproject_requirements()
    mismatches = []
    for spec in conda_specs(load_env(path)):
        req = reqs.get(spec.pypi_name)
        if req is None:  # python, pip; unknown names are the package-set test's job
            continue
        want, got = pyproject_lower_bound(req), spec.lower_bound
        if want != got:
            mismatches.append(
                f"  {spec.spec!r}: lower bound {got}, pyproject.toml has {str(req)!r} ({want})"
            )
    assert not mismatches, f"{rel(path)} lower bounds differ from pyproject.toml:\n" + "\n".join(
        mismatches
    )


def test_binder_pins_exact_versions_inside_pyprojects_ranges():
    """Binder builds what CI tested: every runtime package pinned with ==, inside pyproject's
    range (`make binder-lock` rewrites the pins from the tested venv)."""
    reqs = pyproject_requirements()
    problems = []
    for spec in conda_specs(load_env(BINDER_ENV)):
        if spec.conda_name in NOT_RUNTIME:
            continue
        if not re.fullmatch(r"==\d+(\.\d+)*", spec.version):
            problems.append(f"  {spec.spec!r}: not pinned to an exact version (==X.Y.Z)")
            continue
        req = reqs.get(spec.pypi_name)
        if req is not None and not req.specifier.contains(spec.version[2:], prereleases=True):
            problems.append(f"  {spec.spec!r}: outside pyproject.toml's {str(req)!r}")
    assert not problems, (
        "binder/environment.yml pins (refresh with `make binder-lock`):\n" + "\n".join(problems)
    )


def test_local_env_python_bound_matches_requires_python():
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    want = [Version(s.version) for s in requires if s.operator == ">="]
    pythons = [s for s in conda_specs(load_env(CONDA_ENV)) if s.conda_name == "python"]
    assert len(pythons) == 1, "environment.yml must list python exactly once"
    assert [pythons[0].lower_bound] == want, (
        f"environment.yml has {pythons[0].spec!r}, pyproject.toml requires-python is {requires}"
    )


def test_local_env_is_conda_forge_and_installs_the_package():
    env = load_env(CONDA_ENV)
    assert env.get("name") == "cnnkit"
    assert "conda-forge" in env.get("channels", []), "environment.yml must use conda-forge"
    names = {s.conda_name for s in conda_specs(env)}
    assert {"python", "pip"} <= names, "environment.yml must list python and pip"
    assert "-e ." in pip_entries(env), (
        "environment.yml needs '-e .' in its pip section so `conda env create` installs cnnkit"
    )


# ----------------------------------------------------------- (c) binder: 3.11, CPU only


def test_binder_pins_python_311():
    specs = [s for s in conda_specs(load_env(BINDER_ENV)) if s.conda_name == "python"]
    assert len(specs) == 1, "binder/environment.yml must list python exactly once"
    assert re.fullmatch(r"python\s*==?\s*3\.11(\.\*)?", specs[0].spec), (
        f"binder/environment.yml must pin python=3.11 (repo2docker reads it), got {specs[0].spec!r}"
    )
    assert "3.11" in SpecifierSet(pyproject()["project"]["requires-python"])


def test_binder_uses_cpu_only_pytorch_from_conda_forge():
    env = load_env(BINDER_ENV)
    channels = env.get("channels", [])
    assert channels == ["conda-forge"], f"binder/environment.yml channels: {channels}"
    specs = conda_specs(env)
    names = {s.conda_name for s in specs}
    assert "pytorch-cpu" in names, "binder/environment.yml must use conda-forge's pytorch-cpu"

    def is_cuda(spec: CondaSpec) -> bool:
        return (
            spec.conda_name in {"pytorch", "pytorch-gpu", "pytorch-cuda", "cudatoolkit"}
            or spec.conda_name.startswith(("cuda", "cudnn", "nccl", "libcu", "nvidia"))
            or "cuda" in spec.build.lower()
            or "gpu" in spec.build.lower()
        )

    cuda = [s.spec for s in specs if is_cuda(s)]
    assert not cuda, f"binder/environment.yml must stay CPU-only, found {cuda}"
    # A pip-installed torch/torchvision would be PyPI's CUDA build: everything from conda-forge.
    assert not pip_packages(env), (
        f"binder/environment.yml installs {pip_packages(env)} with pip; list them as conda "
        "packages instead"
    )


# --------------------------------------------------------------------- (d) postBuild


def _commands(script: str) -> str:
    return "\n".join(
        line for line in script.splitlines() if line.strip() and not line.strip().startswith("#")
    )


def test_post_build_is_an_executable_strict_bash_script():
    mode = POST_BUILD.stat().st_mode
    assert mode & stat.S_IXUSR and os.access(POST_BUILD, os.X_OK), "binder/postBuild: chmod +x"
    script = POST_BUILD.read_text()
    assert re.match(r"#!\s*(/usr/bin/env\s+bash|/bin/bash)\b", script), "needs a bash shebang"
    assert re.search(r"^set -euo pipefail$", script, re.M), "needs `set -euo pipefail`"
    bash = shutil.which("bash")
    if bash:
        result = subprocess.run([bash, "-n", str(POST_BUILD)], capture_output=True, text=True)
        assert result.returncode == 0, f"bash -n binder/postBuild:\n{result.stderr}"


def test_post_build_installs_the_package_without_dependencies():
    commands = _commands(POST_BUILD.read_text())
    installs = [line for line in commands.splitlines() if re.search(r"\bpip\s+install\b", line)]
    ok = [
        line
        for line in installs
        if re.search(r"(^|\s)--no-deps(\s|$)", line) and re.search(r"(^|\s)-e\s+\.(\s|$)", line)
    ]
    assert ok, f"binder/postBuild must run `pip install --no-deps -e .`; pip lines: {installs}"


def test_post_build_enables_no_extensions_by_hand():
    commands = _commands(POST_BUILD.read_text())
    for forbidden in ("labextension install", "nbextension enable", "nbextension install"):
        assert forbidden not in commands, (
            f"binder/postBuild runs `{forbidden}`: JupyterLab 4 and ipywidgets 8 need no such step"
        )


# ----------------------------------------------------- (e) repo2docker accepts the repo


def _repo2docker() -> str | None:
    beside_python = Path(sys.executable).parent / "repo2docker"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("repo2docker")


def test_repo2docker_generates_a_dockerfile_from_binder_folder(tmp_path):
    exe = _repo2docker()
    if exe is None:
        pytest.skip("repo2docker executable not found (pip install jupyter-repo2docker)")
    # --no-build only renders the Dockerfile: no Docker daemon, no network.
    result = subprocess.run(
        [exe, "--no-build", "--no-run", str(ROOT)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
    )
    output = result.stdout + result.stderr  # stdout: the Dockerfile; stderr: repo2docker's log
    log = result.stderr[-4000:]
    assert result.returncode == 0, f"repo2docker rejected the repository:\n{log}"
    assert "Building conda environment for python=3.11" in output, f"repo2docker log:\n{log}"
    assert '--file "binder/environment.yml"' in output, "repo2docker did not use binder/"
    assert '--file "environment.yml"' not in output, "repo2docker used the top-level file"
    assert "RUN ./binder/postBuild" in output, "repo2docker does not run binder/postBuild"
