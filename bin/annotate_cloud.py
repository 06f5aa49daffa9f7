#!/usr/bin/env python3
"""Annotation step: label cells with a 10x Cloud model (human or mouse, needs a token)."""

from pathlib import Path
from typing import Optional

import typer

from cellannotate.cli_support import matrix_option, new_app, run_app, setup_logging
from cellannotate.cloud_annotate import annotate_cloud, settings_from_env
from cellannotate.models import CLOUD_MODELS
from cellannotate.token import read_token
from cellannotate.validation import ValidationReport, validate_matrix

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = matrix_option(),
    cell_annotation_model: str = typer.Option(
        "auto", help=f"One of {', '.join(CLOUD_MODELS)}; auto picks the model for the sample's species."
    ),
    tenx_cloud_token_path: Optional[Path] = typer.Option(
        None, readable=False, help="File holding the 10x Cloud token (default: $TENX_CLOUD_TOKEN, then the saved location)."
    ),
    outdir: Path = typer.Option(Path("annotations"), help="Folder that receives 10x_Cloud/."),
    validation: Optional[Path] = typer.Option(None, help="validation.json of this matrix; validated here if omitted."),
    cloud_url: Optional[str] = typer.Option(
        None, help="Server base URL (default: $CELLANNOTATE_CLOUD_URL or https://cloud.10xgenomics.com)."
    ),
    job_dir: Optional[Path] = typer.Option(
        None, help="Where running jobs are remembered for re-attaching (default: $CELLANNOTATE_CLOUD_JOBS or ~/.cache)."
    ),
    poll_interval: Optional[float] = typer.Option(None, min=0, help="Seconds between status checks (default 30)."),
) -> None:
    """Upload MATRIX, wait for the 10x Cloud analysis, and write OUTDIR/10x_Cloud."""
    setup_logging()
    token = read_token(tenx_cloud_token_path)
    report = ValidationReport.read_json(validation) if validation else validate_matrix(matrix)
    table = annotate_cloud(matrix, report, cell_annotation_model, token, outdir,
                           settings_from_env(cloud_url, poll_interval), job_dir=job_dir)
    typer.echo(f"10x Cloud: {table.n_cells:,} cells labelled with {table.info['model_name']}", err=True)


if __name__ == "__main__":
    run_app(app)
