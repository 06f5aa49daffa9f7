"""From the eight hierarchy heads to panhumanpy's labels, vectorised.

Panhumanpy 1.0.0 turns each cell's eight predicted classes into labels with string
operations in a per-cell Python loop (``OutputLabels`` and ``PostprocessingAzimuthLabels``).
Every one of those operations depends only on the cell's eight class indices, except one:
when a consistent hierarchy stops above the post-processing tables (a "Further" cell),
the refined label is the candidate with the highest calibrated probability. So we work
out the strings once per distinct combination of classes (cached across chunks; there
are far fewer combinations than cells) and resolve the "Further" cells with array
lookups. The rules below restate panhumanpy's, step for step, with the same outcomes:

- combined label: level by level, the first non-empty path component predicted at that
  level or any deeper one; the final level is the deepest level the combined label reaches;
- a hierarchy is consistent when each level's path extends the one above it;
- refinement (per broad/medium/fine table): for a consistent hierarchy, the table's label
  for the combined label if that label is the combined one or contained in it, otherwise
  the literal ``'False'``; when the table has no entry, the candidates are the table's labels
  for every entry under the combined label ("Further"); an inconsistent hierarchy is
  ``'False'``; the label kept is the last path component (``None`` if no candidate is a class).

Ties. panhumanpy keeps the first "Further" candidate with the highest calibrated probability
(strict ``>``), in the order of ``list(set(candidates))``, which follows Python's string
hashes and so changes from one process to the next. Ties are common with a real network:
a probability under 1e-8 is clipped to 1e-8 before calibration, so every candidate the
network rules out gets the same calibrated value, bit for bit; when all candidates are ruled
out, they tie. We apply the same rule in a fixed order, the order of panhumanpy's own
table (its list before ``set()``), treat values within :data:`TIE_RTOL` of the best as
tied (two float32 engines cannot order them the same way), and name the tied candidates
in ``azimuth_<level>_ties`` so that a user sees which cells had no single answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cellannotate.annotators.azimuth.assets import REFINE_LEVELS, AzimuthAssets

NO_MATCH = "False"
# panhumanpy's per-cell outputs (``AzimuthNN.cells_meta``), in its order.
OUTPUT_COLUMNS = ("azimuth_broad", "azimuth_medium", "azimuth_fine", "final_level_labels", "final_level_confidence",
                  "full_hierarchical_labels", "full_consistent_hierarchy")
# Ours: the candidates a refined label tied with ('; '-joined, empty when the answer was unique).
TIE_COLUMNS = tuple(f"azimuth_{level}_ties" for level in REFINE_LEVELS)
# Calibrated values this close to the best (relative) are tied: float32 engines differ by ~1e-6.
TIE_RTOL = 1e-5


def combined_parts(labels: list, depth: int) -> list[tuple[int, str]]:
    """``(level, part)`` of the combined label: at each level, the first non-empty path component
    predicted at that level or any deeper one (levels with none are left out)."""
    out = []
    for i in range(depth):
        for j in range(len(labels) - i):
            part = labels[i + j].split("|")[i]
            if part != "":
                out.append((i, part))
                break
    return out


def combined_label(labels: list, depth: int) -> str:
    """The label made of the first ``depth`` levels of a hierarchy path, joined with ``|``."""
    return "|".join(part for _, part in combined_parts(labels, depth))


def is_consistent(labels: list) -> bool:
    """Whether each level's path extends the previous one (a label tree with no jumps)."""
    return all(labels[i].split("|") == labels[i + 1].split("|")[:-1] for i in range(len(labels) - 1))


@dataclass
class Refiner:
    """One post-processing table (broad, medium or fine)."""

    annotations: dict           # combined label -> table label
    table: pd.DataFrame
    column: str

    @classmethod
    def from_table(cls, table: pd.DataFrame, level: str) -> "Refiner":
        """The refinement map of one level (``broad``, ``medium``, ``fine``) from panhumanpy's table."""
        column = f"Annotate_{level}"
        annotations = dict(zip(table["Orig_Label"], table[column]))
        annotations.update({label: label for label in table[column]})
        return cls(annotations, table, column)

    def refine(self, combined: str, consistent: bool):
        """A label string, or the candidate labels of a "Further" cell in table order."""
        if not consistent:
            return NO_MATCH
        refined = self.annotations.get(combined)
        if pd.isna(refined):
            under = self.table[self.table["Orig_Label"].str.startswith(combined, na=False)]
            return list(dict.fromkeys(under[self.column].tolist()))
        if refined == combined or refined in combined:
            return refined
        return NO_MATCH


