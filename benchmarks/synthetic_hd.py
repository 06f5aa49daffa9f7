#!/usr/bin/env python3
"""A large synthetic Visium HD segmented-cell matrix for the performance benchmark (test data, not biology).

    python benchmarks/synthetic_hd.py --cells 1000000 --out hd_1m.h5

Written in the Space Ranger layout (gzip level 4, as h5py and Cell Ranger write it; int32 counts,
int64 indices, barcodes ``cellid_000000001-1``). 6,000 genes: the panhuman_distill_v1 panel
(Ensembl ids, symbols of the demo where it has them), every human marker database symbol, then
Azimuth panel symbols, so that every offline model finds its genes. Twelve immune and lung cell
types in two sub-profiles each, lung about half, so the markers model calls lung; each cell draws
a log-normal number of UMIs (median 560, about 250 genes) from its profile over the demo's real
mean expression.

Fast enough to make on demand (about 30 s a million cells on two cores): UMIs are looked up in
a table per profile and deduplicated per cell with one sort, cells are made in chunks on worker
threads, and the HDF5 chunks are deflated on the same threads (DeflatingWriter).
"""

from __future__ import annotations

import argparse
import os
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from cellannotate.parallel import THREADS, map_ahead

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5"
SLOTS = 1 << 16             # look-up table slots per profile (gene ids as uint16)
TYPES = {"T cell": .18, "Natural killer cell": .05, "B cell": .07, "Plasma cell": .04, "CD14+ Monocyte": .07,
         "Macrophage": .06, "Epithelial cell": .12, "Alveolar type II cell": .07, "Fibroblast": .12,
         "Vascular endothelial cell": .09, "Smooth muscle cell": .06, "Ciliated cell": .07}
MARKER_SHARE, SUBTYPE_SHARE = 0.12, 0.05     # of a cell's UMIs, on its type's and its subtype's markers


class DeflatingWriter:
    """Appends to a new 1-D dataset stored as HDF5 gzip chunks (optionally after byte shuffle), deflated
    on a thread pool and stored with ``write_direct_chunk``: any HDF5 reader reads it as if h5py had
    compressed it, in the time two cores take rather than one (HDF5 deflates on the calling thread)."""

    def __init__(self, group: h5py.Group, name: str, dtype, pool, chunk: int = 1 << 16, ahead: int = 8,
                 shuffle: bool = True, level: int = 1):
        self.dataset = group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(chunk,),
                                            shuffle=shuffle, compression="gzip", compression_opts=level)
        self.shuffle, self.level = shuffle, level
        self.dtype, self.chunk, self.pool = np.dtype(dtype), chunk, pool
        self.buffer = np.empty(chunk, dtype=self.dtype)
        self.filled = self.size = self.submitted = 0
        self.pending: list = []
        self.limit = ahead     # deflated chunks held before they are stored

    def _deflate(self, block: np.ndarray) -> bytes:
        raw = np.ascontiguousarray(block).view(np.uint8)
        if self.shuffle:
            raw = raw.reshape(self.chunk, self.dtype.itemsize).T
        return zlib.compress(raw.tobytes(), self.level)

    def _submit(self, block: np.ndarray) -> None:
        self.pending.append((self.submitted * self.chunk, self.pool.submit(self._deflate, block)))
        self.submitted += 1
        if len(self.pending) > self.limit:
            self._store(len(self.pending) - self.limit)

    def _store(self, count: int) -> None:
        """Write the ``count`` oldest deflated chunks (in order; the dataset grows to hold them)."""
        done, self.pending = self.pending[:count], self.pending[count:]
        end = min(self.size, (done[-1][0] + self.chunk)) if done else 0
        if self.dataset.shape[0] < end:
            self.dataset.resize((end,))
        for start, future in done:
            self.dataset.id.write_direct_chunk((start,), future.result())

    def append(self, values: np.ndarray) -> None:
        """Append ``values`` (cast to the dataset's type)."""
        values = np.asarray(values, dtype=self.dtype)
        self.size += len(values)
        at = 0
        while at < len(values):
            if self.filled == 0 and len(values) - at >= self.chunk:
                self._submit(values[at:at + self.chunk])
                at += self.chunk
                continue
            take = min(self.chunk - self.filled, len(values) - at)
            self.buffer[self.filled:self.filled + take] = values[at:at + take]
            self.filled += take
            at += take
            if self.filled == self.chunk:
                self._submit(self.buffer.copy())
                self.filled = 0

    def close(self) -> None:
        """Store the last, partly filled chunk and everything pending; the dataset ends at its size."""
        if self.filled:
            self.buffer[self.filled:] = 0
            self._submit(self.buffer.copy())
            self.filled = 0
        self._store(len(self.pending))
        self.dataset.resize((self.size,))


