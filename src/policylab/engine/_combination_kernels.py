"""The compiled loop of :func:`policylab.engine.combinations.k_subsets` (numba)."""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def fill_subsets(first, n, out):  # pragma: no cover - compiled
    """Fill the rows of ``out`` (rows x k) with the k-subsets of range(n) that follow
    ``first`` in lexicographic order, ``first`` itself the first row; ``out`` must not
    have more rows than there are subsets from ``first`` on."""
    k = first.shape[0]
    c = first.copy()
    for r in range(out.shape[0]):
        for j in range(k):
            out[r, j] = c[j]
        # the next subset: raise the last element that can still rise, and put the
        # smallest possible values after it
        i = k - 1
        while i >= 0 and c[i] == n - k + i:
            i -= 1
        if i < 0:
            return
        c[i] += 1
        for j in range(i + 1, k):
            c[j] = c[j - 1] + 1
