"""One sample through the markers model: its tissue, the neighbourhoods, the scores, the table."""

from __future__ import annotations

from pathlib import Path

from cellannotate.annotators.markers import MarkersInputs
from cellannotate.annotators.markers.database import load_marker_database
from cellannotate.annotators.markers.scoring import annotate_markers, fit_sample
from cellannotate.annotators.markers.tissue import choose_tissue
from cellannotate.celltypes import CellTypeTable
from cellannotate.io.cell_sample import CellSample
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.projection import PCA_SAMPLE_BLOCKS, PCA_SAMPLE_CELLS


def annotate_sample(matrix: TenxMatrix, species: str, inputs: MarkersInputs, folder: str, scratch: Path) -> CellTypeTable:
    """Label every cell with the types of the sample's tissue (and the immune ones), scores weighed
    against each cell's neighbours; the PCA of the counts is attached as the embedding. One sample of
    cells serves the tissue call and the PCA's axes."""
    sample = CellSample(matrix, PCA_SAMPLE_CELLS, PCA_SAMPLE_BLOCKS)
    tissue = choose_tissue(matrix, species, inputs.database, inputs.tissue, inputs.chunk_cells, sample)
    fitted = fit_sample(sample, matrix.gene_expression_columns, pca=True)
    del sample     # a few hundred MB at 50,000 cells: not kept through the scoring pass
    database = load_marker_database(species, inputs.database, tissues=tissue.files())
    database.cell_types = {name: signature for name, signature in database.cell_types.items()
                           if tissue.allows(name, database.origins)}
    # The embedding serves the neighbourhoods, the UMAP and the .h5ad (scores span too few dimensions).
    table = annotate_markers(matrix, species, database, inputs.chunk_cells, folder, inputs.neighbours, fitted, scratch)
    table.info["tissue"] = {"tissue": tissue.tissue, "detected": tissue.detected, "support": tissue.support}
    shown = ", ".join(f"{t} {v:.0%}" for t, v in tissue.support.items())
    if tissue.warning:
        table.info.setdefault("warnings", []).append(tissue.warning)
    report_info = table.info.setdefault("report", {})
    report_info["tissue"] = (f"{tissue.tissue} (detected; cells each organ's own types explain: {shown})"
                             if tissue.detected else f"{tissue.tissue} (as asked)")
    report_info["scores averaged over"] = (f"each cell and its {inputs.neighbours} nearest cells (PCA)"
                                           if inputs.neighbours else "each cell alone")
    return table
