"""Cells in tissue, from a Space Ranger folder the tests build in the documented layout."""

from __future__ import annotations

import json

import anndata
import numpy as np
import pytest

from cellannotate.io.spaceranger import SpaceRangerError, polygon_centroid, read_tissue_layout
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.pipeline import AnnotateRequest, run_annotate
from conftest import assert_one_line_error

SCALE = 0.25  # tissue_hires_scalef: hires pixels per full-resolution pixel


def write_spaceranger_outs(folder, barcodes, leave_out=5, extra_polygons=2, image_size=(200, 240)):
    """``outs/segmented_outputs/`` with a square polygon per cell (but the last ``leave_out``),
    polygons for cells the matrix lacks, scale factors and a hires image. Returns the true centroids."""
    from PIL import Image

    seg = folder / "outs" / "segmented_outputs"
    (seg / "spatial").mkdir(parents=True)
    rng = np.random.default_rng(0)
    centres = rng.uniform(100, 700, size=(len(barcodes), 2))
    features = []
    for (x, y), barcode in zip(centres[: len(barcodes) - leave_out], barcodes):
        cell_id = int(barcode.split("_")[1].split("-")[0])
        ring = [[x - 3, y - 3], [x + 3, y - 3], [x + 3, y + 3], [x - 3, y + 3], [x - 3, y - 3]]
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                         "properties": {"cell_id": cell_id}})
    for k in range(extra_polygons):
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
                         "properties": {"cell_id": 10**8 + k}})
    (seg / "cell_segmentations.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    (seg / "spatial" / "scalefactors_json.json").write_text(json.dumps(
        {"tissue_hires_scalef": SCALE, "tissue_lowres_scalef": SCALE / 10, "spot_diameter_fullres": 7.3,
         "microns_per_pixel": 0.27}))
    # A pale, smooth "tissue": a pink gradient, as an H&E image is mostly.
    rows, cols = np.mgrid[0:image_size[0], 0:image_size[1]]
    shade = (200 + 40 * np.sin(rows / 17.0) * np.cos(cols / 23.0)).astype(np.uint8)
    image = np.stack([np.full_like(shade, 235), shade, np.full_like(shade, 225)], axis=-1)
    Image.fromarray(image).save(seg / "spatial" / "tissue_hires_image.png")
    return centres


@pytest.fixture
def spaceranger(tmp_path, example_h5):
    with TenxMatrix(example_h5) as m:
        barcodes = m.barcodes.astype(str)
    return tmp_path / "run1", write_spaceranger_outs(tmp_path / "run1", barcodes), barcodes


def test_centroids_are_read_and_unmatched_cells_counted(spaceranger):
    folder, centres, barcodes = spaceranger
    layout = read_tissue_layout(folder, barcodes)
    np.testing.assert_allclose(layout.centroids[:-5], centres[:-5], atol=1e-9)
    assert np.isnan(layout.centroids[-5:]).all()
    assert (layout.cells_without_polygon, layout.polygons_without_cell) == (5, 2)
    assert layout.image.shape == (200, 240, 3) and layout.scalefactors["tissue_hires_scalef"] == SCALE


def test_the_folder_may_be_outs_or_segmented_outputs(spaceranger):
    folder, _, barcodes = spaceranger
    for given in (folder, folder / "outs", folder / "outs" / "segmented_outputs"):
        assert read_tissue_layout(given, barcodes).cells_without_polygon == 5


def test_polygon_centroid_is_area_weighted():
    assert polygon_centroid([[0, 0], [4, 0], [4, 2], [0, 2], [0, 0]]) == pytest.approx((2.0, 1.0))
    # A triangle's centroid is the mean of its corners, not of its (repeated) ring points.
    assert polygon_centroid([[0, 0], [3, 0], [0, 3], [0, 0]]) == pytest.approx((1.0, 1.0))


@pytest.mark.parametrize("broken", ["no geojson", "not json", "other run"])
def test_unusable_folders_are_one_clear_error(spaceranger, broken):
    folder, _, barcodes = spaceranger
    geojson = folder / "outs" / "segmented_outputs" / "cell_segmentations.geojson"
    if broken == "no geojson":
        geojson.unlink()
    elif broken == "not json":
        geojson.write_text('{"type": "FeatureCollection", "features": [ {"type": ')
    else:
        barcodes = np.array([f"cellid_{9 * 10**7 + i:09d}-1" for i in range(len(barcodes))])
    with pytest.raises(SpaceRangerError):
        read_tissue_layout(folder, barcodes)


def test_annotate_writes_the_tissue_view_and_squidpys_layout(spaceranger, example_h5, tmp_path):
    folder, centres, barcodes = spaceranger
    outs = run_annotate(AnnotateRequest("s1", example_h5, tmp_path / "out", cell_annotation_model="markers",
                                        spaceranger_outs=folder))
    adata = anndata.read_h5ad(outs / "s1.h5ad")
    np.testing.assert_allclose(adata.obsm["spatial"][:-5], centres[:-5], atol=1e-9)
    spatial = adata.uns["spatial"]["s1"]
    assert spatial["images"]["hires"].shape == (200, 240, 3)
    assert spatial["scalefactors"]["tissue_hires_scalef"] == SCALE
    report = (outs / "web_summary_cell_types.html").read_text()
    assert "Cells in tissue" in report and "data:image/png;base64," in report
    assert "5 cells have no polygon" in report and "have no position in the tissue view" in report
    summary = json.loads((outs / "summary.json").read_text())
    assert summary["tissue"]["cells_without_polygon"] == 5
    assert any("have no polygon" in w for w in summary["warnings"])


def test_a_missing_spaceranger_folder_is_refused_before_any_work(example_h5, tmp_path):
    from test_cli import cellannotate

    result = cellannotate("annotate", "--id", "s1", "--matrix", str(example_h5), "--cell-annotation-model", "markers",
                          "--spaceranger-outs", str(tmp_path / "nope"), "--outdir", str(tmp_path / "run"))
    assert_one_line_error(result, 1, "--spaceranger-outs is not a folder")
    assert not (tmp_path / "run").exists()


def test_space_rangers_own_umap_becomes_x_umap(spaceranger, example_h5, tmp_path):
    folder, _, barcodes = spaceranger
    umap_csv = folder / "outs" / "segmented_outputs" / "analysis" / "umap" / "gene_expression_2_components"
    umap_csv.mkdir(parents=True)
    rows = ["Barcode,UMAP-1,UMAP-2"] + [f"{b},{i},{-i}" for i, b in enumerate(barcodes[:-1])]
    (umap_csv / "projection.csv").write_text("\n".join(rows) + "\n")
    outs = run_annotate(AnnotateRequest("s1", example_h5, tmp_path / "out", cell_annotation_model="markers",
                                        spaceranger_outs=folder))
    x_umap = anndata.read_h5ad(outs / "s1.h5ad").obsm["X_umap"]
    np.testing.assert_array_equal(x_umap[:3], [[0, 0], [1, -1], [2, -2]])
    assert np.isnan(x_umap[-1]).all()  # a cell Space Ranger's projection lacks
