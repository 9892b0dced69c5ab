"""Compiled passes for the Callaway-Sant'Anna multiplier bootstrap.

The bootstrap multiplies a (draws x clusters) matrix of two-valued multipliers by the
cluster-summed influence functions S (clusters x columns). With Mammen weights
``V = hi + (lo - hi) 1[V = lo]``, so the work is the product of the 0/1 matrix
``1[V = lo]`` with S. The 0/1 matrix comes from random bytes: a byte below the
cut-off means lo, above it hi, and a tie (about 1 byte in 256) is settled by its own
uniform, taken in row-major order of the ties (the order of
``np.flatnonzero(u == cut)``), so the draws equal the plain numpy route's.

What numpy cannot do in one pass is turning the bytes into the floating 0/1 block BLAS
needs. :func:`mammen_lo_product` finds the ties eight bytes at a time (a word-wise
equality test), then per block of clusters writes the 0/1 block in a compiled,
GIL-free loop (compare, then set the ties that came out lo) and multiplies it at once
while it is still in cache. Blocks run on a few threads with BLAS itself held to one
thread: BLAS's own thread pool would otherwise spin against these threads, and one
thread per block makes the sums bit-identical whatever the number of workers (blocks
are added in a fixed order).

Numbers only: nothing here imports pandas or any other policylab layer.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numba import njit

__all__ = ["eq_byte_counts", "eq_byte_positions", "block_indicator", "tie_positions",
           "mammen_lo_product"]

_POOL: tuple[int, ThreadPoolExecutor] | None = None
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_ONES = np.uint64(0x0101010101010101)


def _workers() -> int:
    """Threads for the block products: the CPUs this process may use (at most 8)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 8))


def _pool() -> ThreadPoolExecutor:
    """The module's worker threads, made on first use and again in a forked child
    (threads do not survive a fork: the parent's pool would never run a task)."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = (os.getpid(), ThreadPoolExecutor(_workers(),
                                                 thread_name_prefix="policylab-cs"))
    return _POOL[1]


@njit(cache=True, nogil=True)
def _zero_byte_flags(x, low7):  # pragma: no cover - compiled
    """0x80 in each byte of ``x`` that is zero, 0 elsewhere (exact: no borrow between
    bytes, unlike the (x - 0x01..) & ~x trick)."""
    return ~(((x & low7) + low7) | x | low7)


@njit(cache=True, nogil=True)
def eq_byte_counts(words, lo, hi, pattern, low7, ones):  # pragma: no cover - compiled
    """Number of bytes equal to the repeated byte of ``pattern`` in ``words[lo:hi]``."""
    c = 0
    for i in range(lo, hi):
        f = _zero_byte_flags(words[i] ^ pattern, low7) >> np.uint64(7)
        c += (f * ones) >> np.uint64(56)
    return c


@njit(cache=True, nogil=True)
def eq_byte_positions(words, lo, hi, pattern, low7, out, start):  # pragma: no cover
    """Byte positions (8 * word + byte, little-endian) of the bytes equal to the
    pattern byte in ``words[lo:hi]``, written in increasing order from ``out[start]``."""
    p = start
    for i in range(lo, hi):
        f = _zero_byte_flags(words[i] ^ pattern, low7)
        if f:
            for k in range(8):
                if (f >> np.uint64(8 * k + 7)) & np.uint64(1):
                    out[p] = 8 * i + k
                    p += 1
    return p


@njit(cache=True, nogil=True)
def block_indicator(u, j0, cut, rows, cols, out):  # pragma: no cover - compiled
    """``out[r, i] = 1[u[r, j0 + i] < cut]`` (ties count as hi), then 1 at the ties
    listed in ``rows``/``cols`` (block-relative) that came out lo. ``out`` may be
    float32 or float64."""
    m, w = out.shape
    for r in range(m):
        # branch-free on 1-d row views: this form vectorises (4x the 2-d indexed
        # loop); random bytes would defeat a branch predictor anyway
        ur = u[r, j0:j0 + w]
        orow = out[r]
        for i in range(w):
            orow[i] = ur[i] < cut
    for t in range(rows.shape[0]):
        out[rows[t], cols[t]] = 1.0


def tie_positions(u: np.ndarray, cut: int, parts: int = 16) -> np.ndarray:
    """Flat (row-major) positions of the bytes of ``u`` equal to ``cut``, in increasing
    order: ``np.flatnonzero(u == cut)``, eight bytes a step on the module's threads."""
    flat = np.ascontiguousarray(u).reshape(-1)
    nw = flat.size // 8
    words = flat[:nw * 8].view(np.uint64)
    pattern = np.uint64(cut) * _ONES
    bounds = np.linspace(0, nw, parts + 1).astype(np.int64)
    pool = _pool()
    counts = list(pool.map(lambda p: eq_byte_counts(words, bounds[p], bounds[p + 1],
                                                    pattern, _LOW7, _ONES), range(parts)))
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    tail = np.flatnonzero(flat[nw * 8:] == cut) + nw * 8
    out = np.empty(int(starts[-1]) + tail.size, dtype=np.int64)
    list(pool.map(lambda p: eq_byte_positions(words, bounds[p], bounds[p + 1], pattern,
                                              _LOW7, out, starts[p]), range(parts)))
    out[starts[-1]:] = tail
    return out


def mammen_lo_product(u: np.ndarray, cut: int, frac: float, rng: Any, S: np.ndarray,
                      width: int = 8192) -> np.ndarray:
    """``1[V = lo] @ S`` (draws x columns, float64) for random bytes ``u`` (draws x
    clusters, uint8) and ``S`` (clusters x columns, float32 or float64).

    The ties take ``rng.random(number of ties)`` after ``u`` was drawn; a tie is lo
    when its uniform is below ``frac``. Call with BLAS limited to one thread
    (``threadpoolctl.threadpool_limits(1, "blas")``): the blocks run on this module's
    threads.
    """
    m, nc = u.shape
    ties = tie_positions(u, cut)
    uni = rng.random(ties.size) if ties.size else np.empty(0)
    lo_rows, lo_cols = np.divmod(ties[uni < frac], nc)
    starts = list(range(0, nc, width))
    # the lo ties of each block of clusters (block-relative columns)
    blk = lo_cols // width
    order = np.argsort(blk, kind="stable")
    cuts = np.searchsorted(blk[order], np.arange(len(starts) + 1))
    cut8 = np.uint8(cut)

    def product(b: int) -> np.ndarray:
        j0 = starts[b]
        w = min(width, nc - j0)
        sel = order[cuts[b]:cuts[b + 1]]
        out = np.empty((m, w), dtype=S.dtype)
        block_indicator(u, j0, cut8, lo_rows[sel], lo_cols[sel] - j0, out)
        return out @ S[j0:j0 + w]

    acc = np.zeros((m, S.shape[1]))
    for part in _pool().map(product, range(len(starts))):  # fixed order: reproducible
        acc += part
    return acc
