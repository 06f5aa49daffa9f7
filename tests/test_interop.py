"""The .h5ad we write works in scanpy as it comes: its standard workflow, on our labels.

Runs in its own environment with scanpy (``make test-interop``, part of ``make test``).
"""

from __future__ import annotations

import os

import pytest

from cellannotate.pipeline import AnnotateRequest, run_annotate

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def sc():
    import scanpy

    return scanpy


@pytest.fixture(scope="module")
def written(tmp_path_factory, example_h5, panel_matrix, standin):
    """One .h5ad per model that writes them differently: markers (projection) and Azimuth (embedding too)."""
    root = tmp_path_factory.mktemp("interop")
    os.environ["CELLANNOTATE_UMAP"] = "1"  # the .h5ad as users get it, X_umap included
    markers = run_annotate(AnnotateRequest("markers_run", example_h5, root / "m", cell_annotation_model="markers"))
    azimuth = run_annotate(AnnotateRequest("azimuth_run", panel_matrix, root / "a",
                                           options={"azimuth_model": standin}))
    os.environ["CELLANNOTATE_UMAP"] = "0"
    return {"markers": (markers / "markers_run.h5ad", "markers_coarse_cell_type"),
            "azimuth": (azimuth / "azimuth_run.h5ad", "azimuth_coarse_cell_type")}


@pytest.mark.parametrize("model", ["markers", "azimuth"])
def test_scanpys_standard_workflow_runs_on_our_h5ad(sc, written, model):
    path, labels = written[model]
    adata = sc.read_h5ad(path)
    assert adata.X.indices.dtype == adata.X.indptr.dtype
    assert adata.var_names.is_unique and "gene_symbols" in adata.var and "gene_ids" in adata.var
    assert adata.obs[labels].dtype == "category"
    assert adata.obsm["X_umap"].shape == (adata.n_obs, 2)
    sc.pl.umap(adata, color=labels, show=False)
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=min(200, adata.n_vars - 1))
    sc.pp.pca(adata, n_comps=20)
    sc.pp.neighbors(adata, n_neighbors=10)
    sc.tl.umap(adata)
    assert adata.obsm["X_umap"].shape == (adata.n_obs, 2)
    groups = adata.obs[labels].value_counts()
    keep = adata.obs[labels].isin(groups[groups >= 3].index)
    subset = adata[keep].copy()
    subset.obs[labels] = subset.obs[labels].cat.remove_unused_categories()
    sc.tl.rank_genes_groups(subset, labels, method="wilcoxon")
    assert len(subset.uns["rank_genes_groups"]["names"]) > 0


@pytest.mark.parametrize("model", ["markers", "azimuth"])
def test_our_h5ad_reads_back_backed(sc, written, model):
    path, labels = written[model]
    adata = sc.read_h5ad(path, backed="r")
    try:
        assert adata.X[:5].shape == (5, adata.n_vars)
        assert labels in adata.obs
    finally:
        adata.file.close()


def test_squidpy_plots_our_h5ad_in_the_tissue(example_h5, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import squidpy as sq
    from test_tissue import write_spaceranger_outs

    from cellannotate.io.tenx_h5 import read_10x_h5

    with read_10x_h5(example_h5) as matrix:
        write_spaceranger_outs(tmp_path / "sr", matrix.barcodes.astype(str), leave_out=0)
    outs = run_annotate(AnnotateRequest("tissue", example_h5, tmp_path / "run", cell_annotation_model="markers",
                                        spaceranger_outs=tmp_path / "sr"))
    import scanpy

    adata = scanpy.read_h5ad(outs / "tissue.h5ad")
    sq.pl.spatial_scatter(adata, color="markers_coarse_cell_type", library_id="tissue", img_res_key="hires",
                          save=str(tmp_path / "tissue.png"))
    assert (tmp_path / "tissue.png").stat().st_size > 1000
