"""Self-checks for lesson 3, LeNet-5 anatomy."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnkit.checks._result import (
    CheckResult,
    _as_array,
    _as_floats,
    _call,
    _check_answers,
    _not_attempted,
    compare,
)

__all__ = [
    "LENET_RF_LAYERS",
    "check_lenet_receptive_fields",
    "check_table_conv_counts",
    "C5_LARGER_INPUT",
    "check_c5_larger_input",
    "check_table_conv",
    "check_rbf_penalties",
    "check_rbf_predict",
    "check_modern_lenet5",
]


LENET_RF_LAYERS: dict[str, tuple[int, int]] = {
    "C1": (5, 1), "S2": (2, 2), "C3": (5, 1), "S4": (2, 2), "C5": (5, 1)}
"""(window, stride) of the 1998 LeNet-5's layers up to C5, in order."""


def _receptive_fields() -> dict[str, int]:
    """The side of each layer's receptive field on the 32x32 input: r += (k - 1) * j, j *= s."""
    fields, r, j = {}, 1, 1
    for name, (k, s) in LENET_RF_LAYERS.items():
        r, j = r + (k - 1) * j, j * s
        fields[name] = r
    return fields


def check_lenet_receptive_fields(answers: dict) -> CheckResult:
    """Check ``answers`` = {"C1": int, "S2": ..., "C3": ..., "S4": ..., "C5": ...}: the side (in
    input pixels) of the square patch of the 32x32 input that one unit of each layer of the
    1998 LeNet-5 depends on.
    """
    expected = _receptive_fields()
    failure = _check_answers(answers, expected, what="one receptive-field side per layer",
                             hint="each layer adds (k - 1) times the product of the strides "
                                  "below it")
    if failure is not None:
        return failure
    return CheckResult(True, "all 5 receptive fields are right: "
                       + ", ".join(f"{k} {v}x{v}" for k, v in expected.items()))


def _taps_in_bounds(n: int, k: int, padding: int) -> int:
    """Summed over the output positions along an axis: the kernel taps on a real input cell."""
    n_out = n + 2 * padding - k + 1
    starts = np.arange(n_out)[:, None] - padding + np.arange(k)[None, :]
    return int(((starts >= 0) & (starts < n)).sum())


def _table_conv_counts(table, kernel_size: int, in_size: int, padding: int = 0
                      ) -> tuple[int, int]:
    """(trainable parameters, connections) of a convolution wired by ``table`` (C_in, C_out)
    bool, square kernels, one bias per output map, stride 1, on an in_size x in_size input
    with ``padding`` zeros. A connection links a real input cell (not a padded zero) or the
    bias to a unit, as ``cnnkit.inspect.layer_table`` counts them.
    """
    table = np.asarray(table, dtype=bool)
    fan_in, maps = table.sum(axis=0), table.shape[1]
    n_out = in_size + 2 * padding - kernel_size + 1
    parameters = int(fan_in.sum()) * kernel_size**2 + maps
    taps = _taps_in_bounds(in_size, kernel_size, padding)
    return parameters, int(fan_in.sum()) * taps * taps + maps * n_out * n_out


def _random_tables(rng, n: int) -> list[np.ndarray]:
    tables = []
    while len(tables) < n:
        t = rng.random((int(rng.integers(1, 7)), int(rng.integers(1, 9)))) < 0.5
        if t.any(axis=0).all():  # every output map needs an input
            tables.append(t)
    return tables


def _table_count_hint(table, k, n, p, got, expected) -> str:
    """What a wrong (parameters, connections) pair most likely forgot."""
    params, connections = expected
    n_out = n + 2 * p - k + 1
    if got[0] == params - table.shape[1]:
        return "; one bias per output map is a parameter too"
    if got[0] != params and got[0] == table.size * k * k + table.shape[1]:
        return "; only the links of the table have kernels"
    if got[0] == params and p and got[1] == params * n_out * n_out:
        return "; a padded zero is not an input: it is no connection"
    if got[0] == params and got[1] != connections:
        return "; each unit has its own links: (its links' kernel cells + 1 bias) per unit"
    return ""


def check_table_conv_counts(fn: Callable, seed: int = 0) -> CheckResult:
    """Check ``fn(table, kernel_size, in_size, padding) -> (parameters, connections)``: the
    trainable parameters and connections of a stride-1 convolution whose output map j sees the
    input maps i with ``table[i, j]`` ((C_in, C_out) bool), kernel_size x kernel_size kernels,
    one bias per output map, on an in_size x in_size input padded with ``padding`` zeros. A
    connection links an input cell or the bias to an output unit; a padded zero is no input.
    """
    if fn is None:
        return _not_attempted("write the function")
    from cnnkit.models import C3_TABLE

    rng = np.random.default_rng(seed)
    cases = [(C3_TABLE, 5, 14, 0), (np.ones((1, 6), dtype=bool), 5, 28, 2),
             (np.eye(4, dtype=bool), 3, 8, 1)]
    cases += [(t, int(rng.integers(1, 5)), int(rng.integers(5, 12)), int(rng.integers(0, 3)))
              for t in _random_tables(rng, 4)]
    for table, k, n, p in cases:
        expected = _table_conv_counts(table, k, n, p)
        where = (f"table of shape {table.shape} with {int(table.sum())} links, kernel_size={k}, "
                 f"in_size={n}, padding={p}")
        got, failure = _call(fn, table.copy(), k, n, p, where=where)
        if failure is not None:
            return failure
        pair = _as_floats(got)
        if pair is None or len(pair) != 2:
            return CheckResult(False, f"{where}: return a pair (parameters, connections); got "
                                      f"{got!r}")
        if pair != tuple(float(v) for v in expected):
            hint = _table_count_hint(table, k, n, p, pair, expected)
            return CheckResult(False, f"{where}: got {tuple(int(v) for v in pair)}, expected "
                                      f"{expected}{hint}")
    return CheckResult(True, f"right on {len(cases)} tables, C3's (1,516 / 151,600) and a "
                             "padded one included")


