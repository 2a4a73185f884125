"""The grading machinery piece by piece, in this process (no kernel, no sandbox): the probe's
detection of forbidden calls, the verdict on handed-in data, how a submission is reassembled,
the review flags, the secret, and the error when bubblewrap is missing. The end-to-end run is in
test_grading_autograde.py (slow)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import stat
import sys

import nbformat
import numpy as np
import pytest

from cnnkit.grading import execute, handin, review, sandbox, secret
from cnnkit.grading.probe import NUMPY_ONLY, Probe, encode

# --- the probe: what is actually called ------------------------------------------------------


def probed(fn, forbid, *args):
    payloads = []
    with Probe("part", forbid=forbid, sink=payloads.append) as probe:
        probe.hand_in("out", probe.call(fn, *args))
    return payloads[0]


def test_forbidden_calls_are_caught_whatever_their_name():
    from cnnkit import conv

    size = conv.output_size  # imported under another name
    assert probed(lambda: size(9, 3), ("cnnkit",))["forbidden"]
    import torch
    from torch import conv2d as mine  # a C function, renamed

    x = torch.zeros(1, 1, 3, 3)
    found = probed(lambda: mine(x, x), NUMPY_ONLY)["forbidden"]
    assert found and "conv2d" in found[0]
    sneaky = probed(lambda: __import__("scipy.signal").signal.correlate2d(
        np.ones((3, 3)), np.ones((2, 2))), NUMPY_ONLY)
    assert sneaky["forbidden"]


def test_own_code_numpy_and_allowed_libraries_are_not_flagged():
    from numpy.lib.stride_tricks import sliding_window_view

    def mine(image, kernel):
        windows = sliding_window_view(np.pad(image, 1), kernel.shape)
        return np.einsum("ijkl,kl->ij", windows, kernel)

    payload = probed(mine, NUMPY_ONLY, np.ones((4, 4)), np.ones((3, 3)))
    assert payload["forbidden"] == [] and payload["error"] is None
    import torch

    layer = torch.nn.Conv2d(1, 2, 3)  # torch's nn allowed where the task is to use it
    assert probed(layer, ("cnnkit", "torchvision"), torch.zeros(1, 1, 5, 5))["forbidden"] == []


def test_a_replaced_profiler_is_reported():
    def rude():
        sys.setprofile(None)
        return 1

    assert probed(rude, ("cnnkit",))["tampered"]


def test_an_error_is_handed_in_and_raised():
    payloads = []
    with pytest.raises(ZeroDivisionError):
        with Probe("part", sink=payloads.append) as probe:
            probe.hand_in("x", 1 / 0)
    assert payloads[0]["error"].startswith("ZeroDivisionError")


# --- the verdict ----------------------------------------------------------------------------------


def payload(*values, **extra):
    p = {"part": "p", "values": [["v", encode(v), {"rtol": 1e-5, "atol": 1e-8, "check": None}]
                                 for v in values], "forbidden": [], "tampered": [], "error": None}
    p.update(extra)
    return p


def test_verdict_compares_values_without_showing_the_expected_ones():
    ref = payload(np.arange(6.0).reshape(2, 3), {"a": 32, "b": True}, (1, [2, 3]))
    assert handin.verdict(payload(np.arange(6.0).reshape(2, 3) + 1e-9, {"a": 32.0, "b": True},
                                  [1, np.array([2, 3])]), ref).ok
    wrong = handin.verdict(payload(np.arange(6.0).reshape(2, 3) + 1, {"a": 32, "b": True},
                                   (1, [2, 3])), ref)
    assert not wrong.ok and "wrong values" in wrong.message and "5.0" not in wrong.message
    shape = handin.verdict(payload(np.zeros(6), {"a": 32, "b": True}, (1, [2, 3])), ref)
    assert "shape (6,)" in shape.message
    key = handin.verdict(payload(np.arange(6.0).reshape(2, 3), {"a": 31, "b": True},
                                 (1, [2, 3])), ref)
    assert not key.ok and "31" not in key.message.split(":")[-1]
    assert not handin.verdict(payload(np.arange(6.0).reshape(2, 3), {"a": 32, "b": 1},
                                      (1, [2, 3])), ref).ok  # a bool answer must be a bool


def test_verdict_zero_for_forbidden_calls_errors_missing_and_extra_outputs():
    ref = payload(1.0)
    assert "forbids" in handin.verdict(payload(1.0, forbidden=["torch.conv2d"]), ref).message
    assert "stopped" in handin.verdict(payload(1.0, error="ValueError: x"), ref).message
    assert "did not run" in handin.verdict(None, ref).message
    assert not handin.verdict(payload(1.0, 2.0), ref).ok
    with pytest.raises(RuntimeError, match="reference"):
        handin.verdict(payload(1.0), payload(1.0, error="boom"))


def test_handed_in_data_is_never_unpickled():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    evil = payload(0.0)
    evil["values"][0][1] = {"npy": base64.b64encode(buffer.getvalue()).decode()}
    result = handin.verdict(evil, payload(0.0))
    assert not result.ok and "unreadable" in result.message
    assert encode(np.array([None], dtype=object)) == {"unsupported": "object array"}
    json.dumps(encode({"t": np.ones(2), "n": np.int64(3)}))  # plain JSON


def test_crop_flip_property_wants_one_crop_and_flip_per_image():
    import torch

    from cnnkit.augment import random_crop_flip

    x = torch.randint(1, 256, (32, 3, 6, 7), generator=torch.Generator().manual_seed(0)).float()
    good = random_crop_flip(x.clone(), torch.Generator().manual_seed(1))
    check = handin.PROPERTIES["crop_flip"]
    assert check({"x": x.numpy(), "out": good.numpy()}) is None
    same = torch.nn.functional.pad(x, (4, 4, 4, 4))[:, :, 2:8, 3:10]  # one crop for all
    assert "same crop" in check({"x": x.numpy(), "out": same.numpy()})
    assert "not a crop" in check({"x": x.numpy(), "out": (x + 1).numpy()})


# --- what runs: the original locked cells, the student's answers ---------------------------


def cell(source, gid=None, **flags):
    c = nbformat.v4.new_code_cell(source)
    if gid:
        c.metadata["nbgrader"] = {"grade_id": gid, "locked": not flags.get("solution"),
                                  "solution": bool(flags.get("solution")),
                                  "grade": bool(flags.get("grade")), "schema_version": 3}
    return c


def test_assemble_restores_locked_cells_and_keeps_answers():
    source = nbformat.v4.new_notebook(cells=[
        cell("setup()", "setup"), cell("answer()", "a", solution=True),
        cell("test()\n### BEGIN HIDDEN TESTS\nhidden()\n### END HIDDEN TESTS", "t", grade=True),
        cell("outro()", "outro")])
    sub = nbformat.v4.new_notebook(cells=[
        cell("setup(); evil()", "setup"), cell("mine()", "a", solution=True),
        cell("print('fake test')", "fake", grade=True)])  # test cell deleted, a fake one added
    nb = execute.assemble(source, sub)
    sources = [c.source for c in nb.cells]
    # deleted cells come back after the source cell they followed
    assert sources == ["setup()", "mine()", source.cells[2].source, "outro()",
                       "print('fake test')"]
    assert "nbgrader" not in nb.cells[4].metadata  # a student's cell is no test


def test_clean_room_keeps_only_the_hidden_tests_of_its_parts():
    nb = nbformat.v4.new_notebook(cells=[
        cell("import numpy as np", "setup"), cell("mine()", "a", solution=True),
        cell("visible_a()\n### BEGIN HIDDEN TESTS\nhidden_a()\n### END HIDDEN TESTS", "ta",
             grade=True),
        cell("visible_b()\n### BEGIN HIDDEN TESTS\nhidden_b()\n### END HIDDEN TESTS", "tb",
             grade=True),
        cell("my_own_cell()", "x")])
    room = execute.clean_room(nb, {"ta"})
    assert [c.source for c in room.cells] == [
        "import numpy as np", "mine()", "hidden_a()\n", "# (not run in this pass)", "my_own_cell()"]
    assert "visible_a" in nb.cells[2].source  # the original is left alone


# --- review, secret, sandbox ------------------------------------------------------------------


def test_review_flags_tampering_but_not_honest_code():
    flags = dict(review.static_flags([
        "import sys\nsys.modules['cnnkit.checks'].check_x = f",
        "get_ipython().input_transformers_post.append(t)",
        "open('../../exercises/source/x.ipynb').read()",
        "checks.check_conv_single = lambda *a: True",
        "import subprocess"]))
    assert set(flags) >= {"touches sys.modules", "registers an input or AST transformer",
                          "reads files outside its folder", "starts processes or sends signals",
                          "patches a module (assigns to a module attribute)"}
    honest = "import numpy as np\nout = np.zeros((3, 3))\nprint(out.sum())\nopen('x.txt')"
    assert review.static_flags([honest]) == []


def test_secret_from_argument_environment_or_a_private_file(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(secret.ENV, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert secret.resolve_secret("given") == "given"
    made = secret.resolve_secret()
    path = tmp_path / "cnnkit" / "grading-secret"
    assert path.read_text().strip() == made and str(path) in capsys.readouterr().err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret.resolve_secret() == made  # stored: the same next time
    monkeypatch.setenv(secret.ENV, "from-env")
    assert secret.resolve_secret() == "from-env"
    assert secret.lesson_seed("a", "01") != secret.lesson_seed("b", "01")
    assert "a" not in secret.lesson_seed("a", "01")[:0]  # a digest, not the secret


def test_missing_bwrap_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, *a, **k: None)
    with pytest.raises(sandbox.SandboxError, match="apt-get install bubblewrap"):
        sandbox.require_bwrap()


@pytest.mark.skipif(not sandbox.shutil.which("bwrap"), reason="bubblewrap (bwrap) is not "
                    "installed: apt-get install bubblewrap")
def test_hidden_packages_cannot_be_imported_in_the_sandbox_by_any_route(tmp_path):
    """The clean room: torch and cnnkit replaced by stubs (cnnkit.grading.probe kept); their
    files are gone from the sandbox, so neither another name nor a file path reaches them."""
    import subprocess

    import torch

    import cnnkit

    stubs = sandbox.write_hiding_stubs(("cnnkit", "torch"), tmp_path / "stubs")
    folder, ipc = tmp_path / "work", tmp_path / "ipc"
    folder.mkdir()
    ipc.mkdir()
    for path in (folder, ipc):
        os.chmod(path, 0o777)
    script = f"""
