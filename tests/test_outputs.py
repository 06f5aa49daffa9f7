"""outs/: every file's shape against the input, DE against scipy, the report, atomicity."""

import gzip
import json
from html.parser import HTMLParser

import anndata
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cellannotate.outputs import assemble as assemble_module
from cellannotate.outputs.assemble import assemble_outputs
from cellannotate.celltypes import UNASSIGNED, CellTypeTable
from cellannotate.outputs.diffexp import differential_expression
from cellannotate.errors import OutputError
from cellannotate.normalize import log_normalize
from cellannotate.io.tenx_h5 import read_10x_h5
from cellannotate.validation.matrix import validate_matrix
from conftest import small_matrix

# Float results: `make test-blas` runs these again under another BLAS kernel.
pytestmark = pytest.mark.numeric


def _table(barcodes, model="Markers", seed=0, projection=True):
    rng = np.random.default_rng(seed)
    coarse = rng.choice(["T cell", "B cell", UNASSIGNED], size=len(barcodes)).astype(object)
    conf = np.where(coarse == UNASSIGNED, np.nan, rng.uniform(0, 1, len(barcodes)))
    return CellTypeTable(model, np.asarray(barcodes, dtype=object), coarse, coarse, coarse, conf,
                         projection=rng.normal(size=(len(barcodes), 2)) if projection else None,
                         info={"model_name": model})


@pytest.fixture
def annotated(tmp_path, example_h5):
    with read_10x_h5(example_h5) as m:
        barcodes = m.barcodes
    folders = []
    for i, model in enumerate(["Markers", "10x_Cloud"]):
        _table(barcodes, model, seed=i, projection=(i == 0)).write(tmp_path / "ann" / model)
        folders.append(tmp_path / "ann" / model)
    with gzip.open(folders[1] / "cell_annotation_results.json.gz", "wt") as fh:
        json.dump({"evidence": []}, fh)
    return example_h5, validate_matrix(example_h5), folders


def test_every_output_file_covers_every_barcode_in_order(tmp_path, annotated):
    matrix, report, folders = annotated
    outs = assemble_outputs("s1", matrix, report, folders, tmp_path / "outs")
    with read_10x_h5(matrix) as m:
        barcodes = list(m.barcodes)
        n_genes = int(m.features.gene_expression.sum())
    for model in ("Markers", "10x_Cloud"):
        folder = outs / "cell_types" / model
        cell_types = pd.read_csv(folder / "cell_types.csv", keep_default_na=False)
        assert list(cell_types.columns[:5]) == ["barcode", "broad_cell_type", "coarse_cell_type", "fine_cell_type", "confidence"]
        assert list(cell_types["barcode"]) == barcodes
        assert (cell_types["coarse_cell_type"] != "").all()
        loupe = pd.read_csv(folder / "cell_types_loupe.csv")
        assert list(loupe.columns) == ["Barcode", f"{model} Cell Types", f"{model} Fine Cell Types"]
        assert list(loupe["Barcode"]) == barcodes
        de = pd.read_csv(folder / "cell_annotation_differential_expression.csv")
        assert len(de) == n_genes
        assert {"T cell Log2 fold change", "B cell p value", "B cell Adjusted p value"} <= set(de.columns)
        assert not any(c.startswith(UNASSIGNED) for c in de.columns)
    assert (outs / "cell_types" / "10x_Cloud" / "cell_annotation_results.json.gz").exists()
    assert not (outs / "cell_types" / "Markers" / "cell_annotation_results.json.gz").exists()
    summary = json.loads((outs / "summary.json").read_text())
    assert summary["models"]["Markers"]["cells"] == len(barcodes)
    assert sum(summary["models"]["Markers"]["coarse_cell_type_counts"].values()) == len(barcodes)


def test_h5ad_has_counts_labels_projection_and_metadata(tmp_path, annotated):
    matrix, report, folders = annotated
    outs = assemble_outputs("s1", matrix, report, folders, tmp_path / "outs")
    adata = anndata.read_h5ad(outs / "s1.h5ad")
    with read_10x_h5(matrix) as m:
        counts = m.read_cells(0, m.n_cells, m.features.gene_expression)
        assert list(adata.obs_names) == list(m.barcodes)
    assert abs(adata.X - counts).max() == 0
    assert {"markers_coarse_cell_type", "10x_cloud_confidence"} <= set(adata.obs.columns)
    assert adata.obsm["X_markers_projection"].shape == (adata.n_obs, 2)
    assert adata.uns["cellannotate"]["sample_id"] == "s1"
    assert json.loads(adata.uns["cellannotate"]["validation_json"])["n_cells"] == adata.n_obs
    assert list(adata.var["gene_ids"])[:1] == [m.features.ids[0]]


