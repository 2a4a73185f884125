"""Self-checks for lesson 3, LeNet-5 anatomy."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit.checks._result import (
    CheckResult,
    _not_attempted,
)

__all__ = [
    "LENET_COUNT_LAYERS",
    "check_lenet_counts",
    "check_table_conv_params",
    "LENET5_PADDING_QUESTIONS",
    "check_lenet5_params",
]


LENET_COUNT_LAYERS = ("C1", "C3", "C5", "F6")


def _lenet_counts() -> dict[str, tuple[int, int]]:
    """(trainable parameters, connections) of the 1998 LeNet-5's layers, from the course's model."""
    from cnnkit.inspect import layer_table
    from cnnkit.models import LeNet5Classic

    table = layer_table(LeNet5Classic(), (1, 1, 32, 32))
    return {name: (table[name].trainable, table[name].connections) for name in LENET_COUNT_LAYERS}


def check_lenet_counts(answers: dict) -> CheckResult:
    """Check ``answers`` = {"C1": (parameters, connections), "C3": ..., "C5": ..., "F6": ...}:
    the trainable parameters and connections of those layers of the 1998 LeNet-5 (32x32 input,
    C3 wired by Table I), counted by hand.
    """
    if not isinstance(answers, dict) or all(
            v is None or v == (None, None) for v in answers.values()):
        return _not_attempted("fill in (parameters, connections) for C1, C3, C5 and F6")
    expected = _lenet_counts()
    wrong = []
    for layer in LENET_COUNT_LAYERS:
        got = answers.get(layer)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            wrong.append(f"{layer}: give a pair (parameters, connections); got {got!r}")
            continue
        for what, value, right in zip(("parameters", "connections"), got, expected[layer],
                                      strict=True):
            if value != right:
                hint = (" (that is a full 6 -> 16 convolution: use Table I)"
                        if layer == "C3" and what == "parameters" and value == 16 * 151 else "")
                wrong.append(f"{layer} {what}: you said {value}{hint}")
    if wrong:
        return CheckResult(False, f"{len(wrong)} wrong: " + "; ".join(wrong))
    return CheckResult(True, "all 8 counts are right: "
                       + ", ".join(f"{k} {p:,} / {c:,}" for k, (p, c) in expected.items()))


def _random_tables(rng, n: int) -> list[np.ndarray]:
    tables = []
    while len(tables) < n:
        t = rng.random((int(rng.integers(1, 7)), int(rng.integers(1, 9)))) < 0.5
        if t.any(axis=0).all():  # every output map needs an input
            tables.append(t)
    return tables


def check_table_conv_params(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(table, kernel_size) -> int``: the trainable parameters of a convolution
    whose output map j sees the input maps i with ``table[i, j]`` (a (C_in, C_out) bool array),
    with square kernel_size x kernel_size kernels and one bias per output map, as
    ``cnnkit.models.TableConv2d`` (C3 of LeNet-5 is ``fn(C3_TABLE, 5)``).
    """
    if fn is None:
        return _not_attempted("write the function")
    from cnnkit.models import C3_TABLE, TableConv2d

    rng = np.random.default_rng(seed)
    cases = [(C3_TABLE, 5), (np.ones((6, 16), dtype=bool), 5), (np.eye(4, dtype=bool), 3)]
    cases += [(t, int(rng.integers(1, 6))) for t in _random_tables(rng, 5)]
    for table, k in cases:
        expected = sum(p.numel() for p in TableConv2d(table, k).parameters())
        where = f"table of shape {table.shape} with {int(table.sum())} links, kernel_size={k}"
        try:
            got = fn(table.copy(), k)
        except NotImplementedError:
            return _not_attempted("the function still raises NotImplementedError")
        except Exception as err:  # the student's bug, reported rather than raised
            return CheckResult(False, f"{where}: raised {type(err).__name__}: {err}")
        if got != expected:
            return CheckResult(False, f"{where}: got {got}, expected {expected}")
    return CheckResult(True, f"right on {len(cases)} tables, C3's included (1,516)")


LENET5_PADDING_QUESTIONS = {"padding=2": 2, "padding=0": 0}


def check_lenet5_params(answers: dict) -> CheckResult:
    """Check ``answers`` = {"padding=2": int, "padding=0": int}: the trainable parameters of
    the modern LeNet-5 (``cnnkit.models.LeNet5``) on 28x28 digits with that padding on conv1.
    """
    if not isinstance(answers, dict) or all(v is None for v in answers.values()):
        return _not_attempted("fill in the two parameter counts")
    from cnnkit.models import LeNet5

    wrong = []
    for key, padding in LENET5_PADDING_QUESTIONS.items():
        expected = sum(p.numel() for p in LeNet5(padding=padding).parameters())
        if answers.get(key) != expected:
            wrong.append(f"{key}: you said {answers.get(key)}")
    if wrong:
        return CheckResult(False, f"{len(wrong)} of 2 wrong: " + "; ".join(wrong)
                           + " (hint: follow the map size down to fc1)")
    return CheckResult(True, "both right: the padding changes only fc1's input, 16x5x5 = 400 "
                             "vs 16x4x4 = 256 features")
