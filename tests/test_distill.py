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
    assert "Ensembl" in result.stderr and not (tmp_path / "run" / "outs").exists()


def test_mouse_is_refused(tmp_path, mouse_matrix):
    result = _annotate(tmp_path, mouse_matrix, "--cell-annotation-model", "panhuman_distill")
    assert_one_line_error(result, 5, "human")


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
    assert_one_line_error(result, 5, "fine_Immune cell is unreadable")
