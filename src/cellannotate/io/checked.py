"""Reading files that a user or a server handed us: bounded, typed, and never quoted back.

Every JSON the tool reads (tokens, Space Ranger's files, reference manifests, the cloud job
cache, ``validation.json``, ``model.json``, cloud answers) and every ``.npz`` goes through here,
so that a hostile or damaged file is one clear error of the caller's kind (:mod:`cellannotate.errors`)
naming the file, never a crash, a hang or a copy of its contents on the terminal:

* only a regular file is read (a FIFO or a device would hang or never end), opened without
  blocking, and at most ``max_bytes`` of it;
* JSON nested deeper than Python's decoder allows is an error, not a ``RecursionError``; the
  value's type is checked against what the caller expects;
* an ``.npz`` member must not declare more bytes than it holds, must not hold objects, and its
  numbers must be finite.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

MiB = 1 << 20
JSON_MAX_BYTES = 64 * MiB
NPZ_MAX_BYTES = 1024 * MiB      # one array of a reference network; actinn-jax's largest is a few MiB


def check_regular(path: Path, what: str, error: type[Exception]) -> None:
    """``error`` unless ``path`` is a regular file we can open (a FIFO would hang a reader, a device never end)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot open {what} {path}: {exc.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise error(f"{what} {path} is not a regular file")
    finally:
        os.close(fd)


def read_regular(path: Path, what: str, error: type[Exception], max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``; else ``error``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise error(f"cannot open {what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what} {path} is not a regular file")
        if info.st_size > max_bytes:
            raise error(f"{what} {path} is {info.st_size:,} bytes, more than the {max_bytes:,} such a file can be")
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise error(f"{what} {path} grew past {max_bytes:,} bytes while being read")
        return data
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def parse_json(data: bytes | str, what: str, error: type[Exception], kind: type | tuple = dict) -> Any:
    """``data`` decoded as JSON of type ``kind``; anything else is ``error`` naming ``what`` only."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        value = json.loads(text)
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise error(f"{what} is JSON nested too deep to be one") from None
    except ValueError:
        raise error(f"{what} is not valid JSON") from None
    if not isinstance(value, kind):
        expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise error(f"{what} holds a JSON {type(value).__name__}, not the {expected} expected")
    return value


def read_json(path: Path, what: str, error: type[Exception], kind: type | tuple = dict,
              max_bytes: int = JSON_MAX_BYTES) -> Any:
    """The JSON value of type ``kind`` in the regular file ``path`` (see the module docstring)."""
    return parse_json(read_regular(path, what, error, max_bytes), f"{what} {path}", error, kind)


def load_npz(path: Path, what: str, error: type[Exception], max_bytes: int = NPZ_MAX_BYTES) -> dict:
    """Every array of the ``.npz`` at ``path``, checked before and after it is read: none may declare
    more than its member holds (the archive's own size fields can lie too) or than ``max_bytes``."""
    import numpy as np

    check_regular(path, what, error)
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not member.filename.endswith(".npy"):
                    continue
                with archive.open(member) as fh:
                    version = np.lib.format.read_magic(fh)
                    header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                              else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = header(fh)
                    if dtype.hasobject:
                        raise error(f"{what} {path} holds Python objects in {member.filename}")
                    declared = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                    if declared > min(member.file_size, max_bytes):
                        raise error(f"{what} {path} is damaged: {member.filename} declares {declared:,} bytes "
                                    f"in {member.file_size:,}")
                with archive.open(member) as fh:
                    array = np.lib.format.read_array(fh, allow_pickle=False)
                if array.dtype.kind in "fc" and not np.isfinite(array).all():
                    raise error(f"{what} {path} is damaged: {member.filename} holds NaN or infinite values")
                arrays[member.filename[:-4]] = array
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError, NotImplementedError) as exc:
        raise error(f"{what} {path} is damaged ({type(exc).__name__}): rebuild or reinstall it") from None
    return arrays
