"""The course's networks, one module per family; everything public is re-exported here.

- ``lenet``: LeNet-5 (the 1998 original with its C3 table and RBF output, the modern version,
  the CIFAR-10 LeNet variant of the CIFAR-10 tutorial the course corrects).
- ``resnet_imagenet``: ResNet-18/34/50/101/152 (``resnet(depth)``), written for reading,
  ``state_dict``-compatible with torchvision.
- ``resnet_cifar``: He et al.'s CIFAR ResNets (depth 6n + 2).
- ``_rules``: the course layers' rules for ``cnnkit.inspect`` (registered on import).
"""

from cnnkit.models import _rules  # noqa: F401  (registers the course layers with cnnkit.inspect)
from cnnkit.models.lenet import (
    C3_TABLE,
    DIGIT_BITMAPS,
    PROTOTYPES,
    EuclideanRBF,
    LeNet5,
    LeNet5Classic,
    LeNetCIFAR,
    Subsampling,
    TableConv2d,
    paper_input,
    scaled_tanh,
)
from cnnkit.models.resnet_cifar import CifarResNet, resnet_cifar
from cnnkit.models.resnet_imagenet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    ZeroPadShortcut,
    resnet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from cnnkit.models.small_nets import AllConvNet, LeNetCIFARBN, SmallVGG

__all__ = [
    "C3_TABLE",
    "DIGIT_BITMAPS",
    "PROTOTYPES",
    "EuclideanRBF",
    "LeNet5",
    "LeNet5Classic",
    "LeNetCIFAR",
    "Subsampling",
    "TableConv2d",
    "paper_input",
    "scaled_tanh",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "ZeroPadShortcut",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "CifarResNet",
    "resnet_cifar",
    "AllConvNet",
    "SmallVGG",
    "LeNetCIFARBN",
]
