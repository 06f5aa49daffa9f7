"""One sample through ``panhuman_distill_v1``: the hierarchy's answers as a cell type table.

The columns, each at one level: ``broad_cell_type`` is the lineage of the label
(:mod:`cellannotate.lineage`), ``coarse_cell_type`` the coarse network's group and
``fine_cell_type`` the fine label; the model's own two levels stay in ``distill_group`` and
``distill_label``. A cell is Unassigned when the network had too little to go on: fewer than
:data:`MIN_PANEL_GENES` of the panel's genes with counts (see ``docs/accuracy.md`` for how the
floor was chosen on real cells, thinned, and how it did on others).

The network knows no organ, and its labels come from every organ of the body: a glioma cell can
come out "Glial cell of intestine". So the sample's organ is called as the markers model calls it
(:func:`~cellannotate.annotators.markers.tissue.choose_tissue`, on up to 20,000 cells, from
marker genes; immune types are no evidence), and a fine label naming another organ
(:mod:`cellannotate.organs`) falls back to its group, or to Unassigned when the group names
another organ too; for a blood sample every organ is another. When no organ can be called, the
labels stay and the report lists the organs they name.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from cellannotate.annotators.distill.engine import CHUNK_CELLS, UNKNOWN, run_hierarchy
from cellannotate.annotators.distill.reference import NAME, PACKAGE, PACKAGE_VERSION, load_reference
from cellannotate.annotators.markers.tissue import ALL, IMMUNE, UNDETERMINED, TissueCall, choose_tissue
from cellannotate.celltypes import EMBEDDING_NAME, UNASSIGNED, CellTypeTable
from cellannotate.io.npy import NpyRows
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.lineage import lineages
from cellannotate.organs import label_organs, outside
from cellannotate.projection import pca_2d

MIN_PANEL_GENES = 5


def annotate_distilled(matrix: TenxMatrix, path: Path, chunk_cells: int, folder: str, scratch: Path,
                       species: str = "human") -> CellTypeTable:
    """Label every cell with the reference at ``path`` (a mouse sample through its human orthologs);
    the coarse network's last hidden layer is the embedding."""
    reference = load_reference(path)
    embedding_path = Path(scratch) / EMBEDDING_NAME
    out = run_hierarchy(matrix, reference, embedding_path, chunk_cells, species)
    group, label = out["group"], out["label"]
    too_little = out["panel_genes"] < MIN_PANEL_GENES
    unassigned = (label == UNKNOWN) | (label == UNASSIGNED) | (group == UNASSIGNED) | too_little
    coarse = np.where(unassigned, UNASSIGNED, group).astype(object)
    fine = np.where(unassigned, UNASSIGNED, label).astype(object)
    broad = np.where(unassigned, UNASSIGNED, lineages(label)).astype(object)
    tissue = choose_tissue(matrix, species, None, None, CHUNK_CELLS)
    coarse, fine, broad, organ_check = keep_to_organ(coarse, fine, broad, tissue)
    warnings = list(out["warnings"]) + ([organ_check["warning"]] if organ_check.get("warning") else [])
    if too_little.mean() > 0.1:
        warnings.append(f"{too_little.mean():.0%} of cells have fewer than {MIN_PANEL_GENES} of the {NAME} panel's "
                        "genes with counts: they are Unassigned (too little for the network to place them)")
    table = CellTypeTable(
        model=folder, barcodes=matrix.barcodes, broad=broad, coarse=coarse, fine=fine,
        confidence=np.where(unassigned, np.nan, out["probability"].astype(float)),
        extra={"distill_group": group, "distill_label": label,
               "distill_probability": np.round(out["probability"].astype(float), 6),
               "distill_group_probability": np.round(out["group_probability"].astype(float), 6),
               "panel_genes_detected": out["panel_genes"],
               "cell_ontology_id": pd.Series(label).map(reference.ontology).fillna("unmapped").to_numpy(object)},
        projection=pca_2d(NpyRows(embedding_path)),
        info={**_info(reference, path, out, species, warnings, int(too_little.sum())), "organ_check": organ_check},
    )
    table.info["report"]["organ"] = organ_check["report"]
    table.attach_embedding(embedding_path, "last hidden layer of the coarse network")
    return table


