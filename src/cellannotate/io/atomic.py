"""Write files and folders so that they appear whole or not at all, and replace only our own.

Everything is first written next to its destination (same filesystem, so the final
``os.replace`` is atomic) and moved into place only once complete. Three rules keep a
user's data safe:

* a file destination is replaced only if it is a regular file (never a folder, a device
  or a link), and a folder destination only if it is empty or holds :data:`OWNER_MARKER`,
  which every folder written here carries: a Space Ranger ``outs/`` is never replaced;
* everything is staged in a folder beside the destination whose marker file is locked
  (``flock``) by the writing process, so a later run removes what an interrupted run
  left (unlocked, ours by name and marker) and never touches a concurrent run's;
* new files and folders follow the umask, as ``open``/``mkdir`` would (``mkstemp`` and
  ``mkdtemp`` alone would make them private).

Failures of the filesystem (permission, read-only, full disk) become :class:`OutputError`
with one line that names the destination.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from cellannotate.errors import OutputError

OWNER_MARKER = ".cellannotate"
STAGING_MARKER = ".cellannotate-staging"


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode a plain ``mkdir()`` would give a new folder."""
    return 0o777 & ~_umask()


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def output_errors(dest: Path) -> Iterator[None]:
    """Turn a filesystem failure while writing ``dest`` into a one-line :class:`OutputError`."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {_why(exc)}") from None


def ensure_folder(folder: Path, what: str = "output folder") -> Path:
    """Create ``folder`` (and parents) if needed and check that we can write into it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"the {what} {folder} exists and is not a folder") from None
    except OSError as exc:
        raise OutputError(f"cannot create the {what} {folder}: {_why(exc)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"the {what} {folder} is not writable")
    return folder


@contextlib.contextmanager
def output_folder(folder: Path, what: str = "output folder") -> Iterator[Path]:
    """``folder``, created if missing (:func:`ensure_folder`); if it was created here and the
    block fails, it is removed again when empty, so a failed run leaves no trace."""
    folder = Path(folder)
    existed = os.path.isdir(folder)
    ensure_folder(folder, what)
    try:
        yield folder
    except BaseException:
        if not existed:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _lstat(dest: Path) -> os.stat_result | None:
    """``lstat`` of ``dest``, ``None`` when it does not exist."""
    try:
        return os.lstat(dest)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {_why(exc)}") from None


def check_replaceable_file(dest: Path) -> None:
    """Refuse a file destination that is anything but a regular file (or absent)."""
    info = _lstat(dest)
    if info is None:
        return
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"cannot write {dest}: it is a folder; give a file name")
    if not stat.S_ISREG(info.st_mode):
        raise OutputError(f"cannot write {dest}: it exists and is not a regular file (a link or a device); "
                          "it is left as it is")


def check_replaceable_folder(dest: Path, hint: str = "write elsewhere") -> None:
    """Refuse a folder destination that exists and was not written by us (e.g. Space Ranger's ``outs/``)."""
    info = _lstat(dest)
    if info is None:
        return
    if not stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{dest} exists and is not a folder; it is left as it is: {hint}")
    try:
        ours_or_empty = (Path(dest) / OWNER_MARKER).is_file() or not any(os.scandir(dest))
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {_why(exc)}") from None
    if not ours_or_empty:
        raise OutputError(f"{dest} exists and was not written by cellannotate; it is left as it is: {hint}")


