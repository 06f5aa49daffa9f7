"""2-D views of cells (PCA, UMAP) and a PCA embedding of the counts, all streamed over cells."""

from __future__ import annotations

import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np

CHUNK_ROWS = 65_536


PCA_2D_FIT_ROWS = 100_000


def pca_2d(values: np.ndarray) -> np.ndarray:
    """First two principal components of the rows of ``values``, the axes fitted on at most
    :data:`PCA_2D_FIT_ROWS` rows spread evenly over them (a million rows' covariance costs a core 16 s
    and moves the axes by nothing a plot shows). Chunked: ``values`` may be read from disk (``NpyRows``)."""
    n, d = values.shape
    if n == 0 or d == 0:
        return np.zeros((n, 2), dtype=np.float32)
    fit = np.asarray(values[np.unique(np.linspace(0, n - 1, min(n, PCA_2D_FIT_ROWS)).astype(np.int64))],
                     dtype=np.float64)
    mean = fit.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov(fit - mean, rowvar=False).reshape(d, d) if len(fit) > 1 else np.eye(d))
    axes = vectors[:, ::-1][:, :2]
    if axes.shape[1] < 2:
        axes = np.column_stack([axes, np.zeros(d)])
    out = np.empty((n, 2), dtype=np.float32)
    for start in range(0, n, CHUNK_ROWS):
        out[start:start + CHUNK_ROWS] = (np.asarray(values[start:start + CHUNK_ROWS], dtype=np.float64) - mean) @ axes
    return out


@dataclass(frozen=True)
class PcaAxes:
    """Principal axes of log-normalised counts over the most variable genes (``genes``: positions among
    the gene-expression columns), and the projection of the mean cell (subtracted)."""

    genes: np.ndarray
    axes: np.ndarray
    shift: np.ndarray

    def project(self, logged) -> np.ndarray:
        """``(cells, k)`` float32 coordinates of log-normalised cells (CSR over gene-expression columns)."""
        return (np.asarray(logged[:, self.genes] @ self.axes, dtype=np.float32) - self.shift).astype(np.float32)


GRAM_ROWS = 10_000


def fit_pca(sample_logged, moments, n_components: int = 50, n_genes: int = 2000) -> PcaAxes:
    """The axes of the ``n_genes`` most variable genes (by ``moments``), fitted on the log-normalised
    cells of a sample (CSR over gene-expression columns): the genes' covariance as dense
    float32 products of :data:`GRAM_ROWS` cells (BLAS on every core; scipy's sparse product of the same
    took a core 230 s a million cells)."""
    variance = moments.variance
    genes = np.sort(np.argsort(-variance)[: min(n_genes, int((variance > 0).sum()))])
    m = sample_logged.shape[0]
    k = min(n_components, len(genes), max(m - 1, 1))
    if len(genes) == 0 or m == 0:
        return PcaAxes(genes[:0], np.zeros((0, 1), dtype=np.float32), np.zeros(1, dtype=np.float32))
    x = sample_logged[:, genes]
    gram, total = np.zeros((len(genes), len(genes))), np.zeros(len(genes))
    for start in range(0, m, GRAM_ROWS):
        block = x[start:start + GRAM_ROWS].toarray().astype(np.float32)
        gram += block.T @ block
        total += block.sum(axis=0, dtype=np.float64)
    mean = total / m
    _, vectors = np.linalg.eigh(gram / m - np.outer(mean, mean))
    axes = np.ascontiguousarray(vectors[:, ::-1][:, :k], dtype=np.float32)
    return PcaAxes(genes, axes, (moments.mean[genes] @ axes).astype(np.float32))


PCA_SAMPLE_CELLS = 50_000
PCA_SAMPLE_BLOCKS = 100


def pca_embedding(matrix, ge: np.ndarray, n_components: int = 50, n_genes: int = 2000,
                  chunk_cells: int = 20_000) -> np.ndarray:
    """PCA of log-normalised counts on the most variable genes: ``(n_cells, k)`` float32. The genes and
    axes come from a sample of cells (:func:`fit_pca`), then one pass projects every cell; the markers
    model does the same with the projection riding along its scoring pass."""
    from cellannotate.io.cell_sample import CellSample
    from cellannotate.normalize import LogMoments, log_normalize

    sample = log_normalize(CellSample(matrix, PCA_SAMPLE_CELLS, PCA_SAMPLE_BLOCKS).counts[:, ge])
    pca = fit_pca(sample, LogMoments.of(sample), n_components, n_genes)
    out = np.empty((matrix.n_cells, pca.axes.shape[1]), dtype=np.float32)
    for chunk in matrix.iter_chunks(chunk_cells, features=ge):
        out[chunk.start:chunk.stop] = pca.project(log_normalize(chunk.counts))
    return out


EXACT_NEIGHBOURS_BELOW = 20_000
PARTITION_ROWS = 2_000      # rows per partition of the search above EXACT_NEIGHBOURS_BELOW
KMEANS_SAMPLE = 50_000
KMEANS_ROUNDS = 10


