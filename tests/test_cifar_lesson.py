"""Lesson 5: the notebook really trains on the (announced) synthetic stand-in, run headless with
papermill, and its self-check accepts the right loaders and explains the from-scratch LeNet
tutorial's bug (it augmented the test set)."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import nbformat
import pytest

from cnnkit import checks
from cnnkit.augment import RandomCropFlip
from cnnkit.cli import main
from cnnkit.data import TensorLoader, load_cifar10
from cnnkit.report import run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "05_cifar10.ipynb"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")  # the kernel inherits it: no download attempt


@pytest.mark.slow
def test_small_run_learns_and_labels_the_stand_in(tmp_path):
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    parameters = {"epochs": 3, "max_train_samples": 600, "max_test_samples": 300,
                  "model": "resnet8", "ablations": False}
    result = run_notebook(copy, tmp_path / "out", parameters, timeout=600, run_id="small")
    assert result.status == "ok", result.error
    m = result.metrics
    assert "synthetic" in m["data_source"] and "NOT CIFAR-10" in m["data_source"]
    # every recorded result says it was measured on the stand-in
    assert all("synthetic" in name for name in m if name != "data_source"), sorted(m)
    assert not any("no_augmentation" in name or "grayscale" in name for name in m)
    for net in ("lenet", "resnet8"):
        assert m[f"test_accuracy_{net}_synthetic"] > 0.13, m  # chance is 0.10
        assert 0 < m[f"val_accuracy_{net}_synthetic"] <= 1
    executed = (tmp_path / "out" / "small.ipynb").read_text()
    assert "SYNTHETIC STAND-IN" in executed and "SYNTHETIC stand-in, not CIFAR-10" in executed
    nb = nbformat.reads(executed, as_version=4)
    lines = [line for cell in nb.cells if cell.cell_type == "code"
             for out in cell.get("outputs", []) if out.get("output_type") == "stream"
             for line in out["text"].splitlines()]
    per_run = [line for line in lines
               if re.search(r"epoch \d+/\d+|best validation accuracy|test accuracy", line)]
    assert per_run and all("synthetic" in line.lower() for line in per_run), per_run


def report_commands(text: str, notebook: str) -> list[list[str]]:
    """Every `cnnkit report notebooks/<notebook> ...` command line in ``text``, as argv."""
    found = re.findall(rf"cnnkit report notebooks/{re.escape(notebook)}[^`\n]*", text)
    return [shlex.split(line.split("#")[0])[1:] for line in found]


def dry_run(argv: list[str], out: Path) -> int:
    argv = [a.replace("notebooks/", f"{ROOT}/notebooks/") for a in argv]
    keep = [a for i, a in enumerate(argv) if a != "--out" and (i == 0 or argv[i - 1] != "--out")]
    return main([*keep, "--out", str(out), "--dry-run"])


def test_the_paper_recipe_commands_are_valid(tmp_path, capsys):
    """The commands the notebook and the README give for the published recipes run (checked
    with --dry-run: the parameters exist and take these values), on the full test set."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    sources = {"notebook": "\n".join(c.source for c in nb.cells if c.cell_type == "markdown"),
               "README": (ROOT / "README.md").read_text()}
    for where, text in sources.items():
        commands = report_commands(text, NOTEBOOK.name)
        assert any("recipe=paper" in c for c in commands), f"{where}: no paper-recipe command"
        for argv in commands:
            assert "recipe=paper" in argv and "source=torchvision" in argv, (where, argv)
            assert not any(a.startswith("max_test_samples") for a in argv), argv  # full test set
            assert dry_run(argv, tmp_path) == 0, (where, argv)
            assert "would run" in capsys.readouterr().out


def test_the_old_command_form_is_refused(tmp_path, capsys):
    """NAME=VALUE without -p is read as a notebook path (the command the lesson used to give)."""
    assert dry_run(["report", "notebooks/05_cifar10.ipynb", "epochs=30"], tmp_path) == 2
    assert "notebook not found: epochs=30" in capsys.readouterr().err


@pytest.fixture(scope="module")
def splits():
    train = load_cifar10(split="train", source="synthetic", verbose=False).subset(100)
    test = load_cifar10(split="test", source="synthetic", verbose=False).subset(50)
    return train, test


def test_check_accepts_the_right_loaders(splits):
    train, test = splits
    m, s = train.mean(), train.std()
    right = checks.check_cifar_loaders(
        TensorLoader(train, shuffle=True, mean=m, std=s, augment=RandomCropFlip()),
        TensorLoader(test, mean=m, std=s), train)
    assert right, right.message


def test_check_explains_the_mistakes(splits):
    train, test = splits
    m, s = train.mean(), train.std()
    assert "not attempted" in checks.check_cifar_loaders(None, None, train).message
    # the from-scratch LeNet tutorial's bug: the same augmentation for the test data (the loader
    # refuses a test split, so the student's way to make it is a loader over the test tensors)
    bugged = TensorLoader(test.images, test.labels, mean=m, std=s, augment=RandomCropFlip())
    result = checks.check_cifar_loaders(
        TensorLoader(train, shuffle=True, mean=m, std=s, augment=RandomCropFlip()), bugged, train)
    assert not result and "test loader augments" in result.message
    no_aug = checks.check_cifar_loaders(TensorLoader(train, shuffle=True, mean=m, std=s),
                                        TensorLoader(test, mean=m, std=s), train)
    assert not no_aug and "does not augment" in no_aug.message
    own_stats = checks.check_cifar_loaders(
        TensorLoader(train, shuffle=True, mean=m, std=s, augment=RandomCropFlip()),
        TensorLoader(test, mean=test.mean(), std=test.std()), train)
    assert not own_stats and "training split" in own_stats.message
