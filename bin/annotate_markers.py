#!/usr/bin/env python3
"""Annotation step (offline): label cells with the marker-based model, human or mouse."""

from pathlib import Path
from typing import Optional

import typer

from cellannotate.cli_support import matrix_option, new_app, run_app, setup_logging
from cellannotate.markers import annotate_markers_file
from cellannotate.steps import sample_species

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = matrix_option(),
    outdir: Path = typer.Option(Path("annotations"), help="Folder that receives Markers/ (cell_types.csv, model.json)."),
    validation: Optional[Path] = typer.Option(None, help="validation.json of this matrix (species); inferred if omitted."),
    markers_db: Optional[Path] = typer.Option(
        None, help="Marker file or folder in pegasus JSON format (default: the pegasuspy package's curated markers)."
    ),
) -> None:
    """Score every cell against curated positive/negative markers and write OUTDIR/Markers."""
    setup_logging()
    species = sample_species(matrix, validation)
    table = annotate_markers_file(matrix, species, outdir, markers_db)
    typer.echo(f"Markers: {int(table.assigned.sum()):,} of {table.n_cells:,} cells labelled", err=True)


if __name__ == "__main__":
    run_app(app)
