"""Per-cell labels from one model: the object every annotation step returns.

A :class:`CellTypeTable` is what crosses step boundaries. Each annotation step writes
one as a folder (``cell_types.csv``, ``model.json`` and, when the model has them, a 2-D
``projection.npy`` for plotting and an ``embedding.npy``); output assembly reads them back.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cellannotate.distinct import distinct
from cellannotate.io.atomic import atomic_directory
from cellannotate.io.npy import NpyRows
from cellannotate.io.checked import check_regular, read_json
from cellannotate.errors import OutputError

UNASSIGNED = "Unassigned"
LABEL_COLUMNS = ("broad_cell_type", "coarse_cell_type", "fine_cell_type")
CSV_NAME, MODEL_NAME, PROJECTION_NAME = "cell_types.csv", "model.json", "projection.npy"
# A model's full per-cell embedding (Azimuth's ``dense_3``), kept for the .h5ad's ``obsm``.
EMBEDDING_NAME = "embedding.npy"


@dataclass
class CellTypeTable:
    """Labels of every input barcode, in input order, from one model.

    Attributes
    ----------
    model : output folder name (``Azimuth``, ``10x_Cloud``, ``Markers``).
    barcodes : array of ``str``, ``(n_cells,)``.
    broad, coarse, fine : arrays of ``str``, ``(n_cells,)``; :data:`UNASSIGNED` where the
        model could not label a cell.
    confidence : float array ``(n_cells,)`` in [0, 1]; NaN where unassigned.
    extra : further per-cell columns written after the standard ones.
    projection : optional ``(n_cells, 2)`` float array, a 2-D view for plots.
    info : what ran (model name and version, database, licence, thresholds).
    attachments : files written with the table (name -> path), e.g. ``embedding.npy``.
    """

    model: str
    barcodes: np.ndarray
    broad: np.ndarray
    coarse: np.ndarray
    fine: np.ndarray
    confidence: np.ndarray
    extra: dict = field(default_factory=dict)
    projection: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    attachments: dict = field(default_factory=dict)

    def __post_init__(self):
        n = len(self.barcodes)
        for name in ("broad", "coarse", "fine", "confidence"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries for {n} barcodes")
        if self.projection is not None and self.projection.shape != (n, 2):
            raise ValueError(f"projection must be ({n}, 2), not {self.projection.shape}")

    @property
    def n_cells(self) -> int:
        """Number of cells (barcodes)."""
        return len(self.barcodes)

    @property
    def assigned(self) -> np.ndarray:
        """Per cell, whether the model gave it a label (not Unassigned)."""
        return self.coarse != UNASSIGNED

    def attach_embedding(self, path: Path, description: str) -> None:
        """Keep the per-cell embedding written at ``path`` (``(n_cells, d)`` .npy) with the table:
        it goes into the model's folder, the UMAP and the .h5ad's ``obsm``."""
        self.attachments[EMBEDDING_NAME] = Path(path)
        self.info["embedding"] = description

    def frame(self) -> pd.DataFrame:
        """The ``cell_types.csv`` table."""
        columns = {"barcode": self.barcodes}
        columns.update(zip(LABEL_COLUMNS, (self.broad, self.coarse, self.fine)))
        columns["confidence"] = np.round(self.confidence.astype(float), 6)
        columns.update(self.extra)
        return pd.DataFrame(columns)

    def counts(self, level: str = "coarse") -> dict[str, int]:
        """Cells per label at ``level``, largest first, :data:`UNASSIGNED` last."""
        values, codes = distinct(getattr(self, level))
        counts = np.bincount(codes, minlength=len(values))
        order = sorted(zip(values, counts), key=lambda vc: (vc[0] == UNASSIGNED, -vc[1], vc[0]))
        return {str(v): int(c) for v, c in order}

    def write(self, folder: Path) -> None:
        """Write the folder whole or not at all, with the :attr:`attachments` copied in."""
        with atomic_directory(Path(folder)) as tmp:
            for name, source in self.attachments.items():
                shutil.copyfile(source, tmp / name)
            self.frame().to_csv(tmp / CSV_NAME, index=False)
            (tmp / MODEL_NAME).write_text(json.dumps({"model": self.model, **self.info}, indent=2) + "\n")
            if self.projection is not None:
                np.save(tmp / PROJECTION_NAME, self.projection.astype(np.float32))

    @classmethod
    def read(cls, folder: Path) -> "CellTypeTable":
        """Read a folder written by :meth:`write`; anything missing, truncated or malformed is an
        :class:`OutputError` naming the file."""
        folder = Path(folder)
        csv_path = folder / CSV_NAME
        info = read_json(folder / MODEL_NAME, "annotation record", OutputError)
        _check_info(info, folder / MODEL_NAME)
        check_regular(csv_path, "annotation table", OutputError)
        try:
            with open(csv_path, "rb") as fh:
                fh.seek(0, 2)
                if fh.tell() == 0 or (fh.seek(-1, 2), fh.read(1))[1] != b"\n":
                    raise ValueError("the file is empty or does not end with a newline (truncated?)")
            frame = pd.read_csv(csv_path, dtype={c: str for c in ("barcode", *LABEL_COLUMNS)}, keep_default_na=False,
                                low_memory=False)
            projection = load_rows(folder / PROJECTION_NAME) if (folder / PROJECTION_NAME).exists() else None
        except (OSError, ValueError) as exc:
            raise OutputError(f"cannot read the annotation folder {folder} ({CSV_NAME}, {MODEL_NAME}): {exc}") from None
        standard = {"barcode", *LABEL_COLUMNS, "confidence"}
        missing = standard - set(frame.columns)
        if missing:
            raise OutputError(f"{csv_path} lacks columns: {', '.join(sorted(missing))}")
        if (frame[["barcode", *LABEL_COLUMNS]] == "").any(axis=None):
            raise OutputError(f"{csv_path} has rows without a barcode or label (truncated or edited?)")
        try:
            return cls(
                model=info.pop("model"),
                barcodes=frame["barcode"].to_numpy(object),
                broad=frame["broad_cell_type"].to_numpy(object),
                coarse=frame["coarse_cell_type"].to_numpy(object),
                fine=frame["fine_cell_type"].to_numpy(object),
                confidence=pd.to_numeric(frame["confidence"], errors="coerce").to_numpy(float),
                extra={c: frame[c].to_numpy() for c in frame.columns if c not in standard},
                projection=projection,
                info=info,
            )
        except ValueError as exc:
            raise OutputError(f"{folder}: {exc}") from None


# A model's folder name: it becomes a folder under outs/cell_types/, so no separator and no dots alone.
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def _check_info(info: dict, path: Path) -> None:
    """Refuse a ``model.json`` that names no safe folder or whose report fields have the wrong shape."""
    model = info.get("model")
    if not isinstance(model, str) or not _FOLDER_NAME.fullmatch(model):
        raise OutputError(f"{path} names no model folder (letters, digits, '_', '-', '.'; at most 64)")
    for key, kind in (("metrics", dict), ("report", dict), ("warnings", list)):
        if key in info and not isinstance(info[key], kind):
            raise OutputError(f"{path}: '{key}' should be a JSON {kind.__name__}")
    if not all(isinstance(w, str) for w in info.get("warnings", [])):
        raise OutputError(f"{path}: 'warnings' should hold text only")


def load_rows(path: Path, lazy: bool = False) -> np.ndarray | NpyRows:
    """A per-cell ``(n_cells, d)`` float array saved as ``.npy`` (a projection, an embedding), checked:
    a regular file, numbers only, two dimensions; anything else is an :class:`OutputError`. ``lazy``:
    read later, a block of rows at a time (:class:`~cellannotate.io.npy.NpyRows`)."""
    check_regular(path, "per-cell array", OutputError)
    try:
        array = NpyRows(path) if lazy else np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise OutputError(f"cannot read the per-cell array {path} ({type(exc).__name__}): truncated or not .npy?") from None
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise OutputError(f"{path} is not a (cells, dimensions) array of numbers")
    return array
