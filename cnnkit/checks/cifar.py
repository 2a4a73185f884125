"""Self-checks for lesson 5, CIFAR-10."""

from __future__ import annotations

from cnnkit.checks._result import (
    CheckResult,
    _not_attempted,
)

__all__ = [
    "check_cifar_loaders",
]


def check_cifar_loaders(train_loader, test_loader, train_set) -> CheckResult:
    """Check the loaders of lesson 5's exercise (seed 001's bug: it augmented the test set).

    train_loader, test_loader: :class:`cnnkit.data.TensorLoader`; train_set: the training
    :class:`cnnkit.data.ImageDataset`. Right when the training loader augments and shuffles,
    the test loader does neither, and both normalise with the *training* split's mean/std.
    """
    from cnnkit.data import TensorLoader

    if train_loader is None or test_loader is None:
        return _not_attempted("make train_loader and test_loader")
    for name, loader in (("train_loader", train_loader), ("test_loader", test_loader)):
        if not isinstance(loader, TensorLoader):
            return CheckResult(False, f"{name} must be a cnnkit.data.TensorLoader; got "
                                      f"{type(loader).__name__}")
    if test_loader.augment:
        return CheckResult(False, "the test loader augments its images (seed 001's bug): a "
                                  "test image must be evaluated as it is, or the accuracy is "
                                  "measured on images nobody will ever show the model")
    if not train_loader.augment:
        return CheckResult(False, "the training loader does not augment: give it augment=...")
    if not train_loader.shuffle or test_loader.shuffle:
        return CheckResult(False, "shuffle the training batches (and only those: the test "
                                  "order does not matter)")
    expected_mean = tuple(round(v, 6) for v in train_set.mean())
    expected_std = tuple(round(v, 6) for v in train_set.std())
    for name, loader in (("train_loader", train_loader), ("test_loader", test_loader)):
        if loader.mean is None or (tuple(round(v, 6) for v in loader.mean) != expected_mean
                                   or tuple(round(v, 6) for v in loader.std) != expected_std):
            return CheckResult(False, f"{name} must normalise with the training split's "
                                      "mean() and std() (both loaders, the same values)")
    return CheckResult(True, "right: augment and shuffle the training set only, and normalise "
                             "both splits with the training statistics")
