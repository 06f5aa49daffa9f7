"""Shared plumbing for the ``cellannotate`` command and the ``bin/`` step scripts.

Every entry point runs through :func:`run_app`, so a user-fixable failure is always one
``error: ...`` line and a documented exit code, never a traceback, and every log record
and error message is passed through :func:`cellannotate.redaction.redact` on its way out.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from cellannotate.errors import CellAnnotateError
from cellannotate.redaction import redact

DEBUG_ENV = "CELLANNOTATE_DEBUG"
EXIT_INTERNAL = 70


def new_app(help: str) -> typer.Typer:
    """A Typer app with our conventions: no shell-completion flags, plain errors."""
    return typer.Typer(
        help=help,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        no_args_is_help=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


class _Redact(logging.Filter):
    """Render each record, then take any token out of it (a server may echo one back)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr through the redacting filter; Python warnings go the same way."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="[%(asctime)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Redact())
    logging.captureWarnings(True)


def run_app(app: typer.Typer) -> None:
    """Run ``app``; map errors to one line on stderr and an exit code.

    Usage errors (unknown option, bad value) are Typer's own: exit code 2.
    """
    setup_logging()
    try:
        app()
    except CellAnnotateError as exc:
        print(redact(f"error: {exc}"), file=sys.stderr)
        sys.exit(exc.exit_code)
    except Exception as exc:  # a bug: say so in one line unless debugging
        if os.environ.get(DEBUG_ENV):
            raise
        print(
            redact(f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)"),
            file=sys.stderr,
        )
        sys.exit(EXIT_INTERNAL)
