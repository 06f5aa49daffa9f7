"""Read and write 10x Genomics HDF5 feature-barcode matrices.

The file stores a features x barcodes matrix in CSC form, which is the same arrays as a
cells x features CSR matrix. We read it that way and in chunks of cells: ``indptr`` is
loaded once (8 bytes per cell), then each chunk reads only its own slice of ``data``
and ``indices``, so memory is bounded by the chunk, not by the matrix.

Two layouts are understood: Cell Ranger v3+ / Space Ranger (group ``matrix`` with a
``features`` sub-group) and Cell Ranger v2 (one group per genome with ``genes`` and
``gene_names``). The writer produces the v3 layout.
"""

from __future__ import annotations

import errno
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np
import scipy.sparse as sp

from cellannotate.io.atomic import atomic_path
from cellannotate.io.deflated import SpanReader
from cellannotate.errors import MatrixError
from cellannotate.parallel import THREADS, map_ahead

GENE_EXPRESSION = "Gene Expression"
DEFAULT_CHUNK_CELLS = 10_000     # with two more read ahead and two being worked on: ~0.3 GB at 250 genes a cell


@dataclass(frozen=True)
class FeatureTable:
    """Per-feature annotation, each an array of ``str`` of length ``n_features``."""

    ids: np.ndarray
    names: np.ndarray
    types: np.ndarray
    genomes: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def gene_expression(self) -> np.ndarray:
        """Boolean mask of the features annotation uses (``Gene Expression``)."""
        return self.types == GENE_EXPRESSION

    def subset(self, mask: np.ndarray) -> "FeatureTable":
        """The features where ``mask`` holds."""
        return FeatureTable(self.ids[mask], self.names[mask], self.types[mask], self.genomes[mask])


@dataclass(frozen=True)
class CellChunk:
    """Cells ``start:stop`` of a matrix as a CSR ``(cells, features)`` count matrix."""

    start: int
    stop: int
    counts: sp.csr_matrix


def _decode(values: np.ndarray) -> np.ndarray:
    """Turn an HDF5 string array (fixed bytes or variable length) into ``str``."""
    if values.dtype.kind == "S":
        return np.char.decode(values, "utf-8", errors="replace").astype(object)
    if values.dtype.kind == "O":
        return np.array(
            [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values],
            dtype=object,
        )
    return values.astype(str).astype(object)


