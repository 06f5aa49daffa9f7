"""The annotated Loupe file, through 10x's own converter.

``.cloupe`` is a closed format that only 10x's ``louper`` executable (the one the open
R package loupeR drives) can write: ``louper create --input=IN.h5 --output=OUT.cloupe``,
where ``IN.h5`` is an interchange file holding the count matrix (10x layout), clusters
(categorical groups) and projections. We write that file with the cell types as
clusters (the primary model's coarse types as the group "Cell Types", as Space Ranger
names it) and the models' 2-D projections, and run the converter. louper builds a new
file from the matrix; it cannot edit the given one, which we check and record.

Without a converter nothing claiming to be ``.cloupe`` is written; the Loupe-importable
``cell_types_loupe.csv`` files carry the same categories.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np

from cellannotate import __version__
from cellannotate.io.atomic import atomic_path, ensure_folder, staging_folder
from cellannotate.celltypes import CellTypeTable
from cellannotate.distinct import distinct
from cellannotate.errors import CellAnnotateError
from cellannotate.io.tenx_h5 import DEFAULT_CHUNK_CELLS, TenxH5Writer, TenxMatrix

log = logging.getLogger(__name__)

CONVERTER_ENV = "CELLANNOTATE_LOUPE_CONVERTER"
CONVERTER_TIMEOUT_S = 6 * 3600
MIN_CLOUPE_BYTES = 64
_NOT_CLOUPE = {
    b"\x89HDF\r\n\x1a\n": "an HDF5 file (the matrix?)",
    b"\x1f\x8b": "a gzip file",
    b"PK\x03\x04": "a zip file",
}


class CloupeError(CellAnnotateError):
    """The given .cloupe or the converter is unusable."""


def check_cloupe(path: Path) -> dict:
    """Check that ``path`` can be a Loupe file; return what was checked.

    The format is closed, so this rules out what it is clearly not: missing, not a
    regular file, unreadable, tiny, or another known format (a common slip is passing
    the matrix .h5 as ``--cloupe``).
    """
    path = Path(path)
    if not path.exists():
        raise CloupeError(f"--cloupe file not found: {path}")
    if not path.is_file():
        raise CloupeError(f"--cloupe is not a regular file: {path}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise CloupeError(f"cannot read --cloupe file {path}: {exc.strerror}") from None
    size = path.stat().st_size
    if size < MIN_CLOUPE_BYTES:
        raise CloupeError(f"--cloupe file {path} is too small to be a Loupe file ({size} bytes)")
    for magic, what in _NOT_CLOUPE.items():
        if head.startswith(magic):
            raise CloupeError(f"--cloupe file {path} is {what}, not a Loupe .cloupe file")
    if head.lstrip()[:1] in (b"<", b"{", b"["):
        raise CloupeError(f"--cloupe file {path} is a text file, not a Loupe .cloupe file")
    return {"path": str(path), "bytes": size, "suffix_ok": path.suffix.lower() == ".cloupe"}


def _ascii(values) -> np.ndarray:
    encoded = [str(v).encode("ascii", "replace") for v in values]
    return np.array(encoded, dtype=f"S{max((len(v) for v in encoded), default=1) or 1}")


def _groups(tables: list[CellTypeTable]) -> list[tuple[str, np.ndarray]]:
    """(group name, per-cell labels): "Cell Types" from the primary model, then every model's levels."""
    groups = [("Cell Types", tables[0].coarse)]
    for table in tables:
        groups += [(f"{table.model} Cell Types", table.coarse), (f"{table.model} Fine Cell Types", table.fine)]
    return groups


def write_louper_input(path: Path, matrix: TenxMatrix, tables: list[CellTypeTable], chunk_cells: int = DEFAULT_CHUNK_CELLS) -> None:
    """Write louper's interchange HDF5: gene-expression matrix, cell types, projections."""
    ge = matrix.gene_expression_columns
    with TenxH5Writer(path, matrix.features.subset(ge), matrix.barcodes) as writer:
        for chunk in matrix.iter_chunks(chunk_cells, features=ge):
            writer.append(chunk.counts)
    with h5py.File(path, "r+") as h5:
        clusters = h5.create_group("clusters")
        for name, labels in _groups(tables):
            names, codes = distinct(labels)
            cluster = clusters.create_group(name)
            cluster.create_dataset("name", data=_ascii([name])[0])
            cluster.create_dataset("group_names", data=_ascii(names))
            cluster.create_dataset("assignments", data=codes.astype(np.int64))
            cluster.create_dataset("score", data=0.0)
            cluster.create_dataset("clustering_type", data=_ascii(["unknown"])[0])
        projections = h5.create_group("projections")
        for table in tables:
            if table.projection is None:
                continue
            name = f"{table.model} projection"
            projection = projections.create_group(name)
            projection.create_dataset("name", data=_ascii([name])[0])
            projection.create_dataset("method", data=_ascii([name])[0])
            projection.create_dataset("data", data=table.projection.astype(np.float64))
        meta = h5.create_group("metadata")
        meta.create_dataset("tool", data=_ascii(["cellannotate"])[0])
        meta.create_dataset("tool_version", data=_ascii([__version__])[0])


def find_converter(converter: Path | None) -> Path | None:
    """The louper executable to use: the argument, else ``$CELLANNOTATE_LOUPE_CONVERTER``, else none."""
    converter = converter or (Path(os.environ[CONVERTER_ENV]) if os.environ.get(CONVERTER_ENV) else None)
    if converter is None:
        return None
    if not converter.is_file() or not os.access(converter, os.X_OK):
        raise CloupeError(f"Loupe converter is not an executable file: {converter}")
    # Absolute, so that a converter staged in the working folder is not looked up on PATH.
    return converter.resolve()


def make_annotated_cloupe(
    converter: Path, matrix: TenxMatrix, tables: list[CellTypeTable], dest: Path
) -> None:
    """Run louper on an interchange file of ``matrix`` and ``tables``; ``dest`` appears only if it succeeds."""
    with staging_folder(ensure_folder(Path(dest).parent), ".cellannotate-louper-") as tmp:
        interchange = Path(tmp) / "louper_input.h5"
        write_louper_input(interchange, matrix, tables)
        out = Path(tmp) / "annotated.cloupe"
        cmd = [str(converter), "create", f"--input={interchange}", f"--output={out}", "--force"]
        log.info("running the Loupe converter: %s", " ".join(cmd))
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=CONVERTER_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise CloupeError(f"the Loupe converter could not run: {exc}") from None
        if result.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise CloupeError(f"the Loupe converter failed (exit {result.returncode}): {last[0]}")
        with atomic_path(Path(dest)) as final:
            os.replace(out, final)


def annotate_cloupe(
    matrix_path: Path, cloupe: Path, annotation_dirs: list[Path], dest: Path, converter: Path | None = None
) -> str:
    """Step 5: check ``cloupe``; write ``dest`` if a converter is configured. Returns what happened, in one line."""
    check_cloupe(cloupe)
    converter = find_converter(converter)
    if converter is None:
        return (
            "note: an annotated .cloupe needs 10x's Loupe converter (louper): pass --loupe-converter or set "
            f"{CONVERTER_ENV}; meanwhile import cell_types/<Model>/cell_types_loupe.csv into Loupe Browser"
        )
    tables = [CellTypeTable.read(folder) for folder in annotation_dirs]
    with TenxMatrix(matrix_path) as matrix:
        make_annotated_cloupe(converter, matrix, tables, dest)
    return f"annotated Loupe file: {dest}"
