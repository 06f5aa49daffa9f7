#!/usr/bin/env python3
"""Step 6: assemble one outs/ folder (cell_types/, DE, web summary, h5ad, Loupe CSVs), atomically."""

from pathlib import Path
from typing import List, Optional

import typer

from cellannotate.assemble import assemble_outputs
from cellannotate.cli_support import sample_id_option, matrix_option, new_app, run_app, setup_logging
from cellannotate.validation import ValidationReport

app = new_app(__doc__)


@app.command()
def main(
    id: str = sample_id_option("Sample id (names the .h5ad and the report)."),
    matrix: Path = matrix_option(),
    validation: Path = typer.Option(..., help="validation.json written by validate_matrix.py for this matrix."),
    annotations: List[Path] = typer.Option(..., help="A model's annotation folder (e.g. Markers/); repeat per model."),
    outs: Path = typer.Option(Path("outs"), help="Output folder; replaced as a whole on success."),
    cloupe: Optional[Path] = typer.Option(None, help="Annotated .cloupe made by annotate_cloupe.py, to publish."),
) -> None:
    """Write OUTS from the annotation folders, or leave it untouched on any failure."""
    setup_logging()
    assemble_outputs(id, matrix, ValidationReport.read_json(validation), annotations, outs, cloupe)
    typer.echo(f"outputs: {outs}", err=True)


if __name__ == "__main__":
    run_app(app)
