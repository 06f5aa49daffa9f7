"""The ``bin/annotate_<model>.py`` steps, made from the model's declarations.

Every annotation step takes the matrix, its validation report and an output folder, plus the
options its model declares; so each ``bin/`` script is one call to :func:`annotate_step_app`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cellannotate import cli_options as opt
from cellannotate.annotators import registry
from cellannotate.cli_support import new_app, setup_logging


def annotate_step_app(model_name: str, help: str) -> typer.Typer:
    """The Typer app of the step that runs the registered model ``model_name`` on its own."""
    model = registry.get(model_name)
    app = new_app(help)

    files = ", ".join(("cell_types.csv", "model.json", "projection.npy", "embedding.npy") + model.publishes)
    @app.command(help=f"Label every cell with {model.title} and write OUTDIR/{model.folder} ({files}; the last "
                      "ones where the model has them).")
    @opt.with_model_options(model.options)
    def main(
        matrix: Path = opt.matrix(),
        validation: Path = opt.validation(),
        outdir: Path = opt.outdir(Path("annotations"), f"Folder that receives {model.folder}/."),
        **options,
    ) -> None:
        setup_logging()
        from cellannotate.annotators.run import annotate_step

        table = annotate_step(model, matrix, validation, options, outdir)
        typer.echo(f"{model.title}: {int(table.assigned.sum()):,} of {table.n_cells:,} cells labelled", err=True)

    return app
