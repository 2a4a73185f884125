"""A run's HTML page that works offline: nbconvert's lab template, MathJax from a local copy.

nbconvert's HTML loads MathJax, require.js and the widget renderer from CDNs, so an instructor
without network sees raw LaTeX. :func:`render_html` uses the template
``templates/offline_notebook.html.j2`` (no require.js, widget renderer or mermaid.js; widgets
show their static fallback) and points MathJax at ``_static/mathjax/`` beside the page, which
:func:`install_mathjax` copies once per report folder from the installed
``jupyter-server-mathjax`` package (MathJax 2.7, about 12 MB).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["MATHJAX_FOLDER", "install_mathjax", "render_html"]

MATHJAX_FOLDER = "_static/mathjax"
"""Where :func:`install_mathjax` puts MathJax, relative to the report folder."""

_MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
_TEMPLATES = Path(__file__).resolve().parent / "templates"


def _mathjax_source() -> Path:
    """The MathJax folder of the installed ``jupyter_server_mathjax`` package.

    Found without importing the package (which imports jupyter_server: seconds).
    """
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "offline maths in the report pages needs jupyter-server-mathjax "
            "(pip install jupyter-server-mathjax)"
        )
    source = Path(list(spec.submodule_search_locations)[0]) / "static"
    if not (source / "MathJax.js").is_file():
        raise FileNotFoundError(f"MathJax.js not found in {source}")
    return source


def _link_or_copy(source: str, target: str) -> None:
    """A hard link where the file system allows (instant, no extra space), else a copy."""
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not supported
        shutil.copy2(source, target)


def install_mathjax(out_dir: str | os.PathLike[str]) -> Path:
    """Copy MathJax into ``out_dir/_static/mathjax`` unless it is there; return that folder.

    Files are hard-linked where possible (same file system as the installed package), so the
    12 MB cost no space or time; the folder stays valid if the package is removed or moved.

    Safe when several processes do it at once: each copies into a temporary folder and renames
    it into place; the first rename wins and the others discard their copy.
    """
    target = Path(out_dir) / MATHJAX_FOLDER
    if (target / "MathJax.js").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".mathjax-", suffix=".tmp"))
    try:
        shutil.copytree(_mathjax_source(), staging / "mathjax", copy_function=_link_or_copy)
        with contextlib.suppress(OSError):  # another process was first: keep its copy
            os.rename(staging / "mathjax", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def render_html(nb: Any, title: str, include_input: bool = True) -> str:
    """A notebook node as a standalone HTML page that fetches nothing from the network.

    MathJax is loaded from ``_static/mathjax/`` relative to the page (see
    :func:`install_mathjax`). Without ``include_input`` the code cells' inputs and the In/Out
    prompts are left out; markdown and outputs stay.
    """
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_file="offline_notebook.html.j2",
        extra_template_paths=[str(_TEMPLATES)],
        mathjax_url=f"{MATHJAX_FOLDER}/MathJax.js?config={_MATHJAX_CONFIG}",
        exclude_input=not include_input,
        exclude_input_prompt=not include_input,
        exclude_output_prompt=not include_input,
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body
