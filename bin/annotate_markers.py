#!/usr/bin/env python3
"""Annotation step (offline): label cells with the marker-based model, human or mouse."""

from pathlib import Path
from typing import Optional

import typer

from cellannotate import cli_options as opt
from cellannotate.annotators import ModelOptions, annotate_step, registry
from cellannotate.cli_support import new_app, run_app, setup_logging

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = opt.matrix(),
    validation: Path = opt.validation(),
    outdir: Path = opt.outdir(Path("annotations"), "Folder that receives Markers/ (cell_types.csv, model.json)."),
    markers_db: Optional[Path] = opt.markers_db(),
    markers_tissue: Optional[str] = opt.markers_tissue(),
    markers_neighbours: Optional[int] = opt.markers_neighbours(),
) -> None:
    """Score every cell against curated positive/negative markers and write OUTDIR/Markers."""
    setup_logging()
    options = ModelOptions(markers_db=markers_db, markers_tissue=markers_tissue, markers_neighbours=markers_neighbours)
    table = annotate_step(registry.get("markers"), matrix, validation, options, outdir)
    typer.echo(f"Markers: {int(table.assigned.sum()):,} of {table.n_cells:,} cells labelled", err=True)


if __name__ == "__main__":
    run_app(app)
