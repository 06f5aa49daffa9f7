"""The offline markers model: curated positive and negative markers, human or mouse, no download."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellannotate.annotators.base import Annotator, ModelOptions
from cellannotate.annotators.markers.database import load_marker_database
from cellannotate.annotators.markers.scoring import annotate_markers
from cellannotate.annotators.markers.tissue import choose_tissue
from cellannotate.celltypes import EMBEDDING_NAME, CellTypeTable
from cellannotate.errors import ModelError
from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS, TenxMatrix
from cellannotate.projection import nearest_neighbours, pca_embedding
from cellannotate.validation.report import ValidationReport


NEIGHBOURS = 15       # scanpy's and umap-learn's default neighbourhood


@dataclass(frozen=True)
class MarkersInputs:
    database: Path | None
    chunk_cells: int
    tissue: str | None
    neighbours: int


class MarkersAnnotator(Annotator):
    name = "markers"
    folder = "Markers"
    title = "Markers"
    step = "ANNOTATE_MARKERS"
    choices = ("markers",)
    species = ("human", "mouse")
    # Space Ranger serves mouse only from the cloud; this is the local model for a mouse
    # sample when nothing else runs.
    fallback_for = ("mouse",)
    exclusive = True

    def prepare(self, options: ModelOptions) -> MarkersInputs:
        if options.markers_db is not None and not Path(options.markers_db).exists():
            raise ModelError(f"marker database not found: {options.markers_db}")
        neighbours = NEIGHBOURS if options.markers_neighbours is None else options.markers_neighbours
        if neighbours < 0:
            raise ModelError(f"--markers-neighbours must be 0 (each cell alone) or more, not {neighbours}")
        return MarkersInputs(options.markers_db, options.chunk_cells or DEFAULT_CHUNK_CELLS,
                             options.markers_tissue, neighbours)

    def annotate(self, matrix: TenxMatrix, report: ValidationReport, inputs: MarkersInputs,
                 scratch: Path) -> CellTypeTable:
        tissue = choose_tissue(matrix, report.species, inputs.database, inputs.tissue, inputs.chunk_cells)
        database = load_marker_database(report.species, inputs.database, tissues=tissue.files())
        # The embedding serves the neighbourhoods, the UMAP and the .h5ad (scores span too few dimensions).
        ge = np.flatnonzero(matrix.features.gene_expression)
        pcs = pca_embedding(matrix, ge, chunk_cells=inputs.chunk_cells)
        neighbours = nearest_neighbours(pcs, inputs.neighbours + 1) if inputs.neighbours else None
        table = annotate_markers(matrix, report.species, database, inputs.chunk_cells, folder=self.folder,
                                 neighbours=neighbours)
        table.info["tissue"] = {"tissue": tissue.tissue, "detected": tissue.detected, "support": tissue.support}
        shown = ", ".join(f"{t} {v:.0%}" for t, v in tissue.support.items())
        report_info = table.info.setdefault("report", {})
        report_info["tissue"] = (f"{tissue.tissue} (detected; cells each tissue's own types explain: {shown})"
                                 if tissue.detected else f"{tissue.tissue} (as asked)")
        report_info["scores averaged over"] = (f"each cell and its {inputs.neighbours} nearest cells (PCA)"
                                               if inputs.neighbours else "each cell alone")
        embedding = Path(scratch) / EMBEDDING_NAME
        np.save(embedding, pcs)
        table.attachments[EMBEDDING_NAME] = embedding
        table.info["embedding"] = "PCA of log-normalised counts (up to 50 components, 2,000 most variable genes)"
        return table
