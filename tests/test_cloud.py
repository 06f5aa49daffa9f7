"""The 10x Cloud client and step against a local fake service with injected faults."""

import functools
import gzip
import json
import os
import subprocess
import sys

import pytest

from cellannotate.annotators import registry
from cellannotate.annotators.cloud.job import CloudJob, Interrupted, annotate_cloud, read_cloud_cell_types
from cellannotate.annotators.plan import plan_models
from cellannotate.io.atomic import staging_folder
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.annotators.cloud.client import CloudClient, CloudSettings
from cellannotate.errors import CloudError, ModelError, TokenError
from cellannotate.io.tenx_h5 import read_10x_h5
from cellannotate.annotators.cloud.token import CloudToken
from cellannotate.validation.matrix import validate_matrix
from conftest import BIN, assert_one_line_error, validation_json
from fake_cloud import API, TOKEN, FakeCloud


@pytest.fixture
def cloud(mouse_matrix):
    with read_10x_h5(mouse_matrix) as m:
        server = FakeCloud(m.barcodes)
    yield server
    server.close()


class Run:
    """One annotate_cloud call with recorded sleeps, against the fake service."""

    def __init__(self, cloud, matrix, tmp_path, **settings):
        self.cloud, self.matrix, self.tmp_path = cloud, matrix, tmp_path
        self.sleeps = []
        self.settings = CloudSettings(base_url=cloud.url, connect_timeout=1, read_timeout=0.5, max_attempts=4,
                                      poll_interval=5, part_bytes=16 * 1024, **settings)
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


