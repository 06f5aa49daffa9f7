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

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from cellannotate.io.atomic import atomic_path
from cellannotate.celltypes import UNASSIGNED
from cellannotate.normalize import counts_per_10k
from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS, TenxMatrix

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


def differential_expression(
    matrix: TenxMatrix, labels: np.ndarray, chunk_cells: int = DEFAULT_CHUNK_CELLS
) -> DiffExpResult:
    """Test every gene-expression feature for each cell type in ``labels`` (one per cell)."""
    labels = np.asarray(labels).astype(str)
    names, sizes = np.unique(labels[labels != UNASSIGNED], return_counts=True)
    n_labelled = int(sizes.sum())
    tested = [(str(n), int(s)) for n, s in zip(names, sizes) if s >= MIN_CELLS and n_labelled - s >= MIN_CELLS]
    tested.sort(key=lambda ns: (-ns[1], ns[0]))
    code_of = {name: k for k, (name, _) in enumerate(tested)}
    codes = np.array([code_of.get(label, -1) for label in labels])
    ge = matrix.gene_expression_columns
    n_types, n_genes = len(tested), len(ge)

    sum_log = np.zeros((n_types, n_genes))
    sum_sq = np.zeros((n_types, n_genes))
    sum_cp10k = np.zeros((n_types, n_genes))
    for chunk in matrix.iter_chunks(chunk_cells, features=ge):
        chunk_codes = codes[chunk.start : chunk.stop]
        keep = np.flatnonzero(chunk_codes >= 0)
        if not len(keep):
            continue
        groups = sp.csr_matrix(
            (np.ones(len(keep)), (chunk_codes[keep], keep)), shape=(n_types, chunk.stop - chunk.start)
        )
        scaled = counts_per_10k(chunk.counts)
        logged = scaled.copy()
        logged.data = np.log1p(logged.data)
        sum_cp10k += (groups @ scaled).toarray()
        sum_log += (groups @ logged).toarray()
        logged.data **= 2
        sum_sq += (groups @ logged).toarray()

    n_in = np.array([s for _, s in tested], dtype=float)[:, None]
    n_out = n_labelled - n_in
    mean_in, mean_out = sum_log / n_in, (sum_log.sum(0) - sum_log) / n_out
    var_in = np.maximum((sum_sq - n_in * mean_in**2) / (n_in - 1), 0.0)
    var_out = np.maximum(((sum_sq.sum(0) - sum_sq) - n_out * mean_out**2) / (n_out - 1), 0.0)
    p = welch_test(mean_in, var_in, n_in, mean_out, var_out, n_out)
    cp_in, cp_out = sum_cp10k / n_in, (sum_cp10k.sum(0) - sum_cp10k) / n_out
    return DiffExpResult(
        cell_types=[name for name, _ in tested],
        n_cells=n_in.ravel().astype(int),
        feature_ids=matrix.features.ids[ge],
        feature_names=matrix.features.names[ge],
        mean_cp10k=cp_in,
        log2_fold_change=np.log2((cp_in + PSEUDOCOUNT) / (cp_out + PSEUDOCOUNT)),
        p_value=p,
        adjusted_p_value=np.vstack([stats.false_discovery_control(row) for row in p]) if n_types else p,
    )