def genes(n_genes: int):
    """Ids, symbols and the demo's mean count per gene (0 where the demo lacks it), and the database."""
    from cellannotate.annotators.azimuth.assets import load_assets
    from cellannotate.annotators.distill.reference import load_reference, locate_reference
    from cellannotate.annotators.markers.database import load_marker_database
    from cellannotate.io.tenx_h5 import TenxMatrix

    with TenxMatrix(DEMO) as demo:
        counts = demo.read_cells(0, demo.n_cells)
        ids, names = demo.features.ids.astype(str), demo.features.names.astype(str)
    mean = np.asarray(counts.mean(axis=0)).ravel()
    by_id = {g: i for i, g in enumerate(ids)}
    by_name = {}
    for i, name in enumerate(names):
        by_name.setdefault(name.upper(), i)
    database = load_marker_database("human")
    out_ids, out_names, out_mean, seen = [], [], [], set()

    def add(gene_id: str, name: str, value: float) -> None:
        if gene_id not in seen and name.upper() not in seen and len(out_ids) < n_genes:
            seen.update((gene_id, name.upper()))
            out_ids.append(gene_id), out_names.append(name), out_mean.append(value)

    for gene_id in load_reference(locate_reference()).genes:
        i = by_id.get(gene_id)
        add(gene_id, names[i] if i is not None else gene_id, mean[i] if i is not None else 0.0)
    for k, symbol in enumerate(sorted({g.upper() for g in database.genes()})):
        i = by_name.get(symbol)
        add(ids[i] if i is not None else f"ENSG99{k:09d}", names[i] if i is not None else symbol,
            mean[i] if i is not None else 0.0)
    for symbol in load_assets().panel:
        i = by_name.get(symbol.upper())
        if i is not None:
            add(ids[i], names[i], mean[i])
    while len(out_ids) < n_genes:
        add(f"ENSG98{len(out_ids):09d}", f"FILLER{len(out_ids):05d}", 0.0)
    return out_ids, out_names, np.array(out_mean), database


def profiles(names, mean, database, rng):
    """One look-up table ``(profiles, SLOTS)`` of gene ids per sub-profile, and each profile's share of cells."""
    column = {name.upper(): i for i, name in enumerate(names)}
    base = mean / max(mean.sum(), 1e-9) + rng.gamma(0.3, 1.0, len(names)) * 2e-5
    markers = sorted({column[g.upper()] for g in database.genes() if g.upper() in column})
    base[markers] = rng.gamma(0.5, 1.0, len(markers)) * 1e-5
    tables, shares = [], []
    for name, share in TYPES.items():
        signature = database.cell_types[name]
        positive = [column[g.upper()] for g in signature.positive if g.upper() in column]
        subtypes = [s for s in signature.descendants() if any(g.upper() in column for g in s.positive)][:2]
        for j in range(2):
            weights = base * rng.lognormal(0.0, 0.35, len(names))
            weights /= weights.sum()
            boost = np.zeros(len(names))
            boost[positive] = rng.uniform(0.5, 1.5, len(positive))
            weights = weights * (1 - MARKER_SHARE) + boost / boost.sum() * MARKER_SHARE
            if j < len(subtypes):
                sub = np.zeros(len(names))
                sub[[column[g.upper()] for g in subtypes[j].positive if g.upper() in column]] = 1.0
                weights = weights * (1 - SUBTYPE_SHARE) + sub / sub.sum() * SUBTYPE_SHARE
            slots = np.maximum(1, np.floor(weights * (SLOTS - len(names))).astype(np.int64))
            slots[np.argmax(slots)] += SLOTS - slots.sum()
            tables.append(np.repeat(np.arange(len(names), dtype=np.uint16), slots))
            shares.append(share / 2)
    return np.vstack(tables), np.array(shares) / sum(shares)


