"""The markers model keeps to one tissue's cell types (plus the immune ones): asked for or detected."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import REPO, assert_one_line_error, features, real_file, run_cli
from cellannotate.annotators.markers.database import load_marker_database
from cellannotate.io.tenx_h5 import write_10x_h5

DEMO = REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5"
# Types of the mouse database that only its lung or liver file has.
LUNG_OR_LIVER_ONLY = {name for name, origin in load_marker_database("mouse").origins.items()
                      if origin <= {"lung", "liver"}}


def _annotate(tmp_path, matrix, *extra):
    return run_cli("annotate", "--id", "s", "--matrix", str(matrix), "--outdir", str(tmp_path / "run"),
                   "--cell-annotation-model", "markers", *extra, timeout=300)


def _outputs(tmp_path):
    outs = tmp_path / "run" / "outs"
    import pandas as pd

    labels = pd.read_csv(outs / "cell_types" / "Markers" / "cell_types.csv")
    info = json.loads((outs / "summary.json").read_text())["models"]["Markers"]["info"]
    return labels, info


@pytest.fixture(scope="module")
def mouse_brain(tmp_path_factory):
    """Mouse cells expressing the brain file's neuron, astrocyte, oligodendrocyte and microglia markers."""
    brain = load_marker_database("mouse", tissues=["brain"]).cell_types
    groups = [sorted(brain[t].positive) for t in ("Glutamatergic neuron", "Astrocyte", "Oligodendrocyte", "Microglia")]
    genes = sorted(set(load_marker_database("mouse").genes()) | {f"Gm{i}" for i in range(300)})
    column = {g: i for i, g in enumerate(genes)}
    rng = np.random.default_rng(3)
    counts = rng.poisson(0.3, size=(400, len(genes)))
    for k, group in enumerate(groups):
        rows = slice(100 * k, 100 * (k + 1))
        for gene in group:
            counts[rows, column[gene]] += rng.poisson(6, size=100)
    path = tmp_path_factory.mktemp("brain") / "brain.h5"
    ids = np.array([f"ENSMUSG{i:011d}" for i in range(len(genes))])
    write_10x_h5(path, sp.csr_matrix(counts.astype(np.int32)), features(len(genes), ids=ids, names=np.array(genes),
                                                                         genome="GRCm39"),
                 np.array([f"C{i:05d}-1" for i in range(400)]))
    return path


def test_brain_is_detected_and_no_lung_or_liver_type_is_given(tmp_path, mouse_brain):
    assert _annotate(tmp_path, mouse_brain).returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "brain" and info["tissue"]["detected"]
    assert info["tissue"]["support"]["brain"] > info["tissue"]["support"]["lung"]
    assert not set(labels["coarse_cell_type"]) & LUNG_OR_LIVER_ONLY
    assert "brain" in info["report"]["tissue"]


def test_every_file_scored_together_gives_other_tissues_types(tmp_path, mouse_brain):
    """What --markers-tissue all (the old behaviour) does on the same cells: the reason for the default."""
    assert _annotate(tmp_path, mouse_brain, "--markers-tissue", "all").returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "all"
    assert len(info["marker_database"]["files"]) == 4


def test_real_t_cells_are_labelled_with_immune_types_only(tmp_path):
    assert _annotate(tmp_path, DEMO).returncode == 0
    labels, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "immune"
    assert info["marker_database"]["files"] == ["human_immune_cell_markers.json"]


def test_a_tissue_the_database_lacks_keeps_every_file(tmp_path):
    """Real mouse placenta (Visium): several tissues' types fit some spots, none clearly: all files kept."""
    assert _annotate(tmp_path, real_file("mouse_placenta_visium_spaceranger3_filtered_feature_bc_matrix.h5")).returncode == 0
    _, info = _outputs(tmp_path)
    assert info["tissue"]["tissue"] == "all" and info["tissue"]["detected"]


def test_an_asked_tissue_is_used_as_asked(tmp_path, mouse_brain):
    assert _annotate(tmp_path, mouse_brain, "--markers-tissue", "liver").returncode == 0
    _, info = _outputs(tmp_path)
    assert info["tissue"] == {"tissue": "liver", "detected": False, "support": {}}
    assert info["marker_database"]["files"] == ["mouse_immune_cell_markers.json", "mouse_liver_cell_markers.json"]


def test_an_unknown_tissue_is_one_clear_error(tmp_path, mouse_brain):
    result = _annotate(tmp_path, mouse_brain, "--markers-tissue", "heart")
    assert_one_line_error(result, 5, "brain, immune, liver, lung")
    assert not (tmp_path / "run" / "outs").exists()
