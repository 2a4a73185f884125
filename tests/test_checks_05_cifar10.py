"""The self-checks of lesson 5's graded exercises (exercises/source/05_cifar10) accept right
answers, reject typical wrong ones with a useful hint, and report unattempted exercises."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnkit import checks
from cnnkit.augment import RandomCropFlip, random_crop_flip
from cnnkit.data import TensorLoader
from cnnkit.synthetic import luminance


def not_implemented(*args):
    raise NotImplementedError


# --- part 1: per-channel statistics ---------------------------------------------------------------


def channel_stats(images, correction=0, scale=255.0):
    x = images.to(torch.float64) / scale
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3), correction=correction)


def test_channel_stats_accepts_torch_and_numpy():
    for seed in (0, 1, 2):
        result = checks.check_channel_stats(channel_stats, seed=seed)
        assert result, result.message

    def with_numpy(images):
        x = np.asarray(images, dtype=np.float32) / 255
        return tuple(x.mean(axis=(0, 2, 3))), list(x.std(axis=(0, 2, 3)))

    assert checks.check_channel_stats(with_numpy)


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda im: channel_stats(im, correction=1), "population std"),
        (lambda im: channel_stats(im, scale=1.0), "divide by 255"),
        (lambda im: (channel_stats(im)[0], (im / 255.0).std(dim=(2, 3), correction=0).mean(0)),
         "mean of per-image stds"),
        (lambda im: ((im / 255.0).mean(), (im / 255.0).std()), "averaged over the channels"),
        (lambda im: ((im / 255.0).mean(dim=(1, 2, 3)), (im / 255.0).std(dim=(1, 2, 3))),
         "one value per image"),
        (lambda im: (im / 255.0).mean(dim=(0, 2, 3)), "return a pair"),
        (lambda im: im.mean(), "raised RuntimeError"),
    ],
)
def test_channel_stats_explain_mistakes(student, expected):
    result = checks.check_channel_stats(student)
    assert not result and expected in result.message, result.message


def test_channel_stats_not_attempted():
    for blank in (None, not_implemented):
        assert "not attempted" in checks.check_channel_stats(blank).message


# --- part 2: random crop and flip -----------------------------------------------------------------


def crop_flip_loop(x, generator):
    """A per-image loop version (another random stream than cnnkit's)."""
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    out = torch.empty_like(x)
    for i in range(n):
        top, left = (int(v) for v in torch.randint(0, 9, (2,), generator=generator))
        crop = padded[i, :, top:top + h, left:left + w]
        out[i] = crop.flip(-1) if torch.rand(1, generator=generator) < 0.5 else crop
    return out


def test_crop_flip_accepts_the_reference_and_a_loop():
    for seed in (0, 1, 2):
        for fn in (random_crop_flip, crop_flip_loop, RandomCropFlip()):
            result = checks.check_crop_flip(fn, seed=seed)
            assert result, result.message


def one_offset_for_the_batch(x, generator):
    top, left = (int(v) for v in torch.randint(0, 9, (2,), generator=generator))
    h, w = x.shape[2:]
    out = F.pad(x, (4, 4, 4, 4))[:, :, top:top + h, left:left + w]
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], out.flip(-1), out)


def off_by_one(x, generator):
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    out = torch.empty_like(x)
    for i in range(n):
        top, left = (int(v) for v in torch.randint(0, 8, (2,), generator=generator))
        crop = padded[i, :, top:top + h, left:left + w]
        out[i] = crop.flip(-1) if torch.rand(1, generator=generator) < 0.5 else crop
    return out


def in_place(x, generator):
    out = crop_flip_loop(x, generator)
    x.zero_()
    return out


@pytest.mark.parametrize(
    "student, expected",
    [
        (one_offset_for_the_batch, "same crop offset"),
        (off_by_one, "high is exclusive"),
        (lambda x, g: random_crop_flip(x, g, p_flip=0.0), "no image was flipped"),
        (lambda x, g: random_crop_flip(x, g, p_flip=1.0), "every image was flipped"),
        (lambda x, g: random_crop_flip(x, g, p_flip=0.9), "about half"),
        (lambda x, g: random_crop_flip(x, g).flip(-2), "upside down"),
        (lambda x, g: random_crop_flip(x, g, fill=0.5), "padded by 4 zeros"),
        (lambda x, g: F.pad(x, (4, 4, 4, 4)), "did not crop back"),
        (lambda x, g: random_crop_flip(x, torch.Generator().manual_seed(int(torch.randint(9, ()))
                                                                        )), "same seed"),
        (lambda x, g: random_crop_flip(x.float(), g), "dtype"),
        (lambda x, g: random_crop_flip(x, g).numpy(), "return a torch tensor"),
        (in_place, "changed its input"),
        (lambda x, g: random_crop_flip(x, g, padding=2), "took only the values"),
    ],
)
def test_crop_flip_explains_mistakes(student, expected):
    result = checks.check_crop_flip(student)
    assert not result and expected in result.message, result.message


