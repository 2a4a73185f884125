"""ipywidgets front ends over the course's functions. No logic of their own: each widget reads
its controls, calls ``cnnkit`` functions (``conv``, ``pool``, ``units``, ``activations``,
``drawing``, ``inspect``, ``train``), and shows what they return.

Every widget can be driven from Python (set a control's ``.value``, call ``select`` /
``select_unit`` / ``draw_strokes``; the views update synchronously), which is how the tests use
them without a browser. Every widget's MIME bundle also carries a static PNG of its current
state (``image/png``), which GitHub, nbviewer and nbconvert show where no kernel runs it.

One module per widget; ``views`` turns arrays into pictures.
"""

from cnnkit.widgets._common import CUSTOM
from cnnkit.widgets.digit_pad import DigitPad
from cnnkit.widgets.kernel_explorer import KernelExplorer
from cnnkit.widgets.layer_inspector import LayerInspector
from cnnkit.widgets.pooling_explorer import POOL_MODES, PoolingExplorer
from cnnkit.widgets.resnet_explorer import ResNetExplorer

__all__ = [
           "CUSTOM",
           "POOL_MODES",
           "DigitPad",
           "KernelExplorer",
           "LayerInspector",
           "PoolingExplorer",
           "ResNetExplorer",
]
