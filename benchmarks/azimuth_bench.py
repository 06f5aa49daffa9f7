#!/usr/bin/env python3
"""Pan-Human Azimuth: our engine against panhumanpy 1.0.0, same input, same stand-in model.

Run with the reference environment's Python (TensorFlow 2.17 and panhumanpy installed):

    make test-reference   # builds .venv-ref once
    .venv-ref/bin/python benchmarks/azimuth_bench.py

Our engine runs in the project's environment (--ours-python, numpy 2 as the images ship),
panhumanpy in the reference one (its TensorFlow needs numpy < 2). It generates (once,
cached in --workdir) a human matrix whose background genes are
panel genes, and a stand-in v1 model of realistic size (--hidden, --embedding; default
5055-1024-512-256-128, four dense layers before the heads as in the real network). Each engine labels the
--cells matrix --repeats times, each run in a fresh process so that its peak RSS is its
own; it prints the median time, cells/s, peak RSS and the speed ratio. Then our engine
labels a --large-cells matrix once (target: peak RSS under 2 GiB at 1,000,000 cells);
panhumanpy is not run there: it holds the whole matrix in float64 and its per-cell
Python labelling loop alone would take most of an hour.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from azimuth_standin import write_standin_model  # noqa: E402
from cellannotate.annotators.azimuth.assets import load_assets  # noqa: E402
from cellannotate.example_data import ExampleSpec, write_example  # noqa: E402

# Each engine's modules (ours; panhumanpy with TensorFlow) are imported before the clock starts,
# so that both are timed on the same work: loading the model, reading and labelling the cells.
CHILD = """
import resource, sys, time
from pathlib import Path
from cellannotate.io.tenx_h5 import TenxMatrix
engine, matrix, model, out = sys.argv[1:5]
if engine == "numpy":
    from cellannotate.annotators.azimuth.engine import run_numpy as run
else:
    from cellannotate.annotators.azimuth.reference import _import_panhumanpy, run_panhumanpy as run
    _import_panhumanpy()
start = time.perf_counter()
with TenxMatrix(matrix) as m:
    run(m, Path(model), Path(out))
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_once(engine: str, matrix: Path, model: Path, workdir: Path, python: str) -> tuple[float, float]:
    """Seconds spent annotating (imports excluded) and peak RSS (MiB) of one run in a child process."""
    result = subprocess.run([python, "-c", CHILD, engine, str(matrix), str(model), str(workdir / f"{engine}.npy")],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{engine} failed:\n{result.stderr[-2000:]}")
    seconds, rss_kib = result.stdout.split()[-2:]
    return float(seconds), int(rss_kib) / 1024


def matrix_of(cells: int, workdir: Path) -> Path:
    path = workdir / f"azimuth_human_{cells}_cells.h5"
    if not path.exists():
        start = time.perf_counter()
        write_example(path, ExampleSpec(n_cells=cells, n_genes=3000, median_counts=400.0, seed=2,
                                        filler_genes=tuple(load_assets().panel)))
        print(f"generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=20_000)
    parser.add_argument("--large-cells", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--hidden", type=int, nargs="+", default=[1024, 512, 256], help="hidden layer widths")
    parser.add_argument("--embedding", type=int, default=128, help="width of dense_3, the embedding")
    parser.add_argument("--ours-python", default=str(REPO / ".venv" / "bin" / "python"),
                        help="Python of the project's environment (numpy 2, as the images ship); panhumanpy runs "
                             "with this script's Python, whose TensorFlow 2.17 needs numpy < 2")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cellannotate-bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    size = "-".join(map(str, [5055, *args.hidden, args.embedding]))
    model = args.workdir / f"standin_v1_{size}.keras"
    if not model.exists():
        write_standin_model(model, hidden=tuple(args.hidden), embedding=args.embedding)

    matrix = matrix_of(args.cells, args.workdir)
    results = {}
    python = {"numpy": args.ours_python, "panhumanpy": sys.executable}
    for engine in ("numpy", "panhumanpy"):
        runs = [run_once(engine, matrix, model, args.workdir, python[engine]) for _ in range(args.repeats)]
        results[engine] = (statistics.median(s for s, _ in runs), max(m for _, m in runs))
    print(f"Azimuth on {args.cells:,} generated cells, stand-in v1 model {size} "
          f"({model.stat().st_size / 2**20:.0f} MiB), {args.repeats} runs each")
    print(f"  {'engine':<12}{'median s':>10}{'cells/s':>12}{'peak RSS MiB':>14}")
    for engine, (seconds, rss) in results.items():
        print(f"  {engine:<12}{seconds:>10.2f}{args.cells / seconds:>12,.0f}{rss:>14.0f}")
    print(f"  speed-up: {results['panhumanpy'][0] / results['numpy'][0]:.1f}x (target >= 20x)")

    if args.large_cells:
        large = matrix_of(args.large_cells, args.workdir)
        seconds, rss = run_once("numpy", large, model, args.workdir, args.ours_python)
        print(f"our engine on {args.large_cells:,} cells: {seconds:.0f} s, {args.large_cells / seconds:,.0f} cells/s, "
              f"peak RSS {rss:.0f} MiB (target < 2048 MiB)")


if __name__ == "__main__":
    main()
