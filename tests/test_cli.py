"""The `cellannotate` command and the bin/ scripts, as a user runs them."""

import csv
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

from cellannotate.example_data import CELL_TYPE_MARKERS, ExampleSpec, write_example
from cellannotate.io.tenx_h5 import read_10x_h5
from cellannotate.validation.matrix import validate_matrix
from conftest import BIN, assert_one_line_error, small_matrix
from conftest import run_cli as cellannotate


@pytest.mark.parametrize("script", sorted(p.name for p in BIN.glob("*.py")))
def test_every_bin_script_has_help(script):
    result = subprocess.run([sys.executable, str(BIN / script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.mark.parametrize("command", [[], ["annotate"], ["example"], ["models", "fetch"], ["cloud", "auth", "setup"]])
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


def test_annotate_refuses_sample_of_unknown_species(tmp_path):
    ids = [f"feat{i}" for i in range(30)]
    path = small_matrix(tmp_path / "m.h5", ids=ids, names=ids, genome="custom")
    result = cellannotate("annotate", "--id", "s", "--matrix", str(path), "--outdir", str(tmp_path / "run"))
    assert_one_line_error(result, 5, "no model applies to this unknown sample")
    assert not (tmp_path / "run" / "outs").exists()


def test_annotate_labels_mouse_example_offline_with_markers_by_default(tmp_path):
    path = tmp_path / "mouse.h5"
    write_example(path, ExampleSpec(n_cells=300, n_genes=400, species="mouse", seed=2))
    result = cellannotate("annotate", "--id", "demo", "--matrix", str(path), "--outdir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    assert sorted(p.name for p in (outs / "cell_types").iterdir()) == ["Markers"]
    assert "T cell" in (outs / "cell_types" / "Markers" / "cell_types.csv").read_text()


def test_annotate_human_default_is_azimuth_and_missing_weights_name_both_ways_out(tmp_path, example_h5):
    env = {**os.environ, "CELLANNOTATE_MODEL_CACHE": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    result = cellannotate("annotate", "--id", "s", "--matrix", str(example_h5), "--outdir", str(tmp_path / "run"), env=env)
    assert_one_line_error(result, 5, "cellannotate models fetch")
    assert "--cell-annotation-model markers" in result.stderr
    assert not (tmp_path / "run" / "outs").exists()


def test_annotate_markers_writes_the_full_outs_folder(tmp_path, example_h5):
    result = cellannotate("annotate", "--id", "s1", "--matrix", str(example_h5), "--cell-annotation-model", "markers",
                          "--outdir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    found = sorted(str(p.relative_to(outs)) for p in outs.rglob("*") if p.is_file())
    assert found == [
        ".cellannotate",
        "cell_types/Markers/cell_annotation_differential_expression.csv",
        "cell_types/Markers/cell_types.csv",
        "cell_types/Markers/cell_types_loupe.csv",
        "metrics_summary.csv",
        "s1.h5ad",
        "summary.json",
        "validation.json",
        "web_summary_cell_types.html",
    ]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["outs"]


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
