"""Differential expression of each detected cell type against all other cells.

Welch's t-test on log-normalised counts (``log1p`` of counts per 10,000), one test per
gene and cell type, Benjamini-Hochberg adjusted within each cell type. The t-test needs
only per-group sums and sums of squares, so the matrix is streamed once in chunks of
cells and memory is ``O(types x genes)``. The log2 fold change compares mean counts per
10,000 with a pseudocount of 1: ``log2((mean_in + 1) / (mean_rest + 1))``.
Cells labelled :data:`~cellannotate.celltypes.UNASSIGNED` take part in no comparison,
and a type needs at least ``MIN_CELLS`` cells (and the rest as many) to be tested.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from cellannotate.io.atomic import atomic_path
from cellannotate.celltypes import UNASSIGNED
from cellannotate.distinct import distinct
from cellannotate.normalize import counts_per_10k
from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS, CellChunk, TenxMatrix
from cellannotate.parallel import THREADS, map_ahead

MIN_CELLS = 2
PSEUDOCOUNT = 1.0


@dataclass
class DiffExpResult:
    """Per cell type (rows) and gene (columns): mean, log2 fold change, p-values."""

    cell_types: list
    n_cells: np.ndarray
    feature_ids: np.ndarray
    feature_names: np.ndarray
    mean_cp10k: np.ndarray
    log2_fold_change: np.ndarray
    p_value: np.ndarray
    adjusted_p_value: np.ndarray

    def frame(self) -> pd.DataFrame:
        """Space Ranger's wide layout: feature columns, then four columns per cell type."""
        columns = {"Feature ID": self.feature_ids, "Feature Name": self.feature_names}
        for k, name in enumerate(self.cell_types):
            columns[f"{name} Mean Counts per 10k"] = np.round(self.mean_cp10k[k], 6)
            columns[f"{name} Log2 fold change"] = np.round(self.log2_fold_change[k], 6)
            columns[f"{name} p value"] = self.p_value[k]
            columns[f"{name} Adjusted p value"] = self.adjusted_p_value[k]
        return pd.DataFrame(columns)

    def write_csv(self, path) -> None:
        """Write the table whole or not at all."""
        with atomic_path(path) as tmp:
            self.frame().to_csv(tmp, index=False, float_format="%.6g")

    def top_genes(self, k: int, n: int = 5) -> list[str]:
        """Names of the ``n`` most up-regulated significant genes of type ``k``."""
        up = (self.log2_fold_change[k] > 0) & (self.adjusted_p_value[k] < 0.05)
        order = np.argsort(-self.log2_fold_change[k])
        return [str(self.feature_names[i]) for i in order if up[i]][:n]


def welch_test(mean1, var1, n1, mean2, var2, n2) -> np.ndarray:
    """Two-sided Welch t-test p-values from group moments (arrays broadcast)."""
    se2 = var1 / n1 + var2 / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (mean1 - mean2) / np.sqrt(se2)
        df = se2**2 / ((var1 / n1) ** 2 / (n1 - 1) + (var2 / n2) ** 2 / (n2 - 1))
        p = 2 * stats.t.sf(np.abs(t), df)
    # No spread in either group: identical means say nothing, different ones separate perfectly.
    p = np.where(se2 > 0, p, np.where(mean1 == mean2, 1.0, 0.0))
    return np.clip(np.nan_to_num(p, nan=1.0), 0.0, 1.0)


