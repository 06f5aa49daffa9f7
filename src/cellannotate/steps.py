"""Small helpers shared by the step scripts and the local pipeline."""

from __future__ import annotations

from pathlib import Path

from cellannotate.tenx_h5 import TenxMatrix
from cellannotate.validation import ValidationReport, matrix_species


def sample_species(matrix_path: Path, validation_path: Path | None) -> str:
    """The species validation found, or inferred from the features when no report is given."""
    if validation_path is not None:
        return ValidationReport.read_json(validation_path).species
    with TenxMatrix(matrix_path) as matrix:
        return matrix_species(matrix).species
