"""The widgets driven from Python, as a student would drive them with the mouse."""

import numpy as np
import pytest

from cnnkit import kernels
from cnnkit.conv import conv2d
from cnnkit.widgets import CUSTOM, KernelExplorer


@pytest.fixture(scope="module")
def explorer():
    return KernelExplorer()


def test_initial_view_is_the_default_kernel_on_the_photo(explorer):
    assert explorer.kernel.value == "edge_detect"
    assert explorer.output.shape == (118, 100)
    assert "output 118x100" in explorer.size_label.value
    assert explorer.output_view.value[:8] == b"\x89PNG\r\n\x1a\n"
    expected = conv2d(explorer.current_image()[None, None],
                      kernels.get("edge_detect")[None, None])[0, 0]
    np.testing.assert_allclose(explorer.output, expected)


def test_choosing_a_kernel_changes_output_and_editor(explorer):
    before = explorer.output_view.value
    explorer.kernel.value = "gaussian_blur_5x5"
    assert len(explorer.cells) == 5 and len(explorer.cells[0]) == 5
    assert "output 116x98" in explorer.size_label.value
    assert explorer.output_view.value != before
    assert "wider binomial Gaussian" in explorer.meaning_label.value
    explorer.kernel.value = "edge_detect"


def test_stride_padding_dilation_change_the_size(explorer):
    explorer.stride.value = 2
    assert "output 59x50" in explorer.size_label.value
    assert "floor((120 + 2*0 - 1*(3-1) - 1)/2) + 1 = 59" in explorer.size_label.value
    explorer.padding.value = 1
    assert explorer.output.shape == (60, 51)
    explorer.dilation.value = 3
    assert explorer.output.shape == (58, 49)
    explorer.stride.value, explorer.padding.value, explorer.dilation.value = 1, 0, 1
    assert explorer.output.shape == (118, 100)


def test_editing_a_cell_switches_to_custom(explorer):
    explorer.kernel.value = "identity"
    identity_out = explorer.output.copy()
    explorer.cells[1][1].value = 2.0
    assert explorer.kernel.value == CUSTOM
    assert explorer.kernel_values()[1, 1] == 2.0
    np.testing.assert_allclose(explorer.output, 2 * identity_out)
    assert "your own weights" in explorer.meaning_label.value
    explorer.kernel.value = "edge_detect"
    assert explorer.kernel_values()[1, 1] == 8.0


def test_image_switch_to_digit(explorer):
    before = explorer.input_view.value
    explorer.image.value = "digit"
    assert explorer.input_view.value != before
    assert explorer.output.shape == (26, 26)
    explorer.image.value = "photo"


def test_a_kernel_that_does_not_fit_shows_the_error_instead_of_crashing():
    ex = KernelExplorer(image="digit", kernel="gaussian_blur_5x5")
    ex.dilation.value = 3
    ex.padding.value = 0
    assert ex.output.shape == (16, 16)
    tiny = KernelExplorer(images={"tiny": np.zeros((6, 6), np.float32)}, image="tiny",
                          kernel="gaussian_blur_5x5")
    tiny.dilation.value = 3
    assert tiny.output is None
    assert "does not fit" in tiny.error and "does not fit" in tiny.size_label.value


def test_bad_arguments():
    with pytest.raises(KeyError, match="unknown kernel"):
        KernelExplorer(kernel="nope")
    with pytest.raises(ValueError, match="image must be one of"):
        KernelExplorer(image="cat")


def test_renders_as_a_widget(explorer):
    bundle = explorer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle


# --- static pictures: what GitHub, nbviewer and nbconvert show without a kernel ------------


def _bundle_png(widget) -> bytes:
    import base64

    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # the live view stays
    assert not bundle["text/plain"].startswith(("VBox", "HBox"))
    data = base64.b64decode(bundle["image/png"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def test_every_widget_carries_a_static_picture_of_its_current_state(explorer):
    from cnnkit.widgets import LayerInspector, PoolingExplorer, ResNetExplorer

    before = _bundle_png(explorer)
    explorer.kernel.value = "gaussian_blur_5x5"
    assert _bundle_png(explorer) != before  # the picture follows the controls
    assert "gaussian_blur_5x5" in explorer._repr_mimebundle_()["text/plain"]
    explorer.kernel.value = "edge_detect"
    for widget in (PoolingExplorer(image="digit"), LayerInspector(layer="C3"),
                   ResNetExplorer(depth=18, image_size=64)):
        _bundle_png(widget)
        assert type(widget).__name__ in widget._repr_mimebundle_()["text/plain"]


def test_nbconvert_shows_the_picture_when_no_widget_state_is_stored(explorer):
    import nbformat
    from nbconvert import HTMLExporter

    bundle = explorer._repr_mimebundle_()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explorer")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    nb.cells = [cell]
    body, _ = HTMLExporter().from_notebook_node(nb)
    assert f"data:image/png;base64,{bundle['image/png'][:40]}" in body
    assert "VBox(" not in body
