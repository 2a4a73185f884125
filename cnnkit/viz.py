"""Matplotlib figures for the lessons: images, kernels, small annotated matrices.

Every function returns the ``Figure`` (titled, axes labelled) so a notebook can show or save it.
Figures are kept small (``use_course_style``) so the committed notebooks stay light.
"""

from __future__ import annotations

import io

import matplotlib
import matplotlib.figure
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

__all__ = [
    "use_course_style",
    "show_images",
    "show_matrix",
    "show_kernels",
    "show_channels_and_filters",
    "show_kernel_learning",
    "array_to_png",
    "highlight_pixels",
    "rgb_to_png",
    "show_selected_pixels",
    "figure_to_png",
    "show_connection_table",
    "show_prototypes",
    "show_where_costs_live",
    "show_weights",
    "show_feature_maps",
    "show_rbf_decision",
]


def _palette_png(fig) -> bytes:
    """The figure as a PNG of at most 256 colours (cropped to its content, as Jupyter does).

    A 256-colour palette is exact for grey images and invisible on colormaps, and makes the
    PNG about 2.5 times smaller than a true-colour one: the committed notebooks stay light.
    """
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    rgb = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    out = io.BytesIO()
    rgb.quantize(256).save(out, format="png", optimize=True)
    return out.getvalue()


def _use_palette_png_in_notebooks() -> None:
    """Make Jupyter show figures as palette PNGs (``_palette_png``); no-op outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    try:  # the inline backend sets its own PNG formatter once, when first imported: first
        import matplotlib_inline.backend_inline  # noqa: F401
    except ImportError:
        pass
    formatter = shell.display_formatter.formatters["image/png"]
    formatter.for_type(matplotlib.figure.Figure, _palette_png)


def use_course_style() -> None:
    """Small, readable figures: 100 dpi PNG (256 colours in a notebook), 9 pt text, grey
    images, no interpolation blur."""
    matplotlib.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "font.size": 9,
        "axes.titlesize": 10,
        "figure.titlesize": 11,
        "image.cmap": "gray",
        "image.interpolation": "nearest",
    })
    _use_palette_png_in_notebooks()


def _pixel_axes(ax, shape, labels: bool = True) -> None:
    """Integer ticks (pixel indices) on an image's axes, labelled with the image's size."""
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=4))
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=4))
    if labels:
        ax.set_xlabel(f"column (W={shape[1]})")
        ax.set_ylabel(f"row (H={shape[0]})")


def show_images(images, titles=None, suptitle=None, ncols=None, size=2.2, cmap="gray",
                shared_scale=False, limits=None):
    """Show 2-D arrays side by side, each with its own title and pixel axes (integer ticks).

    images: sequence of (H, W) arrays. titles: one per image.
    cmap: one colormap name, or one per image; a diverging map ("RdBu_r") is centred on 0 so that
    white means zero, red positive, blue negative, and gets a colorbar.
    shared_scale: one scale for all (compare brightness) instead of each image stretched to its
    own min..max (see shapes).
    limits: None, or one (vmin, vmax) or None per image: values outside are clipped (show an
    image-valued result in its input's range).
    """
    images = [np.asarray(im) for im in images]
    n = len(images)
    ncols = ncols or n
    nrows = -(-n // ncols)
    cmaps = [cmap] * n if isinstance(cmap, str) else list(cmap)
    bar = 0.5 if any(cm in DIVERGING for cm in cmaps) else 0.0  # room for colorbars
    fig, axes = plt.subplots(nrows, ncols, figsize=((size + bar) * ncols, size * nrows + 0.4),
                             squeeze=False, layout="constrained")
    vmin = min(float(im.min()) for im in images) if shared_scale else None
    vmax = max(float(im.max()) for im in images) if shared_scale else None
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        im, cm = images[i], cmaps[i]
        lo, hi = limits[i] if limits is not None and limits[i] is not None else (vmin, vmax)
        lo, hi = _limits(im, cm, lo, hi)
        shown = ax.imshow(im, cmap=cm, vmin=lo, vmax=hi)
        if cm in DIVERGING:
            fig.colorbar(shown, ax=ax, shrink=0.8)
        ax.set_title(titles[i] if titles else f"{im.shape[0]}x{im.shape[1]}")
        _pixel_axes(ax, im.shape)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def _annotate(ax, image, values, fmt="{:g}"):
    """Write each value in its cell, black or white by the cell's colour (luminance)."""
    for (i, j), v in np.ndenumerate(np.asarray(values)):
        r, g, b, _ = image.cmap(image.norm(v))
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
        ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8,
                color="white" if dark else "black")


