"""Self-checks for lesson 4, training LeNet on MNIST."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit.checks._result import CheckResult, _as_floats, _call, _not_attempted
from cnnkit.checks._stats import check_stats_fn

__all__ = [
    "check_mean_std",
    "check_accuracy_fn",
    "DIGIT_AUGMENTATION_QUESTIONS",
    "check_digit_augmentations",
    "check_train_step",
    "AUGMENTATION_LABEL_QUESTIONS",
    "check_augmentation_labels",
]


def _digit_batches(seed: int) -> list[tuple[str, object]]:
    """(description, uint8 images (N, C, 28, 28)): mostly background, like digits, some images
    with much more ink than others; 1, 3 and 2 channels."""
    import torch

    rng = np.random.default_rng(seed)
    cases = []
    for i, (n, c) in enumerate(((16, 1), (8, 3), (5, 2))):
        ink = rng.random((n, c, 28, 28)) < rng.uniform(0.05, 0.5, (n, 1, 1, 1))
        pixels = np.where(ink, rng.integers(100, 256, ink.shape), rng.integers(0, 8, ink.shape))
        cases.append((f"case {i} (images {(n, c, 28, 28)})",
                      torch.from_numpy(pixels.astype(np.uint8))))
    return cases


def check_mean_std(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(images) -> (mean, std)``: images a uint8 tensor (N, C, H, W) of pixels
    0..255; mean and std per channel (C values each), in [0, 1] units (pixel / 255), over all
    pixels of the channel (every image, every position); std the population one. The same
    contract as lesson 5's ``check_channel_stats`` (``cnnkit.checks._stats``).
    """
    if fn is None:
        return _not_attempted("write mean_std(images)")
    cases = _digit_batches(seed)
    failure = check_stats_fn(fn, cases, todo="write mean_std(images)")
    if failure is not None:
        return failure
    return CheckResult(True, f"right on {len(cases)} cases (1, 2 and 3 channels): compute "
                             "these on the training split and normalise both splits with them")


def _accuracy_case(seed: int):
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5),
                              nn.Linear(32, 4))
    finally:
        torch.random.set_rng_state(torch_state)
    images = torch.randint(0, 256, (100, 1, 4, 4), generator=gen, dtype=torch.uint8)
    with torch.no_grad():
        model.eval()
        pred = model(images.float() / 255).argmax(1)
        model.train()
    labels = pred.clone()
    flip = torch.arange(100) % 4 == 0  # a quarter wrong: accuracy 75%
    labels[flip] = (pred[flip] + 1) % 4
    return model, images, labels, 75 / 100


