"""Step 6: put every model's results into one ``outs/`` folder, atomically.

The layout is the same whichever models ran::

    outs/
      cell_types/<Model>/cell_types.csv
                         cell_annotation_differential_expression.csv
                         cell_types_loupe.csv
                         cell_annotation_results.json.gz     (10x Cloud only)
      web_summary_cell_types.html
      <id>.h5ad
      summary.json, metrics_summary.csv, validation.json
      cell_annotation_sample_cloupe.cloupe                  (only when one was made)

Everything is written into a staging folder beside ``outs/`` and swapped in at the end:
a failure leaves the previous ``outs/`` as it was, and re-running gives the same files.
"""

from __future__ import annotations

import json
import logging
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from cellannotate import __version__
from cellannotate.annotators import registry
from cellannotate.io.atomic import atomic_directory
from cellannotate.celltypes import CSV_NAME, EMBEDDING_NAME, UNASSIGNED, CellTypeTable, load_rows
from cellannotate.lineage import agreement_table
from cellannotate.io.spaceranger import TissueLayout, read_tissue_layout
from cellannotate.outputs.diffexp import Alongside, DiffExpResult, DiffExpSums
from cellannotate.errors import OutputError
from cellannotate.outputs.h5ad import write_h5ad
from cellannotate.outputs.loupe import LOUPE_CSV, write_loupe_csv
from cellannotate.outputs.multiqc import write_multiqc_content
from cellannotate.parallel import THREADS
from cellannotate.outputs.report import ModelSection, render_report
from cellannotate.sample_id import check_sample_id
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.validation.report import ValidationReport

log = logging.getLogger(__name__)

DE_CSV = "cell_annotation_differential_expression.csv"
REPORT_HTML = "web_summary_cell_types.html"
CLOUPE_OUT = "cell_annotation_sample_cloupe.cloupe"
OUTS_HINT = "choose another --outdir (a Space Ranger run folder keeps its own outs/)"


def _check_barcodes(table: CellTypeTable, matrix: TenxMatrix) -> None:
    if table.n_cells != matrix.n_cells or not np.array_equal(table.barcodes.astype(str), matrix.barcodes.astype(str)):
        raise OutputError(
            f"{table.model} labels do not match the matrix barcodes ({table.n_cells:,} labels for "
            f"{matrix.n_cells:,} cells, or in another order); were they made from this matrix?"
        )


def model_summary(table: CellTypeTable) -> dict:
    """One model's entry in ``summary.json``: cells, labels per level, confidence."""
    conf = table.confidence[np.isfinite(table.confidence)]
    return {
        "cells": table.n_cells,
        "cells_assigned": int(table.assigned.sum()),
        "cells_unassigned": int((~table.assigned).sum()),
        "median_confidence": float(np.median(conf)) if len(conf) else None,
        "coarse_cell_type_counts": table.counts("coarse"),
        "fine_cell_type_counts": table.counts("fine"),
        "info": table.info,
    }


def _metrics_rows(sample_id: str, summary: dict) -> pd.DataFrame:
    rows = []
    for model, s in summary["models"].items():
        rows += [(sample_id, model, "cells", s["cells"]), (sample_id, model, "cells_assigned", s["cells_assigned"]),
                 (sample_id, model, "median_confidence", s["median_confidence"])]
        rows += [(sample_id, model, name, value) for name, value in s["info"].get("metrics", {}).items()]
        rows += [(sample_id, model, f"cells: {label}", n) for label, n in s["coarse_cell_type_counts"].items()]
    return pd.DataFrame(rows, columns=["sample", "model", "metric", "value"], dtype=object)


def _model_outputs(staging: Path, folder: Path, table: CellTypeTable, diffexp: DiffExpResult) -> DiffExpResult:
    """``cell_types/<Model>/``: the labels as the step wrote them, differential expression, the Loupe CSV
    and the model's published raw files."""
    target = staging / "cell_types" / table.model
    target.mkdir(parents=True)
    shutil.copyfile(Path(folder) / CSV_NAME, target / CSV_NAME)
    diffexp.write_csv(target / DE_CSV)
    write_loupe_csv(target / LOUPE_CSV, table)
    model = registry.by_folder(table.model)
    for name in model.publishes if model else ():
        if (Path(folder) / name).exists():
            shutil.copyfile(Path(folder) / name, target / name)
    return diffexp


