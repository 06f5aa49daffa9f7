"""Per-cell normalisation shared by the models and differential expression."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class LogMoments:
    """Per column, over ``n`` cells, the sum and sum of squares of :func:`log_normalize`'d counts: the
    PCA's gene spread and the markers' gene scale both come from here."""

    total: np.ndarray
    total_sq: np.ndarray
    n: int

    @classmethod
    def of(cls, logged: sp.csr_matrix) -> "LogMoments":
        """The moments of log-normalised cells (rows)."""
        return cls(np.asarray(logged.sum(axis=0)).ravel(), np.asarray(logged.multiply(logged).sum(axis=0)).ravel(),
                   logged.shape[0])

    @property
    def mean(self) -> np.ndarray:
        return self.total / max(self.n, 1)

    @property
    def variance(self) -> np.ndarray:
        return np.maximum(self.total_sq / max(self.n, 1) - self.mean ** 2, 0.0)
