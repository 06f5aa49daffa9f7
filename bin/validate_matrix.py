#!/usr/bin/env python3
"""Step 2: validate a 10x HDF5 matrix, plan the models for it, and write validation.json."""

from cellannotate.entry import interrupt_quietly

interrupt_quietly()  # before the imports: Ctrl-C while they load is one line too

from pathlib import Path
from typing import Optional

import typer

from cellannotate import cli_options as opt
from cellannotate.annotators.plan import validate_and_plan
from cellannotate.cli_support import new_app, run_app, setup_logging

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = opt.matrix(),
    cell_annotation_model: Optional[str] = opt.cell_annotation_model(),
    out: Path = typer.Option(Path("validation.json"), readable=False, help="Where to write the validation report (JSON)."),
) -> None:
    """Check that MATRIX can be annotated, describe it (species, kind, cell counts) and plan its models, in OUT."""
    setup_logging()
    report = validate_and_plan(matrix, cell_annotation_model)
    report.write_json(out)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"{report.n_cells:,} cells, {report.n_gene_expression_features:,} gene expression features, "
        f"species {report.species}, {report.matrix_kind}; models: {', '.join(report.models)}: {out}",
        err=True,
    )


if __name__ == "__main__":
    run_app(app)
