#!/usr/bin/env python3
"""Throughput and peak memory of matrix validation on a large generated matrix.

Generates (once, cached in --workdir) a synthetic segmented Visium HD matrix, then
validates it --repeats times, each in a fresh process so that peak RSS is that run's
alone, and prints the median cells/s and the peak RSS.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cellannotate.example_data import ExampleSpec, write_example

REPO = Path(__file__).resolve().parents[1]


def run_once(matrix: Path, out: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one validation in a child process."""
    code = (
        "import resource, sys\n"
        "from cellannotate.validation import validate_matrix\n"
        "validate_matrix(sys.argv[1]).write_json(sys.argv[2])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, str(matrix), str(out)], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - start
    return seconds, int(result.stdout.strip()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=1_000_000)
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
    runs = [run_once(matrix, args.workdir / "validation.json") for _ in range(args.repeats)]
    seconds = statistics.median(s for s, _ in runs)
    peak = max(m for _, m in runs)
    print(f"validate_matrix: {args.cells:,} cells, {args.repeats} runs")
    print(f"  median time      {seconds:.1f} s")
    print(f"  median cells/s   {args.cells / seconds:,.0f}")
    print(f"  peak RSS         {peak:.0f} MiB (target < 1024 MiB)")


if __name__ == "__main__":
    main()