import importlib, os
for name in ("torch", "torch.nn.functional", "cnnkit.conv", "cnnkit.checks"):
    try:
        importlib.import_module(name)
        print("IMPORTED", name)
    except ImportError as err:
        print("REFUSED", name, "forbids" in str(err))
print("FILES", sorted(os.listdir({os.path.dirname(torch.__file__)!r})),
      sorted(os.listdir({os.path.dirname(cnnkit.__file__)!r})))
from cnnkit.grading.probe import Probe
print("PROBE", Probe("x").part)
"""
    prefix = sandbox.sandbox_prefix(folder, ipc, sandbox.Limits(), sandbox.kernel_env(folder, "0"),
                                    hide=("cnnkit", "torch"), stubs=stubs)
    done = subprocess.run([*prefix, sys.executable, "-c", script], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line for line in lines if line.startswith("REFUSED")] == [
        f"REFUSED {name} True" for name in ("torch", "torch.nn.functional", "cnnkit.conv",
                                            "cnnkit.checks")], done.stdout
    assert "FILES ['__init__.py'] ['__init__.py', 'grading']" in lines, done.stdout
    assert "PROBE x" in lines, done.stdout


_INSIDE = """
import json, os, sys
seen = {"uid": os.geteuid(), "cwd": os.getcwd()}
open("written.txt", "w").write("ok")
try:
    import torch
    seen["torch"] = "imported"
