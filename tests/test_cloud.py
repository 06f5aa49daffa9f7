"""The 10x Cloud client and step against a fake service written from Cell Ranger 10.0's client.

The fake (tests/fake_cloud.py) refuses, with 422, any request whose fields differ from what
the real client sends; every test below also checks that nothing was refused that way.
"""

import functools
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cellannotate.annotators import registry
from cellannotate.annotators.cloud.client import CloudClient, CloudSettings, file_md5
from cellannotate.annotators.cloud.job import CloudJob, Interrupted, annotate_cloud
from cellannotate.annotators.cloud.results import read_cell_types
from cellannotate.annotators.cloud.token import CloudToken, parse_token
from cellannotate.annotators.cloud.transport import RetryPolicy
from cellannotate.annotators.plan import plan_models
from cellannotate.errors import CloudError, ModelError, TokenError
from cellannotate.example_data import ExampleSpec, write_example
from cellannotate.io.atomic import staging_folder
from cellannotate.io.tenx_h5 import TenxMatrix, read_10x_h5
from cellannotate.validation.matrix import validate_matrix
from conftest import BIN, assert_one_line_error, validation_json
from fake_cloud import API, METADATA, TOKEN, FakeCloud


@pytest.fixture
def cloud(mouse_matrix):
    with read_10x_h5(mouse_matrix) as m:
        server = FakeCloud(m.barcodes)
    yield server
    assert server.rejections == [], server.rejections  # every request was as the real client sends it
    server.close()


class Run:
    """One annotate_cloud call with recorded sleeps, against the fake service."""

    def __init__(self, cloud, matrix, tmp_path, **settings):
        self.cloud, self.matrix, self.tmp_path = cloud, matrix, tmp_path
        self.sleeps = []
        self.settings = CloudSettings(base_url=cloud.url, poll_interval=5, part_bytes=16 * 1024,
                                      retry=RetryPolicy(connect_timeout=1, read_timeout=0.5, max_attempts=4), **settings)
        self.report = validate_matrix(matrix)

    def __call__(self, model="auto", token=TOKEN, clock=None):
        extra = {"clock": clock} if clock else {}
        factory = functools.partial(CloudClient, sleep=self.sleeps.append, **extra)
        plan_models(self.report, model)  # what the step checks before any request
        folder = registry.get("10x_cloud").folder
        with TenxMatrix(self.matrix) as matrix, staging_folder(self.tmp_path, ".scratch-") as scratch:
            table = annotate_cloud(matrix, model, CloudToken(token), folder, scratch, self.settings,
                                   job_dir=self.tmp_path / "jobs", client_factory=factory)
            table.write(self.tmp_path / "out" / folder)
        return table


@pytest.fixture
def run(cloud, mouse_matrix, tmp_path):
    return Run(cloud, mouse_matrix, tmp_path)


def _out(run):
    return run.tmp_path / "out" / "10x_Cloud"


