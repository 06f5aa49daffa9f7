"""The local ``cellannotate annotate`` run: the workflow's steps, in order, in-process.

The Nextflow workflow and this function run the same step functions in the same order:
token check, matrix validation, cloud annotation, Azimuth annotation, markers
annotation, cloupe annotation, output assembly. Which models run follows Space Ranger:
a 10x Cloud model only when one is asked for, Pan-Human Azimuth for every human sample
unless ``markers`` is asked for; ``markers`` runs alone, for human or mouse. Beyond Space
Ranger (which refuses a mouse sample without a cloud model), a mouse sample with no
model asked for gets ``markers``, the one local model for mouse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cellannotate.assemble import CLOUPE_OUT, OUTS_HINT, assemble_outputs
from cellannotate.atomic import check_replaceable_folder, ensure_folder, staging_folder
from cellannotate.azimuth import MODEL as AZIMUTH
from cellannotate.azimuth import annotate_azimuth_file
from cellannotate.azimuth_model import locate_model
from cellannotate.cloud_annotate import MODEL as CLOUD
from cellannotate.cloud_annotate import annotate_cloud, check_cloud_request, settings_from_env
from cellannotate.cloupe import annotate_cloupe, check_cloupe
from cellannotate.errors import ModelError, OutputError
from cellannotate.markers import MODEL as MARKERS_FOLDER
from cellannotate.markers import annotate_markers_file
from cellannotate.models import ANNOTATION_MODELS, CLOUD_MODELS, MARKERS
from cellannotate.sample_id import check_sample_id
from cellannotate.species import HUMAN, MOUSE
from cellannotate.token import read_token
from cellannotate.validation import ValidationReport, validate_matrix

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class AnnotateRequest:
    """The options of ``cellannotate annotate`` (Space Ranger's names where it has them)."""

    sample_id: str
    matrix: Path
    outdir: Path
    cloupe: Path | None = None
    cell_annotation_model: str | None = None
    tenx_cloud_token_path: Path | None = None
    cloud_url: str | None = None
    azimuth_model: Path | None = None
    markers_db: Path | None = None
    loupe_converter: Path | None = None


def plan_models(report: ValidationReport, model: str | None) -> list[str]:
    """The models to run for this sample, or a :class:`ModelError` saying why none can."""
    if model == MARKERS:
        if report.species not in (HUMAN, MOUSE):
            raise ModelError(f"the markers model is for human or mouse samples; this one is {report.species}")
        return [MARKERS_FOLDER]
    planned = []
    if model in CLOUD_MODELS:
        check_cloud_request(report, model)
        planned.append(CLOUD)
    elif model is not None:
        raise ModelError(f"unknown --cell-annotation-model {model!r}; choose one of {', '.join(ANNOTATION_MODELS)}")
    if report.species == HUMAN:
        planned.append(AZIMUTH)
    elif report.species == MOUSE and model is None:
        planned.append(MARKERS_FOLDER)
    if not planned:
        raise ModelError(
            f"no model applies to this {report.species} sample: Pan-Human Azimuth and the 10x Cloud and markers "
            "models are for human or mouse samples"
        )
    return planned


def _run_model(model: str, request: AnnotateRequest, report: ValidationReport, workdir: Path) -> Path:
    if model == MARKERS_FOLDER:
        annotate_markers_file(request.matrix, report.species, workdir, request.markers_db)
        return workdir / MARKERS_FOLDER
    if model == AZIMUTH:
        annotate_azimuth_file(request.matrix, report.species, workdir, request.azimuth_model)
        return workdir / AZIMUTH
    token = read_token(request.tenx_cloud_token_path)
    annotate_cloud(request.matrix, report, request.cell_annotation_model, token, workdir, settings_from_env(request.cloud_url))
    return workdir / CLOUD


def run_annotate(request: AnnotateRequest) -> Path:
    """Run every step for one sample and return the ``outs/`` folder.

    ``OUTDIR/outs`` is checked before any work: a folder we did not write (Space Ranger's
    own ``outs/`` when OUTDIR is its run folder) is refused, never replaced.
    """
    check_sample_id(request.sample_id)
    outdir = Path(request.outdir)
    if outdir.exists() and not outdir.is_dir():
        raise OutputError(f"--outdir {outdir} exists and is not a folder")
    check_replaceable_folder(outdir / "outs", OUTS_HINT)
    if request.cloupe is not None:
        check_cloupe(request.cloupe)
    if request.azimuth_model is not None:
        locate_model(request.azimuth_model)
    if request.cell_annotation_model in CLOUD_MODELS:
        read_token(request.tenx_cloud_token_path)
        settings_from_env(request.cloud_url)
        log.info("10x Cloud token: ok")
    report = validate_matrix(request.matrix)
    log.info(
        "matrix: %s cells, %s gene expression features, species %s, %s",
        f"{report.n_cells:,}", f"{report.n_gene_expression_features:,}", report.species, report.matrix_kind,
    )
    for warning in report.warnings:
        log.warning("warning: %s", warning)
    planned = plan_models(report, request.cell_annotation_model)
    log.info("models to run: %s", ", ".join(planned))
    with staging_folder(ensure_folder(outdir, "run folder (--outdir)"), ".work-") as workdir:
        folders = [_run_model(model, request, report, workdir) for model in planned]
        cloupe = None
        if request.cloupe is not None:
            message = annotate_cloupe(request.matrix, request.cloupe, folders, workdir / CLOUPE_OUT, request.loupe_converter)
            log.info(message)
            cloupe = workdir / CLOUPE_OUT if (workdir / CLOUPE_OUT).exists() else None
        return assemble_outputs(request.sample_id, request.matrix, report, folders, outdir / "outs", cloupe)
