"""cnnkit._atomic: the one atomic writer (checkpoints, reports, grades, notebooks)."""

import pytest

from cnnkit._atomic import atomic_open, write_atomic


def test_text_bytes_and_function_are_written(tmp_path):
    assert write_atomic(tmp_path / "a.txt", "héllo\n").read_text(encoding="utf-8") == "héllo\n"
    assert write_atomic(tmp_path / "b.bin", b"\x00\x01").read_bytes() == b"\x00\x01"
    write_atomic(tmp_path / "c.bin", lambda f: f.write(b"abc"))
    assert (tmp_path / "c.bin").read_bytes() == b"abc"


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path):
    target = write_atomic(tmp_path / "keep.txt", "old")

    def boom(f):
        f.write(b"half")
        raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError, match="killed halfway"):
        write_atomic(target, boom)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    (tmp_path / ".x.txt.abc123.tmp").write_text("left by a killed run")
    with atomic_open(tmp_path / "x.txt", "w") as f:
        f.write("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(TypeError, match="data must be str, bytes"):
        write_atomic(tmp_path / "x", 3)
    with pytest.raises(ValueError, match="mode must be"):
        with atomic_open(tmp_path / "x", "a"):
            pass
