"""cnnkit.luma.luminance: BT.601 weights on tensors and arrays, any channel axis, and what its
docstring says about Pillow and torchvision, measured."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.functional import rgb_to_grayscale

from cnnkit.luma import LUMA_WEIGHTS, luminance


def _random_uint8(shape, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def test_weights_by_hand_on_tensors_and_arrays():
    assert sum(LUMA_WEIGHTS) == pytest.approx(1.0)
    x = torch.tensor([[[[1.0]], [[0.0]], [[0.0]]], [[[0.2]], [[0.4]], [[0.6]]]])  # (2, 3, 1, 1)
    grey = luminance(x)
    assert grey.shape == (2, 1, 1, 1) and grey.dtype == torch.float32
    assert grey.flatten().tolist() == pytest.approx([0.299, 0.299 * 0.2 + 0.587 * 0.4 +
                                                     0.114 * 0.6])
    assert luminance(x[1]).shape == (1, 1, 1)  # (3, H, W)
    hwc = x.permute(0, 2, 3, 1).numpy().astype(np.float64)  # (2, 1, 1, 3)
    assert luminance(hwc, channel_axis=-1).dtype == np.float64
    np.testing.assert_allclose(luminance(hwc, channel_axis=-1)[..., 0], grey[:, 0].numpy(),
                               rtol=1e-6)


def test_uint8_is_rounded_to_the_nearest_level_and_keeps_its_type():
    x = torch.tensor([255, 255, 255, 1, 1, 2], dtype=torch.uint8).reshape(2, 3, 1, 1)
    assert luminance(x).flatten().tolist() == [255, 1]  # 1.114 -> 1
    half = torch.tensor([0, 1, 0], dtype=torch.uint8).reshape(3, 1, 1)  # 0.587 -> 1
    assert luminance(half).item() == 1 and luminance(half.numpy()).dtype == np.uint8


def test_pillow_and_torchvision_differ_as_the_docstring_says():
    x = _random_uint8((1, 3, 128, 128))
    ours = luminance(x).int()
    pil = torch.from_numpy(np.array(Image.fromarray(x[0].permute(1, 2, 0).numpy()).convert("L")))
    tv = rgb_to_grayscale(x).int()
    pil_off, tv_off = (ours[0, 0] - pil.int()).abs(), (ours - tv).abs()
    assert pil_off.max() <= 1 and pil_off.float().mean() < 0.005
    assert tv_off.max() == 1 and 0.4 < tv_off.float().mean() < 0.6
    xf = x.float() / 255
    assert 0 < (luminance(xf) - rgb_to_grayscale(xf)).abs().max() <= 1.1e-4


@pytest.mark.parametrize("images, kwargs, error", [
    (torch.zeros(2, 1, 4, 4), {}, ValueError), (np.zeros((4, 4, 3)), {}, ValueError),
    (np.zeros((4, 4, 3)), {"channel_axis": 3}, ValueError),
    (torch.zeros(3, 2, 2, dtype=torch.int64), {}, TypeError), ([[0.1, 0.2, 0.3]], {}, TypeError)])
def test_clear_errors(images, kwargs, error):
    with pytest.raises(error, match="images must"):
        luminance(images, **kwargs)
