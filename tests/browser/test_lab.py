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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

if TYPE_CHECKING:
    from conftest import LabServer
    from playwright.sync_api import Locator, Page

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


@dataclass(frozen=True)
class Step:
    """One thing a student does to the widget, and which views must change because of it."""

    name: str  # names the screenshot
    action: Action
    changes: tuple[str, ...] = ("size", "image")  # "size": the size text; "image": its pixels


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

    @property
    def id(self) -> str:
        """The pytest id: notebook stem and widget."""
        return f"{Path(self.notebook).stem}-{self.widget}"

    @property
    def readme_image(self) -> str:
        """File name of its README screenshot: KernelExplorer -> kernel-explorer.png."""
        return re.sub(r"(?<!^)(?=[A-Z])", "-", self.widget).lower() + ".png"


CASES = (
    WidgetCase(
        "01_convolution.ipynb", "KernelExplorer", "cnnkit-kernel-explorer",
        steps=(
            Step("kernel", choose("kernel", "gaussian_blur_5x5")),  # 3x3 -> 5x5: size changes
            Step("stride", press("stride", "ArrowRight")),  # stride 1 -> 2
        ),
    ),
    WidgetCase(
        "02_pooling.ipynb", "PoolingExplorer", "cnnkit-pooling-explorer",
        steps=(
            Step("mode", click("mode", "avg")),  # the size text names the mode
            Step("stride", press("stride", "ArrowRight")),  # stride 2 -> 3
        ),
    ),
    WidgetCase(
        "03_lenet5.ipynb", "LayerInspector", "cnnkit-layer-inspector",
        steps=(
            Step("layer", choose("layer", "C1 (Conv2d)")),  # C3's 60 kernels -> C1's 6
            Step("model", choose("model", "LeNet-5 (modern)")),  # -> its first layer, conv1
        ),
        size_label=".cnnkit-layer-info",  # the selected layer's shapes and counts
        output_image="img",  # the selected layer's weights
        size_pattern=None,  # the image shows weights, not an output of that size
    ),
    WidgetCase(
        "06_resnet_shapes.ipynb", "ResNetExplorer", "cnnkit-resnet-explorer",
        steps=(
            Step("depth", choose("depth", "ResNet-18")),  # layer2: 512 -> 128 channels
            Step("input-size", press("input size", "ArrowRight")),  # 224 -> 240: 28 -> 30
        ),
        size_pattern=None,  # the image is a chart of every stage's size
    ),
)


def _uses_widget(case: WidgetCase) -> bool:
    """Whether the case's notebook exists and one of its code cells mentions the widget."""
    path = NOTEBOOKS / case.notebook
    if not path.is_file():
        return False
    cells = nbformat.read(path, as_version=4).cells
    return any(c.cell_type == "code" and case.widget in c.source for c in cells)


PRESENT = [case for case in CASES if _uses_widget(case)]


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


def _run_all_cells(page: Page, lab: LabServer, case: WidgetCase, code_cells: int) -> list[str]:
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
        idle = lab.kernel_state(case.notebook) == "idle"
        calm = calm + 1 if (ran and not busy and idle) else 0
        if calm == 3:
            return prompts
        assert time.monotonic() < deadline, (
            f"{case.notebook}: still running after {case.run_timeout_s:.0f} s "
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
    """What the widget shows: the size text and the output image (bytes' hash, pixel size)."""

    size: str | None
    src: str | None
    digest: str | None  # SHA-256 of the image bytes; None while it is (re)loading
    height: int
    width: int


READ_VIEW = """
async (root, [sizeSel, imageSel]) => {
  const label = root.querySelector(sizeSel);
  let img = root.querySelector(imageSel);
  if (img && img.tagName !== "IMG") img = img.querySelector("img");
  const view = {size: label ? label.innerText.trim() : null, src: null, digest: null,
                height: 0, width: 0};
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
    return View(**widget.evaluate(READ_VIEW, [case.size_label, case.output_image]))


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
                   changes: tuple[str, ...], what: str) -> View:
    """Poll until the views listed in ``changes`` differ from ``before`` and agree together."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        view = _read_view(widget, case)
        unchanged = [] if before is None else [
            part for part in changes
            if (part == "size" and view.size == before.size)
            or (part == "image" and view.digest in (None, before.digest))
        ]
        problem = _size_problem(view, case)
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


@pytest.mark.parametrize("case", PRESENT, ids=[case.id for case in PRESENT])
def test_widget_works_in_jupyterlab(page: Page, lab: LabServer, case: WidgetCase,
                                    artifacts: Path):
    """Run the notebook in JupyterLab, then use its widget as a student would."""
    nb = nbformat.read(lab.root / case.notebook, as_version=4)
    code_cells = sum(c.cell_type == "code" and bool(c.source.strip()) for c in nb.cells)
    shot = Screenshots(page, artifacts)

    page.goto(lab.notebook_url(case.notebook))
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(state="visible")
    _wait_for_idle_kernel(page, lab, case.notebook, KERNEL_START_TIMEOUT_S)
    shot("opened")

    prompts = _run_all_cells(page, lab, case, code_cells)
    shot("ran-all-cells")
    errors = _errors_on_page(page)
    assert not errors, f"{case.notebook} shows errors:\n\n" + "\n\n".join(errors)
    ran = sum(bool(re.fullmatch(r"\[\d+\]:", p)) for p in prompts)
    assert ran == code_cells, f"only {ran} of {code_cells} code cells ran: {prompts}"

    widget = page.locator(f".{case.root}")
    if widget.count() == 0:
        shown = [t[:300] for t in page.locator(".jp-OutputArea-output").all_inner_texts()
                 if case.widget in t or "VBox(" in t or "widget" in t.lower()]
        pytest.fail(f"{case.widget} (.{case.root}) is not on the page after running "
                    f"{case.notebook}; outputs that look like it: {shown}", pytrace=False)
    widget = widget.first
    widget.evaluate("el => el.scrollIntoView({block: 'center'})")
    page.mouse.move(0, 0)  # no hover highlight in the screenshots
    view = _wait_for_view(widget, case, None, (), "as displayed")
    shot("widget")
    if README_SHOTS:
        _save_readme_shot(widget, ROOT / README_SHOTS, case.readme_image)

    for step in case.steps:
        step.action(widget)
        view = _wait_for_view(widget, case, view, step.changes, step.action.__doc__)
        shot(step.name)

    errors = _errors_on_page(page)
    assert not errors, "errors after using the widget:\n\n" + "\n\n".join(errors)

    # Save (as a student would: Ctrl+S) and check the saved copy: every code cell ran, in order.
    path = lab.root / case.notebook
    stamp = path.stat().st_mtime_ns
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + SAVE_TIMEOUT_S
    while path.stat().st_mtime_ns == stamp:
        assert time.monotonic() < deadline, f"Ctrl+S did not save {case.notebook}"
        page.wait_for_timeout(POLL_S * 1000)
    saved = [c for c in nbformat.read(path, as_version=4).cells
             if c.cell_type == "code" and c.source.strip()]
    assert [c.execution_count for c in saved] == list(range(1, code_cells + 1))
    for cell in saved:
        for out in cell.outputs:
            assert out.output_type != "error", f"{out.ename}: {out.evalue} in {cell.source[:80]}"
