"""A 10x Cloud annotation job: resumable, its results checked and kept.

What can be checked locally (species, model, cell limits) is checked by the annotator
before any of this runs; a single genome is checked here, before any upload. The job (file id and analysis id, never the token) is kept in
a small JSON file keyed by the matrix's md5, the model and the server, so that re-running
the same command, or a Nextflow ``-resume``, re-attaches to the running analysis instead
of uploading and starting a new one. Results must cover every input barcode.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cellannotate.io.atomic import write_text_atomic
from cellannotate.celltypes import CellTypeTable
from cellannotate.annotators.cloud.client import ALLOW_HTTP_ENV, URL_ENV, CloudClient, CloudSettings, check_base_url, file_md5
from cellannotate.errors import CellAnnotateError, CloudError, ModelError
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.annotators.cloud.token import CloudToken

log = logging.getLogger(__name__)

RESULTS_JSON, CELL_TYPES_CSV, METADATA_JSON = "cas_results.json.gz", "cas_cell_types.csv", "metadata.json"
PUBLISHED_RESULTS = "cell_annotation_results.json.gz"
JOBS_ENV = "CELLANNOTATE_CLOUD_JOBS"
POLL_ENV = "CELLANNOTATE_CLOUD_POLL_SECONDS"


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
    file_id: str | None = None
    analysis_id: str | None = None

    @staticmethod
    def path(job_dir: Path, md5: str, model: str, base_url: str) -> Path:
        server = "".join(c if c.isalnum() else "_" for c in base_url)[-40:]
        return Path(job_dir) / f"{md5}-{model}-{server}.json"

    def save(self, job_dir: Path) -> None:
        Path(job_dir).mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path(job_dir, self.matrix_md5, self.requested_model, self.base_url),
                          json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, job_dir: Path, md5: str, model: str, base_url: str) -> "CloudJob | None":
        path = cls.path(job_dir, md5, model, base_url)
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            log.warning("ignoring unreadable job file %s", path)
            return None


def default_job_dir() -> Path:
    root = os.environ.get(JOBS_ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cellannotate" / "cloud_jobs"
    return Path(root)


def settings_from_env(base_url: str | None = None, poll_interval: float | None = None) -> CloudSettings:
    """Settings from arguments, else ``$CELLANNOTATE_CLOUD_URL`` / ``$CELLANNOTATE_CLOUD_POLL_SECONDS``."""
    if poll_interval is None and os.environ.get(POLL_ENV):
        poll_interval = float(os.environ[POLL_ENV])
    allow_http = os.environ.get(ALLOW_HTTP_ENV) == "1"
    return CloudSettings(
        base_url=check_base_url(base_url or os.environ.get(URL_ENV) or CloudSettings.base_url, allow_http),
        poll_interval=CloudSettings.poll_interval if poll_interval is None else poll_interval,
        allow_http=allow_http,
    )


def _genome(matrix: TenxMatrix) -> str:
    genomes = sorted({g for g in matrix.features.genomes[matrix.features.gene_expression] if g})
    if len(genomes) != 1:
        raise ModelError(f"10x Cloud annotation needs a single-genome matrix; found genomes: {genomes or 'none'}")
    return genomes[0]


def _check_gzip_json(path: Path) -> None:
    """Stream through the results file: whole gzip, JSON-shaped, without loading it."""
    try:
        with gzip.open(path, "rb") as fh:
            first = fh.read(1 << 16).lstrip()[:1]
            while fh.read(1 << 20):
                pass
    except (OSError, EOFError) as exc:
        raise CloudError(f"10x Cloud's per-barcode results are truncated or corrupt ({exc})") from None
    if first not in (b"{", b"["):
        raise CloudError("10x Cloud's per-barcode results are not JSON")


def read_cloud_cell_types(path: Path, barcodes: np.ndarray) -> pd.DataFrame:
    """The service's cell type table, in input barcode order; every barcode must be there."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise CloudError(f"10x Cloud's cell type table is malformed: {exc}") from None
    required = {"barcode", "coarse_cell_type", "fine_cell_type"}
    if not required <= set(frame.columns):
        raise CloudError(f"10x Cloud's cell type table lacks columns {sorted(required - set(frame.columns))}")
    if frame["barcode"].duplicated().any():
        raise CloudError("10x Cloud's cell type table lists a barcode twice")
    frame = frame.set_index("barcode")
    wanted = pd.Index(barcodes.astype(str))
    missing = wanted.difference(frame.index)
    if len(missing):
        raise CloudError(
            f"10x Cloud's results do not cover every barcode: {len(missing):,} of {len(wanted):,} missing "
            f"(e.g. {missing[0]})"
        )
    extra = frame.index.difference(wanted)
    if len(extra):
        raise CloudError(f"10x Cloud's results name {len(extra):,} barcodes not in the matrix (e.g. {extra[0]})")
    return frame.loc[wanted]