def test_differential_expression_matches_scipy_welch(tmp_path):
    path = small_matrix(tmp_path / "m.h5", n_cells=120, n_genes=25, seed=4)
    labels = np.array(["a"] * 40 + ["b"] * 50 + ["c"] * 25 + [UNASSIGNED] * 5, dtype=object)
    with read_10x_h5(path) as m:
        result = differential_expression(m, labels, chunk_cells=17)
        x = log_normalize(m.read_cells(0, m.n_cells)).toarray()
    labelled = labels != UNASSIGNED
    for k, name in enumerate(result.cell_types):
        inside = labels == name
        ref = stats.ttest_ind(x[inside], x[labelled & ~inside], equal_var=False)
        ok = np.isfinite(ref.pvalue)
        assert np.allclose(result.p_value[k][ok], ref.pvalue[ok], rtol=1e-9, atol=1e-12)
        assert np.allclose(result.adjusted_p_value[k], stats.false_discovery_control(result.p_value[k]))
    assert result.cell_types == ["b", "a", "c"]


def test_report_is_self_contained_and_well_formed(tmp_path, annotated):
    matrix, report, folders = annotated
    outs = assemble_outputs("s1", matrix, report, folders, tmp_path / "outs")
    page = (outs / "web_summary_cell_types.html").read_text()

    class Refs(HTMLParser):
        external, tags = [], []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            for key, value in attrs:
                if key in ("src", "href") and value and "//" in value:
                    self.external.append(value)

    parser = Refs()
    parser.feed(page)
    assert parser.external == []
    assert "script" not in parser.tags and "link" not in parser.tags
    assert "http://" not in page and "https://" not in page
    assert page.count('name="model"') == 2  # one tab per model
    assert "<svg" in page and "Cells per cell type" in page and "Confidence by cell type" in page


def test_failed_assembly_leaves_previous_outs_untouched(tmp_path, annotated, monkeypatch):
    matrix, report, folders = annotated
    outs = tmp_path / "outs"
    assemble_outputs("s1", matrix, report, folders, outs)
    before = {p.relative_to(outs): p.read_bytes() for p in outs.rglob("*") if p.is_file()}

    def boom(*args, **kwargs):
        raise RuntimeError("injected failure while writing the h5ad")

    monkeypatch.setattr(assemble_module, "write_h5ad", boom)
    with pytest.raises(RuntimeError):
        assemble_outputs("s1", matrix, report, folders[:1], outs)
    after = {p.relative_to(outs): p.read_bytes() for p in outs.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann", "outs"]


def test_rerun_gives_identical_tables(tmp_path, annotated):
    matrix, report, folders = annotated
    first = assemble_outputs("s1", matrix, report, folders, tmp_path / "a")
    second = assemble_outputs("s1", matrix, report, folders, tmp_path / "a")
    for rel in ("cell_types/Markers/cell_types.csv", "cell_types/Markers/cell_annotation_differential_expression.csv",
                "summary.json", "web_summary_cell_types.html"):
        assert (first / rel).read_bytes() == (second / rel).read_bytes()


def test_labels_from_another_matrix_are_refused(tmp_path, annotated):
    matrix, report, folders = annotated
    other = tmp_path / "other"
    _table([f"x{i}-1" for i in range(10)]).write(other)
    with pytest.raises(OutputError, match="do not match the matrix barcodes"):
        assemble_outputs("s1", matrix, report, [other], tmp_path / "outs")
    assert not (tmp_path / "outs").exists()


def test_cell_type_table_round_trips(tmp_path):
    table = _table([f"c{i}-1" for i in range(30)])
    table.extra = {"score": np.arange(30.0)}
    table.write(tmp_path / "M")
    back = CellTypeTable.read(tmp_path / "M")
    assert list(back.coarse) == list(table.coarse)
    assert np.allclose(back.confidence, table.confidence, equal_nan=True, atol=1e-6)
    assert np.allclose(back.projection, table.projection, atol=1e-6)
    assert list(back.extra) == ["score"]
