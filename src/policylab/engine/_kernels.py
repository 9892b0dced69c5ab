"""Compiled sweep kernels for alternating projections (numba, cached on disk)."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


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


@njit(cache=True, parallel=True)
def demean_columns(X, codes, offsets, inv_wsum, w, tol, maxiter):  # pragma: no cover
    """Demean every column of X (n, k); returns (Xd, iterations, converged) per column."""
    n, k = X.shape
    out = np.empty((n, k))
    iters = np.zeros(k, dtype=np.int64)
    conv = np.zeros(k, dtype=np.bool_)
    for c in prange(k):
        col = np.ascontiguousarray(X[:, c])
        res, it, ok = _demean_one(col, codes, offsets, inv_wsum, w, tol, maxiter)
        out[:, c] = res
        iters[c] = it
        conv[c] = ok
    return out, iters, conv


@njit(cache=True, parallel=True)
def balanced_twoway(X, g1, g2, n1, n2):  # pragma: no cover - compiled
    """x - xbar_g1 - xbar_g2 + xbar for a balanced two-way layout, column by column,
    two passes over the data and no n x k temporaries."""
    n, k = X.shape
    out = np.empty((n, k))
    for c in prange(k):
        s1 = np.zeros(n1)
        s2 = np.zeros(n2)
        tot = 0.0
        for i in range(n):
            v = X[i, c]
            s1[g1[i]] += v
            s2[g2[i]] += v
            tot += v
        inv1 = n1 / n  # each g1 level has n / n1 rows in a balanced layout
        inv2 = n2 / n
        mean = tot / n
        for i in range(n):
            out[i, c] = X[i, c] - s1[g1[i]] * inv1 - s2[g2[i]] * inv2 + mean
    return out


@njit(cache=True, parallel=True)
def group_sums_two(X, g1, g2, n1, n2):  # pragma: no cover - compiled
    """Per-column sums of X within g1 levels and within g2 levels, one pass."""
    n, k = X.shape
    s1 = np.zeros((n1, k))
    s2 = np.zeros((n2, k))
    for c in prange(k):
        for i in range(n):
            v = X[i, c]
            s1[g1[i], c] += v
            s2[g2[i], c] += v
    return s1, s2


@njit(cache=True, parallel=True)
def subtract_two(X, g1, g2, a, b):  # pragma: no cover - compiled
    """out = X - a[g1] - b[g2], without n x k temporaries."""
    n, k = X.shape
    out = np.empty((n, k))
    for c in prange(k):
        for i in range(n):
            out[i, c] = X[i, c] - a[g1[i], c] - b[g2[i], c]
    return out


@njit(cache=True)
def residuals(X, y, cols, beta):  # pragma: no cover - compiled
    """y - X[:, cols] @ beta in one pass over the rows (X may be a strided view)."""
    n = y.shape[0]
    out = np.empty(n)
    for i in range(n):
        acc = y[i]
        for j in range(cols.shape[0]):
            acc -= X[i, cols[j]] * beta[j]
        out[i] = acc
    return out


@njit(cache=True)
def rows_finite(Z):  # pragma: no cover - compiled
    """Per row: are all entries finite?"""
    n, k = Z.shape
    out = np.ones(n, dtype=np.bool_)
    for i in range(n):
        for j in range(k):
            if not np.isfinite(Z[i, j]):
                out[i] = False
                break
    return out
