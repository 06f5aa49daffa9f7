#!/usr/bin/env python3
"""Annotation step: label cells with a 10x Cloud model (human or mouse, needs a token)."""

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
    tenx_cloud_token_path: Optional[Path] = opt.tenx_cloud_token_path(),
    outdir: Path = opt.outdir(Path("annotations"), "Folder that receives 10x_Cloud/."),
    cloud_url: Optional[str] = opt.cloud_url(),
    job_dir: Optional[Path] = typer.Option(
        None, readable=False,
        help="Where running jobs are remembered for re-attaching (default: $CELLANNOTATE_CLOUD_JOBS or ~/.cache).",
    ),
    poll_interval: Optional[float] = typer.Option(None, min=0, help="Seconds between status checks (default 30)."),
) -> None:
    """Upload MATRIX, wait for the 10x Cloud analysis, and write OUTDIR/10x_Cloud.

    The model is the one validate_matrix.py was asked for (--cell-annotation-model), else auto.
    """
    setup_logging()
    options = ModelOptions(tenx_cloud_token_path=tenx_cloud_token_path, cloud_url=cloud_url, cloud_job_dir=job_dir,
                           cloud_poll_interval=poll_interval)
    table = annotate_step(registry.get("10x_cloud"), matrix, validation, options, outdir)
    typer.echo(f"10x Cloud: {table.n_cells:,} cells labelled with {table.info['model_name']}", err=True)


if __name__ == "__main__":
    run_app(app)
