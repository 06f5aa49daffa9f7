"""A client for the 10x Genomics Cloud cell annotation service.

The protocol is the one Cell Ranger's open client speaks (see ``docs/cloud_protocol.md``):
pick a model, upload the matrix in parts to presigned URLs, start an ad-hoc analysis,
poll it, and download its output files. What a serious client needs on top:

* one ``requests.Session`` for the API, with connect/read timeouts;
* retries with exponential backoff and jitter on connection errors, timeouts, 429
  (honouring ``Retry-After``) and 5xx, never on other 4xx;
* the token only as the API's ``session_id`` cookie, and only to the configured API
  origin: API redirects are followed by hand and only within that origin, presigned
  storage URLs go through a session that has no cookie; server text is shortened and
  redacted before it reaches a message, and no 401/403 body is quoted at all;
* ``https`` only, except to this machine (loopback), or when
  ``$CELLANNOTATE_CLOUD_ALLOW_HTTP=1`` says so explicitly;
* polling with a bounded total wait and progress on stderr.

Time is injected (``sleep``, ``clock``) so that tests run without waiting.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
import ipaddress
from typing import Callable
from urllib.parse import urlencode, urljoin, urlsplit

import requests

from cellannotate.errors import CloudError, TokenError, UsageError
from cellannotate.annotators.cloud.token import CloudToken, redact

log = logging.getLogger(__name__)

DEFAULT_URL = "https://cloud.10xgenomics.com"
URL_ENV = "CELLANNOTATE_CLOUD_URL"
ALLOW_HTTP_ENV = "CELLANNOTATE_CLOUD_ALLOW_HTTP"
MAX_REDIRECTS = 5
MAX_REASON_CHARS = 200
API_PATHS = {
    "annotation": "api/cloud-analysis/annotation-api/v1",
    "files": "api/cloud-analysis/files-api/v1",
    "pipelines": "api/cloud-analysis/pipelines-api/v1",
    "projects": "api/cloud-analysis/projects-api/v1",
    "user": "api/core/users-api/v1/user",
}
RETRY_STATUSES = {429, 500, 502, 503, 504, 524}
PENDING_STATES = {"NEW", "INPROGRESS", "QUEUED", "RUNNING"}


@dataclass(frozen=True)
class CloudSettings:
    """Where the service is and how patient to be with it."""

    base_url: str = DEFAULT_URL
    pipestance_type: str = "SPACERANGER_ANNOTATE_CS"
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    poll_interval: float = 30.0
    max_wait: float = 12 * 3600.0
    part_bytes: int = 5 * 1024 * 1024
    allow_http: bool = False

    def url(self, api: str, path: str = "") -> str:
        base = f"{self.base_url.rstrip('/')}/{API_PATHS[api]}"
        return f"{base}/{path}" if path else base


@dataclass(frozen=True)
class ModelChoice:
    pipeline_name: str
    pipeline_version: str
    model: str


@dataclass(frozen=True)
class Analysis:
    status: str
    project_id: str | None
    message: str | None


def _reason(response: requests.Response) -> str:
    """The server's reason for a refusal, from its JSON body if it has one: shortened, redacted."""
    text = response.reason or f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        text = next((str(body[k]) for k in ("message", "error", "detail", "reason") if body.get(k)), str(body))
    text = " ".join(redact(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, allow_http: bool = False) -> str:
    """``url`` if it is a usable server address: ``https``, or ``http`` to loopback or when allowed."""
    scheme, host, _ = _origin(url)
    if scheme not in ("https", "http") or not host:
        raise UsageError(f"the 10x Cloud URL must look like https://host, not {url!r}")
    if scheme == "http" and not allow_http and not _is_loopback(host):
        raise UsageError(
            f"refusing to send the 10x Cloud token over plain http to {host}: use an https:// URL "
            f"(or set {ALLOW_HTTP_ENV}=1 if you really mean it)"
        )
    return url


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class CloudClient:
    """Talks to the 10x Cloud annotation service for one token."""

    def __init__(
        self,
        token: CloudToken,
        settings: CloudSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        progress: Callable[[str], None] | None = None,
    ):
        self.settings = settings or CloudSettings()
        self._sleep, self._clock = sleep, clock
        self._progress = progress or (lambda message: log.info("%s", message))
        self._rng = random.Random()
        check_base_url(self.settings.base_url, self.settings.allow_http)
        self._origin = _origin(self.settings.base_url)
        if self._origin[0] == "http" and not _is_loopback(self._origin[1]):
            log.warning("warning: the 10x Cloud token goes over plain http to %s", self._origin[1])
        self._cookie = f"session_id={token.reveal()}"
        self._session = requests.Session()
        self._storage = requests.Session()  # presigned URLs: no cookie, ever

    def close(self) -> None:
        self._session.close()
        self._storage.close()

    def __enter__(self) -> "CloudClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------
    def _backoff(self, attempt: int, response: requests.Response | None) -> float:
        hinted = _retry_after(response)
        if hinted is not None:
            return min(hinted, self.settings.backoff_max)
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _send(self, session: requests.Session, method: str, url: str, what: str, **kwargs) -> requests.Response:
        """One request with retries; raises :class:`CloudError` (never quoting the token)."""
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        last = ""
        for attempt in range(1, self.settings.max_attempts + 1):
            response = None
            try:
                response = self._request(session, method, url, what, timeout=timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__} talking to {urlsplit(url).hostname}"
            else:
                if response.status_code < 400:
                    return response
                if response.status_code in (401, 403):
                    raise TokenError(
                        f"10x Cloud refused the token ({response.status_code}) while trying to {what}; it may "
                        f"have expired: create a new one at {self.settings.base_url}/account/security and save it "
                        "with `cellannotate cloud auth setup`"
                    )
                if response.status_code not in RETRY_STATUSES:
                    raise CloudError(f"10x Cloud refused to {what} ({response.status_code}): {_reason(response)}")
                last = f"HTTP {response.status_code} ({_reason(response)})"
            if attempt < self.settings.max_attempts:
                wait = self._backoff(attempt, response)
                log.warning("could not %s: %s; retrying in %.1f s", what, last, wait)
                self._sleep(wait)
        raise CloudError(f"could not {what} after {self.settings.max_attempts} attempts: {last}")

    def _request(self, session: requests.Session, method: str, url: str, what: str, **kwargs) -> requests.Response:
        """Send once. API requests carry the cookie, only to the API origin; their redirects
        are followed here, within that origin, and refused elsewhere."""
        if session is self._storage:
            return session.request(method, url, **kwargs)
        for _ in range(MAX_REDIRECTS + 1):
            if _origin(url) != self._origin:
                raise CloudError(
                    f"10x Cloud sent the request to {what} to another host ({urlsplit(url).hostname}); the token goes "
                    f"only to {self._origin[1]}, so it was not followed"
                )
            response = session.request(method, url, headers={"Cookie": self._cookie}, allow_redirects=False, **kwargs)
            if not response.is_redirect:
                return response
            url = urljoin(url, response.headers["Location"])
            if response.status_code == 303:
                method, kwargs = "GET", {k: v for k, v in kwargs.items() if k not in ("json", "data")}
        raise CloudError(f"10x Cloud redirected the request to {what} more than {MAX_REDIRECTS} times")

    def _json(self, method: str, url: str, what: str, **kwargs):
        response = self._send(self._session, method, url, what, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise CloudError(f"10x Cloud sent a malformed (non-JSON or truncated) answer while trying to {what}") from None

    @staticmethod
    def _field(body, key: str, what: str):
        if not isinstance(body, dict) or key not in body:
            raise CloudError(f"10x Cloud's answer to {what} lacks '{key}'")
        return body[key]

    # -- protocol ---------------------------------------------------------------------
    def check_token(self) -> None:
        """Prove the token works before any upload (Cell Ranger's preflight)."""
        self._json("GET", self.settings.url("user"), "check the token")

    def choose_model(self, genome: str, model: str | None) -> ModelChoice:
        """Ask the service which pipeline and model to run; ``None``/``auto`` lets it choose."""
        body = {"pipelineName": self.settings.pipestance_type, "genomes": [genome], "requires": []}
        if model and model != "auto":
            body["modelName"] = model
        try:
            answer = self._json("POST", self.settings.url("annotation", "defaults"), "choose a model", json=body)
        except CloudError as exc:
            if "(400)" in str(exc):
                raise CloudError(f"10x Cloud has no annotation model for genome {genome!r} and model {model or 'auto'}") from None
            raise
        what = "choose a model"
        return ModelChoice(
            str(self._field(answer, "pipelineName", what)),
            str(self._field(answer, "pipelineVersion", what)),
            str(self._field(answer, "model", what)),
        )

    def upload(self, path: Path, md5: str) -> str:
        """Upload the matrix (skipped when the service already has it); return its file id."""
        path = Path(path)
        size = path.stat().st_size
        what = "register the upload"
        created = self._json(
            "POST", self.settings.url("files", "uploads"), what,
            json={"filename": path.name, "md5": md5, "size": size, "path": str(path.name),
                  "fileType": "INPUT", "metadata": {"source": "cellannotate"}},
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
        parts = []
        total_parts = max(1, -(-size // self.settings.part_bytes))
        with open(path, "rb") as fh:
            number = 1
            while block := fh.read(self.settings.part_bytes):
                parts.append({"partNumber": number, "etag": self._upload_part(blob_id, upload_id, number, block)})
                self._progress(f"uploaded part {number}/{total_parts}")
                number += 1
        self._json("POST", self.settings.url("files", "multipart/complete-upload"), "complete the upload",
                   json={"parts": parts, "blobId": blob_id, "uploadId": upload_id})
        self._json("PUT", self.settings.url("files", f"uploads/{file_id}"), "finish the upload", json={"status": "DONE"})
        return str(file_id)

    def _upload_part(self, blob_id: str, upload_id: str, number: int, block: bytes) -> str:
        digest = base64.b64encode(hashlib.md5(block).digest()).decode()
        query = urlencode({"blobId": blob_id, "partNumber": number, "hash": digest,
                           "expirationSeconds": 3600, "uploadId": upload_id})
        target = self._json("GET", self.settings.url("files", f"multipart/get-upload-url?{query}"), "get an upload URL")
        url = self._field(target, "presignedUrl", "get an upload URL")
        response = self._send(self._storage, "PUT", url, f"upload part {number}", data=block,
                              headers={"Content-MD5": digest, "Content-Type": "application/octet-stream"})
        etag = response.headers.get("ETag")
        if not etag:
            raise CloudError(f"the storage service returned no ETag for part {number}")
        return etag

    def start(self, file_id: str, choice: ModelChoice, genome: str, name: str) -> str:
        body = {
            "analysisName": name, "description": "cell annotation (cellannotate)",
            "pipelineName": choice.pipeline_name, "productVersion": choice.pipeline_version,
            "productVariant": "default",
            "params": {"pipelineName": self.settings.pipestance_type, "id": name, "modelName": choice.model,
                       "filteredMatricesH5": file_id, "genomeName": genome,
                       "withDistances": False, "withDatasetInfo": True},
        }
        answer = self._json("POST", self.settings.url("pipelines", "adhoc-analyses"), "start the analysis", json=body)
        return str(self._field(answer, "analysisID", "start the analysis"))

    def status(self, analysis_id: str) -> Analysis:
        what = "check the analysis"
        answer = self._json("GET", self.settings.url("projects", f"analyses/{analysis_id}"), what)
        runs = self._field(answer, "analysisRuns", what)
        if not isinstance(runs, list) or not runs or not isinstance(runs[0], dict) or "status" not in runs[0]:
            raise CloudError(f"10x Cloud reports no run for analysis {analysis_id}")
        run = runs[0]
        return Analysis(str(run["status"]), answer.get("projectId"), run.get("message") or run.get("error"))

    def wait(self, analysis_id: str) -> Analysis:
        """Poll until the analysis ends; bounded by ``max_wait`` seconds."""
        started = self._clock()
        while True:
            analysis = self.status(analysis_id)
            elapsed = self._clock() - started
            if analysis.status == "COMPLETED":
                if not analysis.project_id:
                    raise CloudError(f"10x Cloud completed analysis {analysis_id} but names no project for its outputs")
                return analysis
            if analysis.status == "FAILED":
                detail = f": {analysis.message}" if analysis.message else ""
                raise CloudError(f"10x Cloud analysis {analysis_id} failed on the server{detail}")
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
        """Stream one output file to ``dest`` (caller makes it atomic)."""
        answer = self._json("POST", self.settings.url("files", f"files/{file_id}/download"), "get a download URL")
        url = self._field(answer, "downloadURL", "get a download URL")
        response = self._send(self._storage, "GET", url, "download a result", stream=True)
        expected = response.headers.get("Content-Length")
        written = 0
        try:
            with open(dest, "wb") as fh:
                for block in response.iter_content(1 << 20):
                    fh.write(block)
                    written += len(block)
        except requests.RequestException as exc:
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