def _start_or_reattach(client: CloudClient, job: CloudJob, matrix_path: Path, genome: str, job_dir: Path) -> None:
    """Start the analysis (choose the model, upload, start) unless the job already has one."""
    if job.analysis_id:
        log.info("re-attaching to 10x Cloud analysis %s", job.analysis_id)
        return
    choice = client.choose_model(genome, job.requested_model)
    job.model = choice.model
    job.file_id = client.upload(Path(matrix_path), job.matrix_md5)
    job.analysis_id = client.start(job.file_id, choice, genome, f"cellannotate-{secrets.token_hex(4)}")
    job.save(job_dir)
    log.info("started 10x Cloud analysis %s (model %s)", job.analysis_id, job.model)


def _download_results(client: CloudClient, job: CloudJob, scratch: Path) -> dict[str, Path]:
    """Wait for the analysis, then download its result files into ``scratch`` (name -> path)."""
    try:
        analysis = client.wait(job.analysis_id)
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: 10x Cloud analysis {job.analysis_id} goes on; run the same command again to pick it up"
        ) from None
    files = client.outputs(analysis.project_id, job.analysis_id)
    for name in (RESULTS_JSON, CELL_TYPES_CSV):
        if name not in files:
            raise CloudError(f"10x Cloud's results lack {name} (got: {', '.join(sorted(files)) or 'nothing'})")
    local = {}
    for name in (RESULTS_JSON, CELL_TYPES_CSV, METADATA_JSON):
        if name in files:
            local[name] = Path(scratch) / name
            client.download(files[name], local[name])
    _check_gzip_json(local[RESULTS_JSON])
    return local


def _table(folder: str, barcodes: np.ndarray, local: dict[str, Path], job: CloudJob, settings: CloudSettings) -> CellTypeTable:
    frame = read_cloud_cell_types(local[CELL_TYPES_CSV], barcodes)
    metadata = json.loads(local[METADATA_JSON].read_text()) if METADATA_JSON in local else {}
    confidence = (pd.to_numeric(frame["confidence"], errors="coerce").to_numpy(float) if "confidence" in frame
                  else np.full(len(frame), np.nan))
    coarse = frame["coarse_cell_type"].to_numpy(object)
    return CellTypeTable(
        model=folder,
        barcodes=barcodes,
        broad=coarse,
        coarse=coarse,
        fine=frame["fine_cell_type"].to_numpy(object),
        confidence=confidence,
        info={"model_name": job.model or job.requested_model, "model_version": metadata.get("model_version", ""),
              "analysis_id": job.analysis_id, "server": settings.base_url, "service_metadata": metadata,
              "report": {"10x_Cloud_analysis": job.analysis_id}},
        attachments={PUBLISHED_RESULTS: local[RESULTS_JSON]},
    )


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
    settings = settings or settings_from_env()
    job_dir = Path(job_dir) if job_dir else default_job_dir()
    genome = _genome(matrix)
    md5 = file_md5(matrix.path)
    job = CloudJob.load(job_dir, md5, model, settings.base_url) or CloudJob(md5, model, settings.base_url)
    with client_factory(token, settings) as client:
        client.check_token()
        _start_or_reattach(client, job, matrix.path, genome, job_dir)
        local = _download_results(client, job, scratch)
    return _table(folder, matrix.barcodes, local, job, settings)
