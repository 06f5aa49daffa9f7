"""Pan-Human Azimuth, run locally: stream the matrix, predict, calibrate, label.

The same steps as panhumanpy 1.0.0 (``AzimuthNN``), chunk by chunk of cells so memory is
bounded by the chunk, and without TensorFlow:

1. normalise: if the first 100 cells hold whole numbers, scale each cell to 10,000 over all
   gene-expression features and take log1p (otherwise the values are taken as normalised);
2. align to the model's 5,055-gene panel by exact symbol (a symbol that occurs twice uses
   its last column, as panhumanpy's lookup does; missing genes are zeros);
3. predict the eight hierarchy heads and the ``dense_3`` embedding (:mod:`keras_archive`);
4. calibrate each head: entropy of the softmax, logits recovered from it, two-parameter
   temperature scaling with the shipped calibrators;
5. label (:mod:`azimuth_labels`) and map the fine label to the Cell Ontology.

``engine="panhumanpy"`` runs panhumanpy itself instead (TensorFlow needed), for reference.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellannotate.annotators.azimuth import ENGINES
from cellannotate.annotators.azimuth.assets import EMBEDDING_LAYER, HEAD_SIZES, PANEL_SIZE, AzimuthAssets, load_assets
from cellannotate.annotators.azimuth.labels import NO_MATCH, OUTPUT_COLUMNS, TIE_COLUMNS, Labeller
from cellannotate.annotators.azimuth.weights import MODEL_VERSION
from cellannotate.celltypes import EMBEDDING_NAME, UNASSIGNED, CellTypeTable
from cellannotate.errors import ModelError
from cellannotate.annotators.azimuth.keras_archive import KerasModel
from cellannotate.panels import to_panel
from cellannotate.parallel import map_ahead, thread_map
from cellannotate.normalize import HEAD_CELLS, holds_counts, log_normalize
from cellannotate.projection import pca_2d
from cellannotate.io.npy import NpyRows, RowWriter
from cellannotate.io.tenx_h5 import TenxMatrix

log = logging.getLogger(__name__)

CHUNK_CELLS = 8192                 # panhumanpy's evaluation batch size
AHEAD = 2                          # chunks predicted by worker threads while one is labelled
LOW_OVERLAP = 0.5     # under half its panel, the report says what the model could not see


def load_model(path: Path) -> KerasModel:
    """The inference model, checked against the v1 signature."""
    model = KerasModel.load(path)
    if model.input_size() != PANEL_SIZE:
        raise ModelError(f"Azimuth model {path} takes {model.input_size()} genes; the v1 panel has {PANEL_SIZE}")
    if tuple(model.output_sizes()) != HEAD_SIZES:
        raise ModelError(f"Azimuth model {path} has heads of sizes {model.output_sizes()}, not the v1 {list(HEAD_SIZES)}")
    if EMBEDDING_LAYER not in model.layers:
        raise ModelError(f"Azimuth model {path} has no {EMBEDDING_LAYER} embedding layer")
    return model


class PanelAligner:
    """Normalise CSR counts and lay them out as the model input: CSR ``(cells, 5055)`` float32."""

    def __init__(self, symbols: np.ndarray, panel: list):
        position = {gene: i for i, gene in enumerate(panel)}
        last = {symbol: column for column, symbol in enumerate(symbols.astype(str))}
        self.to_panel = np.full(len(symbols), -1, dtype=np.int64)
        for symbol, column in last.items():
            if symbol in position:
                self.to_panel[column] = position[symbol]
        self.n_panel = len(panel)
        self.overlap = len(set(last) & set(position)) / len(panel)
        self.normalise: bool | None = None

    def __call__(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        if self.normalise is None:
            self.normalise = holds_counts(counts)
        x = log_normalize(counts) if self.normalise else sp.csr_matrix(counts, dtype=np.float64)
        return to_panel(x, self.to_panel, self.n_panel)


def calibrate(probabilities: np.ndarray, calibrator: KerasModel) -> np.ndarray:
    """panhumanpy's entropy-informed temperature scaling of one head's softmax (same operations in the
    same order, computed in place where panhumanpy makes temporaries)."""
    clipped = np.clip(probabilities, np.float32(1e-8), np.float32(1.0))
    logs = np.log(clipped)
    entropy = -np.sum(np.multiply(clipped, logs, out=clipped), axis=1).reshape(-1, 1)
    logs -= logs.mean(axis=1, keepdims=True)
    return calibrator.predict(logs, entropy)[0]


@dataclass
class ChunkPrediction:
    """The network's answer for cells ``start:stop``: embedding ``(n, d)``, predicted class per level
    ``(n, 8)``, calibrated probabilities per level ``(n, k_level)`` and their maxima ``(n, 8)``."""

    start: int
    stop: int
    embedding: np.ndarray
    classes: np.ndarray
    calibrated: list
    top: np.ndarray


def predict_chunk(model: KerasModel, assets: AzimuthAssets, aligner: PanelAligner, chunk) -> ChunkPrediction:
    """Run one chunk of cells through the network and calibrate every head (worker-thread work)."""
    *heads, embedded = model.predict(aligner(chunk.counts), want=(EMBEDDING_LAYER,))
    classes = np.column_stack([np.argmax(h, axis=1) for h in heads])
    calibrated = thread_map(lambda pair: calibrate(*pair), zip(heads, assets.calibrators))
    top = np.column_stack([c.max(axis=1) for c in calibrated])
    return ChunkPrediction(chunk.start, chunk.stop, embedded, classes, calibrated, top)


def run_numpy(matrix: TenxMatrix, model_path: Path, embedding_path: Path, chunk_cells: int = CHUNK_CELLS) -> dict:
    """Label every cell; the embedding goes to ``embedding_path`` (.npy) as it is computed."""
    assets = load_assets()
    model = load_model(model_path)
    ge = matrix.gene_expression_columns
    aligner = _aligner(matrix.features.names[ge], assets)
    # panhumanpy decides on the first cells of the matrix, once (every chunk is then treated alike).
    aligner.normalise = holds_counts(matrix.read_cells(0, min(matrix.n_cells, HEAD_CELLS), ge))
    labeller = Labeller(assets)
    columns = {name: [] for name in OUTPUT_COLUMNS + TIE_COLUMNS}
    embedding = RowWriter(embedding_path, matrix.n_cells)
    # The next AHEAD chunks are predicted by worker threads while one is labelled (numpy and BLAS
    # release the GIL); at most AHEAD + 1 chunks are in memory at once.
    predict = functools.partial(predict_chunk, model, assets, aligner)
    for p in map_ahead(predict, matrix.iter_chunks(chunk_cells, features=ge), AHEAD):
        embedding.put(p.start, p.stop, p.embedding)
        for name, values in labeller.label(p.classes, p.calibrated, p.top).items():
            columns[name].append(values)
    embedding.finish()
    out = {name: np.concatenate(parts) for name, parts in columns.items()}
    out["normalised_here"] = aligner.normalise
    return out


def _aligner(symbols: np.ndarray, assets: AzimuthAssets) -> PanelAligner:
    aligner = PanelAligner(symbols, assets.panel)
    log.info("Azimuth: %d of %d panel genes in the matrix (%.0f%%)",
             round(aligner.overlap * PANEL_SIZE), PANEL_SIZE, 100 * aligner.overlap)
    return aligner


def overlap_warning(overlap: float) -> list[str]:
    """The report's warning when the matrix holds under :data:`LOW_OVERLAP` of the panel (else none)."""
    if overlap >= LOW_OVERLAP:
        return []
    return [f"Pan-Human Azimuth saw only {round(overlap * PANEL_SIZE):,} of its {PANEL_SIZE:,} panel genes "
            f"({overlap:.0%}, matched by symbol): the missing ones count as zero, so its labels are less reliable "
            "than on a whole-transcriptome matrix"]


