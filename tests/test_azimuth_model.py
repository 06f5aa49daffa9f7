"""Azimuth weights: where they are looked for, and a verified fetch from a local server."""

import hashlib
import http.server
import io
import json
import threading
import zipfile

import pytest

from cellannotate.annotators.azimuth import weights as am
from cellannotate.errors import ModelError


def keras_bytes(extra=b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("config.json", json.dumps({"class_name": "Functional"}))
        archive.writestr("model.weights.h5", b"weights" + extra)
        archive.writestr("metadata.json", "{}")
    return buffer.getvalue()


class Record:
    """What the local server serves: the record JSON and the file (which tests may spoil)."""

    def __init__(self, payload: bytes):
        self.payload = payload
        self.served = payload
        self.md5 = hashlib.md5(payload).hexdigest()
        self.size = len(payload)


@pytest.fixture
def zenodo(monkeypatch):
    record = Record(keras_bytes())

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith(f"/api/records/{am.ZENODO_RECORD}"):
                body = json.dumps({"files": [{"key": am.MODEL_FILE, "size": record.size, "checksum": f"md5:{record.md5}",
                                              "links": {"self": f"http://127.0.0.1:{port}/file"}}]}).encode()
            elif self.path == "/file":
                body = record.served
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(am.ZENODO_URL_ENV, f"http://127.0.0.1:{port}")
    yield record
    server.shutdown()


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(am.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(am.MODEL_ENV, raising=False)


def test_missing_model_error_names_fetch_and_markers():
    with pytest.raises(ModelError) as err:
        am.locate_model()
    assert "cellannotate models fetch" in str(err.value)
    assert "--cell-annotation-model markers" in str(err.value)
    assert "--cell-annotation-model panhuman_distill" in str(err.value)


def test_fetch_verifies_and_caches_then_is_found(zenodo):
    path = am.fetch_model()
    assert path == am.cache_dir() / am.CACHED_NAME
    assert path.read_bytes() == zenodo.payload
    assert json.loads((am.cache_dir() / "inference_model.keras.json").read_text())["md5"] == zenodo.md5
    assert am.locate_model() == path
    zenodo.served = b"would fail if downloaded again"
    assert am.fetch_model() == path


def test_checksum_mismatch_keeps_nothing(zenodo):
    zenodo.served = keras_bytes(extra=b"x")[: zenodo.size]  # same size, other content
    with pytest.raises(ModelError, match="md5"):
        am.fetch_model()
    assert not am.cache_dir().exists() or list(am.cache_dir().iterdir()) == []


def test_truncated_download_keeps_nothing(zenodo):
    zenodo.served = zenodo.payload[:-10]
    with pytest.raises(ModelError, match="incomplete"):
        am.fetch_model()
    assert not (am.cache_dir() / am.CACHED_NAME).exists()


def test_corrupt_model_file_is_refused(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable .keras archive"):
        am.locate_model(bad)
    empty = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(ModelError, match="lacks model.weights.h5"):
        am.locate_model(empty)


def test_explicit_and_environment_paths_come_first(tmp_path, monkeypatch):
    model = tmp_path / "m.keras"
    model.write_bytes(keras_bytes())
    assert am.locate_model(model) == model
    monkeypatch.setenv(am.MODEL_ENV, str(model))
    assert am.locate_model() == model
    with pytest.raises(ModelError, match="not found"):
        am.locate_model(tmp_path / "absent.keras")


def test_panhumanpy_cache_is_reused(tmp_path):
    legacy = am.panhumanpy_cache()
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(keras_bytes())
    assert am.locate_model() == legacy
