"""The 10x Cloud cell annotation protocol, request by request as Cell Ranger 10.0's client sends it.

``docs/cloud_protocol.md`` cites the client's file and line for every request. In order:
check the token (``users-api/v1/user``), list the models and ask for the defaults of this
pipeline and genome, register the upload and send it in 5 MiB parts to presigned URLs,
start an ad-hoc analysis, poll it, list its files and download them. The HTTP rules (where
the token goes, what is retried) are :mod:`cellannotate.annotators.cloud.transport`'s.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

import requests

from cellannotate.annotators.cloud.token import CloudToken
from cellannotate.annotators.cloud.transport import (CREATES, DEFAULT_URL, ONCE, Refused, RetryPolicy, Transport,
                                                     Unreachable, read_body)
from cellannotate.errors import CloudError
from cellannotate.io.checked import parse_json

log = logging.getLogger(__name__)

API_PATHS = {
    "annotation": "api/cloud-analysis/annotation-api/v1",
    "files": "api/cloud-analysis/files-api/v1",
    "pipelines": "api/cloud-analysis/pipelines-api/v1",
    "projects": "api/cloud-analysis/projects-api/v1",
    "user": "api/core/users-api/v1/user",
}
# What a run asks the service to support: per-barcode JSON results (common.py).
REQUIRES = ["results:json"]
# Cell Ranger's annotate-only pipeline name. Space Ranger's is not public; this one is known
# to be served for a filtered matrix. CELLANNOTATE_CLOUD_PIPELINE_NAME sends another.
PIPELINE_NAME = "CELLRANGER_ANNOTATE_CS"
PENDING_STATES = ("NEW", "INPROGRESS")
PART_URL_SECONDS = 600
STORAGE_TRIES = 3                   # fresh upload or download links asked for, when one expires
MAX_ANSWER_BYTES = 16 << 20         # an API answer (JSON), decoded
MAX_RESULT_BYTES = 8 << 30          # one result file; a 1,200,000-cell analysis is well under it


class AnalysisFailed(CloudError):
    """The service ran the analysis and it failed: a new one may succeed (Cell Ranger starts one)."""


@dataclass(frozen=True)
class CloudSettings:
    """Where the service is, which pipeline to ask for, and how patient to be."""

    base_url: str = DEFAULT_URL
    pipeline_name: str = PIPELINE_NAME
    retry: RetryPolicy = RetryPolicy()
    poll_interval: float = 30.0
    max_wait: float = 12 * 3600.0     # the client's limit for an annotation-only run
    part_bytes: int = 5 * 1024 * 1024
    allow_http: bool = False

    def url(self, api: str, path: str = "") -> str:
        """The URL of ``path`` under the service's ``api`` (as Cell Ranger's client builds them)."""
        base = f"{self.base_url.rstrip('/')}/{API_PATHS[api]}"
        return f"{base}/{path}" if path else base


@dataclass(frozen=True)
class ModelChoice:
    """The service's defaults for this run (``AnnotationParams`` in the client)."""

    pipeline_name: str
    pipeline_version: str
    model: str


@dataclass(frozen=True)
class Analysis:
    """What the service says of an analysis: its status and the project it belongs to."""

    status: str
    project_id: str | None


