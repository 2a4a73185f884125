"""Words a reader can follow: the source documents are named by what they are (docs/sources.md),
never by the planning label "seed 00x", which is defined nowhere in the repository."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABEL = re.compile(r"seed[ _-]?00\d", re.IGNORECASE)


def test_no_source_is_called_seed_00x():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    found = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {".py", ".ipynb", ".md", ".yml", ".yaml", ".toml", ".cfg", ".j2"}:
            continue
        if path == Path(__file__).resolve() or not path.exists():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if LABEL.search(line):
                found.append(f"{name}:{number}: {line.strip()[:90]}")
    assert not found, "name the source by what it is (docs/sources.md):\n" + "\n".join(found)
