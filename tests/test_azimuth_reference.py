"""Our Azimuth engine against panhumanpy 1.0.0 itself, on the same input and stand-in model.

Runs in the reference environment (TensorFlow 2.17, numpy<2): ``make test-reference``,
which ``make test`` and CI include. Labels must be identical (ties aside, see ``_compare``),
at the stand-in's size and at two realistic sizes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from azimuth_standin import write_standin_model
from cellannotate.annotators.azimuth.assets import REFINE_LEVELS
from cellannotate.annotators.azimuth.engine import run_numpy
from cellannotate.annotators.azimuth.labels import TIE_COLUMNS
from cellannotate.annotators.azimuth.reference import run_panhumanpy
from cellannotate.io.tenx_h5 import TenxMatrix
from conftest import REAL_FILES, real_file, run_script, validation_json

pytestmark = pytest.mark.reference

HUMAN_FILES = [name for name, facts in REAL_FILES.items() if facts["species"] == "human"]
# The tiny stand-in of the unit tests, and two realistic sizes: four dense layers before the
# heads, as in the real v1 network, whose softmax outputs saturate in float32.
SIZES = {"5055-64-64-48-32": None, "5055-1024-512-256-128": ((1024, 512, 256), 128),
         "5055-2048-1024-512-256": ((2048, 1024, 512), 256)}


@pytest.fixture(scope="module", params=list(SIZES))
def model(request, standin, tmp_path_factory):
    if SIZES[request.param] is None:
        return standin
    hidden, embedding = SIZES[request.param]
    return write_standin_model(tmp_path_factory.mktemp("sizes") / f"{request.param}.keras", hidden=hidden,
                               embedding=embedding)


def _compare(path, model, tmp_path) -> dict:
    """Every label equal to panhumanpy's, except where candidates tie: there panhumanpy's pick (which
    follows its process's string hashes) must be one of the tied candidates we name."""
    with TenxMatrix(path) as matrix:
        ours = run_numpy(matrix, model, tmp_path / "ours.npy", chunk_cells=1000)
        theirs = run_panhumanpy(matrix, model, tmp_path / "theirs.npy")
    tied = {}
    for level, tie_column in zip(REFINE_LEVELS, TIE_COLUMNS):
        column = f"azimuth_{level}"
        tied[level] = ours[tie_column] != ""
        assert list(ours[column][~tied[level]]) == list(theirs[column][~tied[level]]), column
        for theirs_label, ties in zip(theirs[column][tied[level]], ours[tie_column][tied[level]]):
            assert theirs_label in ties.split("; "), (theirs_label, ties)
    for column in ("final_level_labels", "full_hierarchical_labels", "full_consistent_hierarchy"):
        assert list(ours[column]) == list(theirs[column]), column
    # Calibrated maxima from two float32 engines (TensorFlow's kernels and ours): seen within 1.5e-5.
    np.testing.assert_allclose(ours["final_level_confidence"], theirs["final_level_confidence"], atol=5e-5, rtol=0)
    assert ours["normalised_here"] == theirs["normalised_here"]
    a, b = np.load(tmp_path / "ours.npy"), np.load(tmp_path / "theirs.npy")
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())
    return {"labels": ours, "tied": tied}


@pytest.mark.parametrize("name", HUMAN_FILES)
def test_same_labels_as_panhumanpy_on_real_files(name, model, tmp_path):
    _compare(real_file(name), model, tmp_path)


def test_same_labels_as_panhumanpy_on_a_generated_matrix(panel_matrix, model, tmp_path):
    result = _compare(panel_matrix, model, tmp_path)
    # The comparison covers labelled cells, not just panhumanpy's 'False'.
    assert len(set(result["labels"]["azimuth_fine"]) - {"False"}) >= 5


def test_realistic_sizes_do_tie_and_every_tie_is_named(panel_matrix, tmp_path_factory, tmp_path):
    hidden, embedding = SIZES["5055-1024-512-256-128"]
    model = write_standin_model(tmp_path_factory.mktemp("tie") / "m.keras", hidden=hidden, embedding=embedding)
    result = _compare(panel_matrix, model, tmp_path)
    assert result["tied"]["fine"].sum() > 0


def test_the_panhumanpy_engine_behind_the_step(panel_matrix, standin, tmp_path):
    for engine in ("numpy", "panhumanpy"):
        result = run_script("annotate_azimuth.py", "--matrix", str(panel_matrix), "--azimuth-model", str(standin),
                            "--validation", str(validation_json(panel_matrix, tmp_path)),
                            "--azimuth-engine", engine, "--outdir", str(tmp_path / engine))
        assert result.returncode == 0, result.stderr
    columns = ["barcode", "broad_cell_type", "coarse_cell_type", "fine_cell_type", "azimuth_fine_CL_ID"]
    ours, theirs = (pd.read_csv(tmp_path / e / "Azimuth" / "cell_types.csv", keep_default_na=False)[columns]
                    for e in ("numpy", "panhumanpy"))
    pd.testing.assert_frame_equal(ours, theirs)
