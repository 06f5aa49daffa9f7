#!/usr/bin/env python3
"""Step 1 of the workflow: check that a usable 10x Cloud token is in place.

The token itself is never printed, logged or written anywhere.
"""

from pathlib import Path
from typing import Optional

import typer

from cellannotate.cli_support import new_app, run_app
from cellannotate.token import read_token, resolve_token_path

app = new_app(__doc__)


@app.command()
def main(
    tenx_cloud_token_path: Optional[Path] = typer.Option(
        None, help="File holding the 10x Cloud token (default: the location `cellannotate cloud auth setup` saved)."
    ),
) -> None:
    """Check the token file: present, a regular file, mode 0600, one well-formed token."""
    read_token(tenx_cloud_token_path)
    typer.echo(f"10x Cloud token ok: {resolve_token_path(tenx_cloud_token_path)}", err=True)


if __name__ == "__main__":
    run_app(app)