C5_LARGER_INPUT = 36
"""The input side of lesson 3's exercise on C5 sliding over a larger image."""


def _c5_on_larger_input(side: int = C5_LARGER_INPUT) -> dict[str, object]:
    """C5's output shape (C, H, W), trainable parameters and connections on a side x side input."""
    n = side
    for k, s in LENET_RF_LAYERS.values():
        n = (n - k) // s + 1  # no padding in the 1998 network
    c5 = 120
    return {"output": (c5, n, n), "parameters": c5 * (16 * 25 + 1),
            "connections": c5 * n * n * (16 * 25 + 1)}


def check_c5_larger_input(answers: dict) -> CheckResult:
    """Check ``answers`` = {"output": (C, H, W), "parameters": int, "connections": int}: C5 of
    the 1998 LeNet-5 (120 maps, 5x5 kernels over all 16 S4 maps) when the network reads a
    ``C5_LARGER_INPUT`` x ``C5_LARGER_INPUT`` image instead of 32x32."""
    expected = _c5_on_larger_input()
    if isinstance(answers, dict) and isinstance(answers.get("output"), list):
        answers = dict(answers, output=tuple(answers["output"]))
    hints = []
    if isinstance(answers, dict):
        if answers.get("parameters") not in (None, expected["parameters"]):
            hints.append("the same kernels slide over the larger map: weight sharing")
        if answers.get("connections") == expected["parameters"]:
            hints.append("every unit of the larger output has its own 401 connections")
    failure = _check_answers(answers, expected, what="C5's output, parameters and connections",
                             hint="; ".join(hints))
    if failure is not None:
        return failure
    c, h, w = expected["output"]
    return CheckResult(True, f"right: C5 gives {c}@{h}x{w}, one 120-vector per position, with "
                             "the same weights")


# --- graded exercises ---------------------------------------------------------------------------

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


def _table_conv_mistakes(x, weight, bias, table):
    """(output, hint) of the table convolution's usual mistakes, computed when asked for."""
    yield (_table_conv_reference(x, weight, 0 * bias, table),
           "add bias[j] to every unit of output map j")
    yield (_table_conv_reference(x, weight[:, ::-1, ::-1].copy(), bias, table),
           "no kernel flip: CNN layers cross-correlate")
    yield (_table_conv_reference(x, _input_major(weight, table), bias, table),
           "the links are numbered by output map first (column by column of the table), then "
           "input map")


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
        failure = compare(got, expected, atol=1e-8, where=where,
                          shape_hint=" (N, C_out, H - kh + 1, W - kw + 1)",
                          variants=_table_conv_mistakes(x, weight, bias, table))
        if failure is not None:
            return failure
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
        failure = compare(got, expected, atol=1e-9, what="penalties", where=where,
                          shape_hint=(" (one row per input, one column per prototype)"
                                      if got.shape == expected.T.shape else " (N, K)"),
                          variants=[(-expected, "a penalty is the squared distance itself, >= 0 "
                                                "(EuclideanRBF returns minus it as a score)"),
                                    (np.sqrt(expected), "the squared distance: no square root"),
                                    (expected / f6.shape[1], "sum over the features, not the "
                                                             "mean")])
        if failure is not None:
            return failure
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


def _modern_output(model, x) -> CheckResult | None:
    """None if ``model(x)`` gives (3, 10) logits, else the failure."""
    import torch

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
    return None


def _modern_parameters(params, reference) -> CheckResult | None:
    """None if the trainable tensors match the reference's in count and shapes, else why not."""
    from cnnkit.inspect.parameters import count_parameters
    from cnnkit.models import LeNet5

    ref_params = list(reference.parameters())
    count = sum(p.numel() for p in params)  # (params: a list of tensors, not a module)
    if count != count_parameters(reference):
        hint = ""
        if count == count_parameters(LeNet5(padding=0)):
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
    return None


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

    from cnnkit.inspect.parameters import count_parameters
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
    reference, variants = _modern_variants(seed)
    params = [p for p in model.parameters() if p.requires_grad]
    for failure in (_modern_output(model, x), _modern_parameters(params, reference)):
        if failure is not None:  # (a failed CheckResult is falsy: test for None)
            return failure
    model.eval()  # the reference has no dropout: compare deterministic outputs
    with torch.no_grad():
        for p, q in zip(params, reference.parameters(), strict=True):
            p.copy_(q)
        failure = compare(model(x), reference(x), atol=1e-5, what="logits",
                          where="with the reference's weights copied in, the logits differ",
                          variants=((v(x), text) for v, text in variants),
                          otherwise="check the order of the layers: conv, ReLU, pool twice, "
                                    "then flatten and the three linear layers")
    if failure is not None:
        return failure
    count = count_parameters(model, trainable=True)
    return CheckResult(True, f"(N, 1, 28, 28) -> (N, 10), {count:,} trainable parameters, and "
                             "the same logits as cnnkit.models.LeNet5 with the same weights")
