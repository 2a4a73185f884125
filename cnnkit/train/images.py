"""One image of any size and colour as a model input, and the model's class probabilities.

:func:`prepare_image` turns a file, bytes, a PIL image, an array or a tensor into the float
(C, H, W) a model expects; :func:`predict_image` prepares, normalises as in training, and
returns the softmax probabilities.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit._validate import is_int
from cnnkit.data import ImageDataset, TensorLoader
from cnnkit.luma import luminance
from cnnkit.train.evaluation import model_device

__all__ = ["prepare_image", "predict_image"]


def _decoded(image):
    """A file path, file object or bytes -> a PIL image in L, RGB or RGBA; else ``image``."""
    if not (isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview))
            or hasattr(image, "read")):
        return image
    from PIL import Image

    src = io.BytesIO(bytes(image)) if isinstance(image, (bytes, bytearray, memoryview)) else image
    with Image.open(src) as img:
        img.load()
        return img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info
                           else "RGB" if img.mode not in ("L", "1", "I", "F") else "L")


def _from_numpy(arr: np.ndarray) -> torch.Tensor:
    if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
        arr = np.moveaxis(arr, -1, 0)  # (H, W, C) -> (C, H, W)
    elif arr.ndim != 2:
        raise ValueError(f"image: a numpy array must be (H, W) or (H, W, C) with C in "
                         f"1/3/4; got shape {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def _from_tensor(image: torch.Tensor) -> torch.Tensor:
    x = image.detach().cpu()
    if x.ndim == 4 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 3 and x.shape[0] not in (1, 3, 4):
        raise ValueError(f"image: a tensor must be (H, W) or (C, H, W) with C in 1/3/4; got "
                         f"shape {tuple(image.shape)}")
    if x.ndim not in (2, 3):
        raise ValueError(f"image: a tensor must be (H, W) or (C, H, W); got shape "
                         f"{tuple(image.shape)}")
    return x


def _as_unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255, bool, or float in [0, 1] -> float32 in [0, 1]."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32) / 255
    if x.dtype == torch.bool:
        return x.to(torch.float32)
    if not x.is_floating_point():
        raise TypeError(f"image: pixels must be uint8 (0..255), bool or float in [0, 1]; got "
                        f"{x.dtype}")
    x = x.to(torch.float32)
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f"image: float pixels must be in [0, 1]; got {lo:g}..{hi:g} "
                         "(divide 0..255 values by 255)")
    return x


def _image_array(image) -> torch.Tensor:
    """Any image -> float32 (C, H, W) in [0, 1], C in {1, 3, 4} (4: with alpha)."""
    image = _decoded(image)
    if type(image).__module__.startswith("PIL."):
        if image.mode not in ("L", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image = np.asarray(image)
    if isinstance(image, np.ndarray):
        x = _from_numpy(image)
    elif isinstance(image, torch.Tensor):
        x = _from_tensor(image)
    else:
        raise TypeError(f"image must be a file path, bytes, a PIL image, a numpy array or a "
                        f"tensor; got {type(image).__name__}")
    x = _as_unit_float(x[None] if x.ndim == 2 else x)
    if min(x.shape[1:]) < 1:
        raise ValueError(f"image is empty: shape {tuple(x.shape)}")
    return x


def prepare_image(image, size: int | Sequence[int], channels: int = 1,
                  invert: bool | str = False) -> torch.Tensor:
    """One image of any size and colour as a model input: float32 (channels, H, W) in [0, 1].

    image: a file path, bytes (e.g. from ``ipywidgets.FileUpload``), a PIL image, a numpy
    array (H, W) or (H, W, C), or a tensor (H, W) or (C, H, W); uint8 0..255 or float in
    [0, 1]; C = 1 (grey), 3 (RGB) or 4 (RGBA: transparent parts become white, as a page).
    size: the model's input (H, W) (or one int for a square); the image is resized to it
    (bilinear, antialiased; the aspect ratio is not kept).
    channels: 1 (colour -> grey by luminance, 0.299 R + 0.587 G + 0.114 B) or 3 (grey is
    repeated). invert: True to turn dark-on-light into light-on-dark (MNIST digits are
    white on black); "auto" inverts when the image's border is mostly light.
    """
    if is_int(size):
        size = (int(size), int(size))
    if len(size) != 2 or min(int(s) for s in size) < 1:
        raise ValueError(f"size must be (H, W) with positive ints; got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; got {channels!r}")
    if invert not in (True, False, "auto"):
        raise ValueError(f"invert must be True, False or 'auto'; got {invert!r}")
    x = _image_array(image)
    if x.shape[0] == 4:  # composite over white
        alpha = x[3:]
        x = x[:3] * alpha + (1 - alpha)
    if channels == 1 and x.shape[0] == 3:
        x = luminance(x)
    elif channels == 3 and x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    if invert == "auto":
        border = torch.cat([x[:, 0].reshape(-1), x[:, -1].reshape(-1),
                            x[:, :, 0].reshape(-1), x[:, :, -1].reshape(-1)])
        invert = bool(border.mean() > 0.5)
    if invert:
        x = 1 - x
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[1:]) != size:
        x = F.interpolate(x[None], size=size, mode="bilinear", antialias=True,
                          align_corners=False)[0]
    return x.clamp_(0, 1).contiguous()


def predict_image(model: nn.Module, image, data=None, *, mean=None, std=None, size=None,
                  channels: int | None = None, invert: bool | str = False,
                  device: str | torch.device | None = None) -> torch.Tensor:
    """Class probabilities (K,) float32 for one image of any size and colour.

    The image is prepared as in training (:func:`prepare_image`: resized to the model's
    input, converted to its number of channels), normalised as in training, and run through
    the model in eval mode without gradients (its mode is restored); softmax gives the
    probabilities, on the CPU.

    data: the *training* loader (:class:`~cnnkit.data.TensorLoader`: input shape, mean and
    std) or training dataset (:class:`~cnnkit.data.ImageDataset`: shape, ``mean()``,
    ``std()``). Explicit ``mean``/``std`` (per channel, [0, 1] units), ``size`` (H, W) and
    ``channels`` override it; without either, the model's ``image_size``/``in_channels``
    attributes are used if it has them, and no normalisation beyond [0, 1].
    invert: see :func:`prepare_image` ("auto" suits a digit drawn dark on light).
    """
    if data is not None:
        if isinstance(data, TensorLoader):
            d_shape, d_mean, d_std = data.image_shape, data.mean, data.std
        elif isinstance(data, ImageDataset):
            d_shape, d_mean, d_std = data.image_shape, data.mean(), data.std()
        else:
            raise TypeError(f"data must be the training TensorLoader or ImageDataset; got "
                            f"{type(data).__name__}")
        channels = d_shape[0] if channels is None else channels
        size = d_shape[1:] if size is None else size
        mean = d_mean if mean is None else mean
        std = d_std if std is None else std
    if size is None:
        side = getattr(model, "image_size", None)
        if not isinstance(side, int):
            raise ValueError("size: give the model's input size (H, W), or pass the training "
                             "loader as data")
        size = side
    if channels is None:
        channels = getattr(model, "in_channels", 1)
    if (mean is None) != (std is None):
        raise ValueError("mean and std: give both or neither")
    x = prepare_image(image, size, channels, invert)
    if mean is not None:
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        s = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        if m.shape[0] not in (1, channels) or s.shape[0] not in (1, channels):
            raise ValueError(f"mean and std must have 1 or {channels} values; got {mean!r}, "
                             f"{std!r}")
        x = (x - m) / s
    device = model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x[None].to(device))
    finally:
        model.train(was_training)
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise ValueError(f"the model must return logits (1, K) for one image; got shape "
                         f"{tuple(logits.shape)}")
    return torch.softmax(logits[0].float(), dim=0).cpu()