class DiffExpSums:
    """The per-type sums one model's test needs, added up chunk by chunk of cells (:meth:`add`), so that
    several models' tests share one pass over the counts; :meth:`result` then tests."""

    def __init__(self, matrix: TenxMatrix, labels: np.ndarray):
        names, codes = distinct(labels)
        sizes = np.bincount(codes, minlength=len(names))
        labelled = names != UNASSIGNED
        self.n_labelled = int(sizes[labelled].sum())
        tested = [(str(n), int(s)) for n, s, keep in zip(names, sizes, labelled)
                  if keep and s >= MIN_CELLS and self.n_labelled - s >= MIN_CELLS]
        self.tested = sorted(tested, key=lambda ns: (-ns[1], ns[0]))
        code_of = {name: k for k, (name, _) in enumerate(self.tested)}
        self.codes = np.array([code_of.get(name, -1) for name in names], dtype=np.int64)[codes]
        self.matrix = matrix
        shape = (len(self.tested), len(matrix.gene_expression_columns))
        self.sum_log, self.sum_sq, self.sum_cp10k = np.zeros(shape), np.zeros(shape), np.zeros(shape)

    def chunk_sums(self, chunk: CellChunk, scaled: sp.csr_matrix, logged: sp.csr_matrix,
                   squared: sp.csr_matrix) -> tuple | None:
        """One chunk's sums per tested type of its counts per 10,000, their log1p and that squared
        (normalised once for every model); ``None`` when it has no cell of a tested type."""
        chunk_codes = self.codes[chunk.start : chunk.stop]
        keep = np.flatnonzero(chunk_codes >= 0)
        if not len(keep):
            return None
        groups = sp.csr_matrix((np.ones(len(keep)), (chunk_codes[keep], keep)),
                               shape=(len(self.tested), chunk.stop - chunk.start))
        return (groups @ scaled).toarray(), (groups @ logged).toarray(), (groups @ squared).toarray()

    def add(self, part: tuple | None) -> None:
        """Add one chunk's sums (:meth:`chunk_sums`)."""
        if part is not None:
            self.sum_cp10k += part[0]
            self.sum_log += part[1]
            self.sum_sq += part[2]

    def result(self) -> DiffExpResult:
        """The tests, from the sums of every cell."""
        ge, n_types = self.matrix.gene_expression_columns, len(self.tested)
        n_in = np.array([s for _, s in self.tested], dtype=float)[:, None]
        n_out = self.n_labelled - n_in
        sum_log, sum_sq, sum_cp10k = self.sum_log, self.sum_sq, self.sum_cp10k
        mean_in, mean_out = sum_log / n_in, (sum_log.sum(0) - sum_log) / n_out
        var_in = np.maximum((sum_sq - n_in * mean_in**2) / (n_in - 1), 0.0)
        var_out = np.maximum(((sum_sq.sum(0) - sum_sq) - n_out * mean_out**2) / (n_out - 1), 0.0)
        p = welch_test(mean_in, var_in, n_in, mean_out, var_out, n_out)
        cp_in, cp_out = sum_cp10k / n_in, (sum_cp10k.sum(0) - sum_cp10k) / n_out
        return DiffExpResult(
            cell_types=[name for name, _ in self.tested],
            n_cells=n_in.ravel().astype(int),
            feature_ids=self.matrix.features.ids[ge],
            feature_names=self.matrix.features.names[ge],
            mean_cp10k=cp_in,
            log2_fold_change=np.log2((cp_in + PSEUDOCOUNT) / (cp_out + PSEUDOCOUNT)),
            p_value=p,
            adjusted_p_value=np.vstack([stats.false_discovery_control(row) for row in p]) if n_types else p,
        )


def chunk_sums(sums: list[DiffExpSums], chunk: CellChunk) -> list:
    """One chunk of gene-expression counts, normalised once, summed for every model (worker-thread work)."""
    scaled = counts_per_10k(chunk.counts)
    logged = scaled.copy()
    logged.data = np.log1p(logged.data)
    squared = logged.copy()
    squared.data **= 2
    return [each.chunk_sums(chunk, scaled, logged, squared) for each in sums]


class Alongside:
    """Several models' sums riding along another pass over the counts (the .h5ad's): each chunk handed
    over is normalised and summed on ``pool`` while the caller goes on, and added in order; at most
    ``ahead`` chunks wait. :meth:`finish` adds the last."""

    def __init__(self, sums: list[DiffExpSums], pool, ahead: int = THREADS):
        self.sums, self.pool, self.ahead = sums, pool, ahead
        self.pending: deque = deque()

    def __call__(self, chunk: CellChunk) -> None:
        self.pending.append(self.pool.submit(chunk_sums, self.sums, chunk))
        while len(self.pending) > self.ahead:
            self._add(self.pending.popleft())

    def _add(self, future) -> None:
        for each, part in zip(self.sums, future.result()):
            each.add(part)

    def finish(self) -> None:
        """Add every chunk still being summed."""
        while self.pending:
            self._add(self.pending.popleft())


def differential_expression(
    matrix: TenxMatrix, labels: np.ndarray, chunk_cells: int = DEFAULT_CHUNK_CELLS
) -> DiffExpResult:
    """Test every gene-expression feature for each cell type in ``labels`` (one per cell), in a pass
    of its own (output assembly rides :class:`Alongside` along the ``.h5ad``'s pass instead)."""
    sums = DiffExpSums(matrix, labels)
    work = functools.partial(chunk_sums, [sums])
    for parts in map_ahead(work, matrix.iter_chunks(chunk_cells, features=matrix.gene_expression_columns)):
        sums.add(parts[0])
    return sums.result()
