"""Spans of a 1-D gzip-chunked HDF5 dataset, inflated on the calling thread without h5py's lock.

h5py runs every HDF5 call behind one process-wide lock, and HDF5 inflates a chunk inside the call:
however many threads read a 10x matrix through h5py, one core does the inflating. Here the stored
chunks are fetched raw (``read_direct_chunk``: a quick copy under the lock) and inflated with
:mod:`zlib`, which releases the GIL, so threads reading different cells use every core. Only the
filter pipelines 10x and h5py write are read this way (deflate, optionally after byte shuffle);
a dataset with any other filter, or none, or a chunk stored without its filters, is read through
h5py as before, with the same results.
"""

from __future__ import annotations

import zlib

import h5py
import numpy as np


def _pipeline(dataset: h5py.Dataset) -> tuple[int, ...]:
    plist = dataset.id.get_create_plist()
    return tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))


class SpanReader:
    """``reader.read(lo, hi)`` gives ``dataset[lo:hi]`` of a 1-D dataset (``lo < hi``)."""

    def __init__(self, dataset: h5py.Dataset):
        self.dataset = dataset
        pipeline = _pipeline(dataset) if dataset.chunks is not None and dataset.ndim == 1 else ()
        self.direct = dataset.dtype.isnative and pipeline in (
            (h5py.h5z.FILTER_DEFLATE,), (h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE))
        self.shuffled = self.direct and len(pipeline) == 2
        self.chunk = dataset.chunks[0] if self.direct else 0
        self.dtype = dataset.dtype
        self.size = dataset.shape[0] if dataset.ndim == 1 else 0

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Elements ``lo:hi``; a corrupt chunk raises ``OSError`` (as h5py's own read would)."""
        if not self.direct or hi <= lo:
            return self.dataset[lo:hi]
        first, last = lo // self.chunk, (hi - 1) // self.chunk
        values = np.concatenate([self._chunk(k) for k in range(first, last + 1)])   # a writable copy
        offset = lo - first * self.chunk
        return values[offset:offset + hi - lo]

    def _chunk(self, k: int) -> np.ndarray:
        start = k * self.chunk
        try:
            mask, raw = self.dataset.id.read_direct_chunk((start,))
        except (OSError, KeyError, ValueError, RuntimeError):
            mask, raw = -1, b""          # not allocated (fill values) or unreadable: h5py says which
        if mask != 0:                    # a chunk stored without its filters: rare, h5py knows how
            return self.dataset[start:min(start + self.chunk, self.size)]
        try:
            data = zlib.decompress(raw)
        except zlib.error as exc:
            raise OSError(f"chunk at element {start:,} does not inflate ({exc})") from None
        if len(data) != self.chunk * self.dtype.itemsize:
            raise OSError(f"chunk at element {start:,} inflates to {len(data):,} bytes, "
                          f"not {self.chunk * self.dtype.itemsize:,}")
        if self.shuffled:
            data = np.frombuffer(data, np.uint8).reshape(self.dtype.itemsize, self.chunk).T.tobytes()
        return np.frombuffer(data, self.dtype)[:max(0, min(self.chunk, self.size - start))]

