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

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellannotate.errors import CellAnnotateError
from cellannotate.io.checked import check_regular, read_json

GEOJSON = "cell_segmentations.geojson"
UMAP_CSV = "analysis/umap/gene_expression_2_components/projection.csv"
SCALEFACTORS = "scalefactors_json.json"
HIRES = "tissue_hires_image.png"
GEOJSON_PLACES = ("", "segmented_outputs", "outs/segmented_outputs")
SPATIAL_PLACES = ("spatial", "segmented_outputs/spatial", "outs/segmented_outputs/spatial", "outs/spatial", "../spatial")
_CELL_ID = re.compile(r"^cellid_0*(\d+)-\d+$")
MAX_NESTING = 32                        # a FeatureCollection's MultiPolygon nests 6 deep
OPENING, CLOSING = np.frombuffer(b"[{", dtype=np.uint8), np.frombuffer(b"]}", dtype=np.uint8)
MAX_IMAGE_BYTES = 256 << 20
MAX_IMAGE_PIXELS = 64_000_000           # Space Ranger's hires image is at most 6,000 pixels a side


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


def _feature_centroid(feature, row_of: dict) -> tuple[int, tuple[float, float]] | None:
    """The matrix row and polygon centroid of one feature; ``None`` for a feature that names no cell of
    the matrix or whose geometry is not a polygon of (x, y) points (counted, never fatal)."""
    try:
        cell = feature["properties"]["cell_id"]
        row = row_of.get(cell) if isinstance(cell, int) and not isinstance(cell, bool) else None
        ring = _outer_ring(feature["geometry"]) if row is not None else None
        if ring is None:
            return None
        centroid = polygon_centroid(ring)
    except (TypeError, KeyError, IndexError, ValueError):
        return None
    return (row, centroid) if np.isfinite(centroid).all() else None


def _deepest_nesting(path: Path, limit: int) -> int:
    """How deep the file's brackets nest, stopping once past ``limit`` (strings counted as well: a
    segmentation has no brackets in its text). ijson's memory grows with the square of the depth."""
    depth = deepest = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            codes = np.frombuffer(block, dtype=np.uint8)
            steps = (np.isin(codes, OPENING).astype(np.int64) - np.isin(codes, CLOSING).astype(np.int64))
            if not steps.any():
                continue
            running = depth + np.cumsum(steps)
            deepest, depth = max(deepest, int(running.max())), int(running[-1])
            if deepest > limit:
                break
    return deepest


def read_centroids(path: Path, barcodes: np.ndarray) -> tuple[np.ndarray, int, int]:
    """Each barcode's polygon centroid ``(n, 2)``, how many cells had no polygon, and how many
    polygons named no cell of the matrix."""
    import ijson

    row_of = {int(m.group(1)): row for row, b in enumerate(barcodes) if (m := _CELL_ID.match(str(b)))}
    centroids = np.full((len(barcodes), 2), np.nan)
    unmatched = 0
    check_regular(path, "the cell segmentation", SpaceRangerError)
    try:
        if _deepest_nesting(path, MAX_NESTING) > MAX_NESTING:
            raise SpaceRangerError(f"the cell segmentation {path} nests deeper than GeoJSON polygons do "
                                   f"({MAX_NESTING} levels): it is not a Space Ranger segmentation")
        with open(path, "rb") as fh:
            for feature in ijson.items(fh, "features.item", use_float=True):
                found = _feature_centroid(feature, row_of)
                if found is None:
                    unmatched += 1
                    continue
                centroids[found[0]] = found[1]
    except (OSError, ValueError, ijson.JSONError, ijson.IncompleteJSONError) as exc:
        raise SpaceRangerError(f"cannot read the cell segmentation {path}: it is not valid GeoJSON "
                               f"({type(exc).__name__})") from None
    return centroids, int(np.isnan(centroids[:, 0]).sum()), unmatched


