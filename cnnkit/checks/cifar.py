"""Self-checks for lesson 5, CIFAR-10."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit.checks._result import CheckResult, _call, _not_attempted, compare
from cnnkit.checks._stats import check_stats_fn

__all__ = [
    "check_cifar_loaders",
]


def check_cifar_loaders(train_loader, test_loader, train_set) -> CheckResult:
    """Check the loaders of lesson 5's exercise (the CIFAR-10 tutorial augmented its test set).

    train_loader, test_loader: :class:`cnnkit.data.TensorLoader`; train_set: the training
    :class:`cnnkit.data.ImageDataset`. Right when the training loader augments and shuffles,
    the test loader does neither, and both normalise with the *training* split's mean/std.
    """
    from cnnkit.data import TensorLoader

    if train_loader is None or test_loader is None:
        return _not_attempted("make train_loader and test_loader")
    for name, loader in (("train_loader", train_loader), ("test_loader", test_loader)):
        if not isinstance(loader, TensorLoader):
            return CheckResult(False, f"{name} must be a cnnkit.data.TensorLoader; got "
                                      f"{type(loader).__name__}")
    if test_loader.augment:
        return CheckResult(False, "the test loader augments its images (the CIFAR-10 "
                                  "tutorial's bug): a test image must be evaluated as it is, "
                                  "or the accuracy is measured on images nobody will ever "
                                  "show the model")
    if not train_loader.augment:
        return CheckResult(False, "the training loader does not augment: give it augment=...")
    if not train_loader.shuffle or test_loader.shuffle:
        return CheckResult(False, "shuffle the training batches (and only those: the test "
                                  "order does not matter)")
    expected_mean = tuple(round(v, 6) for v in train_set.mean())
    expected_std = tuple(round(v, 6) for v in train_set.std())
    for name, loader in (("train_loader", train_loader), ("test_loader", test_loader)):
        if loader.mean is None or (tuple(round(v, 6) for v in loader.mean) != expected_mean
                                   or tuple(round(v, 6) for v in loader.std) != expected_std):
            return CheckResult(False, f"{name} must normalise with the training split's "
                                      "mean() and std() (both loaders, the same values)")
    return CheckResult(True, "right: augment and shuffle the training set only, and normalise "
                             "both splits with the training statistics")


# --- graded exercises -----------------------------------------------------------------------------

__all__ += [
    "check_channel_stats",
    "check_crop_flip",
    "check_split_loaders",
    "check_grayscale",
    "GRAY_PARAMETER_QUESTIONS",
    "check_gray_parameters",
]


def _tensor(value):
    """A student's result (tensor, array or list) -> a float64 torch tensor, or None."""
    import torch

    try:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().to(torch.float64)
        return torch.as_tensor(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError, RuntimeError):
        return None


def _channel_stats_cases(rng) -> list[tuple[str, object]]:
    """(description, uint8 images (N, C, H, W)): a synthetic CIFAR batch, then random batches
    whose channels differ (tiny ones too, where N - 1 and N differ)."""
    import torch

    from cnnkit.synthetic import synthetic_cifar

    cases = [("20 synthetic CIFAR images", synthetic_cifar(20, int(rng.integers(1000)))[0])]
    for shape in ((2, 3, 3, 3), (5, 1, 4, 6), (4, 3, 5, 2), (3, 2, 6, 6)):
        n, c, h, w = shape
        centre = rng.uniform(40, 215, (1, c, 1, 1))
        spread = rng.uniform(10, 60, (1, c, 1, 1))
        per_image = rng.normal(0, 30, (n, c, 1, 1))  # images differ: per-image stds are smaller
        x = np.clip(np.rint(centre + per_image + spread * rng.standard_normal(shape)), 0, 255)
        cases.append((f"random images {shape}", torch.from_numpy(x.astype(np.uint8))))
    return cases


