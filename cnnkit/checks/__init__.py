"""Self-checks for the exercises: immediate, specific feedback for a student's answer.

Each ``check_*`` function tests an answer against the course's reference implementation on
fixed and random cases and returns a ``CheckResult``: truthy when right, and displayed in a
notebook as one line saying what is right or, for a wrong answer, the first case that fails,
what was expected and what came back. An unattempted exercise (``None`` or a function that
raises ``NotImplementedError``) is reported as such, not as an error, so a notebook always runs
top to bottom.

One module per lesson (``convolution``, ``pooling``, ``lenet``, ``training``, ``cifar``,
``resnet``) and ``parameters`` (``check_param_count``, for any layer); everything is
importable from ``cnnkit.checks``.
"""

from cnnkit.checks import cifar, convolution, lenet, parameters, pooling, resnet, training
from cnnkit.checks._result import CheckResult
from cnnkit.checks.cifar import *  # noqa: F403 (each module's __all__)
from cnnkit.checks.convolution import *  # noqa: F403 (each module's __all__)
from cnnkit.checks.lenet import *  # noqa: F403 (each module's __all__)
from cnnkit.checks.parameters import *  # noqa: F403 (each module's __all__)
from cnnkit.checks.pooling import *  # noqa: F403 (each module's __all__)
from cnnkit.checks.resnet import *  # noqa: F403 (each module's __all__)
from cnnkit.checks.training import *  # noqa: F403 (each module's __all__)

__all__ = ["CheckResult"]
for _module in (parameters, convolution, pooling, lenet, training, cifar, resnet):
    __all__ += _module.__all__
del _module
