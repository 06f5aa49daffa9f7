"""A 10x Cloud annotation job: resumable, and never started twice.

The job (file id, analysis name and id, never the token) is kept in a small JSON file keyed
by the matrix's md5, the model and the server, so that re-running the same command, or a
Nextflow ``-resume``, re-attaches to the running analysis instead of uploading and starting
a new one. The analysis name is saved before the one request that starts the analysis; if
that request ends without an answer, the analysis may exist, so a re-run refuses to start
another and says what to check (the API has no way to look an analysis up by name).
"""

from __future__ import annotations

import json
import logging
import os
import random
import string
from dataclasses import asdict, dataclass
from pathlib import Path

from cellannotate.annotators.cloud.client import PIPELINE_NAME, AnalysisFailed, CloudClient, CloudSettings, file_md5
from cellannotate.annotators.cloud.results import REQUIRED, cloud_table
from cellannotate.annotators.cloud.token import CloudToken
from cellannotate.annotators.cloud.transport import ALLOW_HTTP_ENV, DEFAULT_URL, URL_ENV, NotConfirmed, check_base_url
from cellannotate.celltypes import CellTypeTable
from cellannotate.errors import CellAnnotateError, CloudError, ModelError, UsageError
from cellannotate.io.atomic import write_text_atomic
from cellannotate.io.checked import read_json
from cellannotate.redaction import redact
from cellannotate.io.tenx_h5 import TenxMatrix

log = logging.getLogger(__name__)

JOBS_ENV = "CELLANNOTATE_CLOUD_JOBS"
MAX_ANALYSES = 3          # analyses started in one run when the service fails them (Cell Ranger: 3)
POLL_ENV = "CELLANNOTATE_CLOUD_POLL_SECONDS"
PIPELINE_ENV = "CELLANNOTATE_CLOUD_PIPELINE_NAME"
# Cell Ranger's client reads the server from this when the token does not name one.
TENX_URL_ENV = "TENX_CLOUD_URL"


class Interrupted(CellAnnotateError):
    """Ctrl-C while waiting: the analysis goes on in the cloud; a re-run picks it up."""

    exit_code = 130


@dataclass
class CloudJob:
    """What a re-run needs to re-attach; holds no secret."""

    matrix_md5: str
    requested_model: str
    base_url: str
    model: str | None = None
    pipeline_version: str | None = None
    file_id: str | None = None
    analysis_name: str | None = None
    analysis_id: str | None = None

    @staticmethod
    def path(job_dir: Path, md5: str, model: str, base_url: str) -> Path:
        """The job file for this matrix, model and server: a re-run of the same finds it."""
        server = "".join(c if c.isalnum() else "_" for c in base_url)[-40:]
        return Path(job_dir) / f"{md5}-{model}-{server}.json"

    def file(self, job_dir: Path) -> Path:
        """This job's file in ``job_dir``."""
        return self.path(job_dir, self.matrix_md5, self.requested_model, self.base_url)

    def save(self, job_dir: Path) -> None:
        """Write the job file whole (a re-run re-attaches from it)."""
        fields = {k: redact(v) if isinstance(v, str) else v for k, v in asdict(self).items()}
        write_text_atomic(self.file(job_dir), json.dumps(fields, indent=2) + "\n")

    @classmethod
    def load(cls, job_dir: Path, md5: str, model: str, base_url: str) -> "CloudJob | None":
        """The remembered job for this matrix, model and server, or ``None``."""
        path = cls.path(job_dir, md5, model, base_url)
        if not os.path.lexists(path):
            return None
        try:
            fields = read_json(path, "10x Cloud job file", CloudError, max_bytes=1 << 20)
            return cls(**{k: v for k, v in fields.items() if isinstance(v, (str, type(None)))})
        except (CloudError, TypeError):
            log.warning("ignoring unreadable job file %s (a new analysis will be started)", path)
            return None


