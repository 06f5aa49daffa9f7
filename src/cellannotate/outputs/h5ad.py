"""Write ``{id}.h5ad`` so that scanpy users can carry on from the annotation.

``X`` holds the raw gene-expression counts (float32, CSR, cells x genes, int32 indices and
indptr while they fit, as ``scanpy.read_10x_h5`` gives them) and is streamed into the file
chunk by chunk; ``var_names`` are the gene symbols made unique (``gene_symbols`` keeps them as
they were, ``gene_ids`` the Ensembl ids); ``obs``
holds every model's labels and confidence, ``obsm`` the models' 2-D projections, ``uns``
the run metadata. Everything but ``X`` is written with anndata's own element writer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pandas as pd

from cellannotate import __version__
from cellannotate.errors import OutputError
from cellannotate.lineage import agreement
from cellannotate.io.atomic import atomic_path
from cellannotate.celltypes import CellTypeTable
from cellannotate.io.spaceranger import TissueLayout
from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS, CellChunk, TenxMatrix
from cellannotate.validation.report import ValidationReport

try:  # anndata >= 0.11
    from anndata.io import write_elem
except ImportError:  # anndata 0.10
    from anndata.experimental import write_elem
from anndata.utils import make_index_unique


def obs_key(model: str, column: str) -> str:
    """``obs`` column name of a model's column, e.g. ``markers_coarse_cell_type``."""
    return f"{model.lower()}_{column}"


BYTES_PER_COUNT = 8           # a value and a column index, before compression
SPARE_BYTES = 64 << 20
# Where several models ran: whether those that labelled a cell agree on its lineage (none is changed).
AGREEMENT_COLUMN = "models_agree_on_lineage"


def _check_space(path: Path, nnz: int) -> None:
    """Refuse before writing when the disk cannot hold the counts: HDF5 does not fail cleanly when a disk
    fills under it (it can crash as it closes the file)."""
    needed = nnz * BYTES_PER_COUNT + SPARE_BYTES
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise OutputError(f"not enough free space for {path.name}: it needs up to {needed / 2**20:,.0f} MiB, "
                          f"{free / 2**20:,.0f} MiB are free in {path.parent}")


def _obs(matrix: TenxMatrix, tables: list[CellTypeTable]) -> pd.DataFrame:
    obs = pd.DataFrame(index=pd.Index(matrix.barcodes.astype(str), name="barcode"))
    for table in tables:
        for column, values in (("broad_cell_type", table.broad), ("coarse_cell_type", table.coarse),
                               ("fine_cell_type", table.fine)):
            obs[obs_key(table.model, column)] = pd.Categorical(values.astype(str))
        obs[obs_key(table.model, "confidence")] = table.confidence.astype(np.float32)
    if len(tables) > 1:
        obs[AGREEMENT_COLUMN] = pd.Categorical(agreement(tables), categories=["agree", "disagree", "n/a"])
    return obs


def _var(matrix: TenxMatrix, ge: np.ndarray) -> pd.DataFrame:
    features = matrix.features
    names = pd.Index(features.names[ge].astype(str))
    var = pd.DataFrame(
        {"gene_ids": features.ids[ge].astype(str), "gene_symbols": names.to_numpy(),
         "feature_types": features.types[ge].astype(str), "genome": features.genomes[ge].astype(str)},
        index=make_index_unique(names) if not names.is_unique else names,
    )
    return var


