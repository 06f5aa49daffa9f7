#!/usr/bin/env python3
"""Annotation step (local, human, offline): label cells with actinn-jax's panhuman_distill_v1,
a network distilled from Pan-Human Azimuth, in numpy."""

from pathlib import Path
from typing import Optional

import typer

from cellannotate import cli_options as opt
from cellannotate.annotators import ModelOptions, annotate_step, registry
from cellannotate.annotators.distill.engine import CHUNK_CELLS
from cellannotate.cli_support import new_app, run_app, setup_logging

app = new_app(__doc__)


@app.command()
def main(
    matrix: Path = opt.matrix(),
    validation: Path = opt.validation(),
    outdir: Path = opt.outdir(Path("annotations"), "Folder that receives PanHumanDistill/ (cell_types.csv, model.json, embedding.npy)."),
    distill_reference: Optional[Path] = opt.distill_reference(),
    chunk_cells: int = typer.Option(CHUNK_CELLS, min=1, help="Cells per chunk (memory grows with it)."),
) -> None:
    """Match genes by Ensembl id, normalise over the panel, run the coarse and fine networks; write OUTDIR/PanHumanDistill."""
    setup_logging()
    options = ModelOptions(distill_reference=distill_reference, chunk_cells=chunk_cells)
    table = annotate_step(registry.get("panhuman_distill"), matrix, validation, options, outdir)
    typer.echo(f"panhuman_distill_v1: {int(table.assigned.sum()):,} of {table.n_cells:,} cells labelled", err=True)


if __name__ == "__main__":
    run_app(app)
