"""Which tissue's cell types a sample's labels come from.

The marker database has one file per tissue (human: immune, brain, lung; mouse: immune, brain,
liver, lung). Scored all together, a brain's macrophages win as a lung type and its cells as
hepatocytes. So the markers model labels each sample with one tissue's types plus the immune
ones (immune cells are found in every tissue); ``immune`` alone is blood or lymphoid tissue.
No cell ever gets a type from an organ the sample was not called (or asked) to be, unless
``--markers-tissue all`` is asked for.

The tissue is given (``--markers-tissue``) or detected on a sample of cells (the 50,000 of the PCA)
spread over the matrix: every type competes for every cell, and a cell whose best type (score
at least ``MIN_SCORE``) belongs to one organ only supports that organ. Types that live in every
organ are no evidence for any: immune types and the tissue-resident ones (macrophages, microglia,
Kupffer cells, mast cells, ...: :data:`IMMUNE_LIKE`), and types of several organs or of vessels
and stroma (:data:`NEUTRAL`). An organ is called when at least :data:`MIN_SUPPORT` of the cells
support it and it has :data:`MIN_LEAD` times the next organ's support. Otherwise:

* no organ has the support: ``immune``, or ``undetermined`` with a warning when the matrix
  carries too few organ marker genes (:data:`MIN_ORGAN_MARKERS`) or too few cells are explained
  by any type (:data:`MIN_EXPLAINED`) for the absence of an organ to mean anything;
* several organs have it and none leads: ``undetermined``, with a warning.

``undetermined`` labels with the immune and organ-neutral types only, and the warning asks for
``--markers-tissue``. The thresholds were chosen on real cells (docs/accuracy.md): the authors'
labelled T cells (Wu et al. 2020), glioma (Tirosh et al. 2016) and, as a stress case, a mouse
dentate gyrus (scvelo's test data) with its macrophages multiplied to half the sample; they were
then checked on three PBMC sets, a mouse pancreas (a tissue the database lacks) and a mouse
Visium brain section.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cellannotate.annotators.markers.database import MarkerDatabase, load_marker_database
from cellannotate.annotators.markers.scoring import MIN_SCORE, compile_database, marker_scale, score_cells
from cellannotate.errors import UsageError
from cellannotate.io.cell_sample import CellSample
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.normalize import LogMoments, log_normalize
from cellannotate.organs import IMMUNE_LIKE

log = logging.getLogger(__name__)

IMMUNE = "immune"
ALL = "all"
AUTO = "auto"
UNDETERMINED = "undetermined"
SAMPLE_CELLS = 20_000
SAMPLE_BLOCKS = 20
MIN_SUPPORT = 0.10
MIN_LEAD = 2.0
MIN_ORGAN_MARKERS = 20
MIN_EXPLAINED = 0.2
NEUTRAL = re.compile(r"endotheli|fibro|pericyte|smooth muscle|mesotheli|mural", re.I)


def home_organ(name: str, origins: dict) -> str | None:
    """The organ whose file alone holds type ``name`` (microglia: brain), or ``None`` for a type of the
    immune file or of several organs: a cell may carry it only in a sample of that organ."""
    tissues = origins.get(name, set())
    return next(iter(tissues)) if len(tissues) == 1 and IMMUNE not in tissues else None


def organ_of(name: str, origins: dict) -> str | None:
    """The one organ whose own type ``name`` is; ``None`` for a type of every organ (immune,
    tissue-resident immune, vascular, stromal) or of several."""
    tissues = origins.get(name, set())
    if len(tissues) != 1 or IMMUNE in tissues or IMMUNE_LIKE.search(name) or NEUTRAL.search(name):
        return None
    return next(iter(tissues))


@dataclass
class TissueCall:
    """The tissue a sample is labelled with (an organ, ``immune``, ``all`` or ``undetermined``),
    whether it was detected, each organ's support, and the warning when the call is weak."""

    tissue: str
    detected: bool
    support: dict = field(default_factory=dict)     # organ -> fraction of sampled cells
    warning: str | None = None

    def files(self) -> list[str] | None:
        """The tissue files to load (``None``: all)."""
        if self.tissue in (ALL, UNDETERMINED):
            return None
        return [IMMUNE] if self.tissue == IMMUNE else [IMMUNE, self.tissue]

    def allows(self, name: str, origins: dict) -> bool:
        """Whether a type of the loaded files may label cells (``undetermined``: no type that only one
        organ's file holds, tissue-resident ones such as microglia included)."""
        return self.tissue != UNDETERMINED or home_organ(name, origins) is None