def _write_counts(group: h5py.Group, matrix: TenxMatrix, ge: np.ndarray, chunk_cells: int,
                  alongside: Callable[[CellChunk], None] | None) -> None:
    x = group.create_group("X")
    x.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0", "shape": (matrix.n_cells, len(ge))})
    # One index type for indices and indptr, as scanpy's reader gives: scikit-learn's sparse
    # kernels (scanpy's PCA) refuse int32 indices with int64 indptr.
    index_dtype = np.int32 if matrix.nnz < 2**31 else np.int64
    indptr = np.zeros(matrix.n_cells + 1, dtype=index_dtype)
    # Not compressed, as anndata writes by default: deflating a million cells' counts costs two cores
    # about 12 s (a third of a whole run), and reading them back in scanpy as long again.
    opts = dict(shape=(0,), maxshape=(None,), chunks=(1 << 18,))
    data = x.create_dataset("data", dtype=np.float32, **opts)
    indices = x.create_dataset("indices", dtype=index_dtype, **opts)
    nnz = 0
    for chunk in matrix.iter_chunks(chunk_cells, features=ge):
        counts = chunk.counts
        counts.sort_indices()
        for dataset, values in ((data, counts.data), (indices, counts.indices)):
            dataset.resize((nnz + counts.nnz,))
            dataset[nnz:] = values
        indptr[chunk.start + 1 : chunk.stop + 1] = counts.indptr[1:] + nnz
        nnz += counts.nnz
        if alongside is not None:
            alongside(chunk)
    x.create_dataset("indptr", data=indptr)


def _write_array(group: h5py.Group, key: str, values: np.ndarray, chunk_cells: int) -> None:
    """A dense array (e.g. memory-mapped), copied chunk by chunk, as anndata encodes arrays; not
    compressed: embeddings' floats barely compress, and deflating them cost a core 17 s a million cells."""
    out = group.create_dataset(key, shape=values.shape, dtype=np.float32)
    out.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
    for start in range(0, len(values), chunk_cells):
        out[start:start + chunk_cells] = values[start:start + chunk_cells]


def write_h5ad(
    path: Path,
    sample_id: str,
    matrix: TenxMatrix,
    tables: list[CellTypeTable],
    validation: ValidationReport,
    embeddings: dict | None = None,
    layout: TissueLayout | None = None,
    chunk_cells: int = DEFAULT_CHUNK_CELLS,
    alongside: Callable[[CellChunk], None] | None = None,
) -> None:
    """Write the AnnData file atomically with memory bounded by a few chunks of cells.

    ``alongside`` is handed each chunk of gene-expression counts as ``X`` is written, so that other
    work on the counts (differential expression) needs no pass of its own.

    ``embeddings`` (obsm key -> ``(n_cells, d)`` array, e.g. memory-mapped) go to ``obsm`` too.
    ``layout`` (from a Space Ranger folder) gives ``obsm['spatial']`` (full-resolution pixels)
    and ``uns['spatial'][sample_id]`` (hires image, scale factors), the layout squidpy reads.
    """
    _check_space(Path(path), matrix.nnz)
    ge = matrix.gene_expression_columns
    uns = {
        "cellannotate": {
            "version": __version__,
            "sample_id": sample_id,
            "models": np.array([t.model for t in tables], dtype=object),
            "models_json": json.dumps({t.model: t.info for t in tables}),
            "validation_json": json.dumps(validation.to_dict()),
        }
    }
    obsm = {f"X_{t.model.lower()}_projection": t.projection.astype(np.float32)
            for t in tables if t.projection is not None}
    umaps = [t.projection for t in tables if t.info.get("projection_kind") == "umap"]
    if layout is not None and layout.umap is not None:  # Space Ranger's own, when the user gave its folder
        obsm["X_umap"] = layout.umap.astype(np.float32)
    elif umaps:  # else the first model's (Azimuth's beside a cloud model), where scanpy looks for one
        obsm["X_umap"] = umaps[0].astype(np.float32)
    if layout is not None:
        obsm["spatial"] = layout.centroids
        images = {"hires": layout.image} if layout.image is not None else {}
        uns["spatial"] = {sample_id: {"images": images, "scalefactors": layout.scalefactors,
                                      "metadata": {"source": "Space Ranger cell_segmentations.geojson"}}}
    with atomic_path(Path(path)) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        write_elem(h5, "obs", _obs(matrix, tables))
        write_elem(h5, "var", _var(matrix, ge))
        _write_counts(h5, matrix, ge, chunk_cells, alongside)
        write_elem(h5, "obsm", obsm)
        for key, values in (embeddings or {}).items():
            _write_array(h5["obsm"], key, values, chunk_cells)
        write_elem(h5, "uns", uns, dataset_kwargs={"compression": "gzip"})
        for empty in ("layers", "varm", "obsp", "varp"):
            write_elem(h5, empty, {})
