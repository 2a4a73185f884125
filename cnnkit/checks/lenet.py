"""Self-checks for lesson 3, LeNet-5 anatomy."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit.checks._result import (
    CheckResult,
    _as_array,
    _call,
    _first_difference,
    _index_text,
    _not_attempted,
)

__all__ = [
    "LENET_COUNT_LAYERS",
    "check_lenet_counts",
    "check_table_conv_params",
    "LENET5_PADDING_QUESTIONS",
    "check_lenet5_params",
    "LENET_TABLE_LAYERS",
    "check_lenet_layer_counts",
    "check_table_conv",
    "check_rbf_penalties",
    "check_rbf_predict",
    "check_modern_lenet5",
]


LENET_COUNT_LAYERS = ("C1", "C3", "C5", "F6")


def _lenet_counts(layers=LENET_COUNT_LAYERS) -> dict[str, tuple[int, int]]:
    """(trainable parameters, connections) of the 1998 LeNet-5's layers, from the course's model."""
    from cnnkit.inspect import layer_table
    from cnnkit.models import LeNet5Classic

    table = layer_table(LeNet5Classic(), (1, 1, 32, 32))
    return {name: (table[name].trainable, table[name].connections) for name in layers}


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
        got, failure = _call(fn, table.copy(), k, where=where)
        if failure is not None:
            return failure
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


# --- graded exercises ---------------------------------------------------------------------------

LENET_TABLE_LAYERS = ("C1", "S2", "C3", "S4", "C5", "F6")


def _count_hint(layer: str, what: str, value, right: int, other_right: int, units: int,
                maps: int) -> str:
    """Why a count may be wrong (a typical mistake it equals), or ""."""
    subsampling = layer in ("S2", "S4")
    if what == "parameters":
        if subsampling and value == 0:
            return "that is max pooling; the 1998 subsampling is trainable"
        if subsampling and value == maps:
            return "each map has a coefficient and a bias"
        if layer == "C3" and value == 16 * (6 * 25 + 1):
            return "that is a full 6 -> 16 convolution: use Table I"
        if value == right - maps:
            return "one bias per map"
        return ""
    if layer == "C3" and value == 16 * (6 * 25 + 1) * 100:
        return "that is a full 6 -> 16 convolution: use Table I"
    if value == right - units:
        return "a bias is a connection too, one per unit"
    if value == other_right and right != other_right:
        return "a shared weight serves every unit of its map: count links per unit x units"
    return ""


def check_lenet_layer_counts(answers: dict) -> CheckResult:
    """Check ``answers`` = {"C1": (parameters, connections), "S2": ..., ..., "F6": ...}: the
    trainable parameters and connections of the 1998 LeNet-5's layers C1, S2, C3, S4, C5 and F6
    (32x32 input, trainable subsampling, C3 wired by Table I), counted by hand.
    """
    if not isinstance(answers, dict) or all(
            v is None or v == (None, None) for v in answers.values()):
        return _not_attempted("fill in (parameters, connections) for " + ", ".join(
            LENET_TABLE_LAYERS))
    from cnnkit.inspect import layer_table
    from cnnkit.models import LeNet5Classic

    table = layer_table(LeNet5Classic(), (1, 1, 32, 32))
    wrong = []
    for layer in LENET_TABLE_LAYERS:
        row = table[layer]
        right = (row.trainable, row.connections)
        units, maps = int(np.prod(row.output_shape[1:])), int(row.output_shape[1])
        got = answers.get(layer)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            wrong.append(f"{layer}: give a pair (parameters, connections); got {got!r}")
            continue
        for k, what in enumerate(("parameters", "connections")):
            if got[k] != right[k]:
                hint = _count_hint(layer, what, got[k], right[k], right[1 - k], units, maps)
                wrong.append(f"{layer} {what}: you said {got[k]!r}"
                             + (f" ({hint})" if hint else ""))
    if wrong:
        return CheckResult(False, f"{len(wrong)} of {2 * len(LENET_TABLE_LAYERS)} wrong: "
                           + "; ".join(wrong))
    return CheckResult(True, f"all {2 * len(LENET_TABLE_LAYERS)} counts are right, as in the "
                             "paper")


def _table_conv_reference(x: np.ndarray, weight: np.ndarray, bias: np.ndarray,
                          table: np.ndarray) -> np.ndarray:
    """cnnkit.models.TableConv2d with these parameters, in float64."""
    import torch

    from cnnkit.models import TableConv2d

    layer = TableConv2d(table, tuple(weight.shape[1:])).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight)[:, None])
        layer.bias.copy_(torch.from_numpy(bias))
        return layer(torch.from_numpy(x)).numpy()


def _table_conv_cases(rng) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, x (N, C_in, H, W), weight (L, kh, kw), bias (C_out,), table (C_in, C_out))."""
    from cnnkit.models import C3_TABLE

    shapes = [("C3 of LeNet-5 on S2's maps", np.array(C3_TABLE), (2, 14, 14), (5, 5)),
              ("one-to-one table", np.eye(3, dtype=bool), (1, 6, 7), (3, 3)),
              ("full table", np.ones((2, 3), dtype=bool), (2, 5, 4), (2, 3))]
    for i, table in enumerate(_random_tables(rng, 3)):
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        shapes.append((f"random table {i + 1}", table,
                       (int(rng.integers(1, 3)), kh + int(rng.integers(0, 5)),
                        kw + int(rng.integers(0, 5))), (kh, kw)))
    cases = []
    for name, table, (n, h, w), kernel in shapes:
        x = rng.standard_normal((n, table.shape[0], h, w))
        weight = rng.standard_normal((int(table.sum()), *kernel))
        bias = rng.standard_normal(table.shape[1])
        cases.append((name, x, weight, bias, table))
    return cases