def tissues_in(database: MarkerDatabase) -> list[str]:
    """The tissues whose files the database was loaded from, sorted."""
    return sorted({t for origin in database.origins.values() for t in origin})


def detect_tissue(matrix: TenxMatrix, database: MarkerDatabase, chunk_cells: int,
                  sample: CellSample | None = None) -> TissueCall:
    """The organ whose own types best explain a sample of the cells (see the module docstring)."""
    ge = matrix.gene_expression_columns
    sample = sample or CellSample(matrix, SAMPLE_CELLS, SAMPLE_BLOCKS)
    compiled = compile_database(database, matrix.features.names[ge])
    moments = LogMoments.of(log_normalize(sample.counts[:, ge]))
    scores = score_cells(sample, ge, compiled, marker_scale(moments, compiled.markers), chunk_cells)
    organ = np.array([organ_of(name, database.origins) or "" for name in compiled.coarse.names], dtype=object)
    best = np.argmax(scores.coarse, axis=1) if len(organ) else np.zeros(sample.n_cells, dtype=int)
    explained = scores.has_counts & (scores.coarse[np.arange(sample.n_cells), best] >= MIN_SCORE) \
        if len(organ) else np.zeros(sample.n_cells, dtype=bool)
    organs = [t for t in tissues_in(database) if t != IMMUNE]
    support = {t: round(float((explained & (organ[best] == t)).mean()), 4) if sample.n_cells else 0.0 for t in organs}
    ranked = sorted(support.values(), reverse=True) + [0.0, 0.0]
    shown = ", ".join(f"{t} {v:.0%}" for t, v in support.items()) or "none"
    organ_markers = _organ_marker_genes(database, set(map(str, matrix.features.names[ge])))
    if ranked[0] >= MIN_SUPPORT and ranked[0] >= MIN_LEAD * ranked[1]:
        call = TissueCall(max(support, key=support.get), True, support)
    elif ranked[0] >= MIN_SUPPORT:
        call = TissueCall(UNDETERMINED, True, support, (
            f"markers: no tissue clearly leads (cells each organ's own types explain: {shown}; a call needs "
            f"{MIN_LEAD:g} times the next): labelled with immune and organ-neutral types only (endothelial, "
            "stromal); give --markers-tissue if you know the tissue"))
    elif organ_markers < MIN_ORGAN_MARKERS or explained.mean() < MIN_EXPLAINED:
        call = TissueCall(UNDETERMINED, True, support, (
            f"markers: too little evidence to tell the tissue ({organ_markers} organ marker genes in the matrix, "
            f"{explained.mean():.0%} of sampled cells explained by any type): labelled with immune and "
            "organ-neutral types only, not as any organ; give --markers-tissue if you know the tissue"))
    else:
        call = TissueCall(IMMUNE, True, support)
    log.info("markers: tissue %s (cells an organ's own types explain: %s)", call.tissue, shown)
    return call


def _organ_marker_genes(database: MarkerDatabase, names: set[str]) -> int:
    """How many positive markers of organ-specific types the matrix has."""
    genes = set()
    for name, signature in database.cell_types.items():
        if organ_of(name, database.origins):
            for s in [signature, *signature.descendants()]:
                genes |= set(s.positive)
    return len(genes & names)


def choose_tissue(matrix: TenxMatrix, species: str, path: Path | None, request: str | None,
                  chunk_cells: int, sample: CellSample | None = None) -> TissueCall:
    """The tissue to label with: ``request`` (a tissue, ``all``, or ``auto``/``None`` to detect, on
    ``sample`` or else :data:`SAMPLE_CELLS` cells)."""
    request = request or AUTO
    if request == ALL:
        return TissueCall(ALL, False)
    database = load_marker_database(species, path)
    available = tissues_in(database)
    if request == AUTO:
        if IMMUNE not in available or len(available) < 2:
            return TissueCall(ALL, False)
        return detect_tissue(matrix, database, chunk_cells, sample)
    if request not in available:
        raise UsageError(f"--markers-tissue {request}: the {species} marker database has "
                         f"{', '.join(available)} (or use auto or all)")
    return TissueCall(request, False)
