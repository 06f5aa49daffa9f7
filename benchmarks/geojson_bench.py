#!/usr/bin/env python3
"""Peak memory and time of reading a Space Ranger cell segmentation (GeoJSON) of many cells.

Writes (once, cached in --workdir) a ``cell_segmentations.geojson`` with --cells octagons, as
Space Ranger lays it out, then reads the centroids of all cells in a fresh process (so that
its peak RSS is its own) --repeats times and prints the median time and the peak RSS.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = """
import resource, sys, time
import numpy as np
from cellannotate.io.spaceranger import read_centroids
n = int(sys.argv[2])
barcodes = np.array([f"cellid_{i + 1:09d}-1" for i in range(n)])
start = time.perf_counter()
centroids, without, unmatched = read_centroids(sys.argv[1], barcodes)
assert without == 0 and unmatched == 0
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_geojson(path: Path, cells: int) -> None:
    angles = np.linspace(0, 2 * np.pi, 9)
    rng = np.random.default_rng(0)
    with open(path, "w") as fh:
        fh.write('{"type": "FeatureCollection", "features": [')
        for i in range(cells):
            x, y = rng.uniform(0, 60_000, 2)
            ring = ", ".join(f"[{x + 6 * np.cos(a):.2f}, {y + 6 * np.sin(a):.2f}]" for a in angles)
            fh.write(("," if i else "") + f'{{"type": "Feature", "geometry": {{"type": "Polygon", "coordinates": [[{ring}]]}}, '
                     f'"properties": {{"cell_id": {i + 1}}}}}')
        fh.write("]}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cellannotate-bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"cell_segmentations_{args.cells}.geojson"
    if not path.exists():
        start = time.perf_counter()
        write_geojson(path, args.cells)
        print(f"generated {path.name} ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.0f} s")
    runs = []
    for _ in range(args.repeats):
        result = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.cells)], capture_output=True, text=True,
                                check=True)
        seconds, rss = result.stdout.split()
        runs.append((float(seconds), int(rss) / 1024))
    print(f"read_centroids: {args.cells:,} polygons, {path.stat().st_size / 2**20:.0f} MiB, {args.repeats} runs")
    print(f"  median time    {statistics.median(s for s, _ in runs):.1f} s")
    print(f"  peak RSS       {max(m for _, m in runs):.0f} MiB (the process, including Python and numpy)")


if __name__ == "__main__":
    main()