def _tissue(spaceranger_outs: Path | None, matrix: TenxMatrix, summary: dict) -> TissueLayout | None:
    if spaceranger_outs is None:
        return None
    layout = read_tissue_layout(spaceranger_outs, matrix.barcodes)
    summary["tissue"] = {"spaceranger_outs": str(spaceranger_outs), "cells_without_polygon": layout.cells_without_polygon,
                         "polygons_without_cell": layout.polygons_without_cell}
    if layout.cells_without_polygon:
        summary["warnings"].append(f"{layout.cells_without_polygon:,} cells have no polygon in the Space Ranger "
                                   "segmentation: they have no position in the tissue view or obsm['spatial']")
    return layout


def assemble_outputs(
    sample_id: str,
    matrix_path: Path,
    validation: ValidationReport,
    annotation_dirs: list[Path],
    outs: Path,
    cloupe: Path | None = None,
    spaceranger_outs: Path | None = None,
    multiqc_dir: Path | None = None,
) -> Path:
    """Write ``outs`` from the annotation folders the steps produced; return ``outs``.

    ``spaceranger_outs`` (a Visium HD run's folder) adds where each cell lies: the report's tissue
    view and ``obsm['spatial']``/``uns['spatial']`` in the .h5ad. ``multiqc_dir`` receives
    MultiQC custom content for the sample (outside ``outs``).
    """
    check_sample_id(sample_id)
    if not annotation_dirs:
        raise OutputError("no annotation results to assemble: no model ran")
    tables = [CellTypeTable.read(folder) for folder in annotation_dirs]
    if len({t.model for t in tables}) != len(tables):
        raise OutputError("two annotation folders come from the same model")
    with TenxMatrix(matrix_path) as matrix, atomic_directory(Path(outs), OUTS_HINT) as staging:
        summary = {"sample_id": sample_id, "cellannotate_version": __version__, "models": {},
                   "warnings": validation.warnings + [w for t in tables for w in t.info.get("warnings", [])],
                   "unassigned_label": UNASSIGNED}
        for table in tables:
            _check_barcodes(table, matrix)
        layout = _tissue(spaceranger_outs, matrix, summary)
        summary["models"] = {table.model: model_summary(table) for table in tables}
        # Differential expression rides along the pass that writes the counts into the .h5ad.
        sums = [DiffExpSums(matrix, table.coarse) for table in tables]
        log.info("writing %s.h5ad; differential expression of %s alongside", sample_id,
                 ", ".join(f"{len(s.tested)} {t.model} cell types" for s, t in zip(sums, tables)))
        embeddings = {f"X_{t.model.lower()}_embedding": load_rows(Path(f) / EMBEDDING_NAME, lazy=True)
                      for f, t in zip(annotation_dirs, tables) if (Path(f) / EMBEDDING_NAME).exists()}
        with ThreadPoolExecutor(THREADS) as pool:
            alongside = Alongside(sums, pool)
            write_h5ad(staging / f"{sample_id}.h5ad", sample_id, matrix, tables, validation, embeddings, layout,
                       alongside=alongside)
            alongside.finish()
        sections = [ModelSection(table, _model_outputs(staging, folder, table, de.result()), layout)
                    for folder, table, de in zip(annotation_dirs, tables, sums)]
        if len(tables) > 1:
            summary["agreement"] = [{"models": [a, b], "cells_both_labelled": n, "share_same_lineage": share}
                                    for a, b, n, share in agreement_table(tables)]
        agreement = [(a["models"][0], a["models"][1], a["cells_both_labelled"], a["share_same_lineage"])
                     for a in summary.get("agreement", [])]
        (staging / REPORT_HTML).write_text(render_report(sample_id, validation, sections, summary["warnings"],
                                                         agreement), encoding="utf-8")
        if cloupe is not None:
            shutil.copyfile(cloupe, staging / CLOUPE_OUT)
            summary["cloupe"] = CLOUPE_OUT
        (staging / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        _metrics_rows(sample_id, summary).to_csv(staging / "metrics_summary.csv", index=False)
        validation.write_json(staging / "validation.json")
    if multiqc_dir is not None:
        write_multiqc_content(multiqc_dir, sample_id, validation, summary)
    return Path(outs)
