"""Per-layer tables and shape tracing: what every module of a network takes, gives, holds, costs.

``trace(model, input_size)`` runs the model once on PyTorch's *meta* device: a meta tensor has a
shape and a dtype but no data, so nothing is computed and no memory is used, yet every layer
checks its input's shape as it would for real. Forward hooks record each module call's input
and output shapes; the rules of ``cnnkit.inspect.rules`` count its parameters, connections and
multiply-accumulates (MACs) and follow the receptive field. The model passed in is left
untouched: the trace runs on a copy whose weights are empty meta tensors (no weight data is
copied), in eval mode, without gradients.

``layer_table(model, input_size)`` is the per-layer table of LeCun et al. (1998): one row per
layer with its output shape, trainable and fixed parameters, connections and MACs.

Counting rules (per input sample: the counts of a trace of N samples are divided by N):

- trainable: parameters with ``requires_grad``; in a row, those of the module at its first
  call; in the totals, every parameter of the model once, the ones the traced forward never
  read (an auxiliary head that runs only in training) included and also reported apart;
- fixed: frozen parameters and persistent floating-point buffers (the RBF prototypes,
  BatchNorm's running statistics: what Keras calls non-trainable parameters);
- connections: every input->output link that carries a weight, plus one link per bias. A
  convolution output unit with fan-in f has f + 1 (padding zeros are not inputs, so border
  units have fewer); a linear unit in + 1; a pooling unit one per window cell inside the
  input; an affine normalisation 2 per element (scale and shift); activations and other
  parameter-free element-wise or reshaping modules 0 (the nonlinearity belongs to the unit
  before it, as in the paper); the course's layers say theirs (``TableConv2d``: its connected
  maps x kh x kw + 1; ``Subsampling``: 2x2 + 1; an RBF unit one per feature);
- MACs: the multiply-accumulates of the weighted sums as a dense implementation does them:
  (C_in / groups) x kh x kw per convolution output (padded zeros included), C_out / groups x
  kh x kw per input unit of a transposed convolution, ``in`` per linear output; 0 for pooling,
  normalisation and activations. For the layers torch's ``FlopCounterMode`` counts
  (convolutions, transposed convolutions, linear layers) this is its count / 2.
- A module with parameters of its own and no rule gets ``None`` (shown as "?"). Other layers
  get rules with ``register_rule`` (see ``cnnkit.inspect.rules``).

Receptive field and jump, per spatial axis (``cnnkit.inspect.fields``): the jump is the
distance in input pixels between neighbouring outputs (the product of the strides so far). A
window (convolution, pooling, ``F.max_pool2d`` called in a forward...) with kernel k, stride s
and dilation d turns (rf, jump) into (rf + d(k-1) jump, jump s); an element-wise combination
or a concatenation of branches takes the union of their fields (the smallest interval holding
every branch's, as autograd finds it); an operation that removes the spatial axes (flatten,
linear on a flattened map) makes each output depend on the whole map, rf + (size-1) jump,
and there is no jump any more ("-"). Anything else that changes the spatial size (a
transposed convolution, an upsampling) gives "?" from there on.
"""

from cnnkit.inspect.parameters import count_parameters
from cnnkit.inspect.rules import LayerRule, Window, register_rule, rule_for, weights_of
from cnnkit.inspect.table import (
    Row,
    Totals,
    Trace,
    format_axes,
    format_count,
    format_jump,
    format_shape,
)
from cnnkit.inspect.tracing import TraceError, layer_table, trace

__all__ = [
    "Row",
    "Totals",
    "Trace",
    "TraceError",
    "trace",
    "layer_table",
    "weights_of",
    "register_rule",
    "rule_for",
    "LayerRule",
    "Window",
    "count_parameters",
    "format_shape",
    "format_count",
    "format_axes",
    "format_jump",
]
