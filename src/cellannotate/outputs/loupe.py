"""Loupe Browser outputs.

``cell_types_loupe.csv`` is what Loupe Browser imports as categories: a ``Barcode``
column, then one column per category. The ``.cloupe`` format itself is closed, so an
annotated ``.cloupe`` is left to 10x's own converter (see :mod:`cellannotate.outputs.cloupe`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cellannotate.io.atomic import atomic_path
from cellannotate.celltypes import CellTypeTable

LOUPE_CSV = "cell_types_loupe.csv"


def loupe_frame(table: CellTypeTable) -> pd.DataFrame:
    """Barcode plus coarse and fine cell type, named for the model, as Loupe imports them."""
    return pd.DataFrame(
        {
            "Barcode": table.barcodes,
            f"{table.model} Cell Types": table.coarse,
            f"{table.model} Fine Cell Types": table.fine,
        }
    )


def write_loupe_csv(path: Path, table: CellTypeTable) -> None:
    """Write the Loupe Browser categories CSV whole or not at all."""
    with atomic_path(Path(path)) as tmp:
        loupe_frame(table).to_csv(tmp, index=False)
