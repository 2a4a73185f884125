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
    assert explorer.input_view.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert explorer.output_pixels().shape == (118 * 2, 100 * 2, 3)  # the photo's scale: 2
    expected = conv2d(explorer.current_image()[None, None],
                      kernels.get("edge_detect")[None, None])[0, 0]
    np.testing.assert_allclose(explorer.output, expected)


def test_choosing_a_kernel_changes_output_and_editor(explorer):
    before = explorer.output_pixels()
    explorer.kernel.value = "gaussian_blur_5x5"
    assert len(explorer.cells) == 5 and len(explorer.cells[0]) == 5
    assert (explorer.rows.value, explorer.cols.value) == (5, 5)
    assert "output 116x98" in explorer.size_label.value
    assert explorer.output_pixels().shape != before.shape
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


# --- KernelExplorer: one pixel scale, click an output pixel, the formula panel ---------------


def _png_size(data: bytes) -> tuple[int, int]:
    from cnnkit.widgets.views import decode_png

    return decode_png(bytes(data)).shape[:2]


def _click(canvas, x, y, event="mouse_down"):
    """What the browser sends when the mouse is pressed (or moved) on an ipycanvas Canvas."""
    canvas._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


@pytest.fixture()
def digit_explorer():
    from cnnkit import data

    return KernelExplorer(image=data.mnist_digit(3), kernel="sobel_x")


