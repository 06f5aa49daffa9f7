"""Which tissue's cell types a sample's labels come from.

The marker database has one file per tissue (human: immune, brain, lung; mouse: immune, brain,
liver, lung). Scored all together, a brain's macrophages can win as a lung type and its cells
as hepatocytes. So the markers model labels each sample with one tissue's types plus the
immune ones (immune cells are found in every tissue); ``immune`` alone is blood or lymphoid
tissue. The tissue is given (``--markers-tissue``) or detected: on up to
:data:`SAMPLE_CELLS` cells spread evenly over the matrix, every type is scored; for each
tissue, a cell supports it when, among that tissue's and the immune types, its best is one
of the tissue's own types with a score of at least ``MIN_SCORE``. The tissue with the most
support wins if at least :data:`MIN_SUPPORT` of the cells support it and it clearly beats the
next tissue (:data:`MIN_LEAD` times its support). When no tissue reaches :data:`MIN_SUPPORT`
the sample is taken as immune; when some do but none leads clearly (a tissue the database
lacks, such as placenta, or a mixture), every file is kept (``all``). Both bounds come from real
cells: in 200 tumour-infiltrating T cells (Wu et al. 2020), 5-6% of cells reached a brain or a
lung type by chance, about equally; in a glioma (Tirosh et al. 2016), brain 93% against lung 44%.
``all`` keeps every file, as before.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cellannotate.annotators.markers.database import MarkerDatabase, load_marker_database
from cellannotate.annotators.markers.scoring import MIN_SCORE, compile_database, marker_scale, score_cells
from cellannotate.errors import ModelError
from cellannotate.io.tenx_h5 import CellChunk, TenxMatrix

log = logging.getLogger(__name__)

IMMUNE = "immune"
ALL = "all"
AUTO = "auto"
SAMPLE_CELLS = 20_000
SAMPLE_BLOCKS = 20
MIN_SUPPORT = 0.15
MIN_LEAD = 1.5


@dataclass
class TissueCall:
    tissue: str
    detected: bool
    support: dict = field(default_factory=dict)     # tissue -> fraction of sampled cells

    def files(self) -> list[str] | None:
        """The tissue files to load (``None``: all)."""
        if self.tissue == ALL:
            return None
        return [IMMUNE] if self.tissue == IMMUNE else [IMMUNE, self.tissue]


class CellSample:
    """Evenly spread blocks of a matrix's cells, held in memory, read like the matrix itself."""

    def __init__(self, matrix: TenxMatrix, n_cells: int = SAMPLE_CELLS, blocks: int = SAMPLE_BLOCKS):
        size = max(1, min(n_cells, matrix.n_cells) // blocks)
        starts = np.unique(np.linspace(0, max(matrix.n_cells - size, 0), blocks).astype(int))
        self.counts = sp.vstack([matrix.read_cells(s, min(s + size, matrix.n_cells)) for s in starts]).tocsr()
        self.n_cells = self.counts.shape[0]

    def iter_chunks(self, chunk_cells: int, features=None):
        counts = self.counts if features is None else self.counts[:, features]
        yield CellChunk(0, self.n_cells, counts)


def tissues_in(database: MarkerDatabase) -> list[str]:
    return sorted({t for origin in database.origins.values() for t in origin})


def detect_tissue(matrix: TenxMatrix, database: MarkerDatabase, chunk_cells: int) -> TissueCall:
    """The tissue whose own types best explain a sample of the cells (see the module docstring)."""
    ge = np.flatnonzero(matrix.features.gene_expression)
    sample = CellSample(matrix)
    compiled = compile_database(database, matrix.features.names[ge])
    scores = score_cells(sample, ge, compiled, marker_scale(sample, ge, compiled.markers, chunk_cells), chunk_cells)
    origin = [database.origins.get(name, set()) for name in compiled.coarse.names]
    immune = np.array([IMMUNE in o for o in origin])
    support = {}
    for tissue in tissues_in(database):
        if tissue == IMMUNE:
            continue
        own = np.array([tissue in o and not i for o, i in zip(origin, immune)])
        allowed = own | immune
        if not own.any():
            continue
        restricted = np.where(allowed[None, :], scores.coarse, -np.inf)
        best = np.argmax(restricted, axis=1)
        wins = own[best] & (restricted[np.arange(len(best)), best] >= MIN_SCORE) & scores.has_counts
        support[tissue] = round(float(wins.mean()), 4) if len(wins) else 0.0
    ranked = sorted(support.values(), reverse=True) + [0.0, 0.0]
    if ranked[0] < MIN_SUPPORT:
        tissue = IMMUNE
    elif ranked[0] >= MIN_LEAD * ranked[1]:
        tissue = max(support, key=support.get)
    else:
        tissue = ALL
    log.info("markers: tissue %s (cells a tissue's own types explain: %s)", tissue,
             ", ".join(f"{t} {v:.0%}" for t, v in support.items()) or "none")
    return TissueCall(tissue, True, support)


def choose_tissue(matrix: TenxMatrix, species: str, path: Path | None, request: str | None,
                  chunk_cells: int) -> TissueCall:
    """The tissue to label with: ``request`` (a tissue, ``all``, or ``auto``/``None`` to detect)."""
    request = request or AUTO
    if request == ALL:
        return TissueCall(ALL, False)
    database = load_marker_database(species, path)
    available = tissues_in(database)
    if request == AUTO:
        if IMMUNE not in available or len(available) < 2:
            return TissueCall(ALL, False)
        return detect_tissue(matrix, database, chunk_cells)
    if request not in available:
        raise ModelError(f"--markers-tissue {request}: the {species} marker database has "
                         f"{', '.join(available)} (or use auto or all)")
    return TissueCall(request, False)
