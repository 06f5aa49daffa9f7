"""The offline panhuman_distill model: its own name and folder, attribution, errors, streaming.

Equality with actinn-jax itself is in test_distill_actinn.py (make test-interop).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, run_cli

DEMO = REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5"


def _annotate(tmp_path, matrix, *extra, env=None):
    return run_cli("annotate", "--id", "s", "--matrix", str(matrix), "--outdir", str(tmp_path / "run"), *extra,
                   env=env, timeout=300)


def test_runs_only_when_asked_for_under_its_own_name(tmp_path):
    result = _annotate(tmp_path, DEMO, "--cell-annotation-model", "panhuman_distill")
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    assert sorted(p.name for p in (outs / "cell_types").iterdir() if p.is_dir()) == ["PanHumanDistill"]
    summary = json.loads((outs / "summary.json").read_text())
    info = summary["models"]["PanHumanDistill"]["info"]
    assert "Azimuth" not in summary["models"]
    assert "Sarkar" in info["attribution"]["cite"] and "CC BY 4.0" in info["attribution"]["weights"]
    report = (outs / "web_summary_cell_types.html").read_text()
    assert "doi:10.64898/2026.07.16.738997" in report and "CC BY 4.0" in report


def test_not_planned_unless_asked_for(tmp_path):
    from cellannotate.annotators.plan import validate_and_plan

    assert "panhuman_distill" not in validate_and_plan(DEMO).models
    assert validate_and_plan(DEMO, "panhuman_distill").models == ["panhuman_distill"]


def test_labels_real_t_cells_as_t_cells(tmp_path):
    """The demo's 200 cells are all T cells (Wu et al. 2020): nearly all must be labelled so."""
    import pandas as pd

    assert _annotate(tmp_path, DEMO, "--cell-annotation-model", "panhuman_distill").returncode == 0
    labels = pd.read_csv(tmp_path / "run" / "outs" / "cell_types" / "PanHumanDistill" / "cell_types.csv")
    t_like = labels["fine_cell_type"].str.contains(r"T cell|Treg|MAIT|Tfh|T/NK|CD4 T|T$", regex=True)
    assert t_like.mean() > 0.9, labels["fine_cell_type"].value_counts()


def test_chunks_do_not_change_the_answer(tmp_path):
    from cellannotate.annotators.distill.engine import run_hierarchy
    from cellannotate.annotators.distill.reference import load_reference, locate_reference
    from cellannotate.io.tenx_h5 import TenxMatrix

    reference = load_reference(locate_reference())
    with TenxMatrix(DEMO) as matrix:
        whole = run_hierarchy(matrix, reference, tmp_path / "a.npy", 20_000)
        pieces = run_hierarchy(matrix, reference, tmp_path / "b.npy", 7)
    assert list(whole["label"]) == list(pieces["label"])
    np.testing.assert_allclose(whole["probability"], pieces["probability"], rtol=0, atol=1e-6)


def test_too_few_panel_genes_is_one_clear_error(tmp_path, example_h5):
    result = _annotate(tmp_path, example_h5, "--cell-annotation-model", "panhuman_distill")
    assert_one_line_error(result, 5, "shares only")
    assert "by Ensembl id" in result.stderr and not (tmp_path / "run" / "outs").exists()


@pytest.fixture(scope="module")
def symbols_only(tmp_path_factory):
    """The demo's real cells as a file converted from Seurat or scanpy has them: gene symbols as ids."""
    from cellannotate.io.tenx_h5 import FeatureTable, TenxMatrix, write_10x_h5

    path = tmp_path_factory.mktemp("symbols") / "symbols.h5"
    with TenxMatrix(DEMO) as m:
        f = m.features
        write_10x_h5(path, m.read_cells(0, m.n_cells), FeatureTable(f.names.copy(), f.names, f.types, f.genomes),
                     m.barcodes)
    return path


def test_a_symbol_only_matrix_is_matched_by_symbol_and_gives_the_same_labels(tmp_path, symbols_only):
    import pandas as pd

    assert _annotate(tmp_path / "ids", DEMO, "--cell-annotation-model", "panhuman_distill").returncode == 0
    result = _annotate(tmp_path / "symbols", symbols_only, "--cell-annotation-model", "panhuman_distill")
    assert result.returncode == 0, result.stderr
    outs = [tmp_path / run / "run" / "outs" for run in ("ids", "symbols")]
    by_id, by_symbol = (pd.read_csv(o / "cell_types" / "PanHumanDistill" / "cell_types.csv") for o in outs)
    assert (by_id["fine_cell_type"] == by_symbol["fine_cell_type"]).mean() > 0.95
    matched = json.loads((outs[1] / "summary.json").read_text())["models"]["PanHumanDistill"]["info"]["genes_matched"]
    assert matched["by_ensembl_id"] == 0 and matched["by_symbol"] > 20_000
    assert "by symbol" in (outs[1] / "web_summary_cell_types.html").read_text()


def test_a_real_mouse_sample_is_labelled_through_human_orthologs_and_says_so(tmp_path):
    from conftest import real_file

    matrix = real_file("mouse_placenta_visium_spaceranger3_filtered_feature_bc_matrix.h5")
    result = _annotate(tmp_path, matrix, "--cell-annotation-model", "panhuman_distill")
    assert result.returncode == 0, result.stderr
    outs = tmp_path / "run" / "outs"
    info = json.loads((outs / "summary.json").read_text())["models"]["PanHumanDistill"]["info"]
    assert info["model_name"].endswith("through human orthologs") and info["species"] == "mouse"
    assert info["genes_matched"]["mouse_genes_with_human_ortholog"] > 10_000
    assert "one-to-one human orthologs" in (outs / "web_summary_cell_types.html").read_text()


def test_a_missing_reference_folder_names_the_install(tmp_path):
    env = {**os.environ, "CELLANNOTATE_DISTILL_REFERENCE": str(tmp_path / "nowhere")}
    result = _annotate(tmp_path, DEMO, "--cell-annotation-model", "panhuman_distill", env=env)
    assert_one_line_error(result, 5, "not a panhuman_distill_v1 reference folder")


def test_a_corrupt_network_is_one_clear_error(tmp_path):
    import shutil

    from cellannotate.annotators.distill.reference import locate_reference

    copy = tmp_path / "reference"
    shutil.copytree(locate_reference(), copy)
    (copy / "fine_Immune cell.npz").write_bytes(b"not an npz")
    env = {**os.environ, "CELLANNOTATE_DISTILL_REFERENCE": str(copy)}
    result = _annotate(tmp_path, DEMO, "--cell-annotation-model", "panhuman_distill", env=env)
    assert_one_line_error(result, 5, "fine_Immune cell.npz is damaged")
