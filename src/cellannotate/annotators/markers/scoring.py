"""The ``markers`` model: offline, marker-based labels for human and mouse cells.

For every cell, on log-normalised counts (``log1p`` of counts per 10,000):

1. each marker gene is scaled by its standard deviation, ``u = x / sd``, clipped at 10, so that
   highly expressed genes do not dominate; the spread is measured on up to 50,000 cells spread
   over the matrix (every cell of a smaller one), which gives it to well under 1% at no pass;
2. a cell type's score is the weighted mean of ``u`` over its positive markers minus the
   weighted contribution of its negative markers (weights from the database, normalised
   by the signature's whole positive weight: a marker missing from the matrix counts as
   unexpressed, so one lucky marker cannot stand in for a whole signature); a cell with
   no marker counts scores 0;
3. the coarse label is the best-scoring top-level type. The cell is ``Unassigned`` when
   that score is below ``MIN_SCORE`` (markers, on average, less than half a standard
   deviation above zero) or the cell has no counts;
4. confidence is the winner's margin relative to its score, ``(best - second) / best``:
   1 when no other type has evidence, 0 for a tie;
5. the fine label is the best-scoring subtype of the coarse winner if it reaches
   ``MIN_SCORE``, else the coarse label.

Before 3, each cell's scores can be weighed half against the mean of its nearest cells' (the
markers annotator does, with 15 neighbours in a PCA of the counts): one cell holds few of its
markers' reads and its neighbourhood many, which is why marker tools label clusters rather
than cells; the cell's own half keeps a rare type with clear markers from being outvoted. On
real cells (``benchmarks/accuracy.py``) this turns most misread single cells right.

Scoring streams the matrix once in chunks of cells, with the PCA's projection in the same pass; the
per-cell scores (``cells x types`` and ``cells x subtypes``, float32) are kept for the smoothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cellannotate.celltypes import EMBEDDING_NAME, UNASSIGNED, CellTypeTable
from cellannotate.errors import ModelError
from cellannotate.annotators.markers.database import MarkerDatabase, Signature, load_marker_database
from cellannotate.io.cell_sample import CellSample
from cellannotate.normalize import LogMoments, log_normalize
from cellannotate.parallel import map_ahead
from cellannotate.projection import (PCA_SAMPLE_BLOCKS, PCA_SAMPLE_CELLS, PcaAxes, fit_pca, nearest_neighbours, pca_2d,
                                     smooth)
from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS, TenxMatrix

log = logging.getLogger(__name__)

MIN_SCORE = 0.5
LOW_MARKERS = 0.25    # under a quarter of the database's genes, the report says what the model could not see
CLIP = 10.0
CHUNK_CELLS_FINE = 65_536


@dataclass
class SignatureMatrix:
    """Signatures as a ``(marker genes, signatures)`` weight matrix over matrix columns."""

    names: list
    kept: list
    columns: np.ndarray
    weights: sp.csc_matrix
    dropped: list


def compile_signatures(signatures: list[Signature], symbol_to_column: dict) -> SignatureMatrix:
    """Map each signature's markers to matrix columns; drop signatures with no positive marker present."""
    kept, dropped, entries = [], [], []
    for index, sig in enumerate(signatures):
        pos = {symbol_to_column[g.upper()]: w for g, w in sig.positive.items() if g.upper() in symbol_to_column}
        neg = {symbol_to_column[g.upper()]: w for g, w in sig.negative.items() if g.upper() in symbol_to_column}
        if not pos:
            dropped.append(sig.name)
            continue
        scale = sum(sig.positive.values())
        column = len(kept)
        kept.append(index)
        entries += [(col, column, w / scale) for col, w in pos.items()]
        entries += [(col, column, -w / scale) for col, w in neg.items()]
    genes = np.array(sorted({e[0] for e in entries}), dtype=np.int64)
    row_of = {g: i for i, g in enumerate(genes)}
    rows = [row_of[e[0]] for e in entries]
    weights = sp.csc_matrix(
        ([e[2] for e in entries], (rows, [e[1] for e in entries])), shape=(len(genes), len(kept))
    )
    return SignatureMatrix([signatures[i].name for i in kept], kept, genes, weights, dropped)


