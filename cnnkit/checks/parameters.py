"""Self-check for counting a layer's parameters by hand (lessons 2, 3 and 6)."""

from __future__ import annotations

import numbers

from cnnkit.checks._result import CheckResult, _not_attempted

__all__ = ["check_param_count"]


def _describe(layer) -> str:
    """A short name for the layer: its repr on one line, shortened."""
    text = " ".join(repr(layer).split())
    return text if len(text) <= 80 else text[:77] + "..."


def _count(pairs) -> int:
    return sum(tensor.numel() for _, tensor in pairs)


def check_param_count(layer, answer) -> CheckResult:
    """Check ``answer`` (an int) = the number of trainable parameters of ``layer``.

    layer: a ``torch.nn.Module`` (a layer or a whole network)   answer: int
    Counts the parameters with ``requires_grad`` (weights and biases; batch norm's running
    mean and variance are buffers, not parameters). A wrong answer gets a hint for the usual
    mistakes, never the count: the biases left out, batch norm's running statistics or frozen
    parameters counted, shared weights counted once per position, too high or too low.
    """
    from torch import nn

    from cnnkit.inspect.parameters import count_parameters

    if not isinstance(layer, nn.Module):
        return CheckResult(False, f"layer must be a torch.nn.Module; got {type(layer).__name__}")
    if answer is None:
        return _not_attempted("fill in the number of trainable parameters")
    if isinstance(answer, numbers.Real) and not isinstance(answer, bool):
        if float(answer).is_integer():
            answer = int(answer)
    if not isinstance(answer, int) or isinstance(answer, bool):
        return CheckResult(False, f"answer must be a whole number; got {answer!r}")
    name = _describe(layer)
    params = list(layer.named_parameters())
    trainable = count_parameters(layer, trainable=True)
    if answer == trainable:
        return CheckResult(True, f"{name}: right, {trainable:,} trainable parameters")
    biases = _count((n, p) for n, p in params if p.requires_grad and n.endswith("bias"))
    running = _count((n, b) for n, b in layer.named_buffers()
                     if n.endswith(("running_mean", "running_var")))
    frozen = count_parameters(layer, trainable=False)
    if biases and answer == trainable - biases:
        hint = "the biases are missing (one per output channel or unit)"
    elif running and answer in (trainable + running, trainable + running - biases):
        hint = ("batch norm's running mean and variance are buffers, updated by counting, "
                "not trained: leave them out")
    elif frozen and answer == trainable + frozen:
        hint = "some parameters are frozen (requires_grad=False): they are not trainable"
    elif trainable and answer > trainable and answer % trainable == 0:
        hint = (f"{answer // trainable} times too many: a shared weight is one parameter, "
                "however many positions use it (connections are not parameters)")
    else:
        hint = "too high" if answer > trainable else "too low"
    return CheckResult(False, f"{name}: you said {answer:,}; {hint}")
