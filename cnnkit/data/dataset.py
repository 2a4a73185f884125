"""A whole dataset split in memory (:class:`ImageDataset`) and the validation split carved from it.

Images are uint8 ``(N, C, H, W)`` (pixels 0..255), labels int64 ``(N,)``. A dataset knows which
split it is ("train", "val" or "test") so that the training code can refuse to select a model on
the test split, and where it came from (``source``), so every result can say what data it is on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from cnnkit._validate import check_choice, check_int, check_real, is_int

__all__ = ["SPLITS", "SYNTHETIC_MARKER", "ImageDataset", "train_val_split"]

SPLITS = ("train", "val", "test")
"""The splits an :class:`ImageDataset` can be: training, validation (carved from training data
by :func:`train_val_split`) and test (used once, at the end)."""

SYNTHETIC_MARKER = "synthetic"
"""The word that marks data (and every result measured on it) as a synthetic stand-in."""


def _check_images_labels(images, labels) -> None:
    """Raise if images is not a uint8 tensor (N, C, H, W) or labels not int64 (N,)."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4:
        got = (f"a {images.dtype} tensor of shape {tuple(images.shape)}"
               if isinstance(images, torch.Tensor) else type(images).__name__)
        raise TypeError(f"images must be a uint8 tensor (N, C, H, W) of pixels 0..255; got {got}")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
        got = (f"a {labels.dtype} tensor of shape {tuple(labels.shape)}"
               if isinstance(labels, torch.Tensor) else type(labels).__name__)
        raise TypeError(f"labels must be an int64 tensor (N,) of class indices; got {got}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(f"images and labels must have the same N; got {images.shape[0]} images "
                         f"and {labels.shape[0]} labels")
    if labels.numel() and int(labels.min()) < 0:
        raise ValueError(f"labels must be class indices >= 0; found {int(labels.min())}")


@dataclass(eq=False)
class ImageDataset:
    """A whole dataset split in memory.

    images: uint8 tensor (N, C, H, W), pixel values 0..255.
    labels: int64 tensor (N,), class indices 0..K-1.
    classes: the K class names, ``classes[label]``.
    source: where the data came from (a sentence, printed on load).
    name: the dataset ("mnist", "fashion-mnist", ...). split: "train", "val" or "test".

    ``mean()`` and ``std()`` are per-channel pixel statistics computed exactly from the data,
    in [0, 1] units (pixel / 255): normalise *every* split with those of the *training* split.
    ``dataset[i]`` is ``(image uint8 (C, H, W), label int)``. ``is_synthetic`` is True when the
    name or the source says the data is a synthetic stand-in.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    source: str
    name: str = "images"
    split: str = "train"
    _stats: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_images_labels(self.images, self.labels)
        self.classes = tuple(str(c) for c in self.classes)
        labels = self.labels
        if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(self.classes)):
            raise ValueError(
                f"labels must be in 0..{len(self.classes) - 1} (one per class name); found "
                f"{int(labels.min())}..{int(labels.max())}"
            )
        check_choice(self.split, "split", SPLITS)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """``(image uint8 (C, H, W), label)`` of sample ``index``."""
        return self.images[index], int(self.labels[index])

    def __repr__(self) -> str:
        c, h, w = self.image_shape
        return (f"ImageDataset({self.name} {self.split}: {len(self):,} images {c}x{h}x{w}, "
                f"{self.num_classes} classes; source: {self.source})")

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        """K, the number of classes."""
        return len(self.classes)

    @property
    def is_synthetic(self) -> bool:
        """True if this is a synthetic stand-in (its name or source says "synthetic")."""
        return SYNTHETIC_MARKER in f"{self.name} {self.source}".lower()

    def class_counts(self) -> list[int]:
        """How many samples each class has, in class order (K ints)."""
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()

    def _moments(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if "moments" not in self._stats:
            if len(self) == 0:
                raise ValueError("mean/std of an empty dataset are undefined")
            means, stds = [], []
            for c in range(self.images.shape[1]):
                # a histogram of the 256 pixel values gives exact sums in a few MB of memory
                hist = torch.bincount(self.images[:, c].reshape(-1), minlength=256)
                counts = [int(v) for v in hist.tolist()]
                n = sum(counts)
                s1 = sum(v * k for v, k in enumerate(counts))
                s2 = sum(v * v * k for v, k in enumerate(counts))
                means.append(s1 / (n * 255))
                stds.append(math.sqrt((n * s2 - s1 * s1) / (n * n)) / 255)  # exact integers
            self._stats["moments"] = (tuple(means), tuple(stds))
        return self._stats["moments"]

    def mean(self) -> tuple[float, ...]:
        """Per-channel mean pixel value in [0, 1] units, computed from the data (C floats).

        MNIST's training set gives (0.1307,); normalise with the *training* split's values.
        """
        return self._moments()[0]

    def std(self) -> tuple[float, ...]:
        """Per-channel standard deviation of the pixel values in [0, 1] units (C floats).

        The population standard deviation over all pixels of a channel (MNIST train: 0.3081).
        """
        return self._moments()[1]

    def take(self, indices, source: str, split: str | None = None) -> ImageDataset:
        """The samples at ``indices`` (int64 (M,)) as a new dataset with the given ``source``."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        return ImageDataset(self.images[idx], self.labels[idx], self.classes, source, self.name,
                            self.split if split is None else split)

    def subset(self, n: int, seed: int = 0) -> ImageDataset:
        """A random subset of ``n`` samples (fixed by ``seed``), e.g. for a quick run.

        ``n`` >= ``len(self)`` returns the dataset itself.
        """
        if not is_int(n) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        if n >= len(self):
            return self
        order = np.random.RandomState(seed).permutation(len(self))[:n]
        return self.take(np.sort(order), f"{self.source}; random subset of {n:,} (seed {seed})")


