"""How many threads the compiled kernels may use for a given problem size."""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["COMPILED_ROWS", "PARALLEL_ROWS", "all_threads", "compiled_ready",
           "fork_safe_threading", "one_blas_thread", "parallel_kernel", "prepare_compiled",
           "threads_for"]

#: below this many rows the parallel kernels run on one thread: waking the thread pool
#: costs more than it saves (several-fold on a loaded 2-core machine at 100k rows;
#: measured with benchmarks/bench_feols.py)
PARALLEL_ROWS = 2_000_000
#: from this many rows on the engine uses its compiled kernels; below, numpy (no
#: compilation or cache loading on a small first call)
COMPILED_ROWS = 50_000


@contextmanager
def threads_for(n_rows: int) -> Iterator[None]:
    """Run the enclosed numba parallel kernels on one thread when ``n_rows`` is small.

    Does not import numba for problems small enough to need no compiled kernel (so a
    first small fit stays quick).
    """
    if n_rows >= PARALLEL_ROWS or (n_rows < COMPILED_ROWS and "numba" not in sys.modules):
        yield
        return
    import numba

    fork_safe_threading()  # before numba starts its threads, which fixes the layer
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

    fork_safe_threading()
    old = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def one_blas_thread() -> Any:
    """Hold BLAS to one thread inside the block.

    For the many small or tall-and-thin products of the bootstrap and placebo draws,
    waking BLAS's thread pool on a busy 2-core machine costs more than the product
    (a 1,000 x 16 QR took 0.5 s instead of 1 ms; benchmarks/bench_wild.py). The
    libraries are looked up once per process (a lookup reads the process's memory map:
    about 20 ms).
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER: Any = None


def fork_safe_threading() -> None:
    """Run numba's parallel kernels on its fork-safe ``workqueue`` threading layer.

    numba's default picks GNU OpenMP when it is available, and a process that has run
    an OpenMP parallel region aborts when it forks ("fork() called from a process
    already using GNU OpenMP"): a large fit followed by ``--scheduler processes`` (forked
    workers) would crash. Our parallel loops are coarse (columns, row blocks), so the
    simpler scheduler costs nothing measurable (benchmarks/bench_feols.py at 10M rows).
    A layer the user chose with NUMBA_THREADING_LAYER is left alone; called by every
    module that defines parallel kernels, before their first launch.
    """
    import numba

    if os.environ.get("NUMBA_THREADING_LAYER"):
        return
    if numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "workqueue"


_LAUNCH = threading.Lock()


def compiled_ready() -> bool:
    """Whether numba's compiler machinery is already set up in this process.

    The first compiled call of a process, even one loaded from the disk cache, first
    builds numba's typing and target contexts (its registries of typed functions):
    about 0.3 s of CPU, against a few milliseconds for each kernel after it. A kernel
    that saves less than that on a small problem is only worth calling when some other
    step has paid it already. False when numba is not loaded, or where its internals
    do not tell (then the caller's numpy route runs: the same numbers).
    """
    if "numba" not in sys.modules:
        return False
    try:
        from numba.core import registry

        return "_toplevel_target_context" in vars(registry.cpu_target)
    except Exception:  # pragma: no cover - a numba whose internals moved
        return False


def prepare_compiled() -> None:
    """Set numba's compiler machinery up now (see :func:`compiled_ready`), e.g. in a
    process before it forks workers that each would otherwise set it up again."""
    from policylab.engine._cell_kernels import cell_scores

    # any cached kernel sets the machinery up; this one is small and has no threads
    cell_scores(np.zeros((1, 1, 1)), np.zeros((1, 1)), np.zeros((1, 1), np.int64),
                np.zeros((1, 1), np.int64), np.zeros((1, 1)), np.empty((1, 1, 1)))


def parallel_kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Compile ``fn`` as a cached numba parallel kernel whose launches are serialised.

    The fork-safe ``workqueue`` layer (see :func:`fork_safe_threading`) aborts when two
    Python threads launch parallel regions at once; a lock around each launch makes
    the kernels safe to call from threads too (a launch already uses every core, so
    nothing is lost). The compiled dispatcher is the wrapper's ``kernel`` attribute.
    """
    from numba import njit

    fork_safe_threading()
    kernel = njit(cache=True, parallel=True)(fn)

    @functools.wraps(fn)
    def launch(*args: Any) -> Any:
        with _LAUNCH:
            return kernel(*args)

    launch.kernel = kernel  # type: ignore[attr-defined]
    return launch
