"""Synthetic 10x matrices with known cell types, for demos, tests and benchmarks.

Each cell type has a handful of canonical marker genes (textbook markers, chosen
independently of any marker database) on top of a shared background profile; UMI
counts are drawn per cell from a log-normal library size. Binned Visium HD matrices mix
two cell types per bin, as real 8 µm bins do. Gene ids are well-formed but synthetic
(``ENSG99...``/``ENSMUSG99...``), so they never collide with real Ensembl ids; mouse
symbols are the human ones capitalised (``CD3E`` -> ``Cd3e``), as most orthologs are.
The output is written chunk by chunk, so millions of cells need little memory.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from cellannotate import __version__
from cellannotate.io.atomic import atomic_path
from cellannotate.io.tenx_h5 import GENE_EXPRESSION, FeatureTable, TenxH5Writer

CELL_TYPE_MARKERS = {
    "T cell": ["CD3D", "CD3E", "CD2", "IL7R", "TRAC", "CD247"],
    "B cell": ["MS4A1", "CD79A", "CD79B", "CD19", "BANK1", "PAX5"],
    "NK cell": ["NKG7", "GNLY", "KLRD1", "PRF1", "GZMB", "NCAM1"],
    "Macrophage": ["CD14", "LYZ", "CD68", "CSF1R", "C1QA", "C1QB"],
    "Plasma cell": ["JCHAIN", "MZB1", "XBP1", "SDC1", "PRDM1", "TNFRSF17"],
    "Epithelial cell": ["EPCAM", "KRT8", "KRT18", "KRT19", "CDH1", "CLDN4"],
    "Fibroblast": ["COL1A1", "COL1A2", "DCN", "LUM", "PDGFRA", "COL3A1"],
    "Endothelial cell": ["PECAM1", "VWF", "CDH5", "CLDN5", "KDR", "EMCN"],
    "Smooth muscle cell": ["ACTA2", "MYH11", "DES", "TAGLN", "CNN1", "MYL9"],
}
HOUSEKEEPING = [
    "ACTB", "GAPDH", "B2M", "MALAT1", "TMSB4X", "EEF1A1", "FTL", "FTH1", "TPT1", "RPLP0",
    "RPL13", "RPS18", "RPS27A", "UBC", "HSP90AB1", "PPIA", "NEAT1", "CALM2", "MYL6", "TMSB10",
]
MARKER_FOLD = 40.0
KINDS = ("segmented", "binned")
SPECIES = ("human", "mouse")


@dataclass(frozen=True)
class ExampleSpec:
    """What to generate. ``median_counts`` is the median UMIs per cell (or bin)."""

    n_cells: int = 3000
    n_genes: int = 2000
    species: str = "human"
    kind: str = "segmented"
    median_counts: float = 400.0
    seed: int = 0
    # Real symbols for the background genes (e.g. a model's gene panel), else GENE00001, ...
    filler_genes: tuple = ()

    def __post_init__(self):
        if self.species not in SPECIES:
            raise ValueError(f"species must be one of {SPECIES}")
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        n_named = len(HOUSEKEEPING) + sum(len(m) for m in CELL_TYPE_MARKERS.values())
        if self.n_genes < n_named:
            raise ValueError(f"n_genes must be at least {n_named}")
        if self.n_cells < 1:
            raise ValueError("n_cells must be positive")


def _symbols(spec: ExampleSpec) -> list[str]:
    named = HOUSEKEEPING + [g for markers in CELL_TYPE_MARKERS.values() for g in markers]
    real = [g for g in spec.filler_genes if g not in set(named)]
    filler = (real + [f"GENE{i:05d}" for i in range(1, spec.n_genes + 1)])[: spec.n_genes - len(named)]
    symbols = named + filler
    if spec.species == "mouse":
        symbols = [s[0] + s[1:].lower() for s in symbols]
    return symbols


def example_features(spec: ExampleSpec) -> FeatureTable:
    """The example's features: gene expression with Ensembl-like ids and real symbols."""
    symbols = _symbols(spec)
    prefix, genome = ("ENSG99", "GRCh38") if spec.species == "human" else ("ENSMUSG99", "GRCm39")
    n = len(symbols)
    return FeatureTable(
        np.array([f"{prefix}{i:09d}" for i in range(n)], dtype=object),
        np.array(symbols, dtype=object),
        np.full(n, GENE_EXPRESSION, dtype=object),
        np.full(n, genome, dtype=object),
    )