def check_accuracy_fn(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(model, loader) -> accuracy`` (a fraction in [0, 1]) on 100 samples in
    batches of 64 (a short last batch of 36) and of 32 (last batch 4), with a model that has
    dropout: evaluation must use ``model.eval()``, count the real number of samples, and
    leave the model in the mode it was in.
    """
    from cnnkit.data import TensorLoader

    if fn is None:
        return _not_attempted("write accuracy(model, loader)")
    model, images, labels, want = _accuracy_case(seed)
    for batch_size in (64, 32):
        loader = TensorLoader(images, labels, batch_size=batch_size)
        model.train()
        try:
            got = fn(model, loader)
        except NotImplementedError:
            return _not_attempted("write accuracy(model, loader)")
        except Exception as err:  # noqa: BLE001 -- report the student's error, don't crash
            return CheckResult(False, f"batch_size={batch_size}: {type(err).__name__}: {err}")
        if got is None:
            return _not_attempted("write accuracy(model, loader)")
        value = _as_floats(got)
        if value is None or len(value) != 1:
            return CheckResult(False, f"return one number (the fraction right); got {got!r}")
        value = value[0]
        where = f"100 samples in batches of {batch_size}"
        if abs(value - 100 * want) < 1e-6:
            return CheckResult(False, f"{where}: you returned a percentage ({value:g}); return "
                                      "the fraction in [0, 1]")
        bug = want * 100 / (len(loader) * batch_size)
        if abs(value - bug) < 1e-6:
            return CheckResult(False, f"{where}: {value:.4f}, expected {want:.4f}: you divided "
                                      f"by len(loader) * batch_size = {len(loader) * batch_size}"
                                      ", but the last batch is short; count the samples you saw "
                                      "(the from-scratch tutorial's bug)")
        if abs(value - want) > 1e-6:
            return CheckResult(False, f"{where}: {value:.4f}, expected {want:.4f} (did you call "
                                      "model.eval()? dropout must be off when evaluating)")
        if not model.training:
            return CheckResult(False, f"{where}: the accuracy is right, but the model is left in "
                                      "eval mode: remember model.training and restore it "
                                      "(model.train(was_training))")
    return CheckResult(True, "right with short last batches and dropout, and the model's mode "
                             "is restored")


# name -> does it keep a digit's label? (the LeNet-5 reproduction flipped digits horizontally)
DIGIT_AUGMENTATION_QUESTIONS: dict[str, bool] = {
    "horizontal flip": False,
    "vertical flip": False,
    "rotate by 180 degrees": False,
    "rotate by up to 10 degrees": True,
    "shift by up to 2 pixels": True,
    "slightly darker or lighter ink": True,
}

# what to think about when an answer is wrong: a question back, never the verdict
_AUGMENTATION_HINTS = {
    "horizontal flip": "picture a mirrored 2, 3 or 7: the LeNet-5 reproduction trained on those",
    "vertical flip": "picture a 7 upside down, and a 6",
    "rotate by 180 degrees": "picture a 6 and a 9",
    "rotate by up to 10 degrees": "how much do people slant their writing?",
    "shift by up to 2 pixels": "is a digit a little off-centre another digit?",
    "slightly darker or lighter ink": "does the pen decide which digit it is?",
}


def check_digit_augmentations(answers: dict) -> CheckResult:
    """Check ``answers`` = {augmentation: True/False}: does it keep a digit's label?
    The keys are those of ``DIGIT_AUGMENTATION_QUESTIONS``. A wrong set fails as a whole (no
    count, no names: with yes/no answers either would give the key away).
    """
    if answers is None or (isinstance(answers, dict)
                           and all(v is None for v in answers.values())):
        return _not_attempted("say True or False for each augmentation")
    if not isinstance(answers, dict):
        return CheckResult(False, "answers must be a dict {augmentation: True or False}; got "
                                  f"{type(answers).__name__}")
    unanswered = [f"{name}: answer True or False (got {answers.get(name)!r})"
                  for name in DIGIT_AUGMENTATION_QUESTIONS
                  if not isinstance(answers.get(name), (bool, np.bool_))]
    if unanswered:
        return CheckResult(False, "; ".join(unanswered))
    if any(bool(answers[name]) != keeps for name, keeps in DIGIT_AUGMENTATION_QUESTIONS.items()):
        # pass or fail for the whole set: a count or the wrong names would give the key away
        return CheckResult(False, "not all right yet; for each change ask: "
                                  + "; ".join(_AUGMENTATION_HINTS.values()))
    return CheckResult(True, "all right: augment only with changes that keep the label; "
                             "flips and big rotations change what a digit is")


# --- the graded exercises (exercises/source/04_mnist) ---------------------------------------------


def _train_step_case(seed: int):
    """A tiny classifier, its SGD settings and two batches: (model, lr, [(x, y), (x, y)]).

    x: (5, 1, 3, 4) float32, y: (5,) int64 in 0..2. The global torch RNG is left untouched.
    """
    import torch
    from torch import nn

    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 3))
    finally:
        torch.random.set_rng_state(torch_state)
    gen = torch.Generator().manual_seed(seed + 1000)
    batches = [(torch.randn(5, 1, 3, 4, generator=gen), torch.randint(0, 3, (5,), generator=gen))
               for _ in range(2)]
    return model, 0.5, batches


def _reference_steps(model, lr: float, batches, *, zero_grad: bool = True):
    """Run SGD steps on a copy of ``model``: ([loss per step], [parameters after each step])."""
    import copy

    import torch
    import torch.nn.functional as F

    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses, params = [], []
    for x, y in batches:
        if zero_grad:
            optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        params.append([p.detach().clone() for p in model.parameters()])
    return losses, params


def _same_params(a, b) -> bool:
    import torch

    return all(torch.allclose(p, q, rtol=1e-5, atol=1e-6) for p, q in zip(a, b, strict=True))


def _loss_hint(model, x, y, got: float) -> str:
    """Which usual mistake gives the loss ``got`` on the batch (x, y), or a general hint."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        logits = model(x)
        one_hot = F.one_hot(y, logits.shape[1]).to(logits.dtype)
        mistakes = {
            "you applied softmax before the cross-entropy: F.cross_entropy takes the raw "
            "logits and does the log-softmax itself": F.cross_entropy(logits.softmax(1), y),
            "that is the sum over the batch; the loss is the mean per sample":
                F.cross_entropy(logits, y, reduction="sum"),
            "that is a mean squared error; classification uses the cross-entropy":
                F.mse_loss(logits, one_hot),
            "that is a mean squared error on the probabilities; classification uses the "
            "cross-entropy": F.mse_loss(logits.softmax(1), one_hot),
        }
    for hint, value in mistakes.items():
        if abs(got - float(value)) < 1e-5 * max(1.0, abs(float(value))):
            return hint
    return "the cross-entropy of the model's logits for this batch, before the step"


def check_train_step(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(model, optimizer, images, labels) -> loss``: one training step (clear the
    gradients, forward, cross-entropy, backward, optimizer step) returning the batch's loss as
    a Python float. Two steps with SGD on a tiny model (images (5, 1, 3, 4), 3 classes) are
    compared with the reference, loss by loss and parameter by parameter.
    """
    import copy

    import torch

    if fn is None:
        return _not_attempted("write train_step(model, optimizer, images, labels)")
    model, lr, batches = _train_step_case(seed)
    want_losses, want_params = _reference_steps(model, lr, batches)
    _, accumulated = _reference_steps(model, lr, batches, zero_grad=False)
    start = [p.detach().clone() for p in model.parameters()]
    student = copy.deepcopy(model)
    optimizer = torch.optim.SGD(student.parameters(), lr=lr)
    for step, (x, y) in enumerate(batches, 1):
        before = [p.detach().clone() for p in student.parameters()]
        where = f"step {step} (SGD, images {tuple(x.shape)})"
        got, failure = _call(fn, student, optimizer, x.clone(), y.clone(), where=where)
        if failure is not None:
            return failure
        if got is None:
            return CheckResult(False, f"{where}: returned None; return the batch's loss "
                                      "as a float")
        if isinstance(got, torch.Tensor):
            return CheckResult(False, f"{where}: returned a tensor; return loss.item(), a "
                                      "Python float (a tensor keeps the whole graph of the "
                                      "step alive, and summing them over an epoch leaks memory)")
        if not isinstance(got, float):
            return CheckResult(False, f"{where}: returned {type(got).__name__}; return the "
                                      "batch's loss as a Python float")
        want = want_losses[step - 1]
        if abs(got - want) > 1e-5 * max(1.0, abs(want)):
            # the loss of the batch, on the weights before this step
            return CheckResult(False, f"{where}: loss {got:.5f}, expected {want:.5f}: "
                                      + _loss_hint(_model_with(model, before), x, y, got))
        now = list(student.parameters())
        if _same_params(now, before):
            return CheckResult(False, f"{where}: the loss is right but no parameter changed: "
                                      "call optimizer.step() after loss.backward() (and clear "
                                      "the gradients before backward, not between backward and "
                                      "step)")
        if _same_params(now, want_params[step - 1]):
            continue
        if step == 2 and _same_params(now, accumulated[1]):
            return CheckResult(False, f"{where}: step 1 was right, step 2 used the gradients of "
                                      "both batches: gradients accumulate in .grad, clear them "
                                      "(optimizer.zero_grad()) before each backward")
        if _same_params(now, start) and step == 2:
            return CheckResult(False, f"{where}: the parameters are back where they started")
        names = [n for n, _ in student.named_parameters()]
        diffs = [float((p.detach() - q).abs().max()) for p, q in
                 zip(now, want_params[step - 1], strict=True)]
        worst = int(np.argmax(diffs))
        return CheckResult(False, f"{where}: the loss is right but the parameters differ from "
                                  f"one SGD step (most in {names[worst]}, by {diffs[worst]:.3g}): "
                                  "one backward and one optimizer.step() per call, on this "
                                  "batch's loss, with the optimizer you are given")
    return CheckResult(True, "right for two steps: gradients cleared, cross-entropy, backward, "
                             "step, and the loss returned as a float")


def _model_with(model, params):
    """A copy of ``model`` with the parameter values ``params`` (in parameters() order)."""
    import copy

    import torch

    other = copy.deepcopy(model)
    with torch.no_grad():
        for p, value in zip(other.parameters(), params, strict=True):
            p.copy_(value)
    return other


AUGMENTATION_LABEL_QUESTIONS: dict[str, str] = {
    "a": "mirror the image left to right (the MNIST augmentation tutorial's RandomHorizontalFlip)",
    "b": "flip the image upside down",
    "c": "rotate by a random angle of at most 10 degrees",
    "d": "rotate by 90 degrees",
    "e": "shift by at most 2 pixels in each direction, filling with black",
    "f": "zoom in or out by at most 10%",
    "g": "rotate by 180 degrees",
    "h": "add a little random noise to every pixel",
}

"""key -> an augmentation of MNIST training digits; the graded question: does it keep every
digit's label (True) or can it turn a digit into something else (False)? The answers are
the instructor's (graded when handed in), never in this package."""


def check_augmentation_labels(answers: dict) -> CheckResult:
    """Check ``answers`` = {key: True/False} for ``AUGMENTATION_LABEL_QUESTIONS``: does the
    augmentation keep every digit's label? Only the form is checked: the answers are graded
    when handed in (a yes/no self-check that counts mistakes is an oracle for the key).
    """
    what = "True or False for each augmentation"
    if answers is None:
        return _not_attempted(f"say {what}")
    if not isinstance(answers, dict):
        return CheckResult(False, "answers must be a dict like {'a': True, ...}; got "
                                  f"{type(answers).__name__}")
    if not answers or all(v is None for v in answers.values()):
        return _not_attempted(f"say {what}")
    unknown = sorted(set(answers) - set(AUGMENTATION_LABEL_QUESTIONS), key=str)
    if unknown:
        return CheckResult(False, f"unknown keys {unknown}: use the keys "
                                  f"{', '.join(AUGMENTATION_LABEL_QUESTIONS)}")
    missing = [k for k in AUGMENTATION_LABEL_QUESTIONS
               if not isinstance(answers.get(k), (bool, np.bool_))]
    if missing:
        return CheckResult(False, f"answer True or False for every key; not yet: "
                                  f"{', '.join(missing)}")
    return CheckResult(True, "one True or False per augmentation: graded when you hand in "
                             "(picture a 1, 2, 6, 7 and 9 after each change)")