DIVERGING = ("RdBu_r", "RdBu", "coolwarm", "bwr", "seismic", "PiYG", "PRGn")


def _limits(values, cmap, vmin=None, vmax=None):
    """Colour limits: a diverging map is centred on 0 so that white means zero."""
    if cmap in DIVERGING and vmin is None and vmax is None:
        m = float(np.abs(values).max()) or 1.0
        return -m, m
    return vmin, vmax


def show_matrix(values, title, ax=None, fmt="{:g}", cmap="viridis", highlight=None):
    """A small matrix as a heat map with its numbers written in the cells (a diverging
    ``cmap`` is centred at 0 and gets a colorbar).

    values: (H, W). highlight: optional (top, left, height, width) rectangle to outline, e.g. the
    window under the kernel.
    """
    values = np.asarray(values)
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(0.45 * values.shape[1] + 1, 0.45 * values.shape[0] + 0.8),
                               layout="constrained")
    lo, hi = _limits(values, cmap)
    image = ax.imshow(values, cmap=cmap, vmin=lo, vmax=hi)
    _annotate(ax, image, values, fmt)
    if cmap in DIVERGING:
        ax.figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set_title(title)
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    if highlight is not None:
        top, left, h, w = highlight
        ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), w, h, fill=False, lw=2.5,
                                   edgecolor="red"))
    return ax.figure


def _kernel_row(ax, k, name) -> None:
    """A kernel's weights as a diverging heat map with the numbers in the cells."""
    lo, hi = _limits(k, "RdBu_r")
    image = ax.imshow(k, cmap="RdBu_r", vmin=lo, vmax=hi)
    if k.shape[0] <= 3:
        _annotate(ax, image, k, "{:.2g}")
    ax.set_title(name)
    ax.set_xticks([])
    ax.set_yticks([])


def show_kernels(kernels: dict, results: dict | None = None, image=None, size=2.0):
    """Kernels (top row, numbers in the cells) and, if given, what each does to an image.

    kernels: {name: (kh, kw) array}. results: {name: 2-D output}. image: the input, shown first.
    An output is shown truthfully by what its kernel is: weights summing to 1 (identity,
    blur, sharpen) give an image, shown in grey in the input's own range (values beyond it
    clipped); weights summing to 0 (edge, gradient detectors) give signed values, shown in a
    diverging map centred at 0 with a colorbar whose limits are the 99th percentile of |output|
    (the arrows say that the top 1% is clipped).
    """
    names = list(kernels)
    ncols = len(names) + (image is not None)
    nrows = 1 + (results is not None)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.5),
                             squeeze=False, layout="constrained")
    offset = 0
    grey = None
    if image is not None:
        image = np.asarray(image)
        grey = (float(image.min()), float(image.max()))
        axes[0, 0].axis("off")
        axes[0, 0].text(0.5, 0.5, "kernel\n(weights)", ha="center", va="center",
                        transform=axes[0, 0].transAxes)
        if results is not None:
            axes[1, 0].imshow(image, cmap="gray", vmin=grey[0], vmax=grey[1])
            axes[1, 0].set_title(f"input {image.shape[0]}x{image.shape[1]}")
            _pixel_axes(axes[1, 0], image.shape)
        offset = 1
    for j, name in enumerate(names):
        k = np.asarray(kernels[name])
        _kernel_row(axes[0, j + offset], k, name)
        if results is None:
            continue
        ax, out = axes[1, j + offset], np.asarray(results[name])
        if abs(float(k.sum())) < 1e-9:
            # the 99th percentile of |out|, so that thin edges are not all near white;
            # the colorbar's arrows say that larger values are clipped
            m = float(np.percentile(np.abs(out), 99)) or float(np.abs(out).max()) or 1.0
            shown = ax.imshow(out, cmap="RdBu_r", vmin=-m, vmax=m)
            fig.colorbar(shown, ax=ax, shrink=0.7, extend="both")
            ax.set_title("signed")
        else:
            lo, hi = grey if grey is not None else (float(out.min()), float(out.max()))
            ax.imshow(out, cmap="gray", vmin=lo, vmax=hi)
            ax.set_title("image (clipped)")
        _pixel_axes(ax, out.shape, labels=False)
    fig.suptitle("Kernels (red weights positive, blue negative). Outputs: images in the "
                 "input's grey range, clipped; signed ones red/blue around 0, 1% clipped")
    return fig


