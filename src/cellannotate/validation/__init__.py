"""Step 2: is this a usable 10x matrix, and what is it (species, kind, cells)?"""

from cellannotate.validation.matrix import check_cells, matrix_species, validate_matrix
from cellannotate.validation.report import ValidationReport

__all__ = ["ValidationReport", "check_cells", "matrix_species", "validate_matrix"]