def _attr_value(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        items = [_attr_value(v) for v in value.tolist()]
        return items[0] if len(items) == 1 else items
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_path(path: Path) -> None:
    try:
        path.stat()
    except PermissionError:
        raise MatrixError(f"matrix file is not readable (permission denied on it or its folder): {path}") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise MatrixError(f"the matrix path is too long for the filesystem: {str(path)[:120]}...") from None
    if not path.exists():
        raise MatrixError(f"matrix file not found: {path}")
    if path.is_dir():
        raise MatrixError(f"matrix path is a directory, not an HDF5 file: {path}")
    if not path.is_file():
        raise MatrixError(f"matrix path is not a regular file: {path}")
    if not os.access(path, os.R_OK):
        raise MatrixError(f"matrix file is not readable (check its permissions): {path}")
    if path.stat().st_size == 0:
        raise MatrixError(f"matrix file is empty: {path}")


class TenxMatrix:
    """An open 10x HDF5 matrix, read in chunks of cells.

    Opening checks the structure (groups, dtypes, lengths, ``indptr``); the chunk reader
    checks ``indices`` and values of each chunk it reads. Use as a context manager.

    Attributes
    ----------
    path : Path
    layout : ``"v3"`` (Cell Ranger 3+ / Space Ranger) or ``"v2"`` (Cell Ranger 2).
    attrs : dict of root attributes, strings decoded.
    features : FeatureTable, ``n_features`` long.
    barcodes : array of ``str``, ``n_cells`` long, in file order; read on first use (about
        100 bytes a barcode), so streamed checks use :meth:`barcode_chunks` instead.
    indptr : int64 array of ``n_cells + 1`` offsets into ``data``/``indices``.
    """

    def __init__(self, path: os.PathLike | str):
        self.path = Path(path)
        _check_path(self.path)
        if not h5py.is_hdf5(self.path):
            raise MatrixError(f"not an HDF5 file (expected a 10x filtered_feature_bc_matrix.h5): {self.path}")
        try:
            self._h5 = h5py.File(self.path, "r")
        except OSError as exc:
            raise MatrixError(f"cannot open HDF5 file (truncated or corrupt?): {self.path}: {exc}") from None
        try:
            self._load()
        except MatrixError:
            self.close()
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
            # h5py reports soft-link loops and broken internal links as RuntimeError or KeyError.
            self.close()
            raise MatrixError(f"cannot read matrix from {self.path} (truncated or corrupt?): {exc}") from None

    # -- structure ---------------------------------------------------------------
    def _load(self) -> None:
        h5 = self._h5
        self.attrs = {k: _attr_value(v) for k, v in h5.attrs.items()}
        if "matrix" in h5 and isinstance(h5["matrix"], h5py.Group):
            self.layout, group = "v3", h5["matrix"]
            self.features = self._features_v3(group)
        else:
            self.layout, group = "v2", self._genome_group_v2()
            self.features = self._features_v2(group)
        self._load_arrays(group)
        for name, values in (("id", self.features.ids), ("name", self.features.names)):
            if len(values) and (values == "").all():
                raise MatrixError(f"{self.path}: every feature {name} is empty")

    def _features_v3(self, group: h5py.Group) -> FeatureTable:
        feats = self._group(group, "features")
        for name in ("id", "name", "feature_type"):
            self._dataset(feats, name)
        n = feats["id"].shape[0]
        genomes = _decode(feats["genome"][()]) if "genome" in feats else np.full(n, "", dtype=object)
        return FeatureTable(_decode(feats["id"][()]), _decode(feats["name"][()]), _decode(feats["feature_type"][()]),
                            genomes)

    def _genome_group_v2(self) -> h5py.Group:
        """Cell Ranger 2 keeps one group per genome; only single-genome files are usable."""
        genome_groups = [k for k, v in self._h5.items() if isinstance(v, h5py.Group) and "genes" in v and "indptr" in v]
        if not genome_groups:
            raise MatrixError(
                f"{self.path} has no 'matrix' group: not a 10x feature-barcode matrix "
                "(expected Cell Ranger v3+/Space Ranger filtered_feature_bc_matrix.h5)"
            )
        if len(genome_groups) > 1:
            raise MatrixError(
                f"{self.path} is a multi-genome Cell Ranger 2 matrix ({', '.join(genome_groups)}); "
                "re-run the count with one genome or convert it to the v3 layout"
            )
        return self._h5[genome_groups[0]]

    def _features_v2(self, group: h5py.Group) -> FeatureTable:
        self._dataset(group, "genes")
        ids = _decode(group["genes"][()])
        names = _decode(group["gene_names"][()]) if "gene_names" in group else ids
        n = len(ids)
        genome = group.name.strip("/")
        return FeatureTable(ids, names, np.full(n, GENE_EXPRESSION, dtype=object), np.full(n, genome, dtype=object))

    def _load_arrays(self, group: h5py.Group) -> None:
        """Check shape, dtypes and lengths of the matrix arrays; load ``indptr`` (8 bytes a cell)."""
        for name in ("barcodes", "data", "indices", "indptr", "shape"):
            self._dataset(group, name)
        shape = group["shape"][()]
        if shape.ndim != 1 or shape.shape[0] != 2 or shape.dtype.kind not in "iu" or (shape < 0).any():
            raise MatrixError(f"{self.path}: 'shape' must hold two non-negative integers, found {shape!r}")
        self.n_features, self.n_cells = int(shape[0]), int(shape[1])
        self._data, self._indices, barcodes = group["data"], group["indices"], group["barcodes"]
        self._data_reader, self._indices_reader = SpanReader(self._data), SpanReader(self._indices)
        for name, dataset, kinds, what in (("data", self._data, "iuf", "numeric counts"),
                                           ("indices", self._indices, "iu", "integers"),
                                           ("indptr", group["indptr"], "iu", "integers"),
                                           ("barcodes", barcodes, "SO", "strings")):
            if dataset.dtype.kind not in kinds:
                raise MatrixError(f"{self.path}: '{name}' must be {what}, found dtype {dataset.dtype}")
        self._expect_length("features", len(self.features), self.n_features)
        if barcodes.ndim != 1:
            raise MatrixError(f"{self.path}: barcodes must be one list of strings, not a {barcodes.ndim}-D array")
        self._expect_length("barcodes", barcodes.shape[0], self.n_cells)
        self._expect_length("indptr", group["indptr"].shape[0], self.n_cells + 1)
        self._expect_length("indices", self._indices.shape[0], self._data.shape[0])
        self._barcodes_ds, self._barcodes = barcodes, None
        self.indptr = group["indptr"][()].astype(np.int64, copy=False)
        nnz = self._data.shape[0]
        if self.indptr[0] != 0 or self.indptr[-1] != nnz:
            raise MatrixError(
                f"{self.path}: 'indptr' out of range: it must start at 0 and end at len(data)={nnz}, "
                f"found {self.indptr[0]}..{self.indptr[-1]}"
            )
        if self.n_cells and (np.diff(self.indptr) < 0).any():
            raise MatrixError(f"{self.path}: 'indptr' is not monotone (corrupt matrix)")

    def _group(self, parent: h5py.Group, name: str) -> h5py.Group:
        if name not in parent or not isinstance(parent[name], h5py.Group):
            raise MatrixError(f"{self.path}: missing group '{parent.name.strip('/')}/{name}'")
        return parent[name]

    def _dataset(self, parent: h5py.Group, name: str) -> h5py.Dataset:
        if name not in parent or not isinstance(parent[name], h5py.Dataset):
            raise MatrixError(f"{self.path}: missing dataset '{parent.name.strip('/')}/{name}'")
        return parent[name]

    def _expect_length(self, what: str, found: int, expected: int) -> None:
        if found != expected:
            raise MatrixError(
                f"{self.path}: {what} has length {found}, but the matrix shape implies {expected}"
            )

    # -- data ----------------------------------------------------------------------
    @property
    def barcodes(self) -> np.ndarray:
        """Every barcode as ``str``, in file order (read once, on first use)."""
        if self._barcodes is None:
            self._barcodes = _decode(self._read(self._barcodes_ds, slice(None), "barcodes"))
        return self._barcodes

    def barcode_chunks(self, size: int = 1_000_000) -> Iterator[np.ndarray]:
        """The barcodes as fixed-width ``bytes`` arrays of at most ``size``, in file order."""
        for start in range(0, self.n_cells, size):
            values = self._read(self._barcodes_ds, slice(start, start + size), "barcodes")
            if values.dtype.kind == "O":
                values = np.array([v if isinstance(v, bytes) else str(v).encode() for v in values], dtype="S")
            yield values

    def _read(self, dataset: h5py.Dataset | SpanReader, where: slice, what: str) -> np.ndarray:
        try:
            return dataset.read(where.start, where.stop) if isinstance(dataset, SpanReader) else dataset[where]
        except (OSError, ValueError, RuntimeError) as exc:
            raise MatrixError(f"cannot read {what} of {self.path} (truncated?): {exc}") from None

    @functools.cached_property
    def gene_expression_columns(self) -> np.ndarray:
        """Indices of the ``Gene Expression`` features, ascending: the columns every model and
        output reads (antibody or CRISPR features never enter a label)."""
        return np.flatnonzero(self.features.gene_expression)

    @property
    def nnz(self) -> int:
        """Number of stored counts."""
        return int(self.indptr[-1]) if len(self.indptr) else 0

    def read_cells(self, start: int, stop: int, features: np.ndarray | None = None) -> sp.csr_matrix:
        """Counts of cells ``start:stop`` as CSR ``(stop - start, n_features)``.

        ``features``, a boolean mask or index array, keeps only those columns (all of them: no copy).
        Raises :class:`MatrixError` for out-of-range indices or negative/non-finite values. Safe to
        call from several threads at once: the inflating runs in parallel (:mod:`.deflated`).
        """
        lo, hi = int(self.indptr[start]), int(self.indptr[stop])
        data = self._read(self._data_reader, slice(lo, hi), f"cells {start}..{stop}")
        indices = self._read(self._indices_reader, slice(lo, hi), f"cells {start}..{stop}")
        if len(indices) and (indices.min() < 0 or indices.max() >= self.n_features):
            raise MatrixError(
                f"{self.path}: feature index out of range in cells {start}..{stop} "
                f"(must be below {self.n_features})"
            )
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            raise MatrixError(f"{self.path}: non-finite counts in cells {start}..{stop}")
        if len(data) and data.min() < 0:
            raise MatrixError(f"{self.path}: negative counts in cells {start}..{stop}")
        indptr = self.indptr[start : stop + 1] - lo
        matrix = sp.csr_matrix((data, indices, indptr), shape=(stop - start, self.n_features))
        if features is not None and not _every_column(features, self.n_features):
            matrix = matrix[:, features]
        return matrix

    def iter_chunks(
        self, chunk_cells: int = DEFAULT_CHUNK_CELLS, features: np.ndarray | None = None
    ) -> Iterator[CellChunk]:
        """Yield consecutive :class:`CellChunk` of at most ``chunk_cells`` cells; the next ones are read
        by worker threads while the caller works on one (at most ``THREADS + 1`` chunks held)."""
        if chunk_cells < 1:
            raise ValueError("chunk_cells must be positive")

        def read(start: int) -> CellChunk:
            stop = min(start + chunk_cells, self.n_cells)
            return CellChunk(start, stop, self.read_cells(start, stop, features))

        yield from map_ahead(read, range(0, self.n_cells, chunk_cells), THREADS)

    # -- lifetime ------------------------------------------------------------------
    def close(self) -> None:
        """Close the HDF5 file (safe to call twice)."""
        h5 = getattr(self, "_h5", None)
        if h5 is not None:
            h5.close()
            self._h5 = None

    def __enter__(self) -> "TenxMatrix":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _every_column(features: np.ndarray, n_features: int) -> bool:
    """Whether a column selection (mask or ascending indices) keeps every column in order."""
    features = np.asarray(features)
    if features.dtype == bool:
        return len(features) == n_features and bool(features.all())
    return len(features) == n_features and (n_features == 0 or (features[0] == 0 and features[-1] == n_features - 1
                                                                and bool((np.diff(features) == 1).all())))


def read_10x_h5(path: os.PathLike | str) -> TenxMatrix:
    """Open a 10x HDF5 matrix for chunked reading (see :class:`TenxMatrix`)."""
    return TenxMatrix(path)


def _fixed_strings(values) -> np.ndarray:
    encoded = [str(v).encode("utf-8") for v in values]
    width = max((len(v) for v in encoded), default=1) or 1
    return np.array(encoded, dtype=f"S{width}")


class TenxH5Writer:
    """Write a v3-layout 10x HDF5 matrix one chunk of cells at a time.

    The file appears at ``path`` only when :meth:`close` succeeds; a failure inside a
    ``with`` block leaves nothing behind.
    """

    def __init__(
        self,
        path: os.PathLike | str,
        features: FeatureTable,
        barcodes,
        attrs: dict | None = None,
        dtype=np.int32,
        compression: str | None = "gzip",
    ):
        self.path = Path(path)
        self.features = features
        self.n_cells = len(barcodes)
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._h5 = h5py.File(tmp, "w")
            for key, value in (attrs or {}).items():
                self._h5.attrs[key] = value
            group = self._h5.create_group("matrix")
            group.create_dataset("barcodes", data=_fixed_strings(barcodes))
            feats = group.create_group("features")
            feats.create_dataset("id", data=_fixed_strings(features.ids))
            feats.create_dataset("name", data=_fixed_strings(features.names))
            feats.create_dataset("feature_type", data=_fixed_strings(features.types))
            feats.create_dataset("genome", data=_fixed_strings(features.genomes))
            feats.create_dataset("_all_tag_keys", data=np.array([b"genome"]))
            opts = dict(maxshape=(None,), chunks=(1 << 16,), compression=compression)
            self._data = group.create_dataset("data", shape=(0,), dtype=dtype, **opts)
            self._indices = group.create_dataset("indices", shape=(0,), dtype=np.int64, **opts)
            self._group = group
        except BaseException as exc:
            self._abort(exc)
            raise
        self._indptr = [np.zeros(1, dtype=np.int64)]
        self._nnz = 0
        self._cells = 0

    def append(self, counts: sp.spmatrix) -> None:
        """Append cells: a ``(cells, n_features)`` sparse matrix, rows in barcode order."""
        counts = sp.csr_matrix(counts)
        if counts.shape[1] != len(self.features):
            raise ValueError(f"chunk has {counts.shape[1]} features, expected {len(self.features)}")
        counts.sort_indices()
        n = counts.nnz
        self._data.resize((self._nnz + n,))
        self._indices.resize((self._nnz + n,))
        self._data[self._nnz :] = counts.data
        self._indices[self._nnz :] = counts.indices
        self._indptr.append(counts.indptr[1:].astype(np.int64) + self._nnz)
        self._nnz += n
        self._cells += counts.shape[0]

    def close(self) -> None:
        """Finish the file and move it into place; on failure nothing is left behind."""
        try:
            if self._cells != self.n_cells:
                raise ValueError(f"wrote {self._cells} cells but {self.n_cells} barcodes were given")
            self._group.create_dataset("indptr", data=np.concatenate(self._indptr))
            self._group.create_dataset("shape", data=np.array([len(self.features), self.n_cells], dtype=np.int32))
            self._h5.close()
        except BaseException as exc:
            self._abort(exc)
            raise
        self._atomic.__exit__(None, None, None)

    def _abort(self, exc: BaseException) -> None:
        h5 = getattr(self, "_h5", None)
        if h5 is not None:
            h5.close()
        self._atomic.__exit__(type(exc), exc, exc.__traceback__)

    def __enter__(self) -> "TenxH5Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self._abort(exc)


def write_10x_h5(
    path: os.PathLike | str,
    counts: sp.spmatrix,
    features: FeatureTable,
    barcodes,
    attrs: dict | None = None,
) -> None:
    """Write a whole ``(cells, features)`` matrix in the v3 layout, atomically."""
    with TenxH5Writer(path, features, barcodes, attrs=attrs, dtype=np.asarray(counts.data).dtype) as writer:
        writer.append(counts)
