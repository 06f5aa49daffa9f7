"""UMAP of each model's embedding: in the report, the model folder and the .h5ad's obsm['X_umap']."""

from __future__ import annotations

import anndata
import numpy as np
import pytest

from cellannotate.pipeline import AnnotateRequest, run_annotate
from cellannotate.projection import pca_embedding, umap_2d
from cellannotate.io.tenx_h5 import TenxMatrix


@pytest.fixture
def umap_on(monkeypatch):
    monkeypatch.setenv("CELLANNOTATE_UMAP", "1")


def test_the_markers_model_embeds_the_counts_and_shows_a_umap(umap_on, example_h5, tmp_path):
    outs = run_annotate(AnnotateRequest("s1", example_h5, tmp_path / "run", cell_annotation_model="markers"))
    adata = anndata.read_h5ad(outs / "s1.h5ad")
    assert adata.obsm["X_umap"].shape == (600, 2) and np.isfinite(adata.obsm["X_umap"]).all()
    assert adata.obsm["X_markers_embedding"].shape[0] == 600
    np.testing.assert_array_equal(adata.obsm["X_umap"], adata.obsm["X_markers_projection"])
    assert "UMAP of the Markers embedding" in (outs / "web_summary_cell_types.html").read_text()


def test_umap_separates_what_the_embedding_separates(example_h5):
    with TenxMatrix(example_h5) as matrix:
        embedding = pca_embedding(matrix, matrix.gene_expression_columns, n_components=20)
    truth = np.loadtxt(example_h5.parent / "truth.csv", delimiter=",", dtype=str, skiprows=1, usecols=1)
    layout = umap_2d(embedding, cells=600)
    assert layout.shape == (600, 2) and np.isfinite(layout).all()
    # Cells of one type lie closer to each other than to the rest.
    centres = {t: layout[truth == t].mean(axis=0) for t in set(truth)}
    own = np.mean([np.linalg.norm(layout[i] - centres[truth[i]]) for i in range(600)])
    other = np.mean([np.linalg.norm(layout[i] - centres[t]) for i in range(600) for t in centres if t != truth[i]])
    assert own < 0.5 * other
    np.testing.assert_array_equal(layout, umap_2d(embedding, cells=600))  # the same input, the same map


def test_above_the_limit_only_the_drawn_cells_get_a_umap(monkeypatch):
    import cellannotate.projection as projection

    monkeypatch.setattr(projection, "DRAWN_CELLS", 100)
    points = np.random.default_rng(0).normal(size=(400, 8)).astype(np.float32)
    layout = umap_2d(points, cells=399)
    drawn = projection.drawn_rows(400, 100)
    assert np.isfinite(layout[drawn]).all() and np.isnan(np.delete(layout, drawn, axis=0)).all()
    assert len(drawn) == 100 and drawn[0] == 0 and drawn[-1] == 399


def test_tiny_matrices_get_a_pca_instead():
    values = np.random.default_rng(0).normal(size=(5, 4))
    assert umap_2d(values, cells=20_000).shape == (5, 2)


def test_exact_neighbours_are_the_nearest_rows_with_the_row_first():
    from cellannotate.projection import nearest_neighbours

    rng = np.random.default_rng(0)
    points = rng.normal(size=(300, 5)).astype(np.float32)
    got = nearest_neighbours(points, 6)
    distance = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    expected = np.argsort(distance, axis=1, kind="stable")[:, :6]
    assert (got[:, 0] == np.arange(300)).all()
    assert all(set(g) == set(e) for g, e in zip(got, expected))


@pytest.mark.parametrize("spread", [3.0, 0.5])
def test_the_partitioned_search_finds_nearly_all_true_neighbours(monkeypatch, spread):
    """Above the exact limit each row searches its two nearest k-means partitions: on clustered rows (cells),
    well or barely separated, most true neighbours are found and the others are nearly as near (what the
    smoothing of scores needs), and the row itself comes first."""
    import cellannotate.projection as projection

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(12, 10)) * spread
    points = (centres[rng.integers(0, 12, 4000)] + rng.normal(size=(4000, 10))).astype(np.float32)
    exact = projection.nearest_neighbours(points, 10)
    monkeypatch.setattr(projection, "EXACT_NEIGHBOURS_BELOW", 100)
    monkeypatch.setattr(projection, "PARTITION_ROWS", 400)
    found = projection.nearest_neighbours(points, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(found, exact)])
    assert found.shape == (4000, 10) and (found[:, 0] == np.arange(4000)).all()
    assert recall > (0.95 if spread > 1 else 0.75), recall

    def mean_distance(graph):
        return np.linalg.norm(points[graph[:, 1:]] - points[:, None, :], axis=2).mean()

    assert mean_distance(found) < 1.05 * mean_distance(exact)


def test_smoothing_weighs_a_row_half_against_its_neighbours_mean():
    from cellannotate.projection import smooth

    values = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 3.0]], dtype=np.float32)
    neighbours = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1]])
    np.testing.assert_allclose(smooth(values, neighbours), [[0.5, 1.0], [0.25, 1.25], [0.25, 1.75]])
