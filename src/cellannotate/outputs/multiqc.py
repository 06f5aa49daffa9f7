"""MultiQC custom content for one sample, so a pipeline's MultiQC report compares samples.

Two kinds of files (MultiQC merges files of the same ``id`` across samples): the validation
metrics as a table row, and, per model, the cells of each coarse type as a bar.
"""

from __future__ import annotations

import re
from pathlib import Path

from cellannotate.io.atomic import write_text_atomic
from cellannotate.validation.report import ValidationReport


def _tsv(header: dict, columns: list[str], row: list) -> str:
    lines = [f"# {key}: {value}" for key, value in header.items()]
    lines.append("\t".join(columns))
    lines.append("\t".join(str(v).replace("\t", " ") for v in row))
    return "\n".join(lines) + "\n"


def write_multiqc_content(folder: Path, sample_id: str, validation: ValidationReport, summary: dict) -> list[Path]:
    """Write ``<id>_validation_mqc.tsv`` and ``<id>_<model>_cell_types_mqc.tsv`` into ``folder``."""
    folder = Path(folder)
    written = [folder / f"{sample_id}_validation_mqc.tsv"]
    write_text_atomic(written[0], _tsv(
        {"id": "'cellannotate_validation'", "section_name": "'Matrix validation'",
         "description": "'What validation found in each matrix (cellannotate).'", "plot_type": "'table'"},
        ["Sample", "Cells", "Gene expression features", "Species", "Matrix kind", "Median UMI counts per cell",
         "Warnings"],
        [sample_id, validation.n_cells, validation.n_gene_expression_features, validation.species,
         validation.matrix_kind, round(validation.median_counts_per_cell, 1),
         " | ".join(" ".join(w.split()) for w in summary["warnings"]) or "none"]))
    for model, stats in summary["models"].items():
        slug = re.sub(r"\W+", "_", model).lower()
        path = folder / f"{sample_id}_{slug}_cell_types_mqc.tsv"
        counts = stats["coarse_cell_type_counts"]
        write_text_atomic(path, _tsv(
            {"id": f"'cellannotate_cell_types_{slug}'", "section_name": f"'Cell types: {model}'",
             "description": f"'Cells per coarse cell type, model {model}.'", "plot_type": "'bargraph'",
             "pconfig": f"{{id: 'cellannotate_cell_types_{slug}_plot', title: 'Cell types: {model}', ylab: 'Cells'}}"},
            ["Sample", *counts], [sample_id, *counts.values()]))
        written.append(path)
    return written