def check_channel_stats(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(images) -> (mean, std)``: per-channel statistics of a batch of images.

    images: uint8 tensor (N, C, H, W), pixels 0..255. mean, std: C values each (tuple, array or
    tensor), in [0, 1] units (pixel / 255), over all N * H * W pixels of each channel; std is
    the population standard deviation. Compared with :class:`cnnkit.data.ImageDataset`'s
    ``mean()`` / ``std()``: the contract of ``cnnkit.checks._stats``, lesson 4's too.
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _channel_stats_cases(np.random.default_rng(seed))
    failure = check_stats_fn(fn, cases, todo="write the function")
    if failure is not None:
        return failure
    return CheckResult(True, f"right on {len(cases)} batches: per-channel mean and population "
                             "std, as ImageDataset.mean() / std()")


# --- random crop and flip: properties, not one random stream --------------------------------------

_PAD = 4


def _match_crops(x, out):
    """For each image of ``out`` (N, C, H, W), the (top, left, flip) of the crop of the
    zero-padded ``x`` it equals (offsets 0..8 in the padded image), or -1s where none does."""
    import torch

    n, c, h, w = x.shape
    padded = torch.zeros((n, c, h + 2 * _PAD, w + 2 * _PAD), dtype=torch.float64)
    padded[:, :, _PAD:_PAD + h, _PAD:_PAD + w] = x
    top = torch.full((n,), -1)
    left, flip = top.clone(), torch.zeros(n, dtype=torch.bool)
    mirrored = out.flip(-1)
    for t in range(2 * _PAD + 1):
        for s in range(2 * _PAD + 1):
            crop = padded[:, :, t:t + h, s:s + w]
            for flipped, target in ((False, out), (True, mirrored)):
                hit = (crop == target).flatten(1).all(1) & (top < 0)
                top[hit], left[hit], flip[hit] = t, s, flipped
    return top, left, flip


def _crop_flip_cases(rng):
    """(description, x (N, C, H, W), statistics?): values that make every crop unique (no
    zeros in the input, so padding shows); big batches test the per-sample statistics."""
    import torch

    cases = []
    for n, c, h, w, dtype in ((256, 3, 12, 12, torch.float32), (256, 2, 9, 14, torch.uint8),
                              (4, 3, 32, 32, torch.float32), (1, 1, 8, 10, torch.float64)):
        if dtype == torch.uint8:
            x = torch.from_numpy(rng.integers(1, 256, (n, c, h, w)).astype(np.uint8))
        else:
            x = torch.from_numpy(rng.uniform(0.05, 1.0, (n, c, h, w))).to(dtype)
        cases.append((f"x {dtype} {tuple(x.shape)}", x, n >= 200))
    return cases


def _crop_flip_output(fn: Callable, x, generator, where: str):
    """(fn(x, generator), None), or (None, the failure): what it raised, that it changed x,
    or that its result is not a tensor of x's shape and dtype."""
    import torch

    original = x.clone()
    got, failure = _call(fn, x, generator, where=where)
    if failure is not None:
        return None, failure
    if not torch.equal(x, original):
        return None, CheckResult(False, f"{where}: your function changed its input x: work on "
                                        "a new tensor (the loader's batch must stay as it was)")
    if not isinstance(got, torch.Tensor):
        return None, CheckResult(False, f"{where}: return a torch tensor; got "
                                        f"{type(got).__name__}")
    n, c, h, w = x.shape
    if tuple(got.shape) != tuple(x.shape):
        padded = (n, c, h + 2 * _PAD, w + 2 * _PAD)
        hint = (": you padded but did not crop back to H x W" if tuple(got.shape) == padded
                else "")
        return None, CheckResult(False, f"{where}: output shape {tuple(got.shape)}, expected "
                                        f"the input's{hint}")
    if got.dtype != x.dtype:
        return None, CheckResult(False, f"{where}: output dtype {got.dtype}, expected the "
                                        f"input's ({x.dtype})")
    return got, None


def _not_a_crop(x, out, top, where: str) -> CheckResult | None:
    """The failure for the first image of ``out`` that is no crop of its padded input (``top``
    -1 there, from :func:`_match_crops`), flipped or not; None when every image is one."""
    import torch

    missing = torch.nonzero(top < 0).flatten()
    if not len(missing):
        return None
    i = int(missing[0])
    t, _, _ = _match_crops(x[i:i + 1], out[i:i + 1].flip(-2))
    hint = ("; it is flipped upside down: a horizontal flip mirrors the last axis (W)"
            if t[0] >= 0 else "")
    return CheckResult(False, f"{where}: image {i} is not a crop (offsets 0..8) of the input "
                              f"padded by 4 zeros on every side, flipped left-right or "
                              f"not{hint}")


def _crop_statistics_failure(top, left, flip, where: str) -> CheckResult | None:
    """Over a big batch: about half the images flipped, an offset per image, drawn
    independently, each of 0..8 taken. None when so."""
    import torch

    n = len(top)
    flipped = int(flip.sum())
    if flipped in (0, n):
        return CheckResult(False, f"{where}: {'every' if flipped else 'no'} image was flipped: "
                                  "flip each image on its own, with probability 1/2")
    if not 0.35 * n <= flipped <= 0.65 * n:
        return CheckResult(False, f"{where}: {flipped} of {n} images flipped; with probability "
                                  "1/2 it should be about half")
    if len(set(zip(top.tolist(), left.tolist(), strict=True))) == 1:
        return CheckResult(False, f"{where}: every image got the same crop offset: draw an "
                                  "offset per image, not one for the batch")
    if torch.equal(top, left):
        return CheckResult(False, f"{where}: the vertical and horizontal offsets are always "
                                  "equal: draw them independently")
    for name, offsets in (("top", top), ("left", left)):
        counts = torch.bincount(offsets, minlength=2 * _PAD + 1)
        if int(counts.min()) < 5:
            used = sorted(set(offsets.tolist()))
            hint = " (torch.randint's high is exclusive)" if used == list(range(2 * _PAD)) else ""
            return CheckResult(False, f"{where}: over {n} images the {name} offsets in the "
                                      f"padded image took only the values {used}, expected "
                                      f"each of 0..8 about equally often{hint}")
    return None


def check_crop_flip(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(x, generator) -> out``: the CIFAR augmentation, per image: pad by 4 zeros,
    crop back to H x W at a random offset, flip left-right with probability 1/2.

    x: tensor (N, C, H, W) (float or uint8); generator: a ``torch.Generator`` to draw from.
    out: a new tensor, same shape and dtype; x unchanged. Checked by properties, not against
    one random stream: every output image is a crop (offsets 0..8 in the padded image) of its
    input, flipped or not; over a batch of 256 every offset occurs, each image gets its own
    offset, and about half are flipped; the same seed gives the same batch.
    """
    if fn is None:
        return _not_attempted("write the function")
    import torch

    cases = _crop_flip_cases(np.random.default_rng(seed))
    for k, (where, x, statistics) in enumerate(cases):
        got, failure = _crop_flip_output(fn, x, torch.Generator().manual_seed(seed * 100 + k),
                                         where)
        if failure is not None:
            return failure
        x64, out = x.to(torch.float64), got.detach().cpu().to(torch.float64)
        top, left, flip = _match_crops(x64, out)
        failure = _not_a_crop(x64, out, top, where)
        if failure is not None:
            return failure
        again, failure = _call(fn, x, torch.Generator().manual_seed(seed * 100 + k), where=where)
        if failure is not None:
            return failure
        if not isinstance(again, torch.Tensor) or not torch.equal(again, got):
            return CheckResult(False, f"{where}: the same seed gave a different batch: draw "
                                      "every random number from the generator passed in "
                                      "(generator=generator), so a seeded run repeats")
        failure = _crop_statistics_failure(top, left, flip, where) if statistics else None
        if failure is not None:
            return failure
    return CheckResult(True, f"right on {len(cases)} batches: every image a crop of its zero-"
                             "padded input, offsets 0..8 per image, about half flipped, "
                             "reproducible from the generator")


# --- the CIFAR-10 tutorial's evaluation, fixed ---------------------------------------------------


def _tiny_cifar(n: int, seed: int, split: str):
    """A small ImageDataset of the synthetic stand-in (it is not CIFAR-10)."""
    from cnnkit.data import ImageDataset
    from cnnkit.synthetic import SYNTHETIC_CLASSES, synthetic_cifar

    images, labels = synthetic_cifar(n, seed)
    return ImageDataset(images, labels, SYNTHETIC_CLASSES, f"synthetic stand-in (seed {seed})",
                        "cifar-10-synthetic", split)


def check_split_loaders(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(train_set, test_set, batch_size) -> (train_loader, test_loader)``: the tutorial's
    loaders fixed. Both are :class:`cnnkit.data.TensorLoader` over their own split; the
    training loader augments and shuffles, in batches of ``batch_size``; the test loader does
    neither; both normalise with the *training* split's ``mean()`` / ``std()``
    (:func:`check_cifar_loaders`). Tested on small synthetic splits.
    """
    if fn is None:
        return _not_attempted("write the function")
    import torch

    rng = np.random.default_rng(seed)
    cases = [(48, 30, 16), (40, 25, 7)]
    for k, (n_train, n_test, batch_size) in enumerate(cases):
        data_seed = 2 * int(rng.integers(1000)) + k
        train_set = _tiny_cifar(n_train, data_seed, "train")
        test_set = _tiny_cifar(n_test, data_seed + 1, "test")
        where = f"train_set of {n_train}, test_set of {n_test}, batch_size={batch_size}"
        got, failure = _call(fn, train_set, test_set, batch_size, where=where)
        if failure is not None:
            return failure
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return CheckResult(False, f"{where}: return a pair (train_loader, test_loader); got "
                                      f"{type(got).__name__}")
        result = check_cifar_loaders(got[0], got[1], train_set)
        if not result:
            return CheckResult(False, f"{where}: {result.message}")
        train_loader, test_loader = got
        for name, loader, ds, other in (("train_loader", train_loader, train_set, "test_set"),
                                        ("test_loader", test_loader, test_set, "train_set")):
            if (loader.num_samples != len(ds)
                    or not torch.equal(loader.images.cpu(), ds.images)):
                return CheckResult(False, f"{where}: {name} does not load all of its own split"
                                          f" (is it loading {other}?)")
        if train_loader.batch_size != batch_size:
            return CheckResult(False, f"{where}: the training batches have "
                                      f"{train_loader.batch_size} images, expected batch_size")
    return CheckResult(True, f"right on {len(cases)} pairs of splits: augment and shuffle the "
                             "training set only, normalise both with the training statistics")


# --- the grayscale ablation -----------------------------------------------------------------------


def _grayscale_cases(rng):
    import torch

    from cnnkit.synthetic import COLOURS, synthetic_cifar

    colours = torch.tensor(list(COLOURS.values()), dtype=torch.float32)[:, :, None, None]
    return [
        ("the stand-in's two colour families (2, 3, 1, 1)", colours),
        ("4 synthetic images / 255", synthetic_cifar(4, int(rng.integers(1000)))[0] / 255),
        ("random float64 (3, 3, 5, 4)", torch.from_numpy(rng.random((3, 3, 5, 4)))),
    ]


def _gray_mistakes(x):
    """(gray, hint) of the usual mistakes on RGB ``x`` (N, 3, H, W), computed when asked for."""
    from cnnkit.synthetic import luminance

    yield x.mean(1, keepdim=True), "that is the plain average of R, G and B: weight them by luma"
    yield luminance(x.flip(1)), "the weights are in reverse order: channel 0 is red, 2 is blue"


def check_grayscale(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(x) -> gray``: x float (N, 3, H, W) RGB in [0, 1] -> (N, 1, H, W), the ITU-R
    601-2 luma ``0.299 R + 0.587 G + 0.114 B`` (what PIL and torchvision compute), compared
    with :func:`cnnkit.synthetic.luminance`.
    """
    if fn is None:
        return _not_attempted("write the function")
    import torch

    from cnnkit.synthetic import luminance

    cases = _grayscale_cases(np.random.default_rng(seed))
    for where, x in cases:
        original = x.clone()
        got, failure = _call(fn, x, where=where)
        if failure is not None:
            return failure
        if not torch.equal(x, original):
            return CheckResult(False, f"{where}: your function changed its input x")
        out = _tensor(got)
        if out is None:
            return CheckResult(False, f"{where}: return a tensor (N, 1, H, W); got "
                                      f"{type(got).__name__}")
        n, _, h, w = x.shape
        if tuple(out.shape) != (n, 1, h, w):
            hint = ""
            if tuple(out.shape) == (n, h, w):
                hint = ": keep the channel axis (keepdim=True)"
            elif tuple(out.shape) == (n, 3, h, w):
                hint = ": return the one gray channel"
            return CheckResult(False, f"{where}: output shape {tuple(out.shape)}, expected "
                                      f"{(n, 1, h, w)}{hint}")
        # torchvision weighs red 0.2989: allow that rounding, nothing coarser
        failure = compare(out, luminance(x), atol=2e-4, what="gray",
                          where=f"{where}: wrong gray values", variants=_gray_mistakes(x),
                          otherwise="0.299 of red, 0.587 of green, 0.114 of blue, pixel by "
                                    "pixel")
        if failure is not None:
            return failure
    return CheckResult(True, f"right on {len(cases)} batches: the ITU-R 601-2 luma, as PIL and "
                             "torchvision compute it")


GRAY_PARAMETER_QUESTIONS = {
    "conv1_rgb": "trainable parameters of LeNetCIFAR's conv1, RGB input (3 channels)",
    "conv1_gray": "the same conv1 (16 filters, 3x3, padding 1) on 1-channel gray input",
    "total_gray": "all trainable parameters of LeNetCIFAR with that 1-channel conv1",
}


def check_gray_parameters(answers: dict) -> CheckResult:
    """Check ``answers`` = {"conv1_rgb": int, "conv1_gray": int, "total_gray": int}: what the
    CIFAR-10 LeNet tutorial's network (:class:`cnnkit.models.LeNetCIFAR`) saves when its input
    has one channel instead of three (:data:`GRAY_PARAMETER_QUESTIONS`). Only the form is
    checked: the counts are graded when handed in, their key is the instructor's."""
    if answers is None or (isinstance(answers, dict) and all(v is None for v in answers.values())):
        return _not_attempted("fill in the three parameter counts")
    if not isinstance(answers, dict) or set(answers) != set(GRAY_PARAMETER_QUESTIONS):
        return CheckResult(False, "answers must be a dict with the keys "
                                  f"{', '.join(GRAY_PARAMETER_QUESTIONS)}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in answers.values()):
        return CheckResult(False, "each count is a whole number")
    return CheckResult(True, "three whole numbers: graded when you hand in (a 3x3 filter spans "
                             "every input channel, plus one bias per filter)")
