"""The marker database behind the ``markers`` model.

By default it is the set of curated marker files that ships inside the PyPI package
``pegasuspy`` (BSD-3-Clause, Broad Institute): JSON files per species and tissue
(human immune, brain, lung; mouse immune, brain, liver, lung) with weighted groups of
positive (``GENE+``) and negative (``GENE-``) markers and nested subtypes. The files
are read from the installed distribution without importing ``pegasus`` (whose own
dependencies we neither need nor ship): ``pip install --no-deps pegasuspy==1.10.2``.
A file or folder of the same format can be given instead.

Cell types of the same name in several tissue files (``Fibroblast`` in mouse liver and
lung, say) are merged into one signature; ``origins`` records which files each came from, so
that a sample's labels can be kept to its tissue (:mod:`.tissue`).
"""

from __future__ import annotations

import importlib.metadata
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from cellannotate.errors import ModelError
from cellannotate.io.checked import read_json

DB_PACKAGE = "pegasuspy"
DB_LICENSE = "BSD-3-Clause"
DB_FOLDER = "pegasus/annotate_cluster"
DB_ENV = "CELLANNOTATE_MARKER_DB"
INSTALL_HINT = f"pip install --no-deps {DB_PACKAGE}==1.10.2"

# Our one addition to the packaged database: monocytes are CD3-negative and carry no NK or T
# cytotoxic-granule transcripts (the sorts behind pegasus's monocyte signatures gate them
# CD3- CD56-; Villani et al., Science 2017). Its CD16+ monocyte signature is otherwise mostly
# broadly expressed genes (IFITM2, IFITM3, ASAH1) that NK and T cells express as well. These
# negatives take SUPPLEMENT_WEIGHT of the signature. On real cells (benchmarks/accuracy.py) they
# moved pbmc68k's NK cells from 10% to 35% right and wu2020's T cells from 88% to 91%.
SUPPLEMENT = {
    ("human", "CD14+ Monocyte"): ["CD3D-", "CD3E-", "GNLY-", "NKG7-"],
    ("human", "CD16+ Monocyte"): ["CD3D-", "CD3E-", "GNLY-", "NKG7-"],
}
SUPPLEMENT_WEIGHT = 0.2


@dataclass
class Signature:
    """One cell type: gene -> weight for positive and negative markers, and its subtypes."""

    name: str
    positive: dict = field(default_factory=dict)
    negative: dict = field(default_factory=dict)
    subtypes: dict = field(default_factory=dict)

    def add_markers(self, groups: list) -> None:
        """Add weighted marker groups; a group's weight is shared among its genes."""
        weights = [float(g.get("weight", 1.0)) for g in groups]
        if not all(math.isfinite(w) and w >= 0 for w in weights) or (weights and sum(weights) == 0):
            raise ValueError("weights must be finite, not negative, and not all zero")
        total = sum(weights) or 1.0
        for group in groups:
            genes = group.get("genes", [])
            if not genes:
                continue
            share = float(group.get("weight", 1.0)) / total / len(genes)
            for gene in genes:
                if not isinstance(gene, str) or not gene.strip("+-"):
                    raise ValueError("a gene must be a symbol")
                target = self.negative if gene.endswith("-") else self.positive
                symbol = gene[:-1] if gene[-1:] in "+-" else gene
                target[symbol] = target.get(symbol, 0.0) + share

    def descendants(self) -> list["Signature"]:
        """Every subtype below this type, depth first."""
        out = []
        for sub in self.subtypes.values():
            out.append(sub)
            out.extend(sub.descendants())
        return out


@dataclass
class MarkerDatabase:
    """Coarse cell types (with subtypes) for one species, and where they came from."""

    species: str
    cell_types: dict
    source: dict
    origins: dict = field(default_factory=dict)     # cell type -> set of tissues whose file has it

    def genes(self) -> set[str]:
        """Every gene named by any type or subtype, positive or negative."""
        out = set()
        for sig in self.cell_types.values():
            for s in [sig, *sig.descendants()]:
                out |= set(s.positive) | set(s.negative)
        return out