@dataclass
class Combination:
    """Everything about one combination of the eight predicted classes."""

    combined: str
    final_level: int            # 0-based
    final_label: str
    consistent: bool
    refined: dict               # level -> label (str/None) or [(level, class index, label), ...]


class Labeller:
    """Labels chunk after chunk, remembering combinations already worked out."""

    def __init__(self, assets: AzimuthAssets):
        self.classes = assets.classes
        self.depth = len(assets.classes)
        self.index = [{label: i for i, label in enumerate(level)} for level in assets.classes]
        self.refiners = {level: Refiner.from_table(assets.refine_tables[level], level) for level in REFINE_LEVELS}
        sizes = np.array([len(c) for c in assets.classes], dtype=np.int64)
        self.radix = np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)
        self.cache: dict[int, Combination] = {}

    def _combination(self, classes: tuple) -> Combination:
        labels = [self.classes[level][c] for level, c in enumerate(classes)]
        parts = combined_parts(labels, self.depth)
        combined = "|".join(part for _, part in parts)
        # combined_label(labels, d + 1) keeps the parts found at levels up to d.
        upto = ["|".join(part for i, part in parts if i <= d) for d in range(self.depth)]
        reached = [len(u.split("|")) >= d + 1 for d, u in enumerate(upto)]
        final_level = sum(reached) - 1
        final_label = upto[final_level].split("|")[-1] if reached[final_level] else "NA"
        consistent = is_consistent(labels)
        refined = {}
        for level, refiner in self.refiners.items():
            outcome = refiner.refine(combined, consistent)
            if isinstance(outcome, list):
                outcome = [(p.count("|"), self.index[p.count("|")][p], p.split("|")[-1])
                           for p in outcome if p.count("|") < self.depth and p in self.index[p.count("|")]]
                refined[level] = outcome or None
            else:
                refined[level] = outcome.split("|")[-1]
        return Combination(combined, final_level, final_label, consistent, refined)

    def label(self, classes: np.ndarray, calibrated: list, top_probability: np.ndarray) -> dict:
        """Per-cell label columns for one chunk.

        classes: ``(n, 8)`` predicted class per level; calibrated: per level ``(n, k)``
        calibrated probabilities; top_probability: ``(n, 8)`` their row maxima.
        """
        n = len(classes)
        keys = classes.astype(np.int64) @ self.radix
        unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        combos = []
        for key, row in zip(unique.tolist(), first):
            if key not in self.cache:
                self.cache[key] = self._combination(tuple(int(c) for c in classes[row]))
            combos.append(self.cache[key])

        def per_cell(values, dtype=object):
            return np.asarray(values, dtype=dtype)[inverse]

        final_level = per_cell([c.final_level for c in combos], np.int64)
        out = {
            "full_hierarchical_labels": per_cell([c.combined for c in combos]),
            "final_level_labels": per_cell([c.final_label for c in combos]),
            "final_level_confidence": top_probability[np.arange(n), final_level],
            "full_consistent_hierarchy": per_cell([c.consistent for c in combos], bool),
        }
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(combos) + 1))
        for level, tie_column in zip(REFINE_LEVELS, TIE_COLUMNS):
            labels = per_cell([c.refined[level] if not isinstance(c.refined[level], list) else None for c in combos])
            ties = np.full(n, "", dtype=object)
            for u, combo in enumerate(combos):
                if isinstance(combo.refined[level], list):
                    rows = order[bounds[u]:bounds[u + 1]]
                    labels[rows], ties[rows] = self._best_candidate(combo.refined[level], calibrated, rows)
            out[f"azimuth_{level}"] = labels
            out[tie_column] = ties
        return out

    @staticmethod
    def _best_candidate(candidates, calibrated, rows) -> tuple[np.ndarray, np.ndarray]:
        """Per cell of ``rows``: the first candidate (in table order) with the highest calibrated
        probability, and the candidates within :data:`TIE_RTOL` of it ('; '-joined; empty when
        it stood alone)."""
        values = np.stack([calibrated[level][rows, index] for level, index, _ in candidates])
        names = np.array([name for _, _, name in candidates], dtype=object)
        tied = values >= values.max(axis=0) * (1 - TIE_RTOL)
        chosen = names[np.argmax(values, axis=0)]
        ties = np.array(["; ".join(names[column]) if column.sum() > 1 else "" for column in tied.T], dtype=object)
        return chosen, ties
