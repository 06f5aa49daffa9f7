"""Check that a 10x HDF5 matrix can be annotated, and describe it.

One streamed pass over the matrix (bounded memory) checks what the structural checks
of :mod:`cellannotate.io.tenx_h5` cannot see at open time: duplicate barcodes, feature
indices and values in every chunk, zero-count cells. Anything that makes the file
unusable raises :class:`MatrixError`; anything that only makes results worse (binned
input, spots, few cells) becomes a warning in the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellannotate.errors import MatrixError
from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS, TenxMatrix
from cellannotate.validation.barcodes import BINNED, SPOTS, UNKNOWN_KIND, classify_barcodes, find_duplicates, sample_barcodes
from cellannotate.validation.report import ValidationReport
from cellannotate.validation.species import SpeciesCall, infer_species

# Below this many cells, labels (and the statistics behind them) are of limited use.
FEW_CELLS = 100


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


def _gene_expression(matrix: TenxMatrix) -> tuple[np.ndarray, dict]:
    """Indices of the gene-expression features ``(n_ge,)`` and the count of each feature type."""
    if matrix.n_features == 0:
        raise MatrixError(f"{matrix.path}: the matrix has no features")
    types = dict(Counter(matrix.features.types.tolist()))
    ge = matrix.gene_expression_columns
    if len(ge) == 0:
        raise MatrixError(
            f"{matrix.path}: no 'Gene Expression' features (found {', '.join(sorted(types))}); "
            "annotation needs gene expression"
        )
    return ge, types


@dataclass
class CellStats:
    """Per-cell totals over gene-expression features: ``counts`` float64 and ``genes`` int32, ``(n_cells,)``."""

    counts: np.ndarray
    genes: np.ndarray
    integers: bool


def cell_stats(matrix: TenxMatrix, ge: np.ndarray, chunk_cells: int = DEFAULT_CHUNK_CELLS) -> CellStats:
    """One streamed pass: counts and detected genes per cell; whether all counts are whole numbers.

    Reading every chunk also checks every feature index and value (see :meth:`TenxMatrix.read_cells`).
    """
    stats = CellStats(np.empty(matrix.n_cells, dtype=np.float64), np.empty(matrix.n_cells, dtype=np.int32), True)
    features = None if len(ge) == matrix.n_features else ge
    for chunk in matrix.iter_chunks(chunk_cells, features=features):
        counts = chunk.counts
        stats.counts[chunk.start : chunk.stop] = np.asarray(counts.sum(axis=1)).ravel()
        stats.genes[chunk.start : chunk.stop] = np.diff(counts.indptr)
        if stats.integers and counts.dtype.kind == "f":
            stats.integers = bool(np.all(counts.data == np.round(counts.data)))
    return stats


def validate_matrix(path: Path, chunk_cells: int = DEFAULT_CHUNK_CELLS) -> ValidationReport:
    """Validate the matrix at ``path`` in one streamed pass; raise :class:`MatrixError` if unusable.

    The report has no plan yet: :func:`cellannotate.annotators.plan.plan_models` adds it.
    """
    with TenxMatrix(path) as matrix:
        check_cells(matrix)
        ge, types = _gene_expression(matrix)
        stats = cell_stats(matrix, ge, chunk_cells)
        software = str(matrix.attrs.get("software_version", ""))
        chemistry = str(matrix.attrs.get("chemistry_description", ""))
        call = matrix_species(matrix)
        kind, bin_size = classify_barcodes(sample_barcodes(matrix), software, chemistry)
        zero = int((stats.counts == 0).sum())
        return ValidationReport(
            matrix=str(path),
            layout=matrix.layout,
            software_version=software,
            chemistry_description=chemistry,
            n_cells=matrix.n_cells,
            n_features=matrix.n_features,
            n_gene_expression_features=len(ge),
            feature_types=types,
            nnz=matrix.nnz,
            species=call.species,
            species_evidence=call.to_dict(),
            matrix_kind=kind,
            bin_size_um=bin_size,
            zero_count_cells=zero,
            median_counts_per_cell=float(np.median(stats.counts)),
            median_genes_per_cell=float(np.median(stats.genes)),
            counts_are_integers=stats.integers,
            warnings=_warnings(kind, bin_size, zero, matrix.n_cells, types, call.species, stats.integers),
        )


def _warnings(kind, bin_size, zero, n_cells, types, species, integers) -> list[str]:
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
    if n_cells < FEW_CELLS:
        out.append(f"only {n_cells:,} cells: results on so few cells are of limited use")
    if not integers:
        out.append("counts are not integers: the matrix may already be normalised; models expect raw UMI counts")
    return out
