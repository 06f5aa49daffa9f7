#!/usr/bin/env python3
"""Every offline model's whole run at 100,000 and 1,000,000 cells, next to the time it takes to read the matrix.

    make bench            # or: python benchmarks/pipeline_bench.py --sizes 100000 1000000

For each size, a synthetic Visium HD matrix (benchmarks/synthetic_hd.py, made once and cached in
--workdir) is first read once with h5py (data, indices, indptr, barcodes: the floor). Then, per model,
each Nextflow step runs as its own process, exactly as bin/ is called (validation, the model's step,
output assembly), and then the one-process ``cellannotate annotate``. Per process: wall time, CPU
time (user + system, so CPU/wall near 2 means both cores), peak RSS, and passes over the counts
(tests/pass_counter.py: 1.0 = every stored count read once). Azimuth runs stand-in weights of the
real v1 shape (tests/azimuth_standin.py: 5,055 inputs, 1024-512-256 hidden, a 128-wide embedding).
Numba's code for UMAP is compiled in every process (umap-learn caches none of it); a warm-up run
on the first size keeps first-use costs of the machine (disk cache) out of the figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

PYTHON = sys.executable
FLOOR = """
import sys, h5py
with h5py.File(sys.argv[1], "r") as f:
    g = f["matrix"]
    data, indices, indptr, barcodes = g["data"][()], g["indices"][()], g["indptr"][()], g["barcodes"][()]
"""
# A step in a child process, its reads of the counts counted; the passes go to the file in argv[1].
COUNTED = """
import json, runpy, sys
sys.path.insert(0, {tests!r})
from pass_counter import counting_passes
out, script, *args = sys.argv[1:]
sys.argv = [script, *args]
with counting_passes() as counts:
    try:
        if script == "cellannotate":
            from cellannotate.entry import cellannotate
            cellannotate()
        else:
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
    finally:
        open(out, "w").write(json.dumps(sum(counts.values())))
""".format(tests=str(REPO / "tests"))
MODELS = {"panhuman_distill": ("annotate_distill.py", "PanHumanDistill"),
          "azimuth": ("annotate_azimuth.py", "Azimuth"),
          "markers": ("annotate_markers.py", "Markers")}


def measure(command: list[str], workdir: Path, counted: bool = True, source: Path = REPO) -> dict:
    """Run ``command`` in a child process (the package of ``source``): wall and CPU seconds, peak RSS
    (MiB), passes over the counts."""
    passes_file = workdir / "passes.json"
    passes_file.unlink(missing_ok=True)
    argv = [PYTHON, "-c", COUNTED, str(passes_file), *command] if counted else [PYTHON, "-c", *command]
    start = time.perf_counter()
    with open(workdir / "log.txt", "w") as log:
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(source / "src")}
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed:\n{(workdir / 'log.txt').read_text()[-3000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss": usage.ru_maxrss / 1024,
            "passes": json.loads(passes_file.read_text()) if counted else None}


def run_model(model: str, matrix: Path, weights: Path, workdir: Path, source: Path = REPO,
              steps: bool = True) -> list[tuple[str, dict]]:
    """The model's steps one process each (as Nextflow runs them; unless not ``steps``), then the
    one-process command."""
    script, folder = MODELS[model]
    bin_ = source / "bin"
    step = functools.partial(measure, source=source)
    work = workdir / model
    subprocess.run(["rm", "-rf", str(work)], check=True)
    work.mkdir(parents=True)
    extra = ["--azimuth-model", str(weights)] if model == "azimuth" else []
    rows = []
    if steps:
        rows += _steps(step, bin_, script, folder, matrix, work, extra)
    rows.append(("cellannotate annotate", step(["cellannotate", "annotate", "--id", "bench", "--matrix", str(matrix),
                                                "--outdir", str(work / "run"), "--cell-annotation-model", model,
                                                *extra], work)))
    return rows


def _steps(step, bin_: Path, script: str, folder: str, matrix: Path, work: Path, extra: list) -> list:
    """Validation, the model's step and output assembly, each its own process, and their sum."""
    rows = [("validate", step([str(bin_ / "validate_matrix.py"), "--matrix", str(matrix),
                               "--out", str(work / "validation.json")], work))]
    rows.append((f"annotate ({folder})", step([str(bin_ / script), "--matrix", str(matrix), "--validation",
                                               str(work / "validation.json"), "--outdir", str(work / "annotations"),
                                               *extra], work)))
    rows.append(("assemble", step([str(bin_ / "assemble_outputs.py"), "--id", "bench", "--matrix", str(matrix),
                                   "--validation", str(work / "validation.json"), "--annotations",
                                   str(work / "annotations" / folder), "--outs", str(work / "steps" / "outs")], work)))
    rows.append(("steps together", {key: sum(r[key] for _, r in rows) if key != "rss" else max(r[key] for _, r in rows)
                                    for key in ("wall", "cpu", "rss", "passes")}))
    if script == MODELS["panhuman_distill"][0]:     # what the UMAP of the drawn cells costs: the step without it
        rows.append((f"annotate ({folder}), --umap-cells 0", step(
            [str(bin_ / script), "--matrix", str(matrix), "--validation", str(work / "validation.json"), "--outdir",
             str(work / "no-umap"), "--umap-cells", "0", *extra], work)))
    return rows


