"""The files a 10x Cloud analysis returns, read as Cell Ranger 10 reads them, and kept.

Three files (``cloud_cas_utils.py``): ``cas_cell_types.csv`` (``barcode``, ``coarse_cell_type``,
``fine_cell_type``, more columns when asked for), ``cas_results.json.gz`` (per-barcode
evidence) and ``metadata.json`` (``tree_version_used``, ``display_map_version_used``,
``fraction_non_informative_annotations``, ``is_beta_model``, ``developer``). As in Cell Ranger,
a table that lacks some barcodes is accepted and the fraction returned is recorded: those
cells say ``Unassigned`` and a warning says how many. Only an empty table is an error. The
service gives no per-cell confidence, so ``confidence`` stays empty. The raw files are kept
beside ``cell_types.csv``.
"""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from cellannotate.annotators.cloud import CELL_TYPES_CSV, METADATA_JSON, PUBLISHED, RESULTS_JSON
from cellannotate.celltypes import UNASSIGNED, CellTypeTable
from cellannotate.errors import CloudError
from cellannotate.io.checked import read_json
from cellannotate.redaction import redact

log = logging.getLogger(__name__)

SECRET_WINDOW = 16_384   # longer than any token, so one split across two blocks is still found
REQUIRED = (RESULTS_JSON, CELL_TYPES_CSV, METADATA_JSON)
METADATA_KEYS = ("tree_version_used", "display_map_version_used", "fraction_non_informative_annotations",
                 "is_beta_model", "developer")


def check_results_json(path: Path) -> None:
    """Stream through the per-barcode results: whole gzip, JSON-shaped, without loading it."""
    try:
        with gzip.open(path, "rb") as fh:
            first = fh.read(1 << 16).lstrip()[:1]
            while fh.read(1 << 20):
                pass
    except (OSError, EOFError) as exc:
        raise CloudError(f"10x Cloud's per-barcode results are truncated or corrupt ({exc})") from None
    if first not in (b"{", b"["):
        raise CloudError("10x Cloud's per-barcode results are not JSON")


def read_cell_types(path: Path, barcodes: np.ndarray) -> tuple[pd.DataFrame, float]:
    """The service's table in input barcode order (missing barcodes as empty rows) and the fraction returned."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise CloudError(f"10x Cloud's cell type table is malformed: {exc}") from None
    required = {"barcode", "coarse_cell_type", "fine_cell_type"}
    if not required <= set(frame.columns):
        raise CloudError(f"10x Cloud's cell type table lacks columns {sorted(required - set(frame.columns))}")
    if frame.empty:
        raise CloudError("10x Cloud returned an empty cell type table")
    if frame["barcode"].duplicated().any():
        raise CloudError("10x Cloud's cell type table lists a barcode twice")
    frame = frame.set_index("barcode")
    wanted = pd.Index(barcodes.astype(str))
    extra = frame.index.difference(wanted)
    if len(extra):
        raise CloudError(f"10x Cloud's results name {len(extra):,} barcodes not in the matrix (e.g. {extra[0]})")
    return frame.reindex(wanted), round(len(frame) / len(wanted), 3)


def read_metadata(path: Path) -> dict:
    """The metadata fields Cell Ranger reports; a malformed file is an error."""
    metadata = read_json(Path(path), "10x Cloud's metadata.json", CloudError, max_bytes=16 << 20)
    return {key: _scrubbed(metadata.get(key)) for key in METADATA_KEYS}


def _scrubbed(value):
    """A value the server sent, as it may be written: text scrubbed of remembered secrets, numbers and
    booleans as they are, anything else as scrubbed text."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


def cloud_table(folder: str, barcodes: np.ndarray, files: dict[str, Path], run: dict) -> CellTypeTable:
    """The cell type table of a finished analysis; ``run`` says what ran (model, versions, analysis id, server)."""
    check_results_json(files[RESULTS_JSON])
    frame, returned = read_cell_types(files[CELL_TYPES_CSV], barcodes)
    frame = frame.apply(lambda column: column.map(_scrubbed, na_action="ignore"))
    metadata = read_metadata(files[METADATA_JSON])
    run = {key: _scrubbed(value) for key, value in run.items()}
    missing = frame["coarse_cell_type"].isna().to_numpy()
    coarse = frame["coarse_cell_type"].fillna(UNASSIGNED).to_numpy(object)
    fine = frame["fine_cell_type"].fillna(UNASSIGNED).to_numpy(object)
    warnings = []
    if missing.any():
        warnings.append(f"10x Cloud returned labels for {1 - missing.mean():.1%} of the barcodes; the other "
                        f"{int(missing.sum()):,} cells are Unassigned")
        log.warning("warning: %s", warnings[-1])
    extra = {c: frame[c].fillna("").to_numpy(object) for c in frame.columns if c not in ("coarse_cell_type", "fine_cell_type")}
    return CellTypeTable(
        model=folder, barcodes=barcodes, broad=coarse, coarse=coarse, fine=fine,
        confidence=np.full(len(barcodes), np.nan), extra=extra,
        info={**run, **metadata, "fraction_barcodes_returned": returned, "warnings": warnings,
              "metrics": {"fraction_barcodes_returned": returned,
                          "fraction_non_informative_annotations": metadata["fraction_non_informative_annotations"]},
              "report": {"10x Cloud analysis": run["analysis_id"], "tree version": metadata["tree_version_used"],
                         "beta model": metadata["is_beta_model"],
                         "fraction of barcodes returned": returned,
                         "fraction of non-informative annotations": metadata["fraction_non_informative_annotations"]}},
        attachments={PUBLISHED[name]: files[name] for name in REQUIRED if not _holds_secret(files[name])},
    )


def _holds_secret(path: Path) -> bool:
    """Whether a raw file the service sent holds a remembered secret: such a file is not kept."""
    opener = gzip.open if str(path).endswith(".gz") else open
    tail = ""
    with opener(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            text = tail + block.decode("utf-8", "replace")
            if redact(text) != text:
                log.warning("warning: 10x Cloud's %s repeats a secret; it is not kept", Path(path).name)
                return True
            tail = text[-SECRET_WINDOW:]
    return False