def _lock(fd: int) -> bool:
    """Take an exclusive lock without waiting; False when another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _is_stale(lock_file: Path) -> bool:
    """True when ``lock_file`` is ours (same owner) and no live process holds its lock."""
    try:
        if os.lstat(lock_file).st_uid != os.getuid():
            return False
        fd = os.open(lock_file, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        return _lock(fd)
    finally:
        os.close(fd)


def remove_stale(parent: Path, pattern: str) -> list[Path]:
    """Remove what interrupted runs left in ``parent``: our staging folders, unlocked.

    ``pattern`` is a glob of our staging names; a folder must also hold
    :data:`STAGING_MARKER`. Returns what was removed.
    """
    removed = []
    try:
        candidates = sorted(Path(parent).glob(pattern))
    except OSError:
        return removed
    for path in candidates:
        if not path.is_symlink() and path.is_dir() and _is_stale(path / STAGING_MARKER):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def staging_folder(parent: Path, prefix: str, suffix: str = "") -> Iterator[Path]:
    """A scratch folder in ``parent``, locked while in use and removed afterwards.

    An interrupted run leaves it behind unlocked; the next one made with the same
    ``prefix`` and ``suffix`` in ``parent`` clears it first.
    """
    remove_stale(parent, f"{prefix}*{suffix}")
    with output_errors(Path(parent)):
        path = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=parent))
        fd = os.open(path / STAGING_MARKER, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _lock(fd)
        yield path
    finally:
        os.close(fd)
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def atomic_path(dest: Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; move it onto ``dest`` on success.

    The path lies in a locked staging folder beside ``dest`` (see :func:`staging_folder`),
    so an interrupted write is cleared by the next one. The file gets ``mode``, or the
    usual umask-based mode; the staging folder is private, so a secret written with
    ``mode=0o600`` is never readable by others, even briefly. On any exception ``dest``
    is left untouched. ``dest`` may only be absent or a regular file.
    """
    dest = Path(dest)
    check_replaceable_file(dest)
    ensure_folder(dest.parent)
    with staging_folder(dest.parent, f".{dest.name}.", ".tmp") as staging, output_errors(dest):
        tmp_path = staging / dest.name
        yield tmp_path
        os.chmod(tmp_path, file_mode() if mode is None else mode)
        check_replaceable_file(dest)
        os.replace(tmp_path, dest)


def write_text_atomic(dest: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``dest`` atomically (see :func:`atomic_path`)."""
    with atomic_path(dest, mode=mode) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())


@contextlib.contextmanager
def atomic_directory(dest: Path, hint: str = "write elsewhere") -> Iterator[Path]:
    """Yield an empty staging folder; on success it replaces ``dest`` as a whole.

    A previous ``dest`` is kept until the new one is in place, so a failure at any
    point leaves either the old folder or the new one, never a mixture. ``dest`` may only
    be absent, empty, or a folder written here before (it holds :data:`OWNER_MARKER`);
    anything else is refused with ``hint`` (what the user can do instead).
    """
    dest = Path(dest)
    _restore_interrupted(dest)
    check_replaceable_folder(dest, hint)
    ensure_folder(dest.parent)
    remove_stale(dest.parent, f".{dest.name}.*.old")
    with staging_folder(dest.parent, f".{dest.name}.", ".tmp") as staging:
        with output_errors(dest):
            content = staging / dest.name
            content.mkdir(mode=dir_mode())
            os.chmod(content, dir_mode())
            (content / OWNER_MARKER).write_text("written by cellannotate; this folder is replaced whole on re-runs\n")
            yield content
            check_replaceable_folder(dest, hint)
            if not dest.exists():
                os.replace(content, dest)
                return
            if _exchange(content, dest):
                return  # the old folder now lies in the staging folder, which is removed
            with staging_folder(dest.parent, f".{dest.name}.", ".old") as old:
                os.replace(dest, old / dest.name)
                try:
                    os.replace(content, dest)
                except BaseException:
                    os.replace(old / dest.name, dest)
                    raise


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``), so no moment exists
    without ``b``; ``False`` where the system or filesystem cannot, and the caller moves in two steps."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _restore_interrupted(dest: Path) -> None:
    """Put back a ``dest`` that a run killed mid-swap (without the exchange) left only in its ``.old`` folder."""
    if dest.exists() or dest.is_symlink():
        return
    for old in sorted(dest.parent.glob(f".{dest.name}.*.old")):
        kept = old / dest.name
        if kept.is_dir() and not kept.is_symlink() and _is_stale(old / STAGING_MARKER):
            os.replace(kept, dest)
            logging.getLogger(__name__).warning("warning: restored %s, which an interrupted run had moved aside", dest)
            return
