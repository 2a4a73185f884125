"""Lesson 5: the notebook really trains on the (announced) synthetic stand-in, run headless with
papermill, and its self-check accepts the right loaders and explains seed 001's bug."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cnnkit import checks
from cnnkit.augment import RandomCropFlip
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
    parameters = {"epochs": 2, "max_train_samples": 600, "max_test_samples": 300,
                  "model": "resnet8", "augment": False, "grayscale": False}
    result = run_notebook(copy, tmp_path / "out", parameters, timeout=300, run_id="small")
    assert result.status == "ok", result.error
    m = result.metrics
    assert "synthetic" in m["data_source"] and "NOT CIFAR-10" in m["data_source"]
    assert "accuracy_lenet_augmented" not in m and "accuracy_lenet_grayscale" not in m
    assert m["accuracy_lenet"] > 0.13, m  # chance is 0.10
    assert m["accuracy_resnet8"] > 0.25, m
    assert m["accuracy_resnet8"] > m["accuracy_lenet"] + 0.05, m
    executed = (tmp_path / "out" / "small.ipynb").read_text()
    assert "SYNTHETIC STAND-IN" in executed and "SYNTHETIC stand-in, not CIFAR-10" in executed


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
    # seed 001's bug: the same augmentation for the test data (the loader refuses a test split,
    # so the student's way to make it is a loader over the test tensors)
    bugged = TensorLoader(test.images, test.labels, mean=m, std=s, augment=RandomCropFlip())
    result = checks.check_cifar_loaders(
        TensorLoader(train, shuffle=True, mean=m, std=s, augment=RandomCropFlip()), bugged, train)
    assert not result and "seed 001" in result.message
    no_aug = checks.check_cifar_loaders(TensorLoader(train, shuffle=True, mean=m, std=s),
                                        TensorLoader(test, mean=m, std=s), train)
    assert not no_aug and "does not augment" in no_aug.message
    own_stats = checks.check_cifar_loaders(
        TensorLoader(train, shuffle=True, mean=m, std=s, augment=RandomCropFlip()),
        TensorLoader(test, mean=test.mean(), std=test.std()), train)
    assert not own_stats and "training split" in own_stats.message