def test_full_flow_uploads_in_parts_polls_and_writes_results(run, cloud, mouse_matrix):
    table = run()
    size = mouse_matrix.stat().st_size
    assert len(cloud.parts["blob-1"]) == -(-size // (16 * 1024)) > 1
    assert b"".join(cloud.parts["blob-1"][i] for i in sorted(cloud.parts["blob-1"])) == mouse_matrix.read_bytes()
    assert cloud.completed_blobs == [sorted(cloud.parts["blob-1"])]
    assert cloud.models_asked == [None]  # auto lets the service choose
    assert table.info["model_name"] == "mouse_pca_v1_beta"
    assert list(table.barcodes) == cloud.barcodes
    assert set(table.coarse) == {"T cell", "B cell"}
    assert run.sleeps == [5, 5]  # NEW, INPROGRESS, then COMPLETED
    assert sorted(p.name for p in _out(run).iterdir()) == [".cellannotate", "cell_annotation_results.json.gz", "cell_types.csv", "model.json"]
    assert json.loads(gzip.decompress((_out(run) / "cell_annotation_results.json.gz").read_bytes()))


def test_token_goes_only_to_the_api_never_to_storage(run, cloud):
    run()
    storage = [r for r in cloud.requests if r.path.startswith("/storage/")]
    api = [r for r in cloud.requests if not r.path.startswith("/storage/")]
    assert storage and all(r.cookie is None for r in storage)
    assert api and all(r.cookie == f"session_id={TOKEN}" for r in api)


def test_explicit_model_is_sent(run, cloud):
    run(model="mouse_pca_v1_beta")
    assert cloud.models_asked == ["mouse_pca_v1_beta"]


def test_species_and_model_are_checked_before_any_upload(run, cloud):
    with pytest.raises(ModelError, match="is for human samples"):
        run(model="human_pca_v1_beta")
    assert cloud.requests == []


def test_bad_token_is_one_clear_error_without_the_token(run, cloud):
    wrong = "wrong_token_0123456789abcdef"
    with pytest.raises(TokenError) as err:
        run(token=wrong)
    assert "refused the token (401" in str(err.value) and wrong not in str(err.value)
    assert cloud.count("POST", f"{API}/files-api") == 0
    assert not _out(run).exists()


def test_slow_response_times_out_and_is_retried(run, cloud):
    cloud.faults.slow["/api/core/users-api"] = 1
    run()
    assert cloud.count("GET", "/api/core/users-api") == 2
    assert len(run.sleeps) == 3  # one backoff, two polls


def test_dropped_connection_mid_upload_retries_the_part(run, cloud, mouse_matrix):
    cloud.faults.drop_part_upload = 1
    run()
    assert b"".join(cloud.parts["blob-1"][i] for i in sorted(cloud.parts["blob-1"])) == mouse_matrix.read_bytes()
    assert cloud.count("PUT", "/storage/blob-1/1") == 2


def test_429_honours_retry_after(run, cloud):
    cloud.faults.status[f"{API}/annotation-api/v1/defaults"] = [429, 429]
    cloud.faults.retry_after = "7"
    run()
    assert run.sleeps[:2] == [7.0, 7.0]


def test_500s_then_success_back_off_exponentially_with_jitter(run, cloud):
    cloud.faults.status[f"{API}/pipelines-api/v1/adhoc-analyses"] = [500, 503, 502]
    run()
    backoffs = run.sleeps[:3]
    for attempt, wait in enumerate(backoffs, start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling


def test_persistent_5xx_gives_up_with_a_clear_message(run, cloud):
    cloud.faults.status[f"{API}/annotation-api/v1/defaults"] = [500] * 10
    with pytest.raises(CloudError, match="could not choose a model after 4 attempts: HTTP 500"):
        run()
    assert not _out(run).exists()


def test_client_errors_are_not_retried(run, cloud):
    cloud.faults.status[f"{API}/files-api/v1/uploads"] = [413]
    with pytest.raises(CloudError, match=r"refused to register the upload \(413\): injected 413"):
        run()
    assert cloud.count("POST", f"{API}/files-api/v1/uploads") == 1


def test_quota_refusal_names_the_server_reason(run, cloud):
    cloud.faults.status[f"{API}/pipelines-api/v1/adhoc-analyses"] = [402]
    with pytest.raises(CloudError, match=r"\(402\)"):
        run()


def test_failed_job_reports_the_server_message_and_leaves_nothing(run, cloud):
    cloud.faults.analysis_states = ["INPROGRESS", "FAILED"]
    with pytest.raises(CloudError, match="failed on the server: pipeline crashed: out of memory"):
        run()
    assert not _out(run).exists()


def test_truncated_json_body_is_a_malformed_answer(run, cloud):
    cloud.faults.truncated_json[f"{API}/pipelines-api/v1/adhoc-analyses"] = 1
    with pytest.raises(CloudError, match="malformed"):
        run()


def test_truncated_results_file_is_refused(run, cloud):
    cloud.faults.truncated_results = True
    with pytest.raises(CloudError, match="truncated or corrupt"):
        run()
    assert not _out(run).exists()


def test_result_missing_barcodes_is_refused(run, cloud):
    cloud.faults.missing_barcodes = 3
    with pytest.raises(CloudError, match="do not cover every barcode: 3 of 150 missing"):
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
    uploads = cloud.count("POST", f"{API}/files-api/v1/uploads")
    starts = cloud.count("POST", f"{API}/pipelines-api")
    jobs = list((run.tmp_path / "jobs").iterdir())
    assert len(jobs) == 1 and TOKEN not in jobs[0].read_text()
    assert json.loads(jobs[0].read_text())["analysis_id"] == "an-1"
    cloud.analyses["an-1"] = ["COMPLETED"]
    run.settings = CloudSettings(**{**run.settings.__dict__, "max_wait": 3600})
    run()
    assert cloud.count("POST", f"{API}/files-api/v1/uploads") == uploads
    assert cloud.count("POST", f"{API}/pipelines-api") == starts
    assert _out(run).exists()


def test_interrupt_while_waiting_keeps_the_job_for_a_rerun(run, cloud):
    cloud.faults.analysis_states = ["INPROGRESS"]

    def interrupt(_seconds):
        raise KeyboardInterrupt

    run.sleeps = type("S", (), {"append": staticmethod(interrupt)})()
    with pytest.raises(Interrupted, match="an-1 goes on"):
        run()
    assert CloudJob.load(run.tmp_path / "jobs", *_job_key(run)).analysis_id == "an-1"
    assert not _out(run).exists()


def _job_key(run):
    from cellannotate.annotators.cloud.client import file_md5

    return file_md5(run.matrix), "auto", run.settings.base_url


def test_server_side_skip_does_not_upload(run, cloud):
    cloud.faults.skip_upload = True
    run()
    assert not cloud.parts and cloud.count("GET", f"{API}/files-api/v1/multipart/start-upload") == 0


def test_cell_type_table_must_not_name_unknown_barcodes(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("barcode,coarse_cell_type,fine_cell_type\na-1,T,T\nzz-1,B,B\n")
    import numpy as np

    with pytest.raises(CloudError, match="not in the matrix"):
        read_cloud_cell_types(path, np.array(["a-1"], dtype=object))


def test_bin_script_help_and_end_to_end(cloud, mouse_matrix, tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    env = {**os.environ, "CELLANNOTATE_CLOUD_JOBS": str(tmp_path / "jobs")}
    result = subprocess.run([sys.executable, str(BIN / "annotate_cloud.py"), "--matrix", str(mouse_matrix),
                             "--tenx-cloud-token-path", str(token),
                             "--validation", str(validation_json(mouse_matrix, tmp_path, "auto")),
                             "--outdir", str(tmp_path / "ann"), "--cloud-url", cloud.url, "--poll-interval", "0"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ann" / "10x_Cloud" / "cell_types.csv").exists()
    assert TOKEN not in result.stderr + result.stdout


def test_cellannotate_annotate_auto_runs_the_cloud_path_end_to_end(cloud, mouse_matrix, tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    env = {**os.environ, "CELLANNOTATE_CLOUD_URL": cloud.url, "CELLANNOTATE_CLOUD_JOBS": str(tmp_path / "jobs"),
           "CELLANNOTATE_CLOUD_POLL_SECONDS": "0"}
    result = subprocess.run([sys.executable, "-m", "cellannotate", "annotate", "--id", "m1", "--matrix", str(mouse_matrix),
                             "--cell-annotation-model", "auto", "--tenx-cloud-token-path", str(token),
                             "--outdir", str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    assert (outs / "cell_types" / "10x_Cloud" / "cell_annotation_results.json.gz").exists()
    assert (outs / "cell_types" / "10x_Cloud" / "cell_annotation_differential_expression.csv").exists()
    assert TOKEN not in result.stderr + result.stdout
    for path in outs.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".json", ".html"):
            assert TOKEN not in path.read_text(errors="replace")


def test_bin_script_bad_token_is_one_line(cloud, mouse_matrix, tmp_path):
    token = tmp_path / "token"
    token.write_text("expired_token_0123456789abcdef\n")
    token.chmod(0o600)
    result = subprocess.run([sys.executable, str(BIN / "annotate_cloud.py"), "--matrix", str(mouse_matrix),
                             "--tenx-cloud-token-path", str(token),
                             "--validation", str(validation_json(mouse_matrix, tmp_path, "auto")),
                             "--outdir", str(tmp_path / "ann"), "--cloud-url", cloud.url],
                            capture_output=True, text=True, timeout=120)
    assert_one_line_error(result, 4, "refused the token")
    assert "expired_token" not in result.stderr
    assert not (tmp_path / "ann").exists()
