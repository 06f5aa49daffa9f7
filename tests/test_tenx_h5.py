"""Reading and writing the 10x HDF5 layouts, whole and in chunks."""

import h5py
import numpy as np
import pytest
import scipy.sparse as sp

from cellannotate.errors import MatrixError
from cellannotate.io.tenx_h5 import GENE_EXPRESSION, TenxH5Writer, read_10x_h5, write_10x_h5
from conftest import REAL_FILES, features, real_file, small_matrix


def _direct_csr(path, group="matrix"):
    with h5py.File(path) as h5:
        g = h5[group]
        n_features, n_cells = g["shape"][()]
        return sp.csr_matrix((g["data"][()], g["indices"][()], g["indptr"][()]), shape=(n_cells, n_features))


@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_files_open_with_expected_layout(name):
    with read_10x_h5(real_file(name)) as m:
        assert m.layout == REAL_FILES[name]["layout"]
        assert m.n_cells == REAL_FILES[name]["n_cells"] == len(m.barcodes)
        assert len(m.features) == m.n_features
        assert all(isinstance(b, str) for b in m.barcodes[:5])


@pytest.mark.parametrize("chunk", [1, 7, 100, 5000])
def test_chunks_reassemble_the_whole_matrix(chunk):
    path = real_file("human_chr21_cellranger3_filtered_feature_bc_matrix.h5")
    expected = _direct_csr(path)
    with read_10x_h5(path) as m:
        chunks = list(m.iter_chunks(chunk))
    assert chunks[0].start == 0 and chunks[-1].stop == expected.shape[0]
    assert all(c.counts.shape[0] <= chunk for c in chunks)
    assert (sp.vstack([c.counts for c in chunks]) != expected).nnz == 0


def test_v2_layout_reads_genes_and_gene_names():
    path = real_file("human_hg19_cellranger2_filtered_gene_bc_matrices.h5")
    expected = _direct_csr(path, group="hg19_chr21")
    with read_10x_h5(path) as m:
        assert m.features.names[0] == "DSCAM"
        assert set(m.features.types) == {GENE_EXPRESSION}
        assert set(m.features.genomes) == {"hg19_chr21"}
        assert (m.read_cells(0, m.n_cells) != expected).nnz == 0


def test_feature_mask_keeps_only_selected_columns(tmp_path):
    types = [GENE_EXPRESSION] * 8 + ["Antibody Capture"] * 2
    path = small_matrix(tmp_path / "m.h5", n_genes=10, types=types)
    with read_10x_h5(path) as m:
        full = m.read_cells(0, m.n_cells)
        ge = m.read_cells(0, m.n_cells, features=m.features.gene_expression)
    assert ge.shape[1] == 8
    assert (ge != full[:, :8]).nnz == 0


def test_write_then_read_round_trips(tmp_path):
    counts = sp.random(40, 25, density=0.2, format="csr", random_state=3, dtype=np.float64) * 10
    counts.data = np.ceil(counts.data).astype(np.int32)
    counts = counts.astype(np.int32)
    feats = features(25)
    barcodes = [f"s_008um_{i:05d}_00001-1" for i in range(40)]
    write_10x_h5(tmp_path / "rt.h5", counts, feats, barcodes, attrs={"software_version": "x"})
    with read_10x_h5(tmp_path / "rt.h5") as m:
        assert list(m.barcodes) == barcodes
        assert list(m.features.ids) == list(feats.ids)
        assert m.attrs["software_version"] == "x"
        assert (m.read_cells(0, 40) != counts).nnz == 0


def test_writer_leaves_no_file_when_interrupted(tmp_path):
    dest = tmp_path / "never.h5"
    with pytest.raises(RuntimeError):
        with TenxH5Writer(dest, features(5), ["a-1", "b-1"]) as writer:
            writer.append(sp.csr_matrix(np.ones((1, 5), dtype=np.int32)))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_wrong_cell_count(tmp_path):
    with pytest.raises(ValueError, match="wrote 1 cells but 2"):
        with TenxH5Writer(tmp_path / "x.h5", features(5), ["a-1", "b-1"]) as writer:
            writer.append(sp.csr_matrix(np.ones((1, 5), dtype=np.int32)))
    assert list(tmp_path.iterdir()) == []


def test_out_of_range_feature_index_is_caught_when_read(tmp_path):
    path = small_matrix(tmp_path / "m.h5")
    with h5py.File(path, "r+") as h5:
        idx = h5["matrix/indices"]
        idx[len(idx) - 1] = 10_000
    with read_10x_h5(path) as m:
        with pytest.raises(MatrixError, match="feature index out of range"):
            list(m.iter_chunks(50))
