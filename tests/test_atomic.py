"""Outputs appear whole or not at all, replace only what we wrote, and follow the umask."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from cellannotate.io.atomic import (OWNER_MARKER, STAGING_MARKER, atomic_directory, atomic_path, staging_folder,
                                 write_text_atomic)
from cellannotate.errors import OutputError


def write_ours(dest, name="old.txt"):
    with atomic_directory(dest) as staging:
        (staging / name).write_text(name)


def test_atomic_directory_replaces_a_folder_it_wrote_whole(tmp_path):
    dest = tmp_path / "outs"
    write_ours(dest)
    with atomic_directory(dest) as staging:
        (staging / "new.txt").write_text("new")
        assert not (dest / "new.txt").exists()
    assert sorted(p.name for p in dest.iterdir()) == sorted([OWNER_MARKER, "new.txt"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outs"]


def test_atomic_directory_failure_keeps_previous_folder(tmp_path):
    dest = tmp_path / "outs"
    write_ours(dest)
    with pytest.raises(RuntimeError):
        with atomic_directory(dest) as staging:
            (staging / "half.txt").write_text("half")
            raise RuntimeError("injected")
    assert sorted(p.name for p in dest.iterdir()) == sorted([OWNER_MARKER, "old.txt"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outs"]


def test_a_folder_we_did_not_write_is_never_replaced(tmp_path):
    dest = tmp_path / "outs"
    dest.mkdir()
    (dest / "web_summary.html").write_text("Space Ranger's")
    with pytest.raises(OutputError, match="not written by cellannotate.*choose another"):
        with atomic_directory(dest, "choose another --outdir") as staging:
            (staging / "x").write_text("x")
    assert [p.name for p in dest.iterdir()] == ["web_summary.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outs"]


def test_an_empty_folder_may_be_filled(tmp_path):
    (tmp_path / "outs").mkdir()
    write_ours(tmp_path / "outs")
    assert (tmp_path / "outs" / "old.txt").exists()


def test_a_regular_file_in_the_way_of_a_folder_is_refused(tmp_path):
    (tmp_path / "outs").write_text("mine")
    with pytest.raises(OutputError, match="not a folder"):
        write_ours(tmp_path / "outs")
    assert (tmp_path / "outs").read_text() == "mine"


@pytest.mark.parametrize("target", ["/dev/null", "/dev/full"])
def test_a_device_is_never_replaced_by_a_file(target, tmp_path):
    link = tmp_path / "out.json"
    os.symlink(target, link)
    for dest in (target, link):
        with pytest.raises(OutputError, match="not a regular file"):
            write_text_atomic(dest, "{}")
    assert os.path.exists(target) and not os.path.isfile(target)


def test_a_folder_is_not_a_file_destination(tmp_path):
    with pytest.raises(OutputError, match="it is a folder"):
        write_text_atomic(tmp_path, "{}")


def test_write_text_atomic_sets_mode_and_leaves_no_temp(tmp_path):
    dest = tmp_path / "secret"
    write_text_atomic(dest, "x", mode=0o600)
    assert dest.read_text() == "x"
    assert oct(os.stat(dest).st_mode & 0o777) == oct(0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


@pytest.mark.parametrize("umask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775), (0o077, 0o600, 0o700)])
def test_files_and_folders_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "report.json", "{}")
        write_ours(tmp_path / "outs")
    finally:
        os.umask(old)
    assert oct(os.stat(tmp_path / "report.json").st_mode & 0o777) == oct(file_mode)
    assert oct(os.stat(tmp_path / "outs").st_mode & 0o777) == oct(dir_mode)


def test_a_read_only_destination_is_one_output_error(tmp_path):
    with pytest.raises(OutputError, match="cannot"):
        write_text_atomic("/proc/version_cellannotate/x.json", "{}")


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from cellannotate.io.atomic import atomic_directory, atomic_path
    parent = Path(sys.argv[1])
    with atomic_directory(parent / "outs") as staging, atomic_path(parent / "big.h5") as tmp:
        (staging / "half").write_bytes(b"x" * 1000)
        tmp.write_bytes(b"y" * 1000)
        os.kill(os.getpid(), signal.SIGKILL)
""")


def test_what_a_killed_run_left_is_removed_by_the_next_run(tmp_path):
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path)], capture_output=True)
    assert result.returncode == -signal.SIGKILL
    left = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.startswith(".outs.") for n in left) and any(n.startswith(".big.h5.") for n in left)
    write_ours(tmp_path / "outs")
    write_text_atomic(tmp_path / "big.h5", "done")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.h5", "outs"]


def test_a_live_run_staging_and_foreign_look_alikes_are_kept(tmp_path):
    foreign = tmp_path / ".outs.mine.tmp"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("a user's folder that happens to match the pattern")
    with staging_folder(tmp_path, ".outs.", ".tmp") as live:
        write_ours(tmp_path / "outs")
        assert live.is_dir() and (live / STAGING_MARKER).exists()
    assert (foreign / "notes.txt").exists()


def test_atomic_path_replaces_a_regular_file_only_when_complete(tmp_path):
    dest = tmp_path / "a.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("injected")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
