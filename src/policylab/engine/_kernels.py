"""Compiled sweep kernels for alternating projections (numba, cached on disk)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from policylab.engine.threads import parallel_kernel


@njit(cache=True, nogil=True)
def _project_all(x, codes, offsets, inv_wsum, w, sums):  # pragma: no cover - compiled
    # One pass of the alternating projections: subtract each FE's (weighted) group
    # means in turn.
    m, n = codes.shape
    for j in range(m):
        o = offsets[j]
        g_n = offsets[j + 1] - o
        for g in range(g_n):
            sums[o + g] = 0.0
        cj = codes[j]
        for i in range(n):
            sums[o + cj[i]] += w[i] * x[i]
        for g in range(g_n):
            sums[o + g] *= inv_wsum[o + g]
        for i in range(n):
            x[i] -= sums[o + cj[i]]


@njit(cache=True, nogil=True)
def _demean_one(x, codes, offsets, inv_wsum, w, tol, maxiter):  # pragma: no cover
    # Alternating projections with Irons-Tuck acceleration every second step; the
    # extrapolated point stays in x + span(FE), so the fixed point is the exact
    # projection.
    n = x.shape[0]
    sums = np.empty(offsets[-1])
    x0 = x.copy()
    x1 = np.empty(n)
    x2 = np.empty(n)
    scale = 0.0
    for i in range(n):
        a = abs(x[i])
        if a > scale:
            scale = a
    thr = tol * max(scale, 1.0)
    it = 0
    while it < maxiter:
        x1[:] = x0
        _project_all(x1, codes, offsets, inv_wsum, w, sums)
        it += 1
        d = 0.0
        for i in range(n):
            a = abs(x1[i] - x0[i])
            if a > d:
                d = a
        if d < thr:
            return x1, it, True
        x2[:] = x1
        _project_all(x2, codes, offsets, inv_wsum, w, sums)
        it += 1
        num = 0.0
        den = 0.0
        d = 0.0
        for i in range(n):
            d1 = x2[i] - x1[i]
            d2 = d1 - (x1[i] - x0[i])
            num += d1 * d2
            den += d2 * d2
            a = abs(d1)
            if a > d:
                d = a
        if d < thr:
            return x2, it, True
        if den > 0.0:
            c = num / den
            for i in range(n):
                x0[i] = x2[i] - c * (x2[i] - x1[i])
        else:
            x0[:] = x2
    return x0, it, False


@parallel_kernel
def demean_columns(X, codes, offsets, inv_wsum, w, tol, maxiter):  # pragma: no cover
    """Demean every column of X (n, k) in place; returns (iterations, converged) per
    column."""
    n, k = X.shape
    iters = np.zeros(k, dtype=np.int64)
    conv = np.zeros(k, dtype=np.bool_)
    for c in prange(k):
        col = np.ascontiguousarray(X[:, c])
        res, it, ok = _demean_one(col, codes, offsets, inv_wsum, w, tol, maxiter)
        X[:, c] = res
        iters[c] = it
        conv[c] = ok
    return iters, conv
