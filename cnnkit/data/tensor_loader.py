"""Batches from a dataset held in memory as a uint8 tensor: :class:`TensorLoader`.

The fast, simple data path: shuffle with the loader's own seeded ``torch.Generator``, slice a
uint8 batch from the resident tensor, convert it to float, augment (training split only) and
normalise it. No per-sample Python, no PIL.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Sequence

import torch

from cnnkit._validate import check_int
from cnnkit.data.dataset import ImageDataset, _check_images_labels

__all__ = ["Augment", "TensorLoader"]

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
    ``"val"`` or ``"test"`` split with ``augment`` is an error (augmenting evaluation data, as
    the CIFAR-10 LeNet tutorial did with its test set, falsifies the evaluation).
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
        batch_size = check_int(batch_size, "batch_size", 1)
        seed = check_int(seed, "seed")
        if augment is None:
            augment = ()
        elif callable(augment):
            augment = (augment,)
        augment = tuple(augment)
        for f in augment:
            if not callable(f):
                raise TypeError(f"augment must be callables f(x, generator) -> x; got {f!r}")
        if augment and split in ("val", "test"):
            raise ValueError(
                f"augment is for the training set only; this is the {split} split (augmenting "
                f"{split} data falsifies the evaluation). Make the {split} loader without augment."
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
    def split(self) -> str | None:
        """The split of the dataset it was made from ("train", "val", "test"); None for tensors."""
        return None if self.dataset is None else self.dataset.split

    @property
    def is_synthetic(self) -> bool:
        """True if it was made from a synthetic stand-in (:attr:`ImageDataset.is_synthetic`)."""
        return self.dataset is not None and self.dataset.is_synthetic

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
