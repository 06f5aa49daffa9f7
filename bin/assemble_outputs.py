#!/usr/bin/env python3
"""Step 6: assemble one outs/ folder (cell_types/, DE, web summary, h5ad, Loupe CSVs), atomically."""

from cellannotate.entry import interrupt_quietly

interrupt_quietly()  # before the imports: Ctrl-C while they load is one line too

from pathlib import Path
from typing import List, Optional

import typer

from cellannotate import cli_options as opt
from cellannotate.cli_support import new_app, run_app, setup_logging
from cellannotate.outputs.assemble import assemble_outputs
from cellannotate.validation.report import ValidationReport

app = new_app(__doc__)


@app.command()
def main(
    id: str = opt.sample_id("Sample id (names the .h5ad and the report)."),
    matrix: Path = opt.matrix(),
    validation: Path = opt.validation(),
    annotations: List[Path] = opt.annotations(),
    outs: Path = typer.Option(Path("outs"), readable=False, help="Output folder; replaced as a whole on success."),
    cloupe: Optional[Path] = opt.cloupe(None, "Annotated .cloupe made by annotate_cloupe.py, to publish."),
    spaceranger_outs: Optional[Path] = opt.spaceranger_outs(),
    multiqc: Optional[Path] = typer.Option(None, readable=False, help="Folder for MultiQC custom content "
                                           "(<id>_validation_mqc.tsv, <id>_<model>_cell_types_mqc.tsv)."),
) -> None:
    """Write OUTS from the annotation folders, or leave it untouched on any failure."""
    setup_logging()
    assemble_outputs(id, matrix, ValidationReport.read_json(validation), annotations, outs, cloupe, spaceranger_outs,
                     multiqc)
    typer.echo(f"outputs: {outs}", err=True)


if __name__ == "__main__":
    run_app(app)
