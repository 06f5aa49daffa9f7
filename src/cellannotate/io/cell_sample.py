"""A spread-out sample of a matrix's cells, held in memory and read like the matrix itself.

What a sample answers well (the sample's tissue, the PCA's axes) is asked of one sample read once,
in evenly spread blocks so that a slide read in order of position is sampled everywhere, instead
of a pass over every cell.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from cellannotate.io.tenx_h5 import CellChunk, TenxMatrix


class CellSample:
    """Up to ``n_cells`` cells of ``matrix`` in ``blocks`` evenly spread runs (every cell of a smaller
    matrix), all columns, as CSR ``counts``."""

    def __init__(self, matrix: TenxMatrix, n_cells: int, blocks: int):
        n_cells = min(n_cells, matrix.n_cells)
        blocks = max(1, min(blocks, n_cells))
        size = max(1, n_cells // blocks)
        starts = np.unique(np.linspace(0, max(matrix.n_cells - size, 0), blocks).astype(int))
        self.counts = sp.vstack([matrix.read_cells(s, min(s + size, matrix.n_cells)) for s in starts]).tocsr() \
            if matrix.n_cells else sp.csr_matrix((0, matrix.n_features))
        self.n_cells = self.counts.shape[0]

    def iter_chunks(self, chunk_cells: int, features=None):
        """The held cells as one chunk, like :meth:`TenxMatrix.iter_chunks`."""
        counts = self.counts if features is None else self.counts[:, features]
        yield CellChunk(0, self.n_cells, counts)
