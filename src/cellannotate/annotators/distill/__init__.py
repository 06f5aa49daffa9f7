"""An offline human model in Pan-Human Azimuth's vocabulary: actinn-jax's ``panhuman_distill_v1``.

A small ACTINN network distilled from Pan-Human Azimuth (a coarse network over 140 groups and
a fine one per group, 324 labels) that ships inside the actinn-jax wheel: no account, no
download at run time, no TensorFlow or JAX. It is a different model from Azimuth and is
reported under its own name; it runs only when asked for, so results never change with
what happens to be cached.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cellannotate.annotators.base import Annotator, ModelOptions
from cellannotate.annotators.distill.engine import CHUNK_CELLS, UNKNOWN, run_hierarchy
from cellannotate.annotators.distill.reference import NAME, PACKAGE, PACKAGE_VERSION, locate_reference, load_reference
from cellannotate.celltypes import EMBEDDING_NAME, UNASSIGNED, CellTypeTable
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.projection import pca_2d
from cellannotate.validation.report import ValidationReport


class DistilledAnnotator(Annotator):
    name = "panhuman_distill"
    folder = "PanHumanDistill"
    title = "Pan-human distilled (actinn-jax)"
    step = "ANNOTATE_DISTILL"
    choices = ("panhuman_distill",)
    species = ("human",)
    exclusive = True

    def prepare(self, options: ModelOptions) -> tuple[Path, int]:
        path = locate_reference(options.distill_reference)
        load_reference(path)
        return path, options.chunk_cells or CHUNK_CELLS

    def annotate(self, matrix: TenxMatrix, report: ValidationReport, inputs: tuple[Path, int],
                 scratch: Path) -> CellTypeTable:
        path, chunk_cells = inputs
        reference = load_reference(path)
        embedding_path = Path(scratch) / EMBEDDING_NAME
        out = run_hierarchy(matrix, reference, embedding_path, chunk_cells)
        group, label = out["group"], out["label"]
        unassigned = (label == UNKNOWN) | (label == UNASSIGNED)
        coarse = np.where(unassigned | (group == UNASSIGNED), UNASSIGNED, group).astype(object)
        fine = np.where(unassigned, UNASSIGNED, label).astype(object)
        attribution = reference.attribution
        info = {
            "model_name": f"{NAME} (Pan-human Azimuth distilled)", "model_version": f"{PACKAGE} {PACKAGE_VERSION}",
            "reference": str(path.name), "shared_genes": out["shared_genes"], "attribution": attribution,
            "embedding": "last hidden layer of the coarse network",
            "projection_name": f"PCA of the {NAME} embedding",
            "report": {"model": f"{NAME}, a network distilled from Pan-human Azimuth (actinn-jax {PACKAGE_VERSION})",
                       "panel genes found": f"{out['shared_genes']:,} of {len(reference.genes):,}",
                       "attribution": f"{attribution['cite']}; weights {attribution['weights']}; "
                                      f"{attribution['reference_archive']}"},
        }
        embedding = np.load(embedding_path, mmap_mode="r")
        table = CellTypeTable(
            model=self.folder, barcodes=matrix.barcodes, broad=coarse, coarse=coarse, fine=fine,
            confidence=np.where(unassigned, np.nan, out["probability"].astype(float)),
            extra={"distill_group": group, "distill_label": label,
                   "distill_probability": np.round(out["probability"].astype(float), 6),
                   "distill_group_probability": np.round(out["group_probability"].astype(float), 6),
                   "cell_ontology_id": pd.Series(label).map(reference.ontology).fillna("unmapped").to_numpy(object)},
            projection=pca_2d(embedding), info=info,
        )
        table.attachments[EMBEDDING_NAME] = embedding_path
        return table