def ontology_columns(fine: np.ndarray, assets: AzimuthAssets) -> dict:
    """Cell Ontology label and id of each fine label ('unmapped' where the map has none)."""
    labels = pd.Series(fine, dtype=object)
    names = dict(zip(assets.ontology["Annotation_Label"], assets.ontology["CL_Label"]))
    ids = dict(zip(assets.ontology["Annotation_Label"], assets.ontology["CL_ID"]))
    return {"azimuth_fine_CL": labels.map(names).fillna("unmapped").to_numpy(object),
            "azimuth_fine_CL_ID": labels.map(ids).fillna("unmapped").to_numpy(object)}


def _space_ranger_label(values: np.ndarray) -> np.ndarray:
    """panhumanpy's labels, with its 'no match' (``'False'``) and missing ones as Unassigned."""
    out = values.astype(object).copy()
    out[pd.isna(out) | (out == NO_MATCH)] = UNASSIGNED
    return out


def build_table(folder: str, matrix: TenxMatrix, columns: dict, embedding: np.ndarray, info: dict) -> CellTypeTable:
    """The Space Ranger table from the labeller's columns: Unassigned where panhumanpy has no match, Cell Ontology added."""
    assets = load_assets()
    broad, coarse, fine = (_space_ranger_label(columns[f"azimuth_{level}"]) for level in ("broad", "medium", "fine"))
    assigned = coarse != UNASSIGNED
    confidence = np.where(assigned, columns["final_level_confidence"].astype(float), np.nan)
    extra = {name: columns[name] for name in OUTPUT_COLUMNS}
    extra["final_level_confidence"] = np.round(columns["final_level_confidence"].astype(float), 6)
    extra.update(ontology_columns(columns["azimuth_fine"], assets))
    extra.update({name: columns[name] for name in TIE_COLUMNS if name in columns})
    return CellTypeTable(
        model=folder, barcodes=matrix.barcodes, broad=broad, coarse=coarse, fine=fine,
        confidence=confidence, extra=extra, projection=pca_2d(embedding), info=info,
    )


