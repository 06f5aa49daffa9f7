"""The `cellannotate` command and the bin/ scripts, as a user runs them."""

import csv
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from cellannotate.example_data import CELL_TYPE_MARKERS, ExampleSpec, write_example
from cellannotate.tenx_h5 import read_10x_h5
from cellannotate.validation import validate_matrix
from conftest import BIN, assert_one_line_error, small_matrix


def cellannotate(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "cellannotate", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize("script", sorted(p.name for p in BIN.glob("*.py")))
def test_every_bin_script_has_help(script):
    result = subprocess.run([sys.executable, str(BIN / script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.mark.parametrize("command", [[], ["annotate"], ["example"], ["cloud", "auth", "setup"]])
def test_every_command_has_help(command):
    result = cellannotate(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


def test_version():
    assert cellannotate("--version").stdout.startswith("cellannotate ")


def test_usage_errors_exit_2_without_traceback():
    result = cellannotate("annotate", "--id", "x")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--matrix" in result.stderr


def test_annotate_with_cloud_model_checks_token_before_reading_matrix(tmp_path):
    env = {**os.environ, "CELLANNOTATE_TENX_CLOUD_TOKEN_PATH": str(tmp_path / "none")}
    result = cellannotate(
        "annotate", "--id", "s", "--matrix", str(tmp_path / "missing.h5"), "--cell-annotation-model", "auto",
        "--outdir", str(tmp_path / "run"), env=env,
    )
    assert_one_line_error(result, 4, "10x Cloud token file not found")
    assert not (tmp_path / "run").exists()


def test_annotate_refuses_mouse_sample_without_a_model(tmp_path):
    path = small_matrix(tmp_path / "m.h5", ids=[f"ENSMUSG{i:011d}" for i in range(30)])
    result = cellannotate("annotate", "--id", "s", "--matrix", str(path), "--outdir", str(tmp_path / "run"))
    assert_one_line_error(result, 5, "no model applies to this mouse sample")
    assert not (tmp_path / "run").exists()


def test_annotate_refuses_cloud_model_for_the_wrong_species(tmp_path):
    token = tmp_path / "tok"
    token.write_text("a" * 32)
    token.chmod(0o600)
    path = small_matrix(tmp_path / "m.h5")
    result = cellannotate(
        "annotate", "--id", "s", "--matrix", str(path), "--cell-annotation-model", "mouse_pca_v1_beta",
        "--tenx-cloud-token-path", str(token), "--outdir", str(tmp_path / "run"),
    )
    assert_one_line_error(result, 5, "is for mouse samples; this one is human")


def test_annotate_refuses_missing_cloupe(tmp_path):
    path = small_matrix(tmp_path / "m.h5")
    result = cellannotate("annotate", "--id", "s", "--matrix", str(path), "--cloupe", str(tmp_path / "x.cloupe"))
    assert_one_line_error(result, 1, "--cloupe file not found")


def test_example_command_writes_matrix_and_truth(tmp_path):
    out, truth = tmp_path / "ex.h5", tmp_path / "truth.csv"
    result = cellannotate("example", "--out", str(out), "--truth", str(truth), "--cells", "250", "--genes", "200")
    assert result.returncode == 0, result.stderr
    with read_10x_h5(out) as m:
        barcodes = list(m.barcodes)
    rows = list(csv.DictReader(truth.open()))
    assert [r["barcode"] for r in rows] == barcodes
    assert {r["cell_type"] for r in rows} <= set(CELL_TYPE_MARKERS)


def test_example_is_reproducible_from_its_seed(tmp_path):
    spec = ExampleSpec(n_cells=120, n_genes=150, seed=7)
    write_example(tmp_path / "a.h5", spec)
    write_example(tmp_path / "b.h5", spec)
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        for name in ("data", "indices", "indptr", "barcodes"):
            assert np.array_equal(a["matrix"][name][()], b["matrix"][name][()])


def test_example_cell_types_are_visible_in_marker_counts(tmp_path):
    truth = tmp_path / "t.csv"
    write_example(tmp_path / "e.h5", ExampleSpec(n_cells=400, n_genes=200, seed=3), truth)
    types = np.array([r["cell_type"] for r in csv.DictReader(truth.open())])
    with read_10x_h5(tmp_path / "e.h5") as m:
        counts = m.read_cells(0, m.n_cells).toarray()
        names = list(m.features.names)
    for cell_type, markers in CELL_TYPE_MARKERS.items():
        cols = [names.index(g) for g in markers]
        inside = counts[types == cell_type][:, cols].sum(axis=1).mean()
        outside = counts[types != cell_type][:, cols].sum(axis=1).mean()
        assert inside > 5 * outside, cell_type


@pytest.mark.parametrize("species,kind", [("human", "binned"), ("mouse", "segmented"), ("mouse", "binned")])
def test_example_species_and_kind_are_recognised(tmp_path, species, kind):
    path = tmp_path / "e.h5"
    write_example(path, ExampleSpec(n_cells=150, n_genes=200, species=species, kind=kind))
    report = validate_matrix(path)
    assert (report.species, report.matrix_kind) == (species, kind)
