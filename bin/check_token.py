#!/usr/bin/env python3
"""Step 1 of the workflow: check that a usable 10x Cloud token is in place.

The token itself is never printed, logged or written anywhere.
"""

from cellannotate.entry import interrupt_quietly

interrupt_quietly()  # before the imports: Ctrl-C while they load is one line too

from pathlib import Path
from typing import Optional

import typer

from cellannotate import cli_options as opt
from cellannotate.annotators.cloud import TOKEN_PATH
from cellannotate.cli_support import new_app, run_app

app = new_app(__doc__)


@app.command()
def main(tenx_cloud_token_path: Optional[Path] = opt.model_option(TOKEN_PATH)) -> None:
    """Check the token: a given file, else $TENX_CLOUD_TOKEN (a Nextflow secret), else the saved file.

    A file must be a regular file with mode 0600 holding one well-formed token.
    """
    from cellannotate.annotators.cloud.token import read_token, token_source

    read_token(tenx_cloud_token_path)
    typer.echo(f"10x Cloud token ok: {token_source(tenx_cloud_token_path)}", err=True)


if __name__ == "__main__":
    run_app(app)