class CloudClient:
    """Talks to the 10x Cloud annotation service for one token."""

    def __init__(self, token: CloudToken, settings: CloudSettings | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 progress: Callable[[str], None] | None = None):
        self.settings = settings or CloudSettings()
        self._sleep, self._clock = sleep, clock
        self._progress = progress or (lambda message: log.info("%s", message))
        self._http = Transport(self.settings.base_url, token, self.settings.retry, self.settings.allow_http, sleep)

    def close(self) -> None:
        """Close the HTTP sessions."""
        self._http.close()

    def __enter__(self) -> "CloudClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _json(self, method: str, url: str, what: str, **kwargs):
        response = self._http.send(method, url, what, **kwargs)
        return parse_json(read_body(response, MAX_ANSWER_BYTES, what), f"10x Cloud's answer to {what}", CloudError,
                          (dict, list))

    @staticmethod
    def _field(body, key: str, what: str):
        if not isinstance(body, dict) or key not in body:
            raise CloudError(f"10x Cloud's answer to {what} lacks '{key}'")
        return body[key]

    # -- before any upload ----------------------------------------------------------
    def check_token(self) -> None:
        """Prove the token works (the client's preflight; 403 means a bad token)."""
        self._json("GET", self.settings.url("user"), "check the token")

    def models(self) -> list[dict]:
        """The models the service offers: ``{name, displayName, description, date, genomes}`` each."""
        answer = self._json("GET", self.settings.url("annotation", "models"), "list the models")
        if not isinstance(answer, list) or not all(isinstance(m, dict) and "name" in m for m in answer):
            raise CloudError("10x Cloud's list of models is malformed")
        return answer

    def choose_model(self, genome: str, model: str) -> ModelChoice:
        """The pipeline, version and model to run; ``auto`` lets the service choose. HTTP 400 means
        the service has no pipeline for this genome and model."""
        body = {"pipelineName": self.settings.pipeline_name, "genomes": [genome], "requires": list(REQUIRES)}
        if model != "auto":
            body["modelName"] = model
        what = "choose a model"
        try:
            answer = self._json("POST", self.settings.url("annotation", "defaults"), what, json=body)
        except Refused as exc:
            if exc.status == 400:
                raise CloudError(f"10x Cloud has no annotation pipeline for genome {genome!r}, model {model} and "
                                 f"pipeline {self.settings.pipeline_name}") from None
            raise
        return ModelChoice(*(str(self._field(answer, key, what)) for key in ("pipelineName", "pipelineVersion", "model")))

    # -- upload ---------------------------------------------------------------------
    def upload(self, path: Path, md5: str) -> str:
        """Upload the matrix (skipped when the service already has it); return its file id."""
        path = Path(path)
        what = "register the upload"
        created = self._json(
            "POST", self.settings.url("files", "uploads"), what, kind=CREATES,
            json={"filename": path.name, "md5": md5, "size": path.stat().st_size, "path": path.name,
                  "fileType": "ADHOC_INPUT", "metadata": {"source": "cellannotate"}},
        )
        file_id, blob_id, status = (self._field(created, k, what) for k in ("id", "blobId", "status"))
        if status == "SKIP":
            self._progress("10x Cloud already has this matrix: upload skipped")
            return str(file_id)
        if status != "READY":
            raise CloudError(f"10x Cloud put the upload in an unexpected state: {status}")
        start = self._json("GET", self.settings.url("files", "multipart/start-upload?" + urlencode({"blobId": blob_id})),
                           "start the upload")
        upload_id = self._field(start, "uploadId", "start the upload")
        parts = self._upload_parts(path, blob_id, upload_id)
        self._json("POST", self.settings.url("files", "multipart/complete-upload"), "complete the upload", kind=CREATES,
                   json={"parts": parts, "blobId": blob_id, "uploadId": upload_id})
        self._json("PUT", self.settings.url("files", f"uploads/{file_id}"), "finish the upload", json={"status": "DONE"})
        return str(file_id)

    def _upload_parts(self, path: Path, blob_id: str, upload_id: str) -> list[dict]:
        parts = []
        total = max(1, -(-path.stat().st_size // self.settings.part_bytes))
        with open(path, "rb") as fh:
            while block := fh.read(self.settings.part_bytes):
                number = len(parts) + 1
                parts.append({"partNumber": number, "etag": self._upload_part(blob_id, upload_id, number, block)})
                self._progress(f"uploaded part {number}/{total}")
        return parts

    def _upload_part(self, blob_id: str, upload_id: str, number: int, block: bytes) -> str:
        """Upload one part; a link the storage refuses (expired) is asked for again, as Cell Ranger does."""
        for attempt in range(1, STORAGE_TRIES + 1):
            try:
                return self._upload_part_once(blob_id, upload_id, number, block)
            except Refused as exc:
                if exc.status not in (401, 403) or attempt == STORAGE_TRIES:
                    raise
                log.warning("%s; asking for a new upload link", exc)

    def _upload_part_once(self, blob_id: str, upload_id: str, number: int, block: bytes) -> str:
        digest = base64.b64encode(hashlib.md5(block).digest()).decode()
        query = urlencode({"blobId": blob_id, "partNumber": number, "hash": digest,
                           "expirationSeconds": PART_URL_SECONDS, "uploadId": upload_id})
        target = self._json("GET", self.settings.url("files", f"multipart/get-upload-url?{query}"), "get an upload URL")
        url = self._field(target, "presignedUrl", "get an upload URL")
        response = self._http.send("PUT", url, f"upload part {number}", storage=True, data=block,
                                   headers={"Content-MD5": digest, "Content-Type": "application/octet-stream",
                                            "Accept": "application/json"})
        etag = response.headers.get("ETag")
        if not etag:
            raise CloudError(f"the storage service returned no ETag for part {number}")
        return etag

    # -- the analysis ---------------------------------------------------------------
    def start(self, file_id: str, choice: ModelChoice, genome: str, name: str) -> str:
        """Start the analysis: sent once, never repeated (see ``transport.ONCE``)."""
        body = {
            "analysisName": name, "description": "cell annotation (local)",
            "pipelineName": choice.pipeline_name, "productVersion": choice.pipeline_version,
            "productVariant": "default",
            "params": {"pipelineName": self.settings.pipeline_name, "id": name, "modelName": choice.model,
                       "filteredMatricesH5": file_id, "genomeName": genome, "withDistances": False,
                       "withDatasetInfo": True, "withQualityScores": False},
        }
        answer = self._json("POST", self.settings.url("pipelines", "adhoc-analyses"), "start the analysis", kind=ONCE,
                            json=body)
        return str(self._field(answer, "analysisID", "start the analysis"))

    def status(self, analysis_id: str) -> Analysis:
        """The latest run's status of analysis ``analysis_id``."""
        what = "check the analysis"
        answer = self._json("GET", self.settings.url("projects", f"analyses/{analysis_id}"), what)
        runs = self._field(answer, "analysisRuns", what)
        if not isinstance(runs, list) or not runs or not isinstance(runs[0], dict) or "status" not in runs[0]:
            raise CloudError(f"10x Cloud reports no run for analysis {analysis_id}")
        return Analysis(str(runs[0]["status"]), answer.get("projectId"))

    def wait(self, analysis_id: str) -> Analysis:
        """Poll until the analysis leaves NEW/INPROGRESS; bounded by ``max_wait`` seconds."""
        started = self._clock()
        while True:
            try:
                analysis = self.status(analysis_id)
            except Unreachable as exc:  # the service is down for a while: keep asking until max_wait, as Cell Ranger
                if self._clock() - started >= self.settings.max_wait:
                    raise
                log.warning("could not check analysis %s (%s); asking again", analysis_id, exc)
                self._sleep(self.settings.poll_interval)
                continue
            elapsed = self._clock() - started
            if analysis.status == "COMPLETED":
                if not analysis.project_id:
                    raise CloudError(f"10x Cloud completed analysis {analysis_id} but names no project for its outputs")
                return analysis
            if analysis.status == "FAILED":
                raise AnalysisFailed(f"10x Cloud analysis {analysis_id} failed on the server (see it in your 10x "
                                     "Cloud account)")
            if analysis.status not in PENDING_STATES:
                raise CloudError(f"10x Cloud analysis {analysis_id} is in an unknown state: {analysis.status}")
            if elapsed >= self.settings.max_wait:
                raise CloudError(
                    f"10x Cloud analysis {analysis_id} did not finish within {self.settings.max_wait / 3600:.1f} h; "
                    "re-run later to pick it up again"
                )
            self._progress(f"analysis {analysis_id}: {analysis.status.lower()} ({elapsed / 60:.0f} min)")
            self._sleep(self.settings.poll_interval)

    def outputs(self, project_id: str, analysis_id: str) -> dict[str, str]:
        """Output file name -> file id of a completed analysis."""
        what = "list the results"
        answer = self._json("GET", self.settings.url("files", f"projects/{project_id}/analyses/{analysis_id}"), what)
        files = self._field(answer, "files", what)
        try:
            return {str(f["filename"]): str(f["id"]) for f in files}
        except (TypeError, KeyError):
            raise CloudError("10x Cloud's list of results is malformed") from None

    def download(self, file_id: str, dest: Path) -> None:
        """Stream one output file to ``dest`` (the caller makes it atomic); a link the storage refuses
        (expired) is asked for again, as Cell Ranger does."""
        for attempt in range(1, STORAGE_TRIES + 1):
            try:
                return self._download_once(file_id, dest)
            except Refused as exc:
                if exc.status not in (401, 403) or attempt == STORAGE_TRIES:
                    raise
                log.warning("%s; asking for a new download link", exc)

    def _download_once(self, file_id: str, dest: Path) -> None:
        answer = self._json("POST", self.settings.url("files", f"files/{file_id}/download"), "get a download URL")
        url = self._field(answer, "downloadURL", "get a download URL")
        if not isinstance(url, str):
            raise CloudError("10x Cloud's download URL is not text")
        response = self._http.send("GET", url, "download a result", storage=True, stream=True)
        expected = response.headers.get("Content-Length")
        written = 0
        try:
            with open(dest, "wb") as fh:
                for block in response.iter_content(1 << 20):
                    fh.write(block)
                    written += len(block)
                    if written > MAX_RESULT_BYTES:
                        raise CloudError(f"a result download is larger than {MAX_RESULT_BYTES:,} bytes; refused")
        except (OSError, requests.RequestException) as exc:
            raise CloudError(f"downloading a result broke off: {type(exc).__name__}") from None
        if expected is not None and expected.isdigit() and written != int(expected):
            raise CloudError(f"a result download is truncated ({written} of {expected} bytes)")


def file_md5(path: Path, block: int = 1 << 20) -> str:
    """md5 of a file, read in blocks (the service keys uploads by it)."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()
