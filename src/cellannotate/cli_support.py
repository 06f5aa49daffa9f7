"""Shared plumbing for the ``cellannotate`` command and the ``bin/`` step scripts.

Every entry point runs through :func:`run_app`, so a user-fixable failure is always one
``error: ...`` line and a documented exit code, never a traceback, and every log record
and error message is passed through :func:`cellannotate.redaction.redact` on its way out.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys

import typer

from cellannotate.errors import CellAnnotateError, OutputError
from cellannotate.redaction import redact

DEBUG_ENV = "CELLANNOTATE_DEBUG"
# Writes the disk refuses: the user can fix them (space, a shorter name, a writable place): exit 7.
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.ENAMETOOLONG, errno.EFBIG}
# Click's exceptions, wherever this Typer takes Click from (its own copy since 0.22).
_CLICK = sys.modules[typer.BadParameter.__module__]
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
    """Run ``app``; map errors to one ``error: ...`` line on stderr and an exit code.

    Usage errors (unknown option, bad value) exit 2, as Click's do, but in one line; an
    interruption exits 130.
    """
    setup_logging()
    signal.signal(signal.SIGINT, signal.default_int_handler)  # from here on Ctrl-C is a KeyboardInterrupt
    try:
        code = app(standalone_mode=False)
    except _CLICK.UsageError as exc:
        _fail(f"error: {exc.format_message()} (see --help)", 2)
    except _CLICK.ClickException as exc:
        _fail(f"error: {exc.format_message()}", exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        _fail("error: interrupted", 130)
    except CellAnnotateError as exc:
        _fail(f"error: {exc}", exc.exit_code)
    except Exception as exc:  # a bug, unless the disk refused a write: say so in one line unless debugging
        if _refused_write(exc):
            where = f": {str(exc.filename)[:200]}" if exc.filename else ""
            _fail(f"error: cannot write the outputs: {exc.strerror or 'the disk is full'}{where}; nothing was "
                  "replaced (free space, or choose another --outdir)", OutputError.exit_code)
        if os.environ.get(DEBUG_ENV):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


def _refused_write(exc: Exception) -> bool:
    """A write the disk refused: full, read-only, a name too long (numpy's short write has no errno)."""
    return isinstance(exc, OSError) and (exc.errno in WRITE_ERRORS or (
        exc.errno is None and " requested and " in str(exc) and str(exc).endswith(" written")))


def _fail(message: str, code: int) -> None:
    print(redact(" ".join(message.split())), file=sys.stderr)
    sys.exit(code)