def _draw(tables, profile, umis, rng):
    """Cells of similar UMI counts: their genes' columns (sorted, distinct) and counts, in cell order."""
    width = int(umis.max())
    draws = tables[profile[:, None], rng.integers(0, SLOTS, size=(len(umis), width))]
    draws[np.arange(width)[None, :] >= umis[:, None]] = np.iinfo(np.uint16).max     # past a cell's UMIs
    draws.sort(axis=1)
    starts = np.ones(draws.shape, dtype=bool)
    starts[:, 1:] = draws[:, 1:] != draws[:, :-1]
    starts &= draws != np.iinfo(np.uint16).max
    where = np.flatnonzero(starts)
    nnz = starts.sum(axis=1)
    ends = np.append(where[1:], 0)
    ends[np.cumsum(nnz) - 1] = np.arange(len(umis)) * width + umis      # a cell's last gene runs to its last UMI
    return nnz, draws.ravel()[where], (ends - where).astype(np.int32)


def cells(tables, shares, n: int, seed, median_umis: float = 560.0, sigma: float = 0.45):
    """``n`` cells: non-zeros per cell, then column indices and counts in cell order. Cells are drawn in
    groups of similar size (within a factor of 1.4), so that padding to the largest costs little."""
    rng = np.random.default_rng(seed)
    profile = rng.choice(len(shares), size=n, p=shares)
    umis = np.clip(rng.lognormal(np.log(median_umis), sigma, n), 8, 4096).astype(np.int64)
    group = np.ceil(np.log2(umis) * 2).astype(np.int64)
    parts = [(rows, *_draw(tables, profile[rows], umis[rows], rng))
             for rows in (np.flatnonzero(group == g) for g in np.unique(group))]
    nnz = np.zeros(n, dtype=np.int64)
    for rows, row_nnz, _, _ in parts:
        nnz[rows] = row_nnz
    offsets = np.concatenate([[0], np.cumsum(nnz)])
    columns, counts = np.empty(offsets[-1], dtype=np.int64), np.empty(offsets[-1], dtype=np.int32)
    for rows, row_nnz, part_columns, part_counts in parts:
        within = np.arange(len(part_columns)) - np.repeat(np.cumsum(row_nnz) - row_nnz, row_nnz)
        at = np.repeat(offsets[rows], row_nnz) + within
        columns[at], counts[at] = part_columns, part_counts
    return nnz, columns, counts


def barcodes(n: int) -> np.ndarray:
    return np.char.add(np.char.add("cellid_", np.char.zfill(np.arange(1, n + 1).astype(str), 9)), "-1").astype("S")


def write(path: Path, n_cells: int, n_genes: int = 6000, seed: int = 0, chunk_cells: int = 8192) -> Path:
    """Write the matrix to ``path`` (through a temporary name: a half-written file never has it)."""
    rng = np.random.default_rng(seed)
    ids, names, mean, database = genes(n_genes)
    tables, shares = profiles(names, mean, database, rng)
    starts = range(0, n_cells, chunk_cells)
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    partial = path.with_name(path.name + ".partial")
    indptr = np.zeros(n_cells + 1, dtype=np.int64)
    with h5py.File(partial, "w") as h5, ThreadPoolExecutor(THREADS) as pool:
        h5.attrs.update({"filetype": "matrix", "version": 2, "chemistry_description": "Visium HD v1",
                         "software_version": "spaceranger-4.0.1 (synthetic: benchmarks/synthetic_hd.py)"})
        group = h5.create_group("matrix")
        group.create_dataset("barcodes", data=barcodes(n_cells))
        features = group.create_group("features")
        for key, values in (("id", ids), ("name", names), ("feature_type", ["Gene Expression"] * len(ids)),
                            ("genome", ["GRCh38"] * len(ids))):
            features.create_dataset(key, data=np.array(values, dtype="S"))
        features.create_dataset("_all_tag_keys", data=np.array([b"genome"]))
        data = DeflatingWriter(group, "data", np.int32, pool, shuffle=False, level=4)
        indices = DeflatingWriter(group, "indices", np.int64, pool, shuffle=False, level=4)
        made = map_ahead(lambda sq: cells(tables, shares, min(chunk_cells, n_cells - sq[0]), sq[1]),
                         zip(starts, seeds), THREADS)
        for start, (nnz, columns, counts) in zip(starts, made):
            indptr[start + 1:start + 1 + len(nnz)] = indptr[start] + np.cumsum(nnz)
            indices.append(columns)
            data.append(counts)
        data.close()
        indices.close()
        group.create_dataset("indptr", data=indptr)
        group.create_dataset("shape", data=np.array([len(ids), n_cells], dtype=np.int32))
    os.replace(partial, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    write(args.out, args.cells, seed=args.seed)
    print(f"{args.out}: {args.cells:,} cells, {args.out.stat().st_size / 2**20:,.0f} MiB, "
          f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
