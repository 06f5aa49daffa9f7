#!/usr/bin/env python3
"""Annotation step (local, human): label cells with the Pan-Human Azimuth v1 model."""

from pathlib import Path
from typing import Optional

import typer

from cellannotate import cli_options as opt
from cellannotate.annotators import ModelOptions, annotate_step, registry
from cellannotate.annotators.azimuth.engine import CHUNK_CELLS, ENGINES
from cellannotate.cli_support import new_app, run_app, setup_logging

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = opt.matrix(),
    validation: Path = opt.validation(),
    outdir: Path = opt.outdir(Path("annotations"), "Folder that receives Azimuth/ (cell_types.csv, model.json, embedding.npy)."),
    azimuth_model: Optional[Path] = opt.azimuth_model(),
    engine: str = typer.Option("numpy", help=f"One of {', '.join(ENGINES)}: numpy streams the matrix without "
                               "TensorFlow; panhumanpy runs panhumanpy 1.0.0 itself (TensorFlow 2.17, all in memory)."),
    chunk_cells: int = typer.Option(CHUNK_CELLS, min=1, help="Cells per chunk (memory grows with it)."),
) -> None:
    """Normalise, align to the 5,055-gene panel, predict, calibrate and label every cell; write OUTDIR/Azimuth."""
    setup_logging()
    options = ModelOptions(azimuth_model=azimuth_model, azimuth_engine=engine, chunk_cells=chunk_cells)
    table = annotate_step(registry.get("azimuth"), matrix, validation, options, outdir)
    typer.echo(f"Azimuth: {int(table.assigned.sum()):,} of {table.n_cells:,} cells labelled", err=True)


if __name__ == "__main__":
    run_app(app)
