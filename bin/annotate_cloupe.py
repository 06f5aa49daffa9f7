#!/usr/bin/env python3
"""Step 5: check the given .cloupe and, with 10x's Loupe converter, write the annotated .cloupe."""

from pathlib import Path
from typing import List, Optional

import typer

from cellannotate.cli_support import matrix_option, new_app, run_app, setup_logging
from cellannotate.cloupe import annotate_cloupe

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = matrix_option(),
    cloupe: Path = typer.Option(..., readable=False, help="The sample's Loupe .cloupe file."),
    annotations: List[Path] = typer.Option(..., help="A model's annotation folder (e.g. Markers/); repeat per model."),
    out: Path = typer.Option(Path("cell_annotation_sample_cloupe.cloupe"), help="Annotated .cloupe to write."),
    loupe_converter: Optional[Path] = typer.Option(
        None, help="10x's louper executable (default: $CELLANNOTATE_LOUPE_CONVERTER); without it no .cloupe is made."
    ),
) -> None:
    """Write OUT with the cell types as Loupe groups, or explain why not (exit 0, no file)."""
    setup_logging()
    message = annotate_cloupe(matrix, cloupe, annotations, out, loupe_converter)
    typer.echo(message, err=True)


if __name__ == "__main__":
    run_app(app)
