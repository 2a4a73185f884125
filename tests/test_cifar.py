"""load_cifar10 and its synthetic stand-in (cnnkit.synthetic): honest, deterministic, learnable."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from cnnkit import data
from cnnkit.data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    DataUnavailableError,
    TensorLoader,
    load_cifar10,
    sources,
)
from cnnkit.synthetic import COLOURS, SYNTHETIC_CLASSES, luminance, synthetic_cifar
from cnnkit.train import evaluate, fit

REAL_ROOT = Path("data")
REAL_PRESENT = (REAL_ROOT / "cifar-10-batches-py" / "data_batch_1").is_file()


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")


def test_stand_in_is_deterministic_balanced_and_shaped():
    x1, y1 = synthetic_cifar(250, seed=3)
    big, _ = synthetic_cifar(2100, seed=3)  # three chunks
    assert torch.equal(big, synthetic_cifar(2100, seed=3)[0])
    x2, y2 = synthetic_cifar(250, seed=3)
    assert x1.shape == (250, 3, 32, 32) and x1.dtype == torch.uint8
    assert y1.shape == (250,) and y1.dtype == torch.int64
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.bincount(y1, minlength=10).tolist() == [25] * 10
    x3, _ = synthetic_cifar(250, seed=4)
    assert not torch.equal(x1, x3)
    assert len(SYNTHETIC_CLASSES) == 10 and SYNTHETIC_CLASSES[:2] == ("warm disk", "cool disk")


def test_the_two_colour_families_have_the_same_luminance():
    luma = [0.299 * r + 0.587 * g + 0.114 * b for r, g, b in COLOURS.values()]
    assert abs(luma[0] - luma[1]) < 0.01
    x = torch.tensor([[[[255]], [[0]], [[0]]]], dtype=torch.uint8)
    assert luminance(x).item() == 76 and luminance(x.float() / 255).shape == (1, 1, 1, 1)


def test_auto_offline_announces_the_stand_in(capsys):
    ds = load_cifar10("no-such-folder", "test")
    out = capsys.readouterr().out
    assert "SYNTHETIC STAND-IN" in out and "CNNKIT_OFFLINE" in out
    assert "synthetic" in ds.source and "NOT CIFAR-10" in ds.source
    assert ds.name == "cifar-10-synthetic" and ds.classes == SYNTHETIC_CLASSES
    assert ds.images.shape == (data.SYNTHETIC_CIFAR_SIZES["test"], 3, 32, 32)
    assert ds.class_counts() == [200] * 10
    # announced even when verbose is off
    load_cifar10("no-such-folder", "test", verbose=False)
    assert "SYNTHETIC STAND-IN" in capsys.readouterr().out


def test_train_and_test_are_different_images():
    train = load_cifar10(split="train", source="synthetic", verbose=False)
    test = load_cifar10(split="test", source="synthetic", verbose=False)
    assert len(train) == 10_000 and train.class_counts() == [1000] * 10
    assert not torch.equal(train.images[:100], test.images[:100])
    assert train.split == "train" and test.split == "test"


def test_torchvision_source_never_falls_back(tmp_path, monkeypatch):
    # no files in tmp_path and no network: a clear error, never the stand-in
    monkeypatch.setattr(sources, "_DOWNLOAD_TIMEOUT_S", 5.0)
    with pytest.raises(DataUnavailableError, match="real data is not here.*cifar-10-batches-py"):
        load_cifar10(tmp_path, "test", source="torchvision")


def test_clear_errors():
    with pytest.raises(ValueError, match="split"):
        load_cifar10(split="val")
    with pytest.raises(ValueError, match="source must be one of"):
        load_cifar10(source="mlxtend")
    with pytest.raises(ValueError, match="RGB"):
        luminance(torch.zeros(2, 1, 4, 4))


@pytest.mark.skipif(not REAL_PRESENT, reason="torchvision's CIFAR-10 files are not in data/ "
                    "(no copy exists offline here); the real statistics can only be checked "
                    "where CIFAR-10 has been downloaded")
def test_real_cifar10_statistics():
    train = load_cifar10(REAL_ROOT, "train", "torchvision")
    assert train.images.shape == (50_000, 3, 32, 32)
    assert [round(v, 4) for v in train.mean()] == list(CIFAR10_MEAN)
    assert [round(v, 4) for v in train.std()] == list(CIFAR10_STD)


class _Tiny(nn.Module):
    """A small CNN that trains in a couple of seconds on a CPU."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.AvgPool2d(2),  # 16x16 is enough to see the shapes, and 4x cheaper
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(32, 10),
        )

    def forward(self, x):
        return self.net(x)


def _accuracy(train_images, train_labels, test_images, test_labels) -> float:
    torch.manual_seed(0)
    m = tuple(train_images.float().mean((0, 2, 3)) / 255)
    s = tuple(train_images.float().std((0, 2, 3)) / 255)
    train = TensorLoader(train_images, train_labels, batch_size=32, shuffle=True, mean=m, std=s)
    test = TensorLoader(test_images, test_labels, batch_size=500, mean=m, std=s)
    model = _Tiny()
    fit(model, train, epochs=3, lr=3e-3, progress=False)
    return evaluate(model, test).accuracy


@pytest.fixture(scope="module")
def small_split():
    x, y = synthetic_cifar(1500, seed=1)
    return x[:1000], y[:1000], x[1000:], y[1000:]


@pytest.fixture(scope="module")
def colour_accuracy(small_split):
    return _accuracy(*small_split)


@pytest.mark.slow
def test_learnable_well_above_chance(colour_accuracy):
    assert colour_accuracy > 0.35  # chance is 0.1


@pytest.mark.slow
def test_colour_matters_grayscale_is_harder(small_split, colour_accuracy):
    xtr, ytr, xte, yte = small_split
    colour = colour_accuracy

    def gray(x):
        return luminance(x).expand(-1, 3, -1, -1).contiguous()

    grey = _accuracy(gray(xtr), ytr, gray(xte), yte)
    assert grey < colour - 0.1, (grey, colour)
