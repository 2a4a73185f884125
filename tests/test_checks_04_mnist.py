"""The self-checks of lesson 4's graded exercises (exercises/source/04_mnist) accept right
answers, reject typical wrong ones with a useful hint, and report unattempted exercises."""

import pytest
import torch
import torch.nn.functional as F

from cnnkit import checks

# --- part 3: one training step -------------------------------------------------------------------


def right_step(model, optimizer, images, labels):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_with(*, zero=True, step=True, loss_fn=F.cross_entropy, item=True, softmax=False):
    def train_step(model, optimizer, images, labels):
        if zero:
            optimizer.zero_grad()
        logits = model(images)
        loss = loss_fn(logits.softmax(1) if softmax else logits, labels)
        loss.backward()
        if step:
            optimizer.step()
        return loss.item() if item else loss

    return train_step


def mse(logits, labels):
    return F.mse_loss(logits, F.one_hot(labels, logits.shape[1]).to(logits.dtype))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_train_step_accepts_the_reference(seed):
    result = checks.check_train_step(right_step, seed=seed)
    assert result, result.message
    assert checks.check_train_step(step_with(), seed=seed)


def test_train_step_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    checks.check_train_step(right_step)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize(
    "fn, expected",
    [
        (step_with(zero=False), "gradients accumulate"),
        (step_with(step=False), "no parameter changed"),
        (step_with(item=False), "returned a tensor"),
        (step_with(softmax=True), "softmax before the cross-entropy"),
        (step_with(loss_fn=mse), "mean squared error"),
        (step_with(loss_fn=lambda z, y: F.cross_entropy(z, y, reduction="sum")),
         "the sum over the batch"),
        (lambda *args: None, "returned None"),
        (lambda *args: 1, "returned int"),
    ],
)
def test_train_step_explains_mistakes(fn, expected):
    result = checks.check_train_step(fn)
    assert not result and expected in result.message, result.message


def test_train_step_with_a_new_optimizer_fails():
    def new_optimizer(model, optimizer, images, labels):
        return right_step(model, torch.optim.SGD(model.parameters(), lr=0.01), images, labels)

    result = checks.check_train_step(new_optimizer)
    assert not result and "the parameters differ" in result.message


def test_train_step_not_attempted_and_errors():
    def todo(*args):
        raise NotImplementedError

    def broken(*args):
        raise RuntimeError("oops")

    assert "not attempted" in checks.check_train_step(None).message
    assert "not attempted" in checks.check_train_step(todo).message
    result = checks.check_train_step(broken)
    assert not result and "RuntimeError: oops" in result.message


# --- part 4: augmentations that keep the label ---------------------------------------------------

RIGHT = {"a": False, "b": False, "c": True, "d": False, "e": True, "f": True, "g": False,
         "h": True}


def test_augmentation_labels_accepts_the_right_answers():
    assert list(checks.AUGMENTATION_LABEL_QUESTIONS) == list(RIGHT)
    result = checks.check_augmentation_labels(RIGHT)
    assert result, result.message


def test_augmentation_labels_is_no_oracle():
    # graded answers: the self-check only checks the form; a wrong set reads like the right one
    result = checks.check_augmentation_labels(dict(RIGHT, a=True, g=True))
    assert result and "graded when you hand in" in result.message
    assert result.message == checks.check_augmentation_labels(RIGHT).message


def test_augmentation_labels_incomplete_or_malformed():
    for blank in (None, {}, dict.fromkeys(RIGHT)):
        assert "not attempted" in checks.check_augmentation_labels(blank).message
    partial = checks.check_augmentation_labels(dict(RIGHT, c=None, h="yes"))
    assert not partial and "not yet: c, h" in partial.message
    unknown = checks.check_augmentation_labels(dict(RIGHT, z=True))
    assert not unknown and "unknown keys" in unknown.message
    assert "must be a dict" in checks.check_augmentation_labels([True] * 8).message
