"""The reference path: run panhumanpy 1.0.0 itself (needs TensorFlow 2.17, numpy<2).

Used to check our engine against the original and as a fallback for models with layers
our engine does not implement. It loads the whole matrix into memory, as panhumanpy does.
Panhumanpy has no argument for the weights' location, only its cache folder
(``~/.cache/panhumanpy/v1/inference_model/``), so the given file is linked into a
temporary cache that panhumanpy is pointed at.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from cellannotate.annotators.azimuth.assets import MODEL_VERSION
from cellannotate.annotators.azimuth.labels import OUTPUT_COLUMNS
from cellannotate.errors import ModelError
from cellannotate.normalize import holds_counts
from cellannotate.io.tenx_h5 import TenxMatrix



def _import_panhumanpy():
    try:
        import anndata
        import panhumanpy
        import panhumanpy.ANNotate_tools as tools
    except ImportError as exc:
        raise ModelError(f"the panhumanpy engine needs panhumanpy 1.0.0 with TensorFlow 2.17 ({exc}); "
                         "see tests/reference-requirements.txt, or use the default numpy engine") from None
    return anndata, panhumanpy, tools


def run_panhumanpy(matrix: TenxMatrix, model_path: Path, embedding_path: Path) -> dict:
    """panhumanpy's per-cell outputs for ``matrix``; the embedding is saved to ``embedding_path``."""
    anndata, panhumanpy, tools = _import_panhumanpy()
    ge = matrix.gene_expression_columns
    counts = matrix.read_cells(0, matrix.n_cells, features=ge).astype(np.float32)
    adata = anndata.AnnData(X=counts)
    adata.obs_names = matrix.barcodes.astype(str)
    adata.var_names = matrix.features.names[ge].astype(str)
    with tempfile.TemporaryDirectory() as cache:
        target = Path(cache) / MODEL_VERSION / "inference_model" / "inference_model.keras"
        target.parent.mkdir(parents=True)
        target.symlink_to(Path(model_path).resolve())
        saved, tools.CACHE_DIR = tools.CACHE_DIR, Path(cache)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                azimuth = panhumanpy.AzimuthNN(adata, refine=True, output_mode="minimal")
                embedding = azimuth.azimuth_embed()
        finally:
            tools.CACHE_DIR = saved
    np.save(embedding_path, np.asarray(embedding, dtype=np.float32))
    meta = azimuth.cells_meta
    out = {name: meta[name].to_numpy() for name in OUTPUT_COLUMNS}
    out["final_level_confidence"] = out["final_level_confidence"].astype(np.float32)
    out["full_consistent_hierarchy"] = out["full_consistent_hierarchy"].astype(bool)
    out["normalised_here"] = holds_counts(counts)
    return out
