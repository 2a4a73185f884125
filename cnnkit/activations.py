"""What a network computes for one input, layer by layer (torch; no ipywidgets, no matplotlib).

- ``activations(model, x)``: every named module's output for one input, as numpy arrays;
- ``receptive_box(rf, jump, in_size, out_size, i, j)``: the input pixels output unit (i, j) of
  a layer can see, from the layer's receptive field and jump (``cnnkit.inspect``'s ``Row.rf``
  and ``Row.jump``);
- ``model_input(image, input_size, mean, std)``: an (H, W) or (C, H, W) image in [0, 1] as the
  model's normalised (1, C, H, W) input (a 28x28 digit centred in a 32x32 field when the model
  takes 32x32, as LeNet-5 of 1998 does).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["activations", "receptive_box", "model_input"]


def model_input(image, input_size, mean=None, std=None) -> torch.Tensor:
    """image (H, W) or (C, H, W), values in [0, 1] → float32 (1, C, H', W') for ``input_size``
    (N, C, H', W'): zero-padded (centred) when smaller, normalised ``(x - mean) / std`` (per
    channel; numbers, sequences or tensors) when given. Raises ValueError when it does not fit.
    """
    x = torch.as_tensor(np.asarray(image, dtype=np.float32))
    if x.dim() == 2:
        x = x[None]
    if x.dim() != 3:
        raise ValueError(f"image must be (H, W) or (C, H, W); got shape {tuple(x.shape)}")
    _, c, h, w = (int(v) for v in input_size)
    dh, dw = h - x.shape[1], w - x.shape[2]
    if dh < 0 or dw < 0 or x.shape[0] != c:
        raise ValueError(f"image of shape {tuple(x.shape)} does not fit the model's input "
                         f"{tuple(input_size)}")
    x = nn.functional.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
    if (mean is None) != (std is None):
        raise ValueError("mean and std: give both or neither")
    if mean is not None:
        m = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        s = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        x = (x - m) / s
    return x[None].contiguous()


def activations(model: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    """{module name: its output for sample 0} for one forward pass of ``x`` (1, C, H, W).

    Every named submodule (leaves and containers; "" is the whole model) that returns a
    tensor; a module called twice keeps its first output. Runs in eval mode without
    gradients; the model's mode is restored.
    """
    outputs: dict[str, np.ndarray] = {}

    def hook(name):
        def record(module, args, out):
            if isinstance(out, torch.Tensor) and name not in outputs:
                outputs[name] = out.detach()[0].cpu().double().numpy()
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return outputs


def receptive_box(rf, jump, in_size, out_size, i: int, j: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right), inclusive and clipped to the input: the input pixels output
    unit (i, j) depends on.

    rf, jump: the layer's receptive field and jump per axis (pairs). in_size, out_size: the
    input's and the layer's (H, W). The windows are taken as placed symmetrically over the
    input (the padding split evenly, leftover cells at the end), which holds for LeNet's and
    ResNet's layers: the first unit's field starts at
    ``floor((in - 1 - (out - 1) * jump - (rf - 1)) / 2)`` (negative: in the padding).
    """
    box = []
    for r, s, n, m, k in zip(rf, jump, in_size, out_size, (i, j), strict=True):
        if not 0 <= k < m:
            raise ValueError(f"unit index {k} is outside the layer's size {m}")
        start = (n - 1 - (m - 1) * s - (r - 1)) // 2 + k * s
        box.append((max(start, 0), min(start + r - 1, n - 1)))
    (top, bottom), (left, right) = box
    return top, left, bottom, right
