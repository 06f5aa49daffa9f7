"""The offline markers model: curated positive and negative markers, human or mouse, no download."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellannotate.annotators.base import Annotator, ModelOptions
from cellannotate.annotators.markers.database import load_marker_database
from cellannotate.annotators.markers.scoring import annotate_markers
from cellannotate.annotators.markers.tissue import choose_tissue
from cellannotate.celltypes import EMBEDDING_NAME, CellTypeTable
from cellannotate.errors import ModelError
from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS, TenxMatrix
from cellannotate.projection import pca_embedding
from cellannotate.validation.report import ValidationReport


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

    def prepare(self, options: ModelOptions) -> tuple[Path | None, int, str | None]:
        if options.markers_db is not None and not Path(options.markers_db).exists():
            raise ModelError(f"marker database not found: {options.markers_db}")
        return options.markers_db, options.chunk_cells or DEFAULT_CHUNK_CELLS, options.markers_tissue

    def annotate(self, matrix: TenxMatrix, report: ValidationReport, inputs: tuple[Path | None, int, str | None],
                 scratch: Path) -> CellTypeTable:
        path, chunk_cells, tissue_request = inputs
        tissue = choose_tissue(matrix, report.species, path, tissue_request, chunk_cells)
        database = load_marker_database(report.species, path, tissues=tissue.files())
        table = annotate_markers(matrix, report.species, database, chunk_cells, folder=self.folder)
        table.info["tissue"] = {"tissue": tissue.tissue, "detected": tissue.detected, "support": tissue.support}
        shown = ", ".join(f"{t} {v:.0%}" for t, v in tissue.support.items())
        table.info.setdefault("report", {})["tissue"] = (
            f"{tissue.tissue} (detected; cells each tissue's own types explain: {shown})" if tissue.detected
            else f"{tissue.tissue} (as asked)")
        # An embedding for the UMAP and the .h5ad: the scores alone span too few dimensions.
        embedding = Path(scratch) / EMBEDDING_NAME
        np.save(embedding, pca_embedding(matrix, np.flatnonzero(matrix.features.gene_expression), chunk_cells=chunk_cells))
        table.attachments[EMBEDDING_NAME] = embedding
        table.info["embedding"] = "PCA of log-normalised counts (up to 50 components, 2,000 most variable genes)"
        return table