def annotate_azimuth(matrix: TenxMatrix, weights: Path, folder: str, scratch: Path, engine: str = "numpy",
                     chunk_cells: int = CHUNK_CELLS) -> CellTypeTable:
    """Label a human matrix; the ``dense_3`` embedding is written to ``scratch`` and attached to the table."""
    if engine not in ENGINES:
        raise ModelError(f"unknown Azimuth engine {engine!r}; use one of {', '.join(ENGINES)}")
    embedding_path = Path(scratch) / EMBEDDING_NAME
    if engine == "numpy":
        columns = run_numpy(matrix, weights, embedding_path, chunk_cells)
    else:
        from cellannotate.annotators.azimuth.reference import run_panhumanpy

        columns = run_panhumanpy(matrix, weights, embedding_path)
    embedding = NpyRows(embedding_path)
    overlap = PanelAligner(matrix.features.names[matrix.gene_expression_columns], load_assets().panel).overlap
    ties = {column: int((columns[column] != "").sum()) for column in TIE_COLUMNS if column in columns}
    info = {
        "model_name": "Pan-Human Azimuth", "model_version": MODEL_VERSION, "engine": engine,
        "weights": weights.name, "log_normalised_here": columns.pop("normalised_here"),
        "embedding_layer": EMBEDDING_LAYER, "embedding_dimensions": int(embedding.shape[1]),
        "projection_name": "PCA of the Azimuth embedding", "tied_refinements": ties,
        "panel_genes_found": round(overlap * PANEL_SIZE), "warnings": overlap_warning(overlap),
        "report": {"model": "Pan-Human Azimuth v1 (panhumanpy 1.0.0 tables)", "engine": engine,
                   "panel genes found": f"{round(overlap * PANEL_SIZE):,} of {PANEL_SIZE:,} (by symbol)",
                   "tied_refinements (broad / medium / fine)": " / ".join(f"{n:,}" for n in ties.values()) or "n/a"},
    }
    table = build_table(folder, matrix, columns, embedding, info)
    table.attach_embedding(embedding_path, f"Pan-Human Azimuth's {EMBEDDING_LAYER} layer")
    return table
