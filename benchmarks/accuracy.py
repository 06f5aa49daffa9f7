"""Accuracy of every local model on real, labelled cells that packages ship (benchmarks/datasets.py).

    make bench-accuracy          # or: python benchmarks/accuracy.py [--cache .cache/bench]

Each dataset is written once as a 10x HDF5 and run through the same path as
``cellannotate annotate`` (validation, then the model). Labels are compared at the level of
lineages (T cell, NK cell, B cell, myeloid, ...): the authors' labels map to lineages by hand in
``datasets.TRUTH``; every model's labels map by the same generic rules below, written once for
all models and datasets. Prints, per dataset and model, the lineage accuracy, the accuracy per
true lineage and the confusion table; a model that cannot run on a dataset (too few genes, no
weights) is listed with its reason. Pan-Human Azimuth runs when its weights are installed.

For the markers model it also prints how its ``Unassigned`` threshold (``MIN_SCORE``) trades
off on these cells: at each score threshold, how many correctly and wrongly labelled cells
would be kept and dropped.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("CELLANNOTATE_UMAP", "0")

import datasets  # noqa: E402

from cellannotate.annotators import ModelOptions, registry, run_model  # noqa: E402
from cellannotate.annotators.markers.scoring import MIN_SCORE  # noqa: E402
from cellannotate.errors import CellAnnotateError  # noqa: E402
from cellannotate.validation.matrix import validate_matrix  # noqa: E402

MODELS = ("markers", "panhuman_distill", "azimuth")
THRESHOLDS = (MIN_SCORE, 0.75, 1.0, 1.25, 1.5)

# Model label -> lineage: the first rule whose pattern occurs in the label (case-insensitive).
LINEAGE_RULES = (
    ("Unassigned", r"^unassigned$|^unknown$"),
    ("Erythroid", r"erythro|red blood|hemoglobin"),
    ("Platelet", r"platelet|megakaryocyte|\bmkp\b"),
    ("Plasma cell", r"plasma"),
    ("Progenitor", r"\bhsc\b|hematopoietic|progenitor cell$|\bmpp\b|\bgmp\b|\blmpp\b|\bclp\b|\bmep\b|cd34"),
    ("NK cell", r"\bnk\b|natural killer|\bilc\b"),
    ("T cell", r"t cell|\btreg\b|t regulatory|\bmait\b|\btfh\b|t follicular|\bcd4\b|\bcd8|\bgdt\b|gamma-delta"
               r"|thymocyte|\bt/nk\b|cytotoxic cd4 t|double negative t|\bt$|naive t|memory t|\bdn/dp\b"),
    ("B cell", r"\bb cell|\bprob\b|\bpreb\b|naive b|memory b|germinal center b|cycling b$"),
    ("Dendritic cell", r"dendritic|\bcdc|\bpdc\b|\bdc\b|mregdc"),
    ("Myeloid", r"monocyte|macrophage|microglia|kupffer|hofbauer|myeloid|neutrophil|granulocyte|mast cell"
                r"|basophil|eosinophil|osteoclast"),
    ("Glial", r"oligodendro|\bopc\b|astrocyte|glia|bergmann|ependymal|schwann"),
    ("Neuron", r"neuron|interneuron|excitatory|inhibitory|purkinje|granule cell"),
    ("Endothelial", r"endotheli|\bec\b|aerocyte|endocardial"),
    ("Stromal", r"fibroblast|stromal|pericyte|smooth muscle|mesenchymal|myofibro|fibromyocyte|mesothelial"),
    ("Epithelial", r"epitheli|keratinocyte|enterocyte|hepatocyte|\bat[12]\b|club|goblet|basal|ductal|cholangiocyte"
                   r"|alveolar|ciliated|secretory|acinar|luminal|tuft|colonocyte"),
)


def lineage_of(label: str) -> str:
    text = str(label).lower()
    return next((lineage for lineage, pattern in LINEAGE_RULES if re.search(pattern, text)), "Other")


def predicted_lineages(table) -> np.ndarray:
    """The lineage of each cell's fine label, else of its coarse label."""
    fine = np.array([lineage_of(x) for x in table.fine])
    coarse = np.array([lineage_of(x) for x in table.coarse])
    return np.where(fine == "Other", coarse, fine)