def test_crop_flip_same_offsets_for_both_axes():
    def diagonal(x, generator):
        params = random_crop_flip(x, generator, return_params=True)[1]
        params = type(params)(params.top, params.top.clone(), params.flip, params.padding)
        from cnnkit.augment import apply_crop_flip

        return apply_crop_flip(x, params)

    result = checks.check_crop_flip(diagonal)
    assert not result and "independently" in result.message


def test_crop_flip_not_attempted():
    for blank in (None, not_implemented):
        assert "not attempted" in checks.check_crop_flip(blank).message


# --- part 3: the from-scratch LeNet tutorial's loaders --------------------------------------------


def loaders(train_set, test_set, batch_size, test_mean=False, test_augment=False,
            shuffle_test=False, swap=False):
    mean, std = (test_set if test_mean else train_set).mean(), train_set.std()
    train = TensorLoader(train_set, batch_size=batch_size, shuffle=True, mean=mean, std=std,
                         augment=RandomCropFlip())
    test = TensorLoader(test_set, batch_size=100, shuffle=shuffle_test, mean=mean, std=std,
                        augment=RandomCropFlip() if test_augment else None)
    if swap:
        test = TensorLoader(train_set.images, train_set.labels, batch_size=100, mean=mean,
                            std=std)
    return train, test


def test_split_loaders_accepts_the_fix():
    for seed in (0, 1):
        result = checks.check_split_loaders(loaders, seed=seed)
        assert result, result.message


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"test_mean": True}, "training split's mean()"),
        ({"test_augment": True}, "augment is for the training set only"),
        ({"shuffle_test": True}, "shuffle the training batches (and only those"),
        ({"swap": True}, "test_loader does not load all of its own split"),
    ],
)
def test_split_loaders_explain_mistakes(options, expected):
    result = checks.check_split_loaders(lambda *a: loaders(*a, **options))
    assert not result and expected in result.message, result.message
    wrong_batch = checks.check_split_loaders(lambda tr, te, b: loaders(tr, te, 64))
    assert not wrong_batch and "expected batch_size" in wrong_batch.message


def test_split_loaders_not_attempted():
    for blank in (None, not_implemented):
        assert "not attempted" in checks.check_split_loaders(blank).message


# --- part 4: the grayscale ablation ---------------------------------------------------------------


def test_grayscale_accepts_luma_and_torchvision():
    from torchvision.transforms.v2.functional import rgb_to_grayscale

    def by_hand(x):
        return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]

    for fn in (luminance, rgb_to_grayscale, by_hand):
        for seed in (0, 1):
            result = checks.check_grayscale(fn, seed=seed)
            assert result, result.message


@pytest.mark.parametrize(
    "student, expected",
    [
        (lambda x: x.mean(1, keepdim=True), "plain average"),
        (lambda x: luminance(x.flip(1)), "reverse order"),
        (lambda x: luminance(x)[:, 0], "keep the channel axis"),
        (lambda x: luminance(x).expand(-1, 3, -1, -1), "the one gray channel"),
        (lambda x: 0.3 * x[:, :1] + 0.6 * x[:, 1:2] + 0.1 * x[:, 2:], "wrong gray values"),
    ],
)
def test_grayscale_explains_mistakes(student, expected):
    result = checks.check_grayscale(student)
    assert not result and expected in result.message, result.message


def test_gray_parameters():
    right = {"conv1_rgb": 448, "conv1_gray": 160, "total_gray": 378_826}
    assert set(right) == set(checks.GRAY_PARAMETER_QUESTIONS)
    result = checks.check_gray_parameters(right)
    assert result, result.message
    # graded answers: only the form is checked, a wrong count reads like the right ones
    wrong = checks.check_gray_parameters(dict(right, conv1_gray=16 * 9))
    assert wrong and wrong.message == result.message
    assert not checks.check_gray_parameters(dict(right, conv1_gray="160"))
    for blank in (None, dict.fromkeys(right)):
        assert "not attempted" in checks.check_gray_parameters(blank).message


def test_split_loaders_reject_quoted_constants():
    def quoted(train_set, test_set, batch_size):
        mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
        return (TensorLoader(train_set, batch_size=batch_size, shuffle=True, mean=mean, std=std,
                             augment=RandomCropFlip()),
                TensorLoader(test_set, batch_size=batch_size, mean=mean, std=std))

    result = checks.check_split_loaders(quoted)
    assert not result and "training split's mean() and std()" in result.message
