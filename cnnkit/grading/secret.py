"""The instructor's grading secret: what the hidden inputs are drawn from.

The published hidden tests show *how* a part is tested; the inputs come from ``probe.rng``,
seeded from this secret, so a submission that hard-codes the outputs for the published seeds
scores 0 under another secret. Expected outputs are computed by the grader from the reference
solutions on the same inputs, never stored.

Where it comes from, first found: ``--secret`` (``autograde(secret=...)``), the environment
variable ``CNNKIT_GRADING_SECRET``, the file ``$XDG_CONFIG_HOME/cnnkit/grading-secret``
(``~/.config/...``; outside the repository), or a new random one written there (mode 0600) and
announced with its location. CI grades with a fixed test secret.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from pathlib import Path

__all__ = ["ENV", "secret_file", "resolve_secret", "lesson_seed", "fingerprint"]

ENV = "CNNKIT_GRADING_SECRET"


def secret_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "cnnkit" / "grading-secret"


def resolve_secret(secret: str | None = None) -> str:
    """The secret to grade with (see the module docstring); creates and announces one when
    none exists yet."""
    if secret:
        return secret
    if os.environ.get(ENV):
        return os.environ[ENV]
    path = secret_file()
    if path.is_file():
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    path.parent.mkdir(parents=True, exist_ok=True)
    new = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(new + "\n")
    print(f"cnnkit grading: a new grading secret was generated and stored in {path} (keep it "
          f"private and keep it for re-grading; {ENV} or --secret override it)", file=sys.stderr)
    return new


def lesson_seed(secret: str, lesson: str) -> str:
    """The seed handed to a lesson's kernels (``CNNKIT_GRADING_SEED``): not the secret itself."""
    return hashlib.sha256(f"{secret}\0{lesson}".encode()).hexdigest()[:24]


def fingerprint(secret: str) -> str:
    """A short digest to tell secrets apart in the resume state (not reversible)."""
    return hashlib.sha256(f"cnnkit-fingerprint\0{secret}".encode()).hexdigest()[:16]
