"""cnnkit.augment: per-sample random crop (padding 4) + horizontal flip vs torchvision v2."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from cnnkit.augment import (
    CropFlipParams,
    RandomCropFlip,
    apply_crop_flip,
    random_crop_flip,
    sample_crop_flip,
)
from cnnkit.data import ImageDataset, TensorLoader


def _tv_reference(x: torch.Tensor, params: CropFlipParams, fill=0) -> torch.Tensor:
    """torchvision v2 functional ops, one image at a time, with the same parameters."""
    h, w = x.shape[-2:]
    out = []
    for i in range(x.shape[0]):
        img = TF.pad(x[i], [params.padding], fill=fill)
        img = TF.crop(img, int(params.top[i]), int(params.left[i]), h, w)
        if bool(params.flip[i]):
            img = TF.horizontal_flip(img)
        out.append(img)
    return torch.stack(out)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_same_output_as_torchvision_for_the_same_parameters(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (64, 3, 32, 32), generator=g, dtype=torch.uint8)
    x = x if dtype == torch.uint8 else x.float() / 255
    out, params = random_crop_flip(x, torch.Generator().manual_seed(1), return_params=True)
    assert out.shape == x.shape and out.dtype == dtype
    assert torch.equal(out, _tv_reference(x, params))
    # every image has its own draw: not one crop for the whole batch
    assert len(set(zip(params.top.tolist(), params.left.tolist(), strict=True))) > 20
    assert 0 < int(params.flip.sum()) < 64


def test_non_square_other_padding_and_fill():
    x = torch.rand(10, 2, 12, 20)
    params = sample_crop_flip(10, torch.Generator().manual_seed(3), padding=2)
    assert int(params.top.max()) <= 4
    assert torch.equal(apply_crop_flip(x, params, fill=0.5), _tv_reference(x, params, fill=0.5))


def test_identity_and_pure_flip():
    x = torch.rand(4, 3, 8, 8)
    p = 4
    centre = CropFlipParams(torch.full((4,), p), torch.full((4,), p),
                            torch.zeros(4, dtype=torch.bool), p)
    assert torch.equal(apply_crop_flip(x, centre), x)
    flipped = CropFlipParams(centre.top, centre.left, torch.ones(4, dtype=torch.bool), p)
    assert torch.equal(apply_crop_flip(x, flipped), x.flip(-1))
    # padding 0: only flips remain
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=0, p_flip=0.0)
    assert torch.equal(out, x)


def _chi2_uniform(counts: np.ndarray) -> float:
    expected = counts.sum() / len(counts)
    return float(((counts - expected) ** 2 / expected).sum())


def _torchvision_draws(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read torchvision v2's own per-sample draws back from its outputs.

    The image's pixels encode their coordinates (row * 32 + col + 1), so the centre pixel of
    the output tells where the crop window was, and its right neighbour whether it was flipped.
    """
    torch.manual_seed(0)
    ramp = (torch.arange(32 * 32, dtype=torch.float32) + 1).reshape(1, 32, 32)
    tv = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])
    tops, lefts, flips = [], [], []
    for _ in range(n):
        out = tv(ramp)[0]
        v = int(out[16, 16]) - 1
        row, col = divmod(v, 32)
        flipped = int(out[16, 17]) == v  # the right neighbour is one column to the left
        tops.append(row - 16 + 4)
        lefts.append(col - 11 if flipped else col - 16 + 4)
        flips.append(flipped)
    return np.array(tops), np.array(lefts), np.array(flips)


def test_offset_and_flip_statistics_match_torchvision():
    n = 3000
    ours = sample_crop_flip(n, torch.Generator().manual_seed(0))
    tv_top, tv_left, tv_flip = _torchvision_draws(n)
    for offsets in (ours.top.numpy(), ours.left.numpy(), tv_top, tv_left):
        assert offsets.min() >= 0 and offsets.max() <= 8
        counts = np.bincount(offsets, minlength=9)
        assert _chi2_uniform(counts) < 26.1  # chi-square, 8 degrees of freedom, p = 0.001
    # the two samplers agree with each other too (two-sample chi-square on the 9 offsets)
    a, b = np.bincount(ours.top.numpy(), minlength=9), np.bincount(tv_top, minlength=9)
    assert (((a - b) ** 2) / (a + b)).sum() < 26.1
    for rate in (float(ours.flip.float().mean()), float(tv_flip.mean())):
        assert abs(rate - 0.5) < 4 * 0.5 / np.sqrt(n)  # 4 standard errors


def test_loader_hook_records_parameters_and_is_training_only():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (20, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.arange(20) % 10
    train = ImageDataset(images, labels, tuple("abcdefghij"), "test data", "t", "train")
    aug = RandomCropFlip()
    loader = TensorLoader(train, batch_size=8, augment=aug, seed=5)
    x, _ = next(iter(loader))
    assert x.shape == (8, 3, 32, 32) and isinstance(aug.last, CropFlipParams)
    assert len(aug.last) == 8
    # (no shuffle) the loader's batch is exactly its first images augmented with those params
    expected = apply_crop_flip(images[:8].float() * (1 / 255), aug.last)  # as the loader
    assert torch.equal(x, expected)
    test = ImageDataset(images, labels, tuple("abcdefghij"), "test data", "t", "test")
    with pytest.raises(ValueError, match="training set only"):
        TensorLoader(test, augment=RandomCropFlip())


def test_clear_errors():
    g = torch.Generator()
    with pytest.raises(ValueError, match="padding"):
        sample_crop_flip(3, g, padding=-1)
    with pytest.raises(ValueError, match="p_flip"):
        RandomCropFlip(p_flip=1.5)
    with pytest.raises(TypeError, match="generator"):
        sample_crop_flip(3, 0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        random_crop_flip(torch.zeros(3, 32, 32), g)
    with pytest.raises(ValueError, match="params are for 2 images"):
        apply_crop_flip(torch.zeros(3, 1, 4, 4), sample_crop_flip(2, g))
    with pytest.raises(ValueError, match="offsets must be in 0..8"):
        apply_crop_flip(torch.zeros(1, 1, 4, 4), CropFlipParams(
            torch.tensor([9]), torch.tensor([0]), torch.tensor([False]), 4))
