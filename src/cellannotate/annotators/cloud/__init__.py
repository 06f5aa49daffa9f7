"""The 10x Cloud models (``auto``, ``human_pca_v1_beta``, ``mouse_pca_v1_beta``), over HTTPS with a token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cellannotate.annotators.base import TENX_CLOUD_TOKEN, Annotator, ModelOptions
from cellannotate.annotators.cloud.client import CloudSettings
from cellannotate.annotators.cloud.job import annotate_cloud, default_job_dir, settings_from_env
from cellannotate.annotators.cloud.token import CloudToken, read_token
from cellannotate.celltypes import CellTypeTable
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.validation.report import ValidationReport

AUTO, HUMAN_MODEL, MOUSE_MODEL = "auto", "human_pca_v1_beta", "mouse_pca_v1_beta"
MODEL_SPECIES = {HUMAN_MODEL: "human", MOUSE_MODEL: "mouse"}
# Space Ranger 4.1's limits (Cell Ranger 9 used 800,000).
MIN_CELLS, MAX_CELLS = 100, 1_200_000


@dataclass(frozen=True)
class CloudInputs:
    token: CloudToken
    settings: CloudSettings
    job_dir: Path


class CloudAnnotator(Annotator):
    name = "10x_cloud"
    folder = "10x_Cloud"
    title = "10x Cloud"
    step = "ANNOTATE_CLOUD"
    choices = (AUTO, HUMAN_MODEL, MOUSE_MODEL)
    species = ("human", "mouse")
    needs = (TENX_CLOUD_TOKEN,)

    def unavailable(self, report: ValidationReport, request: str | None) -> str | None:
        reason = super().unavailable(report, request)
        wanted = MODEL_SPECIES.get(request or AUTO)
        if reason is None and wanted and wanted != report.species:
            reason = f"10x Cloud model {request} is for {wanted} samples; this one is {report.species}"
        if reason is None and report.n_cells < MIN_CELLS:
            reason = f"10x Cloud models need at least {MIN_CELLS:,} cells; this matrix has {report.n_cells:,}"
        if reason is None and report.n_cells > MAX_CELLS:
            reason = f"10x Cloud models accept at most {MAX_CELLS:,} cells; this matrix has {report.n_cells:,}"
        return reason

    def prepare(self, options: ModelOptions) -> CloudInputs:
        token = read_token(options.tenx_cloud_token_path)
        return CloudInputs(token, settings_from_env(options.cloud_url, options.cloud_poll_interval, token),
                           Path(options.cloud_job_dir) if options.cloud_job_dir else default_job_dir())

    def annotate(self, matrix: TenxMatrix, report: ValidationReport, inputs: CloudInputs, scratch: Path) -> CellTypeTable:
        request = report.requested_model if report.requested_model in self.choices else AUTO
        return annotate_cloud(matrix, request, inputs.token, self.folder, scratch, inputs.settings, inputs.job_dir)