def test_the_notebooks_digit_array_is_accepted_and_input_and_output_share_one_scale(
        digit_explorer):
    ex = digit_explorer
    assert ex.image.value == "your image" and "photo" in ex.image.options
    s = ex.scale
    assert s == 9 and ex.output.shape == (26, 26)
    assert _png_size(ex.input_view.value) == (28 * s, 28 * s)
    assert ex.output_pixels().shape[:2] == (26 * s, 26 * s)
    ex.stride.value = 2  # the output halves on screen too
    assert ex.output_pixels().shape[:2] == (13 * s, 13 * s)
    ex.padding.value = 2  # the padded border is drawn on the input
    assert _png_size(ex.input_view.value) == (32 * s, 32 * s)
    from cnnkit.widgets.views import decode_png

    corner = decode_png(bytes(ex.input_view.value))[s // 2, s // 2]
    assert corner[2] > corner[0]  # a padded zero is tinted blue, not black


def test_clicking_an_output_pixel_explains_it_with_cnnkits_numbers(digit_explorer):
    ex = digit_explorer
    ex.bias.value = 0.25
    ex.dilation.value = 2
    s = ex.scale
    _click(ex.output_view, 5 * s + 1, 7 * s + 1)  # x = column 5, y = row 7
    assert ex.selected == (7, 5)
    x = ex.current_image()
    expected = conv2d(x[None, None], ex.kernel_values()[None, None], np.array([0.25]),
                      dilation=2)[0, 0]
    u = ex.unit
    assert u.value == pytest.approx(expected[7, 5]) == pytest.approx(ex.output[7, 5])
    np.testing.assert_allclose(u.products, u.window.values * ex.kernel_values()[None])
    np.testing.assert_array_equal(u.window.rows, [7, 9, 11])  # dilation 2: gaps between taps
    np.testing.assert_allclose(u.window.values[0], x[7:12:2, 5:10:2])
    assert f"{u.total:.4g}" in ex.formula_view.value and "+ bias 0.25" in ex.formula_view.value
    assert f"output value {u.value:.4g}" in ex.formula_view.value
    # the window's taps are outlined on the input, the gaps between them are not
    from cnnkit.widgets.views import decode_png

    big = decode_png(bytes(ex.input_view.value))
    assert tuple(big[7 * s, 5 * s + s // 2]) == (242, 140, 0)  # tap (7, 5): orange border
    assert tuple(big[8 * s, 6 * s + s // 2]) != (242, 140, 0)  # (8, 6) is skipped
    _click(ex.output_view, 0, 0, event="mouse_move")  # hovering selects too
    assert ex.selected == (0, 0)


def test_convolution_turns_the_kernel_and_relu_clips(digit_explorer):
    ex = digit_explorer
    corr = ex.output.copy()
    ex.operation.value = "convolution"
    np.testing.assert_allclose(ex.output, -corr, atol=1e-6)  # Sobel turned 180 deg: sign flip
    np.testing.assert_array_equal(ex.sliding_weights()[0], ex.kernel_values()[::-1, ::-1])
    assert "180&deg;" in ex.sliding_view.value
    ex.select(10, 12)
    assert ex.unit.value == pytest.approx(ex.output[10, 12])
    ex.relu.value = True
    assert ex.output.min() >= 0
    np.testing.assert_allclose(ex.output, np.maximum(-corr, 0), atol=1e-6)
    assert ex.unit.value == max(ex.unit.pre_activation, 0) and "ReLU" in ex.formula_view.value


def test_kernel_sizes_from_1x1_to_7x7_and_rectangular(digit_explorer):
    ex = digit_explorer
    ex.rows.value = 1
    assert ex.kernel.value == CUSTOM and ex.kernel_values().shape == (1, 3)
    ex.cols.value = 7
    assert ex.kernel_values().shape == (1, 7) and ex.output.shape == (28, 22)
    ex.rows.value = 7
    assert ex.output.shape == (22, 22)
    ex.cells[6][6].value = 1.0
    ex.select(3, 4)
    assert ex.unit.value == pytest.approx(ex.current_image()[9, 10])
    ex.kernel.value = "identity"
    assert ex.kernel_values().shape == (3, 3) and (ex.rows.value, ex.cols.value) == (3, 3)


def test_colours_signed_outputs_diverge_image_like_kernels_keep_the_input_range(explorer):
    explorer.kernel.value = "edge_detect"
    cmap, lo, hi = explorer._colour_rule()
    assert cmap == "RdBu_r" and lo == -hi
    explorer.kernel.value = "box_blur"
    assert explorer._colour_rule()[0] == "gray"
    top = float(explorer.current_image().max())
    assert explorer._colour_rule()[1:] == (0.0, pytest.approx(top))
    explorer.kernel.value = "edge_detect"


def test_rgb_input_with_one_three_channel_filter():
    ex = KernelExplorer(image="photo (RGB)", kernel="sharpen")
    x = ex.current_image()
    assert x.shape[0] == 3 and ex.mix_box.layout.display is None
    ex.mix[0].value, ex.mix[1].value, ex.mix[2].value = 1.0, 0.0, -1.0
    w = ex.filter_weights()
    assert w.shape == (3, 3, 3) and np.all(w[1] == 0)
    np.testing.assert_allclose(ex.output, conv2d(x[None], w[None], np.array([0.0]))[0, 0],
                               atol=1e-5)
    ex.select(40, 30)
    assert ex.unit.products.shape == (3, 3, 3)
    assert ex.unit.value == pytest.approx(ex.output[40, 30], abs=1e-5)
    assert "window (B)" in ex.formula_view.value


def _render_times(explorer, slider, values) -> tuple[float, float]:
    """Median milliseconds of a click on five output units, and of moving ``slider`` through
    ``values``; each click must select its unit (a click that does nothing is not timed)."""
    import time

    clicks = []
    for n in range(5):
        start = time.perf_counter()
        explorer.select(n, n + 1)
        clicks.append(time.perf_counter() - start)
        assert explorer.selected == (n, n + 1)
    moves = []
    for value in values:
        start = time.perf_counter()
        slider.value = value
        moves.append(time.perf_counter() - start)
        assert slider.value == value
    return 1000 * float(np.median(clicks)), 1000 * float(np.median(moves))


def test_click_and_slider_render_times_for_the_lesson_images(capsys):
    """Measured and printed (the machine's load varies, so no time is asserted)."""
    from cnnkit import data

    lines = []
    for name, image in (("photo 120x102", "photo"), ("digit 28x28", data.mnist_digit(7))):
        ex = KernelExplorer(image=image)
        click, stride = _render_times(ex, ex.stride, (2, 1, 2, 1))
        lines.append(f"KernelExplorer {name}: click {click:.1f} ms, stride slider "
                     f"{stride:.1f} ms (median)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# --- PoolingExplorer: click a unit, the shift slider, the gradient ---------------------------


@pytest.fixture()
def pooler():
    from cnnkit.widgets import PoolingExplorer

    return PoolingExplorer(image="digit", window=2, stride=2)


def test_pooling_click_shows_the_window_and_the_kept_value(pooler):
    from cnnkit.pool import avg_pool2d, max_pool2d

    s = pooler.scale
    assert pooler.output_pixels().shape[:2] == (14 * s, 14 * s)  # the input's scale
    assert _png_size(pooler.input_view.value) == (28 * s, 28 * s)
    _click(pooler.output_view, 6 * s + 2, 4 * s + 2)
    assert pooler.selected == (4, 6)
    x = pooler.current_image()
    out, idx = max_pool2d(x[None, None], 2, 2, return_indices=True)
    u = pooler.unit
    assert u.value == out[0, 0, 4, 6] == pooler.output[4, 6]
    assert u.argmax[0] * 28 + u.argmax[1] == idx[0, 0, 4, 6]
    np.testing.assert_array_equal(u.window.rows, [8, 9])
    assert f"max = <b>{u.value:.4g}</b>" in pooler.unit_label.value
    assert f"(row {u.argmax[0]}, column {u.argmax[1]})" in pooler.unit_label.value
    pooler.mode.value = "avg"
    assert pooler.unit.value == pytest.approx(avg_pool2d(x[None, None], 2)[0, 0, 4, 6])
    assert pooler.unit.argmax is None and "1/4" in pooler.unit_label.value


def test_pooling_shift_slider_counts_the_unchanged_outputs(pooler):
    from cnnkit.pool import max_pool2d

    x = pooler.current_image()
    assert pooler.unchanged == 1.0
    for shift in (1, 2, 3):
        pooler.shift.value = shift
        moved = np.zeros_like(x)
        moved[:, shift:] = x[:, :-shift]
        expected = max_pool2d(moved[None, None], 2, 2)[0, 0]
        np.testing.assert_array_equal(pooler.shifted_output, expected)
        same = float(np.mean(expected == pooler.output))
        assert pooler.unchanged == pytest.approx(same)
        assert f"{100 * same:.0f}%" in pooler.shift_label.value
        assert _png_size(pooler.shifted_view.value) == (14 * pooler.scale, 14 * pooler.scale)


def test_pooling_gradient_mode_routes_to_the_argmax_or_spreads(pooler):
    from cnnkit.pool import avg_pool2d_backward, max_pool2d_backward

    x = pooler.current_image()[None, None]
    pooler.show.value = "gradient"
    ones = np.ones((1, 1, 14, 14))
    np.testing.assert_array_equal(pooler.gradient, max_pool2d_backward(ones, x, 2, 2)[0, 0])
    assert pooler.gradient.sum() == 14 * 14 and set(np.unique(pooler.gradient)) == {0, 1}
    assert "gradient" in pooler.input_caption.value
    pooler.mode.value = "avg"
    np.testing.assert_allclose(pooler.gradient, avg_pool2d_backward(ones, x, 2, 2)[0, 0])
    np.testing.assert_allclose(pooler.gradient, 0.25)  # spread evenly over the 2x2 window


def test_pooling_click_and_slider_render_times(capsys):
    """Measured and printed (no time is asserted)."""
    from cnnkit.widgets import PoolingExplorer

    lines = []
    for image in ("photo", "digit"):
        ex = PoolingExplorer(image=image)
        click, shift = _render_times(ex, ex.shift, (1, 2, 3, 0))
        lines.append(f"PoolingExplorer {image}: click {click:.1f} ms, shift slider "
                     f"{shift:.1f} ms (median)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


# --- DigitPad: strokes -> MNIST preprocessing -> the model's probabilities ------------------


def _linear_model(side=28):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(side * side, 10))


ONE = [[(140, 40), (140, 240)]]
SEVEN = [[(60, 50), (220, 50), (110, 250)]]


def test_digit_pad_probabilities_are_the_models_on_the_preprocessed_drawing():
    import torch

    from cnnkit.drawing import mnist_preprocess, rasterize_strokes
    from cnnkit.widgets import DigitPad

    net = _linear_model()
    pad = DigitPad(net, mean=0.13, std=0.31)
    assert pad.probabilities is None and "draw a digit" in pad.prediction_label.value
    pad.draw_strokes(SEVEN)
    x = mnist_preprocess(rasterize_strokes(SEVEN, (280, 280), pad.pen))
    np.testing.assert_array_equal(pad.digit, x)
    with torch.no_grad():
        expected = net((torch.from_numpy(x)[None, None] - 0.13) / 0.31).softmax(1)[0].numpy()
    np.testing.assert_allclose(pad.probabilities, expected, rtol=1e-5, atol=1e-7)
    assert pad.prediction == str(int(expected.argmax()))
    assert f"{100 * expected.max():.1f}%" in pad.probabilities_view.value
    first = pad.probabilities.copy()
    pad.draw_strokes([[(100, 150), (200, 150)]])  # a second stroke: a crossed 7
    assert len(pad.strokes) == 2 and not np.allclose(pad.probabilities, first)
    pad.clear()
    assert pad.strokes == [] and pad.probabilities is None and not pad.digit.any()


def test_digit_pad_mouse_events_draw_what_draw_strokes_draws():
    from cnnkit.widgets import DigitPad

    net = _linear_model()
    by_mouse, by_code = DigitPad(net), DigitPad(net)
    for event, (x, y) in [("mouse_down", (60, 50)), ("mouse_move", (220, 50)),
                          ("mouse_move", (110, 250)), ("mouse_up", (110, 250)),
                          ("mouse_move", (10, 10))]:  # moving with the button up draws nothing
        _click(by_mouse.canvas, x, y, event)
    by_code.draw_strokes(SEVEN)
    assert by_mouse.strokes == by_code.strokes
    np.testing.assert_allclose(by_mouse.probabilities, by_code.probabilities)
    assert by_mouse._repr_mimebundle_()["text/plain"].startswith("DigitPad: predicted")


def test_digit_pad_centres_the_digit_in_32x32_for_the_1998_lenet():
    from cnnkit.widgets import DigitPad

    pad = DigitPad(_linear_model(32))
    assert pad.side == 32
    pad.draw_strokes(ONE)
    assert pad.probabilities.shape == (10,) and pad.probabilities.sum() == pytest.approx(1)
    with pytest.raises(ValueError, match="mean and std"):
        DigitPad(_linear_model(), mean=0.1)


def test_digit_pad_reads_an_uploaded_picture():
    import datetime
    import io

    from PIL import Image, ImageDraw

    from cnnkit.widgets import DigitPad

    page = Image.new("L", (200, 200), 255)  # dark ink on white paper
    ImageDraw.Draw(page).line([(50, 45), (150, 45), (85, 165)], fill=0, width=18)
    buf = io.BytesIO()
    page.save(buf, format="png")
    pad = DigitPad(_linear_model())
    pad.upload.value = ({"name": "seven.png", "type": "image/png", "size": len(buf.getvalue()),
                         "content": memoryview(buf.getvalue()),
                         "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)},)
    assert pad.probabilities is not None and pad.digit.max() > 0.9
    assert pad.digit[0].sum() == 0  # the paper became black background


def test_digit_pad_stroke_time(capsys):
    """Measured, printed, not asserted: the time from a released stroke to new probabilities,
    with one torch thread as lesson 4 sets (several threads wait for each other on a busy
    machine: 10x slower for one tiny image)."""
    import time

    import torch

    from cnnkit.models import LeNet5
    from cnnkit.widgets import DigitPad

    pad = DigitPad(LeNet5(), mean=0.13, std=0.31)
    t, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for n in range(5):
            pad.clear()
            start = time.perf_counter()
            pad.draw_strokes([[(60 + n, 50), (220, 50), (110, 250)]])
            t.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    with capsys.disabled():
        print(f"\nDigitPad (LeNet5): stroke to probabilities {1000 * float(np.median(t)):.1f} ms "
              "(median)")


# --- LayerInspector: activations for an input, a unit's receptive field, F6 ------------------


@pytest.fixture(scope="module")
def inspector():
    from cnnkit.widgets import LayerInspector

    return LayerInspector(layer="C3", input=3)


def test_layer_inspector_shows_the_layers_maps_for_a_test_digit(inspector):
    import torch

    from cnnkit import data
    from cnnkit.activations import model_input

    assert inspector.input.value == "test digit 3"
    net = inspector.models["LeNet-5 (1998)"][0]
    x = model_input(data.mnist_digit(3), (1, 1, 32, 32))
    from cnnkit.models.lenet import scaled_tanh

    with torch.no_grad():  # each module's own output (the forward squashes C1 and C3 after)
        c3 = net.C3(net.S2(scaled_tanh(net.C1(x))))[0].double().numpy()
    np.testing.assert_allclose(inspector.acts["C3"], c3, rtol=1e-5, atol=1e-6)
    assert inspector.maps_view.layout.display is None
    assert inspector._maps_canvas.rgb is not None
    for name in ("C1", "S2", "C3", "S4", "C5"):
        assert f"<b>{name}</b>" in inspector.overview_view.value  # every layer with maps


def test_clicking_a_unit_outlines_its_receptive_field(inspector):
    from cnnkit.activations import receptive_box

    inspector.layer.value = "C3"
    s = inspector._maps_scale
    _click(inspector.maps_view, (2 * 11 + 5) * s + 1, 4 * s + 1)  # map 2 (third), row 4, col 5
    assert inspector.selected_unit == (2, 4, 5)
    assert inspector.box == receptive_box((14, 14), (2, 2), (32, 32), (10, 10), 4, 5)
    assert inspector.box == (8, 10, 21, 23)  # 14x14 pixels, 2 per unit step
    assert f"value <b>{inspector.acts['C3'][2, 4, 5]:.4g}</b>" in inspector.unit_label.value
    assert "rows 8&ndash;21, columns 10&ndash;23" in inspector.unit_label.value
    inspector.layer.value = "C1"
    inspector.select_unit(0, 0, 0)
    assert inspector.box == (0, 0, 4, 4)


def test_choosing_another_input_reruns_the_model(inspector):
    before = inspector.acts["C1"].copy()
    inspector.input.value = "test digit 5"
    assert not np.allclose(inspector.acts["C1"], before)
    inspector.input.value = "test digit 3"


def test_classic_lenet_shows_f6_beside_the_prototypes(inspector):
    inspector.layer.value = "F6"
    assert inspector.f6_view.layout.display is None
    assert inspector.f6_view.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert inspector.acts["F6"].shape == (84,)
    assert inspector.box == (0, 0, 31, 31)  # a fully connected unit sees the whole input
    inspector.layer.value = "C1"
    assert inspector.f6_view.layout.display == "none"


def test_layer_inspector_reads_the_drawn_digit_and_normalises():
    from cnnkit.models import LeNet5
    from cnnkit.widgets import DigitPad, LayerInspector

    net = LeNet5()
    pad = DigitPad(net, mean=0.13, std=0.31)
    pad.draw_strokes(SEVEN)
    li = LayerInspector({"trained": (net, (1, 1, 28, 28))}, layer="conv1", mean=0.13,
                        std=0.31, pad=pad)
    li.input.value = "drawn digit"
    pad.clear()
    pad.draw_strokes(SEVEN)  # the inspector follows the pad
    np.testing.assert_allclose(li.acts["fc3"], np.log(pad.probabilities)
                               - np.log(pad.probabilities).mean()
                               + li.acts["fc3"].mean(), rtol=1e-4, atol=1e-4)  # same logits
    with pytest.raises(ValueError, match="mean and std"):
        LayerInspector(mean=0.1)


def test_layer_inspector_click_time(inspector, capsys):
    """Measured, printed, not asserted."""
    import time

    inspector.layer.value = "C3"
    t = []
    for n in range(5):
        start = time.perf_counter()
        inspector.select_unit(n, n, n + 1)
        t.append(time.perf_counter() - start)
    start = time.perf_counter()
    inspector.input.value = "test digit 8"
    change = time.perf_counter() - start
    inspector.input.value = "test digit 3"
    with capsys.disabled():
        print(f"\nLayerInspector: click {1000 * float(np.median(t)):.1f} ms (median), input "
              f"change {1000 * change:.0f} ms")
