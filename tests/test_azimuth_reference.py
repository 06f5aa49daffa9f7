"""Our Azimuth engine against panhumanpy 1.0.0 itself, on the same input and stand-in model.

Runs in the reference environment (TensorFlow 2.17, numpy<2): ``make test-reference``,
which ``make test`` and CI include. Labels must be identical, confidences within 1e-5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellannotate.annotators.azimuth.engine import run_numpy
from cellannotate.annotators.azimuth.labels import OUTPUT_COLUMNS
from cellannotate.annotators.azimuth.reference import run_panhumanpy
from cellannotate.io.tenx_h5 import TenxMatrix
from conftest import REAL_FILES, real_file, run_script, validation_json

pytestmark = pytest.mark.reference

HUMAN_FILES = [name for name, facts in REAL_FILES.items() if facts["species"] == "human"]


def _compare(path, model, tmp_path):
    with TenxMatrix(path) as matrix:
        ours = run_numpy(matrix, model, tmp_path / "ours.npy", chunk_cells=1000)
        theirs = run_panhumanpy(matrix, model, tmp_path / "theirs.npy")
    for column in OUTPUT_COLUMNS:
        if column == "final_level_confidence":
            np.testing.assert_allclose(ours[column], theirs[column], atol=1e-5, rtol=0)
        else:
            assert list(ours[column]) == list(theirs[column]), column
    assert ours["normalised_here"] == theirs["normalised_here"]
    np.testing.assert_allclose(np.load(tmp_path / "ours.npy"), np.load(tmp_path / "theirs.npy"), atol=1e-4)
    return ours


@pytest.mark.parametrize("name", HUMAN_FILES)
def test_same_labels_as_panhumanpy_on_real_files(name, standin, tmp_path):
    _compare(real_file(name), standin, tmp_path)


def test_same_labels_as_panhumanpy_on_a_generated_matrix(panel_matrix, standin, tmp_path):
    ours = _compare(panel_matrix, standin, tmp_path)
    # The comparison covers labelled cells, not just panhumanpy's 'False'.
    assert len(set(ours["azimuth_fine"]) - {"False"}) >= 5


def test_the_panhumanpy_engine_behind_the_step(panel_matrix, standin, tmp_path):
    for engine in ("numpy", "panhumanpy"):
        result = run_script("annotate_azimuth.py", "--matrix", str(panel_matrix), "--azimuth-model", str(standin),
                            "--validation", str(validation_json(panel_matrix, tmp_path)),
                            "--engine", engine, "--outdir", str(tmp_path / engine))
        assert result.returncode == 0, result.stderr
    columns = ["barcode", "broad_cell_type", "coarse_cell_type", "fine_cell_type", "azimuth_fine_CL_ID"]
    ours, theirs = (pd.read_csv(tmp_path / e / "Azimuth" / "cell_types.csv", keep_default_na=False)[columns]
                    for e in ("numpy", "panhumanpy"))
    pd.testing.assert_frame_equal(ours, theirs)