except ImportError as err:
    seen["torch"] = str(err)
try:
    os.listdir(sys.argv[1])
    seen["exercises"] = "listed"
except OSError as err:
    seen["exercises"] = type(err).__name__
print(json.dumps(seen))
"""
_AS_GRADER = """
import subprocess, sys
from pathlib import Path
from cnnkit.grading import sandbox
base, inside, exercises = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
stubs = sandbox.write_hiding_stubs(("torch",), base / "stubs")
folder, ipc = base / "work", base / "ipc"
prefix = sandbox.sandbox_prefix(folder, ipc, sandbox.Limits(), sandbox.kernel_env(folder, "0"),
                                hide=("torch",), stubs=stubs)
done = subprocess.run([*prefix, sys.executable, "-c", inside, exercises], capture_output=True,
                      text=True)
print(done.stdout.strip().splitlines()[-1] if done.returncode == 0 else "FAILED " + done.stderr)
"""


@pytest.mark.skipif(os.geteuid() != 0 or not sandbox.shutil.which("bwrap")
                    or not sandbox.shutil.which("setpriv"),
                    reason="needs root (to become an ordinary user), bwrap and setpriv")
def test_the_sandbox_works_for_a_grader_that_is_not_root():
    """An instructor grading as an ordinary user: bwrap makes its own user namespace; the kernel
    still writes only its folder, cannot read the repository's exercises, and the clean room
    still hides torch."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    tmp_path = Path(tempfile.mkdtemp(prefix="cnnkit-not-root-"))  # pytest's are root's only
    try:
        _grade_as_nobody(tmp_path, subprocess)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _grade_as_nobody(tmp_path, subprocess) -> None:
    exercises = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "exercises"))
    for name in ("work", "ipc"):
        (tmp_path / name).mkdir()
    for path in (tmp_path, *tmp_path.iterdir()):
        os.chmod(path, 0o777)
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
         _AS_GRADER, str(tmp_path), _INSIDE, exercises],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0 and not done.stdout.startswith("FAILED"), done.stdout + done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["uid"] != 0 and seen["cwd"] == str(tmp_path / "work"), seen
    assert (tmp_path / "work" / "written.txt").read_text() == "ok"
    assert "forbids" in seen["torch"], seen
    assert seen["exercises"] in ("FileNotFoundError", "PermissionError"), seen


