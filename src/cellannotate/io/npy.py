"""Per-cell arrays in ``.npy`` files, written and read a block of rows at a time with plain file I/O.

A million cells' embedding is half a gigabyte. Through a memory map, every page written or read
stays resident, and counts in the process's memory, until the map is closed; through reads and
writes at offsets, only the block at hand does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _header(fh, shape: tuple, dtype: np.dtype) -> None:
    np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                                              "shape": shape})


class RowWriter:
    """Rows ``start:stop`` of an ``(n_rows, d)`` float32 ``.npy``, written as the chunks that hold
    them arrive; the file is made when the first chunk tells its width ``d``."""

    def __init__(self, path: Path, n_rows: int):
        self.path, self.n_rows = Path(path), n_rows
        self._file = None
        self._offset = self._width = 0

    def put(self, start: int, stop: int, rows: np.ndarray) -> None:
        """Write ``rows`` (``(stop - start, d)``) at ``start:stop``."""
        if self._file is None:
            self._width = rows.shape[1]
            self._file = open(self.path, "wb")
            _header(self._file, (self.n_rows, self._width), np.dtype(np.float32))
            self._offset = self._file.tell()
            self._file.truncate(self._offset + self.n_rows * self._width * 4)
        self._file.seek(self._offset + start * self._width * 4)
        self._file.write(np.ascontiguousarray(rows, dtype=np.float32).tobytes())

    def finish(self) -> "NpyRows":
        """Close the file and return it for reading (``(n_rows, 0)`` if no chunk came)."""
        if self._file is None:
            np.save(self.path, np.zeros((self.n_rows, 0), dtype=np.float32))
        else:
            self._file.close()
            self._file = None
        return NpyRows(self.path)


class NpyRows:
    """A 2-D ``.npy`` read by rows: ``rows[a:b]`` or ``rows[sorted indices]`` read just those rows.
    Raises ``ValueError`` for a file that is not a C-ordered 2-D ``.npy`` of its stated size."""

    BLOCK = 65_536

    def __init__(self, path: Path):
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, self.dtype = read(fh)
            self._offset = fh.tell()
        if len(shape) != 2 or fortran or self.dtype.hasobject:
            raise ValueError(f"{self.path.name} is not a C-ordered 2-D array of numbers")
        self.shape = tuple(int(s) for s in shape)
        if self.path.stat().st_size < self._offset + self.shape[0] * self.shape[1] * self.dtype.itemsize:
            raise ValueError(f"{self.path.name} is shorter than its {self.shape} array (truncated?)")

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def ndim(self) -> int:
        return 2

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    def _block(self, start: int, stop: int) -> np.ndarray:
        start, stop = max(0, start), min(self.shape[0], stop)
        count = max(0, stop - start) * self.shape[1]
        with open(self.path, "rb") as fh:
            fh.seek(self._offset + start * self.shape[1] * self.dtype.itemsize)
            return np.fromfile(fh, dtype=self.dtype, count=count).reshape(-1, self.shape[1])

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if step != 1:
                raise IndexError("rows are read in steps of 1")
            return self._block(start, stop)
        rows = np.asarray(key, dtype=np.int64).reshape(-1)
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        for window in np.unique(ordered // self.BLOCK):     # one read per window of rows holding any
            lo, hi = np.searchsorted(ordered, [window * self.BLOCK, (window + 1) * self.BLOCK])
            part = ordered[lo:hi]
            out[order[lo:hi]] = self._block(int(part[0]), int(part[-1]) + 1)[part - part[0]]
        return out