def read_image(path: Path | None) -> np.ndarray | None:
    """The tissue image as an RGB array, or ``None`` without one."""
    if path is None:
        return None
    import warnings

    from PIL import Image

    check_regular(path, "the tissue image", SpaceRangerError)
    if Path(path).stat().st_size > MAX_IMAGE_BYTES:
        raise SpaceRangerError(f"the tissue image {path} is larger than {MAX_IMAGE_BYTES:,} bytes: not a hires image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise SpaceRangerError(f"the tissue image {path} claims {image.width:,} x {image.height:,} pixels, "
                                           "more than a hires image has")
                return np.asarray(image.convert("RGB"))
    except SpaceRangerError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise SpaceRangerError(f"cannot read the tissue image {path} ({type(exc).__name__}): is it a PNG "
                               "Space Ranger wrote?") from None


def read_umap(path: Path | None, barcodes: np.ndarray) -> np.ndarray | None:
    """Space Ranger's ``projection.csv`` (``Barcode,UMAP-1,UMAP-2``) in matrix order, NaN where it lacks a cell."""
    if path is None:
        return None
    import pandas as pd

    try:
        frame = pd.read_csv(path, index_col=0)
        if frame.shape[1] != 2 or not frame.index.is_unique:
            raise ValueError("not two columns, one row per barcode")
        return frame.reindex(pd.Index(np.asarray(barcodes).astype(str))).to_numpy(dtype=np.float64)
    except (OSError, ValueError, TypeError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SpaceRangerError(f"Space Ranger's UMAP {path} is not a two-column numeric projection with one row "
                               f"per barcode ({type(exc).__name__})") from None


def spaceranger_files(folder: Path) -> tuple[Path, Path]:
    """The segmentation and the scale factors of a Space Ranger folder: checked before any model runs,
    so a wrong folder costs seconds, not a whole run."""
    folder = Path(folder)
    try:
        is_folder = folder.is_dir()
    except OSError as exc:
        raise SpaceRangerError(f"--spaceranger-outs cannot be reached: {exc.strerror}") from None
    if not is_folder:
        raise SpaceRangerError(f"--spaceranger-outs is not a folder: {folder}")
    geojson, scalefactors = _find(folder, GEOJSON, GEOJSON_PLACES), _find(folder, SCALEFACTORS, SPATIAL_PLACES)
    if geojson is None or scalefactors is None:
        raise SpaceRangerError(f"{folder} lacks {GEOJSON} or spatial/{SCALEFACTORS}: point --spaceranger-outs at a "
                               "Visium HD run's outs/ or outs/segmented_outputs/")
    check_regular(geojson, "the cell segmentation", SpaceRangerError)
    check_regular(scalefactors, "Space Ranger's scale factors", SpaceRangerError)
    return geojson, scalefactors


def read_tissue_layout(folder: Path, barcodes: np.ndarray) -> TissueLayout:
    """What a Space Ranger output folder says about where the cells lie; one-line error if unusable."""
    folder = Path(folder)
    geojson, scalefactors = spaceranger_files(folder)
    factors = read_json(scalefactors, "Space Ranger's scale factors", SpaceRangerError, max_bytes=1 << 20)
    odd = [str(k)[:40] for k, v in factors.items()
           if isinstance(v, bool) or not isinstance(v, (int, float)) or not abs(v) < 1e15]
    if odd:
        raise SpaceRangerError(f"{scalefactors}: {', '.join(odd)} should be numbers: is it Space Ranger's file?")
    centroids, without, unmatched = read_centroids(geojson, barcodes)
    if without == len(barcodes):
        raise SpaceRangerError(f"no cell of the matrix has a polygon in {geojson}: is it from the same run?")
    return TissueLayout(centroids, factors, read_image(_find(scalefactors.parent, HIRES, ("",))), without, unmatched,
                        read_umap(_find(geojson.parent, UMAP_CSV, ("",)), barcodes))
