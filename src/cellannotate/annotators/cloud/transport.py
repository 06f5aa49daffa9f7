"""HTTP for the 10x Cloud: where the token may go, what is retried, what a message may quote.

* The token goes only as the ``session_id`` cookie (with a JSON token's Cloudflare Access
  headers) and only to the configured API origin. API redirects are followed here, within
  that origin; a redirect elsewhere is refused. Presigned storage URLs go through a session
  that never has the cookie.
* Retries, with exponential backoff and jitter (``Retry-After`` honoured): a request that
  reads or replaces (:data:`SAFE`) is retried on connection errors, timeouts, 429 and 5xx; a
  request that creates something (:data:`CREATES`) only where Cell Ranger 10's client
  retries it (HTTP 502, 504, 524 from a gateway, and a connection that never opened); a
  request that starts an analysis (:data:`ONCE`) is never repeated, so no job can start two.
* ``https`` only, except to this machine (loopback), or with ``$CELLANNOTATE_CLOUD_ALLOW_HTTP=1``.
* Server text reaches a message shortened and redacted; a 401/403 body is never quoted.

Time is injected (``sleep``) so that tests run without waiting.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import random
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urljoin, urlsplit

import requests

from cellannotate.annotators.cloud.token import CloudToken
from cellannotate.redaction import redact
from cellannotate.errors import CloudError, TokenError, UsageError

log = logging.getLogger(__name__)

DEFAULT_URL = "https://cloud.10xgenomics.com"
URL_ENV = "CELLANNOTATE_CLOUD_URL"
ALLOW_HTTP_ENV = "CELLANNOTATE_CLOUD_ALLOW_HTTP"
MAX_REDIRECTS = 5
MAX_REASON_CHARS = 200
MAX_ERROR_BODY = 64 << 10
SAFE, CREATES, ONCE = "safe", "creates", "once"
RETRY_STATUSES = {SAFE: {429, 500, 502, 503, 504, 524}, CREATES: {502, 504, 524}, ONCE: set()}


class Refused(CloudError):
    """The service answered with an error status (kept in ``status``)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class Unreachable(CloudError):
    """The service could not be reached or kept failing with retryable answers (a passing outage)."""


