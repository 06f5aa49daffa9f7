"""Threads for the numpy work that releases the GIL (sparse products, element-wise passes).

BLAS already spreads dense products over the cores; the rest of numpy and scipy's sparse
kernels run on one. Splitting such work across this many threads, each on its own rows or
arrays, uses the machine without changing any result.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from collections import deque
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

THREADS_ENV = "CELLANNOTATE_THREADS"   # a Nextflow task sets it to task.cpus


def _threads() -> int:
    """``$CELLANNOTATE_THREADS`` if set, else the cores this process may use; at most 8 either way, since
    each thread holds a chunk of cells ahead of the one being worked on."""
    given = os.environ.get(THREADS_ENV, "").strip()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, int(given) if given.isdigit() and int(given) > 0 else min(4, cores)))


THREADS = _threads()


def thread_map(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[function(item) for item in items]``, in order, on :data:`THREADS` threads."""
    items = list(items)
    if THREADS == 1 or len(items) < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(min(THREADS, len(items))) as pool:
        return list(pool.map(function, items))


def map_ahead(function: Callable[[T], R], items: Iterable[T], ahead: int = 2) -> Iterator[R]:
    """``function(item)`` for each item, yielded in order, with the next ``ahead`` computed by worker
    threads meanwhile; at most ``ahead + 1`` results are held at once (streamed chunks stay bounded)."""
    with ThreadPoolExecutor(ahead) as pool:
        pending = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
