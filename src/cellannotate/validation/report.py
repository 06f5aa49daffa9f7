"""``validation.json``: what validation found about a matrix, and the plan of models for it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cellannotate import __version__
from cellannotate.errors import MatrixError
from cellannotate.io.atomic import write_text_atomic
from cellannotate.io.tenx_h5 import TenxMatrix


@dataclass
class ValidationReport:
    """What validation found, and which models will run; written as ``validation.json``.

    ``models`` (registry names, in order) and ``models_left_out`` (name -> reason) are the
    plan of :func:`cellannotate.annotators.plan.plan_models`; ``steps`` are the workflow
    steps the plan needs, so the Nextflow workflow routes samples without deciding anything.
    """

    matrix: str
    layout: str
    software_version: str
    chemistry_description: str
    n_cells: int
    n_features: int
    n_gene_expression_features: int
    feature_types: dict
    nnz: int
    species: str
    species_evidence: dict
    matrix_kind: str
    bin_size_um: int | None
    zero_count_cells: int
    median_counts_per_cell: float
    median_genes_per_cell: float
    counts_are_integers: bool
    warnings: list = field(default_factory=list)
    requested_model: str | None = None
    models: list = field(default_factory=list)
    models_left_out: dict = field(default_factory=dict)
    steps: list = field(default_factory=list)
    cellannotate_version: str = __version__

    def to_dict(self) -> dict:
        return asdict(self)

    def write_json(self, path: Path) -> None:
        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read_json(cls, path: Path) -> "ValidationReport":
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise MatrixError(f"cannot read validation report {path}: {exc}") from None

    def check_matches(self, matrix: TenxMatrix) -> None:
        """Refuse a report made from another matrix (its labels would not fit these cells)."""
        if (self.n_cells, self.nnz) != (matrix.n_cells, matrix.nnz):
            raise MatrixError(
                f"the validation report ({self.n_cells:,} cells, {self.nnz:,} counts) was made from another matrix "
                f"than {matrix.path} ({matrix.n_cells:,} cells, {matrix.nnz:,} counts)"
            )