def run(name: str, matrix: Path, workdir: Path):
    """The model's table on ``matrix``, or the one-line reason it cannot run."""
    model = registry.get(name)
    try:
        report = validate_matrix(matrix)
        reason = model.unavailable(report, name)
        if reason:
            return reason
        return run_model(model, matrix, report, model.prepare(ModelOptions()), workdir / name)
    except CellAnnotateError as exc:
        return str(exc)


def score(truth: pd.Series, predicted: np.ndarray) -> dict:
    right = truth.to_numpy() == predicted
    per_lineage = {lineage: float(right[truth.to_numpy() == lineage].mean()) for lineage in sorted(truth.unique())}
    confusion = pd.crosstab(pd.Series(truth.to_numpy(), name="true"), pd.Series(predicted, name="predicted"))
    return {"accuracy": float(right.mean()), "per_lineage": per_lineage, "confusion": confusion}


def threshold_tradeoff(table, truth: pd.Series) -> list[tuple]:
    """Markers: for each threshold from ``MIN_SCORE`` up, the labelled cells it keeps, right and wrong."""
    score = np.asarray(table.extra["score"], dtype=float)
    assigned = np.asarray(table.coarse) != "Unassigned"
    right = predicted_lineages(table) == truth.to_numpy()
    return [(t, int((right & assigned & (score >= t)).sum()), int((~right & assigned & (score >= t)).sum()))
            for t in THRESHOLDS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench"))
    parser.add_argument("--datasets", nargs="*", default=sorted(datasets.MEMBERS))
    args = parser.parse_args()
    summary, tradeoffs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            data = datasets.load(name, args.cache)
            matrix = datasets.write_h5(data, Path(tmp) / f"{name}.h5")
            truth = pd.Series(data.lineage, index=data.barcodes)
            print(f"\n## {name}: {len(truth)} cells, {len(data.symbols):,} genes; true lineages "
                  + ", ".join(f"{k} {v}" for k, v in truth.value_counts().items()))
            for model in MODELS:
                result = run(model, matrix, Path(tmp) / name)
                if isinstance(result, str):
                    print(f"\n### {model}: not run: {result}")
                    summary.append((name, model, None, {}))
                    continue
                scored = score(truth.loc[result.barcodes.astype(str)], predicted_lineages(result))
                summary.append((name, model, scored["accuracy"], scored["per_lineage"]))
                tissue = result.info.get("report", {}).get("tissue")
                print(f"\n### {model}: lineage accuracy {scored['accuracy']:.1%}" + (f"; tissue {tissue}" if tissue else ""))
                print("per true lineage: " + ", ".join(f"{k} {v:.0%}" for k, v in scored["per_lineage"].items()))
                print(scored["confusion"].to_string())
                if model == "markers":
                    tradeoffs.append((name, threshold_tradeoff(result, truth.loc[result.barcodes.astype(str)])))
    print(f"\nmarkers, labelled cells kept (right / wrong lineage) at each score threshold (MIN_SCORE is {MIN_SCORE}):")
    for name, rows in tradeoffs:
        print(f"  {name}: " + "; ".join(f"{t}: {rk} / {wk}" for t, rk, wk in rows))
    print("\n| dataset | model | lineage accuracy | per true lineage |\n| --- | --- | --- | --- |")
    for name, model, accuracy, per in summary:
        shown = "not run" if accuracy is None else f"{accuracy:.1%}"
        print(f"| {name} | {model} | {shown} | " + ", ".join(f"{k} {v:.0%}" for k, v in per.items()) + " |")


if __name__ == "__main__":
    main()
