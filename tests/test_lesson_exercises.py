"""No exercise is answered above it: a lesson's exercise questions are not rows of a table the
lesson printed (or wrote in its code) before the exercises.

For each lesson, every case the exercises ask about is turned into the integers a table row
would show (e.g. (n, k, stride, padding, dilation) per axis for an output size), and those
must not appear, in that order, on any line printed or any tuple written in the cells before
the lesson's "Exercises" heading.
"""

import re
from pathlib import Path

import nbformat
import pytest

from cnnkit import checks

ROOT = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _before_exercises(name: str) -> list:
    """The cells of notebooks/<name> above its "## N. Exercises" heading."""
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown" and re.match(r"## \d+\. Exercises", cell.source):
            return cells[:i]
    raise AssertionError(f"{name} has no '## N. Exercises' heading")


def _numbers(line: str) -> list[float]:
    return [float(n.replace(",", "")) for n in NUMBER.findall(line)]


def _shown_rows(cells) -> list[list[float]]:
    """Every line of printed output, and every line of code, as its list of numbers."""
    rows = []
    for cell in cells:
        if cell.cell_type != "code":
            continue
        texts = [cell.source]
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                texts.append(out.text)
            elif "data" in out and "text/plain" in out.data:
                texts.append(out.data["text/plain"])
        rows += [_numbers(line) for text in texts for line in text.splitlines()]
    return [row for row in rows if row]


def _contains(row: list[float], sequence: tuple) -> bool:
    n = len(sequence)
    return any(tuple(row[i:i + n]) == tuple(float(v) for v in sequence)
               for i in range(len(row) - n + 1))


def _shown_earlier(name: str, sequences) -> list[tuple]:
    rows = _shown_rows(_before_exercises(name))
    return [seq for seq in sequences if any(_contains(row, seq) for row in rows)]


def test_the_finder_finds_a_printed_row():
    """The helper is not vacuous: lesson 1's own output-size table is found by it."""
    assert _shown_earlier("01_convolution.ipynb", [(7, 3, 2, 0, 1), (224, 7, 2, 3, 1)]) == [
        (7, 3, 2, 0, 1), (224, 7, 2, 3, 1)]
    assert _contains([1.0, 28.0, 5.0, 1.0, 2.0], (28, 5, 2)) is False
    assert _contains([1.0, 28.0, 5.0, 1.0, 2.0], (28, 5)) is True


def test_lesson_1_shape_questions_are_not_rows_of_the_size_table():
    per_axis = []
    for H, W, kh, kw, s, p, d in checks.SHAPE_QUESTIONS.values():
        per_axis += [(H, kh, s, p, d), (W, kw, s, p, d)]
    assert _shown_earlier("01_convolution.ipynb", per_axis) == []


@pytest.mark.parametrize("name", ["01_convolution.ipynb"])
def test_exercises_do_not_print_the_loop_code_they_ask_for(name):
    """Lesson 1 prints conv2d_loops; none of its exercises asks for a forward convolution
    layer with stride (what that printed code already is)."""
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    sources = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "checks.check_conv_single(conv2d_single)" not in sources
    assert "checks.check_conv(" not in sources


def test_lesson_2_pool_size_questions_are_not_rows_of_the_size_table():
    questions = list(checks.POOL_SIZE_QUESTIONS.values())
    assert _shown_earlier("02_pooling.ipynb", questions) == []
    # the finder sees lesson 2's own table, so the assertion above can fail
    assert _shown_earlier("02_pooling.ipynb", [(27, 2, 2, 0)]) == [(27, 2, 2, 0)]


def test_lesson_2_does_not_ask_for_the_pooling_loop_it_prints():
    """Lesson 2 prints max_pool2d_loops: its exercises ask for the backward passes and adaptive
    pooling instead of a forward pooling loop with stride."""
    cells = nbformat.read(ROOT / "notebooks" / "02_pooling.ipynb", as_version=4).cells
    sources = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "inspect.getsource(pool.max_pool2d_loops)" in sources
    assert "checks.check_pool_single(pool2d_single)" not in sources
    for check in ("check_avg_pool_backward", "check_adaptive_pool", "check_max_pool_backward"):
        assert f"checks.{check}(" in sources


def test_lesson_3_exercise_answers_are_not_printed_above():
    from cnnkit.checks.lenet import _c5_on_larger_input, _receptive_fields

    c5 = _c5_on_larger_input()
    fields = tuple(_receptive_fields().values())  # (5, 6, 14, 16, 32)
    asked = [c5["output"], (c5["connections"],), fields]
    assert _shown_earlier("03_lenet5.ipynb", asked) == []
    cells = _before_exercises("03_lenet5.ipynb")
    text = "\n".join([c.source for c in cells] + [
        o.get("text", "") for c in cells for o in c.get("outputs", [])]).lower()
    assert not re.search(r"receptive field[^\n.]{0,40}\d", text), (
        "a receptive field's size is given above the receptive-field exercise")
    # the old exercises' answers are printed above, so they are no longer asked
    sources = "\n".join(c.source for c in nbformat.read(
        ROOT / "notebooks" / "03_lenet5.ipynb", as_version=4).cells if c.cell_type == "code")
    for old in ("check_lenet_counts", "check_lenet5_params", "check_table_conv_params"):
        assert old not in sources


@pytest.mark.parametrize("name", ["01_convolution.ipynb", "02_pooling.ipynb", "03_lenet5.ipynb"])
def test_lessons_ask_to_predict_before_running(name):
    """At least three markdown cells ask for a prediction, each followed by the code cell that
    answers it."""
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    prompts = [i for i, c in enumerate(cells)
               if c.cell_type == "markdown" and "**Predict.**" in c.source]
    assert len(prompts) >= 3, f"{name}: {len(prompts)} predict prompts"
    for i in prompts:
        assert i + 1 < len(cells) and cells[i + 1].cell_type == "code", (
            f"{name}: the prompt in cell {i} is not followed by the code that answers it")
