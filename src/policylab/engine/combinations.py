"""The k-subsets of range(n) in lexicographic order, a chunk at a time.

An exact randomization test enumerates every assignment of k treated groups among n
(593,775 for 6 of 30 provinces); each chunk of that enumeration is built where it is
used, starting at its rank, so no process holds more than a chunk. The rows are those
of ``itertools.combinations(range(n), k)``, in the same order. Large chunks are filled
by a compiled loop when numba is loaded (milliseconds for the 593,775 rows, against a
quarter of a second through Python tuples); small ones by Python.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Iterator

import numpy as np

__all__ = ["k_subsets", "unrank_subset"]

#: from this many numbers per chunk (rows x k) the compiled loop fills it; below, the
#: Python path (loading the compiled loop from numba's cache costs a few milliseconds)
COMPILED_NUMBERS = 20_000


def unrank_subset(n: int, k: int, rank: int) -> list[int]:
    """The k-subset of range(n) at position ``rank`` in lexicographic order."""
    out, x = [], 0
    for i in range(k):
        while True:
            below = math.comb(n - x - 1, k - i - 1)  # subsets whose i-th element is x
            if rank < below:
                break
            rank -= below
            x += 1
        out.append(x)
        x += 1
    return out


def _subsets_from(c: list[int], n: int) -> Iterator[tuple[int, ...]]:
    """k-subsets of range(n) from ``c`` on, in lexicographic order."""
    k = len(c)
    yield tuple(c)
    for p in range(k - 1, -1, -1):
        head = tuple(c[:p])
        for v in range(c[p] + 1, n):
            for tail in itertools.combinations(range(v + 1, n), k - 1 - p):
                yield (*head, v, *tail)


def k_subsets(n: int, k: int, start: int, size: int) -> np.ndarray:
    """Rows ``start`` to ``start + size - 1`` of the lexicographic k-subsets of
    ``range(n)`` (fewer when the enumeration ends first), as an int64 array, made
    without the rows before them.

    Parameters
    ----------
    n, k : int
        Subsets of ``k`` elements of ``range(n)``; ``0 <= k <= n``.
    start : int
        Rank of the first row (0 for ``(0, 1, ..., k - 1)``).
    size : int
        Rows wanted.
    """
    total = math.comb(n, k)
    size = max(0, min(size, total - start))
    if k == 0:
        return np.zeros((size, 0), dtype=np.int64)
    if size == 0:
        return np.zeros((0, k), dtype=np.int64)
    first = unrank_subset(n, k, start)
    # numba already loaded (by the kernels that use the rows): importing it only for
    # this loop would cost more than the loop saves
    if size * k >= COMPILED_NUMBERS and "numba" in sys.modules:
        from policylab.engine._combination_kernels import fill_subsets

        out = np.empty((size, k), dtype=np.int64)
        fill_subsets(np.asarray(first, dtype=np.int64), n, out)
        return out
    flat = np.fromiter(itertools.chain.from_iterable(
        itertools.islice(_subsets_from(first, n), size)), dtype=np.int64, count=size * k)
    return flat.reshape(-1, k)