def _symbol_columns(names: np.ndarray) -> dict:
    out: dict = {}
    for i, name in enumerate(names):
        out.setdefault(str(name).upper(), i)
    return out


def _best_two(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, the best column, its score and the second-best score, by blocks of rows (a million
    rows' partial sort at once held half a gigabyte of indices)."""
    n = len(scores)
    best, first, second = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=scores.dtype), np.zeros(n, dtype=scores.dtype)
    if scores.shape[1] == 0:
        return best, first, second
    for start in range(0, n, CHUNK_CELLS_FINE):
        block = scores[start:start + CHUNK_CELLS_FINE]
        rows = np.arange(len(block))
        best[start:start + len(block)] = top = np.argmax(block, axis=1)
        first[start:start + len(block)] = block[rows, top]
        if block.shape[1] > 1:
            rest = block.copy()
            rest[rows, top] = -np.inf
            second[start:start + len(block)] = rest.max(axis=1)
    return best, first, second


@dataclass
class CompiledDatabase:
    """A database compiled against one matrix's gene-expression columns.

    ``markers`` are the matrix columns (within gene expression) of every marker gene;
    ``coarse_rows``/``fine_rows`` index into them for each signature matrix;
    ``parent_of_fine[j]`` is the coarse column of fine signature ``j`` (-1: parent dropped).
    """

    coarse: SignatureMatrix
    fine: SignatureMatrix
    parent_of_fine: np.ndarray
    markers: np.ndarray
    coarse_rows: np.ndarray
    fine_rows: np.ndarray


def compile_database(db: MarkerDatabase, names: np.ndarray) -> CompiledDatabase:
    """Map the database's coarse types and their subtypes to the columns of ``names`` (gene symbols)."""
    symbols = _symbol_columns(names)
    coarse_sigs = list(db.cell_types.values())
    fine_sigs, fine_parent = [], []
    for c, sig in enumerate(coarse_sigs):
        for sub in sig.descendants():
            fine_sigs.append(sub)
            fine_parent.append(c)
    coarse = compile_signatures(coarse_sigs, symbols)
    if not coarse.names:
        raise ModelError(
            f"none of the {len(db.genes())} marker genes of the database appear among the matrix's gene names "
            f"(e.g. {', '.join(map(str, names[:3]))}); the markers model needs gene symbols "
            "of a whole-transcriptome or immune/tissue panel"
        )
    fine = compile_signatures(fine_sigs, symbols)
    coarse_column = {index: column for column, index in enumerate(coarse.kept)}
    parent_of_fine = np.array([coarse_column.get(fine_parent[i], -1) for i in fine.kept], dtype=np.int64)
    markers = np.union1d(coarse.columns, fine.columns)
    return CompiledDatabase(coarse, fine, parent_of_fine, markers,
                            np.searchsorted(markers, coarse.columns), np.searchsorted(markers, fine.columns))


def marker_scale(moments: LogMoments, markers: np.ndarray) -> sp.dia_matrix:
    """``1 / sd`` of each marker gene's log-normalised expression over all cells, as a diagonal."""
    sd = np.sqrt(moments.variance[markers])
    return sp.diags(np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0))


@dataclass
class Scores:
    """Per cell: ``coarse`` ``(n_cells, n_coarse)`` and ``fine`` ``(n_cells, n_fine)`` scores (float32),
    whether the cell has counts, and its PCA coordinates when they were asked for."""

    coarse: np.ndarray
    fine: np.ndarray
    has_counts: np.ndarray
    embedding: np.ndarray | None = None

    def smooth(self, neighbours: np.ndarray) -> None:
        """Weigh every cell's scores half against its nearest neighbours' (see :func:`annotate_markers`),
        one level at a time so that only one level is held twice."""
        self.coarse = smooth(self.coarse, neighbours)
        self.fine = smooth(self.fine, neighbours)


