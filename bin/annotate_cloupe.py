#!/usr/bin/env python3
"""Step 5: check the given .cloupe and, with 10x's Loupe converter, write the annotated .cloupe."""

from cellannotate.entry import interrupt_quietly

interrupt_quietly()  # before the imports: Ctrl-C while they load is one line too

from pathlib import Path
from typing import List, Optional

import typer

from cellannotate import cli_options as opt
from cellannotate.cli_support import new_app, run_app, setup_logging
from cellannotate.outputs.cloupe import annotate_cloupe

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = opt.matrix(),
    cloupe: Path = opt.cloupe(..., "The sample's Loupe .cloupe file."),
    annotations: List[Path] = opt.annotations(),
    out: Path = typer.Option(Path("cell_annotation_sample_cloupe.cloupe"), readable=False, help="Annotated .cloupe to write."),
    loupe_converter: Optional[Path] = opt.loupe_converter(),
) -> None:
    """Write OUT with the cell types as Loupe groups, or explain why not (exit 0, no file)."""
    setup_logging()
    message = annotate_cloupe(matrix, cloupe, annotations, out, loupe_converter)
    typer.echo(message, err=True)


if __name__ == "__main__":
    run_app(app)
