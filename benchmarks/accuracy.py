"""Accuracy of every local model on real cells that packages ship (benchmarks/datasets.py).

    make bench-accuracy          # or: python benchmarks/accuracy.py [--cache .cache/bench] [--datasets NAME ...]

Each dataset is written once as a 10x HDF5, genes by symbol as its source has them (with
``--ensembl``, by GENCODE's Ensembl ids, as Cell Ranger writes them), and run through the same
path as ``cellannotate annotate`` (validation, then the model). Per dataset and model it prints:

- lineage accuracy: each model's labels mapped to lineages by :mod:`cellannotate.lineage` (the
  same generic rules for every model), the truth's by hand (``datasets.TRUTH``), over the cells
  that have a truth; ``Unassigned`` counts as wrong;
- fine accuracy, where the authors' labels are finer (``datasets.FINE_TRUTH``): labels mapped by
  ``label_maps.FINE_RULES``, over the cells whose true class some label can reach;
- the share of cells left ``Unassigned``;
- the share of cells labelled with another organ's own cell type than the dataset's tissue (for
  blood and immune cells, any organ's): the markers model's from the database file the type
  comes from (``tissue.home_organ``: microglia are the brain's), Pan-human Azimuth's vocabulary by ``cellannotate.organs``;
  these count whether or not a dataset has labels;
- the tissue the markers model called, and whether the dataset was used to choose thresholds
  (``datasets.TUNING``) or is held out;

with the accuracy per true class and the confusion tables. A model that cannot run on a dataset
(too few genes, another species, no weights) is listed with its reason. Pan-Human Azimuth runs
when its weights are installed.

For the markers model it also prints how its ``Unassigned`` threshold (``MIN_SCORE``) trades
off on these cells: at each score threshold, how many correctly and wrongly labelled cells
would be kept.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("CELLANNOTATE_UMAP", "0")

import datasets  # noqa: E402
import label_maps  # noqa: E402

from cellannotate.annotators import registry  # noqa: E402
from cellannotate.annotators.markers.database import load_marker_database  # noqa: E402
from cellannotate.annotators.markers.scoring import MIN_SCORE  # noqa: E402
from cellannotate.annotators.markers.tissue import home_organ  # noqa: E402
from cellannotate.annotators.run import run_model  # noqa: E402
from cellannotate.errors import CellAnnotateError  # noqa: E402
from cellannotate.lineage import UNASSIGNED_LINEAGE, predicted_lineages  # noqa: E402
from cellannotate.validation.matrix import validate_matrix  # noqa: E402

MODELS = ("markers", "panhuman_distill", "azimuth")
THRESHOLDS = (MIN_SCORE, 0.75, 1.0, 1.25, 1.5)
NO_TRUTH = "(no truth)"


@dataclass
class Row:
    """One model on one dataset, for the summary table (``None``: not measured)."""

    dataset: str
    model: str
    lineage: dict | None = None
    fine: dict | None = None
    unassigned: float | None = None
    foreign: float | None = None
    tissue: str = ""
    reason: str | None = None
    tradeoff: list[tuple] | None = None     # markers, on cells with a truth: threshold_tradeoff


def run(name: str, matrix: Path, workdir: Path):
    """The model's table on ``matrix``, or the one-line reason it cannot run."""
    model = registry.get(name)
    try:
        report = validate_matrix(matrix)
        reason = model.unavailable(report, name)
        if reason:
            return reason
        return run_model(model, matrix, report, model.prepare(model.option_values()), workdir / name)
    except CellAnnotateError as exc:
        return str(exc)


def score(truth: np.ndarray, predicted: np.ndarray, scored: np.ndarray) -> dict | None:
    """Accuracy over the ``scored`` cells, per true class, and the confusion table of every cell
    (those without a truth as :data:`NO_TRUTH`); ``None`` when no cell is scored."""
    if not scored.any():
        return None
    right = (truth == predicted)[scored]
    per_class = {c: float(right[truth[scored] == c].mean()) for c in sorted(set(truth[scored]))}
    rows = np.where(truth == "", NO_TRUTH, truth)
    confusion = pd.crosstab(pd.Series(rows, name="true"), pd.Series(predicted, name="predicted"))
    return {"accuracy": float(right.mean()), "cells": int(scored.sum()), "per_class": per_class, "confusion": confusion}


@functools.lru_cache(maxsize=2)
def marker_origins(species: str) -> dict:
    """Which tissue files of the markers model's default database each of its types comes from."""
    return load_marker_database(species).origins


def organs(model: str, table, species: str) -> np.ndarray:
    """Each cell's organ (``""``: a type of every organ): markers' from its database, others' by label."""
    if model == "markers":
        origins = marker_origins(species)
        return np.array([home_organ(str(label), origins) or "" for label in table.coarse], dtype=object)
    return label_maps.azimuth_organs(table)


def foreign(organ: np.ndarray, tissue: str) -> np.ndarray:
    """Cells whose label is another organ's own type than ``tissue`` (``immune``: any organ's)."""
    return np.array([o != "" and tissue not in o.split("/") for o in organ], dtype=bool)


