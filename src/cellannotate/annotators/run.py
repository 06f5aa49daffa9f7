"""Running one model on one matrix: the checks every model shares, then the model, then its folder.

Kept apart from :mod:`cellannotate.annotators.base` so that declaring a model (and parsing a
command line) imports no numerical library.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping


from cellannotate.annotators.base import UMAP_CELLS, Annotator
from cellannotate.celltypes import EMBEDDING_NAME, CellTypeTable
from cellannotate.errors import ModelError
from cellannotate.io.atomic import output_folder, staging_folder
from cellannotate.io.npy import NpyRows
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.projection import DRAWN_CELLS, umap_2d, umap_enabled, warm_umap
from cellannotate.validation.matrix import check_cells
from cellannotate.validation.report import ValidationReport

log = logging.getLogger(__name__)


def run_model(model: Annotator, matrix_path: Path, report: ValidationReport, inputs: Any, outdir: Path,
              umap_cells: int = UMAP_CELLS.default) -> CellTypeTable:
    """Run ``model`` on the matrix at ``matrix_path`` and write ``outdir/<model.folder>``, whole or not at all.

    The checks that make labels meaningful run here, for every model, whether or not
    validation ran before: cells present, barcodes unique, the report made from this matrix.
    A model with an embedding gets its UMAP here (``umap_cells``: see :data:`UMAP_CELLS`).
    """
    with output_folder(Path(outdir)) as outdir, TenxMatrix(matrix_path) as matrix, \
            staging_folder(outdir, f".{model.folder}-") as scratch:
        check_cells(matrix)
        report.check_matches(matrix)
        warming = warm_umap() if UMAP_CELLS in model.options and umap_enabled() and umap_cells > 0 else None
        table = model.annotate(matrix, report, inputs, scratch)
        for warning in table.info.get("warnings", []):
            log.warning("warning: %s: %s", model.title, warning)
        if EMBEDDING_NAME in table.attachments and umap_enabled() and umap_cells > 0:
            embedding = NpyRows(table.attachments[EMBEDDING_NAME])
            if warming is not None:
                warming.join()
            every = len(embedding) <= umap_cells
            log.info("%s: UMAP of %s", model.title, "every cell" if every else f"the {DRAWN_CELLS:,} cells the report draws")
            table.projection = umap_2d(embedding, umap_cells)
            name = f"UMAP of the {model.title} embedding" + ("" if every else (
                f", the {DRAWN_CELLS:,} cells drawn (--umap-cells: samples up to how many cells get a UMAP of all)"))
            table.info.update(projection_name=name, projection_kind="umap",
                              umap_cells=len(embedding) if every else min(DRAWN_CELLS, len(embedding)))
        table.write(outdir / model.folder)
    return table


def annotate_step(model: Annotator, matrix_path: Path, validation_path: Path, options: Mapping[str, Any],
                  outdir: Path) -> CellTypeTable:
    """One annotation step on its own (a ``bin/`` script, a Nextflow task): the report, the model's
    own check that it can label this sample, its inputs, then :func:`run_model`."""
    report = ValidationReport.read_json(validation_path)
    request = report.requested_model if report.requested_model in model.choices else None
    reason = model.unavailable(report, request)
    if reason:
        raise ModelError(f"{model.title} cannot label this sample: {reason}")
    values = model.option_values(options)
    return run_model(model, matrix_path, report, model.prepare(values), outdir,
                     values.get(UMAP_CELLS.name, UMAP_CELLS.default))
