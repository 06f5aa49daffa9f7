"""The benchmark's matrix generator (benchmarks/synthetic_hd.py) writes a matrix every reader agrees on."""

from __future__ import annotations

import sys

import h5py
import numpy as np

from conftest import REPO
from cellannotate.io.tenx_h5 import TenxMatrix

sys.path.insert(0, str(REPO / "benchmarks"))
import synthetic_hd  # noqa: E402


def test_the_generated_matrix_reads_the_same_through_h5py_and_ours(tmp_path):
    path = synthetic_hd.write(tmp_path / "hd.h5", 3000, chunk_cells=512)
    with TenxMatrix(path) as matrix, h5py.File(path, "r") as h5:
        assert (matrix.n_cells, matrix.n_features) == (3000, 6000)
        assert h5["matrix/data"].compression == "gzip" and not h5["matrix/data"].shuffle
        whole = matrix.read_cells(0, 3000)
        np.testing.assert_array_equal(whole.data, h5["matrix/data"][()])
        np.testing.assert_array_equal(whole.indices, h5["matrix/indices"][()])
        assert whole.has_sorted_indices and (whole.data > 0).all()
        umis = np.asarray(whole.sum(axis=1)).ravel()
        assert 300 < np.median(umis) < 900 and len(set(matrix.barcodes)) == 3000
        assert {"CD3E", "SFTPC", "EPCAM"} <= set(matrix.features.names)
    assert not (tmp_path / "hd.h5.partial").exists()
