"""A local stand-in for the 10x Cloud annotation service, with faults to inject.

It speaks the protocol of ``docs/cloud_protocol.md`` on 127.0.0.1 (a real HTTP server in
a thread) and records every request, so tests can check what the client sent and where.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

API = "/api/cloud-analysis"
TOKEN = "fake_token_0123456789abcdef0123"


@dataclass
class Faults:
    """Fault knobs; counts are how many times a fault still fires."""

    slow: Counter = field(default_factory=Counter)          # path prefix -> times to answer too late
    status: dict = field(default_factory=dict)              # path prefix -> [status codes to answer first]
    retry_after: str | None = None                          # Retry-After header sent with 429
    drop_part_upload: int = 0                               # times to drop the connection during a part PUT
    truncated_json: Counter = field(default_factory=Counter)
    analysis_states: list = field(default_factory=lambda: ["NEW", "INPROGRESS", "COMPLETED"])
    failure_message: str = "pipeline crashed: out of memory"
    missing_barcodes: int = 0
    truncated_results: bool = False
    skip_upload: bool = False


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
        self.parts = defaultdict(dict)
        self.completed_blobs: list = []
        self.analyses: dict = {}
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

    # -- the service ----------------------------------------------------------------
    def cell_types_csv(self) -> bytes:
        kept = self.barcodes[self.faults.missing_barcodes:]
        rows = ["barcode,coarse_cell_type,fine_cell_type,confidence"]
        rows += [f"{b},{'T cell' if i % 2 else 'B cell'},{'CD4 T cell' if i % 2 else 'naive B cell'},0.9"
                 for i, b in enumerate(kept)]
        return ("\n".join(rows) + "\n").encode()

    def results_json(self) -> bytes:
        body = gzip.compress(json.dumps({b: {"matches": [{"cell_type": "T cell", "score": 0.9}]} for b in self.barcodes}).encode())
        return body[: len(body) // 2] if self.faults.truncated_results else body

    def route(self, method: str, path: str, query: dict, body: bytes):
        """Return (status, headers, payload bytes) for one request."""
        p = path
        if p == "/api/core/users-api/v1/user":
            return 200, {}, {"id": "u1", "email": "user@example.org"}
        if p == f"{API}/annotation-api/v1/defaults" and method == "POST":
            req = json.loads(body)
            self.models_asked.append(req.get("modelName"))
            genome = req["genomes"][0]
            if genome not in ("GRCh38", "GRCm39", "mm10"):
                return 400, {}, {"message": f"no pipeline for genome {genome}"}
            model = req.get("modelName") or ("human_pca_v1_beta" if genome == "GRCh38" else "mouse_pca_v1_beta")
            return 200, {}, {"pipelineName": "cell-annotation", "pipelineVersion": "1.2", "model": model}
        if p == f"{API}/files-api/v1/uploads" and method == "POST":
            req = json.loads(body)
            status = "SKIP" if self.faults.skip_upload else "READY"
            return 200, {}, {"id": "file-1", "blobId": "blob-1", "status": status, "md5": req["md5"]}
        if p == f"{API}/files-api/v1/multipart/start-upload":
            return 200, {}, {"uploadId": "up-1"}
        if p == f"{API}/files-api/v1/multipart/get-upload-url":
            part = query["partNumber"][0]
            return 200, {}, {"presignedUrl": f"{self.url}/storage/blob-1/{part}?sig=abc"}
        if p.startswith("/storage/") and method == "PUT":
            part = int(p.rsplit("/", 1)[1])
            self.parts["blob-1"][part] = body
            return 200, {"ETag": f'"{hashlib.md5(body).hexdigest()}"'}, b""
        if p == f"{API}/files-api/v1/multipart/complete-upload":
            req = json.loads(body)
            self.completed_blobs.append([x["partNumber"] for x in req["parts"]])
            return 200, {}, {"status": "ok"}
        if p.startswith(f"{API}/files-api/v1/uploads/") and method == "PUT":
            return 200, {}, {"status": "DONE"}
        if p == f"{API}/pipelines-api/v1/adhoc-analyses" and method == "POST":
            analysis_id = f"an-{len(self.analyses) + 1}"
            self.analyses[analysis_id] = list(self.faults.analysis_states)
            return 200, {}, {"analysisID": analysis_id}
        if p.startswith(f"{API}/projects-api/v1/analyses/"):
            analysis_id = p.rsplit("/", 1)[1]
            states = self.analyses.get(analysis_id)
            if states is None:
                return 404, {}, {"message": "no such analysis"}
            state = states.pop(0) if len(states) > 1 else states[0]
            run = {"status": state}
            if state == "FAILED":
                run["message"] = self.faults.failure_message
            return 200, {}, {"projectId": "proj-1", "analysisRuns": [run]}
        if p.startswith(f"{API}/files-api/v1/projects/"):
            return 200, {}, {"files": [{"id": "out-json", "filename": "cas_results.json.gz"},
                                       {"id": "out-csv", "filename": "cas_cell_types.csv"},
                                       {"id": "out-meta", "filename": "metadata.json"}]}
        if p.startswith(f"{API}/files-api/v1/files/") and p.endswith("/download"):
            file_id = p.split("/")[-2]
            return 200, {}, {"downloadURL": f"{self.url}/storage/out/{file_id}?sig=xyz"}
        if p.startswith("/storage/out/"):
            file_id = p.rsplit("/", 1)[1]
            payload = {"out-json": self.results_json(), "out-csv": self.cell_types_csv(),
                       "out-meta": json.dumps({"model_version": "1.2"}).encode()}[file_id]
            return 200, {"Content-Type": "application/octet-stream"}, payload
        return 404, {}, {"message": f"unknown endpoint {method} {p}"}

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
                    drop = parsed.path.startswith("/storage/blob") and faults.drop_part_upload > 0
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
                    self._reply(401, {}, {"message": "invalid or expired token"})
                    return
                if forced_status:
                    headers = {"Retry-After": faults.retry_after} if forced_status == 429 and faults.retry_after else {}
                    self._reply(forced_status, headers, {"message": f"injected {forced_status}"})
                    return
                status, headers, payload = cloud.route(self.command, parsed.path, parse_qs(parsed.query), body)
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
    """Serve on a fixed port until killed or ``--lifetime`` passes (for nf-test's module test).

    Standard library only, so the host that runs nf-test needs nothing beyond python3.
    """
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