def _input_major(weight: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The weights a layer would use that numbers the links input map first (row by row)."""
    rows_first = list(zip(*np.nonzero(table), strict=True))  # (i, j) by input map i
    target, source = np.nonzero(table.T)  # (j, i) by output map j: the right order
    order = [rows_first.index((i, j)) for j, i in zip(target, source, strict=True)]
    return weight[order]


def check_table_conv(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(x, weight, bias, table) -> out``: the forward pass of a partially connected
    convolution (LeNet-5's C3), as ``cnnkit.models.TableConv2d``.

    x: (N, C_in, H, W); table: (C_in, C_out) bool, output map j sees input map i when
    ``table[i, j]``; weight: (L, kh, kw), one kernel per link (L = table.sum()), the links
    numbered by output map, then input map; bias: (C_out,). Stride 1, no padding, no flip.
    Returns out: (N, C_out, H - kh + 1, W - kw + 1).
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _table_conv_cases(np.random.default_rng(seed))
    for name, x, weight, bias, table in cases:
        expected = _table_conv_reference(x, weight, bias, table)
        where = (f"{name} (table {table.shape}, {int(table.sum())} links), x {x.shape}, "
                 f"kernels {weight.shape[1:]}")
        got, failure = _call(fn, x.copy(), weight.copy(), bias.copy(), table.copy(),
                             where=where, as_array=True)
        if failure is not None:
            return failure
        if got.shape != expected.shape:
            return CheckResult(False, f"{where}: output shape {got.shape}, expected "
                                      f"{expected.shape} (N, C_out, H - kh + 1, W - kw + 1)")
        if np.allclose(got, expected, atol=1e-8):
            continue
        variants = [
            (_table_conv_reference(x, weight, 0 * bias, table),
             "add bias[j] to every unit of output map j"),
            (_table_conv_reference(x, weight[:, ::-1, ::-1].copy(), bias, table),
             "no kernel flip: CNN layers cross-correlate"),
            (_table_conv_reference(x, _input_major(weight, table), bias, table),
             "the links are numbered by output map first (column by column of the table), "
             "then input map"),
        ]
        hint = next((text for v, text in variants if np.allclose(got, v, atol=1e-8)), "")
        index = _first_difference(got, expected)
        return CheckResult(False, f"{where}: out[{_index_text(index)}] = {got[index]:.4g}, "
                                  f"expected {expected[index]:.4g}" + (f"; {hint}" if hint else ""))
    return CheckResult(True, f"matches TableConv2d on {len(cases)} cases, C3 with Table I "
                             "included")


def _rbf_cases(rng) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, f6 (N, F), prototypes (K, F)); values exact in float32, like the layer's buffer."""
    from cnnkit.models import PROTOTYPES

    protos = np.array(PROTOTYPES, dtype=np.float64)

    def f32(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float32).astype(np.float64)

    noisy = np.clip(protos[[3, 8, 1, 1, 0]] + 0.8 * rng.standard_normal((5, 84)), -1.7, 1.7)
    return [
        ("the digit prototypes themselves", protos.copy(), protos),
        ("F6 outputs near prototypes 3, 8, 1, 1, 0", noisy, protos),
        ("random F6 outputs", 1.7 * np.tanh(rng.standard_normal((6, 84))), protos),
        ("3 random prototypes of 4 features", rng.standard_normal((7, 4)),
         f32(rng.standard_normal((3, 4)))),
        ("one input, 5 prototypes of 2 features", rng.standard_normal((1, 2)),
         f32(rng.standard_normal((5, 2)))),
    ]


def _rbf_reference(f6: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """The paper's penalties y (N, K): minus ``cnnkit.models.EuclideanRBF``'s scores."""
    import torch

    from cnnkit.models import EuclideanRBF

    layer = EuclideanRBF(prototypes).double()
    with torch.no_grad():
        return -layer(torch.from_numpy(f6)).numpy()


def check_rbf_penalties(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(f6, prototypes) -> penalties``: LeNet-5's Euclidean RBF output units.

    f6: (N, F) inputs (F6's outputs); prototypes: (K, F), one per class. Returns (N, K):
    ``penalties[n, k] = sum_j (f6[n, j] - prototypes[k, j]) ** 2``, the paper's y_k (small
    when input n looks like class k), i.e. minus ``cnnkit.models.EuclideanRBF``'s scores.
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _rbf_cases(np.random.default_rng(seed))
    for name, f6, protos in cases:
        expected = _rbf_reference(f6, protos)
        where = f"{name}: f6 {f6.shape}, prototypes {protos.shape}"
        got, failure = _call(fn, f6.copy(), protos.copy(), where=where, as_array=True)
        if failure is not None:
            return failure
        if got.shape != expected.shape:
            hint = (" (one row per input, one column per prototype)"
                    if got.shape == expected.T.shape else " (N, K)")
            return CheckResult(False, f"{where}: penalties have shape {got.shape}, expected "
                                      f"{expected.shape}{hint}")
        if np.allclose(got, expected, atol=1e-9):
            continue
        variants = [(-expected, "a penalty is the squared distance itself, >= 0 (EuclideanRBF "
                                "returns minus it as a score)"),
                    (np.sqrt(expected), "the squared distance: no square root"),
                    (expected / f6.shape[1], "sum over the features, not the mean")]
        hint = next((text for v, text in variants if np.allclose(got, v, atol=1e-9)), "")
        index = _first_difference(got, expected)
        return CheckResult(False, f"{where}: penalties[{_index_text(index)}] = "
                                  f"{got[index]:.4g}, expected {expected[index]:.4g}"
                                  + (f"; {hint}" if hint else ""))
    return CheckResult(True, f"penalties match EuclideanRBF on {len(cases)} cases")


def check_rbf_predict(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(f6, prototypes) -> classes``: the class LeNet-5's RBF output layer predicts
    for each input, (N,) ints: the prototype with the smallest penalty (the closest one).
    f6: (N, F); prototypes: (K, F).
    """
    if fn is None:
        return _not_attempted("write the function")
    cases = _rbf_cases(np.random.default_rng(seed))
    for name, f6, protos in cases:
        penalties = _rbf_reference(f6, protos)
        expected = penalties.argmin(axis=1)
        where = f"{name}: f6 {f6.shape}, prototypes {protos.shape}"
        got, failure = _call(fn, f6.copy(), protos.copy(), where=where)
        if failure is not None:
            return failure
        try:
            got = _as_array(got)
        except (TypeError, ValueError):
            return CheckResult(False, f"{where}: return an array; got {type(got).__name__}")
        if got.shape != expected.shape:
            return CheckResult(False, f"{where}: predictions have shape {got.shape}, expected "
                                      f"{expected.shape}, one class per input")
        if not np.issubdtype(got.dtype, np.integer):
            return CheckResult(False, f"{where}: predictions must be integers (class indices); "
                                      f"got dtype {got.dtype}")
        if not np.array_equal(got, expected):
            n = int(np.flatnonzero(got != expected)[0])
            hint = ""
            if np.array_equal(got, penalties.argmax(axis=1)):
                hint = ("; that is the largest penalty, the farthest prototype: the closest "
                        "one wins")
            return CheckResult(False, f"{where}: input {n} predicted {int(got[n])}, expected "
                                      f"{int(expected[n])}{hint}")
    return CheckResult(True, f"predictions right on {len(cases)} cases (each prototype is "
                             "recognised as its own digit)")


def _modern_variants(seed: int):
    """(the reference LeNet5, [(a wrong variant with the same parameters, hint)])."""
    import torch
    from torch import nn

    from cnnkit.models import LeNet5

    torch.manual_seed(seed)
    reference = LeNet5()
    variants = [(LeNet5(pool="avg"), "max pooling, not average pooling"),
                (LeNet5(activation="tanh"), "ReLU activations, not tanh"),
                (LeNet5(activation="sigmoid"), "ReLU activations, not sigmoid"),
                (nn.Sequential(LeNet5(), nn.ReLU()),
                 "no activation after the last layer: the 10 outputs are logits, any sign")]
    for model, _ in variants:
        (model[0] if isinstance(model, nn.Sequential) else model).load_state_dict(
            reference.state_dict())
    return reference, variants


def check_modern_lenet5(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn() -> model``: the modern LeNet-5 (``cnnkit.models.LeNet5``) built from
    ``torch.nn`` layers: (N, 1, 28, 28) -> (N, 10) logits; conv 6@5x5 with padding 2, ReLU, 2x2
    max pooling, conv 16@5x5, ReLU, 2x2 max pooling, flatten, linear 120, ReLU, linear 84, ReLU,
    linear 10. Checks the output shape, the trainable parameters (count and shapes, in order)
    and, with the reference's weights copied in, the outputs.
    """
    if fn is None:
        return _not_attempted("write the function")
    import torch
    from torch import nn

    from cnnkit.models import LeNet5, LeNet5Classic

    model, failure = _call(fn, where="build_lenet5()")
    if failure is not None:
        return failure
    if not isinstance(model, nn.Module):
        return CheckResult(False, f"build_lenet5() must return a torch.nn.Module; got "
                                  f"{type(model).__name__}")
    if any(isinstance(m, (LeNet5, LeNet5Classic)) for m in model.modules()):
        return CheckResult(False, "build the network from torch.nn layers, not with "
                                  "cnnkit.models")
    x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as err:  # the student's bug, reported rather than raised
        return CheckResult(False, f"model(x) with x (3, 1, 28, 28) raised {type(err).__name__}: "
                                  f"{err}")
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (3, 10):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return CheckResult(False, f"x (3, 1, 28, 28) gave {got}, expected (3, 10): one logit "
                                  "per class")
    reference, variants = _modern_variants(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    ref_params = list(reference.parameters())
    count = sum(p.numel() for p in params)
    if count != sum(p.numel() for p in ref_params):
        hint = ""
        if count == sum(p.numel() for p in LeNet5(padding=0).parameters()):
            hint = " (the first convolution needs padding 2: 28x28 maps, as from 32x32)"
        return CheckResult(False, f"{count:,} trainable parameters; that is not the modern "
                                  f"LeNet-5's count{hint}")
    names = [n for n, _ in reference.named_parameters()]
    for k, (p, q) in enumerate(zip(params, ref_params, strict=False)):
        if tuple(p.shape) != tuple(q.shape):
            return CheckResult(False, f"trainable parameter {k} has shape {tuple(p.shape)}, "
                                      f"expected {tuple(q.shape)} ({names[k]})")
    if len(params) != len(ref_params):
        return CheckResult(False, f"{len(params)} parameter tensors, expected {len(ref_params)} "
                                  "(a weight and a bias per layer)")
    model.eval()  # the reference has no dropout: compare deterministic outputs
    with torch.no_grad():
        for p, q in zip(params, ref_params, strict=True):
            p.copy_(q)
        out = model(x)
        expected = reference(x)
        if not torch.allclose(out, expected, atol=1e-5):
            hint = next((text for v, text in variants
                         if torch.allclose(out, v(x), atol=1e-5)), "check the order of the "
                        "layers: conv, ReLU, pool twice, then flatten and the three linear layers")
            return CheckResult(False, "with the reference's weights copied in, the logits "
                                      f"differ: {hint}")
    return CheckResult(True, f"(N, 1, 28, 28) -> (N, 10), {count:,} trainable parameters, and "
                             "the same logits as cnnkit.models.LeNet5 with the same weights")
