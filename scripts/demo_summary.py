#!/usr/bin/env python3
"""Print, for the demo, each model's labels against the authors' own (Wu et al. 2020: clusters
4.x are CD4 T cells, 8.x CD8 T cells, 3.1 a mixed metallothionein-high cluster)."""

import sys
from pathlib import Path

import pandas as pd

outs, truth = Path(sys.argv[1]), pd.read_csv(sys.argv[2])
for folder in sorted((outs / "cell_types").iterdir()):
    if not (folder / "cell_types.csv").is_file():
        continue
    labels = pd.read_csv(folder / "cell_types.csv").merge(truth, on="barcode")
    authors = labels["label"].str[0].map({"4": "CD4 T cell", "8": "CD8 T cell", "3": "T cell (mixed)"})
    print(f"\n{folder.name}: fine label (rows) by the authors' cluster (columns), {len(labels)} cells")
    print(pd.crosstab(labels["fine_cell_type"], authors).to_string())
print(f"\nreport: {outs / 'web_summary_cell_types.html'}")