# --- issue 23: hidden inputs drawn from the secret -----------------------------------------


def reference_hand_in(lesson: str, part: str, seed: str, answer: str | None = None) -> dict:
    """Run a part's answer (default: the reference solution) and hidden tests here, with the
    kernel's seed ``seed``; returns the payload."""
    from cnnkit.grading.feedback import HIDDEN

    path = os.path.join(os.path.dirname(__file__), "..", "exercises", "source", lesson,
                        f"{lesson}.ipynb")
    nb = nbformat.read(path, as_version=4)
    cells = {c.metadata.nbgrader.grade_id: c.source for c in nb.cells}
    scope: dict = {}
    exec(cells["setup"], scope)  # noqa: S102 (instructor code)
    exec(answer or cells[f"{part}_answer"], scope)  # noqa: S102
    hidden = HIDDEN.search(cells[part]).group(1)
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        mp.setenv("CNNKIT_GRADING_SEED", seed)
        exec(hidden, scope)  # noqa: S102
    return json.loads(out.getvalue().strip().splitlines()[-1])[
        "application/vnd.cnnkit.handin+json"]


def test_hard_coded_outputs_of_the_published_inputs_fail_under_another_secret():
    published = reference_hand_in("01_convolution", "conv_single", secret.lesson_seed(
        "published", "01_convolution"))
    replay = [handin.decode(v) for _, v, _ in published["values"]]
    hard_coded = ("_outputs = iter(" + repr([v.tolist() for v in replay]) + ")\n"
                  "def conv2d_single(image, kernel, stride=1, padding=0):\n"
                  "    return np.array(next(_outputs))\n")
    for seed_of, ok in (("published", True), ("the instructor's", False)):
        seed = secret.lesson_seed(seed_of, "01_convolution")
        reference = reference_hand_in("01_convolution", "conv_single", seed)
        got = reference_hand_in("01_convolution", "conv_single", seed, hard_coded)
        assert handin.verdict(got, reference).ok is ok, seed_of
        assert handin.verdict(reference, reference).ok  # the reference: full marks under any


