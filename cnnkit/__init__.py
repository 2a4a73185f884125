"""cnnkit: the helper package of an interactive course on convolutional neural networks.

One module per idea; the computational modules (``conv``, ``kernels``, ...) need only numpy
(and torch where a model is involved) and never import ipywidgets or matplotlib, so they work
in scripts and tests as well as in notebooks. ``viz`` and ``widgets`` are the views on top.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "seed_everything"]


def __getattr__(name: str):
    # cnnkit.seed_everything without importing torch at `import cnnkit`
    if name == "seed_everything":
        from cnnkit.seeding import seed_everything

        return seed_everything
    raise AttributeError(f"module 'cnnkit' has no attribute {name!r}")
