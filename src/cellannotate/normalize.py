"""Per-cell normalisation shared by the models and differential expression."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

TARGET_SUM = 10_000.0
HEAD_CELLS = 100    # how many cells panhumanpy looks at (its norm_check_batch_size)


def counts_per_10k(counts: sp.csr_matrix) -> sp.csr_matrix:
    """Scale each cell (row) to 10,000 total counts; all-zero cells stay zero. Sparse in, sparse out."""
    counts = sp.csr_matrix(counts, dtype=np.float64)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    scale = np.divide(TARGET_SUM, totals, out=np.zeros_like(totals), where=totals > 0)
    return sp.csr_matrix(sp.diags(scale) @ counts)


def log_normalize(counts: sp.csr_matrix) -> sp.csr_matrix:
    """``log1p`` of :func:`counts_per_10k`, the usual scale for scoring and testing."""
    scaled = counts_per_10k(counts)
    scaled.data = np.log1p(scaled.data)
    return scaled


def holds_counts(counts: sp.csr_matrix) -> bool:
    """panhumanpy's test for raw counts (to be log-normalised): its first 100 cells hold whole numbers."""
    head = counts[:HEAD_CELLS].data
    return bool(np.all(np.floor(head) == head))


def log_moments(matrix, columns: np.ndarray, chunk_cells: int, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One pass over the cells: per column of ``columns`` (or of those, ``keep``), the sum and the sum of
    squares of :func:`log_normalize`'d counts, each cell normalised over all ``columns``. The PCA's gene
    spread and the markers' gene scale both come from here."""
    width = len(columns) if keep is None else len(keep)
    total, total_sq = np.zeros(width), np.zeros(width)
    for chunk in matrix.iter_chunks(chunk_cells, features=columns):
        x = log_normalize(chunk.counts)
        x = x if keep is None else x[:, keep]
        total += np.asarray(x.sum(axis=0)).ravel()
        total_sq += np.asarray(x.multiply(x).sum(axis=0)).ravel()
    return total, total_sq

