"""2-D views of cells (PCA, UMAP) and a PCA embedding of the counts, all streamed over cells."""

from __future__ import annotations

import os
import warnings

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


def pca_embedding(matrix, ge: np.ndarray, n_components: int = 50, n_genes: int = 2000,
                  chunk_cells: int = 20_000) -> np.ndarray:
    """PCA of log-normalised counts on the most variable genes: ``(n_cells, k)`` float32, streamed.

    Three passes over the matrix (gene spread, then the genes' covariance, then the projection),
    so memory is one chunk plus a ``(n_genes, n_genes)`` matrix, whatever the number of cells.
    """
    from cellannotate.normalize import log_moments, log_normalize

    n = matrix.n_cells
    total, total_sq = log_moments(matrix, ge, chunk_cells)
    variance = total_sq / max(n, 1) - (total / max(n, 1)) ** 2
    genes = np.sort(np.argsort(-variance)[: min(n_genes, int((variance > 0).sum()))])
    k = min(n_components, len(genes), max(n - 1, 1))
    if len(genes) == 0:
        return np.zeros((n, 1), dtype=np.float32)
    gram = np.zeros((len(genes), len(genes)))
    for chunk in matrix.iter_chunks(chunk_cells, features=ge):
        x = log_normalize(chunk.counts)[:, genes]
        gram += (x.T @ x).toarray()
    mean = total[genes] / n
    _, vectors = np.linalg.eigh(gram / n - np.outer(mean, mean))
    axes = vectors[:, ::-1][:, :k]
    shift = mean @ axes
    out = np.empty((n, k), dtype=np.float32)
    for chunk in matrix.iter_chunks(chunk_cells, features=ge):
        out[chunk.start:chunk.stop] = np.asarray(log_normalize(chunk.counts)[:, genes] @ axes) - shift
    return out


EXACT_NEIGHBOURS_BELOW = 20_000


def nearest_neighbours(embedding: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The ``k`` nearest rows of each row of ``embedding`` (Euclidean; the row itself first): ``(n, k)`` int64.

    Exact (blocks of distances) up to :data:`EXACT_NEIGHBOURS_BELOW` rows; above, pynndescent's
    approximate graph (umap-learn's own), seeded so that the same input gives the same graph.
    """
    x = np.asarray(embedding, dtype=np.float32)
    n = len(x)
    k = max(1, min(k, n))
    if n <= EXACT_NEIGHBOURS_BELOW:
        out = np.empty((n, k), dtype=np.int64)
        squares = (x * x).sum(axis=1)
        for start in range(0, n, 2048):
            block = slice(start, min(start + 2048, n))
            distance = squares[block, None] + squares[None, :] - 2 * (x[block] @ x.T)
            distance[np.arange(block.stop - start), np.arange(start, block.stop)] = -np.inf
            nearest = np.argpartition(distance, k - 1, axis=1)[:, :k]
            order = np.argsort(np.take_along_axis(distance, nearest, axis=1), axis=1, kind="stable")
            out[block] = np.take_along_axis(nearest, order, axis=1)
        return out
    import pynndescent

    graph = pynndescent.NNDescent(x, n_neighbors=k, random_state=seed).neighbor_graph[0]
    return np.asarray(graph, dtype=np.int64)


def smooth(values: np.ndarray, neighbours: np.ndarray, own_weight: float = 0.5) -> np.ndarray:
    """Each row of ``values`` weighted ``own_weight`` against the mean of its neighbours' rows.

    ``neighbours`` comes from :func:`nearest_neighbours` (the row itself first, then the others).
    """
    out = np.empty(values.shape, dtype=np.float32)
    for start in range(0, len(values), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        others = values[neighbours[rows, 1:]].mean(axis=1) if neighbours.shape[1] > 1 else values[rows]
        out[rows] = own_weight * values[rows] + (1 - own_weight) * others
    return out


UMAP_ENV = "CELLANNOTATE_UMAP"
UMAP_FIT_CELLS = 50_000


def umap_enabled() -> bool:
    """UMAP is on unless ``$CELLANNOTATE_UMAP=0`` (it costs about half a minute of compiling per run)."""
    return os.environ.get(UMAP_ENV, "1") != "0"


def umap_2d(embedding: np.ndarray, seed: int = 0, fit_cells: int = UMAP_FIT_CELLS) -> np.ndarray:
    """UMAP (umap-learn) of the rows of ``embedding``: ``(n, 2)`` float32, the same for the same input.

    Fitted on at most ``fit_cells`` cells spread evenly over the matrix; the others are placed
    into that map (``transform``) chunk by chunk. Below 10 cells there is no neighbour graph to
    speak of, and the first two principal components are returned instead.
    """
    n = len(embedding)
    if n < 10:
        return pca_2d(embedding)
    import umap

    fit = np.unique(np.linspace(0, n - 1, min(n, fit_cells)).astype(np.int64))
    model = umap.UMAP(n_neighbors=min(15, len(fit) - 1), random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state": chosen, for reproducibility
        out = np.empty((n, 2), dtype=np.float32)
        out[fit] = model.fit_transform(np.asarray(embedding[fit], dtype=np.float32))
        rest = np.setdiff1d(np.arange(n), fit)
        for start in range(0, len(rest), CHUNK_ROWS):
            rows = rest[start:start + CHUNK_ROWS]
            out[rows] = model.transform(np.asarray(embedding[rows], dtype=np.float32))
    return out
