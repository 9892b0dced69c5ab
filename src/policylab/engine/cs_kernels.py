"""Compiled passes for the Callaway-Sant'Anna multiplier bootstrap.

The bootstrap multiplies a (draws x clusters) matrix of two-valued multipliers by the
cluster-summed influence functions S (clusters x columns). With Mammen weights
``V = hi + (lo - hi) 1[V = lo]``, so the work is the product of the 0/1 matrix
``1[V = lo]`` with S. The 0/1 matrix comes from random bytes: a byte below the
cut-off means lo, above it hi, and a tie (about 1 byte in 256) is settled by its own
uniform, taken in row-major order of the ties (the order of
``np.flatnonzero(u == cut)``), so the draws equal the plain numpy route's.

What numpy cannot do in one pass is turning the bytes into the floating 0/1 block BLAS
needs (compare, settle the ties, convert). :func:`mammen_lo_product` does it a block
of clusters at a time in a compiled, GIL-free kernel, multiplies each block at once
while it is still in cache, and runs the blocks on a few threads with BLAS itself held
to one thread: BLAS's own thread pool and numba's would otherwise spin against each
other, and one thread per block makes the sums bit-identical whatever the number of
workers (blocks are added in a fixed order).

Numbers only: nothing here imports pandas or any other policylab layer.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numba import njit

__all__ = ["block_tie_counts", "block_indicator", "mammen_lo_product"]

_POOL: ThreadPoolExecutor | None = None


def _workers() -> int:
    """Threads for the block products: the CPUs this process may use (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_workers(), thread_name_prefix="policylab-cs")
    return _POOL


@njit(cache=True, nogil=True)
def block_tie_counts(u, j0, j1, cut, out):  # pragma: no cover - compiled
    """``out[r]`` = number of bytes equal to ``cut`` in ``u[r, j0:j1]``."""
    for r in range(u.shape[0]):
        c = 0
        for i in range(j0, j1):
            # branch-free count: the compare vectorises
            c += np.int64(u[r, i] == cut)
        out[r] = c


@njit(cache=True, nogil=True)
def block_indicator(u, j0, cut, frac, uni, offsets, out):  # pragma: no cover - compiled
    """``out[r, i] = 1[V = lo]`` for the bytes ``u[r, j0 + i]``: below ``cut`` 1, above
    it 0, and the k-th tie of row r in this block takes ``uni[offsets[r] + k] < frac``.
    ``out`` may be float32 or float64."""
    m, w = out.shape
    for r in range(m):
        # a branch-free compare over the row first (random bytes would defeat the
        # branch predictor), then the rare ties in a second, well-predicted scan
        for i in range(w):
            out[r, i] = 1.0 if u[r, j0 + i] < cut else 0.0
        p = offsets[r]
        for i in range(w):
            if u[r, j0 + i] == cut:
                out[r, i] = 1.0 if uni[p] < frac else 0.0
                p += 1


def mammen_lo_product(u: np.ndarray, cut: int, frac: float, rng: Any, S: np.ndarray,
                      width: int = 8192) -> np.ndarray:
    """``1[V = lo] @ S`` (draws x columns, float64) for random bytes ``u`` (draws x
    clusters, uint8) and ``S`` (clusters x columns, float32 or float64).

    The ties take ``rng.random(number of ties)`` after ``u`` was drawn. Call with BLAS
    limited to one thread (``threadpoolctl.threadpool_limits(1, "blas")``): the blocks
    run on this module's threads.
    """
    m, nc = u.shape
    starts = list(range(0, nc, width))
    nb = len(starts)
    cut8 = np.uint8(cut)
    counts = np.zeros((nb, m), dtype=np.int64)

    def count(b: int) -> None:
        j0 = starts[b]
        block_tie_counts(u, j0, min(nc, j0 + width), cut8, counts[b])

    pool = _pool()
    list(pool.map(count, range(nb)))
    # ties in row-major order of u: row by row, and within a row block by block
    flat = counts.T.ravel()
    total = int(flat.sum())
    uni = rng.random(total) if total else np.empty(0)
    offsets = np.zeros(m * nb, dtype=np.int64)
    offsets[1:] = np.cumsum(flat)[:-1]
    offsets = np.ascontiguousarray(offsets.reshape(m, nb).T)

    def product(b: int) -> np.ndarray:
        j0 = starts[b]
        w = min(width, nc - j0)
        blk = np.empty((m, w), dtype=S.dtype)
        block_indicator(u, j0, cut8, frac, uni, offsets[b], blk)
        return blk @ S[j0:j0 + w]

    acc = np.zeros((m, S.shape[1]))
    for part in pool.map(product, range(nb)):  # fixed order: reproducible sums
        acc += part
    return acc