def _merge(into: dict, entries: list) -> None:
    if not isinstance(entries, list):
        raise TypeError("'cell_types' must be a list")
    for entry in entries:
        if not isinstance(entry["name"], str):
            raise TypeError("a cell type's name must be text")
        sig = into.setdefault(entry["name"], Signature(entry["name"]))
        sig.add_markers(entry.get("markers", []))
        _merge(sig.subtypes, entry.get("subtypes", {}).get("cell_types", []))


def _supplemented(entries: list, species: str) -> list:
    """``entries`` with :data:`SUPPLEMENT`'s negatives added to the cell types it names."""
    out = []
    for entry in entries:
        extra = SUPPLEMENT.get((species, entry["name"]))
        if extra:
            groups = entry.get("markers", [])
            total = sum(float(g.get("weight", 1.0)) for g in groups) or 1.0
            scaled = [{**g, "weight": float(g.get("weight", 1.0)) / total * (1 - SUPPLEMENT_WEIGHT)} for g in groups]
            entry = {**entry, "markers": scaled + [{"genes": extra, "weight": SUPPLEMENT_WEIGHT}]}
        out.append(entry)
    return out


def _tissue_of(file: Path, species: str) -> str:
    name = file.name
    suffix = "_cell_markers.json"
    if name.startswith(f"{species}_") and name.endswith(suffix):
        return name[len(species) + 1 : -len(suffix)]
    return file.stem


def _packaged_folder() -> tuple[Path, str]:
    try:
        dist = importlib.metadata.distribution(DB_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(
            f"the marker database is not installed: {INSTALL_HINT} (or pass --markers-db FILE_OR_FOLDER)"
        ) from None
    return Path(dist.locate_file(DB_FOLDER)), dist.version


def check_database_path(path: Path | None) -> None:
    """Refuse, before any cell is read, a ``--markers-db`` that is not there."""
    if path is not None and not Path(path).exists():
        raise ModelError(f"marker database not found: {path}")


def load_marker_database(species: str, path: Path | None = None, tissues: list[str] | None = None) -> MarkerDatabase:
    """Load the marker files for ``species`` (``human`` or ``mouse``).

    ``path`` (or ``$CELLANNOTATE_MARKER_DB``): a JSON file, or a folder of
    ``<species>_<tissue>_cell_markers.json`` files; default: the ``pegasuspy`` package.
    ``tissues`` keeps only those tissue files (e.g. ``["immune"]``).
    """
    if species not in ("human", "mouse"):
        raise ModelError(f"the markers model is for human or mouse samples; this one is {species}")
    path = path or (Path(os.environ[DB_ENV]) if os.environ.get(DB_ENV) else None)
    if path is None:
        folder, version = _packaged_folder()
        source = {"package": DB_PACKAGE, "version": version, "license": DB_LICENSE,
                  "supplement": {name: genes for (sp, name), genes in SUPPLEMENT.items() if sp == species}}
    else:
        folder, source = Path(path), {"path": str(path)}
    if folder.is_file():
        files = [folder]
    else:
        files = sorted(folder.glob(f"{species}_*_cell_markers.json"))
        if tissues:
            files = [f for f in files if _tissue_of(f, species) in tissues]
    if not files:
        raise ModelError(f"no {species} marker files found in {folder}" + (f" for tissues {tissues}" if tissues else ""))
    cell_types: dict = {}
    origins: dict = {}
    for file in files:
        entries = read_json(file, "marker file", ModelError, max_bytes=64 << 20).get("cell_types")
        try:
            if path is None:
                entries = _supplemented(entries, species)
            _merge(cell_types, entries)
            for entry in entries:
                origins.setdefault(entry["name"], set()).add(_tissue_of(file, species))
        except (TypeError, KeyError, ValueError, AttributeError, ZeroDivisionError) as exc:
            raise ModelError(f"marker file {file} is not in pegasus's format ({type(exc).__name__}): each of its "
                             "'cell_types' needs a 'name' and 'markers' groups of 'genes' with finite, positive "
                             "'weight's") from None
    source["files"] = [f.name for f in files]
    return MarkerDatabase(species, cell_types, source, origins)
