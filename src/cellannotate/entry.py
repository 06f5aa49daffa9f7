"""How a command starts: Ctrl-C while its modules are still loading ends it with the same one line
and exit code as later (:func:`cellannotate.cli_support.run_app` takes over once it runs), not with
a traceback from inside an import; and freed arrays go back to the system. Every command imports
this module first; it imports nothing of the package on purpose."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20


def return_freed_arrays() -> None:
    """Have glibc give arrays of 4 MiB and more back to the system when they are freed. By default it
    raises that threshold (up to 32 MiB) as arrays are freed and keeps the freed memory in one pool per
    thread: with worker threads on chunks of cells, Azimuth held 1.0 GB at 20,000 cells, 0.6 GB with
    this, and 1.7 GB against 1.2 GB at a million. The price is the system's time to map fresh pages,
    about a tenth of a run (limiting glibc to two pools instead kept 1.7 GB). Elsewhere than glibc,
    nothing changes."""
    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError, TypeError):
        pass


def _interrupted(signum, frame) -> None:
    sys.stderr.write("error: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


def interrupt_quietly() -> None:
    """Until :func:`~cellannotate.cli_support.run_app` runs, Ctrl-C exits 130 with one line."""
    signal.signal(signal.SIGINT, _interrupted)


return_freed_arrays()


def cellannotate() -> None:
    """The ``cellannotate`` command."""
    interrupt_quietly()
    from cellannotate.cli import main

    main()
