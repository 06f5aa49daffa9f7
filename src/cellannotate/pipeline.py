"""The local ``cellannotate annotate`` run: the workflow's steps, in order, in-process.

The Nextflow workflow and this function run the same step functions in the same order:
token check, matrix validation, cloud annotation, Azimuth annotation, cloupe
annotation, output assembly. Which annotation steps run follows Space Ranger: the cloud
model only when one is asked for, Azimuth for every human sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from cellannotate.errors import CellAnnotateError, ModelError, NotAvailableError
from cellannotate.models import CLOUD_MODEL_SPECIES, CLOUD_MODELS
from cellannotate.species import HUMAN
from cellannotate.token import read_token
from cellannotate.validation import ValidationReport, validate_matrix

log = logging.getLogger(__name__)

AZIMUTH, CLOUD = "Azimuth", "10x_Cloud"


@dataclass(frozen=True)
class AnnotateRequest:
    """The options of ``cellannotate annotate`` (Space Ranger's names)."""

    sample_id: str
    matrix: Path
    outdir: Path
    cloupe: Path | None = None
    cell_annotation_model: str | None = None
    tenx_cloud_token_path: Path | None = None


def plan_models(report: ValidationReport, model: str | None) -> list[str]:
    """The annotation models to run for this sample, or a :class:`ModelError` saying why none can."""
    planned = []
    if model in CLOUD_MODELS:
        if not report.cloud_eligible:
            raise ModelError(f"cannot use --cell-annotation-model {model}: {report.cloud_ineligible_reason}")
        wanted = CLOUD_MODEL_SPECIES.get(model)
        if wanted and wanted != report.species:
            raise ModelError(f"--cell-annotation-model {model} is for {wanted} samples; this one is {report.species}")
        planned.append(CLOUD)
    elif model is not None:
        raise ModelError(f"unknown --cell-annotation-model {model!r}; choose one of {', '.join(CLOUD_MODELS)}")
    if report.species == HUMAN:
        planned.append(AZIMUTH)
    if not planned:
        raise ModelError(
            f"no model applies to this {report.species} sample: Pan-Human Azimuth is for human samples; "
            "for mouse pass --cell-annotation-model auto (10x Cloud)"
        )
    return planned


def _check_inputs(request: AnnotateRequest) -> None:
    if request.cloupe is not None and not Path(request.cloupe).is_file():
        raise CellAnnotateError(f"--cloupe file not found: {request.cloupe}")


def run_annotate(request: AnnotateRequest) -> Path:
    """Run every step for one sample and return the ``outs/`` folder."""
    _check_inputs(request)
    if request.cell_annotation_model in CLOUD_MODELS:
        read_token(request.tenx_cloud_token_path)
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
    raise NotAvailableError(f"the {planned[0]} annotation step is not available yet in this version")
