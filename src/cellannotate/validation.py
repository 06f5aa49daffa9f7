"""Check that a 10x HDF5 matrix can be annotated, and describe it.

One streamed pass over the matrix (bounded memory) checks what the structural checks
of :mod:`cellannotate.tenx_h5` cannot see at open time: duplicate barcodes, feature
indices and values in every chunk, zero-count cells. Anything that makes the file
unusable raises :class:`MatrixError`; anything that only makes results worse (binned
input, spots, few cells) becomes a warning in the report.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cellannotate import __version__
from cellannotate.atomic import write_text_atomic
from cellannotate.barcodes import BINNED, SPOTS, UNKNOWN_KIND, classify_barcodes, find_duplicates, sample_barcodes
from cellannotate.errors import MatrixError
from cellannotate.models import CLOUD_MAX_CELLS, CLOUD_MIN_CELLS
from cellannotate.species import HUMAN, MOUSE, SpeciesCall, infer_species
from cellannotate.tenx_h5 import DEFAULT_CHUNK_CELLS, TenxMatrix



@dataclass
class ValidationReport:
    """What validation found; written as ``validation.json``."""

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
    cloud_eligible: bool
    cloud_ineligible_reason: str | None
    azimuth_eligible: bool
    azimuth_ineligible_reason: str | None
    warnings: list = field(default_factory=list)
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


def matrix_species(matrix: TenxMatrix) -> SpeciesCall:
    """The species of a matrix, from its gene-expression features only."""
    ge = matrix.features.gene_expression
    return infer_species(matrix.features.ids[ge], matrix.features.names[ge], matrix.features.genomes[ge])


def check_cells(matrix: TenxMatrix) -> None:
    """Refuse a matrix without cells or with a barcode twice: no step can label those.

    Every annotation step calls this itself rather than trusting that validation ran.
    """
    if matrix.n_cells == 0:
        raise MatrixError(f"{matrix.path}: the matrix has no cells (barcodes)")
    duplicates = find_duplicates(matrix)
    if duplicates.count:
        raise MatrixError(f"{matrix.path}: {duplicates.count:,} duplicate barcodes (for example "
                          f"{duplicates.example}); barcodes must be unique")


def validate_matrix(path: Path, chunk_cells: int = DEFAULT_CHUNK_CELLS) -> ValidationReport:
    """Validate the matrix at ``path`` in one streamed pass; raise :class:`MatrixError` if unusable."""
    with TenxMatrix(path) as matrix:
        check_cells(matrix)
        if matrix.n_features == 0:
            raise MatrixError(f"{path}: the matrix has no features")
        features = matrix.features
        ge_mask = features.gene_expression
        n_ge = int(ge_mask.sum())
        types = dict(Counter(features.types.tolist()))
        if n_ge == 0:
            raise MatrixError(
                f"{path}: no 'Gene Expression' features (found {', '.join(sorted(types))}); "
                "annotation needs gene expression"
            )
        totals = np.empty(matrix.n_cells, dtype=np.float64)
        genes = np.empty(matrix.n_cells, dtype=np.int32)
        integers = True
        ge_index = np.flatnonzero(ge_mask)
        for chunk in matrix.iter_chunks(chunk_cells, features=None if n_ge == matrix.n_features else ge_index):
            counts = chunk.counts
            totals[chunk.start : chunk.stop] = np.asarray(counts.sum(axis=1)).ravel()
            genes[chunk.start : chunk.stop] = np.diff(counts.indptr)
            if integers and counts.dtype.kind == "f":
                integers = bool(np.all(counts.data == np.round(counts.data)))

        software = str(matrix.attrs.get("software_version", ""))
        chemistry = str(matrix.attrs.get("chemistry_description", ""))
        call = matrix_species(matrix)
        kind, bin_size = classify_barcodes(sample_barcodes(matrix), software, chemistry)
        zero = int((totals == 0).sum())
        report_args = dict(
            matrix=str(path),
            layout=matrix.layout,
            software_version=software,
            chemistry_description=chemistry,
            n_cells=matrix.n_cells,
            n_features=matrix.n_features,
            n_gene_expression_features=n_ge,
            feature_types=types,
            nnz=matrix.nnz,
        )

    warnings = _warnings(kind, bin_size, zero, matrix.n_cells, types, n_ge, call.species, integers)
    cloud_reason = _cloud_reason(call.species, matrix.n_cells)
    azimuth_reason = None if call.species == HUMAN else f"Pan-Human Azimuth is for human samples; this one is {call.species}"
    return ValidationReport(
        **report_args,
        species=call.species,
        species_evidence=call.to_dict(),
        matrix_kind=kind,
        bin_size_um=bin_size,
        zero_count_cells=zero,
        median_counts_per_cell=float(np.median(totals)),
        median_genes_per_cell=float(np.median(genes)),
        counts_are_integers=integers,
        cloud_eligible=cloud_reason is None,
        cloud_ineligible_reason=cloud_reason,
        azimuth_eligible=azimuth_reason is None,
        azimuth_ineligible_reason=azimuth_reason,
        warnings=warnings,
    )


def _cloud_reason(species: str, n_cells: int) -> str | None:
    if species not in (HUMAN, MOUSE):
        return f"10x Cloud models are for human or mouse samples; this one is {species}"
    if n_cells < CLOUD_MIN_CELLS:
        return f"10x Cloud models need at least {CLOUD_MIN_CELLS:,} cells; this matrix has {n_cells:,}"
    if n_cells > CLOUD_MAX_CELLS:
        return f"10x Cloud models accept at most {CLOUD_MAX_CELLS:,} cells; this matrix has {n_cells:,}"
    return None


def _warnings(kind, bin_size, zero, n_cells, types, n_ge, species, integers) -> list[str]:
    out = []
    if kind == BINNED:
        out.append(
            f"binned Visium HD matrix ({bin_size} µm bins): the models were trained on single cells and a bin "
            "mixes parts of several cells, so labels will be unreliable; use the cell-segmented matrix "
            "(segmented_outs/filtered_feature_bc_matrix.h5)"
        )
    elif kind == SPOTS:
        out.append(
            "Visium spot matrix: each spot holds several cells, so a label describes the dominant cell type "
            "of the spot at best"
        )
    elif kind == UNKNOWN_KIND:
        out.append("barcodes match no known 10x pattern (single cell, Visium spots, Visium HD bins or cells)")
    if zero:
        out.append(f"{zero:,} of {n_cells:,} cells have zero gene expression counts; they will be reported as unassigned")
    other = {t: c for t, c in types.items() if t != "Gene Expression"}
    if other:
        listed = ", ".join(f"{c:,} {t}" for t, c in sorted(other.items()))
        out.append(f"features other than Gene Expression are kept out of annotation: {listed}")
    if species == "mixed":
        out.append("features from both human and mouse (barnyard reference): no species-specific model applies")
    elif species == "unknown":
        out.append("species could not be determined from gene ids, genome or symbols")
    if n_cells < CLOUD_MIN_CELLS:
        out.append(f"only {n_cells:,} cells: results on so few cells are of limited use")
    if not integers:
        out.append("counts are not integers: the matrix may already be normalised; models expect raw UMI counts")
    return out
