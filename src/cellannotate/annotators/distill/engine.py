"""actinn-jax's hierarchical prediction, in numpy, streamed chunk by chunk of cells.

The same steps as actinn-jax 0.3.1 (``HierarchicalReferenceModel.predict_frame`` with its
defaults), in float32 as it computes them:

1. genes: the matrix's gene-expression features matched to the reference panel by Ensembl id
   (upper case, first occurrence of a repeated id), missing genes zero;
2. normalise over the panel only: each cell scaled to 10,000 over the panel genes it has,
   then ``log2(x + 1)``;
3. the coarse network (ReLU layers, softmax) picks a group by argmax;
4. per group: its fine network's argmax and probability, or the group's one label with the
   coarse probability, or ``unknown`` for a group with neither.

Every step is per cell, so chunks give the same answer as the whole matrix. The first layer
is a sparse product over the selected columns, which is where the time would go dense.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from cellannotate.annotators.distill.reference import NAME, DistilledReference, Network
from cellannotate.errors import ModelError
from cellannotate.genes import GeneMatch, human_ensembl_ids
from cellannotate.io.npy import RowWriter
from cellannotate.io.tenx_h5 import TenxMatrix
from cellannotate.panels import to_panel
from cellannotate.parallel import map_ahead

log = logging.getLogger(__name__)

CHUNK_CELLS = 10_000
AHEAD = 2
MIN_SHARED_GENES = 500      # actinn-jax's floor (or half the panel, if smaller)
LOW_OVERLAP = 0.5           # under half its genes, the report says what the model could not see
UNKNOWN = "unknown"


class PanelProjector:
    """Counts of the matrix's gene-expression columns -> normalised CSR over the reference panel."""

    def __init__(self, ids: np.ndarray, panel: tuple):
        position = {gene: i for i, gene in enumerate(panel)}
        self.to_panel = np.full(len(ids), -1, dtype=np.int64)
        seen = set()
        for column, gene in enumerate(np.char.upper(ids.astype(str))):
            if gene not in seen:
                seen.add(gene)
                self.to_panel[column] = position.get(gene, -1)
        self.n_panel = len(panel)
        self.shared = int((self.to_panel >= 0).sum())

    def __call__(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        x = to_panel(sp.csr_matrix(counts), self.to_panel, self.n_panel)
        totals = np.asarray(x.sum(axis=1), dtype=np.float32).ravel()
        scale = np.zeros_like(totals)
        scale[totals > 0] = np.float32(1e4) / totals[totals > 0]
        x = sp.csr_matrix(sp.diags(scale) @ x, dtype=np.float32)
        x.data = np.log2(x.data + np.float32(1.0), dtype=np.float32)
        return x


def forward(network: Network, x: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities and the last hidden layer of ``network`` on normalised panel rows."""
    inputs = x[:, network.select]
    if network.mean is not None:
        inputs = (inputs.toarray() - network.mean) / network.scale
    hidden = np.asarray(inputs @ network.weights[0], dtype=np.float32) + network.biases[0]
    last_hidden = hidden
    for weights, bias in zip(network.weights[1:], network.biases[1:]):
        np.maximum(hidden, 0, out=hidden)
        last_hidden = hidden
        hidden = hidden @ weights + bias
    logits = hidden - hidden.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits, last_hidden


@dataclass
class ChunkLabels:
    """The hierarchy's answer for cells ``start:stop``: group, label, probabilities, embedding rows."""

    start: int
    stop: int
    group: np.ndarray          # index into the coarse classes
    label: np.ndarray          # index into Hierarchy.labels
    probability: np.ndarray
    group_probability: np.ndarray
    embedding: np.ndarray
    panel_genes: np.ndarray    # panel genes with counts, per cell


class Hierarchy:
    """The coarse->fine routing, with every label the reference can give numbered once."""

    def __init__(self, reference: DistilledReference):
        self.reference = reference
        self.groups = reference.coarse.classes
        labels = {UNKNOWN}
        for fine in reference.fine.values():
            labels.update([fine] if isinstance(fine, str) else fine.classes)
        self.labels = tuple(sorted(labels))
        code = {label: i for i, label in enumerate(self.labels)}
        self.fine_codes = {g: (np.array([code[c] for c in f.classes]) if isinstance(f, Network) else code[f])
                           for g, f in reference.fine.items()}
        self.unknown = code[UNKNOWN]

    def label_chunk(self, projector: PanelProjector, chunk) -> ChunkLabels:
        """Normalise one chunk over the panel, pick each cell's group, then its fine label."""
        x = projector(chunk.counts)
        probabilities, embedding = forward(self.reference.coarse, x)
        group = np.argmax(probabilities, axis=1)
        group_probability = probabilities[np.arange(len(group)), group]
        label = np.full(len(group), self.unknown, dtype=np.int32)
        probability = np.zeros(len(group), dtype=np.float32)
        for g in np.unique(group):
            rows = np.flatnonzero(group == g)
            fine = self.reference.fine.get(self.groups[g])
            if isinstance(fine, Network):
                fine_probabilities, _ = forward(fine, x[rows])
                best = np.argmax(fine_probabilities, axis=1)
                label[rows] = self.fine_codes[self.groups[g]][best]
                probability[rows] = fine_probabilities[np.arange(len(rows)), best]
            elif fine is not None:
                label[rows] = self.fine_codes[self.groups[g]]
                probability[rows] = group_probability[rows]
        return ChunkLabels(chunk.start, chunk.stop, group, label, probability, group_probability, embedding,
                           np.diff(x.indptr))


def check_overlap(projector: PanelProjector, match: GeneMatch, ids: np.ndarray) -> str | None:
    """Refuse a matrix that shares too few panel genes to mean anything (actinn-jax's floor); the
    warning for the report when it shares under :data:`LOW_OVERLAP` of them."""
    floor = min(MIN_SHARED_GENES, max(1, projector.n_panel // 2))
    if projector.shared >= floor:
        if projector.shared < LOW_OVERLAP * projector.n_panel:
            return (f"{NAME} saw only {projector.shared:,} of its {projector.n_panel:,} genes "
                    f"({projector.shared / projector.n_panel:.0%}; matched {match.describe()}): the missing ones "
                    "count as zero, so its labels are less reliable than on a whole-transcriptome matrix")
        return None
    example = ", ".join(map(str, ids[:3])) or "none"
    raise ModelError(
        f"the matrix shares only {projector.shared} of the {projector.n_panel:,} genes of {NAME} "
        f"(needs {floor}; matched {match.describe()}; its gene ids look like: {example}): it needs a "
        f"whole-transcriptome human or mouse matrix with Ensembl ids or gene symbols; "
        f"for a targeted panel use --cell-annotation-model markers")


def run_hierarchy(matrix: TenxMatrix, reference: DistilledReference, embedding_path, chunk_cells: int = CHUNK_CELLS,
                  species: str = "human"):
    """Label every cell; the coarse network's last hidden layer goes to ``embedding_path`` (.npy)."""
    ge = matrix.gene_expression_columns
    match = human_ensembl_ids(matrix.features.ids[ge], matrix.features.names[ge], species)
    projector = PanelProjector(match.ids, reference.genes)
    warning = check_overlap(projector, match, matrix.features.ids[ge])
    log.info("%s: %d of %d panel genes in the matrix (%s)", NAME, projector.shared, projector.n_panel,
             match.describe())
    hierarchy = Hierarchy(reference)
    n = matrix.n_cells
    group = np.empty(n, dtype=np.int32)
    label = np.empty(n, dtype=np.int32)
    probability = np.empty(n, dtype=np.float32)
    group_probability = np.empty(n, dtype=np.float32)
    panel_genes = np.empty(n, dtype=np.int32)
    embedding = RowWriter(embedding_path, n)
    work = functools.partial(hierarchy.label_chunk, projector)
    for part in map_ahead(work, matrix.iter_chunks(chunk_cells, features=ge), AHEAD):
        span = slice(part.start, part.stop)
        group[span], label[span] = part.group, part.label
        probability[span], group_probability[span] = part.probability, part.group_probability
        panel_genes[span] = part.panel_genes
        embedding.put(part.start, part.stop, part.embedding)
    embedding.finish()
    return {
        "group": np.asarray(hierarchy.groups, dtype=object)[group],
        "label": np.asarray(hierarchy.labels, dtype=object)[label],
        "probability": probability,
        "group_probability": group_probability,
        "panel_genes": panel_genes,
        "shared_genes": projector.shared,
        "gene_match": match,
        "warnings": [warning] if warning else [],
    }
