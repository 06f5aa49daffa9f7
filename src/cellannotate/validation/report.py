"""``validation.json``: what validation found about a matrix, and the plan of models for it."""

from __future__ import annotations

import json
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cellannotate import __version__
from cellannotate.errors import MatrixError
from cellannotate.io.atomic import write_text_atomic
from cellannotate.io.checked import read_json

if TYPE_CHECKING:
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
        """The report as JSON-ready data."""
        return asdict(self)

    def write_json(self, path: Path) -> None:
        """Write ``validation.json`` whole or not at all."""
        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read_json(cls, path: Path) -> "ValidationReport":
        """Read a report; a missing or malformed one (a field of the wrong type included) is one clear error."""
        fields = read_json(Path(path), "validation report", MatrixError, max_bytes=16 << 20)
        hints = typing.get_type_hints(cls)
        unknown = sorted(set(fields) - set(hints))
        wrong = [name for name, value in fields.items() if name in hints and not _fits(value, hints[name])]
        if unknown or wrong:
            raise MatrixError(f"validation report {path} is not one validate_matrix.py wrote: "
                              + ", ".join([f"unknown field {n[:40]}" for n in unknown[:3]]
                                          + [f"{n} has the wrong type" for n in wrong[:3]]))
        try:
            return cls(**fields)
        except TypeError:
            raise MatrixError(f"validation report {path} lacks fields validate_matrix.py writes") from None

    def check_matches(self, matrix: TenxMatrix) -> None:
        """Refuse a report made from another matrix (its labels would not fit these cells)."""
        if (self.n_cells, self.nnz) != (matrix.n_cells, matrix.nnz):
            raise MatrixError(
                f"the validation report ({self.n_cells:,} cells, {self.nnz:,} counts) was made from another matrix "
                f"than {matrix.path} ({matrix.n_cells:,} cells, {matrix.nnz:,} counts)"
            )


def _fits(value, hint) -> bool:
    """Whether a JSON value fits a field's type (``int | None``, ``dict``, ``float``, ...): bool is no number,
    an int is a float, and lists and dicts hold text or numbers only."""
    allowed = typing.get_args(hint) or (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return True
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if kind in (int, str, bool) and type(value) is kind:
            return True
        if kind in (list, dict) and isinstance(value, kind):
            items = value.values() if isinstance(value, dict) else value
            return all(isinstance(v, (str, int, float, bool, type(None), dict)) for v in items)
    return False