def test_every_hidden_test_hands_in_through_the_probe():
    root = os.path.join(os.path.dirname(__file__), "..", "exercises", "source")
    for lesson in sorted(os.listdir(root)):
        nb = nbformat.read(os.path.join(root, lesson, f"{lesson}.ipynb"), as_version=4)
        for c in nb.cells:
            if c.metadata.nbgrader.get("grade"):
                gid = c.metadata.nbgrader.grade_id
                assert re.search(rf'with Probe\("{gid}"', c.source), (lesson, gid)


# --- issue 23: copies flagged ---------------------------------------------------------------


def test_similarity_flags_copies_and_shared_answers_not_independent_solutions():
    from cnnkit.grading import similarity

    path = os.path.join(os.path.dirname(__file__), "..", "exercises", "source",
                        "01_convolution", "01_convolution.ipynb")
    nb = nbformat.read(path, as_version=4)
    reference = next(c.source for c in nb.cells
                     if c.metadata.nbgrader.grade_id == "conv_layer_answer")
    renamed = (reference.replace("out_h", "rows").replace("out_w", "cols")
               .replace("xp", "padded").replace("window", "patch").replace("out", "result"))
    lines = renamed.split("\n")  # and two statements swapped
    i = next(k for k, line in enumerate(lines) if "rows =" in line)
    lines[i], lines[i + 1] = lines[i + 1], lines[i]
    vectorised = '''def conv2d_layer(x, w, b, stride=1, padding=0):
    from numpy.lib.stride_tricks import sliding_window_view

    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,fcij->nfhw", windows, w) + b[None, :, None, None]'''
    im2col = '''def conv2d_layer(x, w, b, stride=1, padding=0):
    n_img, chans, height, width = x.shape
    n_f, _, k1, k2 = w.shape
    x = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    oh, ow = 1 + (height + 2 * padding - k1) // stride, 1 + (width + 2 * padding - k2) // stride
    cols = np.empty((n_img, oh, ow, chans * k1 * k2))
    for a in range(oh):
        for c in range(ow):
            cols[:, a, c] = x[:, :, a * stride:a * stride + k1, c * stride:c * stride + k2
                              ].reshape(n_img, -1)
    out = np.tensordot(cols, w.reshape(n_f, -1), axes=([3], [1]))
    return out.transpose(0, 3, 1, 2) + b.reshape(1, -1, 1, 1)'''
    answers = {("copier", "01", "p"): reference, ("renamer", "01", "p"): "\n".join(lines),
               ("vec", "01", "p"): vectorised, ("im2col", "01", "p"): im2col,
               ("sharer", "01", "p"): im2col, ("oneliner", "01", "p"): "x = 1"}
    rows = similarity.compare(answers, {("01", "p"): reference})
    flags = {(s, detail.split(": ")[1].split(" (")[0]) for s, _, _, detail
             in similarity.flagged(rows)}
    assert ("copier", "near-copy of the reference solution") in flags
    assert ("renamer", "near-copy of the reference solution") in flags
    assert ("im2col", "answer shared with sharer") in flags
    for independent in ("vec", "im2col"):
        assert (independent, "near-copy of the reference solution") not in flags
    assert ("im2col", "answer shared with vec") not in flags
    assert not [r for r in rows if "oneliner" in r[:4]]  # trivial answers are left out