def show_channels_and_filters(x, w, size=1.35):
    """What each filter of a multi-channel layer computes: one row per filter.

    x: (C, H, W) one image.  w: (F, C, kh, kw) the filters.
    Row f shows, for every channel c, the 2-D correlation of x[c] with w[f, c] (signed, one
    colour scale per row), then their sum: output map f (no bias). The first row is the input.
    """
    from cnnkit.conv import correlate2d

    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    F, C = w.shape[:2]
    fig, axes = plt.subplots(F + 1, C + 1, figsize=(size * (C + 1) + 0.6, size * (F + 1) + 0.5),
                             squeeze=False, layout="constrained")
    for c in range(C):
        axes[0, c].imshow(x[c], cmap="gray")
        axes[0, c].set_title(f"input channel {c}")
        _pixel_axes(axes[0, c], x[c].shape, labels=False)
    axes[0, C].axis("off")
    for f in range(F):
        parts = [correlate2d(x[c], w[f, c]) for c in range(C)]
        total = np.sum(parts, axis=0)
        m = max(float(np.abs(np.asarray([*parts, total])).max()), 1e-12)
        for c, part in enumerate([*parts, total]):
            ax = axes[f + 1, c]
            shown = ax.imshow(part, cmap="RdBu_r", vmin=-m, vmax=m)
            ax.set_title(f"filter {f}: sum = map {f}" if c == C else f"x[{c}] * w[{f},{c}]")
            _pixel_axes(ax, part.shape, labels=False)
        fig.colorbar(shown, ax=axes[f + 1, C], shrink=0.8)
    fig.suptitle(f"{C} channels in, {F} filters: each filter correlates every channel with its "
                 "own slice and adds them")
    return fig


def show_kernel_learning(losses, learnt, true, title="Learning a kernel by gradient descent"):
    """The loss per step (log scale) and the learnt kernel beside the true one.

    losses: one value per step.  learnt, true: (kh, kw) kernels (same colour scale, numbers
    in the cells).
    """
    learnt, true = np.asarray(learnt, dtype=np.float64), np.asarray(true, dtype=np.float64)
    fig, axes = plt.subplots(1, 3, figsize=(7.6, 2.4), layout="constrained",
                             gridspec_kw={"width_ratios": [1.6, 1, 1]})
    axes[0].semilogy(np.arange(1, len(losses) + 1), losses)
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("mean squared error")
    axes[0].set_title("loss")
    m = max(float(np.abs(true).max()), float(np.abs(learnt).max()), 1e-12)
    for ax, k, name in ((axes[1], learnt, "learnt"), (axes[2], true, "true")):
        shown = ax.imshow(k, cmap="RdBu_r", vmin=-m, vmax=m)
        _annotate(ax, shown, k, "{:.2f}")
        ax.set_title(f"{name} kernel")
        ax.set_xticks(range(k.shape[1]))
        ax.set_yticks(range(k.shape[0]))
    fig.colorbar(shown, ax=axes[2], shrink=0.8)
    fig.suptitle(title)
    return fig


def array_to_png(values, cmap: str = "gray", min_size: int = 240) -> bytes:
    """Encode a 2-D array as PNG bytes (for ``ipywidgets.Image``), scaled to its own range.

    Small arrays are enlarged by whole-pixel repetition to at least ``min_size`` pixels on the
    longer side, so a 28x28 digit stays sharp instead of being blurred by the browser.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (H, W); got shape {values.shape}")
    factor = max(1, int(np.ceil(min_size / max(values.shape))))
    big = np.repeat(np.repeat(values, factor, axis=0), factor, axis=1)
    lo, hi = float(big.min()), float(big.max())
    buf = io.BytesIO()
    plt.imsave(buf, big, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, format="png")
    return buf.getvalue()


SELECTED_COLOR = (0.9, 0.1, 0.1)  # red: the input pixels that max pooling keeps


def highlight_pixels(image, indices, color=SELECTED_COLOR) -> np.ndarray:
    """The image as RGB with some pixels painted: where max pooling took its maxima from.

    image: (H, W), shown in grey scaled to its own range.
    indices: int array of any shape, flat positions ``row * W + column`` in the (H, W) image,
    e.g. ``max_pool2d(x, ..., return_indices=True)[1][0, 0]``; repeated positions are fine
    (a pixel that wins several overlapping windows is painted once).
    Returns rgb: (H, W, 3) float64 in [0, 1].
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D (H, W); got shape {image.shape}")
    lo, hi = float(image.min()), float(image.max())
    grey = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    flat = np.asarray(indices, dtype=np.int64).ravel()
    if flat.size and (flat.min() < 0 or flat.max() >= image.size):
        raise ValueError(f"indices must lie in 0 .. {image.size - 1} for an image of shape "
                         f"{image.shape}; got {flat.min()} .. {flat.max()}")
    rgb.reshape(-1, 3)[flat] = color
    return rgb