def default_job_dir() -> Path:
    """Where running jobs are remembered: ``$CELLANNOTATE_CLOUD_JOBS`` or the XDG cache."""
    root = os.environ.get(JOBS_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cellannotate" / "cloud_jobs"
    return Path(root)


def settings_from_env(base_url: str | None = None, poll_interval: float | None = None,
                      token: CloudToken | None = None) -> CloudSettings:
    """Settings from arguments and the environment.

    The server: ``base_url``, else ``$CELLANNOTATE_CLOUD_URL``, else the one a JSON token names,
    else ``$TENX_CLOUD_URL`` (as Cell Ranger's client), else the public service.
    """
    if poll_interval is None and os.environ.get(POLL_ENV):
        try:
            poll_interval = float(os.environ[POLL_ENV])
        except ValueError:
            raise UsageError(f"${POLL_ENV} must be a number of seconds") from None
    allow_http = os.environ.get(ALLOW_HTTP_ENV) == "1"
    if base_url is not None and not base_url.strip():
        raise UsageError("--cloud-url is empty: give the server's https:// address, or leave the option out")
    server = (base_url or os.environ.get(URL_ENV) or (token.server if token else None)
              or os.environ.get(TENX_URL_ENV) or DEFAULT_URL)
    return CloudSettings(
        base_url=check_base_url(server, allow_http),
        pipeline_name=os.environ.get(PIPELINE_ENV) or PIPELINE_NAME,
        poll_interval=CloudSettings.poll_interval if poll_interval is None else poll_interval,
        allow_http=allow_http,
    )


def genome_of(matrix: TenxMatrix) -> str:
    """The single genome of the gene-expression features (the service is told which)."""
    genomes = sorted({g for g in matrix.features.genomes[matrix.features.gene_expression] if g})
    if len(genomes) != 1:
        raise ModelError(f"10x Cloud annotation needs a single-genome matrix; found genomes: {genomes or 'none'}")
    return genomes[0]


def check_model_offered(client: CloudClient, genome: str, model: str) -> None:
    """Refuse, before any upload, a model the service does not offer for this genome (as Cell Ranger's
    ``get_valid_models``: a model applies when one of its genomes is part of the reference name)."""
    if model == "auto":
        return
    offered = [m["name"] for m in client.models() if any(g in genome for g in m.get("genomes") or [])]
    if model not in offered:
        raise ModelError(f"10x Cloud offers no model {model!r} for genome {genome}; it offers: "
                         f"{', '.join(offered) or 'none'} (or use auto)")


def _start(client: CloudClient, job: CloudJob, matrix_path: Path, genome: str, job_dir: Path) -> None:
    """Choose the model, upload, and start the analysis, once."""
    check_model_offered(client, genome, job.requested_model)
    choice = client.choose_model(genome, job.requested_model)
    job.model, job.pipeline_version = choice.model, choice.pipeline_version
    job.file_id = client.upload(Path(matrix_path), job.matrix_md5)
    job.analysis_name = "".join(random.choices(string.ascii_lowercase + string.digits, k=8))
    job.save(job_dir)
    try:
        job.analysis_id = client.start(job.file_id, choice, genome, job.analysis_name)
    except NotConfirmed as exc:
        raise CloudError(f"{exc}; the analysis may have started anyway: look for analysis "
                         f"{job.analysis_name!r} in your 10x Cloud account. A re-run will not start another; "
                         f"to start anew, delete {job.file(job_dir)}") from None
    except CloudError:
        job.analysis_name = None  # refused outright: nothing started
        job.save(job_dir)
        raise
    job.save(job_dir)
    log.info("started 10x Cloud analysis %s (model %s)", job.analysis_id, job.model)


def _start_or_reattach(client: CloudClient, job: CloudJob, matrix_path: Path, genome: str, job_dir: Path) -> None:
    if job.analysis_id:
        log.info("re-attaching to 10x Cloud analysis %s", job.analysis_id)
    elif job.analysis_name:
        raise CloudError(f"an earlier run may have started 10x Cloud analysis {job.analysis_name!r} without "
                         f"confirmation; look for it in your 10x Cloud account. To start anew, delete "
                         f"{job.file(job_dir)}")
    else:
        _start(client, job, matrix_path, genome, job_dir)


def _download_results(client: CloudClient, job: CloudJob, scratch: Path) -> dict[str, Path]:
    """Wait for the analysis, then download its three result files into ``scratch`` (name -> path)."""
    try:
        analysis = client.wait(job.analysis_id)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: 10x Cloud analysis {job.analysis_id} goes on; run the same command again to pick it up"
        ) from None
    files = client.outputs(analysis.project_id, job.analysis_id)
    missing = [name for name in REQUIRED if name not in files]
    if missing:
        raise CloudError(f"10x Cloud's results lack {', '.join(missing)} (got: {', '.join(sorted(files)) or 'nothing'})")
    local = {name: Path(scratch) / name for name in REQUIRED}
    for name in REQUIRED:
        client.download(files[name], local[name])
    return local


def annotate_cloud(
    matrix: TenxMatrix,
    model: str,
    token: CloudToken,
    folder: str,
    scratch: Path,
    settings: CloudSettings | None = None,
    job_dir: Path | None = None,
    client_factory=CloudClient,
) -> CellTypeTable:
    """Label ``matrix`` with the 10x Cloud ``model`` (``auto`` or a model name), re-attaching to a running job.

    The token is proven with the service before anything is uploaded; downloads go to ``scratch``.
    """
    settings = settings or settings_from_env(token=token)
    job_dir = Path(job_dir) if job_dir else default_job_dir()
    genome = genome_of(matrix)
    md5 = file_md5(matrix.path)
    job = CloudJob.load(job_dir, md5, model, settings.base_url) or CloudJob(md5, model, settings.base_url)
    with client_factory(token, settings) as client:
        client.check_token()
        for attempt in range(1, MAX_ANALYSES + 1):
            _start_or_reattach(client, job, matrix.path, genome, job_dir)
            try:
                local = _download_results(client, job, scratch)
                break
            except AnalysisFailed as exc:
                # As Cell Ranger's client: a failed analysis is forgotten and a new one started.
                job = CloudJob(md5, model, settings.base_url)
                job.save(job_dir)
                if attempt == MAX_ANALYSES:
                    raise CloudError(f"{exc}; {MAX_ANALYSES} analyses failed in a row, so this run stops; a re-run "
                                     "starts a new one") from None
                log.warning("warning: %s; starting a new analysis (%d of %d)", exc, attempt + 1, MAX_ANALYSES)
    run = {"model_name": job.model or model, "model_version": job.pipeline_version or "", "analysis_id": job.analysis_id,
           "analysis_name": job.analysis_name, "server": settings.base_url, "pipeline_name": settings.pipeline_name}
    return cloud_table(folder, matrix.barcodes, local, run)
