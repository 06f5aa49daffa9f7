#!/usr/bin/env python3
"""Throughput and peak memory of matrix validation on large generated matrices.

Two files, generated once and cached in --workdir: a synthetic segmented Visium HD
matrix (--cells, realistic counts), and a file with --many-barcodes barcodes and one
count each (small on disk, hard on memory: the hostile case of a 53 MB file with 20
million barcodes). Each is validated --repeats times, each in a fresh process so that
peak RSS is that run's alone; the median time, cells/s and peak RSS are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from cellannotate.example_data import ExampleSpec, write_example

REPO = Path(__file__).resolve().parents[1]


def run_once(matrix: Path, out: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one validation in a child process."""
    code = (
        "import resource, sys\n"
        "from cellannotate.validation.matrix import validate_matrix\n"
        "validate_matrix(sys.argv[1]).write_json(sys.argv[2])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, str(matrix), str(out)], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    return seconds, int(result.stdout.strip()) / 1024


def write_many_barcodes(path: Path, n_cells: int, n_genes: int = 100, chunk: int = 1_000_000) -> None:
    """A v3 matrix of ``n_cells`` segmented barcodes, one count each, written in chunks."""
    with h5py.File(path, "w") as h5:
        group = h5.create_group("matrix")
        width = len("cellid_000000000-1")
        barcodes = group.create_dataset("barcodes", shape=(n_cells,), dtype=f"S{width}", compression="gzip",
                                        chunks=(1 << 16,))
        for start in range(0, n_cells, chunk):
            numbers = np.arange(start + 1, min(start + chunk, n_cells) + 1)
            digits = (numbers[:, None] // 10 ** np.arange(8, -1, -1)) % 10 + ord("0")
            codes = np.empty((len(numbers), width), dtype=np.uint8)
            codes[:, :7] = np.frombuffer(b"cellid_", dtype=np.uint8)
            codes[:, 7:16] = digits
            codes[:, 16:] = np.frombuffer(b"-1", dtype=np.uint8)
            barcodes[start : start + len(numbers)] = codes.view(f"S{width}").ravel()
        opts = dict(compression="gzip", chunks=(1 << 16,))
        group.create_dataset("data", data=np.ones(n_cells, dtype=np.int32), **opts)
        group.create_dataset("indices", data=(np.arange(n_cells) % n_genes).astype(np.int64), **opts)
        group.create_dataset("indptr", data=np.arange(n_cells + 1, dtype=np.int64), **opts)
        group.create_dataset("shape", data=np.array([n_genes, n_cells], dtype=np.int32))
        features = group.create_group("features")
        features.create_dataset("id", data=np.array([f"ENSG{i:011d}".encode() for i in range(n_genes)]))
        features.create_dataset("name", data=np.array([f"GENE{i}".encode() for i in range(n_genes)]))
        features.create_dataset("feature_type", data=np.array([b"Gene Expression"] * n_genes))
        features.create_dataset("genome", data=np.array([b"GRCh38"] * n_genes))


def report(name: str, matrix: Path, n_cells: int, repeats: int, workdir: Path) -> None:
    runs = [run_once(matrix, workdir / "validation.json") for _ in range(repeats)]
    seconds = statistics.median(s for s, _ in runs)
    peak = max(m for _, m in runs)
    print(f"validate_matrix, {name}: {n_cells:,} cells, {matrix.stat().st_size / 2**20:.0f} MiB, {repeats} runs")
    print(f"  median time      {seconds:.1f} s")
    print(f"  median cells/s   {n_cells / seconds:,.0f}")
    print(f"  peak RSS         {peak:.0f} MiB (target < 1024 MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--many-barcodes", type=int, default=20_000_000)
    parser.add_argument("--median-counts", type=float, default=150.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cellannotate-bench")
    args = parser.parse_args()

    args.workdir.mkdir(parents=True, exist_ok=True)
    matrix = args.workdir / f"segmented_{args.cells}_cells.h5"
    if not matrix.exists():
        start = time.perf_counter()
        write_example(matrix, ExampleSpec(n_cells=args.cells, n_genes=2000, median_counts=args.median_counts, seed=1))
        print(f"generated {matrix} ({matrix.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s")
    many = args.workdir / f"barcodes_{args.many_barcodes}.h5"
    if not many.exists():
        start = time.perf_counter()
        write_many_barcodes(many, args.many_barcodes)
        print(f"generated {many} ({many.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s")
    report("realistic counts", matrix, args.cells, args.repeats, args.workdir)
    report("one count per barcode", many, args.many_barcodes, args.repeats, args.workdir)


if __name__ == "__main__":
    main()