def rgb_to_png(rgb, min_size: int = 240) -> bytes:
    """Encode an (H, W, 3) RGB array with values in [0, 1] as PNG bytes (for ``ipywidgets``).

    Enlarged by whole-pixel repetition to at least ``min_size`` pixels on the longer side, as
    ``array_to_png`` does, so single highlighted pixels stay sharp squares.
    """
    rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3); got shape {rgb.shape}")
    factor = max(1, int(np.ceil(min_size / max(rgb.shape[:2]))))
    big = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
    buf = io.BytesIO()
    plt.imsave(buf, big, format="png")
    return buf.getvalue()


def show_selected_pixels(image, indices: dict, suptitle=None, size=2.2):
    """The input once per pooling setting, with the pixels max pooling keeps in red.

    image: (H, W). indices: {title: flat argmax positions of that setting (any shape)}.
    """
    n = len(indices)
    fig, axes = plt.subplots(1, n, figsize=(size * n, size + 0.5), squeeze=False,
                             layout="constrained")
    for ax, (title, idx) in zip(axes[0], indices.items(), strict=True):
        ax.imshow(highlight_pixels(image, idx))
        ax.set_title(title)
        ax.set_xlabel("column")
        ax.set_ylabel("row")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


# --- lesson 3: LeNet-5 -------------------------------------------------------------------------


