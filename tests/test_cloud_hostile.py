"""A hostile or broken server must never get the token out of the process, or the token elsewhere.

The servers here are real HTTP servers on 127.0.0.1: one echoes every request (cookie
included) back in its reason phrase and body, with each error status the client may
meet; two others redirect API calls to a second origin (another port) that records
what reaches it.
"""

import http.server
import os
import subprocess
import sys
import threading
from urllib.parse import quote

import pytest

from cellannotate.annotators.cloud.client import CloudClient, CloudSettings
from cellannotate.annotators.cloud.transport import RetryPolicy, check_base_url
from cellannotate.errors import CloudError, UsageError
from cellannotate.io.tenx_h5 import read_10x_h5
from cellannotate.annotators.cloud.token import CloudToken
from cellannotate.redaction import redact
from conftest import BIN, validation_json
from fake_cloud import TOKEN, FakeCloud


class Server:
    """A server on 127.0.0.1 whose answer to every request is ``respond(handler) -> (status, reason, headers, body)``."""

    def __init__(self, respond):
        self.seen = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                server.seen.append((self.command, self.path, self.headers.get("Cookie")))
                status, reason, headers, body = respond(self)
                self.send_response(status, reason)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def matrix(mouse_matrix):
    return mouse_matrix


@pytest.fixture
def token_file(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


def annotate_cloud_script(matrix, token_file, url, tmp_path):
    env = {**os.environ, "CELLANNOTATE_CLOUD_JOBS": str(tmp_path / "jobs")}
    return subprocess.run([sys.executable, str(BIN / "annotate_cloud.py"), "--matrix", str(matrix),
                           "--validation", str(validation_json(matrix, tmp_path, "auto")),
                           "--tenx-cloud-token-path", str(token_file), "--outdir", str(tmp_path / "ann"),
                           "--cloud-url", url, "--cloud-poll-interval", "0"],
                          capture_output=True, text=True, env=env, timeout=120)


def assert_no_token_left_the_process(result, tmp_path):
    said = result.stdout + result.stderr
    for form in (TOKEN, quote(TOKEN, safe="")):
        assert form not in said, said
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name != "token":
            assert TOKEN.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 429, 500, 502, 503])
def test_a_server_that_echoes_the_request_never_gets_the_token_printed(status, matrix, token_file, tmp_path):
    def echo(handler):
        cookie = handler.headers.get("Cookie", "")
        body = f'{{"message": "you sent {cookie} to {handler.path}", "headers": "{quote(cookie)}"}}'.encode()
        return status, f"Echo {cookie}", {"Retry-After": "0", "Content-Type": "application/json"}, body

    server = Server(echo)
    try:
        result = annotate_cloud_script(matrix, token_file, server.url, tmp_path)
    finally:
        server.close()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1
    assert server.seen and all(cookie == f"session_id={TOKEN}" for _, _, cookie in server.seen)
    assert_no_token_left_the_process(result, tmp_path)


@pytest.mark.parametrize("fault", ["failed", "unknown_state"])
def test_server_text_in_analysis_states_is_redacted(fault, matrix, token_file, tmp_path):
    with read_10x_h5(matrix) as m:
        cloud = FakeCloud(m.barcodes)
    cloud.faults.run_message = f"crashed while handling session_id={TOKEN}"
    cloud.faults.analysis_states = ["FAILED"] if fault == "failed" else [f"STUCK:{TOKEN}"]
    try:
        result = annotate_cloud_script(matrix, token_file, cloud.url, tmp_path)
    finally:
        cloud.close()
    assert result.returncode == 6, result.stderr
    assert fault == "failed" or "<redacted>" in result.stderr
    assert_no_token_left_the_process(result, tmp_path)


def test_an_api_redirect_to_another_host_is_not_followed_with_the_token():
    elsewhere = Server(lambda h: (200, "OK", {}, b'{"id": "u1"}'))
    api = Server(lambda h: (302, "Found", {"Location": f"{elsewhere.url}/steal"}, b""))
    try:
        with CloudClient(CloudToken(TOKEN), CloudSettings(base_url=api.url, retry=RetryPolicy(max_attempts=1))) as client:
            with pytest.raises(CloudError, match="another host"):
                client.check_token()
    finally:
        api.close()
        elsewhere.close()
    assert elsewhere.seen == []


def test_a_redirect_within_the_api_origin_is_followed_with_the_token():
    def respond(handler):
        if handler.path.startswith("/api/"):
            return 307, "Temporary Redirect", {"Location": "/moved/user"}, b""
        return 200, "OK", {}, b'{"id": "u1"}'

    api = Server(respond)
    try:
        with CloudClient(CloudToken(TOKEN), CloudSettings(base_url=api.url, retry=RetryPolicy(max_attempts=1))) as client:
            client.check_token()
    finally:
        api.close()
    assert [(path, cookie) for _, path, cookie in api.seen] == [
        ("/api/core/users-api/v1/user", f"session_id={TOKEN}"), ("/moved/user", f"session_id={TOKEN}")]


def test_storage_urls_and_their_redirects_get_no_cookie(tmp_path):
    elsewhere = Server(lambda h: (200, "OK", {}, b"abc"))
    storage = Server(lambda h: (302, "Found", {"Location": f"{elsewhere.url}/blob"}, b""))
    api = Server(lambda h: (200, "OK", {}, f'{{"downloadURL": "{storage.url}/signed"}}'.encode()))
    try:
        with CloudClient(CloudToken(TOKEN), CloudSettings(base_url=api.url, retry=RetryPolicy(max_attempts=1))) as client:
            client.download("file-1", tmp_path / "result")
    finally:
        for server in (api, storage, elsewhere):
            server.close()
    assert (tmp_path / "result").read_bytes() == b"abc"
    assert [cookie for _, _, cookie in storage.seen + elsewhere.seen] == [None, None]


@pytest.mark.parametrize("url", ["http://cloud.example.org", "http://10.0.0.1:8080", "ftp://cloud.example.org", "cloud"])
def test_plain_http_to_another_machine_is_refused(url):
    with pytest.raises(UsageError):
        check_base_url(url)
    with pytest.raises(UsageError):
        CloudClient(CloudToken(TOKEN), CloudSettings(base_url=url))


@pytest.mark.parametrize("url", ["https://cloud.10xgenomics.com", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"])
def test_https_and_loopback_are_accepted(url):
    assert check_base_url(url) == url


def test_plain_http_elsewhere_needs_the_explicit_switch():
    assert check_base_url("http://cloud.example.org", allow_http=True) == "http://cloud.example.org"


def test_the_annotate_command_refuses_plain_http_before_any_work(matrix, token_file, tmp_path):
    result = subprocess.run([sys.executable, "-m", "cellannotate", "annotate", "--id", "s1", "--matrix", str(matrix),
                             "--cell-annotation-model", "auto", "--tenx-cloud-token-path", str(token_file),
                             "--cloud-url", "http://cloud.example.org", "--outdir", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "plain http" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "outs").exists()


def test_redact_finds_plain_and_url_encoded_tokens():
    token = CloudToken("abc/def+ghi=0123456789")
    text = f"a {token.reveal()} b {quote(token.reveal(), safe='')} c"
    assert redact(text) == "a <redacted> b <redacted> c"
