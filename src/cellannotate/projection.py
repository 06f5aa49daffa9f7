"""A 2-D view of per-cell scores or embeddings for the report's scatter plot."""

from __future__ import annotations

import numpy as np

CHUNK_ROWS = 65_536


def pca_2d(values: np.ndarray) -> np.ndarray:
    """First two principal components of the rows of ``values``.

    Works chunk by chunk, so ``values`` may be a memory-mapped array larger than memory.
    """
    n, d = values.shape
    if n == 0 or d == 0:
        return np.zeros((n, 2), dtype=np.float32)
    total = np.zeros(d)
    gram = np.zeros((d, d))
    for start in range(0, n, CHUNK_ROWS):
        block = np.asarray(values[start:start + CHUNK_ROWS], dtype=np.float64)
        total += block.sum(axis=0)
        gram += block.T @ block
    mean = total / n
    cov = (gram - n * np.outer(mean, mean)) / max(n - 1, 1)
    _, vectors = np.linalg.eigh(cov)
    axes = vectors[:, ::-1][:, :2]
    if axes.shape[1] < 2:
        axes = np.column_stack([axes, np.zeros(d)])
    out = np.empty((n, 2), dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        out[start:start + CHUNK_ROWS] = (np.asarray(values[start:start + CHUNK_ROWS], dtype=np.float64) - mean) @ axes
    return out