def figure_to_png(fig) -> bytes:
    """Encode a Figure as PNG bytes (for ``ipywidgets.Image``) and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def show_connection_table(table, title="Table I: which S2 maps each C3 map sees",
                          groups=(6, 12, 15)):
    """A connection table as a grid: row i, column j filled when output map j sees input map i.

    table: (in_maps, out_maps) bool, e.g. ``cnnkit.models.C3_TABLE``. groups: column indices
    where a new group starts (vertical lines); the fan-in of every column is written on top.
    """
    t = np.asarray(table, dtype=bool)
    fig, ax = plt.subplots(figsize=(0.34 * t.shape[1] + 1.4, 0.34 * t.shape[0] + 1.3),
                           layout="constrained")
    ax.imshow(t, cmap="Greys", vmin=0, vmax=1.6)
    for i, j in zip(*np.nonzero(t), strict=True):
        ax.text(j, i, "X", ha="center", va="center", fontsize=8, color="white")
    for g in groups:
        ax.axvline(g - 0.5, color="tab:red", lw=1.5)
    ax.set_xticks(range(t.shape[1]))
    ax.set_yticks(range(t.shape[0]))
    ax.set_xticks(np.arange(-0.5, t.shape[1]), minor=True)
    ax.set_yticks(np.arange(-0.5, t.shape[0]), minor=True)
    ax.grid(which="minor", color="0.8", lw=0.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("output map (C3)")
    top = ax.secondary_xaxis("top")
    top.set_xticks(range(t.shape[1]), [str(v) for v in t.sum(axis=0)])
    top.tick_params(length=0)
    top.set_xlabel("input maps seen (fan-in)")
    ax.set_ylabel("input map (S2)")
    ax.set_title(title)
    return fig


def show_prototypes(images, title="The output layer's fixed prototypes (+1 black, -1 white)",
                    labels=None, size=0.75):
    """Bitmaps side by side, +1 black on -1 white: the RBF output layer's 7x12 prototypes.

    images: (K, rows, columns), e.g. ``model.output.prototype_images()``. labels: one per image
    (default 0..K-1).
    """
    images = np.asarray(images, dtype=np.float64)
    k = images.shape[0]
    labels = labels if labels is not None else [str(i) for i in range(k)]
    aspect = images.shape[1] / images.shape[2]
    fig, axes = plt.subplots(1, k, figsize=(size * k + 0.3, size * aspect + 0.7),
                             layout="constrained", squeeze=False)
    for ax, im, label in zip(axes[0], images, labels, strict=True):
        ax.imshow(im, cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title)
    return fig


def show_where_costs_live(names, parameters, compute, title="Where LeNet-5's parameters and "
                          "compute live", compute_label="connections"):
    """Two bar charts side by side: each layer's share of the parameters and of the compute.

    names: layer names; parameters, compute: one count per layer (e.g. the ``trainable`` and
    ``connections`` columns of ``cnnkit.inspect.layer_table``).
    """
    names = list(names)
    shares = [100 * np.asarray(v, dtype=np.float64) / max(float(np.sum(v)), 1.0)
              for v in (parameters, compute)]
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 0.28 * len(names) + 1.1), sharey=True,
                             layout="constrained")
    for ax, share, label, color in zip(axes, shares, ("trainable parameters", compute_label),
                                       ("tab:blue", "tab:orange"), strict=True):
        ax.barh(range(len(names)), share, color=color)
        for i, v in enumerate(share):
            ax.text(v + 1, i, f"{v:.1f}%", va="center", fontsize=8)
        ax.set_xlim(0, 118)
        ax.set_xlabel(f"% of the {label}")
        ax.set_title(label)
    axes[0].set_yticks(range(len(names)), names)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("layer")
    fig.suptitle(title)
    return fig


def _mosaic(kernels: np.ndarray) -> np.ndarray:
    """(rows, cols, kh, kw) -> one image with a NaN line between the kernels."""
    r, c, kh, kw = kernels.shape
    out = np.full((r * (kh + 1) - 1, c * (kw + 1) - 1), np.nan)
    for i in range(r):
        for j in range(c):
            out[i * (kh + 1):i * (kh + 1) + kh, j * (kw + 1):j * (kw + 1) + kw] = kernels[i, j]
    return out


def show_weights(kind: str, values, title: str, max_filters: int = 16, max_channels: int = 8):
    """A layer's weights, drawn according to ``kind`` (see ``cnnkit.inspect.weights_of``).

    - "kernels" (F, C, kh, kw): one column per filter, one row per input channel (at most
      ``max_filters`` x ``max_channels``); red positive, blue negative, grey: no connection;
    - "matrix" (out, in): the weight matrix, one row per output unit;
    - "per-map" (2, C): weight and bias of each map, written in the cells;
    - "prototypes" (K, rows, columns): ``show_prototypes``.
    """
    values = np.asarray(values, dtype=np.float64)
    if kind == "prototypes":
        return show_prototypes(values, title=title)
    if kind == "per-map":
        fig, ax = plt.subplots(figsize=(0.5 * values.shape[1] + 1.6, 1.8), layout="constrained")
        show_matrix(values, title, ax=ax, fmt="{:.2f}", cmap="RdBu_r")
        ax.set_yticks([0, 1], ["weight", "bias"])
        ax.set_xlabel("map")
        ax.set_ylabel("")
        return fig
    if kind == "matrix":
        out_n, in_n = values.shape
        fig, ax = plt.subplots(figsize=(min(7.0, 0.05 * in_n + 2), min(4.0, 0.05 * out_n + 1.4)),
                               layout="constrained")
        lo, hi = _limits(values, "RdBu_r")
        im = ax.imshow(values, cmap="RdBu_r", vmin=lo, vmax=hi, aspect="auto")
        fig.colorbar(im, ax=ax, shrink=0.8)
        ax.set_xlabel(f"input unit ({in_n})")
        ax.set_ylabel(f"output unit ({out_n})")
        ax.set_title(title)
        return fig
    if kind != "kernels" or values.ndim != 4:
        raise ValueError(f"kind must be 'kernels' (F, C, kh, kw), 'matrix', 'per-map' or "
                         f"'prototypes'; got {kind!r} with shape {values.shape}")
    f, c = min(values.shape[0], max_filters), min(values.shape[1], max_channels)
    shown = values[:f, :c].transpose(1, 0, 2, 3)  # rows: input channels, columns: filters
    mosaic = _mosaic(shown)
    lo, hi = _limits(np.nan_to_num(values), "RdBu_r")
    cmap = plt.get_cmap("RdBu_r").with_extremes(bad="0.85")
    kh, kw = values.shape[2:]
    fig, ax = plt.subplots(figsize=(0.5 * f + 1.4, 0.5 * c + 1.3), layout="constrained")
    ax.imshow(mosaic, cmap=cmap, vmin=lo, vmax=hi)
    ax.set_xticks([j * (kw + 1) + (kw - 1) / 2 for j in range(f)], range(f))
    ax.set_yticks([i * (kh + 1) + (kh - 1) / 2 for i in range(c)], range(c))
    ax.set_xlabel("filter (output map)" + (f", first {f} of {values.shape[0]}"
                                          if f < values.shape[0] else ""))
    ax.set_ylabel("input channel" + (f" (first {c} of {values.shape[1]})"
                                     if c < values.shape[1] else ""))
    ax.set_title(title)
    return fig


# --- lesson 6: ResNet shapes ---------------------------------------------------------------------

__all__ += ["show_spatial_sizes", "show_gradient_extent", "show_layer_gradients"]


def show_spatial_sizes(names, sizes, channels, highlight=None,
                       title="Spatial size after each stage"):
    """A bar per stage: the side of its output map, with its channels; "/2" where it halves
    ("global" where a global pool makes it 1).

    names: stage names (e.g. "input", "conv1", "maxpool", "layer1", ...); sizes: (H, W) of each
    stage's output; channels: C of each. highlight: the name of a bar to draw in orange.
    Bars show H (the height of the map); a non-square map is labelled HxW.
    """
    names, sizes, channels = list(names), [tuple(s) for s in sizes], list(channels)
    heights = [s[0] for s in sizes]
    fig, ax = plt.subplots(figsize=(0.78 * len(names) + 1.2, 2.7), layout="constrained")
    colors = ["tab:orange" if n == highlight else "tab:blue" for n in names]
    ax.bar(range(len(names)), heights, color=colors, width=0.7)
    top = max(heights)
    for i, ((h, w), c) in enumerate(zip(sizes, channels, strict=True)):
        side = str(h) if h == w else f"{h}x{w}"
        ax.text(i, h + 0.03 * top, f"{side}\n{c} ch", ha="center", va="bottom", fontsize=7)
    for i in range(1, len(names)):
        if heights[i] < heights[i - 1]:
            halved = heights[i] == -(-heights[i - 1] // 2)  # ceil: 15 -> 8 halves too
            label = ("/2" if halved else "global" if heights[i] == 1
                     else f"/{heights[i - 1] / heights[i]:.3g}")
            ax.text(i - 0.5, 0.5 * top, label, ha="center", va="center", fontsize=8,
                    color="tab:red", fontweight="bold")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylim(0, top * 1.3)
    ax.set_xlabel("stage")
    ax.set_ylabel("output height (pixels)")
    ax.set_title(title)
    return fig


def show_gradient_extent(grads, boxes, titles, suptitle=None, size=2.1):
    """Where the gradient of one output unit w.r.t. the input is nonzero, with the theoretical
    receptive field outlined.

    grads: (H, W) arrays (e.g. the gradient summed over the input channels). boxes: one
    (top, left, height, width) rectangle per map (the theoretical receptive field, in input
    pixels), or None. Each map is drawn as log10(|gradient| / its largest value), on one
    shared colour scale; exact zeros are light grey.
    """
    grads = [np.abs(np.asarray(g, dtype=np.float64)) for g in grads]
    shown = []
    for g in grads:
        s = np.full(g.shape, np.nan)
        s[g > 0] = np.log10(g[g > 0] / g.max())
        shown.append(s)
    lowest = min(float(np.nanmin(s)) for s in shown if np.isfinite(s).any())
    fig, axes = plt.subplots(1, len(grads), figsize=(size * len(grads) + 1.0, size + 0.8),
                             squeeze=False, layout="constrained")
    cmap = plt.get_cmap("viridis").with_extremes(bad="0.9")
    for i, (ax, s, box, title) in enumerate(zip(axes[0], shown, boxes, titles, strict=True)):
        im = ax.imshow(s, cmap=cmap, vmin=max(lowest, -12.0), vmax=0.0)
        if box is not None:
            top, left, h, w = box
            ax.add_patch(plt.Rectangle((left - 0.5, top - 0.5), w, h, fill=False, lw=1.2,
                                       edgecolor="tab:red"))
        ax.set_title(title)
        ax.set_xlabel(f"input column (W={s.shape[1]})")
        if i == 0:
            ax.set_ylabel(f"input row (H={s.shape[0]})")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="log10 (|gradient| / max)")
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def show_layer_gradients(norms: dict, title="Gradient norm of each convolution's weights",
                         xlabel="convolution (input side -> output side)"):
    """One line per network: the gradient norm of each layer's weights, on a log scale.

    norms: {label: sequence of norms, first layer first}.
    """
    fig, ax = plt.subplots(figsize=(5.6, 2.8), layout="constrained")
    for label, values in norms.items():
        ax.semilogy(range(1, len(values) + 1), values, marker=".", ms=3, lw=1, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("||dL/dW|| (log scale)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


__all__ += ["show_receptive_field_growth"]


def show_receptive_field_growth(fields: dict, image_size: int | None = None,
                                title="Receptive field along the main path"):
    """One line per network: the receptive field (input pixels per side) after each block.

    fields: {label: sequence of receptive fields, first block first}. image_size: draws a
    dashed line at the input's side, where a unit starts to see the whole image.
    """
    fig, ax = plt.subplots(figsize=(5.6, 2.8), layout="constrained")
    for label, values in fields.items():
        ax.plot(range(1, len(values) + 1), values, marker=".", ms=3, lw=1, label=label)
    if image_size is not None:
        ax.axhline(image_size, color="0.4", ls="--", lw=1)
        ax.text(1, image_size, f" input side ({image_size})", va="bottom", fontsize=8,
                color="0.3")
    ax.set_xlabel("block (stem first)")
    ax.set_ylabel("receptive field (pixels)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def show_feature_maps(rows: dict, limit: float, title: str, max_maps: int = 16, size=0.42):
    """Feature maps of one input, one row per (layer, state), on one signed colour scale.

    rows: {label: (C, H, W) array}, e.g. {"C1 before": ..., "C1 after": ...}; at most
    ``max_maps`` maps per row. limit: the colour scale is -limit .. limit (a diverging map
    centred at 0, one colorbar), e.g. 1.7159 for LeNet-5's scaled tanh.
    """
    labels = list(rows)
    ncols = min(max_maps, max(np.asarray(rows[k]).shape[0] for k in labels))
    fig, axes = plt.subplots(len(labels), ncols, squeeze=False, layout="constrained",
                             figsize=(size * ncols + 1.6, size * len(labels) + 0.6))
    shown = None
    for r, label in enumerate(labels):
        maps = np.asarray(rows[label])
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= min(len(maps), max_maps):
                ax.axis("off")
                continue
            shown = ax.imshow(maps[c], cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[r, 0].set_ylabel(f"{label}\n{maps.shape[1]}x{maps.shape[2]}", rotation=0,
                              ha="right", va="center", fontsize=8)
    for c in range(ncols):
        axes[0, c].set_title(str(c), fontsize=7)
    fig.colorbar(shown, ax=axes, shrink=0.6, label="activation")
    fig.suptitle(title)
    return fig


def show_rbf_decision(f6, prototypes, distances, title="F6's 84 outputs as a 7x12 picture"):
    """F6 as a bitmap beside the nearest prototype, and the 10 RBF distances as bars.

    f6: (rows, columns) F6's outputs reshaped like the prototypes. prototypes: (K, rows,
    columns), +1 ink, -1 background. distances: (K,) squared distances; the smallest wins.
    """
    distances = np.asarray(distances, dtype=np.float64)
    best = int(np.argmin(distances))
    fig, axes = plt.subplots(1, 3, figsize=(7.4, 2.5), layout="constrained",
                             gridspec_kw={"width_ratios": [1, 1, 3.2]})
    for ax, image, name in ((axes[0], f6, "F6 output"),
                            (axes[1], np.asarray(prototypes)[best], f"prototype {best}")):
        shown = ax.imshow(image, cmap="gray_r", vmin=-1.7159, vmax=1.7159)
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=axes[1], shrink=0.8, label="value (black +, white -)")
    colors = ["tab:orange" if k == best else "tab:blue" for k in range(len(distances))]
    axes[2].bar(range(len(distances)), distances, color=colors)
    axes[2].set_xticks(range(len(distances)))
    axes[2].set_xlabel("digit (prototype)")
    axes[2].set_ylabel("squared distance")
    axes[2].set_title(f"RBF distances: the smallest ({best}) wins")
    fig.suptitle(title)
    return fig
