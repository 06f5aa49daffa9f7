"""Counting the passes over a matrix's counts: every read of counts goes through ``TenxMatrix.read_cells``.

A pass is the matrix's stored counts read once: a 50,000-cell sample of a million cells is 0.05 of one.
Used by tests/test_passes.py and by the benchmark's child processes (benchmarks/pipeline_bench.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter

from cellannotate.io.tenx_h5 import TenxMatrix


@contextlib.contextmanager
def counting_passes():
    """Within the block, ``counts[path]`` adds up the passes over each matrix read (by its path)."""
    counts: Counter = Counter()
    lock = threading.Lock()
    original = TenxMatrix.read_cells

    def read_cells(self, start, stop, features=None):
        out = original(self, start, stop, features)
        with lock:
            counts[str(self.path)] += (int(self.indptr[stop]) - int(self.indptr[start])) / max(self.nnz, 1)
        return out

    TenxMatrix.read_cells = read_cells
    try:
        yield counts
    finally:
        TenxMatrix.read_cells = original
