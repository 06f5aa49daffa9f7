"""The 10x Cloud models (``auto``, ``human_pca_v1_beta``, ``mouse_pca_v1_beta``), over HTTPS with a token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cellannotate.annotators.base import TENX_CLOUD_TOKEN, Annotator, ModelOption

if TYPE_CHECKING:
    from cellannotate.annotators.cloud.client import CloudSettings
    from cellannotate.annotators.cloud.token import CloudToken

AUTO, HUMAN_MODEL, MOUSE_MODEL = "auto", "human_pca_v1_beta", "mouse_pca_v1_beta"
MODEL_SPECIES = {HUMAN_MODEL: "human", MOUSE_MODEL: "mouse"}
# Space Ranger 4.1's limits (Cell Ranger 9 used 800,000).
MIN_CELLS, MAX_CELLS = 100, 1_200_000
# The files an analysis returns, and the names they are kept under in cell_types/10x_Cloud/
# (Space Ranger's for the JSON).
RESULTS_JSON, CELL_TYPES_CSV, METADATA_JSON = "cas_results.json.gz", "cas_cell_types.csv", "metadata.json"
PUBLISHED = {RESULTS_JSON: "cell_annotation_results.json.gz", CELL_TYPES_CSV: "cas_cell_types.csv",
             METADATA_JSON: "cas_metadata.json"}


@dataclass(frozen=True)
class CloudInputs:
    """The token read, where the service is and how often to ask it, where running jobs are remembered."""

    token: CloudToken
    settings: CloudSettings
    job_dir: Path


TOKEN_PATH = ModelOption(
    "tenx_cloud_token_path", "File holding the 10x Cloud token (default: $TENX_CLOUD_TOKEN, then the location "
    "`cellannotate cloud auth setup` saved).", type=Path, staged=False, hidden=True,
    details="Prefer a Nextflow secret: nextflow secrets set TENX_CLOUD_TOKEN \"$(cat token)\". Where secrets are not "
            "available (e.g. AWS Batch without Seqera Platform), give the path of the token file (mode 0600, plain or "
            "Cell Ranger's JSON form); it is read where the task runs and never staged into a work directory.")


class CloudAnnotator(Annotator):
    """A 10x Cloud model, asked for by name; needs a token."""

    name = "10x_cloud"
    folder = "10x_Cloud"
    title = "10x Cloud"
    step = "ANNOTATE_CLOUD"
    choices = (AUTO, HUMAN_MODEL, MOUSE_MODEL)
    species = ("human", "mouse")
    needs = (TENX_CLOUD_TOKEN,)
    publishes = tuple(PUBLISHED.values())
    options = (
        TOKEN_PATH,
        ModelOption("cloud_url", "10x Cloud server (default: $CELLANNOTATE_CLOUD_URL, the server a JSON token "
                    "names, $TENX_CLOUD_URL, then https://cloud.10xgenomics.com).", hidden=True,
                    details="Only for testing against another server; the token is sent only to this host, over https "
                            "(plain http only to this machine)."),
        ModelOption("cloud_job_dir", "Folder where running 10x Cloud jobs are remembered, so a re-run re-attaches "
                    "instead of uploading again (default: $CELLANNOTATE_CLOUD_JOBS, then ~/.cache).", type=Path,
                    path_kind="directory", staged=False, hidden=True,
                    details="A folder every task can reach (shared disk or mounted bucket). A cloud task records its "
                            "running analysis there, so that a retried or -resume'd task re-attaches to it instead of "
                            "uploading again; an analysis is never started twice."),
        ModelOption("cloud_poll_interval", "Seconds between status checks of a running analysis (default 30).",
                    type=float, minimum=0, hidden=True),
    )

    def unavailable(self, report, request):
        reason = super().unavailable(report, request)
        wanted = MODEL_SPECIES.get(request or AUTO)
        if reason is None and wanted and wanted != report.species:
            reason = f"10x Cloud model {request} is for {wanted} samples; this one is {report.species}"
        if reason is None and report.n_cells < MIN_CELLS:
            reason = f"10x Cloud models need at least {MIN_CELLS:,} cells; this matrix has {report.n_cells:,}"
        if reason is None and report.n_cells > MAX_CELLS:
            reason = f"10x Cloud models accept at most {MAX_CELLS:,} cells; this matrix has {report.n_cells:,}"
        return reason

    def prepare(self, options) -> CloudInputs:
        from cellannotate.annotators.cloud.job import default_job_dir, settings_from_env
        from cellannotate.annotators.cloud.token import read_token
        from cellannotate.io.atomic import ensure_folder

        token = read_token(options["tenx_cloud_token_path"])
        settings = settings_from_env(options["cloud_url"], options["cloud_poll_interval"], token)
        # Before any upload: a job folder that cannot hold the job file would strand a started analysis.
        job_dir = ensure_folder(options["cloud_job_dir"] or default_job_dir(), "10x Cloud job folder")
        return CloudInputs(token, settings, job_dir)

    def annotate(self, matrix, report, inputs: CloudInputs, scratch):
        from cellannotate.annotators.cloud.job import annotate_cloud

        request = report.requested_model if report.requested_model in self.choices else AUTO
        return annotate_cloud(matrix, request, inputs.token, self.folder, scratch, inputs.settings, inputs.job_dir)


MODEL = CloudAnnotator()
