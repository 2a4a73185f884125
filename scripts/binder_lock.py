"""Pin binder/environment.yml to exact versions (what `make binder-lock` runs).

Binder rebuilds the image whenever the repository changes; with only lower bounds each build
could resolve different versions. This script rewrites every runtime package line of
binder/environment.yml as ``name==VERSION``, taking VERSION from the environment it runs in
(the one `make test` just tested), so Binder builds what CI tested. Python stays at 3.11 and
pip unpinned. Run it after upgrading the venv, then `make test` (tests/test_environments.py
checks that every pin satisfies pyproject.toml's range) and commit the file.

Usage: python scripts/binder_lock.py [--check]   (--check: exit 1 if the file would change)
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

BINDER_ENV = Path(__file__).resolve().parents[1] / "binder" / "environment.yml"
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch", "matplotlib-base": "matplotlib"}
UNPINNED = {"python", "pip"}
_LINE = re.compile(r"^(?P<indent>\s*-\s+)(?P<name>[A-Za-z0-9_.-]+)\s*(?P<rest>[<>=!~].*)?$")


def pinned_text(text: str) -> str:
    """binder/environment.yml's text with each runtime package pinned to the installed version."""
    lines = []
    in_dependencies = False
    for line in text.splitlines():
        if re.match(r"^\S", line):  # a top-level key: name, channels, dependencies
            in_dependencies = line.startswith("dependencies:")
        match = _LINE.match(line) if in_dependencies else None
        if match and match["name"] not in UNPINNED:
            name = match["name"]
            pypi = CONDA_TO_PYPI.get(name, name)
            try:
                installed = version(pypi)
            except PackageNotFoundError:
                sys.exit(f"binder_lock: {pypi} (for {name}) is not installed in {sys.prefix}")
            installed = installed.split("+")[0]  # 2.14.1+cpu -> 2.14.1 (conda has no local tags)
            line = f"{match['indent']}{name}=={installed}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether pins differ")
    args = parser.parse_args(argv)
    old = BINDER_ENV.read_text()
    new = pinned_text(old)
    if args.check:
        if new != old:
            print("binder/environment.yml differs from the installed versions: make binder-lock")
            return 1
        print("binder/environment.yml matches the installed versions")
        return 0
    BINDER_ENV.write_text(new)
    print(f"pinned {BINDER_ENV.relative_to(BINDER_ENV.parents[1])} to the installed versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
