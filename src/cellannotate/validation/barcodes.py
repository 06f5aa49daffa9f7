"""Barcode checks that stream: duplicates and the kind of matrix, in bounded memory.

A Visium HD file can hold tens of millions of barcodes; as Python strings they take about
100 bytes each, so nothing here holds them all. Duplicates are found through a 64-bit
FNV-1a hash of every barcode (8 bytes each, sorted in place); the few hashes that repeat
are checked against the barcodes themselves in a second pass, so a hash collision is
never reported as a duplicate. The kind of matrix is decided on an even sample.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from cellannotate.io.tenx_h5 import TenxMatrix

SEGMENTED, BINNED, SPOTS, SINGLE_CELL, UNKNOWN_KIND = "segmented", "binned", "spots", "single_cell", "unknown"
# Barcodes looked at to decide the kind: enough for the 90% rule to be exact to well under 1%.
KIND_SAMPLE = 100_000
# Repeated hashes checked against the barcodes; beyond this the count is the hash count.
MAX_CHECKED = 1_000
CHUNK = 1_000_000

_SEGMENTED = re.compile(r"^cellid_\d+-\d+$")
_BINNED = re.compile(r"^s_(\d{3})um_\d+_\d+-\d+$")
_SEQUENCE = re.compile(r"^[ACGTN]{8,}-\d+$")
_FNV_OFFSET, _FNV_PRIME = np.uint64(14695981039346656037), np.uint64(1099511628211)


def hash_barcodes(values: np.ndarray) -> np.ndarray:
    """64-bit FNV-1a of each fixed-width ``bytes`` barcode, ``(n,)`` uint64.

    Padding NULs are skipped, so a barcode hashes the same whatever the array's width.
    """
    codes = values.view(np.uint8).reshape(len(values), values.dtype.itemsize)
    hashes = np.full(len(values), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in codes.T:
            byte = column.astype(np.uint64)
            hashes = np.where(column != 0, (hashes ^ byte) * _FNV_PRIME, hashes)
    return hashes


@dataclass(frozen=True)
class Duplicates:
    """Barcodes that occur more than once: how many distinct ones, and one to show."""

    count: int
    example: str | None


def find_duplicates(matrix: TenxMatrix) -> Duplicates:
    """Duplicate barcodes of ``matrix``, with memory of 8 bytes a barcode plus one chunk."""
    hashes = np.empty(matrix.n_cells, dtype=np.uint64)
    start = 0
    for values in matrix.barcode_chunks(CHUNK):
        hashes[start : start + len(values)] = hash_barcodes(values)
        start += len(values)
    hashes.sort()
    repeated = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
    del hashes
    if not len(repeated):
        return Duplicates(0, None)
    checked = repeated[:MAX_CHECKED]
    seen: dict[int, Counter] = {}
    for values in matrix.barcode_chunks(CHUNK):
        digests = hash_barcodes(values)
        hit = np.isin(digests, checked)
        for value, digest in zip(values[hit], digests[hit]):
            seen.setdefault(int(digest), Counter())[bytes(value)] += 1
    duplicated = [b for counts in seen.values() for b, n in counts.items() if n > 1]
    if not duplicated:
        return Duplicates(0, None)
    count = len(duplicated) if len(repeated) <= MAX_CHECKED else len(repeated)
    return Duplicates(count, min(duplicated).decode("utf-8", "replace"))


def classify_barcodes(barcodes, software_version: str, chemistry: str) -> tuple[str, int | None]:
    """Return the matrix kind and, for binned Visium HD, the bin size in µm.

    Visium HD barcodes say what they are (``cellid_000000001-1`` for segmented cells,
    ``s_008um_00001_00002-1`` for 8 µm bins). Sequence barcodes are single cells, or
    Visium spots when Space Ranger made the file. A kind needs 90% of the barcodes.
    """
    if len(barcodes) == 0:
        return UNKNOWN_KIND, None
    kinds, bin_sizes = Counter(), Counter()
    for barcode in barcodes:
        if _SEGMENTED.match(barcode):
            kinds[SEGMENTED] += 1
        elif m := _BINNED.match(barcode):
            kinds[BINNED] += 1
            bin_sizes[int(m.group(1))] += 1
        elif _SEQUENCE.match(barcode):
            kinds["sequence"] += 1
    kind, count = kinds.most_common(1)[0] if kinds else (UNKNOWN_KIND, 0)
    if count < 0.9 * len(barcodes):
        return UNKNOWN_KIND, None
    if kind == BINNED:
        return BINNED, bin_sizes.most_common(1)[0][0]
    if kind == "sequence":
        spatial = software_version.lower().startswith("spaceranger") or "visium" in chemistry.lower()
        return (SPOTS if spatial else SINGLE_CELL), None
    return kind, None


def sample_barcodes(matrix: TenxMatrix, size: int = KIND_SAMPLE) -> list[str]:
    """Up to ``size`` barcodes spread evenly over the file, as ``str``."""
    step = max(1, -(-matrix.n_cells // size))
    chunk = max(step, CHUNK - CHUNK % step)  # a multiple of step, so the stride runs on across chunks
    return [v.decode("utf-8", "replace") for values in matrix.barcode_chunks(chunk) for v in values[::step]]