def matrix_of(cells: int, workdir: Path) -> Path:
    from synthetic_hd import write

    path = workdir / f"synthetic_hd_{cells}.h5"
    if not path.exists():
        start = time.perf_counter()
        write(path, cells)
        print(f"made {path.name} ({path.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - start:.0f} s "
              "(cached for the next run)", flush=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--workdir", type=Path, default=REPO / ".cache" / "bench")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--source", type=Path, default=REPO,
                        help="run the steps and package of this checkout instead (its bin/ and src/): the same "
                             "benchmark on an earlier commit")
    parser.add_argument("--whole-only", action="store_true", help="only the one-process command, not each step")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    from azimuth_standin import write_standin_model

    weights = args.workdir / "standin_v1_5055-1024-512-256-128.keras"
    if not weights.exists():
        write_standin_model(weights, hidden=(1024, 512, 256), embedding=128)
    figures = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
        scratch = Path(scratch)
        for index, cells in enumerate(args.sizes):
            matrix = matrix_of(cells, args.workdir)
            if index == 0:
                run_model(args.models[0], matrix, weights, scratch, args.source, steps=False)  # warm-up, not shown
            floor = measure([FLOOR, str(matrix)], scratch, counted=False)
            figures.append({"cells": cells, "model": "-", "stage": "read floor (h5py)", **floor, "passes": 1.0})
            print(f"\n{cells:,} cells: read floor {floor['wall']:.1f} s", flush=True)
            for model in args.models:
                for stage, row in run_model(model, matrix, weights, scratch, args.source, not args.whole_only):
                    figures.append({"cells": cells, "model": model, "stage": stage, **row,
                                    "x_floor": row["wall"] / floor["wall"]})
                    print(f"  {model:17} {stage:24} {row['wall']:7.1f} s", flush=True)
    print_table(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


def print_table(figures: list[dict]) -> None:
    """One Markdown table: what the README's performance section quotes."""
    print("\n| cells | model | stage | wall s | CPU s | CPU/wall | peak RSS MiB | passes | x floor |")
    print("| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for f in figures:
        ratio = f"{f['x_floor']:.1f}" if "x_floor" in f else "1"
        print(f"| {f['cells']:,} | {f['model']} | {f['stage']} | {f['wall']:.1f} | {f['cpu']:.1f} | "
              f"{f['cpu'] / f['wall']:.2f} | {f['rss']:,.0f} | {f['passes']:.2f} | {ratio} |")


if __name__ == "__main__":
    main()