def score_cells(matrix, ge: np.ndarray, compiled: CompiledDatabase, inv_sd, chunk_cells: int,
                pca: PcaAxes | None = None) -> Scores:
    """Every cell's score for each coarse type and each subtype, and its coordinates on ``pca``'s axes
    in the same pass; chunks are normalised and scored on worker threads."""
    n = matrix.n_cells
    scores = Scores(np.zeros((n, len(compiled.coarse.names)), dtype=np.float32),
                    np.zeros((n, len(compiled.fine.names)), dtype=np.float32), np.zeros(n, dtype=bool),
                    None if pca is None else np.empty((n, pca.axes.shape[1]), dtype=np.float32))

    def score(chunk):
        logged = log_normalize(chunk.counts)
        u = sp.csr_matrix(logged[:, compiled.markers] @ inv_sd)
        u.data = np.minimum(u.data, CLIP)
        fine = np.asarray((u[:, compiled.fine_rows] @ compiled.fine.weights).todense()) if compiled.fine.names else None
        return (chunk, np.asarray((u[:, compiled.coarse_rows] @ compiled.coarse.weights).todense()), fine,
                None if pca is None else pca.project(logged))

    for chunk, coarse, fine, coordinates in map_ahead(score, matrix.iter_chunks(chunk_cells, features=ge)):
        rows = slice(chunk.start, chunk.stop)
        scores.has_counts[rows] = np.diff(chunk.counts.indptr) > 0
        scores.coarse[rows] = coarse
        if fine is not None:
            scores.fine[rows] = fine
        if coordinates is not None:
            scores.embedding[rows] = coordinates
    return scores


