"""A matrix's gene columns laid out as a model's gene panel (Azimuth's symbols, the distilled
model's Ensembl ids): each model decides which matrix column feeds which panel gene; the
moving of the values is the same for all."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def to_panel(x: sp.csr_matrix, panel_column: np.ndarray, n_panel: int) -> sp.csr_matrix:
    """``x`` (cells, matrix columns) as float32 CSR (cells, ``n_panel``).

    ``panel_column[j]`` is the panel gene that matrix column ``j`` feeds, or -1 for none (each
    panel gene fed by one column at most); panel genes no column feeds stay zero. Each row keeps
    its entries' order.
    """
    columns = panel_column[x.indices]
    keep = columns >= 0
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=x.shape[0]))])
    return sp.csr_matrix((x.data[keep].astype(np.float32), columns[keep], indptr), shape=(x.shape[0], n_panel))
