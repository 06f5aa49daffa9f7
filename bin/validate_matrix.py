#!/usr/bin/env python3
"""Step 2 of the workflow: validate a 10x HDF5 matrix and write validation.json."""

from pathlib import Path

import typer

from cellannotate.cli_support import matrix_option, new_app, run_app, setup_logging
from cellannotate.validation import validate_matrix

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = matrix_option(),
    out: Path = typer.Option(Path("validation.json"), help="Where to write the validation report (JSON)."),
) -> None:
    """Check that MATRIX can be annotated and describe it (species, kind, cell counts) in OUT."""
    setup_logging()
    report = validate_matrix(matrix)
    report.write_json(out)
    for warning in report.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"{report.n_cells:,} cells, {report.n_gene_expression_features:,} gene expression features, "
        f"species {report.species}, {report.matrix_kind}: {out}",
        err=True,
    )


if __name__ == "__main__":
    run_app(app)
