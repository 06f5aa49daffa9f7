"""Pan-Human Azimuth without TensorFlow: the Keras reader, the labels, the step and its errors.

Agreement with panhumanpy itself is in test_azimuth_reference.py (reference environment).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import anndata
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from azimuth_standin import write_standin_model
from cellannotate.annotators import registry
from cellannotate.annotators.azimuth.engine import PanelAligner, load_model, run_numpy
from cellannotate.annotators.azimuth.assets import HEAD_SIZES, PANEL_SIZE, load_assets
from cellannotate.annotators.azimuth.labels import Labeller, Refiner, combined_label, is_consistent
from cellannotate.errors import ModelError, UsageError
from cellannotate.example_data import ExampleSpec, write_example
from cellannotate.io.tenx_h5 import TenxMatrix
from conftest import assert_one_line_error, real_file, run_script, validation_json

# Float results: `make test-blas` runs these again under another BLAS kernel.
pytestmark = pytest.mark.numeric


def test_assets_come_from_the_installed_panhumanpy():
    assets = load_assets()
    assert len(assets.panel) == PANEL_SIZE and assets.panel == sorted(assets.panel)
    assert tuple(len(c) for c in assets.classes) == HEAD_SIZES
    assert len(assets.calibrators) == len(HEAD_SIZES)
    assert {"Annotation_Label", "CL_Label", "CL_ID"} <= set(assets.ontology.columns)


def test_standin_has_the_v1_signature(standin):
    model = load_model(standin)
    assert model.input_size() == PANEL_SIZE
    assert model.output_sizes() == list(HEAD_SIZES)
    heads = model.predict(np.zeros((3, PANEL_SIZE), np.float32), want=("dense_3",))
    assert [h.shape for h in heads[:-1]] == [(3, k) for k in HEAD_SIZES]
    np.testing.assert_allclose([h.sum(axis=1) for h in heads[:-1]], 1.0, rtol=1e-5)


def test_dense_layers_compute_what_their_weights_say(standin):
    """One Dense layer by hand: relu(x @ kernel + bias), with the kernel read from the archive."""
    model = load_model(standin)
    x = np.random.default_rng(0).random((4, PANEL_SIZE), dtype=np.float32)
    kernel, bias = model.layers["dense"].weights
    first = model.predict(x, want=("dense",))[-1]
    np.testing.assert_allclose(first, np.maximum(x @ kernel + bias, 0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("problem, fragment", [
    (dict(panel_size=5000), "takes 5000 genes; the v1 panel has 5055"),
    (dict(extra_layer="Conv1D"), "dropout is a Conv1D, which this engine does not implement"),
])
def test_models_that_do_not_fit_are_refused(tmp_path, problem, fragment):
    path = write_standin_model(tmp_path / "bad.keras", **problem)
    with pytest.raises(ModelError, match=fragment):
        load_model(path)


def test_corrupt_model_file_is_a_clear_error(tmp_path, standin, panel_matrix):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(standin.read_bytes()[:5000])
    result = run_script("annotate_azimuth.py", "--matrix", str(panel_matrix), "--azimuth-model", str(broken),
                        "--validation", str(validation_json(panel_matrix, tmp_path)), "--outdir", str(tmp_path / "out"))
    assert_one_line_error(result, 5, "not a readable .keras archive")
    assert not (tmp_path / "out" / "Azimuth").exists()


def test_model_archive_without_weights_is_refused(tmp_path, standin):
    stripped = tmp_path / "stripped.keras"
    with zipfile.ZipFile(standin) as src, zipfile.ZipFile(stripped, "w") as dst:
        dst.writestr("config.json", src.read("config.json"))
    with pytest.raises(ModelError, match="model.weights.h5"):
        load_model(stripped)


def test_missing_model_names_the_fetch_command(tmp_path, panel_matrix, monkeypatch):
    env = {"HOME": str(tmp_path), "CELLANNOTATE_MODEL_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    result = run_script("annotate_azimuth.py", "--matrix", str(panel_matrix), "--outdir", str(tmp_path / "out"),
                        "--validation", str(validation_json(panel_matrix, tmp_path)), env=env)
    assert_one_line_error(result, 5, "cellannotate models fetch")


def test_mouse_input_is_refused(tmp_path, standin):
    mouse = tmp_path / "mouse.h5"
    write_example(mouse, ExampleSpec(n_cells=200, n_genes=300, species="mouse"))
    result = run_script("annotate_azimuth.py", "--matrix", str(mouse), "--azimuth-model", str(standin),
                        "--validation", str(validation_json(mouse, tmp_path)), "--outdir", str(tmp_path / "out"))
    assert_one_line_error(result, 5, "Pan-Human Azimuth is for human samples; this one is mouse")


def test_low_panel_overlap_warns_and_still_labels(tmp_path, standin):
    matrix = real_file("human_pbmc500_50genes_cellranger6_filtered_feature_bc_matrix.h5")
    result = run_script("annotate_azimuth.py", "--matrix", str(matrix), "--validation", str(validation_json(matrix, tmp_path)),
                        "--azimuth-model", str(standin), "--outdir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Pan-Human Azimuth saw only 10 of its 5,055 panel genes (0%" in result.stderr
    info = json.loads((tmp_path / "Azimuth" / "model.json").read_text())
    assert info["warnings"][0].startswith("Pan-Human Azimuth saw only 10 of its 5,055 panel genes")
    assert len(pd.read_csv(tmp_path / "Azimuth" / "cell_types.csv")) == 587


def test_panel_alignment_uses_the_last_of_duplicate_symbols_and_normalises_integers():
    aligner = PanelAligner(np.array(["A1BG", "XYZ", "A1BG", "A2M"], dtype=object), load_assets().panel)
    counts = sp.csr_matrix(np.array([[1, 5, 3, 6], [0, 0, 0, 0]], dtype=np.float32))
    aligned = aligner(counts)
    assert sp.issparse(aligned) and aligned.dtype == np.float32 and aligned.shape == (2, 5055)
    dense = aligned.toarray()
    panel = load_assets().panel
    total = 15.0
    assert dense[0, panel.index("A1BG")] == pytest.approx(np.log1p(3 * 10000 / total))
    assert dense[0, panel.index("A2M")] == pytest.approx(np.log1p(6 * 10000 / total))
    assert np.count_nonzero(dense) == 2 and aligner.normalise


def test_non_integer_input_is_taken_as_normalised():
    aligner = PanelAligner(np.array(["A1BG"], dtype=object), load_assets().panel)
    dense = aligner(sp.csr_matrix(np.array([[0.5]], dtype=np.float32))).toarray()
    assert not aligner.normalise and dense[0, load_assets().panel.index("A1BG")] == 0.5


def test_label_rules_on_hand_made_hierarchies():
    consistent = ["Immune cell", "Immune cell|T cell", "Immune cell|T cell|", "Immune cell|T cell||"]
    assert combined_label(consistent, 4) == "Immune cell|T cell"
    assert is_consistent(consistent)
    # A deeper level can fill in a component a shallower level left empty.
    assert combined_label(["A", "A|", "A|B|C"], 3) == "A|B|C"
    assert not is_consistent(["A", "X|Y", "A|Y|Z"])
    table = pd.DataFrame({"Orig_Label": ["A|B|C", "A|B|D", "E"], "Annotate_fine": ["A|B|C", "A|B|D", "E"]})
    refiner = Refiner.from_table(table, "fine")
    assert refiner.refine("E", True) == "E"
    assert refiner.refine("A|B", True) == ["A|B|C", "A|B|D"]          # "Further": the candidates below
    assert refiner.refine("E", False) == "False"                      # inconsistent: panhumanpy's 'False'


def test_generated_run_exercises_every_refinement_outcome(standin, panel_matrix, tmp_path):
    """The reference comparison is only meaningful if Match, Further and No-match all occur."""
    assets = load_assets()
    labeller = Labeller(assets)
    model = load_model(standin)
    with TenxMatrix(panel_matrix) as matrix:
        ge = matrix.gene_expression_columns
        heads = model.predict(PanelAligner(matrix.features.names[ge], assets.panel)(matrix.read_cells(0, matrix.n_cells, ge)))
    classes = np.column_stack([np.argmax(h, axis=1) for h in heads])
    labeller.label(classes, heads, np.column_stack([h.max(axis=1) for h in heads]))
    kinds = {("further" if isinstance(c.refined["fine"], list) else "no-match" if c.refined["fine"] == "False" else "match")
             for c in labeller.cache.values()}
    assert kinds == {"match", "further", "no-match"}


def test_results_do_not_depend_on_the_chunk_size(standin, panel_matrix, tmp_path):
    with TenxMatrix(panel_matrix) as matrix:
        whole = run_numpy(matrix, standin, tmp_path / "a.npy", chunk_cells=5000)
        pieces = run_numpy(matrix, standin, tmp_path / "b.npy", chunk_cells=333)
    for name, values in whole.items():
        if name == "final_level_confidence":
            np.testing.assert_allclose(values, pieces[name], atol=1e-5)  # float32 BLAS blocking
        else:
            assert np.array_equal(np.asarray(values, dtype=object), np.asarray(pieces[name], dtype=object)), name
    # float32 sums of 5,055 products, blocked differently by the BLAS for each chunk size: seen up
    # to 2e-6 apart on values up to 6, so allow 1e-5 of the largest value.
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())


def test_step_writes_labels_ontology_and_embedding(standin, panel_matrix, tmp_path):
    result = run_script("annotate_azimuth.py", "--matrix", str(panel_matrix), "--azimuth-model", str(standin),
                        "--validation", str(validation_json(panel_matrix, tmp_path)), "--outdir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "Azimuth"
    assert sorted(p.name for p in folder.iterdir()) == [".cellannotate", "cell_types.csv", "embedding.npy", "model.json", "projection.npy"]
    table = pd.read_csv(folder / "cell_types.csv", keep_default_na=False)
    assert len(table) == 2000
    for column in ("azimuth_broad", "azimuth_medium", "azimuth_fine", "final_level_labels", "final_level_confidence",
                   "full_hierarchical_labels", "full_consistent_hierarchy", "azimuth_fine_CL", "azimuth_fine_CL_ID"):
        assert column in table.columns
    unassigned = table["coarse_cell_type"] == "Unassigned"
    assert set(table.loc[table["azimuth_medium"] == "False", "coarse_cell_type"]) <= {"Unassigned"}
    assert (table.loc[~unassigned, "coarse_cell_type"] == table.loc[~unassigned, "azimuth_medium"]).all()
    mapped = table[table["azimuth_fine_CL_ID"] != "unmapped"]
    assert len(mapped) and mapped["azimuth_fine_CL_ID"].str.match(r"^CL:\d{7}$").all()
    assert np.load(folder / "embedding.npy").shape == (2000, 32)
    assert json.loads((folder / "model.json").read_text())["engine"] == "numpy"


def test_annotate_runs_azimuth_by_default_for_human_and_puts_the_embedding_in_h5ad(standin, panel_matrix, tmp_path):
    from test_cli import cellannotate

    result = cellannotate("annotate", "--id", "s", "--matrix", str(panel_matrix), "--azimuth-model", str(standin),
                          "--outdir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    assert sorted(p.name for p in (outs / "cell_types").iterdir()) == ["Azimuth"]
    adata = anndata.read_h5ad(outs / "s.h5ad")
    assert adata.obsm["X_azimuth_embedding"].shape == (2000, 32)
    assert "azimuth_coarse_cell_type" in adata.obs


def test_unknown_engine_is_refused(standin):
    model = registry.get("azimuth")
    with pytest.raises(UsageError, match="--azimuth-engine onnx: choose one of numpy, panhumanpy"):
        model.prepare(model.option_values({"azimuth_model": standin, "azimuth_engine": "onnx"}))


def test_the_standin_shipped_for_nextflow_tests_is_the_generated_one(standin):
    from conftest import REPO

    shipped, fresh = load_model(REPO / "assets" / "test_data" / "azimuth_standin_v1.keras"), load_model(standin)
    x = np.random.default_rng(1).random((5, PANEL_SIZE), dtype=np.float32)
    # The heads' kernels are float32 matrix products of the generator, so another BLAS kernel
    # rounds them a few ulps apart (seen: 5e-7); five float32 layers on keep that within 1e-5.
    for a, b in zip(shipped.predict(x), fresh.predict(x)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_matrix_without_cells_is_a_clear_error(tmp_path, standin):
    from conftest import small_matrix

    empty = small_matrix(tmp_path / "empty.h5", n_cells=0)
    other = validation_json(small_matrix(tmp_path / "other.h5"), tmp_path)
    result = run_script("annotate_azimuth.py", "--matrix", str(empty), "--azimuth-model", str(standin),
                        "--validation", str(other), "--outdir", str(tmp_path / "out"))
    assert_one_line_error(result, 3, "the matrix has no cells")
    assert not (tmp_path / "out" / "Azimuth").exists()


TIES_CHILD = """
import json, sys
from pathlib import Path
from cellannotate.annotators.azimuth.engine import run_numpy
from cellannotate.io.tenx_h5 import TenxMatrix
with TenxMatrix(sys.argv[1]) as matrix:
    out = run_numpy(matrix, Path(sys.argv[2]), Path(sys.argv[3]))
print(json.dumps([list(out["azimuth_fine"]), list(out["azimuth_fine_ties"])]))
"""


def test_ties_are_named_and_resolved_the_same_whatever_the_string_hashes(panel_matrix, tmp_path):
    """panhumanpy orders tied candidates by list(set(...)), which follows the process's string hashes;
    ours does not, and names the tied candidates."""
    model = write_standin_model(tmp_path / "realistic.keras", hidden=(1024, 512, 256), embedding=128)
    runs = [subprocess.run([sys.executable, "-c", TIES_CHILD, str(panel_matrix), str(model), str(tmp_path / f"{seed}.npy")],
                           capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed}, check=True).stdout
            for seed in ("1", "2")]
    assert runs[0] == runs[1]
    fine, ties = json.loads(runs[0])
    tied = [i for i, t in enumerate(ties) if t]
    assert tied and all(fine[i] in ties[i].split("; ") and len(ties[i].split("; ")) > 1 for i in tied)
    candidates = ties[tied[0]].split("; ")
    orders = {subprocess.run([sys.executable, "-c", f"print(list(set({candidates!r})))"], capture_output=True, text=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3", "4")}
    assert len(orders) > 1  # panhumanpy's own pick among these changes from run to run
