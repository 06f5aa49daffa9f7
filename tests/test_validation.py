"""Matrix validation: what it reports for good files and how it refuses bad ones."""

import json

import numpy as np
import pytest

from cellannotate.errors import MatrixError, ModelError
from cellannotate.annotators.plan import plan_models
from cellannotate.io.tenx_h5 import GENE_EXPRESSION
from cellannotate.validation.barcodes import classify_barcodes
from cellannotate.validation.matrix import validate_matrix
from conftest import REAL_FILES, assert_one_line_error, edit_h5, real_file, run_script, small_matrix

REQUIRED_KEYS = {
    "n_cells", "n_features", "n_gene_expression_features", "feature_types", "species",
    "matrix_kind", "warnings", "requested_model", "models", "models_left_out", "steps",
}


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_bin_script_validates_every_real_file(name, tmp_path):
    out = tmp_path / "validation.json"
    result = run_script("validate_matrix.py", "--matrix", str(real_file(name)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert REQUIRED_KEYS <= set(report)
    expected = REAL_FILES[name]
    assert report["n_cells"] == expected["n_cells"]
    assert report["species"] == expected["species"]
    assert report["matrix_kind"] == expected["kind"]
    assert report["models"] == (["azimuth"] if expected["species"] == "human" else ["markers"])
    assert report["steps"] == (["ANNOTATE_AZIMUTH"] if expected["species"] == "human" else ["ANNOTATE_MARKERS"])
    assert set(report["models_left_out"]) | set(report["models"]) == {"10x_cloud", "azimuth", "panhuman_distill", "markers"}


def test_generated_example_is_segmented_human_with_no_warnings(example_h5):
    report = validate_matrix(example_h5)
    assert (report.species, report.matrix_kind, report.n_cells) == ("human", "segmented", 600)
    assert report.species_evidence["evidence"] == "gene_ids"
    assert report.warnings == []
    assert plan_models(report, "auto").steps == ["CHECK_TOKEN", "ANNOTATE_CLOUD", "ANNOTATE_AZIMUTH"]


def test_ensembl_ids_decide_species_before_genome():
    path = real_file("human_visium_spaceranger1_filtered_feature_bc_matrix.h5")
    report = validate_matrix(path)
    assert report.species_evidence["evidence"] == "gene_ids"


def test_symbols_decide_species_when_ids_and_genome_say_nothing(tmp_path):
    names = ["Cd3e", "Ptprc", "Actb", "Gapdh"] * 10
    ids = [f"g{i}" for i in range(40)]
    report = validate_matrix(small_matrix(tmp_path / "m.h5", n_genes=40, ids=ids, names=names, genome=""))
    assert report.species == "mouse"
    assert report.species_evidence["evidence"] == "gene_symbols"


def test_genome_name_decides_species_without_ensembl_ids(tmp_path):
    ids = [f"g{i}" for i in range(30)]
    report = validate_matrix(small_matrix(tmp_path / "m.h5", ids=ids, names=ids, genome="GRCm39"))
    assert (report.species, report.species_evidence["evidence"]) == ("mouse", "genome")


def test_barnyard_ids_are_mixed_and_not_eligible(tmp_path):
    ids = [f"GRCh38_ENSG{i:011d}" for i in range(15)] + [f"mm10___ENSMUSG{i:011d}" for i in range(15)]
    report = validate_matrix(small_matrix(tmp_path / "m.h5", ids=ids))
    assert report.species == "mixed"
    with pytest.raises(ModelError, match="no model applies to this mixed sample"):
        plan_models(report)
    assert any("barnyard" in w for w in report.warnings)


def test_unknown_species_is_reported_not_guessed(tmp_path):
    ids = [f"feat{i}" for i in range(30)]
    report = validate_matrix(small_matrix(tmp_path / "m.h5", ids=ids, names=ids, genome="custom"))
    assert report.species == "unknown"
    with pytest.raises(ModelError, match="is for human or mouse samples; this one is unknown"):
        plan_models(report, "auto")


def test_binned_matrix_warns_with_bin_size(tmp_path):
    barcodes = [f"s_016um_{i:05d}_00007-1" for i in range(150)]
    report = validate_matrix(small_matrix(tmp_path / "m.h5", barcodes=barcodes))
    assert (report.matrix_kind, report.bin_size_um) == ("binned", 16)
    assert any("binned Visium HD" in w and "segmented" in w for w in report.warnings)


@pytest.mark.parametrize(
    "barcodes,software,kind",
    [
        (["cellid_000000001-1", "cellid_000000002-1"], "spaceranger-4.0.1", "segmented"),
        (["s_002um_00000_00001-1"], "spaceranger-4.0.1", "binned"),
        (["AAACAAGTATCTCCCA-1"], "spaceranger-1.0.0", "spots"),
        (["AAACAAGTATCTCCCA-1"], "cellranger-6.1.0", "single_cell"),
        (["cell_a", "cell_b"], "", "unknown"),
    ],
)
def test_barcode_patterns_classify_matrix_kind(barcodes, software, kind):
    assert classify_barcodes(np.array(barcodes, dtype=object), software, "")[0] == kind


def test_zero_count_cells_and_other_features_are_reported(tmp_path):
    types = [GENE_EXPRESSION] * 28 + ["Antibody Capture"] * 2
    path = small_matrix(tmp_path / "m.h5", types=types)

    def zero_first_cell(h5):
        start, stop = h5["matrix/indptr"][0:2]
        h5["matrix/data"][start:stop] = 0

    report = validate_matrix(edit_h5(path, zero_first_cell))
    assert report.zero_count_cells == 1
    assert report.feature_types == {GENE_EXPRESSION: 28, "Antibody Capture": 2}
    assert report.n_gene_expression_features == 28
    assert any("zero gene expression counts" in w for w in report.warnings)
    assert any("2 Antibody Capture" in w for w in report.warnings)


def test_few_cells_warn_and_are_not_for_the_cloud(tmp_path):
    report = validate_matrix(small_matrix(tmp_path / "m.h5", n_cells=99))
    assert any("only 99 cells" in w for w in report.warnings)
    with pytest.raises(ModelError, match="at least 100"):
        plan_models(report, "auto")


def test_non_integer_counts_warn(tmp_path):
    path = small_matrix(tmp_path / "m.h5")

    def to_float(h5):
        data = h5["matrix/data"][()].astype(np.float64) / 3
        del h5["matrix/data"]
        h5["matrix/data"] = data

    report = validate_matrix(edit_h5(path, to_float))
    assert not report.counts_are_integers
    assert any("not integers" in w for w in report.warnings)


# --- bad input: one line, non-zero exit, no output ----------------------------------


def _replace(name, value):
    def edit(h5):
        del h5[name]
        h5[name] = value

    return edit


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


BROKEN = {
    "truncated": (lambda p: _truncate(p), "truncated or corrupt"),
    "missing_dataset": (lambda p: edit_h5(p, lambda h5: h5.__delitem__("matrix/indices")), "missing dataset 'matrix/indices'"),
    "missing_features": (lambda p: edit_h5(p, lambda h5: h5.__delitem__("matrix/features")), "missing group 'matrix/features'"),
    "indptr_out_of_range": (lambda p: edit_h5(p, lambda h5: h5["matrix/indptr"].__setitem__(-1, 10**9)), "'indptr' out of range"),
    "indptr_not_monotone": (lambda p: edit_h5(p, lambda h5: h5["matrix/indptr"].__setitem__(5, 10**6 % 7)), "not monotone"),
    "index_out_of_range": (lambda p: edit_h5(p, lambda h5: h5["matrix/indices"].__setitem__(0, 999)), "feature index out of range"),
    "negative_counts": (lambda p: edit_h5(p, lambda h5: h5["matrix/data"].__setitem__(0, -4)), "negative counts"),
    "shape_mismatch": (lambda p: edit_h5(p, _replace("matrix/shape", np.array([30, 151], dtype=np.int32))), "barcodes has length 150"),
    "string_data": (lambda p: edit_h5(p, _replace("matrix/data", np.array([b"x"] * 10))), "'data' must be numeric"),
    "duplicate_barcodes": (lambda p: edit_h5(p, lambda h5: h5["matrix/barcodes"].__setitem__(1, h5["matrix/barcodes"][0])), "duplicate barcodes"),
    "no_matrix_group": (lambda p: edit_h5(p, lambda h5: h5.move("matrix", "other")), "no 'matrix' group"),
    "not_hdf5": (lambda p: p.write_text("barcode,count\nA,1\n"), "not an HDF5 file"),
    "empty_file": (lambda p: p.write_bytes(b""), "matrix file is empty"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_matrix_gets_one_line_error_and_no_output(case, tmp_path):
    path = small_matrix(tmp_path / "m.h5")
    breaker, message = BROKEN[case]
    breaker(path)
    out = tmp_path / "validation.json"
    result = run_script("validate_matrix.py", "--matrix", str(path), "--out", str(out))
    assert_one_line_error(result, 3, message)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.h5"]


def test_empty_matrix_is_refused(tmp_path):
    path = small_matrix(tmp_path / "m.h5", n_cells=0)
    with pytest.raises(MatrixError, match="no cells"):
        validate_matrix(path)


def test_matrix_without_gene_expression_is_refused(tmp_path):
    path = small_matrix(tmp_path / "m.h5", types=["Antibody Capture"] * 30)
    with pytest.raises(MatrixError, match="no 'Gene Expression' features"):
        validate_matrix(path)


def test_directory_and_missing_path_are_refused(tmp_path):
    result = run_script("validate_matrix.py", "--matrix", str(tmp_path), "--out", str(tmp_path / "v.json"))
    assert_one_line_error(result, 3, "is a directory")
    result = run_script("validate_matrix.py", "--matrix", str(tmp_path / "nope.h5"), "--out", str(tmp_path / "v.json"))
    assert_one_line_error(result, 3, "not found")


def test_unreadable_file_is_refused(open_folder, other_user):
    path = small_matrix(open_folder / "m.h5")
    path.chmod(0)
    out = open_folder / "v.json"
    result = run_script("validate_matrix.py", "--matrix", str(path), "--out", str(out), user=other_user)
    assert_one_line_error(result, 3, "not readable")
    assert not out.exists()


def test_failed_validation_keeps_previous_report(tmp_path):
    out = tmp_path / "validation.json"
    out.write_text("previous")
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    result = run_script("validate_matrix.py", "--matrix", str(bad), "--out", str(out))
    assert result.returncode == 3
    assert out.read_text() == "previous"
