"""A local stand-in for the 10x Cloud annotation service, written from Cell Ranger 10.0's client.

Every request is checked against what ``cloud_cas_client.py`` (10XGenomics/cellranger,
tag cellranger-10.0.0) sends: the same paths, the same JSON fields, no more and no fewer,
and the values the client uses (``fileType: ADHOC_INPUT``, ``requires: ["results:json"]``,
``productVariant: default``, ``withQualityScores``...). A request that deviates gets HTTP 422
naming the problem; a bad token gets 403, as the client's preflight expects. It serves the
result files Cell Ranger reads (``cas_cell_types.csv``, ``cas_results.json.gz``,
``metadata.json``). Faults can be injected, and every request is recorded.

A real HTTP server on 127.0.0.1, in a thread; standard library only, so that the host
running nf-test needs nothing beyond python3 (``main``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

API = "/api/cloud-analysis"
TOKEN = "fake_token_0123456789abcdef0123"
PIPELINES = {"CELLRANGER_ANNOTATE_CS": ("cas-annotate", "1.4.0")}   # pipestance type -> pipeline, version
MODELS = [
    {"name": "human_pca_v1_beta", "displayName": "Human (beta)", "description": "human PCA model", "date": "2025-01-01",
     "genomes": ["GRCh38", "hg19"]},
    {"name": "mouse_pca_v1_beta", "displayName": "Mouse (beta)", "description": "mouse PCA model", "date": "2025-01-01",
     "genomes": ["mm10", "GRCm39"]},
]
METADATA = {"tree_version_used": "v5.2", "display_map_version_used": "dm-3", "fraction_non_informative_annotations": 0.05,
            "is_beta_model": True, "developer": "10x Genomics"}


class Reject(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _exact(body, required: dict, optional: dict | None = None, what: str = "body") -> dict:
    """``body`` must be an object with exactly the ``required`` keys (plus any ``optional`` ones), each
    value passing its check."""
    optional = optional or {}
    if not isinstance(body, dict):
        raise Reject(422, f"{what} must be a JSON object")
    missing, unknown = set(required) - set(body), set(body) - set(required) - set(optional)
    if missing or unknown:
        raise Reject(422, f"{what}: missing {sorted(missing)}, unexpected {sorted(unknown)}")
    for key, check in {**required, **optional}.items():
        if key in body and not check(body[key]):
            raise Reject(422, f"{what}: bad value for {key!r}: {body[key]!r}")
    return body


def _is_str(v):
    return isinstance(v, str)


def _is_bool(v):
    return isinstance(v, bool)


@dataclass
class Faults:
    """Fault knobs; counts are how many times a fault still fires."""

    slow: Counter = field(default_factory=Counter)          # path prefix -> times to answer too late
    status: dict = field(default_factory=dict)              # path prefix -> [status codes to answer first]
    retry_after: str | None = None                          # Retry-After header sent with 429/503
    drop_part_upload: int = 0                               # times to drop the connection during a part PUT
    truncated_json: Counter = field(default_factory=Counter)
    analysis_states: list = field(default_factory=lambda: ["NEW", "INPROGRESS", "COMPLETED"])
    missing_barcodes: int = 0
    truncated_results: bool = False
    start_then_fail: int = 0                                # create the analysis, then answer 502 this often
    run_message: str | None = None                          # extra text in each analysis run (hostile servers)


@dataclass
class Request:
    method: str
    path: str
    cookie: str | None


class FakeCloud:
    def __init__(self, barcodes, slow_seconds: float = 1.5, port: int = 0):
        self.barcodes = list(barcodes)
        self.faults = Faults()
        self.requests: list[Request] = []
        self.rejections: list[str] = []
        self.uploads: dict = {}          # file id -> {md5, size, blob, status}
        self.blobs: dict = {}            # blob id -> {upload_id, parts: {n: (hash, bytes, etag)}, file}
        self.analyses: dict = {}         # analysis id -> {states, name, model}
        self.models_asked: list = []
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self, method, prefix):
        return sum(1 for r in self.requests if r.method == method and r.path.startswith(prefix))

    def parts_of(self, file_id: str) -> list[bytes]:
        blob = self.blobs[self.uploads[file_id]["blob"]]
        return [blob["parts"][n][1] for n in sorted(blob["parts"])]

    # -- result files ---------------------------------------------------------------
    def cell_types_csv(self) -> bytes:
        kept = self.barcodes[self.faults.missing_barcodes:]
        rows = ["barcode,coarse_cell_type,fine_cell_type"]
        rows += [f"{b},{'T cell' if i % 2 else 'B cell'},{'CD4 T cell' if i % 2 else 'naive B cell'}"
                 for i, b in enumerate(kept)]
        return ("\n".join(rows) + "\n").encode()

    def results_json(self) -> bytes:
        body = gzip.compress(json.dumps([{"barcode": b, "matches": [{"cell_type": "T cell", "count": 40}]}
                                         for b in self.barcodes]).encode())
        return body[: len(body) // 2] if self.faults.truncated_results else body

    # -- the service ----------------------------------------------------------------
    def route(self, method: str, path: str, query: dict, body: bytes, headers) -> tuple:
        """Return (status, headers, payload) for one request, or raise :class:`Reject`."""
        q = {k: v[0] for k, v in query.items()}
        if path == "/api/core/users-api/v1/user" and method == "GET":
            return 200, {}, {"id": "u1", "email": "user@example.org"}
        if path == f"{API}/annotation-api/v1/models" and method == "GET":
            return 200, {}, MODELS
        if path == f"{API}/annotation-api/v1/defaults" and method == "POST":
            return self._defaults(json.loads(body))
        if path == f"{API}/files-api/v1/uploads" and method == "POST":
            return self._register(json.loads(body))
        if path == f"{API}/files-api/v1/multipart/start-upload" and method == "GET":
            return self._start_upload(q)
        if path == f"{API}/files-api/v1/multipart/get-upload-url" and method == "GET":
            return self._part_url(q)
        if path.startswith("/storage/part/") and method == "PUT":
            return self._put_part(path, body, headers)
        if path == f"{API}/files-api/v1/multipart/complete-upload" and method == "POST":
            return self._complete(json.loads(body))
        if path.startswith(f"{API}/files-api/v1/uploads/") and method == "PUT":
            return self._finish(path.rsplit("/", 1)[1], json.loads(body))
        if path == f"{API}/pipelines-api/v1/adhoc-analyses" and method == "POST":
            return self._analysis(json.loads(body))
        if path.startswith(f"{API}/projects-api/v1/analyses/") and method == "GET":
            return self._status(path.rsplit("/", 1)[1])
        if path.startswith(f"{API}/files-api/v1/projects/") and method == "GET":
            return 200, {}, {"files": [{"id": "out-json", "filename": "cas_results.json.gz"},
                                       {"id": "out-csv", "filename": "cas_cell_types.csv"},
                                       {"id": "out-meta", "filename": "metadata.json"}]}
        if path.startswith(f"{API}/files-api/v1/files/") and path.endswith("/download") and method == "POST":
            return 200, {}, {"downloadURL": f"{self.url}/storage/out/{path.split('/')[-2]}?sig=xyz"}
        if path.startswith("/storage/out/") and method == "GET":
            payload = {"out-json": self.results_json(), "out-csv": self.cell_types_csv(),
                       "out-meta": json.dumps(METADATA).encode()}[path.rsplit("/", 1)[1]]
            return 200, {"Content-Type": "application/octet-stream"}, payload
        raise Reject(404, f"unknown endpoint {method} {path}")

    def _defaults(self, body):
        _exact(body, {"pipelineName": _is_str, "genomes": lambda v: isinstance(v, list) and len(v) == 1 and _is_str(v[0]),
                      "requires": lambda v: v in (["results:json"], ["results:json", "qscores"])},
               {"modelName": lambda v: _is_str(v) and v != "auto"}, "defaults")
        self.models_asked.append(body.get("modelName"))
        genome = body["genomes"][0]
        offered = [m["name"] for m in MODELS if any(g in genome for g in m["genomes"])]
        model = body.get("modelName") or (offered[0] if offered else None)
        if body["pipelineName"] not in PIPELINES or model not in offered:
            raise Reject(400, f"no pipeline for {body['pipelineName']}, genome {genome}, model {model}")
        name, version = PIPELINES[body["pipelineName"]]
        return 200, {}, {"pipelineName": name, "pipelineVersion": version, "model": model}

    def _register(self, body):
        _exact(body, {"filename": _is_str, "md5": lambda v: _is_str(v) and re.fullmatch(r"[0-9a-f]{32}", v),
                      "size": lambda v: isinstance(v, int) and v > 0, "path": _is_str,
                      "fileType": lambda v: v == "ADHOC_INPUT", "metadata": lambda v: v is None or isinstance(v, dict)},
               what="uploads")
        done = next((fid for fid, u in self.uploads.items() if u["md5"] == body["md5"] and u["status"] == "DONE"), None)
        if done:
            return 200, {}, {"id": done, "blobId": self.uploads[done]["blob"], "status": "SKIP"}
        file_id, blob = f"file-{len(self.uploads) + 1}", f"blob-{len(self.uploads) + 1}"
        self.uploads[file_id] = {"md5": body["md5"], "size": body["size"], "blob": blob, "status": "READY"}
        self.blobs[blob] = {"upload_id": None, "parts": {}, "file": file_id}
        return 200, {}, {"id": file_id, "blobId": blob, "status": "READY"}

    def _start_upload(self, q):
        _exact(q, {"blobId": lambda v: v in self.blobs}, what="start-upload query")
        self.blobs[q["blobId"]]["upload_id"] = upload_id = f"up-{q['blobId']}"
        return 200, {}, {"uploadId": upload_id}

    def _part_url(self, q):
        _exact(q, {"blobId": lambda v: v in self.blobs, "partNumber": lambda v: v.isdigit() and int(v) >= 1,
                   "hash": lambda v: len(base64.b64decode(v, validate=True)) == 16,
                   "expirationSeconds": lambda v: v == "600", "uploadId": _is_str}, what="get-upload-url query")
        if q["uploadId"] != self.blobs[q["blobId"]]["upload_id"]:
            raise Reject(422, "uploadId does not belong to blobId")
        return 200, {}, {"presignedUrl": f"{self.url}/storage/part/{q['blobId']}/{q['partNumber']}?md5={q['hash']}"}

    def _put_part(self, path, body, headers):
        blob, number = path.split("/")[3], int(path.split("/")[4])
        digest = base64.b64encode(hashlib.md5(body).digest()).decode()
        if headers.get("Content-MD5") != digest or headers.get("Content-Type") != "application/octet-stream":
            raise Reject(400, "Content-MD5 does not match the part, or wrong Content-Type")
        if headers.get("Cookie"):
            raise Reject(400, "storage must not receive cookies")
        etag = f'"{hashlib.md5(body).hexdigest()}"'
        self.blobs[blob]["parts"][number] = (digest, body, etag)
        return 200, {"ETag": etag}, b""

    def _complete(self, body):
        _exact(body, {"parts": lambda v: isinstance(v, list) and v, "blobId": lambda v: v in self.blobs,
                      "uploadId": _is_str}, what="complete-upload")
        blob = self.blobs[body["blobId"]]
        for i, part in enumerate(body["parts"], start=1):
            _exact(part, {"partNumber": lambda v, i=i: v == i, "etag": _is_str}, what=f"part {i}")
            if blob["parts"].get(i, (None, None, None))[2] != part["etag"]:
                raise Reject(422, f"part {i}: etag does not match the uploaded part")
        upload = self.uploads[blob["file"]]
        data = b"".join(blob["parts"][n][1] for n in sorted(blob["parts"]))
        if len(blob["parts"]) != len(body["parts"]) or hashlib.md5(data).hexdigest() != upload["md5"] \
                or len(data) != upload["size"]:
            raise Reject(422, "the parts do not make the registered file (md5 or size)")
        upload["status"] = "UPLOADED"
        return 200, {}, {"status": "ok"}

    def _finish(self, file_id, body):
        _exact(body, {"status": lambda v: v == "DONE"}, what="finish upload")
        if self.uploads.get(file_id, {}).get("status") != "UPLOADED":
            raise Reject(422, f"upload {file_id} is not complete")
        self.uploads[file_id]["status"] = "DONE"
        return 200, {}, {"status": "DONE"}

    def _analysis(self, body):
        _exact(body, {"analysisName": lambda v: _is_str(v) and re.fullmatch(r"[a-z0-9]{8}", v), "description": _is_str,
                      "pipelineName": lambda v: v in {p for p, _ in PIPELINES.values()},
                      "productVersion": lambda v: v in {version for _, version in PIPELINES.values()},
                      "productVariant": lambda v: v == "default", "params": lambda v: isinstance(v, dict)},
               what="adhoc-analyses")
        params = _exact(body["params"], {
            "pipelineName": lambda v: v in PIPELINES, "id": lambda v: v == body["analysisName"],
            "modelName": lambda v: v in {m["name"] for m in MODELS},
            "filteredMatricesH5": lambda v: self.uploads.get(v, {}).get("status") == "DONE",
            "genomeName": _is_str, "withDistances": _is_bool, "withDatasetInfo": _is_bool, "withQualityScores": _is_bool,
        }, what="adhoc-analyses params")
        analysis_id = f"an-{len(self.analyses) + 1}"
        self.analyses[analysis_id] = {"states": list(self.faults.analysis_states), "name": body["analysisName"],
                                      "model": params["modelName"]}
        if self.faults.start_then_fail:
            self.faults.start_then_fail -= 1
            raise Reject(502, "bad gateway")
        return 200, {}, {"analysisID": analysis_id}

    def _status(self, analysis_id):
        analysis = self.analyses.get(analysis_id)
        if analysis is None:
            raise Reject(404, "no such analysis")
        states = analysis["states"]
        state = states.pop(0) if len(states) > 1 else states[0]
        run = {"status": state, **({"message": self.faults.run_message} if self.faults.run_message else {})}
        return 200, {}, {"projectId": "proj-1", "analysisRuns": [run]}

    # -- HTTP -----------------------------------------------------------------------
    def _handler(self):
        cloud = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _serve(self):
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                cookie = self.headers.get("Cookie")
                with cloud._lock:
                    cloud.requests.append(Request(self.command, parsed.path, cookie))
                    faults = cloud.faults
                    slow = next((k for k in faults.slow if parsed.path.startswith(k) and faults.slow[k] > 0), None)
                    if slow:
                        faults.slow[slow] -= 1
                    forced = next((k for k, v in faults.status.items() if parsed.path.startswith(k) and v), None)
                    forced_status = faults.status[forced].pop(0) if forced else None
                    drop = parsed.path.startswith("/storage/part") and faults.drop_part_upload > 0
                    if drop:
                        faults.drop_part_upload -= 1
                    truncate = next((k for k in faults.truncated_json if parsed.path.startswith(k) and faults.truncated_json[k] > 0), None)
                    if truncate:
                        faults.truncated_json[truncate] -= 1
                if slow:
                    time.sleep(cloud.slow_seconds)
                if drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if not parsed.path.startswith("/storage/") and cookie != f"session_id={TOKEN}":
                    self._reply(403, {}, {"message": "invalid or expired credentials"})
                    return
                if forced_status:
                    headers = {"Retry-After": faults.retry_after} if faults.retry_after else {}
                    self._reply(forced_status, headers, {"message": f"injected {forced_status}"})
                    return
                try:
                    with cloud._lock:
                        status, headers, payload = cloud.route(self.command, parsed.path, parse_qs(parsed.query),
                                                               body, self.headers)
                except Reject as exc:
                    if exc.status == 422:  # a request the real client would not send
                        cloud.rejections.append(f"{self.command} {parsed.path}: {exc.message}")
                    status, headers, payload = exc.status, {}, {"message": exc.message}
                except ValueError as exc:
                    cloud.rejections.append(f"{self.command} {parsed.path}: not JSON")
                    status, headers, payload = 422, {}, {"message": f"body is not JSON: {exc}"}
                if truncate:
                    payload = json.dumps(payload).encode()[:10]
                self._reply(status, headers, payload)

            def _reply(self, status, headers, payload):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = _serve

            def log_message(self, *args):
                pass

        return Handler


def main(argv=None):
    """Serve on a fixed port until killed or ``--lifetime`` passes (for nf-test's module test)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--barcodes", required=True, help="text file, one barcode a line")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lifetime", type=float, default=900.0, help="seconds before the server stops")
    args = parser.parse_args(argv)
    with open(args.barcodes) as handle:
        cloud = FakeCloud([line.strip() for line in handle if line.strip()], port=args.port)
    print(cloud.url, flush=True)
    time.sleep(args.lifetime)
    cloud.close()


if __name__ == "__main__":
    main()
