"""The course's own layers, registered with ``cnnkit.inspect``'s rule registry: how
``trace``/``layer_table`` count their connections and MACs, follow their receptive field and
draw their weights. Imported by ``cnnkit.models``, so the rules hold wherever the layers are used.
"""

from __future__ import annotations

import math

import torch

from cnnkit.inspect.rules import Window, register_rule
from cnnkit.models.lenet import EuclideanRBF, Subsampling, TableConv2d


def _table_conv_counts(m: TableConv2d, x_shape, y_shape):
    """A unit of output map j sums (f_j maps) x kh x kw inputs, + 1 link for its bias."""
    per_map = math.prod(y_shape[2:])
    macs = len(m.source) * math.prod(m.kernel_size) * per_map
    return macs + m.out_channels * per_map, macs


def _table_conv_window(m: TableConv2d, sp_in, sp_out) -> Window:
    return Window(tuple(m.kernel_size), (1, 1), (0, 0), (1, 1))


def _table_conv_weights(m: TableConv2d):
    """The (F, C, kh, kw) kernels, NaN where the table has no link (gaps in a figure)."""
    return "kernels", m.dense_weight(fill=float("nan")).double().cpu().numpy()


def _subsampling_counts(m: Subsampling, x_shape, y_shape):
    """Each output sums a 2x2 window, scaled by one weight: 4 + 1 links, 4 MACs."""
    units = math.prod(y_shape[1:])
    return 5 * units, 4 * units


def _subsampling_window(m: Subsampling, sp_in, sp_out) -> Window:
    return Window((2, 2), (2, 2), (0, 0), (1, 1))


def _subsampling_weights(m: Subsampling):
    """Row 0: every map's weight, row 1: its bias, (2, C)."""
    return "per-map", torch.stack([m.weight.detach(), m.bias.detach()]).double().cpu().numpy()


def _rbf_counts(m: EuclideanRBF, x_shape, y_shape):
    """Each class unit reads every feature once (one squared difference each)."""
    return m.classes * m.features, m.classes * m.features


def _rbf_weights(m: EuclideanRBF):
    """The fixed prototypes as (classes, rows, columns) bitmaps, if they have an image shape."""
    if m.image_shape is None:
        return None
    return "prototypes", m.prototype_images().double().cpu().numpy()


register_rule(TableConv2d, counts=_table_conv_counts, window=_table_conv_window,
              weights=_table_conv_weights, dims=2)
register_rule(Subsampling, counts=_subsampling_counts, window=_subsampling_window,
              weights=_subsampling_weights, dims=2)
register_rule(EuclideanRBF, counts=_rbf_counts, weights=_rbf_weights)
