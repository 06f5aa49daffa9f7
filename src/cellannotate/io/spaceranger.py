"""A Space Ranger output folder: where each segmented cell lies in the tissue, and the tissue image.

From a Visium HD run (its ``outs/`` or ``outs/segmented_outputs/``): ``cell_segmentations.geojson``
(one polygon per cell in full-resolution image pixels, ``properties.cell_id`` the number in the
``cellid_000000001-1`` barcode), ``spatial/scalefactors_json.json`` and
``spatial/tissue_hires_image.png``, and Space Ranger's own UMAP
(``analysis/umap/gene_expression_2_components/projection.csv``) when there is one. The GeoJSON is streamed (``ijson``): real ones hold hundreds
of thousands of polygons, so only one feature and the ``(n_cells, 2)`` centroids are ever in
memory. Cells without a polygon keep NaN coordinates and are counted, not dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellannotate.errors import CellAnnotateError

GEOJSON = "cell_segmentations.geojson"
UMAP_CSV = "analysis/umap/gene_expression_2_components/projection.csv"
SCALEFACTORS = "scalefactors_json.json"
HIRES = "tissue_hires_image.png"
GEOJSON_PLACES = ("", "segmented_outputs", "outs/segmented_outputs")
SPATIAL_PLACES = ("spatial", "segmented_outputs/spatial", "outs/segmented_outputs/spatial", "outs/spatial", "../spatial")
_CELL_ID = re.compile(r"^cellid_0*(\d+)-\d+$")


class SpaceRangerError(CellAnnotateError):
    """The Space Ranger folder is missing, incomplete or unreadable."""


@dataclass
class TissueLayout:
    """Where the cells lie.

    Attributes
    ----------
    centroids : ``(n_cells, 2)`` float64, (x, y) in full-resolution pixels; NaN without a polygon.
    scalefactors : Space Ranger's ``scalefactors_json.json``.
    image : the hires tissue image ``(h, w, 3)`` uint8, or ``None`` if the folder has none.
    cells_without_polygon, polygons_without_cell : what did not match.
    umap : Space Ranger's own UMAP ``(n_cells, 2)`` (NaN for cells it lacks), or ``None``.
    """

    centroids: np.ndarray
    scalefactors: dict
    image: np.ndarray | None
    cells_without_polygon: int
    polygons_without_cell: int
    umap: np.ndarray | None = None


def _find(folder: Path, name: str, places: tuple[str, ...]) -> Path | None:
    return next((folder / place / name for place in places if (folder / place / name).is_file()), None)


def polygon_centroid(ring) -> tuple[float, float]:
    """Area-weighted centroid of a polygon ring ``[[x, y], ...]`` (the vertices' mean if it has no area)."""
    xy = np.asarray(ring, dtype=np.float64)[:, :2]
    x, y = xy[:, 0], xy[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    if abs(area) < 1e-12:
        return float(x.mean()), float(y.mean())
    return (float(((x + np.roll(x, -1)) * cross).sum() / (6 * area)),
            float(((y + np.roll(y, -1)) * cross).sum() / (6 * area)))


def _outer_ring(geometry) -> list | None:
    if not isinstance(geometry, dict) or not geometry.get("coordinates"):
        return None
    if geometry.get("type") == "Polygon":
        return geometry["coordinates"][0]
    if geometry.get("type") == "MultiPolygon":
        return max((polygon[0] for polygon in geometry["coordinates"] if polygon), key=len, default=None)
    return None


def read_centroids(path: Path, barcodes: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Each barcode's polygon centroid ``(n, 2)``, how many cells had no polygon, and how many
    polygons named no cell of the matrix."""
    import ijson

    row_of = {int(m.group(1)): row for row, b in enumerate(barcodes) if (m := _CELL_ID.match(str(b)))}
    centroids = np.full((len(barcodes), 2), np.nan)
    unmatched = 0
    try:
        with open(path, "rb") as fh:
            for feature in ijson.items(fh, "features.item", use_float=True):
                cell = (feature.get("properties") or {}).get("cell_id") if isinstance(feature, dict) else None
                row = row_of.get(cell) if isinstance(cell, int) else None
                ring = _outer_ring(feature.get("geometry")) if row is not None else None
                if ring is None:
                    unmatched += 1
                    continue
                centroids[row] = polygon_centroid(ring)
    except (OSError, ValueError, ijson.JSONError) as exc:
        raise SpaceRangerError(f"cannot read the cell segmentation {path}: {exc}") from None
    return centroids, int(np.isnan(centroids[:, 0]).sum()), unmatched


def read_image(path: Path | None) -> np.ndarray | None:
    if path is None:
        return None
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except OSError as exc:
        raise SpaceRangerError(f"cannot read the tissue image {path}: {exc}") from None


def read_umap(path: Path | None, barcodes: np.ndarray) -> np.ndarray | None:
    """Space Ranger's ``projection.csv`` (``Barcode,UMAP-1,UMAP-2``) in matrix order, NaN where it lacks a cell."""
    if path is None:
        return None
    import pandas as pd

    try:
        frame = pd.read_csv(path, index_col=0)
    except (OSError, ValueError) as exc:
        raise SpaceRangerError(f"cannot read Space Ranger's UMAP {path}: {exc}") from None
    if frame.shape[1] != 2 or not frame.index.is_unique:
        raise SpaceRangerError(f"{path} is not a two-column projection with one row per barcode")
    return frame.reindex(pd.Index(np.asarray(barcodes).astype(str))).to_numpy(dtype=np.float64)


def read_tissue_layout(folder: Path, barcodes: np.ndarray) -> TissueLayout:
    """What a Space Ranger output folder says about where the cells lie; one-line error if unusable."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpaceRangerError(f"--spaceranger-outs is not a folder: {folder}")
    geojson, scalefactors = _find(folder, GEOJSON, GEOJSON_PLACES), _find(folder, SCALEFACTORS, SPATIAL_PLACES)
    if geojson is None or scalefactors is None:
        raise SpaceRangerError(f"{folder} lacks {GEOJSON} or spatial/{SCALEFACTORS}: point --spaceranger-outs at a "
                               "Visium HD run's outs/ or outs/segmented_outputs/")
    try:
        factors = json.loads(scalefactors.read_text())
    except (OSError, ValueError) as exc:
        raise SpaceRangerError(f"cannot read {scalefactors}: {exc}") from None
    if not isinstance(factors, dict):
        raise SpaceRangerError(f"{scalefactors} is not a JSON object")
    centroids, without, unmatched = read_centroids(geojson, barcodes)
    if without == len(barcodes):
        raise SpaceRangerError(f"no cell of the matrix has a polygon in {geojson}: is it from the same run?")
    return TissueLayout(centroids, factors, read_image(_find(scalefactors.parent, HIRES, ("",))), without, unmatched,
                        read_umap(_find(geojson.parent, UMAP_CSV, ("",)), barcodes))