def keep_to_organ(coarse: np.ndarray, fine: np.ndarray, broad: np.ndarray, tissue: TissueCall):
    """The labels with those of another organ than ``tissue``'s moved to their group or Unassigned, and
    what was done, for ``model.json`` and the report."""
    fine_organ, group_organ = label_organs(fine), label_organs(coarse)
    if tissue.tissue in (UNDETERMINED, ALL):
        named = Counter(o for o in fine_organ if o)
        return coarse, fine, broad, {"tissue": tissue.tissue, "moved": 0, "report": (
            f"no organ called ({tissue.tissue}): labels kept; organs they name: "
            + (", ".join(f"{o} {n:,}" for o, n in named.most_common(5)) or "none"))}
    allowed = set() if tissue.tissue == IMMUNE else {tissue.tissue}
    moved = outside(fine_organ, allowed)
    gone = moved & outside(group_organ, allowed)
    examples = Counter(fine[moved]).most_common(3)
    fine = np.where(gone, UNASSIGNED, np.where(moved, coarse, fine)).astype(object)
    coarse = np.where(gone, UNASSIGNED, coarse).astype(object)
    broad = np.where(gone, UNASSIGNED, broad).astype(object)
    shown = ", ".join(f"{label} {n:,}" for label, n in examples)
    what = "a blood or immune sample" if not allowed else f"a {tissue.tissue} sample"
    check = {"tissue": tissue.tissue, "moved": int(moved.sum()), "unassigned": int(gone.sum()),
             "report": f"{tissue.tissue} (called from marker genes); {int(moved.sum()):,} labels of other organs "
                       f"moved to their group ({int(gone.sum()):,} to Unassigned)" + (f": {shown}" if shown else "")}
    if moved.mean() > 0.05:
        check["warning"] = (f"panhuman_distill_v1 gave {moved.mean():.0%} of the cells labels of other organs than "
                            f"{what} ({shown}): they are kept at their group, or Unassigned")
    return coarse, fine, broad, check


def _info(reference, path: Path, out: dict, species: str, warnings: list[str], too_little: int) -> dict:
    attribution, match = reference.attribution, out["gene_match"]
    through = " through human orthologs" if species == "mouse" else ""
    return {
        "model_name": f"{NAME} (Pan-human Azimuth distilled){through}", "model_version": f"{PACKAGE} {PACKAGE_VERSION}",
        "species": species, "reference": str(path.name), "shared_genes": out["shared_genes"],
        "genes_matched": {"by_ensembl_id": match.by_id, "by_symbol": match.by_symbol,
                          "ambiguous_symbols_dropped": match.ambiguous_symbols,
                          "mouse_genes_with_human_ortholog": match.orthologs, "tables": list(match.sources)},
        "unassigned_below_panel_genes": MIN_PANEL_GENES, "cells_below_panel_genes": too_little,
        "attribution": attribution, "projection_name": f"PCA of the {NAME} embedding", "warnings": warnings,
        "report": {"model": f"{NAME}, a network distilled from Pan-human Azimuth (actinn-jax {PACKAGE_VERSION})"
                            + (", run on this mouse sample through one-to-one human orthologs" if through else ""),
                   "panel genes found": f"{out['shared_genes']:,} of {len(reference.genes):,}",
                   "genes matched": match.describe(),
                   "unassigned": f"cells with fewer than {MIN_PANEL_GENES} panel genes detected ({too_little:,})",
                   "levels": "broad: lineage of the label; coarse: the network's group; fine: its label",
                   "attribution": f"{attribution['cite']}; weights {attribution['weights']}; "
                                  f"{attribution['reference_archive']}"},
    }
