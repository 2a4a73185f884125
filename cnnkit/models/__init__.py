"""The course's networks, one module per family; everything public is re-exported here.

- ``lenet``: LeNet-5 (the 1998 original with its C3 table and RBF output, the modern version,
  the CIFAR-10 LeNet variant of the CIFAR-10 tutorial the course corrects).
- ``resnet_imagenet``: ResNet-18/34/50/101/152 (``resnet(depth)``), written for reading,
  ``state_dict``-compatible with torchvision.
- ``resnet_cifar``: He et al.'s CIFAR ResNets (depth 6n + 2).
- ``_rules``: the course layers' rules for ``cnnkit.inspect`` (registered on import).
"""

from cnnkit.models import _rules  # noqa: F401  (registers the course layers with cnnkit.inspect)
from cnnkit.models.lenet import *  # noqa: F403  (each module's __all__ is its public surface)
from cnnkit.models.lenet import __all__ as _lenet
from cnnkit.models.resnet_cifar import *  # noqa: F403
from cnnkit.models.resnet_cifar import __all__ as _resnet_cifar
from cnnkit.models.resnet_imagenet import *  # noqa: F403
from cnnkit.models.resnet_imagenet import __all__ as _resnet_imagenet
from cnnkit.models.small_nets import *  # noqa: F403
from cnnkit.models.small_nets import __all__ as _small_nets

__all__ = [*_lenet, *_resnet_imagenet, *_resnet_cifar, *_small_nets]