def nearest_neighbours(embedding: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The ``k`` nearest rows of each row of ``embedding`` (Euclidean; the row itself first): ``(n, k)`` int64.

    Exact up to :data:`EXACT_NEIGHBOURS_BELOW` rows. Above, the rows are split into partitions of about
    :data:`PARTITION_ROWS` by k-means (fitted on an evenly spread sample, seeded), and each row's
    neighbours are searched exactly among the rows of its nearest and second-nearest partitions
    (scikit-learn's compiled search, on every core): about 20 s at a million rows of 50 dimensions,
    where an approximate graph (pynndescent) took a minute and half a minute of compiling. Found
    neighbours a row misses are replaced by ones nearly as near (tests/test_umap.py; on real cells,
    docs/accuracy.md).
    """
    x = np.ascontiguousarray(embedding, dtype=np.float32)
    n = len(x)
    k = max(1, min(k, n))
    if n <= EXACT_NEIGHBOURS_BELOW:
        return _search(x, np.arange(n), np.arange(n), k)
    centroids = _kmeans(x[drawn_rows(n, KMEANS_SAMPLE)], max(2, n // PARTITION_ROWS), seed)
    first, second = _two_nearest(x, centroids)
    by_first, by_second = np.argsort(first, kind="stable"), np.argsort(second, kind="stable")
    first_at = np.searchsorted(first[by_first], np.arange(len(centroids) + 1))
    second_at = np.searchsorted(second[by_second], np.arange(len(centroids) + 1))
    out = np.empty((n, k), dtype=np.int64)

    def partition(p: int) -> None:
        queries = by_first[first_at[p]:first_at[p + 1]]
        pool = np.concatenate([queries, by_second[second_at[p]:second_at[p + 1]]])
        if len(pool) < k:      # a near-empty partition: its few rows search every row
            pool = np.arange(n)
        if len(queries):
            out[queries] = _search(x, queries, pool, k)

    for p in range(len(centroids)):      # scikit-learn's search uses every core itself
        partition(p)
    return out


def _search(x: np.ndarray, queries: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    """For each row of ``queries`` (indices into ``x``, each also in ``pool``), itself and then its ``k - 1``
    nearest other rows of ``pool``. scikit-learn's brute-force search keeps a heap per row in compiled
    code on every core: four times numpy's partial sort of whole distance rows."""
    from sklearn.neighbors import NearestNeighbors

    found = NearestNeighbors(n_neighbors=min(k + 1, len(pool)), algorithm="brute").fit(x[pool]).kneighbors(
        x[queries], return_distance=False)
    found = pool[found]
    # Itself first, then the others in order (a row with identical twins may not find itself first).
    others = np.take_along_axis(found, np.argsort(found == queries[:, None], axis=1, kind="stable"), axis=1)
    return np.column_stack([queries, others[:, :k - 1]])


def _two_nearest(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, its nearest and second-nearest centroid."""
    from sklearn.neighbors import NearestNeighbors

    two = NearestNeighbors(n_neighbors=2, algorithm="brute").fit(centroids).kneighbors(x, return_distance=False)
    return two[:, 0], two[:, 1]


def _kmeans(sample: np.ndarray, parts: int, seed: int) -> np.ndarray:
    """``parts`` k-means centroids of ``sample`` (scikit-learn's Lloyd, seeded; a few rounds suffice to
    partition a search)."""
    from sklearn.cluster import KMeans

    parts = min(parts, len(sample))
    return KMeans(parts, init="random", n_init=1, max_iter=KMEANS_ROUNDS, random_state=seed).fit(sample) \
        .cluster_centers_.astype(np.float32)


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
DRAWN_CELLS = 5_000       # the cells the report draws (outputs.report.MAX_POINTS)


def umap_enabled() -> bool:
    """UMAP is on unless ``$CELLANNOTATE_UMAP=0`` (the test suite's switch: compiling it costs ~10 s a process)."""
    return os.environ.get(UMAP_ENV, "1") != "0"


def drawn_rows(n: int, count: int | None = None) -> np.ndarray:
    """The rows a plot of ``count`` (:data:`DRAWN_CELLS`) points draws: spread evenly over all ``n``, as the
    report picks them."""
    count = DRAWN_CELLS if count is None else count
    return np.unique(np.linspace(0, n - 1, min(n, count)).astype(np.int64)) if n else np.zeros(0, np.int64)


def warm_umap() -> threading.Thread:
    """Import umap-learn and compile its numba code on a thread, so that the ~15 s it costs every process
    (umap-learn caches none of its compiled code) overlap the model's own work; join before :func:`umap_2d`."""

    def warm() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            umap_2d(np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32), 64)

    thread = threading.Thread(target=warm, name="umap-warm-up", daemon=True)
    thread.start()
    return thread


def umap_2d(embedding: np.ndarray, cells: int, seed: int = 0) -> np.ndarray:
    """UMAP (umap-learn) of the rows of ``embedding``: ``(n, 2)`` float32, the same for the same input.

    Up to ``cells`` rows every row is embedded; above, only the :data:`DRAWN_CELLS` the report draws,
    and the other rows are NaN (embedding a million cells costs many minutes; placing them into a small
    map costs more than the annotation). The neighbour graph is exact (:func:`nearest_neighbours`)
    and handed to umap-learn, which then compiles no approximate search; 200 epochs, umap-learn's own
    choice above 10,000 rows. Below 10 rows there is no neighbour graph to speak of, and the first two
    principal components are returned instead.
    """
    n = len(embedding)
    if n < 10:
        return pca_2d(embedding)
    import umap

    rows = np.arange(n) if n <= cells else drawn_rows(n)
    x = np.asarray(embedding[rows], dtype=np.float32)
    k = min(15, len(rows) - 1)
    neighbours = nearest_neighbours(x, k)
    distances = np.sqrt(np.maximum(((x[neighbours] - x[:, None, :]) ** 2).sum(axis=2), 0)).astype(np.float32)
    model = umap.UMAP(n_neighbors=k, n_epochs=200, random_state=seed, precomputed_knn=(neighbours, distances, None))
    out = np.full((n, 2), np.nan, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state": chosen, for reproducibility
        out[rows] = model.fit_transform(x)
    return out