def _type_cdfs(spec: ExampleSpec, rng: np.random.Generator) -> np.ndarray:
    """Cumulative gene distributions, one row per cell type."""
    n_house = len(HOUSEKEEPING)
    base = rng.gamma(0.4, 1.0, size=spec.n_genes)
    base[:n_house] = rng.uniform(20, 60, size=n_house)
    rows = []
    offset = n_house
    for markers in CELL_TYPE_MARKERS.values():
        weights = base.copy()
        weights[offset : offset + len(markers)] = MARKER_FOLD * rng.uniform(0.5, 1.5, size=len(markers))
        offset += len(markers)
        rows.append(np.cumsum(weights / weights.sum()))
    return np.vstack(rows)


def _barcodes(spec: ExampleSpec) -> list[str]:
    if spec.kind == "segmented":
        return [f"cellid_{i + 1:09d}-1" for i in range(spec.n_cells)]
    side = int(np.ceil(np.sqrt(spec.n_cells)))
    return [f"s_008um_{i // side:05d}_{i % side:05d}-1" for i in range(spec.n_cells)]


def _chunk_counts(
    spec: ExampleSpec, cdfs: np.ndarray, types: np.ndarray, rng: np.random.Generator
) -> sp.csr_matrix:
    n = len(types)
    sizes = np.maximum(1, rng.lognormal(np.log(spec.median_counts), 0.6, size=n).astype(np.int64))
    cell_of_draw = np.repeat(np.arange(n), sizes)
    type_of_draw = types[cell_of_draw]
    if spec.kind == "binned":
        # A bin covers parts of two cells: each UMI comes from a second type with probability 1 - share.
        other = rng.integers(0, len(cdfs), size=n)
        share = rng.uniform(0.55, 1.0, size=n)
        from_other = rng.random(len(cell_of_draw)) > share[cell_of_draw]
        type_of_draw = np.where(from_other, other[cell_of_draw], type_of_draw)
    genes = np.empty(len(cell_of_draw), dtype=np.int64)
    u = rng.random(len(cell_of_draw))
    for t in range(len(cdfs)):
        mask = type_of_draw == t
        genes[mask] = np.minimum(np.searchsorted(cdfs[t], u[mask]), spec.n_genes - 1)
    keys, counts = np.unique(cell_of_draw * spec.n_genes + genes, return_counts=True)
    rows, cols = keys // spec.n_genes, keys % spec.n_genes
    indptr = np.searchsorted(rows, np.arange(n + 1))
    return sp.csr_matrix((counts.astype(np.int32), cols, indptr), shape=(n, spec.n_genes))


def write_example(path: Path, spec: ExampleSpec, truth_path: Path | None = None, chunk_cells: int = 20_000) -> None:
    """Write a synthetic matrix to ``path`` and, optionally, its true types to a CSV."""
    rng = np.random.default_rng(spec.seed)
    type_names = list(CELL_TYPE_MARKERS)
    proportions = rng.dirichlet(np.full(len(type_names), 3.0))
    cdfs = _type_cdfs(spec, rng)
    barcodes = _barcodes(spec)
    types = rng.choice(len(type_names), size=spec.n_cells, p=proportions)
    attrs = {
        "filetype": "matrix",
        "version": 2,
        "chemistry_description": "Visium HD v1",
        "software_version": f"cellannotate-example-{__version__}",
        "library_ids": np.array([b"example"]),
        "original_gem_groups": np.array([1]),
    }
    with TenxH5Writer(path, example_features(spec), barcodes, attrs=attrs) as writer:
        for start in range(0, spec.n_cells, chunk_cells):
            writer.append(_chunk_counts(spec, cdfs, types[start : start + chunk_cells], rng))
    if truth_path is not None:
        with atomic_path(Path(truth_path)) as tmp, open(tmp, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["barcode", "cell_type"])
            out.writerows(zip(barcodes, (type_names[t] for t in types)))
