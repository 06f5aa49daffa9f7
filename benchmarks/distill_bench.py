#!/usr/bin/env python3
"""panhuman_distill: our numpy engine against actinn-jax 0.3.1 itself, side by side, on real cells.

    make bench-distill        # in the interop environment (actinn-jax with JAX, scanpy)

The matrix is built (once, cached in --workdir) from the 200 real T cells of the demo:
each copy of a cell keeps every UMI with a probability drawn from [0.1, 0.6], which gives
segmented-cell depths (a few hundred UMIs), with barcodes made unique. Each engine labels it
in a fresh process, so that its peak RSS is its own, with imports done before the clock starts:
ours streams the file (run_hierarchy); actinn-jax reads it as its users do
(``scanpy.read_10x_h5``) and runs ``bundled_reference('panhuman_distill_v1').predict_frame``.
Prints, per size, the median time, cells/s and peak RSS of each engine and the speed ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "assets" / "demo" / "wu2020_200_filtered_feature_bc_matrix.h5"

CHILD = """
import resource, sys, time, warnings
from pathlib import Path
engine, matrix, out = sys.argv[1:4]
if engine == "ours":
    from cellannotate.annotators.distill.engine import run_hierarchy
    from cellannotate.annotators.distill.reference import load_reference, locate_reference
    from cellannotate.io.tenx_h5 import TenxMatrix
else:
    import scanpy as sc, actinn_jax
    warnings.simplefilter("ignore")
start = time.perf_counter()
if engine == "ours":
    with TenxMatrix(matrix) as m:
        labels = run_hierarchy(m, load_reference(locate_reference()), Path(out))["label"]
else:
    adata = sc.read_10x_h5(matrix)
    labels = actinn_jax.bundled_reference("panhuman_distill_v1", download=False).predict_frame(adata)[0]["celltype"]
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(labels))
"""


def build_matrix(path: Path, n_cells: int, seed: int = 0, chunk: int = 20_000) -> Path:
    """``n_cells`` thinned copies of the demo's real cells, written chunk by chunk."""
    from cellannotate.io.tenx_h5 import TenxH5Writer, TenxMatrix

    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    with TenxMatrix(DEMO) as demo:
        source = demo.read_cells(0, demo.n_cells).astype(np.int64).tocsr()
        features = demo.features
    barcodes = np.array([f"C{i:08d}-1" for i in range(n_cells)])
    with TenxH5Writer(path, features, barcodes, compression=None) as writer:
        for start in range(0, n_cells, chunk):
            rows = rng.integers(0, source.shape[0], min(chunk, n_cells - start))
            counts = source[rows]
            keep = np.repeat(rng.uniform(0.1, 0.6, len(rows)), np.diff(counts.indptr))
            counts.data = rng.binomial(counts.data, keep)
            counts.eliminate_zeros()
            writer.append(sp.csr_matrix(counts, dtype=np.int32))
    return path


def run_once(engine: str, matrix: Path, workdir: Path) -> tuple[float, float]:
    result = subprocess.run([sys.executable, "-c", CHILD, engine, str(matrix), str(workdir / f"{engine}.npy")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{result.stderr[-2000:]}")
    seconds, rss_kib, _ = result.stdout.split()
    return float(seconds), float(rss_kib) / 1024


def measure(engine: str, matrix: Path, n_cells: int, repeats: int, workdir: Path) -> dict:
    runs = [run_once(engine, matrix, workdir) for _ in range(repeats)]
    seconds = statistics.median(r[0] for r in runs)
    return {"seconds": seconds, "cells_per_s": n_cells / seconds, "rss_mib": statistics.median(r[1] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=REPO / ".cache" / "bench" / "distill")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=3, help="Runs per engine at the smaller sizes (medians).")
    parser.add_argument("--large-repeats", type=int, default=1, help="Runs per engine at 1,000,000 cells or more.")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print("| cells | engine | median time | cells/s | peak RSS |\n| --- | --- | --- | --- | --- |")
    for n in args.sizes:
        matrix = build_matrix(args.workdir / f"thinned_{n}.h5", n)
        repeats = args.large_repeats if n >= 1_000_000 else args.repeats
        results = {engine: measure(engine, matrix, n, repeats, args.workdir) for engine in ("ours", "actinn-jax")}
        for engine, r in results.items():
            print(f"| {n:,} | {engine} | {r['seconds']:.1f} s | {r['cells_per_s']:,.0f} | {r['rss_mib']:,.0f} MiB |")
        print(f"| {n:,} | ratio | | {results['ours']['cells_per_s'] / results['actinn-jax']['cells_per_s']:.1f}x | |",
              flush=True)


if __name__ == "__main__":
    main()
