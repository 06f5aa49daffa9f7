"""The local ``cellannotate annotate`` run: the workflow's steps, in order, in one process.

Token and weights of a model asked for by name are checked first, then the matrix is
validated and the plan of models made (:mod:`cellannotate.annotators.plan`), every
planned model's inputs are resolved, each model runs (:func:`run_model`), the cloupe is
annotated when one is given, and the outputs are assembled. The Nextflow workflow runs
the same functions, one step per process.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from cellannotate.annotators import registry
from cellannotate.annotators.base import UMAP_CELLS
from cellannotate.annotators.run import run_model
from cellannotate.annotators.plan import leave_out, plan_models
from cellannotate.errors import ModelError, OutputError
from cellannotate.io.spaceranger import spaceranger_files
from cellannotate.io.atomic import check_replaceable_folder, output_folder, staging_folder
from cellannotate.outputs.assemble import CLOUPE_OUT, OUTS_HINT, assemble_outputs
from cellannotate.outputs.cloupe import annotate_cloupe, check_cloupe
from cellannotate.sample_id import check_sample_id
from cellannotate.validation.matrix import validate_matrix
from cellannotate.validation.report import ValidationReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotateRequest:
    """The options of ``cellannotate annotate`` (Space Ranger's names where it has them)."""

    sample_id: str
    matrix: Path
    outdir: Path
    cell_annotation_model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)   # model options by name (ModelOption.name)
    cloupe: Path | None = None
    loupe_converter: Path | None = None
    spaceranger_outs: Path | None = None


def _check_outdir(outdir: Path) -> None:
    """Refuse, before any work, a run folder that is a file or an ``outs/`` we did not write."""
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"--outdir {outdir} exists and is not a folder")
    check_replaceable_folder(outdir / "outs", OUTS_HINT)


def _validate(request: AnnotateRequest) -> ValidationReport:
    report = validate_matrix(request.matrix)
    log.info("matrix: %s cells, %s gene expression features, species %s, %s", f"{report.n_cells:,}",
             f"{report.n_gene_expression_features:,}", report.species, report.matrix_kind)
    for warning in report.warnings:
        log.warning("warning: %s", warning)
    plan = plan_models(report, request.cell_annotation_model)
    log.info("models to run: %s", ", ".join(m.title for m in plan.models))
    return plan.apply(report)


def _prepare_planned(report: ValidationReport, request: AnnotateRequest, inputs: dict) -> ValidationReport:
    """Resolve the inputs of the models planned beside the one asked for; one that cannot have them
    (Azimuth without weights beside a cloud model) is left out with a warning, not the whole run."""
    for model in [registry.get(name) for name in report.models]:
        if model.name in inputs:
            continue
        try:
            inputs[model.name] = model.prepare(model.option_values(request.options))
        except ModelError as exc:
            if len(report.models) == 1:
                raise
            report = leave_out(report, model, str(exc))
            log.warning("warning: %s left out: %s", model.title, exc)
    return report


def run_annotate(request: AnnotateRequest) -> Path:
    """Run every step for one sample and return the ``outs/`` folder."""
    check_sample_id(request.sample_id)
    outdir = Path(request.outdir)
    _check_outdir(outdir)
    if request.cloupe is not None:
        check_cloupe(request.cloupe)
    if request.spaceranger_outs is not None:
        spaceranger_files(request.spaceranger_outs)
    inputs = {}
    if request.cell_annotation_model:
        asked = registry.by_choice(request.cell_annotation_model)
        inputs[asked.name] = asked.prepare(asked.option_values(request.options))
    report = _prepare_planned(_validate(request), request, inputs)
    planned = [registry.get(name) for name in report.models]
    with output_folder(outdir, "run folder (--outdir)"), staging_folder(outdir, ".work-") as workdir:
        folders = []
        for model in planned:
            run_model(model, request.matrix, report, inputs[model.name], workdir,
                      model.option_values(request.options).get(UMAP_CELLS.name, UMAP_CELLS.default))
            folders.append(workdir / model.folder)
        cloupe = None
        if request.cloupe is not None:
            log.info(annotate_cloupe(request.matrix, request.cloupe, folders, workdir / CLOUPE_OUT, request.loupe_converter))
            cloupe = workdir / CLOUPE_OUT if (workdir / CLOUPE_OUT).exists() else None
        return assemble_outputs(request.sample_id, request.matrix, report, folders, outdir / "outs", cloupe,
                                request.spaceranger_outs)