def test_full_flow_in_parts_keeps_the_raw_results(run, cloud, mouse_matrix):
    table = run()
    parts = cloud.parts_of("file-1")
    assert len(parts) == -(-mouse_matrix.stat().st_size // (16 * 1024)) >= 3
    assert b"".join(parts) == mouse_matrix.read_bytes()
    assert cloud.models_asked == [None]  # auto lets the service choose
    assert table.info["model_name"] == "mouse_pca_v1_beta" and table.info["model_version"] == "1.4.0"
    assert table.info["tree_version_used"] == METADATA["tree_version_used"] and table.info["is_beta_model"] is True
    assert table.info["fraction_barcodes_returned"] == 1.0
    assert list(table.barcodes) == cloud.barcodes and set(table.coarse) == {"T cell", "B cell"}
    assert np.isnan(table.confidence).all()  # the service gives no per-cell confidence
    assert run.sleeps == [5, 5]  # NEW, INPROGRESS, then COMPLETED
    assert sorted(p.name for p in _out(run).iterdir()) == [
        ".cellannotate", "cas_cell_types.csv", "cas_metadata.json", "cell_annotation_results.json.gz",
        "cell_types.csv", "model.json"]
    assert json.loads(gzip.decompress((_out(run) / "cell_annotation_results.json.gz").read_bytes()))


def test_token_goes_only_to_the_api_never_to_storage(run, cloud):
    run()
    storage = [r for r in cloud.requests if r.path.startswith("/storage/")]
    api = [r for r in cloud.requests if not r.path.startswith("/storage/")]
    assert storage and all(r.cookie is None for r in storage)
    assert api and all(r.cookie == f"session_id={TOKEN}" for r in api)


def test_an_explicit_model_is_checked_against_the_list_then_sent(run, cloud):
    run(model="mouse_pca_v1_beta")
    assert cloud.models_asked == ["mouse_pca_v1_beta"]
    assert cloud.count("GET", f"{API}/annotation-api/v1/models") == 1


def test_a_model_the_service_does_not_offer_for_the_genome_stops_before_any_upload(run, cloud, monkeypatch):
    import fake_cloud

    monkeypatch.setattr(fake_cloud, "MODELS", [m for m in fake_cloud.MODELS if m["name"] != "mouse_pca_v1_beta"])
    with pytest.raises(ModelError, match="offers no model 'mouse_pca_v1_beta' for genome GRCm39"):
        run(model="mouse_pca_v1_beta")
    assert cloud.count("POST", f"{API}/files-api") == 0


def test_species_and_model_are_checked_before_any_request(run, cloud):
    with pytest.raises(ModelError, match="is for human samples"):
        run(model="human_pca_v1_beta")
    assert cloud.requests == []


def test_no_pipeline_for_the_genome_is_a_clear_error(run, cloud, monkeypatch):
    import fake_cloud

    monkeypatch.setattr(fake_cloud, "PIPELINES", {})
    with pytest.raises(CloudError, match="no annotation pipeline for genome 'GRCm39'"):
        run()
    assert cloud.count("POST", f"{API}/files-api") == 0


def test_bad_token_is_refused_by_the_preflight_before_any_upload(run, cloud):
    wrong = "wrong_token_0123456789abcdef"
    with pytest.raises(TokenError) as err:
        run(token=wrong)
    assert "refused the token (403" in str(err.value) and wrong not in str(err.value)
    assert [r.path for r in cloud.requests] == ["/api/core/users-api/v1/user"]
    assert not _out(run).exists()


def test_a_rerun_skips_the_upload_of_a_matrix_the_service_has(run, cloud, tmp_path):
    run()
    (tmp_path / "jobs").joinpath(*[p.name for p in (tmp_path / "jobs").iterdir()]).unlink()  # a fresh job
    run()
    assert cloud.count("PUT", "/storage/part") == len(cloud.parts_of("file-1"))  # parts sent once only
    assert cloud.count("GET", f"{API}/files-api/v1/multipart/start-upload") == 1
    assert len(cloud.analyses) == 2


def test_result_missing_some_barcodes_is_kept_with_those_cells_unassigned(run, cloud):
    cloud.faults.missing_barcodes = 3
    table = run()
    assert (table.coarse[:3] == "Unassigned").all() and (table.coarse[3:] != "Unassigned").all()
    assert table.info["fraction_barcodes_returned"] == round(147 / 150, 3)
    assert "the other 3 cells are Unassigned" in table.info["warnings"][0]


def test_an_empty_result_is_an_error(run, cloud):
    cloud.faults.missing_barcodes = 150
    with pytest.raises(CloudError, match="empty cell type table"):
        run()
    assert not _out(run).exists()


def test_analyses_that_keep_failing_leave_nothing_after_three(run, cloud):
    cloud.faults.analysis_states = ["INPROGRESS", "FAILED"]
    with pytest.raises(CloudError, match="an-3 failed on the server.*3 analyses failed in a row"):
        run()
    assert not _out(run).exists()
    assert cloud.count("POST", f"{API}/pipelines-api/v1/adhoc-analyses") == 3


class _Recovering(list):
    """Sleeps recorded; after the first one, the service runs analyses to completion again."""

    def __init__(self, cloud):
        super().__init__()
        self.cloud = cloud

    def append(self, seconds):
        super().append(seconds)
        self.cloud.faults.analysis_states = ["NEW", "INPROGRESS", "COMPLETED"]


def test_a_failed_analysis_is_forgotten_and_a_new_one_started_as_cell_ranger_does(run, cloud):
    cloud.faults.analysis_states = ["NEW", "FAILED"]
    run.sleeps = _Recovering(cloud)
    table = run()
    assert table.info["analysis_id"] == "an-2"
    assert cloud.count("POST", f"{API}/pipelines-api/v1/adhoc-analyses") == 2
    saved = json.loads(next((run.tmp_path / "jobs").iterdir()).read_text())
    assert saved["analysis_id"] == "an-2"


@pytest.mark.parametrize("prefix", ["/storage/part/", "/storage/out/"], ids=["upload", "download"])
def test_an_expired_storage_link_is_asked_for_again_not_blamed_on_the_token(run, cloud, prefix):
    cloud.faults.status[prefix] = [403]
    table = run()
    assert table.n_cells == 150


def test_polling_rides_out_an_outage(run, cloud):
    cloud.faults.status[f"{API}/projects-api/v1/analyses/"] = [503] * 6
    table = run()
    assert table.n_cells == 150


def test_slow_response_times_out_and_is_retried(run, cloud):
    cloud.faults.slow["/api/core/users-api"] = 1
    run()
    assert cloud.count("GET", "/api/core/users-api") == 2
    assert len(run.sleeps) == 3  # one backoff, two polls


def test_dropped_connection_mid_upload_retries_the_part(run, cloud, mouse_matrix):
    cloud.faults.drop_part_upload = 1
    run()
    assert b"".join(cloud.parts_of("file-1")) == mouse_matrix.read_bytes()
    assert cloud.count("PUT", "/storage/part/blob-1/1") == 2


def test_429_honours_retry_after(run, cloud):
    cloud.faults.status[f"{API}/annotation-api/v1/defaults"] = [429, 429]
    cloud.faults.retry_after = "7"
    run()
    assert run.sleeps[:2] == [7.0, 7.0]


def test_reads_back_off_exponentially_with_jitter(run, cloud):
    cloud.faults.status[f"{API}/projects-api/v1/analyses"] = [500, 503, 502]
    run()
    for attempt, wait in enumerate(run.sleeps[:3], start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling


def test_persistent_5xx_gives_up_with_a_clear_message(run, cloud):
    cloud.faults.status[f"{API}/annotation-api/v1/defaults"] = [500] * 10
    with pytest.raises(CloudError, match="could not choose a model after 4 attempts: HTTP 500"):
        run()
    assert not _out(run).exists()


@pytest.mark.parametrize("status", [429, 500, 503])
def test_creating_calls_are_not_retried_where_the_client_does_not(run, cloud, status):
    cloud.faults.status[f"{API}/files-api/v1/uploads"] = [status]
    with pytest.raises(CloudError, match=rf"refused to register the upload \({status}\)"):
        run()
    assert cloud.count("POST", f"{API}/files-api/v1/uploads") == 1


def test_creating_calls_are_retried_on_gateway_errors_as_the_client_does(run, cloud):
    cloud.faults.status[f"{API}/files-api/v1/uploads"] = [502, 504]
    run()
    assert cloud.count("POST", f"{API}/files-api/v1/uploads") == 3


@pytest.mark.parametrize("fault", ["502 after starting", "503", "502"])
def test_no_request_can_start_a_second_analysis_for_the_same_job(run, cloud, fault):
    if fault == "502 after starting":
        cloud.faults.start_then_fail = 1
    else:
        cloud.faults.status[f"{API}/pipelines-api/v1/adhoc-analyses"] = [int(fault)]
    with pytest.raises(CloudError, match="may have started anyway"):
        run()
    with pytest.raises(CloudError, match="an earlier run may have started 10x Cloud analysis"):
        run()
    assert cloud.count("POST", f"{API}/pipelines-api/v1/adhoc-analyses") == 1


def test_an_analysis_refused_outright_can_be_started_by_a_rerun(run, cloud):
    cloud.faults.status[f"{API}/pipelines-api/v1/adhoc-analyses"] = [402]
    with pytest.raises(CloudError, match=r"refused to start the analysis \(402\)"):
        run()
    run()
    assert len(cloud.analyses) == 1


def test_truncated_json_body_is_a_malformed_answer(run, cloud):
    cloud.faults.truncated_json[f"{API}/annotation-api/v1/defaults"] = 1
    with pytest.raises(CloudError, match="is not valid JSON"):
        run()


def test_truncated_results_file_is_refused(run, cloud):
    cloud.faults.truncated_results = True
    with pytest.raises(CloudError, match="truncated or corrupt"):
        run()
    assert not _out(run).exists()


def test_polling_is_bounded(run, cloud):
    cloud.faults.analysis_states = ["INPROGRESS"]
    ticks = iter(range(0, 10**6, 100))
    run.settings = CloudSettings(**{**run.settings.__dict__, "max_wait": 250})
    with pytest.raises(CloudError, match="did not finish within"):
        run(clock=lambda: next(ticks))


def test_rerun_reattaches_instead_of_uploading_again(run, cloud):
    cloud.faults.analysis_states = ["INPROGRESS"]
    ticks = iter(range(0, 10**6, 100))
    run.settings = CloudSettings(**{**run.settings.__dict__, "max_wait": 150})
    with pytest.raises(CloudError, match="did not finish"):
        run(clock=lambda: next(ticks))
    jobs = list((run.tmp_path / "jobs").iterdir())
    assert len(jobs) == 1 and TOKEN not in jobs[0].read_text()
    assert json.loads(jobs[0].read_text())["analysis_id"] == "an-1"
    cloud.analyses["an-1"]["states"] = ["COMPLETED"]
    run.settings = CloudSettings(**{**run.settings.__dict__, "max_wait": 3600})
    run()
    assert cloud.count("POST", f"{API}/files-api/v1/uploads") == 1
    assert cloud.count("POST", f"{API}/pipelines-api") == 1
    assert _out(run).exists()


def test_interrupt_while_waiting_keeps_the_job_for_a_rerun(run, cloud):
    cloud.faults.analysis_states = ["INPROGRESS"]

    def interrupt(_seconds):
        raise KeyboardInterrupt

    run.sleeps = type("S", (), {"append": staticmethod(interrupt)})()
    with pytest.raises(Interrupted, match="an-1 goes on"):
        run()
    key = file_md5(run.matrix), "auto", run.settings.base_url
    assert CloudJob.load(run.tmp_path / "jobs", *key).analysis_id == "an-1"
    assert not _out(run).exists()


def test_cell_type_table_must_not_name_unknown_barcodes(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("barcode,coarse_cell_type,fine_cell_type\na-1,T,T\nzz-1,B,B\n")
    with pytest.raises(CloudError, match="not in the matrix"):
        read_cell_types(path, np.array(["a-1"], dtype=object))


def test_the_json_token_form_names_the_server_and_cloudflare_headers():
    text = json.dumps({"cloud.example.org": {"cli_token": TOKEN, "cloudflare_token": {"CF-Access-Client-Id": "cf-secret-id"}}})
    token = parse_token(text)
    assert (token.reveal(), token.server, token.reveal_headers()) == (
        TOKEN, "https://cloud.example.org", {"CF-Access-Client-Id": "cf-secret-id"})
    from cellannotate.redaction import redact

    assert "cf-secret-id" not in redact("header cf-secret-id")


@pytest.mark.parametrize("text", ['{"a": 1}', '{"a": {"token": "x"}}', "{not json", '{"a": {}, "b": {}}'])
def test_a_malformed_json_token_is_refused(text):
    with pytest.raises(TokenError):
        parse_token(text)


# -- through the commands a user runs -------------------------------------------------------

def _token_file(tmp_path, content=TOKEN):
    token = tmp_path / "token"
    token.write_text(content + "\n")
    token.chmod(0o600)
    return token


def cellannotate_cloud(matrix, tmp_path, cloud_url, token, model="auto", extra_env=None):
    env = {**os.environ, "CELLANNOTATE_CLOUD_URL": cloud_url, "CELLANNOTATE_CLOUD_JOBS": str(tmp_path / "jobs"),
           "CELLANNOTATE_CLOUD_POLL_SECONDS": "0", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "cellannotate", "annotate", "--id", "s1", "--matrix", str(matrix),
                           "--cell-annotation-model", model, "--tenx-cloud-token-path", str(token),
                           "--outdir", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300)


def test_annotate_small_matrix_end_to_end(cloud, mouse_matrix, tmp_path):
    result = cellannotate_cloud(mouse_matrix, tmp_path, cloud.url, _token_file(tmp_path))
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    for name in ("cell_annotation_results.json.gz", "cas_cell_types.csv", "cas_metadata.json",
                 "cell_annotation_differential_expression.csv"):
        assert (outs / "cell_types" / "10x_Cloud" / name).exists(), name
    summary = json.loads((outs / "summary.json").read_text())["models"]["10x_Cloud"]["info"]
    assert summary["tree_version_used"] == "v5.2" and summary["fraction_barcodes_returned"] == 1.0
    report = (outs / "web_summary_cell_types.html").read_text()
    assert "v5.2" in report and "Fraction of barcodes returned" in report
    assert TOKEN not in result.stderr + result.stdout
    for path in outs.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".html"):
            assert TOKEN not in path.read_text(errors="replace")


@pytest.fixture(scope="module")
def large_mouse(tmp_path_factory):
    """A matrix over 10 MiB, so that the real 5 MiB parts make at least three."""
    path = tmp_path_factory.mktemp("large") / "large.h5"
    write_example(path, ExampleSpec(n_cells=30_000, n_genes=2000, species="mouse", median_counts=600, seed=4))
    assert path.stat().st_size > 10 * 2**20
    return path


def test_annotate_uploads_a_large_matrix_in_three_or_more_parts_then_a_rerun_skips_it(large_mouse, tmp_path):
    with read_10x_h5(large_mouse) as m:
        cloud = FakeCloud(m.barcodes)
    try:
        token = _token_file(tmp_path)
        first = cellannotate_cloud(large_mouse, tmp_path, cloud.url, token)
        assert first.returncode == 0, first.stderr
        assert len(cloud.parts_of("file-1")) >= 3
        for job in (tmp_path / "jobs").iterdir():
            job.unlink()
        second = cellannotate_cloud(large_mouse, tmp_path, cloud.url, token)
        assert second.returncode == 0, second.stderr
        assert "upload skipped" in second.stderr
        assert cloud.rejections == []
    finally:
        cloud.close()


def test_annotate_failed_analysis_is_one_line(cloud, mouse_matrix, tmp_path):
    cloud.faults.analysis_states = ["FAILED"]
    result = cellannotate_cloud(mouse_matrix, tmp_path, cloud.url, _token_file(tmp_path))
    assert_one_line_error(result, 6, "failed on the server")
    assert not (tmp_path / "run" / "outs").exists()


def test_annotate_result_missing_barcodes_warns_and_records_the_fraction(cloud, mouse_matrix, tmp_path):
    cloud.faults.missing_barcodes = 15
    result = cellannotate_cloud(mouse_matrix, tmp_path, cloud.url, _token_file(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "10x Cloud returned labels for 90.0% of the barcodes" in result.stderr
    outs = tmp_path / "run" / "outs"
    metrics = (outs / "metrics_summary.csv").read_text()
    assert "fraction_barcodes_returned,0.9" in metrics
    assert any("90.0%" in w for w in json.loads((outs / "summary.json").read_text())["warnings"])


def test_annotate_bad_token_is_one_line(cloud, mouse_matrix, tmp_path):
    result = cellannotate_cloud(mouse_matrix, tmp_path, cloud.url, _token_file(tmp_path, "expired_token_0123456789abcdef"))
    assert_one_line_error(result, 4, "refused the token")
    assert "expired_token" not in result.stderr
    assert not (tmp_path / "run" / "outs").exists()


def test_annotate_takes_the_server_from_a_json_token_or_tenx_cloud_url(cloud, mouse_matrix, tmp_path):
    token = _token_file(tmp_path, json.dumps({cloud.url: {"cli_token": TOKEN}}))
    env = {k: v for k, v in os.environ.items() if k != "CELLANNOTATE_CLOUD_URL"}
    result = subprocess.run([sys.executable, "-m", "cellannotate", "annotate", "--id", "s1", "--matrix", str(mouse_matrix),
                             "--cell-annotation-model", "auto", "--tenx-cloud-token-path", str(token),
                             "--outdir", str(tmp_path / "run")], capture_output=True, text=True, timeout=300,
                            env={**env, "CELLANNOTATE_CLOUD_JOBS": str(tmp_path / "jobs"),
                                 "CELLANNOTATE_CLOUD_POLL_SECONDS": "0", "TENX_CLOUD_URL": "https://elsewhere.invalid"})
    assert result.returncode == 0, result.stderr


def test_bin_script_end_to_end(cloud, mouse_matrix, tmp_path):
    env = {**os.environ, "CELLANNOTATE_CLOUD_JOBS": str(tmp_path / "jobs")}
    result = subprocess.run([sys.executable, str(BIN / "annotate_cloud.py"), "--matrix", str(mouse_matrix),
                             "--tenx-cloud-token-path", str(_token_file(tmp_path)),
                             "--validation", str(validation_json(mouse_matrix, tmp_path, "mouse_pca_v1_beta")),
                             "--outdir", str(tmp_path / "ann"), "--cloud-url", cloud.url, "--cloud-poll-interval", "0"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert cloud.models_asked == ["mouse_pca_v1_beta"]
    assert (tmp_path / "ann" / "10x_Cloud" / "cell_types.csv").exists()


@pytest.mark.parametrize("path,body", [
    ("annotation-api/v1/defaults", {"pipelineName": "CELLRANGER_ANNOTATE_CS", "genomes": ["GRCm39"], "requires": []}),
    ("files-api/v1/uploads", {"filename": "m.h5", "md5": "0" * 32, "size": 10, "path": "m.h5", "fileType": "INPUT",
                              "metadata": {}}),
    ("pipelines-api/v1/adhoc-analyses", {"analysisName": "abcd1234", "description": "x", "pipelineName": "cas-annotate",
                                         "productVersion": "1.4.0", "productVariant": "default",
                                         "params": {"pipelineName": "CELLRANGER_ANNOTATE_CS", "id": "abcd1234",
                                                    "modelName": "mouse_pca_v1_beta", "filteredMatricesH5": "file-1",
                                                    "genomeName": "GRCm39", "withDistances": False,
                                                    "withDatasetInfo": True}}),
])
def test_the_fake_refuses_what_cell_ranger_9_sent(cloud, path, body):
    """The 9.0 protocol (requires [], fileType INPUT, no withQualityScores) is refused: the fake checks fields."""
    import requests

    answer = requests.post(f"{cloud.url}{API}/{path}", json=body, cookies={"session_id": TOKEN}, timeout=10)
    assert answer.status_code == 422
    cloud.rejections.clear()


def test_auto_on_a_human_sample_without_azimuth_weights_runs_the_cloud_model_and_says_so(example_h5, tmp_path):
    """The cloud model asked for runs; Azimuth, which Space Ranger adds beside it, is left out with a warning."""
    with read_10x_h5(example_h5) as m:
        server = FakeCloud(m.barcodes)
    try:
        env = {"HOME": str(tmp_path / "home"), "CELLANNOTATE_MODEL_CACHE": str(tmp_path / "no-weights"),
               "CELLANNOTATE_AZIMUTH_MODEL": ""}
        result = cellannotate_cloud(example_h5, tmp_path, server.url, _token_file(tmp_path), extra_env=env)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    assert sorted(p.name for p in (outs / "cell_types").iterdir()) == ["10x_Cloud"]
    summary = json.loads((outs / "summary.json").read_text())
    assert any(w.startswith("Pan-Human Azimuth left out:") for w in summary["warnings"])
    assert "azimuth" in json.loads((outs / "validation.json").read_text())["models_left_out"]
