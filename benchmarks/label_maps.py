"""The benchmark's own reading of model labels, beyond lineages (:mod:`cellannotate.lineage`).

Written once for every model's vocabulary (pegasus's markers, Pan-human Azimuth's, which
panhuman_distill shares) and every dataset; nothing here is in the package, which never needs
to judge its labels against a truth:

- :data:`FINE_RULES`: the finer classes the authors of some datasets label (CD4 against CD8 T
  cells, classical monocytes, oligodendrocytes against their progenitors, macrophages and
  microglia). A label no rule matches keeps its lineage as its fine class ("T cell" there is a T
  cell named neither CD4 nor CD8).
- the organ whose own cell type a Pan-human Azimuth label is, to count labels from another organ
  than the sample's: the package's own rules (:mod:`cellannotate.organs`), which panhuman_distill
  uses to keep its labels to the sample's organ. The markers model's labels need no such map: the
  database says which tissue file each type comes from (``tissue.home_organ``). Types found in
  every organ are no organ's: immune and tissue-resident immune types
  (``organs.IMMUNE_LIKE``: microglia, Kupffer cells, alveolar macrophages, judged by lineage
  instead); vessels, stroma and generic names (epithelial, secretory, neuroendocrine cell) match
  no rule.

Both are first match, case-insensitive, over the label.
"""

from __future__ import annotations

import re

import numpy as np

from cellannotate.lineage import LINEAGE_RULES, predicted_lineages
from cellannotate.organs import label_organs

FINE_RULES = (
    ("CD4 T cell", r"\bcd4\b|treg|t regulatory|\btfh\b|t follicular helper"),
    ("CD8 T cell", r"\bcd8"),
    ("Classical monocyte", r"cd14\+? monocyte|^classical monocyte"),
    ("Macrophage/microglia", r"macrophage|microglia|kupffer|hofbauer"),
    ("OPC", r"\bopc\b|oligodendrocyte (progenitor|precursor)"),
    ("Oligodendrocyte", r"oligodendrocyte"),
)
# A true fine class is scored only if some label can reach it (glioma's "Malignant" cannot).
REACHABLE = {name for name, _ in FINE_RULES} | {name for name, _ in LINEAGE_RULES}

def _first(rules, label: str, default):
    text = str(label).lower()
    return next((value for value, pattern in rules if re.search(pattern, text)), default)


def _each(function, labels: np.ndarray) -> np.ndarray:
    """``function`` of every label, each distinct label once."""
    values, inverse = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    return np.array([function(v) for v in values], dtype=object)[inverse]


def fine_class(label: str) -> str:
    """The fine class one label names; ``""`` when it names none finer than its lineage."""
    return _first(FINE_RULES, label, "")


def predicted_fine(table) -> np.ndarray:
    """Each cell's fine class: of its fine label, else of its coarse label, else its lineage."""
    fine, coarse = _each(fine_class, table.fine), _each(fine_class, table.coarse)
    return np.where(fine != "", fine, np.where(coarse != "", coarse, predicted_lineages(table)))


def azimuth_organs(table) -> np.ndarray:
    """Each cell's organ (:func:`label_organ`) from its fine label, else from its coarse label."""
    fine, coarse = label_organs(table.fine), label_organs(table.coarse)
    return np.where(fine != "", fine, coarse)
