#!/usr/bin/env python3
"""Annotation step (local, human): label cells with the Pan-Human Azimuth v1 model."""

from pathlib import Path
from typing import Optional

import typer

from cellannotate.azimuth import CHUNK_CELLS, ENGINES, annotate_azimuth_file
from cellannotate.cli_support import matrix_option, new_app, run_app, setup_logging
from cellannotate.steps import sample_species

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = matrix_option(),
    outdir: Path = typer.Option(Path("annotations"), help="Folder that receives Azimuth/ (cell_types.csv, model.json, embedding.npy)."),
    azimuth_model: Optional[Path] = typer.Option(
        None, readable=False,
        help="Pan-Human Azimuth v1 weights (.keras); default: $CELLANNOTATE_AZIMUTH_MODEL, then the cache "
             "`cellannotate models fetch` fills, then panhumanpy's cache.",
    ),
    validation: Optional[Path] = typer.Option(None, help="validation.json of this matrix (species); inferred if omitted."),
    engine: str = typer.Option("numpy", help=f"One of {', '.join(ENGINES)}: numpy streams the matrix without "
                               "TensorFlow; panhumanpy runs panhumanpy 1.0.0 itself (TensorFlow 2.17, all in memory)."),
    chunk_cells: int = typer.Option(CHUNK_CELLS, min=1, help="Cells per chunk (memory grows with it)."),
) -> None:
    """Normalise, align to the 5,055-gene panel, predict, calibrate and label every cell; write OUTDIR/Azimuth."""
    setup_logging()
    species = sample_species(matrix, validation)
    table = annotate_azimuth_file(matrix, species, outdir, azimuth_model, engine, chunk_cells)
    typer.echo(f"Azimuth: {int(table.assigned.sum()):,} of {table.n_cells:,} cells labelled", err=True)


if __name__ == "__main__":
    run_app(app)
