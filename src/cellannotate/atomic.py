"""Write files and folders so that they appear whole or not at all.

Everything is first written next to its destination (same filesystem, so the final
``os.replace`` is atomic) and moved into place only once complete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator


def _umask_mode() -> int:
    """The mode a plain ``open()`` would give a new file (``mkstemp`` always uses 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(dest: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; move it onto ``dest`` on success.

    The file gets ``mode``, or the usual umask-based mode. It is created 0600, so a
    secret written with ``mode=0o600`` is never readable by others, even briefly.
    On any exception the temporary file is removed and ``dest`` is left untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _umask_mode() if mode is None else mode)
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_text_atomic(dest: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``dest`` atomically (see :func:`atomic_path`)."""
    with atomic_path(dest, mode=mode) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_directory(dest: Path) -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``dest`` as a whole.

    A previous ``dest`` is kept until the new one is in place, so a failure at any
    point leaves either the old folder or the new one, never a mixture.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not dest.exists():
        os.replace(staging, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
    os.replace(dest, old / dest.name)
    try:
        os.replace(staging, dest)
    except BaseException:
        os.replace(old / dest.name, dest)
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
