#!/usr/bin/env python3
"""How well the markers model agrees with known cell types, and what it says on real files.

Generated matrices (human and mouse, segmented and binned) carry their true types; we
report the adjusted Rand index (needs no name matching) and accuracy over the generated
types the species' database has a same-meaning type for (the mapping is listed below
and was fixed before looking at results; the database is used as shipped). Real files
have no truth: we report how many marker genes they contain and the label mix.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from cellannotate.errors import ModelError
from cellannotate.example_data import ExampleSpec, write_example
from cellannotate.annotators.markers.scoring import annotate_markers
from cellannotate.io.tenx_h5 import read_10x_h5

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "10x"
SAME_MEANING = {
    "T cell": {"T cell"}, "B cell": {"B cell"}, "NK cell": {"Natural killer cell"}, "Plasma cell": {"Plasma cell"},
    "Macrophage": {"Macrophage", "Interstitial macrophage", "Alveolar macrophage"},
    "Epithelial cell": {"Epithelial cell"}, "Fibroblast": {"Fibroblast"},
    "Endothelial cell": {"Endothelial cell", "Endothelial", "Vascular endothelial cell"},
    "Smooth muscle cell": {"Smooth muscle cell", "Vascular smooth muscle cell"},
}


def adjusted_rand_index(a, b) -> float:
    """Hubert & Arabie's ARI from the contingency table of two labelings."""
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1))
    np.add.at(table, (ai, bi), 1)
    pairs = lambda x: (x * (x - 1) / 2).sum()  # noqa: E731
    index, rows, cols, total = pairs(table), pairs(table.sum(1)), pairs(table.sum(0)), pairs(np.array([len(a)]))
    expected = rows * cols / total
    return float((index - expected) / ((rows + cols) / 2 - expected))


def generated(species: str, kind: str, cells: int, workdir: Path) -> None:
    path, truth_path = workdir / f"{species}_{kind}.h5", workdir / f"{species}_{kind}.csv"
    write_example(path, ExampleSpec(n_cells=cells, n_genes=3000, species=species, kind=kind, seed=11), truth_path)
    truth = np.array([r["cell_type"] for r in csv.DictReader(open(truth_path))])
    start = time.perf_counter()
    with read_10x_h5(path) as m:
        table = annotate_markers(m, species)
    seconds = time.perf_counter() - start
    labels = table.coarse.astype(str)
    covered = np.array([bool(SAME_MEANING[t] & set(_db_names(species))) for t in truth])
    correct = np.array([lab in SAME_MEANING[t] for t, lab in zip(truth, labels)])
    print(
        f"{species:5} {kind:9} {cells:7,} cells  ARI {adjusted_rand_index(truth, labels):.3f}  "
        f"accuracy {correct[covered].mean():.3f} on {covered.mean():.0%} of cells whose type the database has  "
        f"unassigned {np.mean(labels == 'Unassigned'):.1%}  {cells / seconds:,.0f} cells/s"
    )


_NAMES: dict = {}


def _db_names(species: str) -> set:
    if species not in _NAMES:
        from cellannotate.annotators.markers.database import load_marker_database

        _NAMES[species] = set(load_marker_database(species).cell_types)
    return _NAMES[species]


def real(path: Path, species: str) -> None:
    with read_10x_h5(path) as m:
        try:
            table = annotate_markers(m, species)
        except ModelError as exc:
            print(f"{path.name}: {exc}")
            return
    top = ", ".join(f"{k} {v}" for k, v in list(table.counts().items())[:6])
    print(f"{path.name}: {table.info['marker_genes_found']} marker genes in the matrix; {top}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for species in ("human", "mouse"):
            for kind in ("segmented", "binned"):
                generated(species, kind, args.cells, Path(tmp))
    for name, species in (
        ("human_pbmc500_50genes_cellranger6_filtered_feature_bc_matrix.h5", "human"),
        ("human_chr21_cellranger3_filtered_feature_bc_matrix.h5", "human"),
        ("mouse_placenta_visium_spaceranger3_filtered_feature_bc_matrix.h5", "mouse"),
    ):
        real(SHARED / name, species)


if __name__ == "__main__":
    main()