def threshold_tradeoff(table, truth: np.ndarray) -> list[tuple]:
    """Markers: for each threshold from ``MIN_SCORE`` up, the labelled cells with a truth it keeps,
    right and wrong."""
    scores = np.asarray(table.extra["score"], dtype=float)
    kept = (np.asarray(table.coarse) != "Unassigned") & (truth != "")
    right = predicted_lineages(table) == truth
    return [(t, int((right & kept & (scores >= t)).sum()), int((~right & kept & (scores >= t)).sum()))
            for t in THRESHOLDS]


def tissue_call(table) -> str:
    """The tissue the markers model labelled with, and whether it detected or was given it."""
    call = table.info.get("tissue")
    return f"{call['tissue']} ({'detected' if call['detected'] else 'as asked'})" if call else ""


def counts(values: np.ndarray) -> str:
    """``value n, ...``, most frequent first."""
    return ", ".join(f"{k} {v}" for k, v in pd.Series(values).value_counts().items())


def role(name: str) -> str:
    """Whether thresholds were chosen on the dataset (``datasets.TUNING``) or it is held out."""
    return "tuning" if name in datasets.TUNING else "held out"


def measures(row: Row) -> dict[str, str]:
    """The row's measures as printed, by column of the summary table."""
    if row.reason is not None:
        return {"lineage accuracy": "not run"}

    def accuracy(scored):
        return "-" if scored is None else f"{scored['accuracy']:.1%} (n={scored['cells']})"

    return {"lineage accuracy": accuracy(row.lineage), "fine accuracy": accuracy(row.fine),
            "unassigned": f"{row.unassigned:.1%}", "foreign organ": f"{row.foreign:.1%}", "markers tissue": row.tissue}


def evaluate(model: str, table, data: datasets.Dataset) -> Row:
    """Print one model's results on one dataset; its summary row."""
    cells = pd.Series(np.arange(len(data.barcodes)), index=data.barcodes).loc[table.barcodes.astype(str)].to_numpy()
    lineage, fine = data.lineage[cells].astype(str), data.fine[cells].astype(str)
    predicted = predicted_lineages(table)
    organ = organs(model, table, data.species)
    away = foreign(organ, data.tissue)
    row = Row(data.name, model, score(lineage, predicted, lineage != ""),
              score(fine, label_maps.predicted_fine(table), np.isin(fine, list(label_maps.REACHABLE))),
              float((predicted == UNASSIGNED_LINEAGE).mean()), float(away.mean()), tissue_call(table))
    print(f"\n### {model}: " + "; ".join(f"{k} {v}" for k, v in measures(row).items() if v))
    for level, scored in (("lineage", row.lineage), ("fine class", row.fine)):
        if scored:
            print(f"per true {level}: " + ", ".join(f"{k} {v:.0%}" for k, v in scored["per_class"].items()))
            print(scored["confusion"].to_string())
    if not (lineage != "").any():
        print("predicted lineages: " + counts(predicted))
    if away.any():
        print("foreign-organ labels: " + counts(np.asarray(table.fine, dtype=str)[away] + " (" + organ[away] + ")"))
    if model == "markers" and (lineage != "").any():
        row.tradeoff = threshold_tradeoff(table, lineage)
    return row


def print_summary(rows: list[Row]) -> None:
    """The table of every model on every dataset."""
    columns = ["lineage accuracy", "fine accuracy", "unassigned", "foreign organ", "markers tissue"]
    print("\n| dataset | set | model | " + " | ".join(columns) + " |\n|" + " --- |" * (len(columns) + 3))
    for row in rows:
        shown = measures(row)
        print(f"| {row.dataset} | {role(row.dataset)} | {row.model} | "
              + " | ".join(shown.get(c, "") for c in columns) + " |")


def run_dataset(name: str, cache: Path, tmp: Path, ensembl: bool) -> list[Row]:
    """Every model on one dataset, printed; the summary rows."""
    data = datasets.load(name, cache)
    if ensembl:
        data = datasets.with_ensembl_ids(data, cache)
    matrix = datasets.write_h5(data, tmp / f"{name}.h5")
    truth = pd.Series(data.lineage[data.lineage != ""]).value_counts()
    print(f"\n## {name} ({data.species}, {data.tissue}; {role(name)}): {len(data.barcodes)} cells, "
          f"{len(data.symbols):,} genes; " + ("true lineages " + ", ".join(f"{k} {v}" for k, v in truth.items()) if len(truth) else "no cell labels"))
    rows = []
    for model in MODELS:
        result = run(model, matrix, tmp / name)
        if isinstance(result, str):
            print(f"\n### {model}: not run: {result}")
            rows.append(Row(name, model, reason=result))
        else:
            rows.append(evaluate(model, result, data))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/bench"))
    parser.add_argument("--datasets", nargs="*", default=list(datasets.SOURCES))
    parser.add_argument("--ensembl", action="store_true", help="Write GENCODE's Ensembl ids as feature ids "
                        "(genes without one dropped), as Cell Ranger does, instead of the sources' symbols")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [row for name in args.datasets for row in run_dataset(name, args.cache, Path(tmp), args.ensembl)]
    print(f"\nmarkers, labelled cells kept (right / wrong lineage) at each score threshold (MIN_SCORE is {MIN_SCORE}):")
    for row in rows:
        if row.tradeoff:
            print(f"  {row.dataset}: " + "; ".join(f"{t}: {rk} / {wk}" for t, rk, wk in row.tradeoff))
    print_summary(rows)


if __name__ == "__main__":
    main()
