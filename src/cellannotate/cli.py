"""The ``cellannotate`` command: a local, Nextflow-free run of the whole pipeline."""

from __future__ import annotations

import getpass
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cellannotate import __version__
from cellannotate import cli_options as opt
from cellannotate.annotators import registry
from cellannotate.annotators.cloud import TOKEN_PATH
from cellannotate.cli_support import new_app, run_app, setup_logging

app = new_app("Automated cell type annotation of 10x feature-barcode matrices (like `spaceranger annotate`).")
models_app = new_app("Model weights: fetch and check them.")
cloud_app = new_app("10x Cloud account commands.")
auth_app = new_app("Manage the 10x Cloud access token.")
app.add_typer(models_app, name="models")
app.add_typer(cloud_app, name="cloud")
cloud_app.add_typer(auth_app, name="auth")

Species = Enum("Species", {s: s for s in ("human", "mouse")}, type=str)
Kind = Enum("Kind", {k: k for k in ("segmented", "binned")}, type=str)


def _version(value: Optional[bool]) -> None:
    if value:
        typer.echo(f"cellannotate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Automated cell type annotation of 10x feature-barcode matrices."""


@app.command()
@opt.with_model_options(registry.options())
def annotate(
    id: str = opt.sample_id("Sample id; outputs go to OUTDIR/outs (OUTDIR defaults to the id)."),
    matrix: Path = opt.matrix(),
    cloupe: Optional[Path] = opt.cloupe(),
    cell_annotation_model: Optional[str] = opt.cell_annotation_model(),
    outdir: Optional[Path] = opt.outdir(None, "Run folder (default: ./ID); outputs go to its outs/."),
    loupe_converter: Optional[Path] = opt.loupe_converter(),
    spaceranger_outs: Optional[Path] = opt.spaceranger_outs(),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="More log output on stderr."),
    **model_options,
) -> None:
    """Annotate the cells of one sample, like `spaceranger annotate`.

    Every model's options are offered; each model reads its own.
    """
    from cellannotate.pipeline import AnnotateRequest, run_annotate

    setup_logging(verbose)
    request = AnnotateRequest(
        sample_id=id,
        matrix=matrix,
        outdir=outdir or Path(id),
        cell_annotation_model=cell_annotation_model,
        options=model_options,
        cloupe=cloupe,
        loupe_converter=loupe_converter,
        spaceranger_outs=spaceranger_outs,
    )
    outs = run_annotate(request)
    typer.echo(f"outputs: {outs}")


@app.command()
def example(
    out: Path = typer.Option(..., readable=False, help="Where to write the synthetic filtered_feature_bc_matrix.h5."),
    truth: Optional[Path] = typer.Option(None, readable=False, help="Also write the true cell type of every barcode to this CSV."),
    cells: int = typer.Option(3000, min=1, help="Number of cells (or bins)."),
    genes: int = typer.Option(2000, min=80, help="Number of genes."),
    species: Species = typer.Option(Species.human, help="Gene naming of the example."),
    kind: Kind = typer.Option(Kind.segmented, help="Visium HD cell-segmented cells or 8 µm bins."),
    median_counts: float = typer.Option(400.0, min=1, help="Median UMI counts per cell."),
    seed: int = typer.Option(0, help="Random seed; the same seed gives the same file."),
) -> None:
    """Write a synthetic 10x matrix with known cell types, for demos and tests."""
    from cellannotate.example_data import ExampleSpec, write_example

    spec = ExampleSpec(cells, genes, species.value, kind.value, median_counts, seed)
    write_example(out, spec, truth)
    typer.echo(f"wrote {out}" + (f" and {truth}" if truth else ""))


@models_app.command()
def fetch(
    cache: Optional[Path] = typer.Option(None, readable=False, help="Folder to keep the weights in (default: the model cache)."),
    force: bool = typer.Option(False, "--force", help="Download again even if the weights are cached."),
) -> None:
    """Download the Pan-Human Azimuth v1 weights, check size and md5 against the published record, cache them."""
    from cellannotate.annotators.azimuth.weights import cache_dir, fetch_model

    setup_logging()
    path = fetch_model(cache or cache_dir(), force=force)
    typer.echo(f"Azimuth weights: {path}")


@auth_app.command()
def setup(
    tenx_cloud_token_path: Optional[Path] = typer.Option(None, TOKEN_PATH.flag, readable=False,
                                                         help="Where to save the token (default: the usual location)."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the token from standard input, for scripts."),
) -> None:
    """Save your 10x Cloud access token (mode 0600) for later runs."""
    from cellannotate.annotators.cloud.token import SECURITY_PAGE, parse_token, resolve_token_path, save_token

    if stdin:
        token = parse_token(sys.stdin.read())
    else:
        typer.echo(f"Create an access token at {SECURITY_PAGE} and paste it below (input is hidden).", err=True)
        token = parse_token(getpass.getpass("10x Cloud token: "))
        if getpass.getpass("Paste it again to confirm: ").strip() != token.reveal():
            from cellannotate.errors import TokenError

            raise TokenError("the two tokens differ; nothing was saved")
    path = save_token(token, resolve_token_path(tenx_cloud_token_path))
    typer.echo(f"10x Cloud token saved to {path}", err=True)


def main() -> None:
    """Entry point of the ``cellannotate`` command."""
    run_app(app)
