"""What an annotation model is: one object with the same face, whatever it runs on.

Every model (Pan-Human Azimuth, the 10x Cloud, markers, and any added later) is an
:class:`Annotator`: it says which samples it applies to and what it needs, resolves its
inputs once (:meth:`Annotator.prepare`), and labels an open matrix
(:meth:`Annotator.annotate`) into a :class:`~cellannotate.celltypes.CellTypeTable`. The
planner, the CLI, the local pipeline, the ``bin/`` steps and the report read models
from the registry (:mod:`cellannotate.annotators.registry`) and nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from cellannotate.celltypes import EMBEDDING_NAME, CellTypeTable
from cellannotate.errors import ModelError
from cellannotate.io.atomic import output_folder, staging_folder
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.projection import umap_2d, umap_enabled
from cellannotate.validation.matrix import check_cells
from cellannotate.validation.report import ValidationReport

log = logging.getLogger(__name__)

TENX_CLOUD_TOKEN = "tenx_cloud_token"


@dataclass(frozen=True)
class ModelOptions:
    """What a user may set for the models; each model reads the fields it needs.

    Attributes
    ----------
    azimuth_model : Pan-Human Azimuth weights (``.keras``); ``None``: the usual places.
    azimuth_engine : ``numpy`` (ours) or ``panhumanpy`` (the original, needs TensorFlow).
    distill_reference : folder of actinn-jax's ``panhuman_distill_v1``; ``None``: the installed wheel's.
    chunk_cells : cells per chunk for streamed models; ``None``: the model's default.
    markers_db : marker file or folder for the markers model; ``None``: pegasus's.
    markers_tissue : the tissue whose cell types the markers model uses (with the immune ones):
        a tissue of the database, ``all``, or ``auto``/``None`` to detect it per sample.
    markers_neighbours : nearest cells whose marker scores each cell's are averaged with
        (0: each cell alone; ``None``: 15).
    tenx_cloud_token_path : 10x Cloud token file; ``None``: ``$TENX_CLOUD_TOKEN``, then the saved one.
    cloud_url, cloud_job_dir, cloud_poll_interval : where the 10x Cloud is, where running jobs
        are remembered, seconds between status checks (``None``: the defaults).
    """

    azimuth_model: Path | None = None
    azimuth_engine: str = "numpy"
    distill_reference: Path | None = None
    chunk_cells: int | None = None
    markers_db: Path | None = None
    markers_tissue: str | None = None
    markers_neighbours: int | None = None
    tenx_cloud_token_path: Path | None = None
    cloud_url: str | None = None
    cloud_job_dir: Path | None = None
    cloud_poll_interval: float | None = None


class Annotator:
    """One annotation model. Subclasses set the class attributes and implement :meth:`annotate`.

    Attributes
    ----------
    name : registry key, e.g. ``azimuth``.
    folder : output folder under ``cell_types/``, e.g. ``Azimuth``.
    title : what the report calls it.
    step : the workflow step (Nextflow process) that runs it.
    choices : ``--cell-annotation-model`` values that ask for it.
    species : species it can label.
    default_for : species it labels when nothing asked for runs alone (Space Ranger runs
        Azimuth for every human sample).
    fallback_for : species it labels when no other model would.
    exclusive : asked for, it runs alone.
    needs : inputs beyond the matrix (e.g. :data:`TENX_CLOUD_TOKEN`), for the workflow and help.
    """

    name: ClassVar[str]
    folder: ClassVar[str]
    title: ClassVar[str]
    step: ClassVar[str]
    choices: ClassVar[tuple[str, ...]] = ()
    species: ClassVar[tuple[str, ...]] = ("human", "mouse")
    default_for: ClassVar[tuple[str, ...]] = ()
    fallback_for: ClassVar[tuple[str, ...]] = ()
    exclusive: ClassVar[bool] = False
    needs: ClassVar[tuple[str, ...]] = ()

    def unavailable(self, report: ValidationReport, request: str | None) -> str | None:
        """Why this model cannot label this sample, or ``None`` when it can."""
        if report.species not in self.species:
            return f"{self.title} is for {' or '.join(self.species)} samples; this one is {report.species}"
        return None

    def prepare(self, options: ModelOptions) -> Any:
        """Resolve and check this model's inputs once, before any cell is read; passed to :meth:`annotate`."""
        return None

    def annotate(self, matrix: TenxMatrix, report: ValidationReport, inputs: Any, scratch: Path) -> CellTypeTable:
        """Label every cell of ``matrix``; large by-products may be written to ``scratch`` and attached."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def run_model(model: Annotator, matrix_path: Path, report: ValidationReport, inputs: Any, outdir: Path) -> CellTypeTable:
    """Run ``model`` on the matrix at ``matrix_path`` and write ``outdir/<model.folder>``, whole or not at all.

    The checks that make labels meaningful run here, for every model, whether or not
    validation ran before: cells present, barcodes unique, the report made from this matrix.
    """
    with output_folder(Path(outdir)) as outdir, TenxMatrix(matrix_path) as matrix, \
            staging_folder(outdir, f".{model.folder}-") as scratch:
        check_cells(matrix)
        report.check_matches(matrix)
        table = model.annotate(matrix, report, inputs, scratch)
        if EMBEDDING_NAME in table.attachments and umap_enabled():
            log.info("%s: UMAP of the embedding", model.title)
            table.projection = umap_2d(np.load(table.attachments[EMBEDDING_NAME], mmap_mode="r"))
            table.info.update(projection_name=f"UMAP of the {model.title} embedding", projection_kind="umap")
        table.write(outdir / model.folder)
    return table


def annotate_step(model: Annotator, matrix_path: Path, validation_path: Path, options: ModelOptions,
                  outdir: Path) -> CellTypeTable:
    """One annotation step on its own (a ``bin/`` script, a Nextflow task): the report, the model's
    own check that it can label this sample, its inputs, then :func:`run_model`."""
    report = ValidationReport.read_json(validation_path)
    request = report.requested_model if report.requested_model in model.choices else None
    reason = model.unavailable(report, request)
    if reason:
        raise ModelError(f"{model.title} cannot label this sample: {reason}")
    return run_model(model, matrix_path, report, model.prepare(options), outdir)
