"""What a student gets back: the executed notebook without the graded sources, and its HTML.

``scrub`` removes every hidden-test region (the test cells keep their visible tests and a note),
the hand-in outputs, the tracebacks of test cells (they quote the cell's code: one line with the
error instead), and any output line that is a line of a solution or hidden test of the source
(``secret_lines``); a first markdown cell gives each part's points and the grader's one
line of feedback. ``write_html`` renders it with nbconvert.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from cnnkit._atomic import write_atomic
from cnnkit.grading.probe import MIME

__all__ = ["SOLUTION", "HIDDEN", "secret_lines", "scrub", "write_html", "write_notebook"]

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)
_NOTE = "# (hidden tests: run when graded; the result is in the table at the top)"
REDACTED = "[line of the graded sources: redacted]"


def secret_lines(source: nbformat.NotebookNode) -> set[str]:
    """Stripped lines that exist only inside solution or hidden-test regions of the source."""
    inside, outside = set(), set()
    for cell in source.cells:
        for region in SOLUTION.findall(cell.source) + HIDDEN.findall(cell.source):
            inside.update(line.strip() for line in region.splitlines())
        rest = HIDDEN.sub("", SOLUTION.sub("", cell.source))
        outside.update(line.strip() for line in rest.splitlines())
    return {line for line in inside - outside if len(line) > 3 and not line.startswith("#")}


def _redact(text: str, secrets: set[str]) -> str:
    return "\n".join(REDACTED if line.strip() in secrets else line
                     for line in text.split("\n"))


def _scrub_output(output: dict, secrets: set[str]) -> dict | None:
    data = output.get("data")
    if isinstance(data, dict):
        if MIME in data:
            return None
        output["data"] = {k: _redact(v, secrets) if isinstance(v, str) else v
                          for k, v in data.items()}
    if isinstance(output.get("text"), str):
        output["text"] = _redact(output["text"], secrets)
    if isinstance(output.get("traceback"), list):
        output["traceback"] = [_redact(t, secrets) for t in output["traceback"]]
    return output


def scrub(executed: nbformat.NotebookNode, secrets: set[str],
          table: list[tuple[str, float, float, str]]) -> nbformat.NotebookNode:
    """A copy of ``executed`` safe to hand out; table: ``[(part, points, max, feedback)]``."""
    nb = copy.deepcopy(executed)
    for cell in nb.cells:
        hidden = bool(HIDDEN.search(cell.source))
        cell.source = HIDDEN.sub(_NOTE, cell.source)
        if cell.cell_type == "code":
            cell.outputs = [o for o in (_scrub_output(o, secrets) for o in cell.outputs) if o]
        for output in cell.get("outputs", []) if hidden else ():
            if output.get("output_type") == "error":  # its traceback quotes the hidden tests
                output["traceback"] = [f"{output.get('ename')}: {output.get('evalue')}"]
    points = sum(p for _, p, _, _ in table)
    most = sum(m for _, _, m, _ in table)
    rows = "\n".join(f"| `{part}` | {p:g} / {m:g} | {text.replace('|', '/')} |"
                     for part, p, m, text in table)
    summary = nbformat.v4.new_markdown_cell(
        f"# Grades: {points:g} / {most:g}\n\n| part | points | feedback |\n|---|---|---|\n{rows}")
    nb.cells.insert(0, summary)
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, nbformat.writes(nb))


def write_html(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Render ``nb`` (already scrubbed) to ``path`` (atomically)."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="classic").from_notebook_node(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, body)
