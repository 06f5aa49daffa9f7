"""Sample ids: they name folders and files, so they must not be able to name anything else.

Space Ranger's rule: letters, digits, hyphens and underscores, at most 64 characters. That
rules out an empty id, ``.``, ``..``, absolute paths and separators, so ``OUTDIR`` (``./ID``
by default) and ``<id>.h5ad`` always stay where the user expects.
"""

from __future__ import annotations

import re

from cellannotate.errors import UsageError

MAX_LENGTH = 64
PATTERN = re.compile("[A-Za-z0-9_-]{1,%d}" % MAX_LENGTH)


def check_sample_id(sample_id: str) -> str:
    """Return ``sample_id`` if it follows Space Ranger's rule, else raise :class:`UsageError`."""
    if not PATTERN.fullmatch(sample_id):
        shown = sample_id if len(sample_id) <= MAX_LENGTH else sample_id[:MAX_LENGTH] + "..."
        raise UsageError(
            f"--id {shown!r} is not a valid sample id: use 1 to {MAX_LENGTH} letters, digits, '-' or '_'"
        )
    return sample_id
