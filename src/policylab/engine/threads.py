"""How many threads the compiled kernels may use for a given problem size."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["PARALLEL_ROWS", "all_threads", "threads_for"]

#: below this many rows the parallel kernels run on one thread: waking the thread pool
#: costs more than it saves (several-fold on a loaded 2-core machine at 100k rows;
#: measured with benchmarks/bench_feols.py)
PARALLEL_ROWS = 2_000_000
_SMALL = 50_000  # below this the engine uses numpy, not compiled kernels


@contextmanager
def threads_for(n_rows: int) -> Iterator[None]:
    """Run the enclosed numba parallel kernels on one thread when ``n_rows`` is small.

    Does not import numba for problems small enough to need no compiled kernel (so a
    first small fit stays quick).
    """
    if n_rows >= PARALLEL_ROWS or (n_rows < _SMALL and "numba" not in sys.modules):
        yield
        return
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


@contextmanager
def all_threads() -> Iterator[None]:
    """Give the enclosed numba parallel kernels every thread again (inside a
    :func:`threads_for` block), for work that iterates many sweeps over its data, such
    as alternating projections, where the thread pool pays for itself at any size."""
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    try:
        yield
    finally:
        numba.set_num_threads(old)