def _val_count(val_size, n: int) -> int:
    """``val_size`` (an int count or a float fraction in (0, 1)) as a count in 1..n-1."""
    if is_int(val_size):
        return check_int(val_size, "val_size", 1, n - 1)
    fraction = check_real(val_size, "val_size", 0, 1)
    if not 0 < fraction < 1:
        raise ValueError(f"val_size: a fraction must be in (0, 1); got {val_size!r}")
    count = round(fraction * n)
    if not 1 <= count <= n - 1:
        raise ValueError(f"val_size={val_size!r} of {n:,} samples leaves {count} for validation; "
                         "both parts need at least one sample")
    return count


def _per_class_counts(class_sizes: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` over the classes in proportion to their sizes (largest remainders)."""
    n = int(class_sizes.sum())
    exact = class_sizes * total / n
    counts = np.floor(exact).astype(np.int64)
    order = np.lexsort((np.arange(len(exact)), -(exact - counts)))  # largest remainder first
    counts[order[: total - int(counts.sum())]] += 1
    return counts


def train_val_split(dataset: ImageDataset, val_size: int | float, seed: int = 0
                    ) -> tuple[ImageDataset, ImageDataset]:
    """Carve a validation split out of a training split: ``(train, val)``.

    dataset: an :class:`ImageDataset` whose ``split`` is "train" (a test split is refused: the
    test set is used once, at the end, never to choose a model). val_size: how many samples go
    to validation, an int (e.g. 5,000 of MNIST's 60,000) or a fraction in (0, 1).

    Stratified: every class gives the same share of its samples (largest-remainder rounding, so
    the counts add up exactly). Fixed by ``seed`` with numpy's legacy ``RandomState`` (a frozen
    stream): the same seed gives the same split on every machine. Both parts keep the original
    order of their samples. The two parts are disjoint and together are ``dataset``; ``val`` has
    ``split == "val"``, ``train`` keeps ``split == "train"``; both sources say how they were made.
    """
    if not isinstance(dataset, ImageDataset):
        raise TypeError(f"dataset must be an ImageDataset; got {type(dataset).__name__}")
    if dataset.split != "train":
        raise ValueError(
            f"dataset is the {dataset.split!r} split; carve the validation split from the "
            "training split, e.g. train, val = train_val_split(load_mnist(split='train'), 5000). "
            "The test split is used once, at the end, to measure the chosen model."
        )
    check_int(seed, "seed", 0, 2**32 - 1)
    n = len(dataset)
    n_val = _val_count(val_size, n)
    labels = dataset.labels.numpy()
    sizes = np.bincount(labels, minlength=dataset.num_classes)
    counts = _per_class_counts(sizes, n_val)
    rs = np.random.RandomState(seed)
    val_idx = []
    for c in range(dataset.num_classes):
        members = np.flatnonzero(labels == c)
        val_idx.append(rs.permutation(members)[: counts[c]])
    is_val = np.zeros(n, dtype=bool)
    is_val[np.concatenate(val_idx)] = True
    how = f"stratified train/val split, {n - n_val:,} / {n_val:,} (seed {seed})"
    train = dataset.take(np.flatnonzero(~is_val), f"{dataset.source}; training part of a {how}")
    val = dataset.take(np.flatnonzero(is_val), f"{dataset.source}; validation part of a {how}",
                       split="val")
    return train, val
