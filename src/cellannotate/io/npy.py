"""A per-cell array written to a ``.npy`` file chunk by chunk, so it never has to fit in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class RowWriter:
    """Rows ``start:stop`` of an ``(n_rows, d)`` float32 ``.npy``, written as the chunks that hold
    them arrive; the file is made when the first chunk tells its width ``d``."""

    def __init__(self, path: Path, n_rows: int):
        self.path, self.n_rows = Path(path), n_rows
        self._array: np.memmap | None = None

    def put(self, start: int, stop: int, rows: np.ndarray) -> None:
        """Write ``rows`` (``(stop - start, d)``) at ``start:stop``."""
        if self._array is None:
            self._array = np.lib.format.open_memmap(self.path, mode="w+", dtype=np.float32,
                                                    shape=(self.n_rows, rows.shape[1]))
        self._array[start:stop] = rows

    def finish(self) -> np.ndarray:
        """Flush to disk and return the array read-only, memory-mapped (``(n_rows, 0)`` if no chunk came)."""
        if self._array is None:
            np.save(self.path, np.zeros((self.n_rows, 0), dtype=np.float32))
        else:
            self._array.flush()
            self._array = None
        return np.load(self.path, mmap_mode="r")
