"""Lineages (T cell, B cell, myeloid, neuron, epithelial, ...): one level every model's labels reach.

Models speak different vocabularies (Azimuth's, pegasus's markers, the 10x Cloud's). To compare
them with each other (the consensus column) and with authors' labels (``benchmarks/accuracy.py``),
each label is mapped to a lineage by the generic rules below, written once for every model: the
first rule whose pattern occurs in the label, case-insensitive.
"""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np

from cellannotate.distinct import distinct

UNASSIGNED_LINEAGE, OTHER = "Unassigned", "Other"
LINEAGE_RULES = (
    (UNASSIGNED_LINEAGE, r"^unassigned$|^unknown$"),
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
    """The lineage of one label (``Other`` when no rule matches)."""
    text = str(label).lower()
    return next((lineage for lineage, pattern in LINEAGE_RULES if re.search(pattern, text)), OTHER)


def lineages(labels: np.ndarray) -> np.ndarray:
    """:func:`lineage_of` of every label, each distinct label matched once."""
    values, inverse = distinct(labels)
    return np.array([lineage_of(v) for v in values], dtype=object)[inverse]


def predicted_lineages(table) -> np.ndarray:
    """The lineage of each cell of a cell type table: of its fine label, else of its coarse label."""
    fine, coarse = lineages(table.fine), lineages(table.coarse)
    return np.where(fine == OTHER, coarse, fine)


def agreement(tables: list) -> np.ndarray:
    """Per cell, whether the models that labelled it agree on its lineage: ``agree``, ``disagree``,
    or ``n/a`` where fewer than two models gave it a lineage. No model's labels are changed."""
    calls = np.column_stack([predicted_lineages(t) for t in tables])
    known = (calls != UNASSIGNED_LINEAGE) & (calls != OTHER)
    first = calls[np.arange(len(calls)), np.argmax(known, axis=1)]
    same = np.where(known, calls == first[:, None], True).all(axis=1)
    return np.where(known.sum(axis=1) >= 2, np.where(same, "agree", "disagree"), "n/a").astype(object)


def agreement_table(tables: list) -> list[tuple[str, str, int, float | None]]:
    """For each pair of models: cells both gave a lineage, and the share of those where they agree."""
    calls = {t.model: predicted_lineages(t) for t in tables}
    rows = []
    for a, b in combinations(calls, 2):
        both = np.isin(calls[a], [UNASSIGNED_LINEAGE, OTHER], invert=True) & \
            np.isin(calls[b], [UNASSIGNED_LINEAGE, OTHER], invert=True)
        n = int(both.sum())
        rows.append((a, b, n, float((calls[a][both] == calls[b][both]).mean()) if n else None))
    return rows
