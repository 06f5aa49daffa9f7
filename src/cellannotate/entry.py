"""How a command starts: Ctrl-C while its modules are still loading ends it with the same one line
and exit code as later (:func:`cellannotate.cli_support.run_app` takes over once it runs), not with
a traceback from inside an import. Imports nothing of the package on purpose."""

from __future__ import annotations

import os
import signal
import sys


def _interrupted(signum, frame) -> None:
    sys.stderr.write("error: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


def interrupt_quietly() -> None:
    """Until :func:`~cellannotate.cli_support.run_app` runs, Ctrl-C exits 130 with one line."""
    signal.signal(signal.SIGINT, _interrupted)


def cellannotate() -> None:
    """The ``cellannotate`` command."""
    interrupt_quietly()
    from cellannotate.cli import main

    main()
