"""One sample through the markers model: its tissue, the neighbourhoods, the scores, the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cellannotate.annotators.markers import MarkersInputs
from cellannotate.annotators.markers.database import load_marker_database
from cellannotate.annotators.markers.scoring import annotate_markers
from cellannotate.annotators.markers.tissue import choose_tissue
from cellannotate.celltypes import EMBEDDING_NAME, CellTypeTable
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.projection import nearest_neighbours, pca_embedding


def annotate_sample(matrix: TenxMatrix, species: str, inputs: MarkersInputs, folder: str, scratch: Path) -> CellTypeTable:
    """Label every cell with the types of the sample's tissue (and the immune ones), scores weighed
    against each cell's neighbours; the PCA of the counts is attached as the embedding."""
    tissue = choose_tissue(matrix, species, inputs.database, inputs.tissue, inputs.chunk_cells)
    database = load_marker_database(species, inputs.database, tissues=tissue.files())
    database.cell_types = {name: signature for name, signature in database.cell_types.items()
                           if tissue.allows(name, database.origins)}
    # The embedding serves the neighbourhoods, the UMAP and the .h5ad (scores span too few dimensions).
    pcs = pca_embedding(matrix, matrix.gene_expression_columns, chunk_cells=inputs.chunk_cells)
    neighbours = nearest_neighbours(pcs, inputs.neighbours + 1) if inputs.neighbours else None
    table = annotate_markers(matrix, species, database, inputs.chunk_cells, folder=folder, neighbours=neighbours)
    table.info["tissue"] = {"tissue": tissue.tissue, "detected": tissue.detected, "support": tissue.support}
    shown = ", ".join(f"{t} {v:.0%}" for t, v in tissue.support.items())
    if tissue.warning:
        table.info.setdefault("warnings", []).append(tissue.warning)
    report_info = table.info.setdefault("report", {})
    report_info["tissue"] = (f"{tissue.tissue} (detected; cells each organ's own types explain: {shown})"
                             if tissue.detected else f"{tissue.tissue} (as asked)")
    report_info["scores averaged over"] = (f"each cell and its {inputs.neighbours} nearest cells (PCA)"
                                           if inputs.neighbours else "each cell alone")
    embedding = Path(scratch) / EMBEDDING_NAME
    np.save(embedding, pcs)
    table.attach_embedding(embedding, "PCA of log-normalised counts (up to 50 components, 2,000 most variable genes)")
    return table
