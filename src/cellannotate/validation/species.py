"""Infer the species of a matrix from its features.

The models are species specific (Azimuth: human; cloud: human or mouse), so the call
must be right or clearly "unknown". Evidence, strongest first: Ensembl gene ids
(``ENSG`` human, ``ENSMUSG`` mouse), then the reference genome name, then the casing
of gene symbols (human symbols are upper case, ``CD3E``; mouse ones are capitalised,
``Cd3e``). Barnyard references carry both and are reported as ``mixed``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

HUMAN, MOUSE, MIXED, UNKNOWN = "human", "mouse", "mixed", "unknown"

_HUMAN_ID = re.compile(r"ENSG\d{6,}")
_MOUSE_ID = re.compile(r"ENSMUSG\d{6,}")
_HUMAN_GENOME = re.compile(r"grch|hg\d\d|homo|human", re.IGNORECASE)
_MOUSE_GENOME = re.compile(r"grcm|mm\d\d|mus_|musculus|mouse", re.IGNORECASE)
_UPPER_SYMBOL = re.compile(r"^[A-Z][A-Z0-9]*[A-Z][A-Z0-9-]*$")
_MOUSE_SYMBOL = re.compile(r"^[A-Z][a-z][a-z0-9]*$")

# A source decides when at least this share of its informative features agree, and
# calls "mixed" when the minority share is at least MIXED_SHARE.
DECIDE_SHARE = 0.8
MIXED_SHARE = 0.1
MIN_SYMBOLS = 20


@dataclass(frozen=True)
class SpeciesCall:
    """The species of a matrix and the evidence that decided it."""

    species: str
    evidence: str
    detail: dict

    def to_dict(self) -> dict:
        """The call as JSON-ready data."""
        return {"species": self.species, "evidence": self.evidence, **self.detail}


def _vote(human: int, mouse: int, minimum: int = 1) -> str | None:
    total = human + mouse
    if total < minimum:
        return None
    if min(human, mouse) / total >= MIXED_SHARE:
        return MIXED
    if human / total >= DECIDE_SHARE:
        return HUMAN
    if mouse / total >= DECIDE_SHARE:
        return MOUSE
    return None


def _count(pattern: re.Pattern, values: np.ndarray) -> int:
    return sum(1 for v in values if pattern.search(v))


def infer_species(ids: np.ndarray, names: np.ndarray, genomes: np.ndarray) -> SpeciesCall:
    """Call ``human``, ``mouse``, ``mixed`` or ``unknown`` for gene-expression features.

    Parameters
    ----------
    ids, names, genomes : arrays of ``str``, one entry per gene-expression feature.
    """
    human_ids, mouse_ids = _count(_HUMAN_ID, ids), _count(_MOUSE_ID, ids)
    call = _vote(human_ids, mouse_ids)
    if call:
        return SpeciesCall(call, "gene_ids", {"human_gene_ids": human_ids, "mouse_gene_ids": mouse_ids})

    unique_genomes = sorted({g for g in genomes if g})
    human_genomes = [g for g in unique_genomes if _HUMAN_GENOME.search(g)]
    mouse_genomes = [g for g in unique_genomes if _MOUSE_GENOME.search(g)]
    if human_genomes and mouse_genomes:
        return SpeciesCall(MIXED, "genome", {"genomes": unique_genomes})
    if human_genomes or mouse_genomes:
        return SpeciesCall(HUMAN if human_genomes else MOUSE, "genome", {"genomes": unique_genomes})

    upper, capitalised = _count(_UPPER_SYMBOL, names), _count(_MOUSE_SYMBOL, names)
    call = _vote(upper, capitalised, minimum=MIN_SYMBOLS)
    detail = {"upper_case_symbols": upper, "capitalised_symbols": capitalised, "genomes": unique_genomes}
    if call:
        return SpeciesCall(call, "gene_symbols", detail)
    return SpeciesCall(UNKNOWN, "none", detail)
