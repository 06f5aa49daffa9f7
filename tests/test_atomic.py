"""Outputs appear whole or not at all."""

import os

import pytest

from cellannotate.atomic import atomic_directory, write_text_atomic


def test_atomic_directory_replaces_previous_folder_whole(tmp_path):
    dest = tmp_path / "outs"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with atomic_directory(dest) as staging:
        (staging / "new.txt").write_text("new")
        assert not (dest / "new.txt").exists()
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outs"]


def test_atomic_directory_failure_keeps_previous_folder(tmp_path):
    dest = tmp_path / "outs"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(dest) as staging:
            (staging / "half.txt").write_text("half")
            raise RuntimeError("injected")
    assert [p.name for p in dest.iterdir()] == ["old.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outs"]


def test_write_text_atomic_sets_mode_and_leaves_no_temp(tmp_path):
    dest = tmp_path / "secret"
    write_text_atomic(dest, "x", mode=0o600)
    assert dest.read_text() == "x"
    assert oct(os.stat(dest).st_mode & 0o777) == oct(0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_plain_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "report.json", "{}")
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / "report.json").st_mode & 0o777) == oct(0o644)