class NotConfirmed(CloudError):
    """A request of kind :data:`ONCE` failed in a way that leaves open whether the server acted on it."""


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and backoff of the HTTP calls (Cell Ranger's client's, made explicit)."""

    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0


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
        raise UsageError(f"the 10x Cloud URL must look like https://host, not {redact(url)[:200]!r}")
    if "@" in urlsplit(url).netloc:
        raise UsageError("the 10x Cloud URL holds a user name or password: give https://host only (the token "
                         "is what signs you in)")
    if scheme == "http" and not allow_http and not _is_loopback(host):
        raise UsageError(
            f"refusing to send the 10x Cloud token over plain http to {host}: use an https:// URL "
            f"(or set {ALLOW_HTTP_ENV}=1 if you really mean it)"
        )
    return url


def read_body(response: requests.Response, limit: int, what: str) -> bytes:
    """The body of a streamed answer, decoded (gzip included) as it arrives and never past ``limit``
    bytes: a small answer that inflates to gigabytes is refused, not held."""
    body = bytearray()
    try:
        for block in response.iter_content(1 << 16):
            body += block
            if len(body) > limit:
                raise CloudError(f"10x Cloud's answer to {what} is larger than {limit:,} bytes; refused")
    except (requests.RequestException, OSError, ValueError) as exc:
        raise CloudError(f"10x Cloud's answer to {what} broke off or is not what it claims to be "
                         f"({type(exc).__name__})") from None
    finally:
        response.close()
    return bytes(body)


def reason(response: requests.Response) -> str:
    """The server's reason for a refusal, from its JSON body if it has one: shortened, redacted."""
    text = response.reason or f"HTTP {response.status_code}"
    try:
        body = json.loads(read_body(response, MAX_ERROR_BODY, "an error"))
    except (CloudError, ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        text = next((str(body[k]) for k in ("message", "error", "detail", "reason") if body.get(k)), str(body))
    text = " ".join(redact(text).split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class Transport:
    """The two sessions (API with credentials, storage without) and the retry rules."""

    def __init__(self, base_url: str, token: CloudToken, policy: RetryPolicy, allow_http: bool = False,
                 sleep: Callable[[float], None] = time.sleep):
        check_base_url(base_url, allow_http)
        self.base_url, self.policy, self._sleep = base_url, policy, sleep
        self._origin = _origin(base_url)
        if self._origin[0] == "http" and not _is_loopback(self._origin[1]):
            log.warning("warning: the 10x Cloud token goes over plain http to %s", self._origin[1])
        self._credentials = {**token.reveal_headers(), "Cookie": f"session_id={token.reveal()}"}
        self._rng = random.Random()
        self.api = requests.Session()
        self.storage = requests.Session()  # presigned URLs: no cookie, ever

    def close(self) -> None:
        """Close the API and storage sessions."""
        self.api.close()
        self.storage.close()

    def _backoff(self, attempt: int, response: requests.Response | None) -> float:
        hinted = _retry_after(response)
        if hinted is not None:
            return min(hinted, self.policy.backoff_max)
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def send(self, method: str, url: str, what: str, kind: str = SAFE, storage: bool = False,
             **kwargs) -> requests.Response:
        """One request, retried as ``kind`` allows; raises :class:`CloudError` (never quoting the token)."""
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        last = ""
        for attempt in range(1, self.policy.max_attempts + 1):
            response = None
            try:
                response = self._once(method, url, what, storage, timeout=timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{type(exc).__name__} talking to {urlsplit(url).hostname}"
                never_sent = isinstance(exc, requests.ConnectTimeout)
                if kind == ONCE or (kind == CREATES and not never_sent):
                    raise NotConfirmed(f"could not {what}: {last}") from None
            else:
                if response.status_code < 400:
                    return response
                self._refuse(response, what, kind, storage)
                last = f"HTTP {response.status_code} ({reason(response)})"
            if attempt < self.policy.max_attempts:
                wait = self._backoff(attempt, response)
                log.warning("could not %s: %s; retrying in %.1f s", what, last, wait)
                self._sleep(wait)
        raise Unreachable(f"could not {what} after {self.policy.max_attempts} attempts: {last}")

    def _refuse(self, response: requests.Response, what: str, kind: str, storage: bool = False) -> None:
        """Raise for an error answer that must not be retried; return if it may be."""
        status = response.status_code
        if status in (401, 403) and storage:
            raise Refused(f"the storage service refused to {what} ({status}): its link may have expired", status)
        if status in (401, 403):
            raise TokenError(
                f"10x Cloud refused the token ({status}) while trying to {what}; it may have expired: create a "
                f"new one at {self.base_url.rstrip('/')}/account/security and save it with `cellannotate cloud auth setup`"
            )
        if status in RETRY_STATUSES[kind]:
            return
        message = f"10x Cloud refused to {what} ({status}): {reason(response)}"
        raise NotConfirmed(message) if kind == ONCE and status >= 500 else Refused(message, status)

    def _once(self, method: str, url: str, what: str, storage: bool, **kwargs) -> requests.Response:
        """Send once. API requests carry the credentials, only to the API origin; their redirects
        are followed here, within that origin, and refused elsewhere."""
        if storage:
            if urlsplit(url).scheme not in ("https", "http") or not urlsplit(url).hostname:
                raise CloudError(f"10x Cloud gave a storage address that is not a web address; refused to {what}")
            return self.storage.request(method, url, **kwargs)
        headers = {**kwargs.pop("headers", {}), **self._credentials}
        for _ in range(MAX_REDIRECTS + 1):
            if _origin(url) != self._origin:
                raise CloudError(
                    f"10x Cloud sent the request to {what} to another host ({urlsplit(url).hostname}); the token goes "
                    f"only to {self._origin[1]}, so it was not followed"
                )
            response = self.api.request(method, url, headers=headers, allow_redirects=False, stream=True, **kwargs)
            if not response.is_redirect:
                return response
            url = urljoin(url, response.headers["Location"])
            if response.status_code == 303:
                method, kwargs = "GET", {k: v for k, v in kwargs.items() if k not in ("json", "data")}
        raise CloudError(f"10x Cloud redirected the request to {what} more than {MAX_REDIRECTS} times")