def best_subtypes(scores: Scores, winner: np.ndarray, parent_of_fine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the best subtype of its winning coarse type (-1 if it has none) and that subtype's score."""
    n = len(winner)
    best, best_score = np.full(n, -1, dtype=np.int64), np.zeros(n)
    if scores.fine.shape[1] == 0:
        return best, best_score
    for start in range(0, n, CHUNK_CELLS_FINE):
        rows = slice(start, start + CHUNK_CELLS_FINE)
        fine = np.where(parent_of_fine[None, :] == winner[rows, None], scores.fine[rows], -np.inf)
        best[rows] = np.argmax(fine, axis=1)
        best_score[rows] = fine[np.arange(len(fine)), best[rows]]
    best[~np.isfinite(best_score)] = -1
    return best, best_score


@dataclass(frozen=True)
class SampleFit:
    """What a sample of cells gives the scoring pass: the genes' spread and, when asked, the PCA's axes."""

    moments: LogMoments
    pca: PcaAxes | None


def fit_sample(sample: CellSample, ge: np.ndarray, pca: bool) -> SampleFit:
    """The genes' spread over ``sample`` (every cell of a matrix smaller than it: up to 50,000 spread over
    a larger one give each gene's spread to well under 1%) and, with ``pca``, the PCA's axes."""
    logged = log_normalize(sample.counts[:, ge])
    moments = LogMoments.of(logged)
    return SampleFit(moments, fit_pca(logged, moments) if pca else None)


def annotate_markers(
    matrix: TenxMatrix,
    species: str,
    database: MarkerDatabase | None = None,
    chunk_cells: int = DEFAULT_CHUNK_CELLS,
    folder: str = "Markers",
    neighbours: int = 0,
    fitted: SampleFit | None = None,
    scratch: Path | None = None,
) -> CellTypeTable:
    """Label every cell of ``matrix`` with the marker database of ``species``.

    ``neighbours`` > 0: each cell's scores count half, the mean of its ``neighbours`` nearest cells'
    (in a PCA of the counts) the other half, before labels are chosen (see the module docstring). With
    ``scratch``, the PCA coordinates are the table's embedding (saved there). One pass over the counts
    (scores and coordinates together) after ``fitted`` (:func:`fit_sample`; made here if not given).
    """
    db = database or load_marker_database(species)
    ge = matrix.gene_expression_columns
    compiled = compile_database(db, matrix.features.names[ge])
    log.info("markers: %d coarse and %d fine cell types scored on %d marker genes",
             len(compiled.coarse.names), len(compiled.fine.names), len(compiled.markers))
    fitted = fitted or fit_sample(CellSample(matrix, PCA_SAMPLE_CELLS, PCA_SAMPLE_BLOCKS), ge,
                                  pca=bool(neighbours) or scratch is not None)
    scores = score_cells(matrix, ge, compiled, marker_scale(fitted.moments, compiled.markers), chunk_cells, fitted.pca)
    embedding = None
    if scratch is not None:     # to disk now: 200 MB a million cells not held through the labelling
        embedding = Path(scratch) / EMBEDDING_NAME
        np.save(embedding, scores.embedding)
    if neighbours:
        log.info("markers: each cell's %d nearest cells", neighbours)
        scores.smooth(nearest_neighbours(scores.embedding, neighbours + 1))
    scores.embedding = None

    best, best_score, second_score = _best_two(scores.coarse)
    assigned = scores.has_counts & (best_score >= MIN_SCORE)
    coarse_label = np.where(assigned, np.array(compiled.coarse.names, dtype=object)[best], UNASSIGNED).astype(object)
    fine_names = np.array(compiled.fine.names + [""], dtype=object)
    fine_best, fine_score = best_subtypes(scores, best, compiled.parent_of_fine)
    use_fine = assigned & (fine_best >= 0) & (fine_score >= MIN_SCORE)
    fine_label = np.where(use_fine, fine_names[fine_best], coarse_label).astype(object)
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = np.where(assigned, (best_score - second_score) / best_score, np.nan)
    in_database = len(db.genes())
    warnings = [] if len(compiled.markers) >= LOW_MARKERS * in_database else [
        f"markers: only {len(compiled.markers):,} of the database's {in_database:,} marker genes are in the matrix "
        f"({len(compiled.markers) / max(in_database, 1):.0%}); {len(compiled.coarse.dropped)} cell types have none "
        "and cannot be called, and the others rest on fewer genes than they were written with"]
    table = CellTypeTable(
        model=folder,
        barcodes=matrix.barcodes,
        broad=coarse_label,
        coarse=coarse_label,
        fine=fine_label,
        confidence=np.clip(confidence, 0.0, 1.0),
        extra={"score": np.round(best_score, 4), "margin": np.round(best_score - second_score, 4)},
        projection=pca_2d(scores.coarse),
        info={
            "model_name": "markers",
            "model_version": "1",
            "species": species,
            "marker_database": db.source,
            "min_score": MIN_SCORE,
            "neighbours": neighbours + 1 if neighbours else 0,
            "marker_genes_found": int(len(compiled.markers)),
            "cell_types_without_markers_in_matrix": compiled.coarse.dropped + compiled.fine.dropped,
            "projection_name": "PCA of marker scores",
            "warnings": warnings,
            "report": {"marker_database": _describe(db.source), "unassigned_below_score": MIN_SCORE},
        },
    )
    if embedding is not None:
        table.attach_embedding(embedding, f"PCA of log-normalised counts (up to 50 components, 2,000 most variable "
                                          f"genes; axes fitted on {min(PCA_SAMPLE_CELLS, matrix.n_cells):,} cells)")
    return table


def _describe(source: dict) -> str:
    if "package" in source:
        added = "; ".join(f"{name}: {', '.join(genes)}" for name, genes in source.get("supplement", {}).items())
        return (f"{source['package']} {source['version']} ({source['license']}): {', '.join(source['files'])}"
                + (f"; negatives added by cellannotate: {added}" if added else ""))
    return f"{source['path']}: {', '.join(source['files'])}"
