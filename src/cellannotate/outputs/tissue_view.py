"""The report's "cells in tissue" view: each cell's centroid over the hires tissue image.

The image is shrunk to at most :data:`WIDTH` pixels and embedded as a PNG in the SVG, so the
page stays self-contained; at most ``MAX_POINTS`` cells are drawn, sampled evenly.
"""

from __future__ import annotations

import base64
import io

import numpy as np

from cellannotate.celltypes import CellTypeTable
from cellannotate.io.spaceranger import TissueLayout

WIDTH = 640


def _png(image: np.ndarray, width: int) -> str:
    from PIL import Image

    picture = Image.fromarray(image)
    picture.thumbnail((width, width * image.shape[0] // max(image.shape[1], 1) + 1))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode()


def tissue_svg(table: CellTypeTable, layout: TissueLayout, palette: dict[str, str], max_points: int) -> str:
    """An SVG of the cells over the tissue, coloured by coarse cell type."""
    placed = np.flatnonzero(np.isfinite(layout.centroids).all(axis=1))
    idx = placed[np.linspace(0, len(placed) - 1, min(max_points, len(placed))).astype(int)]
    xy = layout.centroids[idx] * float(layout.scalefactors.get("tissue_hires_scalef", 1.0))
    if layout.image is not None:
        height, width = layout.image.shape[:2]
    else:
        width, height = (xy.max(axis=0) * 1.05).tolist()
    scale = WIDTH / max(width, 1)
    background = (f'<image href="data:image/png;base64,{_png(layout.image, WIDTH)}" width="{WIDTH}" '
                  f'height="{height * scale:.0f}"/>' if layout.image is not None else "")
    dots = "".join(f'<circle cx="{x * scale:.1f}" cy="{y * scale:.1f}" r="1.6" fill="{palette.get(label, "#888")}"/>'
                   for (x, y), label in zip(xy, table.coarse[idx]))
    note = f"{len(idx):,} of {table.n_cells:,} cells shown"
    if layout.cells_without_polygon:
        note += f"; {layout.cells_without_polygon:,} cells have no polygon in the segmentation"
    return (f'<svg width="{WIDTH}" height="{height * scale:.0f}" role="img" aria-label="cells in tissue coloured by '
            f'cell type">{background}{dots}</svg><p style="font-size:12px;color:#666">{note}</p>')
