"""One call to make a run reproducible: ``seed_everything(seed)``.

It seeds every random number generator a course notebook uses (Python's ``random``, numpy's
global generator, torch on the CPU and on every GPU) and asks PyTorch for deterministic
algorithms where that is cheap. Two runs of the same code with the same seed, on the same
machine and software, then give the same numbers.

Limits (what a seed cannot fix):

- Same machine, same software: results differ across CPU types, GPU models, and versions of
  PyTorch, MKL/oneDNN, CUDA or cuDNN (different kernels sum in different orders).
- Same thread count: on the CPU, a reduction split over a different number of threads rounds
  differently; keep ``torch.set_num_threads`` the same between runs you compare.
- On a GPU, ``torch.use_deterministic_algorithms(True, warn_only=True)`` makes PyTorch use
  deterministic kernels where they exist and *warn* where none exists (e.g. some scatter/index
  additions): such operations may still differ run to run. cuBLAS needs the environment
  variable ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` before CUDA starts: it is set here only if CUDA
  has not been initialised yet.
- ``PYTHONHASHSEED`` (the order of sets of strings) only applies to processes started
  afterwards; it is set for child processes, not for this one.
- Other generators are not covered: a ``torch.Generator`` you create yourself (seed it; the
  :class:`cnnkit.data.TensorLoader` has its own, seeded by its ``seed`` argument),
  ``DataLoader`` worker processes (use ``worker_init_fn``/``generator``), and libraries with
  their own RNGs.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from cnnkit._validate import check_int

__all__ = ["seed_everything"]


def seed_everything(seed: int, deterministic: bool = True) -> int:
    """Seed Python, numpy and torch (CPU and all GPUs) with ``seed``; return the seed.

    seed: an int in 0 .. 2**32 - 1 (numpy's global generator accepts no more).
    deterministic: also ask PyTorch for deterministic algorithms
    (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN deterministic and
    not benchmarking). On the CPU this costs nothing measurable; on a GPU a few operations
    become slower. ``False`` restores PyTorch's defaults.

    See the module docstring for what a seed cannot make reproducible.
    """
    seed = check_int(seed, "seed")
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in 0 .. 2**32 - 1; got {seed}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- the legacy global generator is what we must seed
    torch.manual_seed(seed)  # seeds the CPU generator and every CUDA device's
    os.environ["PYTHONHASHSEED"] = str(seed)  # for child processes only
    if deterministic and not torch.cuda.is_initialized():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = False
    return seed
