"""Signs of tampering in a submission, for a person to look at (``review.csv``): never a verdict.

``static_flags`` reads the code a student wrote (answer cells and cells they added) for what
honest answers have no reason to do: patch modules, register input or AST transformers, touch
``sys.modules`` or builtins, replace the profiler, read files outside their folder, start
processes, open sockets, mention the grading machinery. ``run_flags`` adds what grading saw: a
part handed in more than once, a replaced profiler hook, forbidden calls, a dead kernel.
"""

from __future__ import annotations

import re

__all__ = ["PATTERNS", "static_flags", "run_flags"]

PATTERNS: tuple[tuple[str, re.Pattern], ...] = tuple((flag, re.compile(rx)) for flag, rx in (
    ("touches sys.modules", r"\bsys\s*\.\s*modules\b"),
    ("touches builtins", r"\b__builtins__\b|\bimport\s+builtins\b|\bbuiltins\s*\."),
    ("registers an input or AST transformer",
     r"input_transformers|ast_transformers|\bevents\s*\.\s*register|register_magic"),
    ("patches a module (assigns to a module attribute)",
     r"^\s*(?:cnnkit|checks|np|numpy|torch|F|nn|IPython|sys|os)(?:\.\w+)+\s*=[^=]"
     r"|\bsetattr\s*\(\s*(?:cnnkit|checks|np|numpy|torch|F|nn|sys|os)\b"),
    ("replaces the profiler or tracer", r"\b(?:sys|threading)\s*\.\s*set(?:profile|trace)"),
    ("reads files outside its folder",
     r"""(?:open|Path|listdir|scandir|glob|walk|read_text|read_bytes)\s*\(\s*[rbf]*['"](?:/|\.\.)"""
     r"|\.\./|\bos\s*\.\s*environ\b|\bgetcwd\b"),
    ("starts processes or sends signals",
     r"\bsubprocess\b|\bos\s*\.\s*(?:fork|kill|killpg|system|exec\w*|setsid|popen|spawn\w*)"
     r"|\bmultiprocessing\b|\bsignal\s*\.\s*(?:signal|alarm|pthread_kill)"),
    ("uses the network", r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b"),
    ("mentions the grading machinery", r"cnnkit\s*\.\s*grading|\bProbe\b|vnd\.cnnkit|"
                                       r"CNNKIT_GRADING"),
))


def static_flags(cells: list[str]) -> list[tuple[str, str]]:
    """``[(flag, the first line that shows it)]`` over a student's own code."""
    found: dict[str, str] = {}
    for source in cells:
        for line in source.splitlines():
            for flag, pattern in PATTERNS:
                if flag not in found and pattern.search(line):
                    found[flag] = line.strip()[:120]
    return sorted(found.items())


def run_flags(payloads: dict[str, list[dict]], failed: str) -> list[tuple[str, str]]:
    """``[(flag, detail)]`` from one grading run."""
    flags = []
    for part, found in sorted(payloads.items()):
        if len(found) > 1:
            flags.append(("handed in more than once", f"{part}: {len(found)} hand-ins"))
        for payload in found:
            for note in payload.get("tampered") or ():
                flags.append(("tampered with the probe", f"{part}: {note}"))
            if payload.get("forbidden"):
                flags.append(("called a forbidden reference",
                              f"{part}: {', '.join(map(str, payload['forbidden']))}"[:200]))
    if failed:
        flags.append(("the notebook could not be graded", failed[:200]))
    return flags
